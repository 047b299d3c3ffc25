package io.tandem.ha;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Reads keepalived's notify FIFO on a thread of its own: each INSTANCE line becomes a
 * {@link VrrpState}. Creates the FIFO if it is missing; when keepalived restarts (end of
 * file) it reopens and waits for the next writer.
 */
public final class NotifyFifo {
    private static final Logger LOG = LoggerFactory.getLogger(NotifyFifo.class);

    private final Path fifo;
    private final Consumer<VrrpState> listener;
    private final Thread thread;

    public NotifyFifo(Path fifo, Consumer<VrrpState> listener) {
        this.fifo = fifo;
        this.listener = listener;
        this.thread = Thread.ofPlatform().name("tandem-vrrp-notify").daemon().unstarted(this::run);
    }

    public void start() throws IOException, InterruptedException {
        if (!Files.exists(fifo)) {
            Files.createDirectories(fifo.getParent());
            Process mkfifo = new ProcessBuilder("mkfifo", "-m", "0600", fifo.toString()).redirectErrorStream(true).start();
            if (mkfifo.waitFor() != 0) {
                throw new IOException("mkfifo " + fifo + ": " + new String(mkfifo.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            }
        }
        thread.start();
    }

    private void run() {
        while (!Thread.currentThread().isInterrupted()) {
            // Opening blocks until keepalived opens the FIFO for writing.
            try (BufferedReader in = Files.newBufferedReader(fifo, StandardCharsets.US_ASCII)) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    VrrpState.parse(line).ifPresent(listener);
                }
            } catch (IOException e) {
                LOG.warn("keepalived notify FIFO {}: {}", fifo, e.toString());
                return;
            }
        }
    }
}
