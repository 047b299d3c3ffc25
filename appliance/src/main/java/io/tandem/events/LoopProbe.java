package io.tandem.events;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Asks each event loop of a group to run an empty task and waits for all, within one deadline:
 * a loop that does not get to it in time is stuck (a handler that blocks, a spin) even though the
 * process lives. keepalived's check (the control socket's {@code alive}) rests on this, since
 * {@code kill -0} passes for a wedged daemon.
 */
public final class LoopProbe {
    private LoopProbe() {
    }

    /** The loops of {@code group} (named {@code what} 1..n) that did not run a task within {@code timeout}; empty when all did. */
    public static List<String> stuck(String what, Iterable<EventExecutor> group, Duration timeout) throws InterruptedException {
        List<Future<?>> answers = new ArrayList<>();
        for (EventExecutor loop : group) {
            answers.add(loop.isShuttingDown() ? null : loop.submit(() -> { }));
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> stuck = new ArrayList<>();
        for (int i = 0; i < answers.size(); i++) {
            Future<?> answer = answers.get(i);
            long left = Math.max(0, deadline - System.nanoTime());
            if (answer == null || !answer.await(left, TimeUnit.NANOSECONDS) || !answer.isSuccess()) {
                stuck.add(what + " " + (i + 1) + " of " + answers.size() + " ran no task within " + timeout.toMillis() + " ms");
            }
        }
        return stuck;
    }
}
