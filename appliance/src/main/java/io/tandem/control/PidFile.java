package io.tandem.control;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** tandemd's PID for keepalived's liveness check (vrrp-scripts/tandemd-alive): written at start, removed at stop. */
public final class PidFile implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PidFile.class);
    private final Path file;

    private PidFile(Path file) {
        this.file = file;
    }

    /** Writes this process's PID; a failure is logged (the box then fails its liveness check and stays out of mastership). */
    public static PidFile write(Path file) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, ProcessHandle.current().pid() + "\n");
        } catch (IOException e) {
            LOG.error("cannot write {}: keepalived's liveness check will fail and keep this box out of mastership: {}", file, e.toString());
        }
        return new PidFile(file);
    }

    @Override
    public void close() {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.warn("removing {}: {}", file, e.toString());
        }
    }
}
