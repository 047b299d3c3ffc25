package io.tandem.conntrack;

import io.tandem.packet.PacketHeaders;
import io.tandem.packet.TcpFlags;

/**
 * Per-flow TCP sequence tracking, so that a RST or FIN from outside a connection's window —
 * a blind attack (RFC 5961 §1) — is not taken for the end of the connection. Modelled on
 * Linux conntrack's {@code tcp_in_window}, reduced to what the check needs:
 *
 * <ul>
 *   <li>for each side, the end of the sequence space it has sent ({@code end}: the highest
 *       {@code seq + len} of an in-window segment, SYN and FIN counting one);</li>
 *   <li>for each side, the receive window the other side last offered it, with the window
 *       scale shifts both sides announced in their SYNs (RFC 7323 §2.2).</li>
 * </ul>
 *
 * A segment from side {@code s} is in the window when its sequence range touches
 * {@code [end(s) - span, end(s) + span]}, span being the offered window (at least 64 KiB: the
 * tracker sees the window late and sees only what passes it). A RST is honoured only when it
 * is in the window <em>and</em> starts exactly at {@code end(s)}, where a real stack's RST
 * starts (RFC 5961 §3.2); an in-window RST elsewhere passes to the endpoint, which answers it
 * with a challenge ACK, and the flow stays. Out-of-window RSTs and FINs are dropped.
 *
 * <p>A side whose start was not seen — a flow installed from the peer, or one picked up after
 * a takeover — is learned from its first segment (as {@code nf_conntrack_tcp_loose} does):
 * until then its RSTs are honoured. The state is local: it is not replicated.
 *
 * <p>The handshake's last ACK must acknowledge the backend's ISN + 1, as Linux conntrack
 * requires ({@code tcp_in_window}'s ack check): a blind spoofer who sends a SYN and then an ACK
 * at the right sequence number but a guessed acknowledgment never saw the SYN-ACK, and its ACK
 * must not establish the flow ({@link SegmentCheck#ACK_NOT_ACCEPTABLE}). That ACK still reaches
 * the backend, which answers it with a RST whose sequence number is the ACK's acknowledgment
 * (RFC 9293 §3.10.7.4): that RST is honoured and ends the half-open flow, as conntrack honours
 * a RST at the last ignored ACK's number.
 *
 * <p>Whether each side carried data is noted too: an established flow that never carried data
 * both ways expires after the short {@code tcp_unconfirmed} timeout ({@link #confirmed}).
 *
 * <p>Storage: 18 bytes a flow in parallel arrays indexed by slot (two per slot for the two
 * sides). Written without locks by the event loops that see the flow's packets; a lost race
 * costs at most a slightly older {@code end}, which the span absorbs.
 */
final class TcpWindows {
    /** Bytes a flow: two ends, two windows, the shifts and the known bits. */
    static final int BYTES_PER_SLOT = 2 * 4 + 2 * 2 + 1 + 1 + 4;
    private static final int MIN_SPAN = 65_535;
    private static final int NO_SCALE = PacketHeaders.NO_WINDOW_SCALE;
    private static final int ANSWERED_SYN_WITH_ACK = 4;
    /** The client sent an ACK during the handshake that the backend may answer with a RST at its acknowledgment. */
    private static final int ANSWERABLE_ACK = 8;
    /** The client's side carried data; the backend's is the next bit. */
    private static final int CLIENT_DATA = 16;
    private static final int BOTH_DATA = CLIENT_DATA | CLIENT_DATA << 1;

    private final int[] end;
    private final char[] window;
    /** Low nibble: the client's shift, high nibble: the backend's; {@code NO_SCALE} when not offered. */
    private final byte[] shifts;
    /**
     * Bit 0: the client's end is known; bit 1: the backend's; bit 2: in SYN_SENT the backend
     * answered with a bare ACK (its slot in {@code end} then holds that ACK's number); bit 3:
     * {@code answerableAck} holds the client's last handshake ACK's acknowledgment; bits 4 and 5:
     * the client, the backend sent data.
     */
    private final byte[] known;
    /** The acknowledgment number of the client's last ACK during the handshake (bit 3 of {@code known}). */
    private final int[] answerableAck;

    TcpWindows(int capacity) {
        end = new int[capacity * 2];
        window = new char[capacity * 2];
        shifts = new byte[capacity];
        known = new byte[capacity];
        answerableAck = new int[capacity];
    }

    /** Forgets a slot's tracking (a new flow in it). */
    void clear(int slot) {
        known[slot] = 0;
        shifts[slot] = (byte) (NO_SCALE << 4 | NO_SCALE);
        window[2 * slot] = 0;
        window[2 * slot + 1] = 0;
    }

    /**
     * After segments bypassed the engine (the fast path): each side stands at the end the kernel
     * last saw it at ({@code clientEnd}, {@code backendEnd}; -1: unknown, learned again from that
     * side's next segment); the windows, scales and what the handshake noted are kept. Both sides
     * resume, not only the sender's: the handshake's ACK is judged against the backend's ISN + 1,
     * which the kernel holds once the SYN-ACK went by it.
     */
    void resume(int slot, long clientEnd, long backendEnd) {
        known[slot] &= (byte) ~(1 | 2);
        if (clientEnd >= 0) {
            end[2 * slot] = (int) clientEnd;
            known[slot] |= 1;
        }
        if (backendEnd >= 0) {
            end[2 * slot + 1] = (int) backendEnd;
            known[slot] |= 2;
        }
    }

    /**
     * Whether the flow carried data both ways (as this box saw it): until then an established
     * flow has only the short {@code tcp_unconfirmed} timeout.
     */
    boolean confirmed(int slot) {
        return (known[slot] & BOTH_DATA) == BOTH_DATA;
    }

    /**
     * Counts the flow as having carried data both ways: a flow installed from the peer or adopted
     * from the kernel (the engine did not see its segments), or one the fast path saw both sides
     * of.
     */
    void confirm(int slot) {
        known[slot] |= (byte) BOTH_DATA;
    }

    /** The client's SYN, seen by the fast path's program, which created the flow: its side starts there. */
    void synReported(int slot, int seq, int offeredWindow, int shift) {
        start(slot, 0, seq + 1, shift, offeredWindow);
    }

    /**
     * The backend's SYN-ACK, seen by the fast path and reported (not by the engine): its side
     * starts at {@code seq} + 1 with the window it offered and its window scale
     * ({@code PacketHeaders.NO_WINDOW_SCALE} if none), as {@link #check} would start it.
     */
    void synAckReported(int slot, int seq, int offeredWindow, int shift) {
        start(slot, 1, seq + 1, shift, offeredWindow);
    }

    /**
     * {@code sender}'s side starts at {@code sideEnd} with its window scale, offering the other
     * side {@code offeredWindow} — a SYN's window, which is never scaled (RFC 7323 §2.2): it is
     * kept in the units of {@code sender}'s scale (rounded up), so {@link #span} scales it back.
     * Kept raw, it would count 2^shift times too wide (8 MB for Linux's 64,240 and shift 7) until
     * the engine saw a later segment — never, for a flow the fast path carries.
     */
    private void start(int slot, int sender, int sideEnd, int shift, int offeredWindow) {
        end[2 * slot + sender] = sideEnd;
        known[slot] |= (byte) (1 << sender);
        int others = shifts[slot] & (sender == 0 ? 0xF0 : 0x0F);
        shifts[slot] = (byte) (others | (sender == 0 ? shift : shift << 4));
        window[2 * slot + 1 - sender] = (char) (shift == NO_SCALE ? offeredWindow : (offeredWindow + (1 << shift) - 1) >>> shift);
    }

    /** Where {@code sender}'s side stands ({@code end}, unsigned), or -1 if its start was not seen. */
    long knownEnd(int slot, int sender) {
        return (known[slot] & (1 << sender)) != 0 ? end[2 * slot + sender] & 0xFFFFFFFFL : -1;
    }

    /**
     * Checks a segment of the flow in {@code slot} sent by side {@code sender} (0: client,
     * 1: backend) while the flow is in {@code state}, and records it if it counts.
     *
     * @return what the segment is to the flow
     */
    SegmentCheck check(int slot, int sender, FlowState state, PacketHeaders h) {
        int flags = h.tcpFlags();
        int seq = h.tcpSeq();
        int segmentEnd = seq + h.tcpSequenceLength();
        int s = 2 * slot + sender;
        int senderBit = 1 << sender;
        if (TcpFlags.has(flags, TcpFlags.SYN)) {
            return opening(slot, sender, state, h, segmentEnd);
        }
        boolean handshake = state == FlowState.TCP_SYN_SENT || state == FlowState.TCP_SYN_RECV;
        if (handshake) {
            SegmentCheck answer = duringTheHandshake(slot, sender, flags, h);
            if (answer != null) {
                return answer;
            }
        }
        if (state == FlowState.TCP_SYN_SENT && (known[slot] & 2) == 0) {
            SegmentCheck answer = beforeTheSynAck(slot, sender, flags, h);
            if (answer != null) {
                return answer;
            }
        }
        if ((known[slot] & senderBit) == 0) {
            if (sender == 1 && state == FlowState.TCP_SYN_SENT && TcpFlags.has(flags, TcpFlags.RST)) {
                // The backend refuses the SYN: its RST must acknowledge it (RFC 9293 §3.10.7.3).
                boolean acksSyn = TcpFlags.has(flags, TcpFlags.ACK) && (known[slot] & 1) != 0 && h.tcpAck() == end[2 * slot];
                return acksSyn || (known[slot] & 1) == 0 ? SegmentCheck.IN_WINDOW : SegmentCheck.OUT_OF_WINDOW;
            }
            end[s] = segmentEnd; // picked up mid-stream
            known[slot] |= (byte) senderBit;
            learnWindow(slot, sender, h);
            return SegmentCheck.IN_WINDOW;
        }
        int expected = end[s];
        int span = span(slot, sender);
        boolean inWindow = segmentEnd - (expected - span) >= 0 && (expected + span) - seq >= 0;
        if (!inWindow) {
            return SegmentCheck.OUT_OF_WINDOW;
        }
        if (TcpFlags.has(flags, TcpFlags.RST)) {
            return seq == expected ? SegmentCheck.IN_WINDOW : SegmentCheck.RST_NOT_EXACT;
        }
        if (segmentEnd - expected > 0) {
            end[s] = segmentEnd;
        }
        if (segmentEnd - seq - (TcpFlags.has(flags, TcpFlags.FIN) ? 1 : 0) > 0) {
            known[slot] |= (byte) (CLIENT_DATA << sender);
        }
        learnWindow(slot, sender, h);
        return SegmentCheck.IN_WINDOW;
    }

    /**
     * The handshake's ACK (SYN_SENT or SYN_RECV): a client ACK must acknowledge the backend's ISN
     * + 1 once the SYN-ACK was seen, and its acknowledgment is remembered, so the backend's RST
     * answering a wrong one (its sequence number that acknowledgment) is honoured. Returns null
     * for segments this does not concern.
     */
    private SegmentCheck duringTheHandshake(int slot, int sender, int flags, PacketHeaders h) {
        if (sender == 0 && TcpFlags.has(flags, TcpFlags.ACK) && !TcpFlags.has(flags, TcpFlags.RST)) {
            answerableAck[slot] = h.tcpAck();
            known[slot] |= ANSWERABLE_ACK;
            boolean synAckSeen = (known[slot] & 2) != 0;
            return synAckSeen && h.tcpAck() != end[2 * slot + 1] ? SegmentCheck.ACK_NOT_ACCEPTABLE : null;
        }
        if (sender == 1 && TcpFlags.has(flags, TcpFlags.RST) && (known[slot] & ANSWERABLE_ACK) != 0
                && h.tcpSeq() == answerableAck[slot]) {
            return SegmentCheck.IN_WINDOW;
        }
        return null;
    }

    /**
     * Before the SYN-ACK, a backend that still holds the tuple in TIME_WAIT answers the SYN with
     * a bare ACK of the old connection (RFC 9293 §3.10.7.4), and the client resets it with that
     * ACK's number as its sequence (RFC 9293 §3.5.2) so the backend drops the old connection and
     * accepts the SYN's retransmission: that RST is honoured. Without it a backend's TIME_WAIT
     * would hold a reused tuple hostage. Returns null for segments this does not concern.
     */
    private SegmentCheck beforeTheSynAck(int slot, int sender, int flags, PacketHeaders h) {
        if (sender == 1 && !TcpFlags.has(flags, TcpFlags.RST) && TcpFlags.has(flags, TcpFlags.ACK)) {
            end[2 * slot + 1] = h.tcpAck(); // the backend's side is not tracked before its SYN-ACK: the slot is free
            known[slot] |= ANSWERED_SYN_WITH_ACK;
            return SegmentCheck.IN_WINDOW;
        }
        if (sender == 0 && TcpFlags.has(flags, TcpFlags.RST) && (known[slot] & ANSWERED_SYN_WITH_ACK) != 0
                && h.tcpSeq() == end[2 * slot + 1]) {
            return SegmentCheck.IN_WINDOW;
        }
        return null;
    }

    /**
     * A SYN: the client's (in SYN_SENT, retransmissions included) or the backend's SYN-ACK (in
     * SYN_SENT or SYN_RECV) starts that side's tracking. A SYN at any other time starts nothing —
     * else a spoofed SYN could move the window to where a spoofed RST then lands.
     */
    private SegmentCheck opening(int slot, int sender, FlowState state, PacketHeaders h, int segmentEnd) {
        boolean starts = sender == 0 ? state == FlowState.TCP_SYN_SENT
                : state == FlowState.TCP_SYN_SENT || state == FlowState.TCP_SYN_RECV;
        if (!starts) {
            return SegmentCheck.IN_WINDOW; // passed to the endpoint, which answers with a challenge ACK (RFC 5961 §4)
        }
        start(slot, sender, segmentEnd, h.tcpWindowScale(), h.tcpWindow()); // a SYN always offers its window
        return SegmentCheck.IN_WINDOW;
    }

    /** The sender's segment offers the other side its receive window. */
    private void learnWindow(int slot, int sender, PacketHeaders h) {
        if (TcpFlags.has(h.tcpFlags(), TcpFlags.ACK) || TcpFlags.has(h.tcpFlags(), TcpFlags.SYN)) {
            window[2 * slot + 1 - sender] = (char) h.tcpWindow();
        }
    }

    /** How far from its end a segment of {@code sender} may lie: the window offered to it, scaled. */
    private int span(int slot, int sender) {
        int bits = shifts[slot] & 0xFF;
        int clientShift = bits & 0x0F;
        int backendShift = bits >>> 4;
        boolean scaled = clientShift != NO_SCALE && backendShift != NO_SCALE;
        // The window offered to the sender was sent, and scaled, by the other side.
        int shift = scaled ? (sender == 0 ? backendShift : clientShift) : 0;
        long offered = (long) window[2 * slot + sender] << shift;
        return (int) Math.min(Math.max(offered, MIN_SPAN), 1L << 30);
    }
}
