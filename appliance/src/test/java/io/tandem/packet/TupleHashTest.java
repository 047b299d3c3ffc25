package io.tandem.packet;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class TupleHashTest {

    /**
     * Pinned values: both boxes of a pair, possibly on different versions during an upgrade,
     * must pick the same backend for a flow, so the hash may only change deliberately.
     */
    @Test
    void hashIsStableAcrossVersions() {
        int client = Ipv4.parse("198.18.0.10");
        int vip = Ipv4.parse("198.18.0.100");
        assertEquals(PINNED_TUPLE, TupleHash.of(Ipv4.PROTO_TCP, client, vip, 40000, 80));
        assertEquals(PINNED_ADDRESS, TupleHash.ofAddress(client));
    }

    @Test
    void everyFieldOfTheTupleCounts() {
        long base = TupleHash.of(6, 1, 2, 3, 4);
        assertNotEquals(base, TupleHash.of(17, 1, 2, 3, 4));
        assertNotEquals(base, TupleHash.of(6, 2, 1, 3, 4));
        assertNotEquals(base, TupleHash.of(6, 1, 2, 4, 3));
        assertNotEquals(base, TupleHash.of(6, 1, 3, 3, 4));
    }

    private static final long PINNED_TUPLE = 1197919162562055273L;
    private static final long PINNED_ADDRESS = -7243934593852824832L;
}
