package io.tandem.ha;

import io.tandem.role.Role;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class BgpElectionTest {
    private static NodeStatus peer(String name, int priority) {
        return new NodeStatus(name, Role.STANDBY, "BACKUP", priority, 0, true, 0, 0, true, true,
                PairPreference.NONE, ManualOverride.NONE, "", List.of(), 0);
    }

    @Test
    void theHigherPriorityIsMasterAndATieGoesToTheGreaterName() {
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb1", 150, peer("lb2", 100), true));
        assertEquals(VrrpState.State.BACKUP, BgpElection.decide("lb2", 100, peer("lb1", 150), true));
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb2", 100, peer("lb1", 100), true));
        assertEquals(VrrpState.State.BACKUP, BgpElection.decide("lb1", 100, peer("lb2", 100), true));
    }

    @Test
    void aBoxThatHearsNoPeerIsMasterEvenHeldBack() {
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb2", 1, null, false));
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb2", 1, peer("lb1", 150), false), "the peer's word is stale");
    }

    @Test
    void heldBackAndYieldedBoxesGiveWayToAReadyPeerAndAYieldedOneStillBeatsAHeldBackOne() {
        int heldBack = 1;
        int yielded = KeepalivedConfig.YIELDED_PRIORITY;
        assertEquals(VrrpState.State.BACKUP, BgpElection.decide("lb1", heldBack, peer("lb2", 100), true));
        assertEquals(VrrpState.State.BACKUP, BgpElection.decide("lb1", yielded, peer("lb2", 100), true));
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb1", yielded, peer("lb2", heldBack), true));
    }

    @Test
    void forcedToFaultMeansFaultAndAForcedPeerLeavesThisBoxMaster() {
        assertEquals(VrrpState.State.FAULT, BgpElection.decide("lb1", 0, peer("lb2", 100), true));
        assertEquals(VrrpState.State.MASTER, BgpElection.decide("lb2", 100, peer("lb1", 0), true));
    }
}
