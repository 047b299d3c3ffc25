package io.tandem.conntrack;

import io.tandem.packet.TupleHash;

/**
 * The flow table's index: one open-addressed array with linear probing, holding two entries
 * per flow, for its original tuple (client to VIP) and its reply tuple (backend to SNAT
 * address). An entry is {@code (slot << 1 | direction) + 1}; 0 is empty; the array is four
 * entries per slot, so the load factor is at most 1/2 ({@link Probing}). The tuples themselves
 * live in the {@link FlowSlots}.
 *
 * <p>Readers probe without a lock, under the table's optimistic stamp: a probe reads each
 * position once and is bounded even while a writer shifts entries, and the table discards
 * its result if a writer intervened. Writers hold the table's write lock.
 */
final class TupleIndex {
    static final int ORIGINAL = 0;
    static final int REPLY = 1;

    private final FlowSlots slots;
    private final int[] index;

    TupleIndex(int capacity, FlowSlots slots) {
        this.slots = slots;
        index = new int[(int) Math.max(4, Math.min(Integer.MAX_VALUE - 8, 4L * capacity))]; // the largest array Java allows
    }

    static int entry(int slot, int direction) {
        return slot << 1 | direction;
    }

    static int slotOf(int entry) {
        return entry >>> 1;
    }

    static int directionOf(int entry) {
        return entry & 1;
    }

    int length() {
        return index.length;
    }

    /** The entry matching the tuple, as read (safe without the lock), or -1. */
    int find(int proto, int src, int dst, int srcPort, int dstPort) {
        long found = probe(proto, src, dst, srcPort, dstPort);
        return found < 0 ? -1 : (int) found - 1;
    }

    /** The position of the entry matching the tuple, or -1. For writers, under the write lock. */
    int position(int proto, int src, int dst, int srcPort, int dstPort) {
        long found = probe(proto, src, dst, srcPort, dstPort);
        return found < 0 ? -1 : (int) (found >>> 32);
    }

    /** The slot of the flow whose entry is at {@code position}. */
    int slotAt(int position) {
        return slotOf(index[position] - 1);
    }

    /** {@code position << 32 | stored entry} of the matching entry, or -1; bounded even while writers shift entries. */
    private long probe(int proto, int src, int dst, int srcPort, int dstPort) {
        int position = home(proto, src, dst, srcPort, dstPort);
        for (int probes = 0; probes < index.length; probes++) {
            int stored = index[position];
            if (stored == 0) {
                return -1;
            }
            int entry = stored - 1;
            if (slots.matches(slotOf(entry), directionOf(entry), proto, src, dst, srcPort, dstPort)) {
                return (long) position << 32 | stored;
            }
            position = Probing.next(position, index.length);
        }
        return -1;
    }

    private int home(int proto, int src, int dst, int srcPort, int dstPort) {
        long h = TupleHash.of(proto, src, dst, srcPort, dstPort);
        return Probing.home(h, index.length);
    }

    private int home(int entry) {
        int slot = slotOf(entry);
        if (directionOf(entry) == ORIGINAL) {
            return home(slots.protocol(slot), slots.clientAddress(slot), slots.vipAddress(slot), slots.clientPort(slot), slots.vipPort(slot));
        }
        return home(slots.protocol(slot), slots.backendAddress(slot), slots.snatAddress(slot), slots.backendPort(slot), slots.snatPort(slot));
    }

    /** Adds both entries of a slot just written. */
    void add(int slot) {
        insert(entry(slot, ORIGINAL));
        insert(entry(slot, REPLY));
    }

    /** Removes both entries of a slot, before the slot is freed. */
    void remove(int slot) {
        delete(position(slots.protocol(slot), slots.clientAddress(slot), slots.vipAddress(slot), slots.clientPort(slot), slots.vipPort(slot)));
        delete(position(slots.protocol(slot), slots.backendAddress(slot), slots.snatAddress(slot), slots.backendPort(slot),
                slots.snatPort(slot)));
    }

    private void insert(int entry) {
        int position = home(entry);
        while (index[position] != 0) {
            position = Probing.next(position, index.length);
        }
        index[position] = entry + 1;
    }

    /** Backward-shift deletion for linear probing (Knuth, TAOCP vol. 3, 6.4 Algorithm R). */
    private void delete(int position) {
        int hole = position;
        int next = position;
        while (true) {
            next = Probing.next(next, index.length);
            int stored = index[next];
            if (stored == 0) {
                break;
            }
            if (!Probing.staysPut(hole, home(stored - 1), next)) {
                index[hole] = stored;
                hole = next;
            }
        }
        index[hole] = 0;
    }
}
