package io.tandem.ha;

import io.tandem.config.HaConfig;
import io.tandem.events.EventLog;
import io.tandem.lab.NamespaceLab;
import io.tandem.role.Role;
import io.tandem.role.RoleListener;
import io.tandem.statesync.FlowDigest;
import io.tandem.statesync.FlowRecord;
import io.tandem.statesync.FlowStore;
import io.tandem.statesync.InMemoryReplicator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two HA nodes on the in-memory sync link, each with a temporary track file, driven tick by
 * tick: VRRP states go in through each node's {@link RoleController}, as keepalived's notify
 * FIFO would put them.
 */
class HaNodeTest {
    @TempDir
    Path dir;
    private InMemoryReplicator[] link;

    /** A flow store with no flows: the digests of two empty tables agree. */
    private static final class EmptyStore implements FlowStore {
        private final FlowDigest digest = new FlowDigest();

        @Override
        public Applied apply(FlowRecord record) {
            return Applied.REFUSED;
        }

        @Override
        public void replace(FlowRecord record) {
        }

        @Override
        public void forEach(Consumer<FlowRecord> visitor) {
        }

        @Override
        public void removeLocal(FlowRecord record) {
        }

        @Override
        public FlowDigest digest() {
            return digest;
        }
    }

    /** One box: its node, what its role listener heard, its events. */
    private record Box(HaNode node, List<Role> told, EventLog events, Path trackFile) {
        int weight() throws Exception {
            return Integer.parseInt(Files.readString(trackFile).strip());
        }
    }

    private Box box(String name, int priority, InMemoryReplicator replicator) throws Exception {
        return box(name, priority, replicator, RestartCarry.NONE);
    }

    private Box box(String name, int priority, InMemoryReplicator replicator, RestartCarry restart) throws Exception {
        return box(name, priority, replicator, restart, SharedSettings.none());
    }

    private Box box(String name, int priority, InMemoryReplicator replicator, RestartCarry restart, SharedSettings shared)
            throws Exception {
        Path track = dir.resolve(name + ".track");
        HaConfig ha = new HaConfig(51, priority, null, null, null, null, track.toString(), dir.resolve(name + ".fifo").toString(),
                Duration.ofSeconds(1), null, null, null);
        List<Role> told = new ArrayList<>();
        RoleListener listener = new RoleListener() {
            @Override
            public void becameActive() {
                told.add(Role.ACTIVE);
            }

            @Override
            public void becameStandby() {
                told.add(Role.STANDBY);
            }
        };
        EventLog events = new EventLog();
        HaNode node = HaNode.create(name, ha, listener, replicator, () -> 0, events, shared, null, restart);
        return new Box(node, told, events, track);
    }

    private Box[] pair() throws Exception {
        link = InMemoryReplicator.pair(1024, Duration.ofMillis(50));
        link[0].start(new EmptyStore());
        link[1].start(new EmptyStore());
        return new Box[] {box("lb1", 150, link[0]), box("lb2", 100, link[1])};
    }

    @AfterEach
    void close() {
        if (link != null) {
            link[0].close();
            link[1].close();
        }
    }

    /** Ticks both nodes until the condition holds (bounded: 5 s), as their timers would. */
    private static void tickUntil(Box[] boxes, BooleanSupplier condition, String what) {
        NamespaceLab.await(() -> {
            if (condition.getAsBoolean()) {
                return true;
            }
            for (Box b : boxes) {
                b.node().tick();
            }
            return false;
        }, Duration.ofSeconds(5), () -> what);
    }

    private static void vrrp(Box box, String state, int priority) throws Exception {
        box.node().controller().onVrrp(VrrpState.parse("INSTANCE \"tandem\" " + state + " " + priority).orElseThrow());
    }

    private static boolean hasEvent(Box box, String kind, String text) {
        return box.events().since(0, EventLog.CAPACITY).stream().anyMatch(e -> e.kind().equals(kind) && e.message().contains(text));
    }

    @Test
    void aRoleChangeReachesTheListenerOnceTheTrackFileReleasesTheBox() throws Exception {
        Box[] boxes = pair();
        assertEquals(List.of(Role.STANDBY), boxes[0].told(), "told at start: not the active (SYNCING)");
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, boxes[0].weight(), "held back until in sync");
        vrrp(boxes[0], "BACKUP", 150);
        vrrp(boxes[1], "BACKUP", 100);
        tickUntil(boxes, () -> boxes[0].node().role() == Role.STANDBY && boxes[1].node().role() == Role.STANDBY, "both in sync");
        assertEquals(KeepalivedConfig.READY_WEIGHT, boxes[0].weight(), "released once the digests agree");

        vrrp(boxes[0], "MASTER", 150);
        assertEquals(Role.ACTIVE, boxes[0].node().role());
        assertEquals(List.of(Role.STANDBY, Role.STANDBY, Role.ACTIVE), boxes[0].told(),
                "told of every change: SYNCING, STANDBY (neither the active), ACTIVE");
        tickUntil(boxes, () -> boxes[1].node().view().peer() != null && boxes[1].node().view().peer().role() == Role.ACTIVE,
                "lb2 hearing that lb1 is active");
        PairView fromStandby = boxes[1].node().view();
        assertTrue(fromStandby.inSync(), fromStandby.notInSync().toString());
        assertTrue(fromStandby.takeover().allowed(), fromStandby.takeover().reasons().toString());
        assertTrue(hasEvent(boxes[0], "role", "STANDBY -> ACTIVE"), "the change is in the event log");
    }

    /**
     * A restart the fast path carries: the stopping node leaves the track file as it was (no
     * hold-back, so keepalived keeps the box master), and a new node that finds the addresses
     * on its box starts ACTIVE and ready — not SYNCING and held back, which would hand the
     * addresses to the peer. Without the carry, the same stop holds the box back.
     */
    @Test
    void aRestartTheFastPathCarriesResumesAsMasterWithoutHoldingTheBoxBack() throws Exception {
        link = InMemoryReplicator.pair(1024, Duration.ofMillis(50));
        link[0].start(new EmptyStore());
        Box first = box("lb1", 150, link[0], new RestartCarry(true, false));
        vrrp(first, "MASTER", 150);
        assertEquals(KeepalivedConfig.READY_WEIGHT, first.weight(), "a master is ready");
        first.node().close();
        assertEquals(KeepalivedConfig.READY_WEIGHT, first.weight(), "a carried stop does not hold the box back");

        Box resumed = box("lb1", 150, link[0], new RestartCarry(true, true));
        assertEquals(Role.ACTIVE, resumed.node().role());
        assertEquals(List.of(Role.ACTIVE), resumed.told(), "told ACTIVE at start, never SYNCING");
        assertEquals(KeepalivedConfig.READY_WEIGHT, resumed.weight(), "not held back: no failover");
        assertTrue(hasEvent(resumed, "restart", "resumed as master"));

        Box notMaster = box("lb1", 150, link[0], new RestartCarry(true, false));
        assertEquals(Role.SYNCING, notMaster.node().role(), "addresses elsewhere: a restarted box starts held back");
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, notMaster.weight());
        notMaster.node().close();

        Box uncarried = box("lb1", 150, link[0], RestartCarry.NONE);
        vrrp(uncarried, "MASTER", 150);
        uncarried.node().close();
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, uncarried.weight(), "without the fast path a stop holds back");
    }

    @Test
    void aFailoverIsRefusedWithItsReasonsWhileTheSyncLinkIsDown() throws Exception {
        Box[] boxes = pair();
        vrrp(boxes[0], "MASTER", 150);
        vrrp(boxes[1], "BACKUP", 100);
        tickUntil(boxes, () -> boxes[0].node().view().inSync(), "the pair in sync");
        link[0].disconnect();
        tickUntil(boxes, () -> !boxes[0].node().view().inSync(), "lb1 noticing the cut");
        CommandResult refused = boxes[0].node().failover(false, "test");
        assertFalse(refused.accepted());
        assertTrue(refused.message().startsWith("failover refused: the pair is not safe to hand over"), refused.message());
        assertTrue(refused.reasons().contains(HandOverTexts.NO_FRESH_WORD), refused.reasons().toString());
        assertTrue(hasEvent(boxes[0], "failover", "refused (test)"));
        assertEquals(Role.ACTIVE, boxes[0].node().role(), "a refused failover changes nothing");
        assertEquals(List.of(Role.STANDBY, Role.ACTIVE), boxes[0].told());

        link[0].connect(true);
        // In sync again, and the peer's announcement of STANDBY here (it comes a tick later than the digests).
        tickUntil(boxes, () -> boxes[0].node().view().inSync() && boxes[0].node().view().failover().allowed(),
                "the pair in sync again, the peer STANDBY");
        CommandResult done = boxes[0].node().failover(false, "test");
        assertTrue(done.accepted(), done.reasons().toString());
        assertEquals(KeepalivedConfig.yieldWeight(150), boxes[0].weight(), "lb1 yields");
        tickUntil(boxes, () -> {
            try {
                return boxes[1].weight() == KeepalivedConfig.READY_WEIGHT && boxes[1].node().view().self().preference().yields("lb1");
            } catch (Exception e) {
                return false;
            }
        }, "lb2 adopting the preference for itself");
    }

    /** Issue 20, goal 5: the peer's flows to a backend this box does not have are reported, and a failover stays allowed. */
    @Test
    void flowsToABackendThisBoxDoesNotHaveAreReported() throws Exception {
        link = InMemoryReplicator.pair(1024, Duration.ofMillis(50));
        link[0].start(new EmptyStore());
        link[1].start(new EmptyStore());
        String[] unknown = {null};
        SharedSettings shared = new SharedSettings(() -> "", List::of, () -> 0, (d, s) -> { }, () -> unknown[0]);
        Box[] boxes = {box("lb1", 150, link[0]), box("lb2", 100, link[1], RestartCarry.NONE, shared)};
        vrrp(boxes[0], "MASTER", 150);
        vrrp(boxes[1], "BACKUP", 100);
        tickUntil(boxes, () -> boxes[1].node().view().inSync(), "the pair in sync");
        unknown[0] = "3 flows from the peer go to backends this box's config does not have";
        assertEquals(List.of(unknown[0]), boxes[1].node().view().notInSync());
        assertTrue(boxes[1].node().view().takeover().allowed(), "reported, not refused");
    }

    @Test
    void bothBoxesActiveIsSplitBrainUntilOneYields() throws Exception {
        Box[] boxes = pair();
        vrrp(boxes[0], "MASTER", 150);
        vrrp(boxes[1], "MASTER", 100);
        tickUntil(boxes, () -> hasEvent(boxes[0], "split-brain", "both boxes are ACTIVE"), "split brain seen by lb1");
        PairView view = boxes[0].node().view();
        assertFalse(view.inSync());
        assertTrue(view.notInSync().contains(SplitBrain.TEXT), view.notInSync().toString());
        assertTrue(view.failover().reasons().contains(SplitBrain.TEXT));

        vrrp(boxes[1], "BACKUP", 100);
        tickUntil(boxes, () -> hasEvent(boxes[0], "split-brain", "split brain over"), "the end of split brain");
        assertFalse(boxes[0].node().view().notInSync().contains(SplitBrain.TEXT));
    }
}
