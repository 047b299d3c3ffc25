package io.tandem.ha;

import io.tandem.events.EventLog;
import io.tandem.role.Role;

/**
 * Split brain: both boxes ACTIVE at once, because their VRRP adverts (or BGP sessions) do not
 * reach each other while the sync link still does. Detected from the peer's announcement,
 * heard just now over the sync link; its start and end go to the event log once each.
 */
final class SplitBrain {
    static final String TEXT = "split brain: both boxes are ACTIVE (their VRRP adverts do not reach each other:"
            + " check the front network)";

    private final EventLog events;
    private boolean now;

    SplitBrain(EventLog events) {
        this.events = events;
    }

    /** Both boxes master at once: the peer, heard within the stale limit, is ACTIVE too. */
    static boolean between(NodeStatus me, NodeStatus peer, long peerAgeMillis) {
        return peer != null && me.role() == Role.ACTIVE && peer.role() == Role.ACTIVE
                && peerAgeMillis <= HandOverCheck.PEER_STALE_MILLIS;
    }

    /** Records a start or an end of split brain in the event log. */
    void note(NodeStatus me, NodeStatus peer, long peerAgeMillis) {
        boolean split = between(me, peer, peerAgeMillis);
        if (split != now) {
            now = split;
            events.add("split-brain", split ? TEXT : "split brain over: one box is ACTIVE again");
        }
    }

    boolean now() {
        return now;
    }
}
