package io.tandem.conntrack;

/** What happened to a flow; state sync turns each into a replicated record. */
public enum FlowEventType {
    CREATED,
    STATE_CHANGED,
    /** Idle longer than its state's timeout. */
    EXPIRED,
    /** Removed on request (operator, peer's record, reload). */
    REMOVED
}
