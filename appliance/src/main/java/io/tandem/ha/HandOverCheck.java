package io.tandem.ha;

import io.tandem.role.Role;
import io.tandem.statesync.SyncStatus;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether handing the addresses to the other box would keep every flow: the peer is up and
 * announcing, the sync link connected, both table digests equal and replication lag small.
 * What neither keepalived nor conntrackd checks before a manual failover.
 */
public final class HandOverCheck {
    /** An announcement older than this (4 missed ones) counts as no word from the peer. */
    public static final long PEER_STALE_MILLIS = 2_000;
    /** More changes than this waiting for the peer means it lags, whatever the last batch's lag was. */
    static final int MAX_QUEUED = 10_000;

    /**
     * The answer: allowed, or the reasons it is not (each one line an operator can act on).
     *
     * @param forceable whether {@code --force} may override the refusal: not when this box's
     *                  role makes the command pointless (a failover on the standby)
     */
    public record Verdict(boolean allowed, List<String> reasons, boolean forceable) {
        static Verdict of(List<String> reasons, boolean forceable) {
            return new Verdict(reasons.isEmpty(), List.copyOf(reasons), forceable);
        }

        /** This verdict with one more reason against. */
        public Verdict plus(String reason) {
            List<String> more = new ArrayList<>(reasons);
            if (!more.contains(reason)) {
                more.add(reason);
            }
            return of(more, forceable);
        }
    }

    private HandOverCheck() {
    }

    /**
     * Reasons the two tables may differ now; empty when a hand-over loses nothing.
     *
     * @param peer          the peer's last announcement, or null
     * @param peerAgeMillis how long ago it arrived
     */
    public static List<String> notInSync(SyncStatus sync, NodeStatus peer, long peerAgeMillis, long maxLagMillis) {
        List<String> reasons = new ArrayList<>();
        if (sync == null) {
            reasons.add("no sync is configured: the peer has none of this box's flows");
            return reasons;
        }
        if (!sync.peerConnected()) {
            reasons.add("the peer is not connected on the sync link");
        }
        if (peer == null) {
            reasons.add("no word from the peer yet");
        } else if (peerAgeMillis > PEER_STALE_MILLIS) {
            reasons.add("no word from the peer for " + peerAgeMillis / 1000 + " s");
        }
        if (sync.digestsEqual() == null) {
            reasons.add("flow tables not compared yet");
        } else if (!sync.digestsEqual()) {
            reasons.add("flow tables differ (a range resync is under way)");
        }
        long lag = Math.max(sync.lastLagMillis(), peer == null ? 0 : peer.lagMillis());
        if (lag > maxLagMillis) {
            reasons.add("replication lag " + lag + " ms is over " + maxLagMillis + " ms");
        }
        if (sync.queueDepth() > MAX_QUEUED) {
            reasons.add(sync.queueDepth() + " flow changes are still queued for the peer");
        }
        return reasons;
    }

    /** {@code tandemctl failover} on the active: may the peer take over now? */
    public static Verdict failover(Role self, SyncStatus sync, NodeStatus peer, long peerAgeMillis, long maxLagMillis) {
        List<String> reasons = notInSync(sync, peer, peerAgeMillis, maxLagMillis);
        if (peer != null && peer.role() != Role.STANDBY) {
            reasons.add("the peer is " + peer.role() + ", not STANDBY");
        }
        if (self != Role.ACTIVE) {
            reasons.addFirst("this box is " + self + ", not ACTIVE: nothing to hand over (to make it active, run 'tandemctl takeover' here)");
        }
        return Verdict.of(reasons, self == Role.ACTIVE);
    }

    /** {@code tandemctl takeover} on the standby: may this box take over now? */
    public static Verdict takeover(Role self, ManualOverride override, SyncStatus sync, NodeStatus peer, long peerAgeMillis,
                                   long maxLagMillis) {
        List<String> reasons = notInSync(sync, peer, peerAgeMillis, maxLagMillis);
        if (peer != null && peer.role() != Role.ACTIVE) {
            reasons.add("the peer is " + peer.role() + ", not ACTIVE");
        }
        boolean forcedDown = override == ManualOverride.FORCED_STANDBY;
        if (self == Role.ACTIVE) {
            reasons.addFirst("this box is already ACTIVE");
        } else if (self == Role.SYNCING) {
            reasons.addFirst("this box is SYNCING: its flow table is not complete");
        } else if (self == Role.FAULT && !forcedDown) {
            reasons.addFirst("this box is in FAULT (keepalived reports it unhealthy)");
        }
        return Verdict.of(reasons, self != Role.ACTIVE);
    }
}
