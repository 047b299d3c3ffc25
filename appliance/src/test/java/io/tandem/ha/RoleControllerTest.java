package io.tandem.ha;

import io.tandem.role.Role;
import io.tandem.role.RoleListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoleControllerTest {
    @TempDir
    Path dir;

    /** What the listener was told, true for active: the order of the changes. */
    private static RoleListener recording(List<Boolean> told) {
        return new RoleListener() {
            @Override
            public void becameActive() {
                told.add(true);
            }

            @Override
            public void becameStandby() {
                told.add(false);
            }
        };
    }

    private int weight(Path file) throws Exception {
        return Integer.parseInt(Files.readString(file).strip());
    }

    @Test
    void aRestartedBoxIsHeldBackUntilItsTableIsInSync() throws Exception {
        Path file = dir.resolve("run/tandem/vrrp-priority");
        List<Boolean> publishing = new ArrayList<>();
        RoleController c = new RoleController(new TrackFile(file), "lb1", 150, recording(publishing));
        assertEquals(Role.SYNCING, c.role());
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file), "held back from the start");

        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 1").orElseThrow());
        assertEquals(Role.SYNCING, c.role());
        c.onSync(true);
        assertEquals(Role.STANDBY, c.role());
        assertEquals(KeepalivedConfig.READY_WEIGHT, weight(file), "released once in sync");

        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 150").orElseThrow());
        assertEquals(Role.ACTIVE, c.role());
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 100").orElseThrow());
        c.onSync(false);
        assertEquals(Role.SYNCING, c.role());
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file));
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" FAULT 0").orElseThrow());
        assertEquals(Role.FAULT, c.role());
        // SYNCING, STANDBY, ACTIVE, STANDBY, SYNCING, FAULT
        assertEquals(List.of(false, false, true, false, false, false), publishing, "publishes to the peer only while active");
    }

    @Test
    void aMasterPublishesEvenBeforeItsSyncCompletes() throws Exception {
        List<Boolean> publishing = new ArrayList<>();
        RoleController c = new RoleController(new TrackFile(dir.resolve("p")), "lb1", 150, recording(publishing));
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 1").orElseThrow()); // the peer is gone: it is the only box
        assertEquals(Role.ACTIVE, c.role());
        assertTrue(publishing.get(publishing.size() - 1));
    }

    @Test
    void aPreferenceForThePeerYieldsToPriority2AndTheNewestPreferenceWins() throws Exception {
        Path file = dir.resolve("p");
        RoleController c = new RoleController(new TrackFile(file), "lb1", 150, RoleListener.NONE);
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 150").orElseThrow());
        c.onSync(true);
        assertEquals(0, weight(file));
        assertTrue(c.offerPreference(new PairPreference(10, "lb2", "failover on lb1")));
        assertEquals(2 - 150, weight(file), "150 - 148 = 2: below any ready peer, above a held-back one");
        assertEquals(false, c.offerPreference(new PairPreference(9, "lb1", "an older takeover")), "older: ignored");
        assertEquals(2 - 150, weight(file));
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 2").orElseThrow());
        assertEquals(Role.STANDBY, c.role());
        c.onSync(false);
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file), "not in sync: held back below the yield");
        c.onSync(true);
        assertTrue(c.offerPreference(new PairPreference(11, "lb1", "takeover on lb1")));
        assertEquals(0, weight(file), "preferred again: its configured priority");
    }

    @Test
    void forcedOverridesIgnoreSyncAndLastUntilCleared() throws Exception {
        Path file = dir.resolve("p");
        RoleController c = new RoleController(new TrackFile(file), "lb2", 100, RoleListener.NONE);
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 1").orElseThrow());
        c.setOverride(ManualOverride.FORCED_ACTIVE);
        assertEquals(254 - 100, weight(file), "takes the top priority though SYNCING");
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 254").orElseThrow());
        c.setOverride(ManualOverride.FORCED_STANDBY);
        assertEquals(KeepalivedConfig.FAULT_WEIGHT, weight(file), "below -253 keepalived goes to FAULT");
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" FAULT 0").orElseThrow());
        c.onSync(true);
        assertEquals(Role.FAULT, c.role(), "forced down: FAULT even though in sync");
        c.setOverride(ManualOverride.NONE);
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 100").orElseThrow());
        assertEquals(Role.STANDBY, c.role());
        assertEquals(0, weight(file));
    }

    @Test
    void notifyFifoLinesAreParsedOrIgnored() {
        assertEquals(new VrrpState("tandem", VrrpState.State.MASTER, 150), VrrpState.parse("INSTANCE \"tandem\" MASTER 150\n").orElseThrow());
        assertTrue(VrrpState.parse("GROUP \"g\" MASTER 0").isEmpty());
        assertTrue(VrrpState.parse("INSTANCE \"tandem\" SLEEPY 1").isEmpty());
        assertTrue(VrrpState.parse("").isEmpty());
    }

    /** A stopping box stays held back whatever keepalived reports next (its BACKUP in sync used to release it). */
    @Test
    void aStoppingBoxStaysHeldBackThroughTheReportsItsHoldBackCauses() throws Exception {
        Path file = dir.resolve("vrrp-priority");
        RoleController c = new RoleController(new TrackFile(file), "lb1", 150, recording(new ArrayList<>()));
        c.onSync(true);
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" MASTER 150").orElseThrow());
        assertEquals(KeepalivedConfig.READY_WEIGHT, weight(file));

        c.stopping();
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file));
        c.onVrrp(VrrpState.parse("INSTANCE \"tandem\" BACKUP 1").orElseThrow());
        assertEquals(Role.STANDBY, c.role(), "the role still follows keepalived");
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file), "but the box is not released");
        c.offerPreference(new PairPreference(99, "lb1", "tandemctl takeover"));
        assertEquals(KeepalivedConfig.HOLD_BACK_WEIGHT, weight(file));
    }
}
