package io.tandem.statesync;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two real JGroups channels over loopback in one JVM, encrypted with the pair's key. */
class JGroupsReplicatorTest {
    @TempDir
    static Path keys;
    private static Path pairKey;
    private static Path otherKey;
    private final List<JGroupsReplicator> started = new ArrayList<>();

    @BeforeAll
    static void makeKeys() throws Exception {
        pairKey = keys.resolve("pair.p12");
        otherKey = keys.resolve("other.p12");
        SyncKeys.generate(pairKey, "tandem".toCharArray());
        SyncKeys.generate(otherKey, "tandem".toCharArray());
    }

    @AfterEach
    void stop() {
        started.forEach(JGroupsReplicator::close);
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private JGroupsReplicator start(String name, int port, int peerPort, Path key, MapFlowStore store, boolean source) throws Exception {
        JGroupsReplicator r = new JGroupsReplicator(new JGroupsReplicator.Settings(name, "127.0.0.1", port,
                List.of("127.0.0.1[" + port + "]", "127.0.0.1[" + peerPort + "]"), key, "tandem",
                Duration.ofSeconds(3), Duration.ofMillis(200), 100_000, Duration.ofSeconds(20)));
        started.add(r);
        r.start(store);
        r.setSource(source);
        return r;
    }

    static FlowRecord flow(int i, long version) {
        return new FlowRecord(6, 0xC6120000 | (i >>> 16), i & 0xFFFF, 0xC6120064, 80, 0xC613000B + (i % 3), 8080,
                0xC6130064, 1024 + i % 60000, 3, 0, 1000L, version, false);
    }

    static void await(BooleanSupplier condition, Duration timeout, Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + ": " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    /** A source (lb1, holding {@code a}) and a replica (lb2, holding {@code b}) with the pair's key, joined. */
    private JGroupsReplicator[] joinedPair(MapFlowStore a, MapFlowStore b) throws Exception {
        int pa = freePort();
        int pb = freePort();
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        JGroupsReplicator rb = start("lb2", pb, pa, pairKey, b, false);
        await(() -> ra.status().peerConnected() && rb.status().peerConnected(), Duration.ofSeconds(20), () -> "peers joined");
        return new JGroupsReplicator[] {ra, rb};
    }

    @Test
    void changesReachThePeerAndTheDigestsAgree() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        JGroupsReplicator ra = pair[0];
        JGroupsReplicator rb = pair[1];

        for (int i = 0; i < 5000; i++) {
            FlowRecord record = flow(i, i + 1);
            a.put(record);
            assertTrue(ra.publish(record));
        }
        // a later change of one flow wins over the earlier one, even within one batch
        FlowRecord moved = new FlowRecord(6, flow(7, 0).clientAddress(), 7, 0xC6120064, 80, 0xC613000D, 8080, 0xC6130064, 2000,
                4, 1, 2000L, 1_000_000L, false);
        a.put(moved);
        ra.publish(moved);

        await(() -> b.flows.size() == 5000 && Arrays.equals(a.digest().snapshot(), b.digest().snapshot()),
                Duration.ofSeconds(20), () -> b.flows.size() + " flows on the peer");
        assertEquals(moved, b.flows.get(MapFlowStore.Key.of(moved)));
        await(() -> Boolean.TRUE.equals(rb.status().digestsEqual()), Duration.ofSeconds(10), () -> rb.status().toString());
        assertTrue(ra.status().recordsSent() >= 5000);
        assertEquals(0, rb.status().decodeErrors());
    }

    @Test
    void aJoiningPeerReceivesTheWholeTableThenTheStream() throws Exception {
        int pa = freePort();
        int pb = freePort();
        MapFlowStore a = new MapFlowStore();
        for (int i = 0; i < 20_000; i++) {
            a.put(flow(i, i + 1));
        }
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator rb = start("lb2", pb, pa, pairKey, b, false);

        assertEquals(20_000, b.flows.size(), "the state transfer completed before start returned");
        assertEquals(20_000, rb.status().lastFullResync().records());
        FlowRecord after = flow(30_000, 40_000);
        a.put(after);
        ra.publish(after);
        await(() -> b.flows.containsKey(MapFlowStore.Key.of(after)), Duration.ofSeconds(10), () -> "the change after the transfer");
        assertArrayEquals(a.digest().snapshot(), b.digest().snapshot());
    }

    @Test
    void aPeerWithAnotherKeyIsNotAdmittedAndNoRecordCrosses() throws Exception {
        int pa = freePort();
        int pb = freePort();
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        JGroupsReplicator rb = start("intruder", pb, pa, otherKey, b, false);
        for (int i = 0; i < 100; i++) {
            a.put(flow(i, i + 1));
            ra.publish(flow(i, i + 1));
            b.put(flow(i + 1000, i + 1));
            rb.publish(flow(i + 1000, i + 1));
        }
        // Give them the time a join takes with the right key (it takes well under a second).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
        while (System.nanoTime() < deadline) {
            assertFalse(ra.status().peerConnected(), "the intruder joined");
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
        assertEquals(100, a.flows.size());
        assertEquals(100, b.flows.size());
        assertEquals(0, ra.status().recordsReceived());
        assertEquals(0, rb.status().recordsReceived());
    }

    @Test
    void aReplicaThatDriftedIsRepairedRangeByRange() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        JGroupsReplicator ra = pair[0];
        JGroupsReplicator rb = pair[1];
        // Changes that never crossed (a full queue, a link down): the digests show it.
        for (int i = 0; i < 300; i++) {
            a.put(flow(i, i + 1));
        }
        b.put(flow(9999, 1)); // a flow the source does not have
        await(() -> Arrays.equals(a.digest().snapshot(), b.digest().snapshot()), Duration.ofSeconds(20),
                () -> b.flows.size() + " flows on the replica, digests equal: " + rb.status().digestsEqual());
        assertEquals(300, b.flows.size());
        assertFalse(b.flows.containsKey(MapFlowStore.Key.of(flow(9999, 1))));
        assertTrue(rb.status().rangeResyncs() > 0);
    }
}
