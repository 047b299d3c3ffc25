package io.tandem.statesync;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * An incremental digest of a flow table: for each of {@link #RANGES} key-hash ranges, the
 * XOR of the {@link FlowRecord#mappingHash()} of every flow in it. Adding and removing a
 * flow are one XOR each, from any thread; two tables hold the same flows with the same
 * mappings exactly when every range is equal (up to hash collisions), and a range that
 * differs names the part of the table to resync.
 */
public final class FlowDigest {
    public static final int RANGES = 256;

    private final AtomicLongArray ranges = new AtomicLongArray(RANGES);

    static int rangeOf(long keyAddresses, long keyPortsAndProtocol) {
        return (int) (FlowRecord.mix(keyAddresses ^ Long.rotateLeft(keyPortsAndProtocol, 29)) >>> 56);
    }

    /** Adds a flow, or removes it: XOR is its own inverse. */
    public void toggle(FlowRecord flow) {
        int range = flow.range();
        long hash = flow.mappingHash();
        ranges.accumulateAndGet(range, hash, (a, b) -> a ^ b);
    }

    public long[] snapshot() {
        long[] copy = new long[RANGES];
        for (int i = 0; i < RANGES; i++) {
            copy[i] = ranges.get(i);
        }
        return copy;
    }

    /** The ranges whose values differ. */
    public static List<Integer> differing(long[] mine, long[] theirs) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < RANGES; i++) {
            if (mine[i] != theirs[i]) {
                out.add(i);
            }
        }
        return out;
    }
}
