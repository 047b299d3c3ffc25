package io.tandem.conntrack;

/**
 * A flow's state. TCP states follow Linux conntrack's names (nf_conntrack_proto_tcp.c),
 * with LAST_ACK folded into TIME_WAIT. A flow is <em>embryonic</em> until its reply
 * direction has been seen; those count against the separate half-open cap.
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
    UDP_ASSURED(false);

    private static final FlowState[] BY_CODE = values();

    private final boolean embryonic;

    FlowState(boolean embryonic) {
        this.embryonic = embryonic;
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
