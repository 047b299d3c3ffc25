package io.tandem.conntrack;

/**
 * A flow's state. TCP states follow Linux conntrack's names (nf_conntrack_proto_tcp.c),
 * with LAST_ACK folded into TIME_WAIT. A flow is <em>embryonic</em> (half-open) until it
 * has shown both ends are real: a TCP flow until the handshake's last ACK, a UDP flow until a
 * packet follows the first reply ({@link #UDP_REPLIED} to {@link #UDP_ASSURED}, as Linux sets
 * IPS_ASSURED only for a UDP stream). Half-open flows count against the half-open cap and are
 * the ones early drop evicts: a spoofed UDP flood that a backend answers stays there instead
 * of filling the table. Codes are ordinals and travel to the peer: add states at the end.
 */
public enum FlowState {
    FREE(false),
    TCP_SYN_SENT(true),
    TCP_SYN_RECV(true),
    TCP_ESTABLISHED(false),
    TCP_FIN_WAIT(false),
    TCP_CLOSE_WAIT(false),
    TCP_TIME_WAIT(false),
    TCP_CLOSED(false),
    UDP_UNREPLIED(true),
    UDP_ASSURED(false),
    /** A reply seen, nothing after it yet: a single exchange (DNS) or the answer to a spoofed probe. */
    UDP_REPLIED(true);

    private static final FlowState[] BY_CODE = values();

    private final boolean embryonic;

    FlowState(boolean embryonic) {
        this.embryonic = embryonic;
    }

    /**
     * Whether the in-kernel fast path carries a flow in this state: a TCP flow established and
     * until it leaves the table, closing included — the program reports the FINs that move it —
     * and a UDP flow from its first datagram (the program creates those itself, one-way flows
     * included: issue 30). Not after a RST (CLOSED): its stragglers go through the engine. A TCP
     * flow's handshake is in the kernel too when the program or the engine created it at its SYN,
     * the program reporting the handshake.
     */
    public boolean fastPathCarries() {
        return this == TCP_ESTABLISHED || this == TCP_FIN_WAIT || this == TCP_CLOSE_WAIT || this == TCP_TIME_WAIT || this == UDP_ASSURED
                || this == UDP_UNREPLIED || this == UDP_REPLIED;
    }

    public boolean embryonic() {
        return embryonic;
    }

    public int code() {
        return ordinal();
    }

    public static FlowState ofCode(int code) {
        return BY_CODE[code];
    }
}
