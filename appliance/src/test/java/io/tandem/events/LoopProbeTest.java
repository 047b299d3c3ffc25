package io.tandem.events;

import io.netty.channel.DefaultEventLoopGroup;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoopProbeTest {
    @Test
    void aLoopThatBlocksIsNamedAndTheOthersPass() throws Exception {
        DefaultEventLoopGroup group = new DefaultEventLoopGroup(3);
        CountDownLatch release = new CountDownLatch(1);
        try {
            assertEquals(List.of(), LoopProbe.stuck("loop", group, Duration.ofSeconds(5)), "all three answer");
            CountDownLatch blocked = new CountDownLatch(1);
            group.iterator().next().execute(() -> {
                blocked.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS); // a handler that blocks its loop
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(blocked.await(5, TimeUnit.SECONDS));
            long start = System.nanoTime();
            List<String> stuck = LoopProbe.stuck("loop", group, Duration.ofMillis(300));
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            assertEquals(List.of("loop 1 of 3 ran no task within 300 ms"), stuck);
            assertTrue(tookMillis < 5_000, "the probe keeps to its deadline: " + tookMillis + " ms");
        } finally {
            release.countDown();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
