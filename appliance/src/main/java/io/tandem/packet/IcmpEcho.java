package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/** Turns an ICMP (RFC 792) or ICMPv6 (RFC 4443) echo request into its reply in place, checksums updated incrementally. */
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

    /**
     * The ICMPv6 echo reply (RFC 4443 §4.2) in place: addresses swapped (the pseudo-header's sum
     * does not change), hop limit set, type 128 → 129. The ICMPv6 checksum has a pseudo-header,
     * so it is never all zero words; -0 is still written for +0 as for ICMP.
     */
    public static void turnIntoReply6(PacketHeaders h) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        NatRewriter.rewriteAddresses6(h, h.dst6High(), h.dst6Low(), h.src6High(), h.src6Low());
        buf.setByte(ip + PacketHeaders.IP6_HOP_LIMIT, REPLY_TTL); // no header checksum to patch
        int l4 = h.l4Offset();
        int oldTypeCode = buf.getUnsignedShort(l4);
        int newTypeCode = Ipv6.ICMPV6_ECHO_REPLY << 8 | h.icmpCode();
        buf.setShort(l4, newTypeCode);
        NatRewriter.patch(buf, l4 + PacketHeaders.ICMP_CHECKSUM, NatRewriter.delta16(oldTypeCode, newTypeCode), true);
    }
}
