package io.tandem.conntrack;

import io.tandem.packet.TupleHash;

/**
 * How many flows each client address holds in each service (protocol, VIP, port), for
 * {@code client_limits.max_flows}: {@link #COUNTERS} counters indexed by a hash of the four,
 * changed only under the flow table's write lock, by the one writer and the one remover of a
 * slot, so every flow held is counted exactly once whichever path made or ended it. Clients
 * whose keys share a counter share its cap (never more permissive than configured; with
 * 65,536 counters, rare below thousands of busy clients). 256 KiB, whatever the table's size.
 */
final class ClientFlowCounts {
    static final int COUNTERS = 1 << 16;
    private final int[] counts = new int[COUNTERS];

    private static int index(int proto, int client, int vip, int vipPort) {
        long key = (client & 0xFFFFFFFFL) << 32 | (vip & 0xFFFFFFFFL);
        return (int) TupleHash.fmix64(key ^ ((long) proto << 16 | vipPort) * 0x9E3779B97F4A7C15L) & (COUNTERS - 1);
    }

    int get(int proto, int client, int vip, int vipPort) {
        return counts[index(proto, client, vip, vipPort)];
    }

    void add(int proto, int client, int vip, int vipPort, int delta) {
        counts[index(proto, client, vip, vipPort)] += delta;
    }
}
