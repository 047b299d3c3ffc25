package io.tandem.ha;

import io.tandem.role.Role;
import io.tandem.statesync.SyncStatus;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HandOverCheckTest {
    private static SyncStatus sync(boolean connected, Boolean digestsEqual, long lag, int queued) {
        return new SyncStatus(true, connected, "lb2", 10, 0, queued, 0, 0, lag, digestsEqual, 0, null);
    }

    private static NodeStatus peer(Role role, long lag) {
        return new NodeStatus("lb2", role, role == Role.ACTIVE ? "MASTER" : "BACKUP", 100, 0, true, 200, lag, true, true,
                PairPreference.NONE, ManualOverride.NONE, "abc", List.of(), 0);
    }

    @Test
    void aFailoverToAnInSyncStandbyIsAllowed() {
        HandOverCheck.Verdict v = HandOverCheck.failover(Role.ACTIVE, sync(true, true, 3, 0), peer(Role.STANDBY, 2), 300, 1000);
        assertTrue(v.allowed(), v.reasons().toString());
        assertEquals(List.of(), v.reasons());
    }

    @Test
    void everyReasonAFailoverWouldLoseFlowsIsNamed() {
        HandOverCheck.Verdict v = HandOverCheck.failover(Role.ACTIVE, sync(false, false, 5, 20_000), peer(Role.SYNCING, 1500), 2500, 1000);
        assertFalse(v.allowed());
        assertTrue(v.forceable());
        assertEquals(List.of("the peer is not connected on the sync link", "no word from the peer for 2 s",
                "flow tables differ (a range resync is under way)", "replication lag 1500 ms is over 1000 ms",
                "20000 flow changes are still queued for the peer", "the peer is SYNCING, not STANDBY"), v.reasons());
        assertEquals(List.of("no word from the peer yet", "flow tables not compared yet"),
                HandOverCheck.notInSync(sync(true, null, 0, 0), null, -1, 1000));
        assertEquals(List.of("no sync is configured: the peer has none of this box's flows"), HandOverCheck.notInSync(null, null, -1, 1000));
    }

    @Test
    void aCommandPointlessInThisRoleCannotBeForced() {
        HandOverCheck.Verdict failoverOnStandby = HandOverCheck.failover(Role.STANDBY, sync(true, true, 0, 0), peer(Role.ACTIVE, 0), 100, 1000);
        assertFalse(failoverOnStandby.allowed());
        assertFalse(failoverOnStandby.forceable());
        HandOverCheck.Verdict takeoverOnActive = HandOverCheck.takeover(Role.ACTIVE, ManualOverride.NONE, sync(true, true, 0, 0),
                peer(Role.STANDBY, 0), 100, 1000);
        assertFalse(takeoverOnActive.forceable());
        assertEquals("this box is already ACTIVE", takeoverOnActive.reasons().getFirst());
    }

    @Test
    void aTakeoverNeedsThisBoxInSyncAndThePeerActive() {
        assertTrue(HandOverCheck.takeover(Role.STANDBY, ManualOverride.NONE, sync(true, true, 0, 0), peer(Role.ACTIVE, 0), 100, 1000).allowed());
        HandOverCheck.Verdict syncing = HandOverCheck.takeover(Role.SYNCING, ManualOverride.NONE, sync(true, false, 0, 0),
                peer(Role.ACTIVE, 0), 100, 1000);
        assertEquals(List.of("this box is SYNCING: its flow table is not complete", "flow tables differ (a range resync is under way)"),
                syncing.reasons());
        assertTrue(syncing.forceable());
        assertTrue(HandOverCheck.takeover(Role.FAULT, ManualOverride.FORCED_STANDBY, sync(true, true, 0, 0), peer(Role.ACTIVE, 0), 100, 1000)
                .allowed(), "a box forced down may take over again once in sync");
    }
}
