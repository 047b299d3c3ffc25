package io.tandem.conntrack;

/**
 * What the flow table asks of the in-kernel fast path about the flows it carries (the table
 * marks them, {@link FlowTable#markFast}): to forget one that ended here, and, before it expires
 * one as idle, when the kernel last forwarded a packet of it — those packets never reach the
 * engine, so the engine's own idle time says nothing about them. Called under the table's write
 * lock; must not call back into the table.
 */
public interface FastPathHook {
    /**
     * A decided flow (TCP established, UDP a stream) that came from the peer: install it, so this
     * box's fast path already carries it when the addresses move here. False: no room (it stays
     * on the slow path).
     */
    boolean install(FlowFields flow);

    /** The flow in {@code flow} ended (expired, removed, replaced): its entries go (or its reply tuple's claim). */
    void removed(FlowFields flow);

    /**
     * The flow in {@code flow} gave its original tuple to a flow the kernel created for it (its
     * kernel entry is the new flow's now): only its own reply tuple's entry, or claim, goes.
     */
    default void replyReleased(FlowFields flow) {
    }

    /**
     * The flow leaves the fast path but not the table (its packets must reach the engine: a reset
     * it owes the client): its entries go, and its reply tuple stays claimed for it.
     */
    default void handedBack(FlowFields flow) {
        removed(flow);
    }

    /** When the fast path last forwarded a packet of the flow, in epoch milliseconds; 0 if never or unknown. */
    long lastForwardedMillis(FlowFields flow);

    /**
     * Whether the fast path forwarded segments of the TCP flow both ways past its handshake (two
     * or more packets each way): its data went through the kernel, not the engine, so the
     * engine's own view cannot say it was confirmed.
     */
    boolean carriedBothWays(FlowFields flow);

    /**
     * For a TCP flow: the sequence number after the last segment the fast path forwarded from
     * the client ({@code fromClient}) or from the backend, as an unsigned 32-bit value; -1 if it
     * forwarded none. The engine judges a RST or FIN by it (RFC 5961) once segments bypassed it.
     */
    long sequenceEnd(FlowFields flow, boolean fromClient);

    /**
     * The engine judged a segment the fast path passed on (it started too far past where the
     * kernel last saw its side) and it counted: that side now stands at {@code end} (unsigned 32
     * bits), and the kernel's entry follows.
     */
    void sequenceAdvanced(FlowFields flow, boolean fromClient, long end);
}
