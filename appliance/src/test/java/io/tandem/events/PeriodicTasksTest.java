package io.tandem.events;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.tandem.lab.NamespaceLab.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PeriodicTasksTest {
    @Test
    void aTaskThatThrowsIsCountedAndRunsAgain() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try {
            timer.scheduleAtFixedRate(PeriodicTasks.guard("test-failing", () -> {
                if (runs.incrementAndGet() % 2 == 1) {
                    throw new IllegalStateException("every other run fails");
                }
            }), 0, 5, TimeUnit.MILLISECONDS);
            await(() -> runs.get() >= 6, Duration.ofSeconds(10), () -> runs.get() + " runs");
        } finally {
            timer.shutdownNow();
        }
        long failed = PeriodicTasks.failures().get("test-failing");
        assertTrue(failed >= 3 && failed <= (runs.get() + 1) / 2, failed + " of " + runs.get());
        assertEquals(0L, PeriodicTasks.failures().getOrDefault("test-never-run", 0L));
    }
}
