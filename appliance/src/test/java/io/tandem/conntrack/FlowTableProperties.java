package io.tandem.conntrack;

import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random open / packet / close / expire sequences against a plain map as the model: both
 * directions stay consistent, caps are never exceeded, nothing is lost or invented.
 */
class FlowTableProperties {
    private static final int TCP = Ipv4.PROTO_TCP;
    private static final int UDP = Ipv4.PROTO_UDP;
    private static final int VIP = Ipv4.parse("198.18.0.100");
    private static final int SNAT = Ipv4.parse("198.19.0.100");
    private static final int[] FLAGS = {TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK, TcpFlags.FIN | TcpFlags.ACK, TcpFlags.RST};

    record Flow(int protocol, int client, int clientPort, int backend, int snatPort) {
    }

    @Test
    void randomSequencesKeepBothDirectionsConsistentWithinTheCaps() {
        for (long seed = 1; seed <= 30; seed++) {
            runSequence(new Random(seed), seed);
        }
    }

    private void runSequence(Random random, long seed) {
        int capacity = 1 + random.nextInt(200);
        int maxEmbryonic = 1 + random.nextInt(capacity);
        SnatPortPools pools = new SnatPortPools(1024, 65535);
        FlowTable table = new FlowTable(capacity, maxEmbryonic, FlowTimeouts.defaults(), pools);
        Map<Flow, Integer> model = new HashMap<>();
        FlowLookup out = new FlowLookup();
        long now = 0;
        for (int step = 0; step < 3000; step++) {
            now += random.nextInt(2000);
            int op = random.nextInt(10);
            if (op < 4) {
                Flow f = new Flow(random.nextBoolean() ? TCP : UDP, Ipv4.parse("198.18.1." + random.nextInt(8)),
                        1024 + random.nextInt(16), Ipv4.parse("198.19.0." + (11 + random.nextInt(3))), 2000 + random.nextInt(64));
                boolean snatTaken = model.keySet().stream().anyMatch(g -> g.protocol == f.protocol && g.backend == f.backend && g.snatPort == f.snatPort);
                boolean exists = model.keySet().stream().anyMatch(g -> g.protocol == f.protocol && g.client == f.client && g.clientPort == f.clientPort);
                FlowState initial = f.protocol == TCP ? FlowState.TCP_SYN_SENT : FlowState.UDP_UNREPLIED;
                boolean embryonicFull = table.embryonic() >= maxEmbryonic;
                int result = table.insert(f.protocol, f.client, f.clientPort, VIP, 80, f.backend, 8080, SNAT, f.snatPort, -1, initial, now, out);
                if (exists) {
                    assertEquals(FlowTable.INSERT_EXISTS, result, "seed " + seed);
                } else if (model.size() == capacity) {
                    assertEquals(FlowTable.INSERT_TABLE_FULL, result, "seed " + seed);
                } else if (snatTaken) {
                    assertEquals(FlowTable.INSERT_TUPLE_IN_USE, result, "seed " + seed);
                } else if (embryonicFull) {
                    // At the cap the oldest half-open flow still held makes room (early drop), or, if
                    // none is found among the entries looked at, the new one is refused.
                    if (result == FlowTable.INSERT_EMBRYONIC_LIMIT) {
                        continue;
                    }
                    assertTrue(result >= 0, "seed " + seed + " result " + result);
                    int before = model.size();
                    model.keySet().removeIf(g -> !table.lookup(g.protocol, g.client, VIP, g.clientPort, 80, out));
                    assertEquals(before - 1, model.size(), "exactly one half-open flow made room, seed " + seed);
                    model.put(f, result);
                } else {
                    assertTrue(result >= 0, "seed " + seed + " result " + result);
                    model.put(f, result);
                }
            } else if (op < 8 && !model.isEmpty()) {
                Flow f = pick(model, random);
                boolean reply = random.nextBoolean();
                assertTrue(reply ? table.lookup(f.protocol, f.backend, SNAT, 8080, f.snatPort, out)
                        : table.lookup(f.protocol, f.client, VIP, f.clientPort, 80, out), "seed " + seed);
                table.observe(out, FLAGS[random.nextInt(FLAGS.length)], now);
            } else if (op == 8 && !model.isEmpty()) {
                Flow f = pick(model, random);
                table.lookup(f.protocol, f.client, VIP, f.clientPort, 80, out);
                assertTrue(table.remove(out.flowId(), out.generation()));
                model.remove(f);
            } else {
                table.expire(now, 1 + random.nextInt(capacity));
                model.keySet().removeIf(f -> !table.lookup(f.protocol, f.client, VIP, f.clientPort, 80, out));
            }
            checkInvariants(table, model, capacity, maxEmbryonic, seed);
        }
    }

    private static Flow pick(Map<Flow, Integer> model, Random random) {
        List<Flow> flows = new ArrayList<>(model.keySet());
        flows.sort(Comparator.comparingInt(Flow::hashCode));
        return flows.get(random.nextInt(flows.size()));
    }

    private static void checkInvariants(FlowTable table, Map<Flow, Integer> model, int capacity, int maxEmbryonic, long seed) {
        assertEquals(model.size(), table.size(), "seed " + seed);
        assertTrue(table.size() <= capacity);
        assertTrue(table.embryonic() <= maxEmbryonic, "seed " + seed);
        FlowLookup a = new FlowLookup();
        FlowLookup b = new FlowLookup();
        int embryonic = 0;
        for (var entry : model.entrySet()) {
            Flow f = entry.getKey();
            assertTrue(table.lookup(f.protocol, f.client, VIP, f.clientPort, 80, a), "seed " + seed + " original of " + f);
            assertTrue(table.lookup(f.protocol, f.backend, SNAT, 8080, f.snatPort, b), "seed " + seed + " reply of " + f);
            assertEquals(a.flowId(), b.flowId());
            assertEquals((int) entry.getValue(), a.flowId());
            assertEquals(FlowDirection.ORIGINAL, a.direction());
            assertEquals(FlowDirection.REPLY, b.direction());
            if (a.state().embryonic()) {
                embryonic++;
            }
        }
        assertEquals(embryonic, table.embryonic(), "seed " + seed);
        for (Flow f : model.keySet()) {
            long held = model.keySet().stream().filter(g -> g.protocol == f.protocol && g.client == f.client).count();
            assertEquals(held, table.clientFlowCount(f.protocol, f.client, VIP, 80), "seed " + seed + ": flows counted for " + f);
        }
        int[] visited = {0};
        table.forEach(s -> visited[0]++);
        assertEquals(model.size(), visited[0]);
    }

    /**
     * Two threads churn flows (insert, remove: index entries shift) while a third looks up a
     * fixed set of established flows: a lock-free lookup must never miss one of them.
     */
    @Test
    void lookupsNeverMissAFlowWhileOthersChurn() throws Exception {
        FlowTable table = new FlowTable(4096, 4096, FlowTimeouts.defaults(), new SnatPortPools(1024, 65535));
        FlowLookup out = new FlowLookup();
        int stable = 500;
        for (int i = 0; i < stable; i++) {
            table.insert(TCP, Ipv4.parse("198.18.2.1"), 1024 + i, VIP, 80, Ipv4.parse("198.19.0.11"), 8080, SNAT, 1024 + i, -1,
                    FlowState.TCP_ESTABLISHED, 0, out);
        }
        AtomicInteger misses = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> work = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                int worker = w;
                work.add(pool.submit(() -> {
                    FlowLookup mine = new FlowLookup();
                    int client = Ipv4.parse("198.18.3." + (worker + 1));
                    for (int round = 0; round < 300; round++) {
                        for (int i = 0; i < 1000; i++) {
                            table.insert(TCP, client, 1024 + i, VIP, 80, Ipv4.parse("198.19.0.12"), 8080, SNAT,
                                    10000 + worker * 2000 + i, -1, FlowState.TCP_ESTABLISHED, 0, mine);
                        }
                        for (int i = 0; i < 1000; i++) {
                            if (table.lookup(TCP, client, VIP, 1024 + i, 80, mine)) {
                                table.remove(mine.flowId(), mine.generation());
                            }
                        }
                    }
                }));
            }
            work.add(pool.submit(() -> {
                FlowLookup mine = new FlowLookup();
                for (int round = 0; round < 2000; round++) {
                    for (int i = 0; i < stable; i++) {
                        if (!table.lookup(TCP, Ipv4.parse("198.18.2.1"), VIP, 1024 + i, 80, mine)
                                || !table.lookup(TCP, Ipv4.parse("198.19.0.11"), SNAT, 8080, 1024 + i, mine)) {
                            misses.incrementAndGet();
                        }
                    }
                }
            }));
            for (Future<?> f : work) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(0, misses.get());
        assertEquals(stable, table.size());
        assertFalse(table.lookup(TCP, Ipv4.parse("198.18.3.1"), VIP, 1024, 80, out));
    }
}
