package io.tandem.ha;

import io.tandem.events.PeriodicTasks;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Reads keepalived's notify FIFO on a thread of its own: each INSTANCE line becomes a
 * {@link VrrpState}. Creates the FIFO if it is missing; when keepalived restarts (end of
 * file) it reopens and waits for the next writer; after a read error (or the FIFO removed) it
 * makes the FIFO again and reopens, with a backoff up to {@link #MAX_BACKOFF_MILLIS}. Only
 * the lines of tandem's VRRP instance count.
 */
public final class NotifyFifo {
    private static final Logger LOG = LoggerFactory.getLogger(NotifyFifo.class);

    static final long MAX_BACKOFF_MILLIS = 5_000;

    private final Path fifo;
    private final String instance;
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong foreign = new AtomicLong();
    private final Consumer<VrrpState> listener;
    private final Thread thread;

    /** As {@link #NotifyFifo(Path, String, Consumer)} for tandem's own instance ({@link KeepalivedConfig#INSTANCE}). */
    public NotifyFifo(Path fifo, Consumer<VrrpState> listener) {
        this(fifo, KeepalivedConfig.INSTANCE, listener);
    }

    /** @param instance the VRRP instance whose lines count; others are ignored and counted */
    public NotifyFifo(Path fifo, String instance, Consumer<VrrpState> listener) {
        this.instance = instance;
        this.fifo = fifo;
        this.listener = listener;
        this.thread = Thread.ofPlatform().name("tandem-vrrp-notify").daemon().unstarted(this::run);
    }

    public void start() throws IOException, InterruptedException {
        recreateIfGone();
        thread.start();
    }

    /** Makes the FIFO (mode 0600) unless it exists. */
    private void recreateIfGone() throws IOException, InterruptedException {
        if (!Files.exists(fifo)) {
            Files.createDirectories(fifo.getParent());
            Process mkfifo = new ProcessBuilder("mkfifo", "-m", "0600", fifo.toString()).redirectErrorStream(true).start();
            if (mkfifo.waitFor() != 0) {
                throw new IOException("mkfifo " + fifo + ": " + new String(mkfifo.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            }
        }
    }

    private void run() {
        long backoffMillis = 0;
        while (!Thread.currentThread().isInterrupted()) {
            // Opening blocks until keepalived opens the FIFO for writing.
            try (BufferedReader in = Files.newBufferedReader(fifo, StandardCharsets.US_ASCII)) {
                backoffMillis = 0;
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    VrrpState.parse(line).ifPresent(this::offer);
                }
            } catch (IOException | RuntimeException e) {
                // Never for good: a reader that ended would leave the role to the last state read.
                errors.incrementAndGet();
                backoffMillis = Math.min(MAX_BACKOFF_MILLIS, Math.max(100, backoffMillis * 2));
                LOG.warn("keepalived notify FIFO {}: {} (reopening in {} ms)", fifo, e.toString(), backoffMillis);
                try {
                    recreateIfGone();
                    Thread.sleep(backoffMillis);
                } catch (InterruptedException stop) {
                    return;
                } catch (IOException again) {
                    LOG.warn("keepalived notify FIFO {}: {}", fifo, again.toString());
                }
            } catch (Error e) {
                PeriodicTasks.brokenForGood("the keepalived notify FIFO's reader", e);
                throw e;
            }
        }
    }

    /** Only the instance tandemd rendered counts: a line of another keepalived instance on the box is counted and ignored. */
    private void offer(VrrpState state) {
        if (!state.instance().equals(instance)) {
            if (foreign.getAndIncrement() % 100 == 0) {
                LOG.warn("keepalived notify FIFO: ignored a line of instance '{}' (tandem's is '{}')", state.instance(), instance);
            }
            return;
        }
        listener.accept(state);
    }

    /** Read errors so far (each followed by a reopen). */
    public long errors() {
        return errors.get();
    }

    /** Lines of other VRRP instances ignored so far. */
    public long foreignLines() {
        return foreign.get();
    }
}
