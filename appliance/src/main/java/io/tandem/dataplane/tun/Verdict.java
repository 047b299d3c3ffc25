package io.tandem.dataplane.tun;

/** What to do with a processed packet. */
public enum Verdict {
    /** Rewritten in place; write it back to the device for the kernel to route. */
    FORWARD,
    /** Turned into an answer (an echo reply) in place; write it back. */
    REPLY,
    /** Dropped; the handler says why, and it was counted. */
    DROP,
    /** Kept by the handler for later (a fragment that came before its first): not written now; {@link PacketHandler#nextReleased} lets it go. */
    HELD
}
