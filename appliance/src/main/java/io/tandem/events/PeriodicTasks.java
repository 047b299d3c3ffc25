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
 * happen. An {@link Error} is another matter (an RPM upgrade that replaced the jars under the
 * running JVM raises {@code NoClassDefFoundError}; memory ran out): the task cannot be trusted to
 * run again, so it is recorded as broken ({@link #broken}), and a daemon with a broken task stops
 * answering keepalived's {@code alive} — the peer takes over instead of the box going on without
 * expiry or its HA tick.
 */
public final class PeriodicTasks {
    private static final Logger LOG = LoggerFactory.getLogger(PeriodicTasks.class);
    private static final Map<String, AtomicLong> FAILURES = new ConcurrentHashMap<>();
    private static volatile String broken;

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
            } catch (Error e) {
                brokenForGood(task, e);
                throw e;
            }
        };
    }

    /**
     * Records that {@code task} can no longer run ({@code e}, an {@link Error}): from here on the
     * daemon refuses {@code alive}. The first such failure is the one reported.
     */
    public static void brokenForGood(String task, Throwable e) {
        synchronized (PeriodicTasks.class) {
            if (broken == null) {
                broken = task + ": " + e;
            }
        }
        LOG.error("{} can no longer run ({}): tandemd now fails keepalived's check so the peer takes over; restart it", task, e.toString(), e);
    }

    /** The first task that can no longer run and why, or null while every task runs. */
    public static String broken() {
        return broken;
    }

    /** For tests: forgets a broken task (a real daemon never recovers from one). */
    public static void forgetBroken() {
        synchronized (PeriodicTasks.class) {
            broken = null;
        }
    }

    /** Failures so far, by task name (every guarded task, 0 for those that never failed). */
    public static Map<String, Long> failures() {
        Map<String, Long> now = new TreeMap<>();
        FAILURES.forEach((task, n) -> now.put(task, n.get()));
        return now;
    }
}
