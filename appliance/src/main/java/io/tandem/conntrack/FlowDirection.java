package io.tandem.conntrack;

/** Which of a flow's two tuples a packet matched. */
public enum FlowDirection {
    /** Client to VIP: the direction that created the flow. */
    ORIGINAL,
    /** Backend to SNAT address. */
    REPLY
}
