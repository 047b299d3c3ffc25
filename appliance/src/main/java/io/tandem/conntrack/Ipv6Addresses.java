package io.tandem.conntrack;

import java.util.Arrays;
import java.util.concurrent.locks.StampedLock;

/**
 * IPv6 addresses interned as {@code int} ids, so the flow table's slots keep four {@code int}
 * addresses for either family (docs/architecture.md, "IPv6"): of a flow's addresses only the
 * client's is arbitrary, and one client's flows share its entry. An id stays valid, and means
 * the same address, while anyone holds it ({@link #acquire} / {@link #release}).
 *
 * <p>Storage grows by doubling, so a box that serves no IPv6 pays 0 bytes for it and one that
 * does about {@value #BYTES_PER_ADDRESS} bytes per distinct address. Its capacities are four
 * under a power of two, so that each array with its header fills whole G1 regions ({@link Probing}). One arena serves the flow
 * table (each flow holds its four addresses) and the service table (which pins its VIPs, SNAT
 * addresses and backends for good: a few per config, and a stale service table may still be in
 * an event loop's hands when a newer one replaces it).
 *
 * <p>The same discipline as {@link TupleIndex}, with a lock of its own (taken inside the flow
 * table's, never the other way round): writers hold the write lock; {@link #find} reads under an
 * optimistic stamp, each index position once, bounded even while a writer shifts entries or
 * grows the arrays, and retries under the read lock if a writer intervened. {@link #high} and
 * {@link #low} need no lock: an id's address does not change while it is held.
 */
public final class Ipv6Addresses {
    /** Two address halves, a reference count, two index positions (load ≤ 1/2). */
    private static final int BYTES_PER_ID = 8 + 8 + 4 + 2 * 4;
    /** Per id, and a free-list entry. */
    static final int BYTES_PER_ADDRESS = BYTES_PER_ID + 4;
    public static final int NONE = -1;
    private static final int INITIAL = 12;

    /** Everything a reader needs, swapped whole when the arena grows. */
    private static final class Storage {
        final long[] high;
        final long[] low;
        final int[] refs;
        /** Open addressing, linear probing ({@link Probing}): id + 1, 0 empty. */
        final int[] index;

        Storage(int capacity) {
            high = new long[capacity];
            low = new long[capacity];
            refs = new int[capacity];
            index = new int[capacity * 2];
        }
    }

    private final int maxAddresses;
    private volatile Storage storage;
    private int[] free = new int[0];
    private int freeCount;
    /** Ids never used yet start here. */
    private int nextFresh;
    private int live;
    private final StampedLock lock = new StampedLock();

    /** @param maxAddresses the most distinct addresses held at once (the flow table's capacity plus the config's) */
    public Ipv6Addresses(int maxAddresses) {
        this.maxAddresses = maxAddresses;
    }

    /** The id of this address, or {@link #NONE}. Takes no lock unless a writer intervenes; allocates nothing. */
    public int find(long high, long low) {
        long stamp = lock.tryOptimisticRead();
        if (stamp != 0) {
            Storage a = storage;
            int id = a == null ? NONE : probe(a, high, low);
            if (lock.validate(stamp)) {
                return id;
            }
        }
        stamp = lock.readLock();
        try {
            Storage a = storage;
            return a == null ? NONE : probe(a, high, low);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /** The address's id, entered if new, its reference count raised; {@link #NONE} when the arena is full. */
    public int acquire(long high, long low) {
        long stamp = lock.writeLock();
        try {
            return acquireLocked(high, low);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** One more reference on an id already held. */
    public void retain(int id) {
        long stamp = lock.writeLock();
        try {
            storage.refs[id]++;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * Enters an IPv6 flow's four addresses and puts their ids in {@code s}'s address fields (its
     * protocol and ports untouched), held by the caller until {@link #releaseFlow}: for a flow
     * that arrives with its addresses (a peer's record, a map entry the kernel kept), before the
     * table, installing it, takes references of its own. False, nothing held, when the arena is full.
     */
    public boolean acquireFlow(FlowSnapshot s, long clientHigh, long clientLow, long vipHigh, long vipLow,
                               long backendHigh, long backendLow, long snatHigh, long snatLow) {
        long stamp = lock.writeLock();
        try {
            int client = acquireLocked(clientHigh, clientLow);
            int vip = client == NONE ? NONE : acquireLocked(vipHigh, vipLow);
            int backend = vip == NONE ? NONE : acquireLocked(backendHigh, backendLow);
            int snat = backend == NONE ? NONE : acquireLocked(snatHigh, snatLow);
            if (snat == NONE) {
                for (int id : new int[] {client, vip, backend}) {
                    if (id != NONE) {
                        releaseLocked(id);
                    }
                }
                return false;
            }
            s.setKey(s.protocol(), client, s.clientPort(), vip, s.vipPort()).setMapping(backend, s.backendPort(), snat, s.snatPort());
            return true;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Drops the references {@link #acquireFlow} took. */
    public void releaseFlow(FlowSnapshot s) {
        long stamp = lock.writeLock();
        try {
            releaseLocked(s.clientAddress());
            releaseLocked(s.vipAddress());
            releaseLocked(s.backendAddress());
            releaseLocked(s.snatAddress());
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Drops one reference; the last one frees the id. */
    public void release(int id) {
        long stamp = lock.writeLock();
        try {
            releaseLocked(id);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private int acquireLocked(long high, long low) {
        Storage a = storage;
        int id = a == null ? NONE : probe(a, high, low);
        if (id != NONE) {
            a.refs[id]++;
            return id;
        }
        if (live == maxAddresses) {
            return NONE;
        }
        id = freeCount > 0 ? free[--freeCount] : nextFresh;
        if (a == null || id >= a.high.length) {
            a = grow(a);
        }
        if (id == nextFresh) {
            nextFresh++;
        }
        a.high[id] = high;
        a.low[id] = low;
        a.refs[id] = 1;
        place(a, id);
        live++;
        return id;
    }

    private void releaseLocked(int id) {
        Storage a = storage;
        if (--a.refs[id] > 0) {
            return;
        }
        int position = home(a, a.high[id], a.low[id]);
        while (a.index[position] != id + 1) {
            position = Probing.next(position, a.index.length);
        }
        delete(a, position);
        if (freeCount == free.length) {
            free = Arrays.copyOf(free, Math.max(INITIAL, free.length * 2));
        }
        free[freeCount++] = id;
        live--;
    }

    /** The high 64 bits of a held id's address. */
    public long high(int id) {
        return storage.high[id];
    }

    /** The low 64 bits of a held id's address. */
    public long low(int id) {
        return storage.low[id];
    }

    /** Whether {@code id} holds this address now (a check after a lock-free find and lookup). */
    public boolean holds(int id, long high, long low) {
        Storage a = storage;
        return a != null && id >= 0 && id < a.high.length && a.high[id] == high && a.low[id] == low && a.refs[id] > 0;
    }

    /** References held on {@code id} (0: free). */
    int references(int id) {
        Storage a = storage;
        return a == null || id >= a.refs.length ? 0 : a.refs[id];
    }

    /** Distinct addresses held now. */
    public int size() {
        return live;
    }

    /** Bytes the arena's arrays take now (for the footprint measurements). */
    public long bytes() {
        Storage a = storage;
        return a == null ? 0 : (long) a.high.length * BYTES_PER_ID + free.length * 4L;
    }

    private int probe(Storage a, long high, long low) {
        int position = home(a, high, low);
        for (int probes = 0; probes < a.index.length; probes++) {
            int stored = a.index[position];
            if (stored == 0) {
                return NONE;
            }
            int id = stored - 1;
            if (id < a.high.length && a.high[id] == high && a.low[id] == low) {
                return id;
            }
            position = Probing.next(position, a.index.length);
        }
        return NONE;
    }

    private Storage grow(Storage old) {
        int capacity = old == null ? INITIAL : (int) Math.min(Integer.MAX_VALUE / 2, (old.high.length + 4L) * 2 - 4);
        Storage a = new Storage(Math.min(capacity, Math.max(INITIAL, maxAddresses)));
        if (old != null) {
            System.arraycopy(old.high, 0, a.high, 0, old.high.length);
            System.arraycopy(old.low, 0, a.low, 0, old.low.length);
            System.arraycopy(old.refs, 0, a.refs, 0, old.refs.length);
            for (int stored : old.index) {
                if (stored != 0) {
                    place(a, stored - 1);
                }
            }
        }
        storage = a; // published whole: a reader sees the old arrays or the new, each consistent at the stamp
        return a;
    }

    /** Enters {@code id}, its address already written, in the first free position from its home. */
    private static void place(Storage a, int id) {
        int position = home(a, a.high[id], a.low[id]);
        while (a.index[position] != 0) {
            position = Probing.next(position, a.index.length);
        }
        a.index[position] = id + 1;
    }

    private static int home(Storage a, long high, long low) {
        long h = (high * 0x9E3779B97F4A7C15L) ^ (low * 0xC2B2AE3D27D4EB4FL);
        h ^= h >>> 31;
        return Probing.home(h, a.index.length);
    }

    /** Backward-shift deletion for linear probing (Knuth, TAOCP vol. 3, 6.4 Algorithm R), as {@link TupleIndex}. */
    private static void delete(Storage a, int position) {
        int hole = position;
        int next = position;
        while (true) {
            next = Probing.next(next, a.index.length);
            int stored = a.index[next];
            if (stored == 0) {
                break;
            }
            if (!Probing.staysPut(hole, home(a, a.high[stored - 1], a.low[stored - 1]), next)) {
                a.index[hole] = stored;
                hole = next;
            }
        }
        a.index[hole] = 0;
    }
}
