package io.tandem.conntrack;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnatPortPoolTest {

    @Test
    void everyPortOnceThenExhausted() {
        SnatPortPool pool = new SnatPortPools(20000, 20199).poolFor(1, 2, 80, 6);
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            int port = pool.allocate(i * 7919);
            assertTrue(port >= 20000 && port <= 20199, "in range: " + port);
            assertTrue(ports.add(port), "unique: " + port);
        }
        assertEquals(-1, pool.allocate(5), "exhausted");
        pool.release(20123);
        assertEquals(20123, pool.allocate(0), "the freed port is found wherever the hint starts");
        assertEquals(200, pool.inUse());
    }

    @Test
    void hintSpreadsAndWrapsAround() {
        SnatPortPool pool = new SnatPortPools(1024, 65535).poolFor(1, 2, 80, 6);
        assertEquals(1024 + 100, pool.allocate(100));
        assertEquals(1024 + 101, pool.allocate(100), "next fit after a taken port");
        assertEquals(65535, pool.allocate(64511));
        assertEquals(1024, pool.allocate(64511), "wraps to the start");
        assertEquals(1024 + 5, pool.allocate(-64507), "negative hints map into the range");
    }

    @Test
    void aFlowKeepsTheClientsPortWhenItIsFreeAndFallsBackToTheHintOtherwise() {
        SnatPortPool pool = new SnatPortPools(1024, 65535).poolFor(1, 2, 80, 6);
        assertEquals(40000, pool.allocate(40000, 7), "the client's own port");
        assertEquals(1024 + 7, pool.allocate(40000, 7), "taken: from the hint on");
        assertEquals(1024 + 9, pool.allocate(80, 9), "below the range: from the hint on");
        pool.release(40000);
        assertEquals(40000, pool.allocate(40000, 7), "free again: the same port, whatever came between");
    }

    @Test
    void reserveMarksSyncedPortsOnce() {
        SnatPortPool pool = new SnatPortPools(1024, 2047).poolFor(1, 2, 80, 6);
        assertTrue(pool.reserve(1500));
        assertFalse(pool.reserve(1500));
        assertFalse(pool.reserve(80), "outside the range");
        assertEquals(1501, pool.allocate(1500 - 1024));
    }

    @Test
    void poolsAreKeyedBySnatBackendPortAndProtocol() {
        SnatPortPools pools = new SnatPortPools(1024, 65535);
        SnatPortPool a = pools.poolFor(1, 2, 80, 6);
        assertSame(a, pools.poolFor(1, 2, 80, 6));
        assertSame(a, pools.byId(a.id()));
        assertEquals(4, Set.of(a, pools.poolFor(1, 2, 81, 6), pools.poolFor(1, 3, 80, 6), pools.poolFor(1, 2, 80, 17)).size());
    }
}
