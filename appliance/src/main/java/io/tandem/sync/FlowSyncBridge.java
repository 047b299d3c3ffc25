package io.tandem.sync;

import io.tandem.conntrack.FlowEventListener;
import io.tandem.conntrack.FlowEventType;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.role.RoleListener;
import io.tandem.statesync.FlowDigest;
import io.tandem.statesync.FlowRecord;
import io.tandem.statesync.FlowReplicator;
import io.tandem.statesync.FlowStore;
import io.tandem.statesync.VersionClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Connects a {@link FlowTable} to a {@link FlowReplicator}:
 * <ul>
 *   <li>as the table's {@link FlowEventListener} it keeps the digest of the table and, while
 *       this box is the source (active), publishes each local change to the peer;</li>
 *   <li>as the replicator's {@link FlowStore} it installs the peer's records in the table —
 *       changes it makes itself are never echoed back;</li>
 *   <li>{@link #refresh} republishes flows active since the last refresh, so the standby
 *       keeps long-lived flows that its own idle timers would never see traffic for, and one
 *       {@link #SWEEP_ROUNDS}th of the idle ones in turn, so a state change whose record was
 *       lost (the digest compares mappings, not states) reaches the standby within
 *       {@link #SWEEP_ROUNDS} refreshes.</li>
 * </ul>
 * A removal — the peer's, or the active's own — leaves a tombstone (the key and the removal's
 * version, for {@link #TOMBSTONE_MILLIS}): a copy of the flow older than its removal — from a
 * range walk, a state transfer, a refresh that the removal overtook, or the standby's table in
 * a merge — is refused instead of bringing the flow back, where it would hold a SNAT port for its timeout and the remote hold (issue 20). A
 * record whose state is not one of its protocol's is refused too (it used to become
 * ESTABLISHED), and one whose version lies more than {@link #MAX_VERSION_AHEAD_MILLIS} ahead of
 * this box's clock. All are counted ({@link #recordsRefused}).
 */
public final class FlowSyncBridge implements FlowEventListener, FlowStore, RoleListener {
    private static final Logger LOG = LoggerFactory.getLogger(FlowSyncBridge.class);
    private static final FlowState[] STATES = FlowState.values();
    /** How long a removal's tombstone lasts: longer than a range walk or a refresh takes to arrive. */
    static final long TOMBSTONE_MILLIS = 120_000;
    /**
     * How far ahead of this box's clock a peer's version may be: versions are milliseconds
     * (shifted by 16), so a version beyond it is a clock gone wrong or a forged record — taken,
     * it would make the flow's every later update stale and drag this box's clock along.
     */
    static final long MAX_VERSION_AHEAD_MILLIS = 3_600_000;
    /** Flag bit 0 of a record: the first FIN came from the backend's side. */
    static final int FIN_FROM_REPLY = 1;
    /**
     * Flag bit 1: a refresh — the source's current view of the flow, read from its table and
     * sent through the same queue as its changes. It replaces whatever the standby holds, even
     * a newer version: a change the standby made itself (a stray packet) or one of the old
     * source whose record was lost before a failover. Kept, either would differ from the
     * source's flow for as long as the flow lives.
     */
    static final int REFRESH = 2;
    /** Added to the peer's clock when this box becomes the source: more than a message's delay on the sync link. */
    static final long VERSION_MARGIN_MILLIS = 1_000;
    /** Every idle flow is republished once in this many refreshes (at the default refresh_interval, 30 s: once in six minutes). */
    static final int SWEEP_ROUNDS = 12;
    /** The most tombstones held (about 6 MB at most); the oldest go first. */
    static final int MAX_TOMBSTONES = 65_536;

    private final FlowTable table;
    private final VersionClock clock;
    private final LongSupplier now;
    private final FlowDigest digest = new FlowDigest();
    private final ThreadLocal<Boolean> applyingPeerRecord = ThreadLocal.withInitial(() -> false);
    private final ThreadLocal<FlowSnapshot> incoming = ThreadLocal.withInitial(FlowSnapshot::new);
    private volatile FlowReplicator replicator;
    private volatile boolean source;
    private long lastRefreshMillis;
    private int sweepRound;
    /** Key of a removed flow → {removal's version, when it was removed, 1 if this box removed it as the active}; in removal order. */
    private final LinkedHashMap<FlowRecord.Key, long[]> tombstones = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<FlowRecord.Key, long[]> eldest) {
            return size() > MAX_TOMBSTONES;
        }
    };
    private final AtomicLong recordsRefused = new AtomicLong();

    private final AtomicLong conflicts = new AtomicLong();
    private long lastFutureWarningMillis = Long.MIN_VALUE / 2;

    public FlowSyncBridge(FlowTable table, VersionClock clock, LongSupplier now) {
        this.table = table;
        this.clock = clock;
        this.now = now;
    }

    public void attach(FlowReplicator replicator) {
        this.replicator = replicator;
    }

    /** The active publishes its flow changes to the peer, and its own timers end every flow it holds. */
    @Override
    public void becameActive() {
        setSource(true);
    }

    /** The standby applies the peer's changes; every flow it holds is the active's to end. */
    @Override
    public void becameStandby() {
        setSource(false);
    }

    private void setSource(boolean source) {
        FlowReplicator r = replicator;
        if (source && !this.source && r != null) {
            // From here on this box's versions must outrank any the old source issued, even one
            // whose record was lost and even if its clock is ahead of ours (issue 20: clock skew).
            clock.observe((now.getAsLong() + r.peerClockAheadMillis() + VERSION_MARGIN_MILLIS) << 16);
        }
        if (source != this.source) {
            table.setAllRemote(!source);
        }
        if (!source && this.source) {
            // A standby follows the new active's view: its own removals from its time as the
            // active no longer outrank what the new active holds (a removal whose record was
            // lost is the new active's to find out).
            synchronized (tombstones) {
                tombstones.values().removeIf(tomb -> tomb[2] == 1);
            }
        }
        this.source = source;
        if (r != null) {
            r.setSource(source);
        }
    }

    @Override
    public void onFlowEvent(FlowEventType type, FlowSnapshot flow) {
        boolean ends = type == FlowEventType.EXPIRED || type == FlowEventType.REMOVED;
        FlowRecord record = toRecord(flow, ends);
        if (type == FlowEventType.CREATED || ends) {
            digest.toggle(record); // the digest hashes key and mapping only, not the removed flag
        }
        FlowReplicator r = replicator;
        if (ends && source && !applyingPeerRecord.get()) {
            // The active's own removals leave tombstones too: after a partition the standby's
            // table comes back in the merge, and its copy of a flow the active ended while the
            // link was down (its removal never sent) must not come back to life here.
            synchronized (tombstones) {
                bury(record.key(), record.version(), now.getAsLong(), true);
            }
        }
        if (r != null && source && !applyingPeerRecord.get()) {
            if (type == FlowEventType.CREATED) {
                r.publishCreated(record);
            } else {
                r.publish(record);
            }
        }
    }

    /**
     * Publishes every flow seen since the last refresh, and this round's share of the idle ones
     * (call every refresh interval, on the active). The records go through the same queue as
     * the flows' changes, so a change made after the table was read follows its refresh.
     */
    public int refresh() {
        FlowReplicator r = replicator;
        if (r == null || !source) {
            return 0;
        }
        long since = lastRefreshMillis;
        lastRefreshMillis = now.getAsLong();
        int round = sweepRound;
        sweepRound = (round + 1) % SWEEP_ROUNDS;
        int[] count = {0};
        table.forEach(flow -> {
            boolean swept = Math.floorMod(flow.clientAddress() * 31 + flow.clientPort(), SWEEP_ROUNDS) == round;
            if ((flow.lastSeenMillis() >= since || swept) && !flow.remote()) {
                r.publish(toRecord(flow, false, REFRESH));
                count[0]++;
            }
        });
        return count[0];
    }

    /** Peer records refused: a copy older than the flow's removal, a state not of its protocol, a version from the far future. */
    public long recordsRefused() {
        return recordsRefused.get();
    }

    /**
     * Peer records that conflict with a flow this box holds: the same reply tuple (SNAT address
     * and port towards the same backend) for another client. The flow held wins, the peer's is
     * refused — two flows cannot share a reply tuple, and the one held is the one this box's
     * packets follow. (Only two boxes that were both active, a split brain, or a forged record
     * can make one; a conflict on the same client tuple goes to the newer version.)
     */
    public long conflicts() {
        return conflicts.get();
    }

    @Override
    public Applied apply(FlowRecord record) {
        FlowState state = stateOf(record);
        long nowMillis = now.getAsLong();
        if (state == null || record.version() < 0 || record.version() >>> 16 > nowMillis + MAX_VERSION_AHEAD_MILLIS) {
            recordsRefused.incrementAndGet();
            if (state != null && nowMillis - lastFutureWarningMillis >= 60_000) {
                lastFutureWarningMillis = nowMillis;
                LOG.warn("sync: refused a peer record whose version is {} s ahead of this box's clock (at most {} s): check the"
                        + " time (NTP) on both boxes", ((record.version() >>> 16) - nowMillis) / 1000, MAX_VERSION_AHEAD_MILLIS / 1000);
            }
            return Applied.REFUSED;
        }
        synchronized (tombstones) {
            FlowRecord.Key key = record.key();
            if (record.removed()) {
                bury(key, record.version(), nowMillis, false);
            } else {
                long[] tomb = tombstones.get(key);
                if (tomb != null && nowMillis - tomb[1] > TOMBSTONE_MILLIS) {
                    tombstones.remove(key);
                    tomb = null;
                }
                if (tomb != null && record.version() <= tomb[0]) {
                    recordsRefused.incrementAndGet(); // a copy the removal overtook: the flow stays gone
                    return Applied.REFUSED;
                }
            }
        }
        clock.observe(record.version());
        FlowSnapshot s = incoming.get()
                .setKey(record.protocol(), record.clientAddress(), record.clientPort(), record.vipAddress(), record.vipPort())
                .setMapping(record.backendAddress(), record.backendPort(), record.snatAddress(), record.snatPort())
                .setState(state, (record.flags() & FIN_FROM_REPLY) != 0, record.lastSeenMillis(), record.version());
        FlowRecord.Ipv6Addresses a = record.ipv6();
        if (record.isIpv6() && !table.ipv6Addresses().acquireFlow(s, a.clientHigh(), a.clientLow(), a.vipHigh(), a.vipLow(),
                a.backendHigh(), a.backendLow(), a.snatHigh(), a.snatLow())) {
            return Applied.REFUSED; // the address arena is full: as a full table
        }
        applyingPeerRecord.set(true);
        try {
            FlowTable.InstallResult result = table.install(s, record.removed(), nowMillis);
            if ((record.flags() & REFRESH) != 0 && !source
                    && (result == FlowTable.InstallResult.STALE || result == FlowTable.InstallResult.STALE_OTHER_MAPPING)) {
                table.removeByKey(s.protocol(), s.clientAddress(), s.clientPort(), s.vipAddress(), s.vipPort());
                result = table.install(s, false, nowMillis);
            }
            return switch (result) {
                case INSTALLED -> Applied.INSERTED;
                case UPDATED, REMOVED, STALE -> Applied.TAKEN;
                case STALE_OTHER_MAPPING -> Applied.OLDER_THAN_OTHER_MAPPING;
                case TUPLE_IN_USE -> {
                    conflicts.incrementAndGet();
                    yield Applied.REFUSED;
                }
                case TABLE_FULL -> Applied.REFUSED;
            };
        } finally {
            applyingPeerRecord.set(false);
            if (record.isIpv6()) {
                table.ipv6Addresses().releaseFlow(s); // a flow installed holds references of its own
            }
        }
    }

    @Override
    public void replace(FlowRecord record) {
        removeLocal(record);
        synchronized (tombstones) {
            tombstones.remove(record.key());
        }
        apply(record);
    }

    /** Under the tombstones' lock; {@code own}: this box removed the flow while it was the active. */
    private void bury(FlowRecord.Key key, long version, long nowMillis, boolean own) {
        tombstones.remove(key); // re-inserted last: the map stays in removal order
        tombstones.put(key, new long[] {version, nowMillis, own ? 1 : 0});
    }

    @Override
    public void forEach(Consumer<FlowRecord> visitor) {
        table.forEach(flow -> visitor.accept(toRecord(flow, false)));
    }

    @Override
    public void removeLocal(FlowRecord record) {
        applyingPeerRecord.set(true);
        try {
            if (!record.isIpv6()) {
                table.removeByKey(record.protocol(), record.clientAddress(), record.clientPort(), record.vipAddress(), record.vipPort());
            } else {
                Ipv6Addresses arena = table.ipv6Addresses();
                FlowRecord.Ipv6Addresses a = record.ipv6();
                int client = arena.find(a.clientHigh(), a.clientLow());
                int vip = arena.find(a.vipHigh(), a.vipLow());
                if (client >= 0 && vip >= 0) { // else no flow holds them: none to remove
                    table.removeByKey(record.protocol(), client, record.clientPort(), vip, record.vipPort());
                }
            }
        } finally {
            applyingPeerRecord.set(false);
        }
    }

    @Override
    public FlowDigest digest() {
        return digest;
    }

    /** The record's state if it is one of its protocol's (TCP's for 6, UDP's for 17), else null. */
    private static FlowState stateOf(FlowRecord record) {
        if (record.state() <= 0 || record.state() >= STATES.length) {
            return null;
        }
        FlowState state = STATES[record.state()];
        boolean udp = state == FlowState.UDP_UNREPLIED || state == FlowState.UDP_REPLIED || state == FlowState.UDP_ASSURED;
        return udp == ((record.protocol() & ~FlowRecord.IPV6) == 17) ? state : null;
    }

    static FlowRecord toRecord(FlowSnapshot f, boolean removed) {
        return toRecord(f, removed, 0);
    }

    /** A flow's record; an IPv6 flow's addresses go as themselves (their ids here mean nothing to the peer). */
    private static FlowRecord toRecord(FlowSnapshot f, boolean removed, int flags) {
        int stateFlags = (f.finFromReply() ? FIN_FROM_REPLY : 0) | flags;
        if (f.ipv6()) {
            return new FlowRecord(f.protocol(), 0, f.clientPort(), 0, f.vipPort(), 0, f.backendPort(), 0, f.snatPort(),
                    f.state().code(), stateFlags, f.lastSeenMillis(), f.version(), removed, new FlowRecord.Ipv6Addresses(
                    f.address6High(FlowSnapshot.CLIENT), f.address6Low(FlowSnapshot.CLIENT), f.address6High(FlowSnapshot.VIP),
                    f.address6Low(FlowSnapshot.VIP), f.address6High(FlowSnapshot.BACKEND), f.address6Low(FlowSnapshot.BACKEND),
                    f.address6High(FlowSnapshot.SNAT), f.address6Low(FlowSnapshot.SNAT)));
        }
        return new FlowRecord(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(),
                f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort(),
                f.state().code(), stateFlags, f.lastSeenMillis(), f.version(), removed);
    }
}
