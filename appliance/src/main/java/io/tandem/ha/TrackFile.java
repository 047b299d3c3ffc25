package io.tandem.ha;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The keepalived {@code track_file} through which tandemd steers this box's VRRP priority:
 * {@link KeepalivedConfig#READY_WEIGHT} when it may be master, {@link KeepalivedConfig#HOLD_BACK_WEIGHT}
 * while it resyncs or is unhealthy. Written to a temporary file and renamed into place, so
 * keepalived (which watches the file with inotify) never reads half a number.
 */
public final class TrackFile {
    private final Path file;
    private int written = Integer.MIN_VALUE;

    public TrackFile(Path file) {
        this.file = file;
    }

    public synchronized void write(int weight) throws IOException {
        if (weight == written) {
            return;
        }
        Files.createDirectories(file.getParent());
        Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(temp, weight + "\n");
        Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        written = weight;
    }

    public void holdBack() throws IOException {
        write(KeepalivedConfig.HOLD_BACK_WEIGHT);
    }

    public void ready() throws IOException {
        write(KeepalivedConfig.READY_WEIGHT);
    }
}
