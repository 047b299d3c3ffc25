package io.tandem.ha;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.config.HaConfig;
import io.tandem.events.EventLog;
import io.tandem.statesync.FlowReplicator;
import io.tandem.statesync.PeerAnnouncement;
import io.tandem.statesync.SyncStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * This box's part in the VRRP pair. Every {@link #TICK_MILLIS} it feeds the sync state into
 * the {@link RoleController} (keepalived's notify FIFO feeds the VRRP state), announces this
 * box's {@link NodeStatus} to the peer and adopts the peer's newer {@link PairPreference}.
 * It answers the operators' failover and takeover with the {@link HandOverCheck}.
 *
 * <p>In sync means: the peer is connected and our digests are equal (or this box has no sync
 * configured). A box that cannot reach its peer stays held back: if the peer is really gone,
 * VRRP makes this box master anyway (priority 1 beats silence); if the peer is alive, it keeps
 * the addresses — a returning box never takes them with an empty table.
 */
public final class HaNode implements PairControl, AutoCloseable {
    static final long TICK_MILLIS = 200;
    /** Announcements come every 0.5 s (and on every change): one must arrive within this. */
    static final long FRESH_PEER_WAIT_MILLIS = 1_200;
    private static final String SPLIT_BRAIN = "split brain: both boxes are ACTIVE (their VRRP adverts do not reach each other:"
            + " check the front network)";
    private static final String NO_FRESH_WORD = "no announcement from the peer within " + FRESH_PEER_WAIT_MILLIS
            + " ms of the command: the peer or the sync link is down";
    private static final Logger LOG = LoggerFactory.getLogger(HaNode.class);
    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES); // a newer peer may say more

    /** The pair as this box sees it: itself, the peer's last announcement and whether a hand-over is safe. */
    public record PairView(NodeStatus self, NodeStatus peer, long peerAgeMillis, SyncStatus sync, List<String> notInSync,
                           HandOverCheck.Verdict failover, HandOverCheck.Verdict takeover) {
        public boolean inSync() {
            return notInSync.isEmpty();
        }
    }

    /**
     * What else the pair keeps equal besides flows: the services config (compared by
     * fingerprint) and the operators' drains (the newer set wins, so a failover keeps them).
     */
    public record SharedSettings(Supplier<String> configFingerprint, Supplier<List<String>> drained, LongSupplier drainSeq,
                                 java.util.function.BiConsumer<List<String>, Long> adoptDrained) {
        /** For a box whose settings nobody shares (tests). */
        public static SharedSettings none() {
            return new SharedSettings(() -> "", List::of, () -> 0, (d, s) -> { });
        }
    }

    /** A failover's or takeover's outcome: done, or refused with the reasons. */
    public record CommandResult(boolean accepted, boolean forced, String message, List<String> reasons) {
    }

    private final String self;
    private final HaConfig ha;
    /** BGP mode: the routes BIRD announces; null in VRRP mode. */
    private final RouteAnnouncer announcer;
    private final RoleController controller;
    private final TrackFile trackFile;
    private final FlowReplicator replicator;
    private final LongSupplier flowCount;
    private final SharedSettings shared;
    private final long startedAtMillis = System.currentTimeMillis();
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("tandem-ha").daemon().factory());
    private final AtomicLong unreadableAnnouncements = new AtomicLong();
    private volatile NodeStatus peer;
    private volatile long peerReceivedAtMillis;
    private byte[] lastAnnounced;
    private final EventLog events;
    private SyncStatus lastSync;
    private boolean digestsAgreedSinceNews;
    private boolean inSplitBrain;

    private HaNode(String self, HaConfig ha, RoleController controller, TrackFile trackFile, FlowReplicator replicator,
                   LongSupplier flowCount, EventLog events, SharedSettings shared, RouteAnnouncer announcer) {
        this.announcer = announcer;
        this.events = events;
        this.shared = shared;
        this.self = self;
        this.ha = ha;
        this.controller = controller;
        this.trackFile = trackFile;
        this.replicator = replicator;
        this.flowCount = flowCount;
    }

    /**
     * @param replicator the sync link to the peer, or null when this box has none
     * @param setActive  told true when this box becomes the source of the flow table
     */
    public static HaNode start(String self, HaConfig ha, Consumer<Boolean> setActive, FlowReplicator replicator,
                               LongSupplier flowCount, EventLog events, SharedSettings shared) throws IOException, InterruptedException {
        return start(self, ha, setActive, replicator, flowCount, events, shared, null);
    }

    /**
     * @param announcer BGP mode ({@code ha.mode: bgp}): the election runs here instead of in
     *                  keepalived, and the announcer tells BIRD what to announce
     */
    public static HaNode start(String self, HaConfig ha, Consumer<Boolean> setActive, FlowReplicator replicator,
                               LongSupplier flowCount, EventLog events, SharedSettings shared, RouteAnnouncer announcer)
            throws IOException, InterruptedException {
        TrackFile trackFile = new TrackFile(Path.of(ha.trackFile()));
        RoleController controller = new RoleController(trackFile, self, ha.priority(), setActive, events);
        HaNode node = new HaNode(self, ha, controller, trackFile, replicator, flowCount, events, shared, announcer);
        if (announcer == null) {
            new NotifyFifo(Path.of(ha.notifyFifo()), state -> {
                try {
                    controller.onVrrp(state);
                } catch (IOException e) {
                    LOG.error("role change to {} failed: {}", state, e.toString());
                }
            }).start();
        }
        node.poller.scheduleWithFixedDelay(node::tick, 0, TICK_MILLIS, TimeUnit.MILLISECONDS);
        return node;
    }

    private void tick() {
        try {
            SyncStatus sync = replicator == null ? null : replicator.status();
            noteSyncEvents(sync);
            readPeer();
            NodeStatus p = peer;
            if (p != null) {
                controller.offerPreference(p.preference());
                if (p.drained() != null && p.drainSeq() > shared.drainSeq().getAsLong()) {
                    shared.adoptDrained().accept(p.drained(), p.drainSeq());
                    events.add("drain", "adopted the peer's drains: " + (p.drained().isEmpty() ? "none" : String.join(", ", p.drained())));
                }
            }
            controller.onSync(sync == null || (sync.peerConnected() && Boolean.TRUE.equals(sync.digestsEqual())));
            if (announcer != null) {
                elect(sync, p);
            }
            announce(sync);
            noteSplitBrain();
        } catch (IOException e) {
            LOG.error("track file: {}", e.toString());
        } catch (RuntimeException e) {
            LOG.error("HA tick failed", e);
        }
    }

    /** BGP mode: the election keepalived holds in VRRP mode, then the announcements that follow from the role. */
    private void elect(SyncStatus sync, NodeStatus p) throws IOException {
        boolean peerAlive = sync != null && sync.peerConnected() && p != null
                && System.currentTimeMillis() - peerReceivedAtMillis <= HandOverCheck.PEER_STALE_MILLIS;
        int mine = controller.effectivePriority();
        VrrpState.State state = BgpElection.decide(self, mine, p, peerAlive);
        if (state != controller.vrrp()) {
            controller.onVrrp(new VrrpState("bgp", state, mine));
        }
        try {
            announcer.apply(controller.role());
        } catch (io.tandem.dataplane.netsetup.CommandRunner.SetupException e) {
            LOG.error("bgp: announce table: {}", e.getMessage());
        }
    }

    private void noteSplitBrain() {
        NodeStatus p = peer;
        boolean now = p != null && splitBrain(status(replicator == null ? null : replicator.status()), p,
                System.currentTimeMillis() - peerReceivedAtMillis);
        if (now != inSplitBrain) {
            inSplitBrain = now;
            events.add("split-brain", now ? SPLIT_BRAIN : "split brain over: one box is ACTIVE again");
        }
    }

    /** Sync milestones for the event list: the peer coming and going, whole-table transfers, digests agreeing. */
    private void noteSyncEvents(SyncStatus now) {
        SyncStatus before = lastSync;
        lastSync = now;
        if (now == null) {
            return;
        }
        if (before == null || before.peerConnected() != now.peerConnected()) {
            events.add("sync", now.peerConnected() ? "peer " + now.peer() + " connected on the sync link" : "peer not connected on the sync link");
        }
        if (now.lastFullResync() != null && (before == null || !now.lastFullResync().equals(before.lastFullResync()))) {
            events.add("sync", "full resync: " + now.lastFullResync().records() + " flows from the peer in "
                    + now.lastFullResync().millis() + " ms");
        }
        if (before != null && now.rangeResyncs() > before.rangeResyncs()) {
            events.add("sync", "range resync asked (" + now.rangeResyncs() + " so far): the digests differed");
        }
        // Digests differ for a moment whenever changes are in flight: only their agreeing after a
        // (re)connection or a range resync is news.
        boolean equalNow = Boolean.TRUE.equals(now.digestsEqual());
        if (equalNow && !digestsAgreedSinceNews) {
            events.add("sync", "flow tables equal (digests agree)");
        }
        digestsAgreedSinceNews = equalNow || (digestsAgreedSinceNews
                && (before == null || (before.peerConnected() == now.peerConnected() && before.rangeResyncs() == now.rangeResyncs())));
    }

    /** Both boxes master at once: the peer, heard just now over the sync link, is ACTIVE too. */
    private static boolean splitBrain(NodeStatus me, NodeStatus peer, long peerAgeMillis) {
        return peer != null && me.role() == Role.ACTIVE && peer.role() == Role.ACTIVE
                && peerAgeMillis <= HandOverCheck.PEER_STALE_MILLIS;
    }

    private void readPeer() {
        PeerAnnouncement a = replicator == null ? null : replicator.peerAnnouncement();
        if (a == null || a.receivedAtMillis() == peerReceivedAtMillis) {
            return;
        }
        peerReceivedAtMillis = a.receivedAtMillis();
        try {
            peer = JSON.readValue(a.payload(), NodeStatus.class);
        } catch (IOException e) {
            // The link is authenticated, so this is a peer of another version, not an attacker: say so once in a while.
            if (unreadableAnnouncements.getAndIncrement() % 100 == 0) {
                LOG.warn("the peer's announcement is unreadable ({} so far): {}", unreadableAnnouncements.get(), e.getMessage());
            }
        }
    }

    private void announce(SyncStatus sync) throws IOException {
        if (replicator == null) {
            return;
        }
        byte[] bytes = JSON.writeValueAsBytes(status(sync));
        if (!Arrays.equals(bytes, lastAnnounced)) {
            replicator.announce(bytes);
            lastAnnounced = bytes;
        }
    }

    private NodeStatus status(SyncStatus sync) {
        return new NodeStatus(self, controller.role(), controller.vrrp().name(), controller.effectivePriority(), startedAtMillis,
                controller.inSync(), flowCount.getAsLong(), sync == null || sync.source() ? 0 : sync.lastLagMillis(),
                sync == null ? null : sync.digestsEqual(), sync != null && sync.peerConnected(),
                controller.preference(), controller.override(), shared.configFingerprint().get(), shared.drained().get(),
                shared.drainSeq().getAsLong());
    }

    @Override
    public PairView view() {
        SyncStatus sync = replicator == null ? null : replicator.status();
        NodeStatus me = status(sync);
        NodeStatus p = peer;
        long age = p == null ? -1 : System.currentTimeMillis() - peerReceivedAtMillis;
        long maxLag = ha.failoverMaxLag().toMillis();
        List<String> notInSync = new ArrayList<>(HandOverCheck.notInSync(sync, p, age, maxLag));
        HandOverCheck.Verdict failover = HandOverCheck.failover(me.role(), sync, p, age, maxLag);
        HandOverCheck.Verdict takeover = HandOverCheck.takeover(me.role(), me.override(), sync, p, age, maxLag);
        if (splitBrain(me, p, age)) {
            notInSync.add(SPLIT_BRAIN);
            failover = failover.plus(SPLIT_BRAIN);
            takeover = takeover.plus(SPLIT_BRAIN);
        }
        if (p != null && p.configFingerprint() != null && !p.configFingerprint().equals(me.configFingerprint())) {
            String differs = "the services config differs from the peer's (fingerprint " + me.configFingerprint() + " here, "
                    + p.configFingerprint() + " there): reload both boxes with the same config";
            notInSync.add(differs);
            failover = failover.plus(differs);
            takeover = takeover.plus(differs);
        }
        return new PairView(me, p, age, sync, List.copyOf(notInSync), failover, takeover);
    }

    /**
     * Hands the addresses to the peer: this box yields (or, forced, goes to FAULT) and the
     * pair prefers the peer until the next failover or takeover.
     */
    @Override
    public synchronized CommandResult failover(boolean force, String by) throws IOException {
        PairView v = viewNow();
        HandOverCheck.Verdict verdict = v.failover();
        if (refuses(verdict, force)) {
            return refused("failover", verdict, by);
        }
        String peerName = v.peer() != null ? v.peer().name() : v.sync() != null ? v.sync().peer() : null;
        if (peerName != null) {
            controller.offerPreference(new PairPreference(nextSeq(), peerName, by));
        }
        boolean forced = !verdict.allowed();
        controller.setOverride(forced ? ManualOverride.FORCED_STANDBY : ManualOverride.NONE);
        String target = peerName == null ? "the peer" : peerName;
        String message = forced
                ? "forced: keepalived on " + self + " goes to FAULT and " + target + " takes the addresses whatever its table holds; "
                + "connections it lacks will be reset. Run 'tandemctl takeover' on " + self + " to bring it back."
                : announcer != null
                ? "handing over to " + target + ": " + self + " yields (priority " + KeepalivedConfig.YIELDED_PRIORITY
                + ", its routes announced with the longer path); the routers move to " + target + " as it announces the shorter"
                : "handing over to " + target + ": " + self + " yields (VRRP priority " + KeepalivedConfig.YIELDED_PRIORITY
                + "); " + target + " takes the addresses within a few advert intervals";
        events.add("failover", by + ": " + message);
        return new CommandResult(true, forced, message, verdict.reasons());
    }

    /** Takes the addresses from the peer: the pair prefers this box (forced: this box takes the top priority). */
    @Override
    public synchronized CommandResult takeover(boolean force, String by) throws IOException {
        HandOverCheck.Verdict verdict = viewNow().takeover();
        if (refuses(verdict, force)) {
            return refused("takeover", verdict, by);
        }
        controller.offerPreference(new PairPreference(nextSeq(), self, by));
        boolean forced = !verdict.allowed();
        controller.setOverride(forced ? ManualOverride.FORCED_ACTIVE : ManualOverride.NONE);
        String message = forced
                ? "forced: " + self + " takes the top VRRP priority (" + KeepalivedConfig.MAX_PRIORITY + ") whatever its table "
                + "holds; connections it lacks will be reset"
                : self + " takes over: the peer yields and " + self + " takes the addresses within a few advert intervals";
        events.add("takeover", by + ": " + message);
        return new CommandResult(true, forced, message, verdict.reasons());
    }

    /**
     * Waits (bounded) for an announcement the peer sent after this command arrived, so the
     * checks judge the peer as it is now, not as it was up to a stale-limit ago: a sync link
     * cut a second ago must not pass for a live, in-sync peer. Without one, the view's
     * "no word from the peer" refuses the hand-over.
     */
    private boolean awaitFreshPeer() {
        if (replicator == null) {
            return false;
        }
        long asked = System.currentTimeMillis();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(FRESH_PEER_WAIT_MILLIS);
        while (System.nanoTime() < deadline) {
            PeerAnnouncement a = replicator.peerAnnouncement();
            if (a != null && a.receivedAtMillis() >= asked) {
                readPeer();
                return true;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    private long nextSeq() {
        return Math.max(System.currentTimeMillis(), controller.preference().seq() + 1);
    }

    /** The view once the peer has spoken since this moment (or with that lack among the reasons). */
    private PairView viewNow() {
        boolean fresh = awaitFreshPeer();
        PairView v = view();
        return fresh ? v : new PairView(v.self(), v.peer(), v.peerAgeMillis(), v.sync(), v.notInSync(),
                v.failover().plus(NO_FRESH_WORD), v.takeover().plus(NO_FRESH_WORD));
    }

    private static boolean refuses(HandOverCheck.Verdict verdict, boolean force) {
        return !verdict.allowed() && !(force && verdict.forceable());
    }

    private CommandResult refused(String command, HandOverCheck.Verdict verdict, String by) {
        events.add(command, "refused (" + by + "): " + String.join("; ", verdict.reasons()));
        List<String> reasons = new ArrayList<>(verdict.reasons());
        String hint = verdict.forceable()
                ? " ('tandemctl " + command + " --force' does it anyway: connections the other box lacks will be reset)" : "";
        String why = verdict.forceable() ? "the pair is not safe to hand over" : "nothing to do in this role";
        return new CommandResult(false, false, command + " refused: " + why + hint, reasons);
    }

    public Role role() {
        return controller.role();
    }

    /** keepalived state changes since start (for metrics). */
    public long vrrpTransitions() {
        return controller.vrrpTransitions();
    }

    /** Stops steering and holds the box back: a stopping tandemd must not stay the preferred master. */
    @Override
    public void close() {
        poller.shutdownNow();
        if (announcer != null) {
            try {
                announcer.apply(Role.FAULT); // withdrawn before the data plane stops: the routers move first
            } catch (io.tandem.dataplane.netsetup.CommandRunner.SetupException e) {
                LOG.warn("bgp: withdrawing on stop: {}", e.getMessage());
            }
        }
        try {
            trackFile.holdBack();
        } catch (IOException e) {
            LOG.warn("track file on stop: {}", e.toString());
        }
    }
}
