package io.tandem.role;

/** What this box is doing in the pair. */
public enum Role {
    /** Owns the addresses (VRRP master) and replicates its flow table to the peer. */
    ACTIVE,
    /** Ready to take over: in sync with the active, VRRP backup. */
    STANDBY,
    /** Joined, bulk resync in progress: held back (track file) so it cannot become master. */
    SYNCING,
    /** keepalived reports a fault, or tandemd itself is unhealthy: held back. */
    FAULT
}
