package io.tandem.sync;

import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowLookup;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.statesync.InMemoryReplicator;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 20, goal 3, as a property: two boxes (real flow tables, bridges and engines) joined by
 * an in-memory link that drops, duplicates and reorders; random flow churn on the active
 * (connections opened, half-closed, reset, removed by the operator), the link cut for a
 * while, the boxes' clocks apart by up to half a minute either way, and a failover at a
 * random moment after which the churn goes on on the new active. Then the link turns
 * lossless and the active keeps refreshing: within {@link FlowSyncBridge#SWEEP_ROUNDS} + 3
 * refreshes the two tables are equal flow by flow — the same flows, mappings and states —
 * and so are their digests. Each seed is one run; a failure names its seed.
 */
class SyncConvergenceTest {
    private static final int SEEDS = 6;
    private static final int STEPS = 1500;
    private static final String CLIENT = "198.18.0.10";
    private static final String VIP = "198.18.0.100";
    private static final String SNAT = "198.19.0.100";

    @Test
    void randomChurnLossSkewAndAFailoverEndInEqualTables() throws Exception {
        for (long seed = 1; seed <= SEEDS; seed++) {
            run(seed);
        }
    }

    private static void run(long seed) throws Exception {
        Random random = new Random(seed);
        long skew = random.nextLong(-30_000, 30_001);
        TandemConfig config = ConfigLoader.parse(FlowSyncBridgeTest.CONFIG, "test");
        FlowSyncBridgeTest.Box a = new FlowSyncBridgeTest.Box(config, System::currentTimeMillis);
        FlowSyncBridgeTest.Box b = new FlowSyncBridgeTest.Box(config, () -> System.currentTimeMillis() + skew);
        InMemoryReplicator[] link = InMemoryReplicator.pair(100_000, Duration.ofMillis(100), a.now, b.now);
        try {
            a.bridge.attach(link[0]);
            b.bridge.attach(link[1]);
            link[0].start(a.bridge);
            link[1].start(b.bridge);
            a.bridge.becameActive();
            link[0].lossy(seed, 0.08, 0.04, 0.04);
            link[1].lossy(seed + 1000, 0.08, 0.04, 0.04);

            FlowSyncBridgeTest.Box active = a;
            List<Integer> ports = new ArrayList<>();
            int failoverAt = random.nextInt(STEPS / 4, 3 * STEPS / 4);
            int cutAt = random.nextInt(STEPS);
            int nextPort = 20_000;
            for (int step = 0; step < STEPS; step++) {
                if (step == failoverAt) {
                    a.bridge.becameStandby();
                    b.bridge.becameActive();
                    active = b;
                }
                if (step == cutAt) {
                    link[0].disconnect();
                } else if (step == cutAt + 100) {
                    link[0].connect(true);
                }
                int op = random.nextInt(100);
                if (op < 50 || ports.isEmpty()) {
                    open(active, nextPort);
                    ports.add(nextPort++);
                } else {
                    int port = ports.get(random.nextInt(ports.size()));
                    FlowLookup f = active.flow(port);
                    if (f == null) {
                        continue; // lost before the failover: gone from the new active, as it should be
                    }
                    if (op < 75) {
                        send(active, CLIENT, port, VIP, 80, TcpFlags.FIN | TcpFlags.ACK);
                    } else if (op < 90) {
                        send(active, Ipv4.format(f.backendAddress()), 8080, SNAT, f.snatPort(), TcpFlags.RST);
                    } else {
                        active.table.removeByKey(Ipv4.PROTO_TCP, Ipv4.parse(CLIENT), port, Ipv4.parse(VIP), 80);
                    }
                }
                if (step % 100 == 0) {
                    active.bridge.refresh();
                }
                if (step % 10 == 0) {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1)); // let batches leave in between
                }
            }

            link[0].lossy(0, 0, 0, 0);
            link[1].lossy(0, 0, 0, 0);
            link[0].connect(true);
            int refreshes = 0;
            while (!equal(a, b) && refreshes < FlowSyncBridge.SWEEP_ROUNDS + 3) {
                active.bridge.refresh();
                refreshes++;
                long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(600); // six digest intervals
                while (!equal(a, b) && System.nanoTime() < until) {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                }
            }
            Map<Integer, String> onA = flows(a);
            Map<Integer, String> onB = flows(b);
            String what = "seed " + seed + " (skew " + skew + " ms, failover at step " + failoverAt + ", cut at " + cutAt + "): "
                    + onA.size() + " and " + onB.size() + " flows after " + refreshes + " refreshes";
            assertEquals(List.of(), differences(onA, onB), what);
            assertTrue(Arrays.equals(a.bridge.digest().snapshot(), b.bridge.digest().snapshot()), what);
            assertTrue(onA.size() > 100, what + ": the churn left flows to compare");
            System.out.println("converged: " + what);
        } finally {
            link[0].close();
            link[1].close();
        }
    }

    /** The first 20 flows that differ: port, then what each box holds ("-" for nothing). */
    private static List<String> differences(Map<Integer, String> onA, Map<Integer, String> onB) {
        TreeMap<Integer, String> all = new TreeMap<>(onA);
        all.putAll(onB);
        return all.keySet().stream().filter(p -> !String.valueOf(onA.get(p)).equals(String.valueOf(onB.get(p))))
                .limit(20).map(p -> p + ": " + onA.getOrDefault(p, "-") + " | " + onB.getOrDefault(p, "-")).toList();
    }

    private static void open(FlowSyncBridgeTest.Box box, int port) {
        send(box, CLIENT, port, VIP, 80, TcpFlags.SYN);
        FlowLookup f = box.flow(port);
        if (f != null) {
            send(box, Ipv4.format(f.backendAddress()), 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK);
            send(box, CLIENT, port, VIP, 80, TcpFlags.ACK);
        }
    }

    private static void send(FlowSyncBridgeTest.Box box, String from, int fromPort, String to, int toPort, int flags) {
        box.processor.process(TestPacket.tcp(from, fromPort, to, toPort, flags).build(), box.now.getAsLong());
    }

    private static boolean equal(FlowSyncBridgeTest.Box a, FlowSyncBridgeTest.Box b) {
        return flows(a).equals(flows(b));
    }

    /** Client port → mapping and state: what a takeover needs equal. */
    private static Map<Integer, String> flows(FlowSyncBridgeTest.Box box) {
        Map<Integer, String> out = new TreeMap<>();
        box.table.forEach(f -> out.put(f.clientPort(), Ipv4.format(f.backendAddress()) + ":" + f.backendPort() + " via "
                + f.snatPort() + " " + f.state()));
        return out;
    }
}
