package io.tandem.conntrack;

/**
 * Receives every change of the flow table, on the thread that made it (an event loop, or the
 * expiry timer), sometimes while the table's write lock is held: implementations must not
 * block and must copy what they keep, since {@code flow} is reused after the call.
 */
@FunctionalInterface
public interface FlowEventListener {
    FlowEventListener NONE = (type, flow) -> { };

    void onFlowEvent(FlowEventType type, FlowSnapshot flow);
}
