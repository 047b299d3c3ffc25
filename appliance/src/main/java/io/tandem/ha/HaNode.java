package io.tandem.ha;

import io.tandem.config.HaConfig;
import io.tandem.events.EventLog;
import io.tandem.events.PeriodicTasks;
import io.tandem.os.CommandRunner;
import io.tandem.role.Role;
import io.tandem.role.RoleListener;
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
import java.util.function.LongSupplier;

/**
 * This box's part in the pair. Every {@link #TICK_MILLIS} it feeds the sync state into the
 * {@link RoleController} (keepalived's notify FIFO feeds the VRRP state; in BGP mode the
 * {@link BgpElection} does), announces this box's {@link NodeStatus} to the peer and adopts
 * the peer's newer {@link PairPreference} and drains. It answers the operators' failover and
 * takeover with the {@link HandOverCheck}.
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
    private static final Logger LOG = LoggerFactory.getLogger(HaNode.class);

    private final String self;
    private final HaConfig ha;
    /** BGP mode: the routes BIRD announces; null in VRRP mode. */
    private final RouteAnnouncer announcer;
    private final RoleController controller;
    private final FlowReplicator replicator;
    private final LongSupplier flowCount;
    private final SharedSettings shared;
    private final EventLog events;
    private final long startedAtMillis = System.currentTimeMillis();
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("tandem-ha").daemon().factory());
    private final Announcements announcements = new Announcements();
    private final SplitBrain splitBrain;
    private final SyncMilestones milestones;
    private final RestartCarry restart;
    private volatile NodeStatus peer;
    private volatile long peerReceivedAtMillis;
    private byte[] lastAnnounced;

    private HaNode(String self, HaConfig ha, RoleController controller, FlowReplicator replicator,
                   LongSupplier flowCount, EventLog events, SharedSettings shared, RouteAnnouncer announcer,
                   RestartCarry restart) {
        this.restart = restart;
        this.announcer = announcer;
        this.events = events;
        this.shared = shared;
        this.self = self;
        this.ha = ha;
        this.controller = controller;
        this.replicator = replicator;
        this.flowCount = flowCount;
        this.splitBrain = new SplitBrain(events);
        this.milestones = new SyncMilestones(events);
    }

    /**
     * Builds the node without starting it: no FIFO reader, no timer. {@link #tick} and
     * {@link #controller} drive it (the unit tests do; {@link #start} does in the daemon).
     *
     * @param roles      told of the role at start and of every change
     * @param replicator the sync link to the peer, or null when this box has none
     * @param announcer  BGP mode ({@code ha.mode: bgp}): the election runs here instead of in
     *                   keepalived, and the announcer tells BIRD what to announce; null in VRRP mode
     * @param restart    whether the fast path carries the flows through a restart; {@link RestartCarry#NONE} in BGP mode
     */
    static HaNode create(String self, HaConfig ha, RoleListener roles, FlowReplicator replicator, LongSupplier flowCount,
                         EventLog events, SharedSettings shared, RouteAnnouncer announcer, RestartCarry restart)
            throws IOException {
        TrackFile trackFile = new TrackFile(Path.of(ha.trackFile()));
        VrrpState.State initial = restart.resumesAsMaster() ? VrrpState.State.MASTER : VrrpState.State.BACKUP;
        if (restart.resumesAsMaster()) {
            LOG.info("resuming as master: the service addresses are on this box and the fast path carried its flows"
                    + " through the restart (keepalived stays master; no failover)");
            events.add("restart", "resumed as master: the fast path carried the flows, the addresses stayed");
        }
        RoleController controller = new RoleController(trackFile, self, ha.priority(), roles, events, initial);
        return new HaNode(self, ha, controller, replicator, flowCount, events, shared, announcer, restart);
    }

    /** As {@link #create}, started: keepalived's notify FIFO read (VRRP mode) and the tick running. */
    public static HaNode start(String self, HaConfig ha, RoleListener roles, FlowReplicator replicator, LongSupplier flowCount,
                               EventLog events, SharedSettings shared, RouteAnnouncer announcer, RestartCarry restart)
            throws IOException, InterruptedException {
        HaNode node = create(self, ha, roles, replicator, flowCount, events, shared, announcer, restart);
        if (announcer == null) {
            new NotifyFifo(Path.of(ha.notifyFifo()), state -> {
                try {
                    node.controller.onVrrp(state);
                } catch (IOException e) {
                    LOG.error("role change to {} failed: {}", state, e.toString());
                }
            }).start();
        }
        node.poller.scheduleWithFixedDelay(PeriodicTasks.guard("ha-tick", node::tick), 0, TICK_MILLIS, TimeUnit.MILLISECONDS);
        return node;
    }

    RoleController controller() {
        return controller;
    }

    void tick() {
        try {
            SyncStatus sync = replicator == null ? null : replicator.status();
            milestones.note(sync);
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
            NodeStatus me = status(sync); // after the election: the role it decided
            announce(me);
            splitBrain.note(me, peer, System.currentTimeMillis() - peerReceivedAtMillis);
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
        } catch (CommandRunner.SetupException e) {
            LOG.error("bgp: announce table: {}", e.getMessage());
        }
    }

    private void readPeer() {
        PeerAnnouncement a = replicator == null ? null : replicator.peerAnnouncement();
        if (a == null || a.receivedAtMillis() == peerReceivedAtMillis) {
            return;
        }
        peerReceivedAtMillis = a.receivedAtMillis();
        NodeStatus decoded = announcements.decode(a.payload());
        if (decoded != null) {
            peer = decoded;
        }
    }

    private void announce(NodeStatus me) {
        if (replicator == null) {
            return;
        }
        byte[] bytes = announcements.encode(me);
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
        if (SplitBrain.between(me, p, age)) {
            notInSync.add(SplitBrain.TEXT);
            failover = failover.plus(SplitBrain.TEXT);
            takeover = takeover.plus(SplitBrain.TEXT);
        }
        if (p != null && p.configFingerprint() != null && !p.configFingerprint().equals(me.configFingerprint())) {
            String differs = HandOverTexts.configDiffers(me.configFingerprint(), p.configFingerprint());
            notInSync.add(differs);
            failover = failover.plus(differs);
            takeover = takeover.plus(differs);
        }
        String unknown = shared.unknownBackends().get();
        if (unknown != null) {
            notInSync.add(unknown); // reported, not refused: those flows work on either box
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
        String message = HandOverTexts.failover(forced, announcer != null, self, peerName == null ? "the peer" : peerName);
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
        String message = HandOverTexts.takeover(forced, self);
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
        return fresh ? v : v.refusing(HandOverTexts.NO_FRESH_WORD);
    }

    private static boolean refuses(HandOverCheck.Verdict verdict, boolean force) {
        return !verdict.allowed() && !(force && verdict.forceable());
    }

    private CommandResult refused(String command, HandOverCheck.Verdict verdict, String by) {
        events.add(command, HandOverTexts.refusedEvent(by, verdict.reasons()));
        return new CommandResult(false, false, HandOverTexts.refused(command, verdict), new ArrayList<>(verdict.reasons()));
    }

    public Role role() {
        return controller.role();
    }

    /** keepalived state changes since start (for metrics). */
    public long vrrpTransitions() {
        return controller.vrrpTransitions();
    }

    /**
     * Stops steering and holds the box back: a stopping tandemd must not stay the preferred
     * master — unless the fast path carries its flows through the restart, when the box stays as
     * it is and keepalived's check decides (its grace covers a short restart).
     */
    @Override
    public void close() {
        poller.shutdownNow();
        if (restart.carried()) {
            LOG.info("stop: the fast path carries this box's flows; the box is not held back (keepalived's check"
                    + " lets a restart of up to 20 s pass, then fails over)");
            return;
        }
        if (announcer != null) {
            try {
                announcer.apply(Role.FAULT); // withdrawn before the data plane stops: the routers move first
            } catch (CommandRunner.SetupException e) {
                LOG.warn("bgp: withdrawing on stop: {}", e.getMessage());
            }
        }
        try {
            controller.stopping(); // pinned: the notify FIFO's later reports must not release the box
        } catch (IOException e) {
            LOG.warn("track file on stop: {}", e.toString());
        }
    }
}
