package io.tandem.conntrack;

import io.tandem.packet.TupleHash;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Consumer;

/**
 * The connection-tracking table: a fixed number of flow slots in parallel primitive arrays
 * (no object per flow), and one open-addressed index holding two entries per flow, for its
 * original tuple (client to VIP) and its reply tuple (backend to SNAT address).
 *
 * <p>Concurrency: lookups, the per-packet path, take no lock; they read under a
 * {@link StampedLock} optimistic stamp and retry if a writer intervened. Inserts and removals
 * (new flows, expiry) take the write lock. State changes are a CAS on the slot's state word,
 * which also carries a generation so that a stale lookup never changes a reused slot.
 *
 * <p>Memory: about 61 bytes per flow slot plus 16 bytes of index; see
 * {@link #memoryFootprintBytes()}. Everything is allocated up front: the cap is the size.
 *
 * <p>Expiry never scans the whole table on the hot path: {@link #expire} examines a bounded
 * slice of slots per call, a clock hand going round (Linux conntrack's gc worker does the same).
 */
public final class FlowTable {
    /** {@link #insert} results other than a slot id. */
    public static final int INSERT_TABLE_FULL = -1;
    public static final int INSERT_EMBRYONIC_LIMIT = -2;
    public static final int INSERT_TUPLE_IN_USE = -3;
    /** The original tuple exists already (two event loops raced on one SYN): {@code out} holds it. */
    public static final int INSERT_EXISTS = -4;

    private static final VarHandle STATE_WORDS = MethodHandles.arrayElementVarHandle(int[].class);
    private static final int STATE_MASK = 0x0F;
    private static final int FIN_FROM_REPLY = 0x10;
    /** Installed from the peer and not yet seen here: held by the peer's refreshes, not by local idle timers. */
    private static final int REMOTE = 0x20;
    /** Its backend failed with on_backend_down: reset: the client's next segment is answered with a RST. */
    private static final int RESET = 0x40;
    private static final int GENERATION_SHIFT = 8;
    private static final int NO_POOL = -1;

    private final int capacity;
    private final int maxEmbryonic;
    private final FlowTimeouts timeouts;
    private final SnatPortPools pools;
    private volatile FlowEventListener listener = FlowEventListener.NONE;

    // One slot per flow. Ports packed: client << 48 | vip << 32 | backend << 16 | snat.
    private final int[] clientAddress;
    private final int[] vipAddress;
    private final int[] backendAddress;
    private final int[] snatAddress;
    private final long[] ports;
    private final byte[] protocol;
    private final int[] stateWord;
    private final long[] lastSeen;
    private final long[] version;
    private final int[] poolId;

    /** Entry = (slot << 1 | direction) + 1; 0 = empty. Load factor at most 1/2. */
    private final int[] index;
    private final int indexMask;
    private final int[] freeSlots;
    private int freeCount;

    private final StampedLock lock = new StampedLock();
    private volatile int size;
    private final AtomicInteger embryonic = new AtomicInteger();
    private int expiryHand;
    private final int[] expiryCandidates = new int[1024];
    private final ThreadLocal<FlowSnapshot> eventSnapshot = ThreadLocal.withInitial(FlowSnapshot::new);
    private final java.util.function.LongSupplier versions;
    private volatile long remoteHoldMillis = 600_000;

    public FlowTable(int capacity, int maxEmbryonic, FlowTimeouts timeouts, SnatPortPools pools) {
        this(capacity, maxEmbryonic, timeouts, pools, new java.util.concurrent.atomic.AtomicLong()::incrementAndGet);
    }

    /**
     * @param versions issues the version of every change (state sync's hybrid clock; the
     *                 newest version of a flow wins on either box)
     */
    public FlowTable(int capacity, int maxEmbryonic, FlowTimeouts timeouts, SnatPortPools pools,
                     java.util.function.LongSupplier versions) {
        this.versions = versions;
        if (capacity < 1 || capacity > (1 << 29)) {
            throw new IllegalArgumentException("flow table capacity " + capacity + " is not within 1.." + (1 << 29));
        }
        this.capacity = capacity;
        this.maxEmbryonic = Math.min(maxEmbryonic, capacity);
        this.timeouts = timeouts;
        this.pools = pools;
        clientAddress = new int[capacity];
        vipAddress = new int[capacity];
        backendAddress = new int[capacity];
        snatAddress = new int[capacity];
        ports = new long[capacity];
        protocol = new byte[capacity];
        stateWord = new int[capacity];
        lastSeen = new long[capacity];
        version = new long[capacity];
        poolId = new int[capacity];
        int indexSize = Integer.highestOneBit(Math.max(4, capacity * 4 - 1)) << 1;
        index = new int[indexSize];
        indexMask = indexSize - 1;
        freeSlots = new int[capacity];
        for (int i = 0; i < capacity; i++) {
            freeSlots[i] = capacity - 1 - i; // slot 0 handed out first
        }
        freeCount = capacity;
    }

    public void setListener(FlowEventListener listener) {
        this.listener = listener == null ? FlowEventListener.NONE : listener;
    }

    /**
     * Finds the flow a packet with this tuple belongs to, in either direction.
     *
     * @return true and {@code out} filled, or false
     */
    public boolean lookup(int proto, int src, int dst, int srcPort, int dstPort, FlowLookup out) {
        long stamp = lock.tryOptimisticRead();
        if (stamp != 0) {
            boolean found = probeAndCopy(proto, src, dst, srcPort, dstPort, out);
            if (lock.validate(stamp)) {
                return found;
            }
        }
        stamp = lock.readLock();
        try {
            return probeAndCopy(proto, src, dst, srcPort, dstPort, out);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    private boolean probeAndCopy(int proto, int src, int dst, int srcPort, int dstPort, FlowLookup out) {
        // The entry is read once: under an optimistic stamp a writer may shift or clear the
        // position meanwhile, so it must never be read twice (validate() discards the result).
        int entry = findEntry(proto, src, dst, srcPort, dstPort) - 1;
        if (entry < 0) {
            return false;
        }
        int slot = entry >>> 1;
        copyInto(slot, out);
        out.direction = (entry & 1) == 0 ? FlowDirection.ORIGINAL : FlowDirection.REPLY;
        return true;
    }

    private void copyInto(int slot, FlowLookup out) {
        int word = stateWord[slot];
        long p = ports[slot];
        out.flowId = slot;
        out.generation = word >>> GENERATION_SHIFT;
        out.state = FlowState.ofCode(word & STATE_MASK);
        out.finFromReply = (word & FIN_FROM_REPLY) != 0;
        out.resetPending = (word & RESET) != 0;
        out.protocol = protocol[slot];
        out.clientAddress = clientAddress[slot];
        out.vipAddress = vipAddress[slot];
        out.backendAddress = backendAddress[slot];
        out.snatAddress = snatAddress[slot];
        out.clientPort = (int) (p >>> 48);
        out.vipPort = (int) (p >>> 32) & 0xFFFF;
        out.backendPort = (int) (p >>> 16) & 0xFFFF;
        out.snatPort = (int) p & 0xFFFF;
    }

    /** Index position of the entry matching the tuple, or -1. For writers, under the write lock. */
    private int findPosition(int proto, int src, int dst, int srcPort, int dstPort) {
        long found = probe(proto, src, dst, srcPort, dstPort);
        return found < 0 ? -1 : (int) (found >>> 32);
    }

    /** The matching entry's value as read (0 if none): safe without the lock. */
    private int findEntry(int proto, int src, int dst, int srcPort, int dstPort) {
        long found = probe(proto, src, dst, srcPort, dstPort);
        return found < 0 ? 0 : (int) found;
    }

    /**
     * Linear probing for the tuple: {@code position << 32 | entry} with the entry as it was
     * read at that position, or -1. Bounded even while writers shift entries concurrently.
     */
    private long probe(int proto, int src, int dst, int srcPort, int dstPort) {
        int position = indexSlot(proto, src, dst, srcPort, dstPort);
        for (int probes = 0; probes < index.length; probes++) {
            int entry = index[position];
            if (entry == 0) {
                return -1;
            }
            if (matches(entry - 1, proto, src, dst, srcPort, dstPort)) {
                return (long) position << 32 | entry;
            }
            position = (position + 1) & indexMask;
        }
        return -1;
    }

    private boolean matches(int entry, int proto, int src, int dst, int srcPort, int dstPort) {
        int slot = entry >>> 1;
        if (protocol[slot] != (byte) proto) {
            return false;
        }
        long p = ports[slot];
        if ((entry & 1) == 0) {
            return clientAddress[slot] == src && vipAddress[slot] == dst
                    && (int) (p >>> 48) == srcPort && ((int) (p >>> 32) & 0xFFFF) == dstPort;
        }
        return backendAddress[slot] == src && snatAddress[slot] == dst
                && ((int) (p >>> 16) & 0xFFFF) == srcPort && ((int) p & 0xFFFF) == dstPort;
    }

    private int indexSlot(int proto, int src, int dst, int srcPort, int dstPort) {
        long h = TupleHash.of(proto, src, dst, srcPort, dstPort);
        return (int) (h ^ h >>> 32) & indexMask;
    }

    private int homePosition(int entry) {
        int slot = entry >>> 1;
        long p = ports[slot];
        if ((entry & 1) == 0) {
            return indexSlot(protocol[slot], clientAddress[slot], vipAddress[slot], (int) (p >>> 48), (int) (p >>> 32) & 0xFFFF);
        }
        return indexSlot(protocol[slot], backendAddress[slot], snatAddress[slot], (int) (p >>> 16) & 0xFFFF, (int) p & 0xFFFF);
    }

    /**
     * Creates a flow. The caller has chosen the backend and SNAT port ({@code poolId} is the
     * port's {@link SnatPortPool}, or -1); the table releases the port when the flow ends.
     *
     * @return the new slot id, or one of the {@code INSERT_*} codes
     */
    public int insert(int proto, int client, int clientPort, int vip, int vipPort,
                      int backend, int backendPort, int snat, int snatPort, int pool,
                      FlowState state, long nowMillis, FlowLookup out) {
        int slot;
        long stamp = lock.writeLock();
        try {
            int existing = findPosition(proto, client, vip, clientPort, vipPort);
            if (existing >= 0) {
                copyInto((index[existing] - 1) >>> 1, out);
                out.direction = FlowDirection.ORIGINAL;
                return INSERT_EXISTS;
            }
            if (freeCount == 0) {
                return INSERT_TABLE_FULL;
            }
            if (findPosition(proto, backend, snat, backendPort, snatPort) >= 0) {
                return INSERT_TUPLE_IN_USE;
            }
            if (state.embryonic() && !tryAddEmbryonic()) {
                return INSERT_EMBRYONIC_LIMIT;
            }
            slot = freeSlots[--freeCount];
            protocol[slot] = (byte) proto;
            clientAddress[slot] = client;
            vipAddress[slot] = vip;
            backendAddress[slot] = backend;
            snatAddress[slot] = snat;
            ports[slot] = (long) clientPort << 48 | (long) vipPort << 32 | (long) backendPort << 16 | snatPort;
            poolId[slot] = pool;
            lastSeen[slot] = nowMillis;
            version[slot] = versions.getAsLong();
            int generation = ((stateWord[slot] >>> GENERATION_SHIFT) + 1) & 0xFFFFFF;
            STATE_WORDS.setRelease(stateWord, slot, generation << GENERATION_SHIFT | state.code());
            insertEntry(slot << 1);
            insertEntry(slot << 1 | 1);
            size = size + 1;
            copyInto(slot, out);
            out.direction = FlowDirection.ORIGINAL;
            publish(FlowEventType.CREATED, slot);
        } finally {
            lock.unlockWrite(stamp);
        }
        return slot;
    }

    private void insertEntry(int entry) {
        int position = homePosition(entry);
        while (index[position] != 0) {
            position = (position + 1) & indexMask;
        }
        index[position] = entry + 1;
    }

    /** Backward-shift deletion for linear probing (Knuth, TAOCP vol. 3, 6.4 Algorithm R). */
    private void deleteEntry(int position) {
        int hole = position;
        int next = position;
        while (true) {
            next = (next + 1) & indexMask;
            int entry = index[next];
            if (entry == 0) {
                break;
            }
            int home = homePosition(entry - 1);
            boolean staysPut = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
            if (!staysPut) {
                index[hole] = entry;
                hole = next;
            }
        }
        index[hole] = 0;
    }

    /**
     * Records a packet of a looked-up flow: its time and, from TCP flags or a UDP reply, its
     * new state. A stale lookup (slot since reused) changes nothing.
     *
     * @return the state after the packet
     */
    public FlowState observe(FlowLookup flow, int tcpFlags, long nowMillis) {
        int slot = flow.flowId;
        while (true) {
            int word = (int) STATE_WORDS.getVolatile(stateWord, slot);
            if (word >>> GENERATION_SHIFT != flow.generation) {
                return flow.state; // gone meanwhile
            }
            lastSeen[slot] = nowMillis;
            FlowState before = FlowState.ofCode(word & STATE_MASK);
            boolean finFromReply = (word & FIN_FROM_REPLY) != 0;
            FlowState after = switch (before) {
                case UDP_UNREPLIED -> flow.direction == FlowDirection.REPLY ? FlowState.UDP_ASSURED : before;
                case UDP_ASSURED, FREE -> before;
                default -> TcpStateMachine.next(before, tcpFlags, flow.direction, finFromReply);
            };
            if (after == before) {
                if ((word & REMOTE) != 0) {
                    // This box now sees the flow's packets (it took over): local timers from here on.
                    STATE_WORDS.compareAndSet(stateWord, slot, word, word & ~REMOTE);
                }
                flow.state = before;
                return before;
            }
            if (TcpStateMachine.firstFin(before, after)) {
                finFromReply = flow.direction == FlowDirection.REPLY;
            }
            int updated = (word & ~(STATE_MASK | FIN_FROM_REPLY | REMOTE)) | after.code() | (finFromReply ? FIN_FROM_REPLY : 0);
            if (!STATE_WORDS.compareAndSet(stateWord, slot, word, updated)) {
                continue; // another event loop changed it: decide again on the fresh word
            }
            if (before.embryonic() && !after.embryonic()) {
                embryonic.decrementAndGet(); // packets never lead back into a half-open state
            }
            version[slot] = versions.getAsLong();
            flow.state = after;
            flow.finFromReply = finFromReply;
            if ((int) STATE_WORDS.getVolatile(stateWord, slot) >>> GENERATION_SHIFT == flow.generation) {
                publish(FlowEventType.STATE_CHANGED, slot);
            }
            return after;
        }
    }

    /** Counts one more half-open flow unless that would pass the cap. */
    private boolean tryAddEmbryonic() {
        while (true) {
            int current = embryonic.get();
            if (current >= maxEmbryonic) {
                return false;
            }
            if (embryonic.compareAndSet(current, current + 1)) {
                return true;
            }
        }
    }

    /** Removes a flow if it is still the one looked up. */
    public boolean remove(int slot, int generation) {
        long stamp = lock.writeLock();
        try {
            int word = stateWord[slot];
            if ((word & STATE_MASK) == FlowState.FREE.code() || word >>> GENERATION_SHIFT != generation) {
                return false;
            }
            removeLocked(slot, FlowEventType.REMOVED);
            return true;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private void removeLocked(int slot, FlowEventType why) {
        version[slot] = versions.getAsLong(); // the removal is a change too: its event carries a new version
        publish(why, slot);
        long p = ports[slot];
        deleteEntry(findPosition(protocol[slot], clientAddress[slot], vipAddress[slot], (int) (p >>> 48), (int) (p >>> 32) & 0xFFFF));
        deleteEntry(findPosition(protocol[slot], backendAddress[slot], snatAddress[slot], (int) (p >>> 16) & 0xFFFF, (int) p & 0xFFFF));
        int old = (int) STATE_WORDS.getAndSet(stateWord, slot, stateWord[slot] & ~(STATE_MASK | FIN_FROM_REPLY | REMOTE | RESET));
        if (FlowState.ofCode(old & STATE_MASK).embryonic()) {
            embryonic.decrementAndGet();
        }
        if (poolId[slot] != NO_POOL) {
            pools.byId(poolId[slot]).release((int) p & 0xFFFF);
        }
        freeSlots[freeCount++] = slot;
        size = size - 1;
    }

    /**
     * Examines up to {@code budget} slots from where the last call stopped and removes the
     * flows idle beyond their state's timeout. Called from a timer, never per packet: with a
     * budget of capacity / 100 every 100 ms, each flow is examined every 10 s.
     *
     * @return flows expired
     */
    public int expire(long nowMillis, int budget) {
        int candidates = 0;
        int limit = Math.min(budget, capacity);
        int hand = expiryHand;
        for (int i = 0; i < limit && candidates < expiryCandidates.length; i++) {
            int word = stateWord[hand];
            int state = word & STATE_MASK;
            if (state != FlowState.FREE.code() && nowMillis - lastSeen[hand] > idleLimit(word)) {
                expiryCandidates[candidates++] = hand;
            }
            hand = hand + 1 == capacity ? 0 : hand + 1;
        }
        expiryHand = hand;
        if (candidates == 0) {
            return 0;
        }
        int expired = 0;
        long stamp = lock.writeLock();
        try {
            for (int i = 0; i < candidates; i++) {
                int slot = expiryCandidates[i];
                int word = stateWord[slot];
                int state = word & STATE_MASK;
                // Re-checked under the lock: a packet may have refreshed it meanwhile.
                if (state != FlowState.FREE.code() && nowMillis - lastSeen[slot] > idleLimit(word)) {
                    removeLocked(slot, FlowEventType.EXPIRED);
                    expired++;
                }
            }
        } finally {
            lock.unlockWrite(stamp);
        }
        return expired;
    }

    /**
     * How long a flow may stay idle: its state's timeout; for a flow installed from the peer and
     * never seen here, that plus the remote hold. This box sees none of its packets: the peer's
     * refreshes keep it alive, the peer's removal ends it, and it must not end here before it
     * could have ended there — an idle connection (or one in TIME_WAIT) the active still holds
     * must survive a failover. (Found by the soak: with the hold alone, idle flows left the
     * standby early, the digests differed, and range resyncs never stopped.)
     */
    private long idleLimit(int word) {
        long timeout = timeouts.millisByCode(word & STATE_MASK);
        return (word & REMOTE) != 0 ? timeout + remoteHoldMillis : timeout;
    }

    /**
     * A change of role for every flow held: on the replica each is the active's to end (remote:
     * its timeout plus the hold), on the active its own timers decide. So the active always
     * lets a flow go first and tells the replica, whichever box created it. (Found by the soak:
     * after a failover, flows the new standby had created itself timed out there before the new
     * active, which held them as remote copies, let them go — a divergence, a range resync, every
     * few seconds.) A scan of the table: at a role change only.
     */
    public void setAllRemote(boolean remote) {
        for (int slot = 0; slot < capacity; slot++) {
            while (true) {
                int word = (int) STATE_WORDS.getVolatile(stateWord, slot);
                int next = remote ? word | REMOTE : word & ~REMOTE;
                if ((word & STATE_MASK) == FlowState.FREE.code() || next == word
                        || STATE_WORDS.compareAndSet(stateWord, slot, word, next)) {
                    break;
                }
            }
        }
    }

    /** How much longer than their state's timeout flows installed from the peer wait for its word. */
    public void setRemoteHold(long millis) {
        this.remoteHoldMillis = millis;
    }

    private void publish(FlowEventType type, int slot) {
        FlowEventListener current = listener;
        if (current == FlowEventListener.NONE) {
            return;
        }
        FlowSnapshot snapshot = eventSnapshot.get();
        fill(slot, snapshot);
        current.onFlowEvent(type, snapshot);
    }

    private void fill(int slot, FlowSnapshot s) {
        int word = stateWord[slot];
        long p = ports[slot];
        s.flowId = slot;
        s.generation = word >>> GENERATION_SHIFT;
        s.state = FlowState.ofCode(word & STATE_MASK);
        s.finFromReply = (word & FIN_FROM_REPLY) != 0;
        s.protocol = protocol[slot];
        s.clientAddress = clientAddress[slot];
        s.vipAddress = vipAddress[slot];
        s.backendAddress = backendAddress[slot];
        s.snatAddress = snatAddress[slot];
        s.clientPort = (int) (p >>> 48);
        s.vipPort = (int) (p >>> 32) & 0xFFFF;
        s.backendPort = (int) (p >>> 16) & 0xFFFF;
        s.snatPort = (int) p & 0xFFFF;
        s.lastSeenMillis = lastSeen[slot];
        s.version = version[slot];
        s.remote = (word & REMOTE) != 0;
    }

    /**
     * Visits every live flow, 4096 slots at a time under the read lock, so inserts wait at
     * most one chunk: each flow is seen as it was at some moment of the walk. For state
     * transfer and listings, not for the data plane.
     */
    public void forEach(Consumer<FlowSnapshot> visitor) {
        forEachFrom(0, flow -> {
            visitor.accept(flow);
            return true;
        });
    }

    /**
     * As {@link #forEach}, from slot {@code from} on, until the visitor returns false: then
     * returns the slot to resume from (a listing's next page), or -1 when the walk is done.
     */
    public int forEachFrom(int from, java.util.function.Predicate<FlowSnapshot> visitor) {
        FlowSnapshot snapshot = new FlowSnapshot();
        int chunkSize = 4096;
        int[] slots = new int[chunkSize];
        FlowSnapshot[] chunk = new FlowSnapshot[chunkSize];
        for (int start = Math.max(0, from); start < capacity; start += chunkSize) {
            int found = 0;
            long stamp = lock.readLock();
            try {
                for (int slot = start; slot < Math.min(capacity, start + chunkSize); slot++) {
                    if ((stateWord[slot] & STATE_MASK) != FlowState.FREE.code()) {
                        fill(slot, snapshot);
                        slots[found] = slot;
                        chunk[found++] = snapshot.copy();
                    }
                }
            } finally {
                lock.unlockRead(stamp);
            }
            for (int i = 0; i < found; i++) {
                if (!visitor.test(chunk[i])) {
                    return slots[i] + 1;
                }
            }
        }
        return -1;
    }

    /**
     * Marks every TCP flow of {@code vip:vipPort} to {@code backend:backendPort} for reset (its
     * backend failed): off the packet path, one pass over the table, each mark a CAS on the
     * flow's state word, so packets in flight see either the old or the marked word.
     *
     * @return how many flows were marked
     */
    public int markForReset(int vip, int vipPort, int backend, int backendPort) {
        int marked = 0;
        for (int slot = 0; slot < capacity; slot++) {
            int word = (int) STATE_WORDS.getVolatile(stateWord, slot);
            if ((word & STATE_MASK) == FlowState.FREE.code() || (word & RESET) != 0 || protocol[slot] != io.tandem.packet.Ipv4.PROTO_TCP
                    || vipAddress[slot] != vip || backendAddress[slot] != backend) {
                continue;
            }
            long p = ports[slot];
            if (((int) (p >>> 32) & 0xFFFF) == vipPort && ((int) (p >>> 16) & 0xFFFF) == backendPort
                    && STATE_WORDS.compareAndSet(stateWord, slot, word, word | RESET)) {
                marked++;
            }
        }
        return marked;
    }

    /** What {@link #install} did with a record from the peer. */
    public enum InstallResult {
        INSTALLED, UPDATED, REMOVED, STALE, TABLE_FULL, TUPLE_IN_USE
    }

    /**
     * Applies a flow record from the peer (state sync): inserts it with the peer's NAT mapping
     * and SNAT port, or updates the flow held if the record is newer, or removes it. A flow
     * installed this way is marked remote: it lives on the peer's refreshes (see
     * {@link #setRemoteHold}), and becomes an ordinary flow with the first packet seen here.
     * The listener hears of it like any other change.
     */
    public InstallResult install(FlowSnapshot r, boolean removed, long nowMillis) {
        long stamp = lock.writeLock();
        try {
            int position = findPosition(r.protocol, r.clientAddress, r.vipAddress, r.clientPort, r.vipPort);
            if (position >= 0) {
                int slot = (index[position] - 1) >>> 1;
                if (r.version < version[slot]) {
                    return InstallResult.STALE;
                }
                if (r.version == version[slot]) {
                    if (!removed) {
                        lastSeen[slot] = Math.max(lastSeen[slot], nowMillis); // a refresh: the flow is alive on the peer
                    }
                    return InstallResult.UPDATED;
                }
                if (removed) {
                    removeLocked(slot, FlowEventType.REMOVED);
                    return InstallResult.REMOVED;
                }
                if (sameMapping(slot, r)) {
                    updateFromPeer(slot, r, nowMillis);
                    return InstallResult.UPDATED;
                }
                removeLocked(slot, FlowEventType.REMOVED); // the peer's newer mapping wins
            } else if (removed) {
                return InstallResult.STALE;
            }
            if (freeCount == 0) {
                return InstallResult.TABLE_FULL;
            }
            if (findPosition(r.protocol, r.backendAddress, r.snatAddress, r.backendPort, r.snatPort) >= 0) {
                return InstallResult.TUPLE_IN_USE;
            }
            SnatPortPool pool = pools.poolFor(r.snatAddress, r.backendAddress, r.backendPort, r.protocol);
            boolean reserved = pool.reserve(r.snatPort); // false: outside this box's range; the flow still works
            int slot = freeSlots[--freeCount];
            protocol[slot] = (byte) r.protocol;
            clientAddress[slot] = r.clientAddress;
            vipAddress[slot] = r.vipAddress;
            backendAddress[slot] = r.backendAddress;
            snatAddress[slot] = r.snatAddress;
            ports[slot] = (long) r.clientPort << 48 | (long) r.vipPort << 32 | (long) r.backendPort << 16 | r.snatPort;
            poolId[slot] = reserved ? pool.id() : NO_POOL;
            lastSeen[slot] = nowMillis;
            version[slot] = r.version;
            int generation = ((stateWord[slot] >>> GENERATION_SHIFT) + 1) & 0xFFFFFF;
            STATE_WORDS.setRelease(stateWord, slot, generation << GENERATION_SHIFT | r.state.code()
                    | (r.finFromReply ? FIN_FROM_REPLY : 0) | REMOTE);
            insertEntry(slot << 1);
            insertEntry(slot << 1 | 1);
            if (r.state.embryonic()) {
                embryonic.incrementAndGet(); // the peer admitted it: held even above the local cap
            }
            size = size + 1;
            publish(FlowEventType.CREATED, slot);
            return InstallResult.INSTALLED;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private boolean sameMapping(int slot, FlowSnapshot r) {
        long p = ports[slot];
        return backendAddress[slot] == r.backendAddress && snatAddress[slot] == r.snatAddress
                && ((int) (p >>> 16) & 0xFFFF) == r.backendPort && ((int) p & 0xFFFF) == r.snatPort;
    }

    private void updateFromPeer(int slot, FlowSnapshot r, long nowMillis) {
        int word = stateWord[slot];
        FlowState before = FlowState.ofCode(word & STATE_MASK);
        int updated = (word & ~(STATE_MASK | FIN_FROM_REPLY)) | r.state.code() | (r.finFromReply ? FIN_FROM_REPLY : 0);
        STATE_WORDS.setVolatile(stateWord, slot, updated);
        if (before.embryonic() != r.state.embryonic()) {
            if (r.state.embryonic()) {
                embryonic.incrementAndGet();
            } else {
                embryonic.decrementAndGet();
            }
        }
        lastSeen[slot] = Math.max(lastSeen[slot], nowMillis);
        version[slot] = r.version;
    }

    /** Removes the flow with this original tuple, if any (a range resync found the peer lacks it). */
    public boolean removeByKey(int proto, int client, int clientPort, int vip, int vipPort) {
        long stamp = lock.writeLock();
        try {
            int position = findPosition(proto, client, vip, clientPort, vipPort);
            if (position < 0) {
                return false;
            }
            removeLocked((index[position] - 1) >>> 1, FlowEventType.REMOVED);
            return true;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    public int size() {
        return size;
    }

    public int embryonic() {
        return embryonic.get();
    }

    public int capacity() {
        return capacity;
    }

    /** Bytes held by the table's arrays: fixed at construction, whatever the flow count. */
    public long memoryFootprintBytes() {
        long perSlot = 4L * 4 + 8 + 1 + 4 + 8 + 8 + 4 + 4; // addresses, ports, protocol, state, lastSeen, version, pool, free list
        return perSlot * capacity + 4L * index.length;
    }
}
