package io.tandem.events;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The box's periodic tasks (flow expiry, sync refresh, counters, the page's history), kept
 * running: a scheduled executor cancels a task for good the first time it throws, so every
 * task goes through {@link #guard}, which logs the failure (the first and every 100th), counts
 * it by task name for the metrics ({@code tandem_task_failures_total}) and lets the next run
 * happen.
 */
public final class PeriodicTasks {
    private static final Logger LOG = LoggerFactory.getLogger(PeriodicTasks.class);
    private static final Map<String, AtomicLong> FAILURES = new ConcurrentHashMap<>();

    private PeriodicTasks() {
    }

    /** {@code body}, with a failure of one run logged and counted instead of ending the task. */
    public static Runnable guard(String task, Runnable body) {
        AtomicLong failures = FAILURES.computeIfAbsent(task, t -> new AtomicLong());
        return () -> {
            try {
                body.run();
            } catch (RuntimeException e) {
                long n = failures.incrementAndGet();
                if (n == 1 || n % 100 == 0) {
                    LOG.error("periodic task {} failed ({} so far); it goes on", task, n, e);
                }
            }
        };
    }

    /** Failures so far, by task name (every guarded task, 0 for those that never failed). */
    public static Map<String, Long> failures() {
        Map<String, Long> now = new TreeMap<>();
        FAILURES.forEach((task, n) -> now.put(task, n.get()));
        return now;
    }
}
