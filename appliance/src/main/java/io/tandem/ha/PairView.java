package io.tandem.ha;

import io.tandem.statesync.SyncStatus;

import java.util.List;

/** The pair as this box sees it: itself, the peer's last announcement and whether a hand-over is safe. */
public record PairView(NodeStatus self, NodeStatus peer, long peerAgeMillis, SyncStatus sync, List<String> notInSync,
                       HandOverCheck.Verdict failover, HandOverCheck.Verdict takeover) {
    public boolean inSync() {
        return notInSync.isEmpty();
    }

    /** The same view with one more reason against both hand-overs. */
    PairView refusing(String reason) {
        return new PairView(self, peer, peerAgeMillis, sync, notInSync, failover.plus(reason), takeover.plus(reason));
    }
}
