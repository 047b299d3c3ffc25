package io.tandem.ha;

/**
 * What a restart of tandemd means for the pair (VRRP mode). Where the fast path carries the
 * box's flows through it — its flow map pinned, its program left attached — the kernel goes on
 * forwarding them while no tandemd runs and the next one adopts them, so a restart is not a
 * failover: the stopping tandemd does not hold the box back, keepalived's check lets a short
 * silence pass ({@code vrrp-scripts/tandemd-alive}, 20 s), and the new tandemd, finding the
 * addresses still on its box, resumes as master instead of starting held back (which would
 * hand them to the peer). Without the fast path a stop hands over first, as it always did.
 *
 * @param carried      the data plane keeps forwarding after this tandemd stops
 * @param holdsAddresses at start, keepalived had the service addresses on this box (it is master)
 */
public record RestartCarry(boolean carried, boolean holdsAddresses) {
    /** No fast path to carry the flows: stop hands over, start holds back until in sync. */
    public static final RestartCarry NONE = new RestartCarry(false, false);

    /** A start that finds this box master with its flows carried: it resumes as ACTIVE. */
    public boolean resumesAsMaster() {
        return carried && holdsAddresses;
    }
}
