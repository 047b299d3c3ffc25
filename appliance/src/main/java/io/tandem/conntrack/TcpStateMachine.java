package io.tandem.conntrack;

import io.tandem.packet.TcpFlags;

/**
 * TCP state tracking from the flags of each segment and its direction, a simplification of
 * Linux conntrack's table (no sequence-window tracking). {@code finFromReply} records which
 * side closed first, so the other side's FIN is recognised.
 */
public final class TcpStateMachine {
    private TcpStateMachine() {
    }

    /** The state after a segment with {@code flags} in {@code direction}. */
    public static FlowState next(FlowState state, int flags, FlowDirection direction, boolean finFromReply) {
        boolean reply = direction == FlowDirection.REPLY;
        if (TcpFlags.has(flags, TcpFlags.RST)) {
            return FlowState.TCP_CLOSED;
        }
        boolean syn = TcpFlags.has(flags, TcpFlags.SYN);
        boolean ack = TcpFlags.has(flags, TcpFlags.ACK);
        boolean fin = TcpFlags.has(flags, TcpFlags.FIN);
        return switch (state) {
            case TCP_SYN_SENT -> reply && syn && ack ? FlowState.TCP_SYN_RECV : state;
            case TCP_SYN_RECV -> !reply && ack && !syn ? (fin ? FlowState.TCP_FIN_WAIT : FlowState.TCP_ESTABLISHED) : state;
            case TCP_ESTABLISHED -> fin ? FlowState.TCP_FIN_WAIT : state;
            case TCP_FIN_WAIT -> {
                boolean otherSide = reply != finFromReply;
                if (otherSide && fin) {
                    yield FlowState.TCP_TIME_WAIT;
                }
                yield otherSide && ack ? FlowState.TCP_CLOSE_WAIT : state;
            }
            case TCP_CLOSE_WAIT -> reply != finFromReply && fin ? FlowState.TCP_TIME_WAIT : state;
            // A new SYN on a finished flow is a new connection: the engine replaces the record
            // (PacketProcessor), so TIME_WAIT and CLOSED only ever end here.
            default -> state;
        };
    }

    /** True if this transition is the one that first saw a FIN (so its direction is recorded). */
    public static boolean firstFin(FlowState before, FlowState after) {
        return after == FlowState.TCP_FIN_WAIT && before != FlowState.TCP_FIN_WAIT;
    }
}
