package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/** Turns an ICMP echo request into its reply in place (RFC 792), checksums updated incrementally. */
public final class IcmpEcho {
    /** TTL of the replies we originate, as Linux's default. */
    public static final int REPLY_TTL = 64;

    private IcmpEcho() {
    }

    public static void turnIntoReply(PacketHeaders h) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        // Swapping source and destination leaves the one's-complement sum unchanged.
        buf.setInt(ip + PacketHeaders.IP_SRC, h.dstAddress());
        buf.setInt(ip + PacketHeaders.IP_DST, h.srcAddress());
        int oldTtlProto = buf.getUnsignedShort(ip + PacketHeaders.IP_TTL);
        int newTtlProto = REPLY_TTL << 8 | h.protocol();
        buf.setShort(ip + PacketHeaders.IP_TTL, newTtlProto);
        NatRewriter.patch(buf, ip + PacketHeaders.IP_CHECKSUM, NatRewriter.delta16(oldTtlProto, newTtlProto), false);

        int l4 = h.l4Offset();
        int oldTypeCode = buf.getUnsignedShort(l4);
        int newTypeCode = PacketHeaders.ICMP_ECHO_REPLY << 8 | h.icmpCode();
        buf.setShort(l4, newTypeCode);
        // An ICMP checksum has no pseudo-header: a reply of all-zero words (id 0, seq 0, no data)
        // needs -0, which the incremental update would give as +0 (found by fuzzing).
        NatRewriter.patch(buf, l4 + PacketHeaders.ICMP_CHECKSUM, NatRewriter.delta16(oldTypeCode, newTypeCode), true);
    }
}
