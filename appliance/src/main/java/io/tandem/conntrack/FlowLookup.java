package io.tandem.conntrack;

/**
 * The result of a {@link FlowTable#lookup}, for the packet path: which flow (slot and
 * generation, so a stale lookup never changes a reused slot), which direction the packet
 * travels, whether it is marked for reset, and the flow's fields copied out consistently.
 * Reused per event loop.
 */
public final class FlowLookup extends FlowFields {
    int flowId;
    int generation;
    FlowDirection direction;
    boolean resetPending;

    public int flowId() {
        return flowId;
    }

    public int generation() {
        return generation;
    }

    public FlowDirection direction() {
        return direction;
    }

    /** Its backend failed and its service resets such flows: answer the client with a RST. */
    public boolean resetPending() {
        return resetPending;
    }
}
