package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/**
 * Turns a TCP segment, in place, into the reset its sender must accept (RFC 793 §3.4, "Reset
 * Generation"): if the segment carries an ACK, the reset takes its sequence number from that
 * acknowledgment; otherwise its sequence number is zero and it acknowledges the segment (its
 * sequence number plus its length, SYN and FIN counted). Addresses and ports are swapped, the
 * payload dropped, both checksums computed afresh.
 */
public final class TcpReset {
    private static final int TCP_HEADER = 20;

    private TcpReset() {
    }

    public static void turnIntoReset(PacketHeaders h) {
        if (h.isIpv6()) {
            turnIntoReset6(h);
            return;
        }
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        int l4 = h.l4Offset();
        int src = h.srcAddress();
        int dst = h.dstAddress();
        int srcPort = h.srcPort();
        int dstPort = h.dstPort();
        int flags = h.tcpFlags();
        long seq = buf.getUnsignedInt(l4 + 4);
        long ack = buf.getUnsignedInt(l4 + 8);
        int dataOffset = (buf.getUnsignedByte(l4 + 12) >>> 4) * 4;
        int payload = h.l4Length() - dataOffset;
        int ipHeader = l4 - ip;

        buf.setInt(ip + PacketHeaders.IP_SRC, dst);
        buf.setInt(ip + PacketHeaders.IP_DST, src);
        buf.setShort(ip + PacketHeaders.IP_TOTAL_LENGTH, ipHeader + TCP_HEADER);
        buf.setShort(ip + PacketHeaders.IP_FRAGMENT, 0x4000); // DF, no fragment
        buf.setByte(ip + PacketHeaders.IP_TTL, IcmpEcho.REPLY_TTL);
        buf.setShort(ip + PacketHeaders.IP_CHECKSUM, 0);
        buf.setShort(ip + PacketHeaders.IP_CHECKSUM, Checksum.compute(buf, ip, ipHeader));

        writeResetHeader(buf, l4, srcPort, dstPort, flags, seq, ack, payload);
        buf.setShort(l4 + PacketHeaders.TCP_CHECKSUM, Checksum.computeL4(buf, dst, src, Ipv4.PROTO_TCP, l4, TCP_HEADER));
        buf.writerIndex(l4 + TCP_HEADER);
    }

    /**
     * The IPv6 reset: a fresh 40-byte header (any extension headers dropped: the reset needs
     * none), addresses swapped, hop limit {@link IcmpEcho#REPLY_TTL}, the TCP header right after.
     */
    private static void turnIntoReset6(PacketHeaders h) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        int l4 = h.l4Offset();
        long srcHigh = h.src6High();
        long srcLow = h.src6Low();
        long dstHigh = h.dst6High();
        long dstLow = h.dst6Low();
        int srcPort = h.srcPort();
        int dstPort = h.dstPort();
        int flags = h.tcpFlags();
        long seq = buf.getUnsignedInt(l4 + 4);
        long ack = buf.getUnsignedInt(l4 + 8);
        int dataOffset = (buf.getUnsignedByte(l4 + 12) >>> 4) * 4;
        int payload = h.l4Length() - dataOffset;

        buf.setInt(ip, 6 << 28); // version 6, traffic class and flow label 0
        buf.setShort(ip + 4, TCP_HEADER);
        buf.setByte(ip + 6, Ipv4.PROTO_TCP);
        buf.setByte(ip + PacketHeaders.IP6_HOP_LIMIT, IcmpEcho.REPLY_TTL);
        buf.setLong(ip + PacketHeaders.IP6_SRC, dstHigh);
        buf.setLong(ip + PacketHeaders.IP6_SRC + 8, dstLow);
        buf.setLong(ip + PacketHeaders.IP6_DST, srcHigh);
        buf.setLong(ip + PacketHeaders.IP6_DST + 8, srcLow);

        int tcp = ip + Ipv6.HEADER_LENGTH;
        writeResetHeader(buf, tcp, srcPort, dstPort, flags, seq, ack, payload);
        buf.setShort(tcp + PacketHeaders.TCP_CHECKSUM,
                Checksum.computeL4v6(buf, dstHigh, dstLow, srcHigh, srcLow, Ipv4.PROTO_TCP, tcp, TCP_HEADER));
        buf.writerIndex(tcp + TCP_HEADER);
    }

    /**
     * The reset's 20-byte TCP header at {@code at}, ports swapped: RST with the segment's ACK as
     * its sequence number, or RST|ACK acknowledging the segment; window 0, checksum 0 (the caller
     * computes it).
     */
    private static void writeResetHeader(ByteBuf buf, int at, int srcPort, int dstPort, int flags, long seq, long ack, int payload) {
        buf.setShort(at, dstPort);
        buf.setShort(at + 2, srcPort);
        if ((flags & TcpFlags.ACK) != 0) {
            buf.setInt(at + 4, (int) ack);
            buf.setInt(at + 8, 0);
            buf.setByte(at + 13, TcpFlags.RST);
        } else {
            long acknowledged = seq + payload + ((flags & TcpFlags.SYN) != 0 ? 1 : 0) + ((flags & TcpFlags.FIN) != 0 ? 1 : 0);
            buf.setInt(at + 4, 0);
            buf.setInt(at + 8, (int) acknowledged);
            buf.setByte(at + 13, TcpFlags.RST | TcpFlags.ACK);
        }
        buf.setByte(at + 12, (TCP_HEADER / 4) << 4);
        buf.setInt(at + 14, 0); // window 0, checksum 0
        buf.setShort(at + 18, 0); // urgent pointer
    }
}
