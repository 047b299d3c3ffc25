package io.tandem.ha;

/**
 * BGP mode's stand-in for VRRP's election (RFC 5798 §6.4): which box should be master, from
 * both boxes' advertised priorities, which the boxes announce to each other over the sync link
 * every half second. The higher priority wins (a tie goes to the greater name); a box that
 * hears nothing from its peer is master, as a VRRP backup becomes master when adverts stop.
 * The priorities carry the same meaning as in VRRP mode: held back while resyncing, yielded
 * after a failover, 0 when forced to FAULT.
 *
 * <p>The routers, not this election, decide where packets go: they follow the shorter path,
 * the master's. If the boxes cannot hear each other both become master and announce the same
 * path; the routers still send each flow one way (unless they balance over equal paths).
 */
public final class BgpElection {
    private BgpElection() {
    }

    /**
     * @param myPriority this box's advertised priority (0: forced to FAULT)
     * @param peer       the peer's last announcement, or null
     * @param peerAlive  whether the peer is connected on the sync link and was heard lately
     */
    public static VrrpState.State decide(String self, int myPriority, NodeStatus peer, boolean peerAlive) {
        if (myPriority == 0) {
            return VrrpState.State.FAULT;
        }
        if (peer == null || !peerAlive || peer.priority() == 0) {
            return VrrpState.State.MASTER;
        }
        if (myPriority != peer.priority()) {
            return myPriority > peer.priority() ? VrrpState.State.MASTER : VrrpState.State.BACKUP;
        }
        return self.compareTo(peer.name()) > 0 ? VrrpState.State.MASTER : VrrpState.State.BACKUP;
    }
}
