package io.tandem.ha;

import io.tandem.events.EventLog;
import io.tandem.statesync.SyncStatus;

/** Sync milestones for the operators' event list: the peer coming and going, whole-table transfers, digests agreeing. */
final class SyncMilestones {
    private final EventLog events;
    private SyncStatus last;
    private boolean digestsAgreedSinceNews;

    SyncMilestones(EventLog events) {
        this.events = events;
    }

    /** Compares the sync status with the one seen last and records what is news. */
    void note(SyncStatus now) {
        SyncStatus before = last;
        last = now;
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
        if (before != null && now.merges() > before.merges()) {
            events.add("sync", "merged with the peer after a partition: each box sent the other its whole table");
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
}
