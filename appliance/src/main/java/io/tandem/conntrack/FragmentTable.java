package io.tandem.conntrack;

import io.tandem.packet.TupleHash;

/**
 * Short-lived mappings for IPv4 fragments. Only the first fragment carries the ports, so it
 * is NATed through the flow table and leaves here the addresses it was rewritten to, keyed
 * by (source, destination, protocol, IP identification) as RFC 791 reassembly keys them;
 * later fragments of the same datagram get the same addresses.
 *
 * <p>A fixed-size, direct-mapped cache: a newer datagram may overwrite an older one's entry
 * (its later fragments are then dropped and counted, and the sender's retransmission
 * recovers). Entries live {@code lifetimeMillis}; nothing is allocated after construction.
 */
public final class FragmentTable {
    private final long[] keys;
    private final long[] rewrites;
    private final long[] expires;
    private final int[] covered;
    private final int mask;
    private final long lifetimeMillis;

    public FragmentTable(int entries, long lifetimeMillis) {
        int size = Integer.highestOneBit(Math.max(16, entries - 1)) << 1;
        keys = new long[size * 2];
        rewrites = new long[size];
        expires = new long[size];
        covered = new int[size];
        mask = size - 1;
        this.lifetimeMillis = lifetimeMillis;
    }

    /** @param coveredBytes how much of the datagram's payload the first fragment carried: later fragments start at or after it */
    public synchronized void put(int src, int dst, int protocol, int ipId, int newSrc, int newDst, int coveredBytes, long nowMillis) {
        int i = slot(src, dst, protocol, ipId);
        covered[i] = coveredBytes;
        keys[2 * i] = (long) src << 32 | (dst & 0xFFFFFFFFL);
        keys[2 * i + 1] = (long) protocol << 16 | ipId | 1L << 40; // bit 40: occupied
        rewrites[i] = (long) newSrc << 32 | (newDst & 0xFFFFFFFFL);
        expires[i] = nowMillis + lifetimeMillis;
    }

    /** The rewritten (source << 32 | destination), or 0 if unknown or expired. */
    public synchronized long get(int src, int dst, int protocol, int ipId, long nowMillis) {
        int i = find(src, dst, protocol, ipId, nowMillis);
        return i < 0 ? 0 : rewrites[i];
    }

    /** The payload bytes the datagram's first fragment carried, or -1 if unknown or expired. */
    public synchronized int covered(int src, int dst, int protocol, int ipId, long nowMillis) {
        int i = find(src, dst, protocol, ipId, nowMillis);
        return i < 0 ? -1 : covered[i];
    }

    private int find(int src, int dst, int protocol, int ipId, long nowMillis) {
        int i = slot(src, dst, protocol, ipId);
        if (keys[2 * i] == ((long) src << 32 | (dst & 0xFFFFFFFFL))
                && keys[2 * i + 1] == ((long) protocol << 16 | ipId | 1L << 40)
                && nowMillis <= expires[i]) {
            return i;
        }
        return -1;
    }

    private int slot(int src, int dst, int protocol, int ipId) {
        long h = TupleHash.of(protocol, src, dst, ipId, 0);
        return (int) (h ^ h >>> 32) & mask;
    }
}
