package io.tandem.balancer;

import io.tandem.packet.TupleHash;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Maglev consistent hashing (NSDI 2016, §3.4, "Pseudocode 1: Populate Maglev hashing lookup
 * table"). Each backend walks its own permutation of the table's slots, given by an offset
 * and a skip derived from its name, and the backends take turns claiming their next free
 * slot. With a prime table size every permutation visits every slot.
 *
 * <p>Weights: a backend takes {@code weight / maxWeight} turns per round on average (it
 * accrues credit each round and claims a slot per full unit), so slot counts are
 * proportional to weights; with equal weights they differ by at most one.
 *
 * <p>Both boxes of a pair build the same table from the same backend names and weights, so a
 * flow maps to the same backend on either.
 */
public final class MaglevTable implements BackendSelector {
    public static final int DEFAULT_SIZE = 65537;

    private final int[] slots;

    private MaglevTable(int[] slots) {
        this.slots = slots;
    }

    /**
     * @param names   stable backend identities ({@code "198.19.0.11:8080"}); their order sets indexes
     * @param weights one per name; 0 takes the backend out of the table
     * @param size    a prime, larger than the number of backends (65537 by default)
     */
    public static MaglevTable build(List<String> names, int[] weights, int size) {
        if (!isPrime(size)) {
            throw new IllegalArgumentException("Maglev table size " + size + " is not prime");
        }
        if (names.size() != weights.length) {
            throw new IllegalArgumentException(names.size() + " names but " + weights.length + " weights");
        }
        int n = names.size();
        int[] slots = new int[size];
        Arrays.fill(slots, -1);
        int maxWeight = Arrays.stream(weights).max().orElse(0);
        if (maxWeight <= 0) {
            return new MaglevTable(slots);
        }
        long[] offset = new long[n];
        long[] skip = new long[n];
        long[] next = new long[n];
        long[] credit = new long[n];
        for (int i = 0; i < n; i++) {
            if (weights[i] < 0) {
                throw new IllegalArgumentException("negative weight for " + names.get(i));
            }
            byte[] name = names.get(i).getBytes(StandardCharsets.UTF_8);
            offset[i] = Long.remainderUnsigned(hash(name, 0x5bd1e995L), size);
            skip[i] = Long.remainderUnsigned(hash(name, 0x1b873593L), size - 1) + 1;
        }
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                credit[i] += weights[i];
                while (credit[i] >= maxWeight) {
                    credit[i] -= maxWeight;
                    int slot;
                    do {
                        slot = (int) ((offset[i] + next[i] * skip[i]) % size);
                        next[i]++;
                    } while (slots[slot] >= 0);
                    slots[slot] = i;
                    if (++filled == size) {
                        return new MaglevTable(slots);
                    }
                }
            }
        }
    }

    /** The backend index for a flow hash; -1 if the table has no backend. */
    @Override
    public int select(long flowHash) {
        // Lemire's multiply-shift maps the hash's high 32 bits onto [0, size) without a division.
        return slots[(int) (((flowHash >>> 32) * slots.length) >>> 32)];
    }

    public int size() {
        return slots.length;
    }

    /** How many slots each of {@code backends} backends owns. */
    public int[] slotCounts(int backends) {
        int[] counts = new int[backends];
        for (int owner : slots) {
            if (owner >= 0) {
                counts[owner]++;
            }
        }
        return counts;
    }

    /** The backend index of a slot, -1 for none. */
    public int owner(int slot) {
        return slots[slot];
    }

    static boolean isPrime(int n) {
        if (n < 2) {
            return false;
        }
        for (int d = 2; (long) d * d <= n; d++) {
            if (n % d == 0) {
                return false;
            }
        }
        return true;
    }

    /** FNV-1a (64 bit) of the name, seeded, then MurmurHash3's finalizer: stable everywhere. */
    private static long hash(byte[] bytes, long seed) {
        long h = 0xcbf29ce484222325L ^ seed;
        for (byte b : bytes) {
            h ^= b & 0xFF;
            h *= 0x100000001b3L;
        }
        return TupleHash.fmix64(h);
    }
}
