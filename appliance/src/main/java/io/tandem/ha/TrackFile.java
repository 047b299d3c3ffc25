package io.tandem.ha;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The keepalived {@code track_file} through which tandemd steers this box's VRRP priority:
 * {@link KeepalivedConfig#READY_WEIGHT} when it may be master, {@link KeepalivedConfig#HOLD_BACK_WEIGHT}
 * while it resyncs or is unhealthy. Written in place with one write: keepalived watches the
 * file with inotify and re-reads it when it is closed after writing; a file renamed into place
 * goes unnoticed (found by PairFailoverIT: the returning box was never released).
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
        Files.writeString(file, weight + "\n");
        written = weight;
    }
}
