package io.tandem.ha;

/**
 * A forced command's hold on this box, which ignores the sync checks (and so may lose flows):
 * it lasts until the next failover or takeover run on this box, or until tandemd restarts.
 */
public enum ManualOverride {
    NONE,
    /** {@code failover --force}: keepalived is put into FAULT, so the peer takes the addresses whatever its state. */
    FORCED_STANDBY,
    /** {@code takeover --force}: the highest priority, held even while not in sync. */
    FORCED_ACTIVE
}
