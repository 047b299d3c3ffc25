package io.tandem.conntrack;

/** What a TCP segment is to its flow's sequence window ({@link FlowTable#checkSegment}). */
public enum SegmentCheck {
    /** In the window, or from a side whose start was not seen: it counts. */
    IN_WINDOW,
    /** Outside the window: a RST or FIN is dropped and counted; any other segment passes without effect. */
    OUT_OF_WINDOW,
    /** A RST in the window that does not start where the sender's next segment would: passed to the endpoint, which challenges it; the flow stays. */
    RST_NOT_EXACT,
    /**
     * The client's ACK during the handshake that does not acknowledge the backend's ISN + 1: a
     * blind spoofer's. It reaches the backend (which resets it) but does not move the flow.
     */
    ACK_NOT_ACCEPTABLE
}
