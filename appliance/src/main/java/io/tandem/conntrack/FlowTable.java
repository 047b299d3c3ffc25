package io.tandem.conntrack;

import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.PacketHeaders;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The connection-tracking table: a fixed number of flow slots ({@link FlowSlots}, parallel
 * primitive arrays, no object per flow) and one open-addressed {@link TupleIndex} holding two
 * entries per flow, for its original tuple (client to VIP) and its reply tuple (backend to SNAT
 * address). This class holds the rules: admission (capacity, half-open cap), the state
 * machine, expiry, the peer's records, and the events the sync bridge hears.
 *
 * <p>Concurrency: lookups, the per-packet path, take no lock; they read under a
 * {@link StampedLock} optimistic stamp and retry if a writer intervened. Inserts and removals
 * (new flows, expiry) take the write lock. State changes are a CAS on the slot's state word,
 * which also carries a generation so that a stale lookup never changes a reused slot.
 *
 * <p>Both families: an IPv6 flow's protocol carries {@link FlowProtocol#IPV6} and its four
 * addresses are ids in {@link Ipv6Addresses} (each flow holds a reference on each), so a slot
 * is the same size for either.
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
    /** The client already holds its service's {@code client_limits.max_flows}. */
    public static final int INSERT_CLIENT_FLOW_LIMIT = -5;
    /** The most IPv6 addresses a config may pin in the arena beside the flows' ones. */
    public static final int CONFIG_ADDRESSES = 65_536;

    private static final int FREE = FlowState.FREE.code();
    /** Slots are below 1 << 29 (the capacity's bound): 29 bits. */
    private static final int SLOT_BITS = 29;

    private final int capacity;
    private final int maxEmbryonic;
    private final FlowTimeouts timeouts;
    private final SnatPortPools pools;
    private final Ipv6Addresses addresses6;
    private volatile FlowEventListener listener = FlowEventListener.NONE;

    private final FlowSlots slots;
    private final TupleIndex index;
    private final ClientFlowCounts clientFlows = new ClientFlowCounts();
    private final FlowSnapshot hookScratch = new FlowSnapshot();
    private volatile FastPathHook fastPath;

    private final StampedLock lock = new StampedLock();
    private volatile int size;
    /** Written under the write lock; see {@link #unknownBackendFlows}. */
    private volatile int unknownBackend;
    private volatile String lastUnknownBackend;
    private final AtomicInteger embryonic = new AtomicInteger();
    private final LagHistogram replicationLag = new LagHistogram();
    /** Wall-clock milliseconds, for the replication lag (the versions' clock). */
    private final LongSupplier clock = System::currentTimeMillis;
    private int expiryHand;
    private final int[] expiryCandidates = new int[1024];
    private final ThreadLocal<FlowSnapshot> eventSnapshot = ThreadLocal.withInitial(FlowSnapshot::new);
    private final LongSupplier versions;
    private volatile long remoteHoldMillis = 600_000;
    /**
     * Half-open flows in the order they were created (the slot and the low 3 bits of its
     * generation in one int: 4 bytes an entry, so the ring costs a few bytes a flow), oldest at
     * the head: at the half-open cap the oldest that is still half-open makes room for the new
     * one (Linux conntrack's early_drop), so a SYN flood evicts its own entries, each within
     * cap / rate seconds, while a real client's handshake — done in a round trip — completes.
     * Entries of flows that left the half-open states are skipped when reached. Write lock.
     */
    private final int[] halfOpen;
    private long halfOpenHead;
    private long halfOpenTail;
    /** Written under the write lock, read by the counters without it. */
    private volatile long earlyDrops;

    public FlowTable(int capacity, int maxEmbryonic, FlowTimeouts timeouts, SnatPortPools pools) {
        this(capacity, maxEmbryonic, timeouts, pools, new AtomicLong()::incrementAndGet);
    }

    /**
     * @param versions issues the version of every change (state sync's hybrid clock; the
     *                 newest version of a flow wins on either box)
     */
    public FlowTable(int capacity, int maxEmbryonic, FlowTimeouts timeouts, SnatPortPools pools, LongSupplier versions) {
        this(capacity, maxEmbryonic, timeouts, pools, versions, new Ipv6Addresses(capacity + CONFIG_ADDRESSES));
    }

    /** @param addresses6 the IPv6 address arena this table shares with the service table */
    public FlowTable(int capacity, int maxEmbryonic, FlowTimeouts timeouts, SnatPortPools pools, LongSupplier versions,
                     Ipv6Addresses addresses6) {
        this.versions = versions;
        this.addresses6 = addresses6;
        if (capacity < 1 || capacity > (1 << 29)) {
            throw new IllegalArgumentException("flow table capacity " + capacity + " is not within 1.." + (1 << 29));
        }
        this.capacity = capacity;
        this.maxEmbryonic = Math.min(maxEmbryonic, capacity);
        this.timeouts = timeouts;
        this.pools = pools;
        halfOpen = new int[Math.max(2, this.maxEmbryonic) * 2];
        slots = new FlowSlots(capacity);
        index = new TupleIndex(capacity, slots);
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
        int entry = index.find(proto, src, dst, srcPort, dstPort);
        if (entry < 0) {
            return false;
        }
        slots.read(TupleIndex.slotOf(entry), out);
        out.direction = TupleIndex.directionOf(entry) == TupleIndex.ORIGINAL ? FlowDirection.ORIGINAL : FlowDirection.REPLY;
        return true;
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
        return insert(proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort, pool, state, nowMillis, 0, out);
    }

    /**
     * As the other {@code insert}, refusing with {@link #INSERT_CLIENT_FLOW_LIMIT} when the
     * client already holds {@code maxClientFlows} flows in this service (0: no cap).
     */
    public int insert(int proto, int client, int clientPort, int vip, int vipPort,
                      int backend, int backendPort, int snat, int snatPort, int pool,
                      FlowState state, long nowMillis, int maxClientFlows, FlowLookup out) {
        long stamp = lock.writeLock();
        try {
            int existing = index.position(proto, client, vip, clientPort, vipPort);
            if (existing >= 0) {
                slots.read(index.slotAt(existing), out);
                out.direction = FlowDirection.ORIGINAL;
                return INSERT_EXISTS;
            }
            return insertLocked(proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort, pool, state, nowMillis,
                    maxClientFlows, out);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * Takes in a flow the fast path's program created (DESIGN §3b): its backend and SNAT port
     * chosen there, both its kernel entries in place and this flow's from now on ({@link FlowSlots#FAST}).
     * A flow the table holds for the same original tuple is one the kernel no longer carried (a
     * finished connection whose port the client reuses — {@code reopened}: the program removed its
     * entries itself — or a flow the engine forwarded itself): it ends, its kernel entries left to
     * the new flow, its own reply tuple's claim released. The
     * SNAT port is marked used in its pool; a port the table holds for another flow (the claims
     * make that impossible unless the two disagree) refuses the flow ({@link #INSERT_TUPLE_IN_USE}).
     *
     * @return the new slot id, or one of the {@code INSERT_*} codes: the kernel's entries are removed then
     */
    public int insertCreated(int proto, int client, int clientPort, int vip, int vipPort, int pool, int snatPort, FlowState state,
                             boolean reopened, long nowMillis, FlowLookup out) {
        SnatPortPool p = pool >= 0 && pool < pools.count() ? pools.byId(pool) : null;
        if (p == null) {
            return INSERT_TUPLE_IN_USE;
        }
        int backend = p.backendAddress();
        int backendPort = p.backendPort();
        int snat = p.snatAddress();
        long stamp = lock.writeLock();
        try {
            int existing = index.position(proto, client, vip, clientPort, vipPort);
            if (existing >= 0) {
                int old = index.slotAt(existing);
                boolean sameReply = slots.sameMapping(old, backend, backendPort, snat, snatPort);
                FastPathHook hook = fastPath;
                if (!sameReply && !reopened && hook != null) {
                    slots.read(old, hookScratch);
                    hook.replyReleased(hookScratch);
                }
                removeLocked(old, FlowEventType.REMOVED, false);
            }
            if (!p.reserve(snatPort)) {
                discardCreated(proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort);
                return INSERT_TUPLE_IN_USE;
            }
            int slot = insertLocked(proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort, pool, state, nowMillis,
                    0, out);
            if (slot < 0) {
                p.release(snatPort);
                discardCreated(proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort);
                return slot;
            }
            slots.setStateVolatile(slot, slots.stateWord(slot) | FlowSlots.FAST);
            return slot;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** A created flow the table refused: its kernel entries go, so its next packet comes to the engine. */
    private void discardCreated(int proto, int client, int clientPort, int vip, int vipPort, int backend, int backendPort, int snat,
                                int snatPort) {
        FastPathHook hook = fastPath;
        if (hook != null) {
            hook.removed(new FlowSnapshot().setKey(proto, client, clientPort, vip, vipPort).setMapping(backend, backendPort, snat, snatPort));
        }
    }

    private int insertLocked(int proto, int client, int clientPort, int vip, int vipPort, int backend, int backendPort, int snat,
                             int snatPort, int pool, FlowState state, long nowMillis, int maxClientFlows, FlowLookup out) {
        int slot;
        {
            if (slots.freeCount() == 0) {
                return INSERT_TABLE_FULL;
            }
            if (index.position(proto, backend, snat, backendPort, snatPort) >= 0) {
                return INSERT_TUPLE_IN_USE;
            }
            if (maxClientFlows > 0 && clientFlows.get(proto, client, vip, vipPort) >= maxClientFlows) {
                return INSERT_CLIENT_FLOW_LIMIT;
            }
            if (state.embryonic() && !tryAddEmbryonic() && !(earlyDrop() && tryAddEmbryonic())) {
                return INSERT_EMBRYONIC_LIMIT;
            }
            slot = slots.takeFree();
            if (FlowProtocol.isIpv6(proto)) {
                retainAddresses(client, vip, backend, snat);
            }
            slots.write(slot, proto, client, clientPort, vip, vipPort, backend, backendPort, snat, snatPort, pool, nowMillis,
                    versions.getAsLong(), state.code());
            index.add(slot);
            clientFlows.add(proto, client, vip, vipPort, 1);
            if (state.embryonic()) {
                rememberHalfOpen(slot);
            }
            size = size + 1;
            slots.read(slot, out);
            out.direction = FlowDirection.ORIGINAL;
            publish(FlowEventType.CREATED, slot);
        }
        return slot;
    }

    private void retainAddresses(int client, int vip, int backend, int snat) {
        addresses6.retain(client);
        addresses6.retain(vip);
        addresses6.retain(backend);
        addresses6.retain(snat);
    }

    /** The IPv6 address arena whose ids this table's IPv6 flows hold. */
    public Ipv6Addresses ipv6Addresses() {
        return addresses6;
    }

    /** One of a flow's addresses as text: the dotted quad, or the IPv6 address its id stands for. */
    public String formatAddress(int proto, int address) {
        return FlowProtocol.isIpv6(proto) ? Ipv6.format(addresses6.high(address), addresses6.low(address)) : Ipv4.format(address);
    }

    /** Hands the table the fast path's hook (null: none). */
    public void setFastPathHook(FastPathHook hook) {
        this.fastPath = hook;
    }

    /**
     * Marks a looked-up flow as installed in the fast path; true if this call marked it (so the
     * caller installs it once), false if it was already or the lookup is stale.
     */
    public boolean markFast(FlowLookup flow) {
        while (true) {
            int word = slots.stateWordVolatile(flow.flowId);
            if (FlowSlots.generation(word) != flow.generation || (word & FlowSlots.FAST) != 0) {
                return false;
            }
            if (slots.casState(flow.flowId, word, word | FlowSlots.FAST)) {
                return true;
            }
        }
    }

    /** Clears the mark; true if this call cleared it (so the caller removes the entries once). */
    public boolean unmarkFast(FlowLookup flow) {
        while (true) {
            int word = slots.stateWordVolatile(flow.flowId);
            if (FlowSlots.generation(word) != flow.generation || (word & FlowSlots.FAST) == 0) {
                return false;
            }
            if (slots.casState(flow.flowId, word, word & ~FlowSlots.FAST)) {
                return true;
            }
        }
    }

    /**
     * Whether a flow the engine sees as idle is carried by the fast path and was forwarded there
     * since; if so its time is brought forward and it stays. Under the write lock.
     */
    private boolean busyInTheKernel(int slot, int word, long nowMillis) {
        FastPathHook hook = fastPath;
        if (hook == null || (word & FlowSlots.FAST) == 0) {
            return false;
        }
        slots.read(slot, hookScratch);
        if (unconfirmed(slot, word) && hook.carriedBothWays(hookScratch)) {
            slots.windows().confirm(slot); // its data went through the kernel, past the engine
        }
        FlowState state = FlowState.ofCode(FlowSlots.state(word));
        if ((state == FlowState.UDP_UNREPLIED || state == FlowState.UDP_REPLIED) && hook.carriedBothWays(hookScratch)) {
            // A UDP flow the program created: its replies went through the kernel, never the
            // engine, so the engine learns here that it is a stream (as Linux's IPS_ASSURED).
            slots.setStateVolatile(slot, (word & ~FlowSlots.STATE_MASK) | FlowState.UDP_ASSURED.code());
            embryonic.decrementAndGet();
            slots.setVersion(slot, versions.getAsLong());
            publish(FlowEventType.STATE_CHANGED, slot);
            word = slots.stateWord(slot);
        }
        long forwarded = hook.lastForwardedMillis(hookScratch);
        if (forwarded > slots.lastSeen(slot, nowMillis)) {
            slots.touch(slot, forwarded);
        }
        return slots.idleMillis(slot, nowMillis) <= idleLimit(slot, word);
    }

    /**
     * Checks a TCP segment of a looked-up flow against the flow's sequence window and records
     * it there if it counts ({@link TcpWindows}); call before {@link #observe}, and pass a RST
     * or FIN on to {@code observe} only if this says {@link SegmentCheck#IN_WINDOW}. A stale
     * lookup counts as in the window and changes nothing.
     */
    public SegmentCheck checkSegment(FlowLookup flow, PacketHeaders segment) {
        int slot = flow.flowId;
        int word = slots.stateWordVolatile(slot);
        if (FlowSlots.generation(word) != flow.generation) {
            return SegmentCheck.IN_WINDOW;
        }
        int sender = flow.direction == FlowDirection.ORIGINAL ? 0 : 1;
        FastPathHook hook = fastPath;
        FlowState state = FlowState.ofCode(FlowSlots.state(word));
        if ((word & FlowSlots.FAST) == 0 || hook == null) {
            return slots.windows().check(slot, sender, state, segment);
        }
        // The fast path forwarded segments the engine never saw: each side resumes from where the
        // kernel saw it (a side it saw nothing of is learned again from its next segment). A
        // segment the kernel passed on that counts and moves the side on (one too far ahead for
        // the kernel's own check) moves the kernel's entry on too, so the next ones go fast again.
        long clientEnd = hook.sequenceEnd(flow, true);
        long backendEnd = hook.sequenceEnd(flow, false);
        long kernelEnd = sender == 0 ? clientEnd : backendEnd;
        slots.windows().resume(slot, clientEnd, backendEnd);
        SegmentCheck result = slots.windows().check(slot, sender, state, segment);
        long end = slots.windows().knownEnd(slot, sender);
        if (result == SegmentCheck.IN_WINDOW && end >= 0 && end != kernelEnd) {
            hook.sequenceAdvanced(flow, sender == 0, end);
        }
        return result;
    }

    /**
     * A flow the fast path's program created at its SYN: the client's side of its window starts
     * from that SYN ({@code seq}, the window it offered, its window scale), as the engine's own
     * check of a SYN does. A stale lookup changes nothing.
     */
    public void synReported(FlowLookup flow, int seq, int offeredWindow, int windowScale) {
        int word = slots.stateWordVolatile(flow.flowId);
        if (FlowSlots.generation(word) == flow.generation) {
            slots.windows().synReported(flow.flowId, seq, offeredWindow, windowScale);
        }
    }

    /**
     * A looked-up flow's SYN-ACK, forwarded by the fast path and reported: the backend's side of
     * its window starts from it ({@code seq}, the window it offered, its window scale). Call
     * before {@link #observe} moves the flow to SYN_RECV. A stale lookup changes nothing.
     */
    public void synAckReported(FlowLookup flow, int seq, int offeredWindow, int windowScale) {
        int word = slots.stateWordVolatile(flow.flowId);
        if (FlowSlots.generation(word) == flow.generation && FlowState.ofCode(FlowSlots.state(word)) == FlowState.TCP_SYN_SENT) {
            slots.windows().synAckReported(flow.flowId, seq, offeredWindow, windowScale);
        }
    }

    /**
     * Where a looked-up TCP flow's side stands in its sequence space as the engine tracked it —
     * the client's ({@code client}) or the backend's — as an unsigned 32-bit value; -1 if that
     * side's start was not seen or the lookup is stale. The fast path starts from it.
     */
    public long sequenceEnd(FlowLookup flow, boolean client) {
        int word = slots.stateWordVolatile(flow.flowId);
        if (FlowSlots.generation(word) != flow.generation) {
            return -1;
        }
        return slots.windows().knownEnd(flow.flowId, client ? 0 : 1);
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
            int word = slots.stateWordVolatile(slot);
            if (FlowSlots.generation(word) != flow.generation) {
                return flow.state; // gone meanwhile
            }
            slots.touch(slot, nowMillis);
            FlowState before = FlowState.ofCode(FlowSlots.state(word));
            boolean finFromReply = (word & FlowSlots.FIN_FROM_REPLY) != 0;
            FlowState after = switch (before) {
                case UDP_UNREPLIED -> flow.direction == FlowDirection.REPLY ? FlowState.UDP_REPLIED : before;
                case UDP_REPLIED -> FlowState.UDP_ASSURED; // a packet after the reply, either way: a stream
                case UDP_ASSURED, FREE -> before;
                default -> TcpStateMachine.next(before, tcpFlags, flow.direction, finFromReply);
            };
            if (after == before) {
                if ((word & FlowSlots.REMOTE) != 0) {
                    // This box now sees the flow's packets (it took over): local timers from here on.
                    slots.casState(slot, word, word & ~FlowSlots.REMOTE);
                }
                flow.state = before;
                return before;
            }
            if (TcpStateMachine.firstFin(before, after)) {
                finFromReply = flow.direction == FlowDirection.REPLY;
            }
            int updated = (word & ~(FlowSlots.STATE_MASK | FlowSlots.FIN_FROM_REPLY | FlowSlots.REMOTE)) | after.code()
                    | (finFromReply ? FlowSlots.FIN_FROM_REPLY : 0);
            if (!slots.casState(slot, word, updated)) {
                continue; // another event loop changed it: decide again on the fresh word
            }
            if (before.embryonic() && !after.embryonic()) {
                embryonic.decrementAndGet(); // packets never lead back into a half-open state
            }
            slots.setVersion(slot, versions.getAsLong());
            flow.state = after;
            flow.finFromReply = finFromReply;
            if (FlowSlots.generation(slots.stateWordVolatile(slot)) == flow.generation) {
                publish(FlowEventType.STATE_CHANGED, slot);
            }
            return after;
        }
    }

    private void rememberHalfOpen(int slot) {
        if (halfOpenTail - halfOpenHead == halfOpen.length) {
            halfOpenHead++; // full: the oldest entry is forgotten (its flow simply times out)
        }
        halfOpen[(int) (halfOpenTail++ % halfOpen.length)] = (FlowSlots.generation(slots.stateWord(slot)) & 7) << SLOT_BITS | slot;
    }

    /**
     * Removes the oldest flow that is still half-open, looking at a bounded number of entries;
     * true if one went (counted in {@link #earlyDrops}).
     */
    private boolean earlyDrop() {
        for (int looked = 0; looked < 64 && halfOpenHead < halfOpenTail; looked++) {
            int entry = halfOpen[(int) (halfOpenHead++ % halfOpen.length)];
            int slot = entry & (1 << SLOT_BITS) - 1;
            int word = slots.stateWord(slot);
            // A slot reused since may show the same 3 generation bits (1 in 8): then a younger
            // half-open flow goes first, which costs its client a retransmitted SYN, nothing more.
            if ((FlowSlots.generation(word) & 7) == entry >>> SLOT_BITS && FlowState.ofCode(FlowSlots.state(word)).embryonic()) {
                removeLocked(slot, FlowEventType.REMOVED);
                earlyDrops = earlyDrops + 1;
                return true;
            }
        }
        return false;
    }

    /** Half-open flows removed to make room for new ones at the cap, since start. */
    public long earlyDrops() {
        return earlyDrops;
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
            int word = slots.stateWord(slot);
            if (FlowSlots.state(word) == FREE || FlowSlots.generation(word) != generation) {
                return false;
            }
            removeLocked(slot, FlowEventType.REMOVED);
            return true;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private void removeLocked(int slot, FlowEventType why) {
        removeLocked(slot, why, true);
    }

    /**
     * Removes a flow; with {@code kernelToo} its kernel entries go with it — those of a flow the
     * fast path carries, and the reply tuple's claim of one the engine forwarded itself.
     */
    private void removeLocked(int slot, FlowEventType why, boolean kernelToo) {
        slots.setVersion(slot, versions.getAsLong()); // the removal is a change too: its event carries a new version
        publish(why, slot);
        FastPathHook hook = fastPath;
        if (hook != null && kernelToo) {
            slots.read(slot, hookScratch);
            hook.removed(hookScratch);
        }
        index.remove(slot);
        clientFlows.add(slots.protocol(slot), slots.clientAddress(slot), slots.vipAddress(slot), slots.vipPort(slot), -1);
        if (FlowProtocol.isIpv6(slots.protocol(slot))) {
            addresses6.release(slots.clientAddress(slot));
            addresses6.release(slots.vipAddress(slot));
            addresses6.release(slots.backendAddress(slot));
            addresses6.release(slots.snatAddress(slot));
        }
        int old = slots.getAndSetState(slot, slots.stateWord(slot)
                & ~(FlowSlots.STATE_MASK | FlowSlots.FIN_FROM_REPLY | FlowSlots.REMOTE | FlowSlots.RESET | FlowSlots.FAST));
        if (FlowState.ofCode(FlowSlots.state(old)).embryonic()) {
            embryonic.decrementAndGet();
        }
        if (slots.poolId(slot) != FlowSlots.NO_POOL) {
            pools.byId(slots.poolId(slot)).release(slots.snatPort(slot));
        } else {
            unknownBackend--;
        }
        slots.putFree(slot);
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
        slots.observeClock(nowMillis);
        int candidates = 0;
        int limit = Math.min(budget, capacity);
        int hand = expiryHand;
        for (int i = 0; i < limit && candidates < expiryCandidates.length; i++) {
            int word = slots.stateWord(hand);
            if (FlowSlots.state(word) != FREE && slots.idleMillis(hand, nowMillis) > idleLimit(hand, word)) {
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
                int word = slots.stateWord(slot);
                // Re-checked under the lock: a packet may have refreshed it meanwhile.
                if (FlowSlots.state(word) != FREE && slots.idleMillis(slot, nowMillis) > idleLimit(slot, word) && !busyInTheKernel(slot, word, nowMillis)) {
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
    private long idleLimit(int slot, int word) {
        long timeout = unconfirmed(slot, word) ? timeouts.unconfirmedMillis() : timeouts.millisByCode(FlowSlots.state(word));
        return (word & FlowSlots.REMOTE) != 0 ? timeout + remoteHoldMillis : timeout;
    }

    /**
     * An established TCP flow of this box's that has not carried data both ways: a blind
     * spoofer's, or a client that connected and said nothing. It has the short
     * {@code tcp_unconfirmed} timeout, not the established one.
     */
    private boolean unconfirmed(int slot, int word) {
        return FlowSlots.state(word) == FlowState.TCP_ESTABLISHED.code() && (word & FlowSlots.REMOTE) == 0
                && !slots.windows().confirmed(slot);
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
                int word = slots.stateWordVolatile(slot);
                int next = remote ? word | FlowSlots.REMOTE : word & ~FlowSlots.REMOTE;
                if (FlowSlots.state(word) == FREE || next == word || slots.casState(slot, word, next)) {
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
        snapshot(slot, snapshot);
        current.onFlowEvent(type, snapshot);
    }

    /** A slot into a snapshot, an IPv6 flow's addresses looked up in the arena. */
    private void snapshot(int slot, FlowSnapshot out) {
        slots.read(slot, out);
        if (!FlowProtocol.isIpv6(out.protocol)) {
            out.addresses6 = null;
            return;
        }
        if (out.addresses6 == null) {
            out.addresses6 = new long[8];
        }
        put6(out, FlowSnapshot.CLIENT, out.clientAddress);
        put6(out, FlowSnapshot.VIP, out.vipAddress);
        put6(out, FlowSnapshot.BACKEND, out.backendAddress);
        put6(out, FlowSnapshot.SNAT, out.snatAddress);
    }

    private void put6(FlowSnapshot out, int which, int id) {
        out.addresses6[2 * which] = addresses6.high(id);
        out.addresses6[2 * which + 1] = addresses6.low(id);
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
    public int forEachFrom(int from, Predicate<FlowSnapshot> visitor) {
        int chunkSize = 4096;
        int[] chunkSlots = new int[chunkSize];
        FlowSnapshot[] chunk = new FlowSnapshot[chunkSize];
        for (int start = Math.max(0, from); start < capacity; start += chunkSize) {
            int found = 0;
            long stamp = lock.readLock();
            try {
                for (int slot = start; slot < Math.min(capacity, start + chunkSize); slot++) {
                    if (FlowSlots.state(slots.stateWord(slot)) != FREE) {
                        FlowSnapshot snapshot = new FlowSnapshot();
                        snapshot(slot, snapshot);
                        chunkSlots[found] = slot;
                        chunk[found++] = snapshot;
                    }
                }
            } finally {
                lock.unlockRead(stamp);
            }
            for (int i = 0; i < found; i++) {
                if (!visitor.test(chunk[i])) {
                    return chunkSlots[i] + 1;
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
        return markForReset(Ipv4.PROTO_TCP, vip, vipPort, backend, backendPort);
    }

    /** As above, for the TCP flows of this flow protocol (TCP over IPv4 or over IPv6). */
    public int markForReset(int proto, int vip, int vipPort, int backend, int backendPort) {
        int marked = 0;
        long stamp = lock.writeLock(); // a backend going down is rare: the scan may hold the table
        try {
            for (int slot = 0; slot < capacity; slot++) {
                int word = slots.stateWordVolatile(slot);
                if (FlowSlots.state(word) == FREE || (word & FlowSlots.RESET) != 0 || slots.protocol(slot) != proto
                        || slots.vipAddress(slot) != vip || slots.backendAddress(slot) != backend) {
                    continue;
                }
                if (slots.vipPort(slot) == vipPort && slots.backendPort(slot) == backendPort
                        && slots.casState(slot, word, word | FlowSlots.RESET)) {
                    marked++;
                    FastPathHook hook = fastPath;
                    if (hook != null && (word & FlowSlots.FAST) != 0) {
                        // Its next segment must reach the engine, which resets it: out of the kernel.
                        slots.read(slot, hookScratch);
                        hook.handedBack(hookScratch);
                        slots.setStateVolatile(slot, slots.stateWord(slot) & ~FlowSlots.FAST);
                    }
                }
            }
        } finally {
            lock.unlockWrite(stamp);
        }
        return marked;
    }

    /** What {@link #install} did with a record from the peer. */
    public enum InstallResult {
        INSTALLED, UPDATED, REMOVED, STALE,
        /** Older than the flow held, which has another NAT mapping: the two boxes disagree on the flow. */
        STALE_OTHER_MAPPING,
        TABLE_FULL, TUPLE_IN_USE
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
            int position = index.position(r.protocol, r.clientAddress, r.vipAddress, r.clientPort, r.vipPort);
            if (position >= 0) {
                int slot = index.slotAt(position);
                if (r.version < slots.version(slot)) {
                    return removed || slots.sameMapping(slot, r.backendAddress, r.backendPort, r.snatAddress, r.snatPort)
                            ? InstallResult.STALE : InstallResult.STALE_OTHER_MAPPING;
                }
                if (r.version == slots.version(slot)) {
                    if (!removed) {
                        slots.touch(slot, Math.max(slots.lastSeen(slot, nowMillis), nowMillis)); // a refresh: the flow is alive on the peer
                    }
                    return InstallResult.UPDATED;
                }
                if (removed) {
                    removeLocked(slot, FlowEventType.REMOVED);
                    return InstallResult.REMOVED;
                }
                if (slots.sameMapping(slot, r.backendAddress, r.backendPort, r.snatAddress, r.snatPort)) {
                    updateFromPeer(slot, r, nowMillis);
                    return InstallResult.UPDATED;
                }
                removeLocked(slot, FlowEventType.REMOVED); // the peer's newer mapping wins
            } else if (removed) {
                return InstallResult.STALE;
            }
            if (slots.freeCount() == 0) {
                return InstallResult.TABLE_FULL;
            }
            if (index.position(r.protocol, r.backendAddress, r.snatAddress, r.backendPort, r.snatPort) >= 0) {
                return InstallResult.TUPLE_IN_USE;
            }
            // A backend this box has never had (the peer's config differs) gets no pool here: one
            // made for it would live for good, a peer's records could make any number, and no
            // local flow can ever need it. The flow still works: it holds its reply tuple.
            SnatPortPool pool = pools.existing(r.snatAddress, r.backendAddress, r.backendPort, r.protocol);
            boolean reserved = pool != null && pool.reserve(r.snatPort); // false also outside this box's range
            if (!reserved) {
                unknownBackend++;
                lastUnknownBackend = formatAddress(r.protocol, r.backendAddress) + ":" + r.backendPort;
            }
            int slot = slots.takeFree();
            if (FlowProtocol.isIpv6(r.protocol)) {
                retainAddresses(r.clientAddress, r.vipAddress, r.backendAddress, r.snatAddress);
            }
            slots.write(slot, r.protocol, r.clientAddress, r.clientPort, r.vipAddress, r.vipPort, r.backendAddress, r.backendPort,
                    r.snatAddress, r.snatPort, reserved ? pool.id() : FlowSlots.NO_POOL, nowMillis, r.version,
                    r.state.code() | (r.finFromReply ? FlowSlots.FIN_FROM_REPLY : 0) | FlowSlots.REMOTE);
            slots.windows().confirm(slot); // its data went by the peer (or the kernel): not this engine's to judge
            index.add(slot);
            clientFlows.add(r.protocol, r.clientAddress, r.vipAddress, r.vipPort, 1);
            if (r.state.embryonic()) {
                embryonic.incrementAndGet(); // the peer admitted it: held even above the local cap
            }
            size = size + 1;
            publish(FlowEventType.CREATED, slot);
            followInTheFastPath(slot);
            return InstallResult.INSTALLED;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** What became of a flow the fast path kept forwarding, offered to the table at a start ({@link #adopt}). */
    public enum Adoption {
        /** The table took it in: this box's own flow from now on. */
        TAKEN,
        /** The table held it already (pulled from the peer before the fast path attached): its kernel entries are now that flow's. */
        ALREADY_HELD,
        /** No flow of the table owns it (a full table, another mapping for the tuple): its kernel entries must go. */
        REFUSED
    }

    /**
     * Takes in a flow the fast path kept forwarding while no tandemd ran (a restart): as
     * {@link #install}, but the flow is this box's own (its idle time counts here, not the
     * peer's refreshes) and stays in the fast path. A flow the table holds already with the same
     * mapping — the peer's copy, pulled before the fast path attached, whose version beats the
     * kernel's 0 — is the same flow: its kernel entries become that flow's ({@link FlowSlots#FAST}),
     * so its expiry asks the kernel and removes them. Without that the kernel went on forwarding
     * a flow the table let expire, and its SNAT port went to a new flow (issue 29).
     */
    public Adoption adopt(FlowSnapshot r, long nowMillis) {
        InstallResult result = install(r, false, nowMillis);
        long stamp = lock.writeLock();
        try {
            int position = index.position(r.protocol, r.clientAddress, r.vipAddress, r.clientPort, r.vipPort);
            if (position < 0) {
                return Adoption.REFUSED;
            }
            int slot = index.slotAt(position);
            if (!slots.sameMapping(slot, r.backendAddress, r.backendPort, r.snatAddress, r.snatPort)) {
                return Adoption.REFUSED; // the table's flow has another mapping: it goes into the kernel anew (installDecided)
            }
            int word = slots.stateWord(slot) & ~FlowSlots.REMOTE;
            FastPathHook hook = fastPath;
            if (FlowState.ofCode(FlowSlots.state(word)).fastPathCarries() && hook != null) {
                word |= FlowSlots.FAST; // the kernel's entries are this flow's
            } else if (hook != null) {
                // A state the fast path does not carry (a handshake the restart cut short):
                // the kernel's entries go, and the flow goes on through the engine.
                slots.read(slot, hookScratch);
                hook.removed(hookScratch);
                word &= ~FlowSlots.FAST;
            }
            slots.setStateVolatile(slot, word);
            return result == InstallResult.INSTALLED ? Adoption.TAKEN : Adoption.ALREADY_HELD;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /**
     * Puts every decided flow the table holds but the kernel does not into the fast path: those
     * the table took in before the fast path attached (a box that pulls the peer's table at
     * start), which would otherwise stay out of the kernel until they changed. Returns how many
     * went in. A scan of the table: at start only.
     */
    public int installDecided() {
        long stamp = lock.writeLock();
        try {
            int installed = 0;
            for (int slot = 0; slot < capacity; slot++) {
                int word = slots.stateWord(slot);
                if (FlowSlots.state(word) != FREE && (word & FlowSlots.FAST) == 0
                        && FlowState.ofCode(FlowSlots.state(word)).fastPathCarries()) {
                    followInTheFastPath(slot);
                    installed += (slots.stateWord(slot) & FlowSlots.FAST) != 0 ? 1 : 0;
                }
            }
            return installed;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    private void updateFromPeer(int slot, FlowSnapshot r, long nowMillis) {
        int word = slots.stateWord(slot);
        FlowState before = FlowState.ofCode(FlowSlots.state(word));
        int updated = (word & ~(FlowSlots.STATE_MASK | FlowSlots.FIN_FROM_REPLY)) | r.state.code()
                | (r.finFromReply ? FlowSlots.FIN_FROM_REPLY : 0);
        slots.setStateVolatile(slot, updated);
        if (before.embryonic() != r.state.embryonic()) {
            if (r.state.embryonic()) {
                embryonic.incrementAndGet();
            } else {
                embryonic.decrementAndGet();
            }
        }
        slots.touch(slot, Math.max(slots.lastSeen(slot, nowMillis), nowMillis));
        slots.setVersion(slot, r.version);
        followInTheFastPath(slot);
    }

    /**
     * A flow the peer decided goes into this box's fast path, and comes out when the peer says it
     * closes, so a takeover finds the kernel already forwarding every decided flow. Under the
     * write lock.
     */
    private void followInTheFastPath(int slot) {
        FastPathHook hook = fastPath;
        if (hook == null) {
            return;
        }
        int word = slots.stateWord(slot);
        FlowState state = FlowState.ofCode(FlowSlots.state(word));
        boolean decided = state.fastPathCarries();
        boolean fast = (word & FlowSlots.FAST) != 0;
        if (decided == fast) {
            return;
        }
        slots.read(slot, hookScratch);
        if (decided) {
            if (hook.install(hookScratch)) {
                slots.setStateVolatile(slot, word | FlowSlots.FAST);
                if ((word & FlowSlots.REMOTE) != 0) {
                    replicationLag.record(clock.getAsLong() - (slots.version(slot) >>> 16));
                }
            }
        } else {
            hook.removed(hookScratch);
            slots.setStateVolatile(slot, word & ~FlowSlots.FAST);
        }
    }

    /** Removes the flow with this original tuple, if any (a range resync found the peer lacks it). */
    public boolean removeByKey(int proto, int client, int clientPort, int vip, int vipPort) {
        long stamp = lock.writeLock();
        try {
            int position = index.position(proto, client, vip, clientPort, vipPort);
            if (position < 0) {
                return false;
            }
            removeLocked(index.slotAt(position), FlowEventType.REMOVED);
            return true;
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** The flows this client holds in this service as {@code client_limits.max_flows} counts them (for tests and diagnosis). */
    public int clientFlowCount(int proto, int client, int vip, int vipPort) {
        long stamp = lock.readLock();
        try {
            return clientFlows.get(proto, client, vip, vipPort);
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /**
     * Flows from the peer whose SNAT port no pool of this box holds: their backend is not in
     * this box's config (or the port lies outside its range) — the two boxes' configs differ.
     */
    public int unknownBackendFlows() {
        return unknownBackend;
    }

    /** The backend ("address:port") of the last flow counted by {@link #unknownBackendFlows}, or null. */
    public String lastUnknownBackend() {
        return lastUnknownBackend;
    }

    public int size() {
        return size;
    }

    /**
     * How long the peer's changes took to be in this box's kernel map ({@link LagHistogram}): a
     * UDP flow from its creation on the active, a TCP flow from its establishment there.
     */
    public LagHistogram replicationLag() {
        return replicationLag;
    }

    /**
     * Whether half-open flows press on their cap (half of it in use): a flood, most likely. The
     * engine then keeps half-open flows out of the fast path (installing each would cost two map
     * updates, and two removals when it times out), and installs a flow once it is established.
     */
    public boolean halfOpenUnderPressure() {
        return embryonic.get() >= maxEmbryonic / 2;
    }

    public int embryonic() {
        return embryonic.get();
    }

    public int capacity() {
        return capacity;
    }

    /** Bytes held by the table's arrays: fixed at construction, whatever the flow count. */
    public long memoryFootprintBytes() {
        long perSlot = FlowSlots.BYTES_PER_SLOT;
        return perSlot * capacity + 4L * index.length() + 4L * halfOpen.length + 4L * ClientFlowCounts.COUNTERS
                + addresses6.bytes();
    }
}
