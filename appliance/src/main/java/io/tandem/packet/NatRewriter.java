package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/**
 * Rewrites addresses and ports of a parsed packet in place and patches the IPv4 header
 * checksum and the TCP/UDP checksum incrementally (RFC 1624): the L4 checksum covers the
 * pseudo-header, so an address change touches both. A UDP checksum of zero means "none"
 * (RFC 768) and stays zero; a computed zero is sent as 0xFFFF. A partial checksum (offload)
 * follows the pseudo-header only.
 */
public final class NatRewriter {
    private NatRewriter() {
    }

    /** Full NAT of a first fragment or unfragmented TCP/UDP packet. */
    public static void rewrite(PacketHeaders h, int newSrc, int newSrcPort, int newDst, int newDstPort) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        int addressDelta = delta32(h.srcAddress(), newSrc) + delta32(h.dstAddress(), newDst);
        buf.setLong(ip + PacketHeaders.IP_SRC, (long) newSrc << 32 | (newDst & 0xFFFFFFFFL)); // source and destination are adjacent
        buf.setShort(ip + PacketHeaders.IP_CHECKSUM, apply(h.ipChecksum(), addressDelta));

        int l4 = h.l4Offset();
        int portDelta = delta16(h.srcPort(), newSrcPort) + delta16(h.dstPort(), newDstPort);
        buf.setInt(l4, newSrcPort << 16 | newDstPort);
        if (h.partialChecksum()) {
            // The field holds the pseudo-header's sum, uncomplemented (Linux CHECKSUM_PARTIAL):
            // addresses are in it, ports are not — the kernel sums those with the segment.
            int at = l4 + (h.protocol() == Ipv4.PROTO_TCP ? PacketHeaders.TCP_CHECKSUM : PacketHeaders.UDP_CHECKSUM);
            buf.setShort(at, Checksum.fold(buf.getUnsignedShort(at) + (long) addressDelta));
        } else if (h.protocol() == Ipv4.PROTO_TCP) {
            patch(buf, l4 + PacketHeaders.TCP_CHECKSUM, addressDelta + portDelta, false);
        } else if (buf.getUnsignedShort(l4 + PacketHeaders.UDP_CHECKSUM) != 0) {
            patch(buf, l4 + PacketHeaders.UDP_CHECKSUM, addressDelta + portDelta, true);
        }
    }

    /**
     * Address-only rewrite for second and later fragments: their transport checksum was
     * already adjusted, pseudo-header included, in the first fragment.
     */
    public static void rewriteAddresses(PacketHeaders h, int newSrc, int newDst) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        int addressDelta = delta32(h.srcAddress(), newSrc) + delta32(h.dstAddress(), newDst);
        buf.setLong(ip + PacketHeaders.IP_SRC, (long) newSrc << 32 | (newDst & 0xFFFFFFFFL));
        buf.setShort(ip + PacketHeaders.IP_CHECKSUM, apply(h.ipChecksum(), addressDelta));
    }

    /**
     * Full NAT66 of a first fragment or unfragmented TCP/UDP packet. IPv6 has no header
     * checksum; the transport checksum covers both 128-bit addresses, so each contributes its
     * eight words to the delta. UDP's checksum is mandatory over IPv6 (RFC 8200 §8.1): a
     * result of +0 is sent as -0.
     */
    public static void rewrite6(PacketHeaders h, long newSrcHigh, long newSrcLow, int newSrcPort,
                                long newDstHigh, long newDstLow, int newDstPort) {
        ByteBuf buf = h.buffer();
        int ip = h.ipOffset();
        int addressDelta = delta128(h.src6High(), h.src6Low(), newSrcHigh, newSrcLow)
                + delta128(h.dst6High(), h.dst6Low(), newDstHigh, newDstLow);
        writeAddresses6(buf, ip, newSrcHigh, newSrcLow, newDstHigh, newDstLow);

        int l4 = h.l4Offset();
        int portDelta = delta16(h.srcPort(), newSrcPort) + delta16(h.dstPort(), newDstPort);
        buf.setInt(l4, newSrcPort << 16 | newDstPort);
        int at = l4 + (h.protocol() == Ipv4.PROTO_TCP ? PacketHeaders.TCP_CHECKSUM : PacketHeaders.UDP_CHECKSUM);
        if (h.partialChecksum()) {
            buf.setShort(at, Checksum.fold(buf.getUnsignedShort(at) + (long) addressDelta)); // as in rewrite
        } else {
            patch(buf, at, addressDelta + portDelta, h.protocol() == Ipv4.PROTO_UDP);
        }
    }

    /** Address-only NAT66 of second and later fragments (no header checksum to patch: IPv6 has none). */
    public static void rewriteAddresses6(PacketHeaders h, long newSrcHigh, long newSrcLow, long newDstHigh, long newDstLow) {
        writeAddresses6(h.buffer(), h.ipOffset(), newSrcHigh, newSrcLow, newDstHigh, newDstLow);
    }

    private static void writeAddresses6(ByteBuf buf, int ip, long srcHigh, long srcLow, long dstHigh, long dstLow) {
        buf.setLong(ip + PacketHeaders.IP6_SRC, srcHigh);
        buf.setLong(ip + PacketHeaders.IP6_SRC + 8, srcLow);
        buf.setLong(ip + PacketHeaders.IP6_DST, dstHigh);
        buf.setLong(ip + PacketHeaders.IP6_DST + 8, dstLow);
    }

    /** As {@link #delta32} for a 128-bit field given as two halves: at most 16 × 0xFFFF, an int still. */
    public static int delta128(long oldHigh, long oldLow, long newHigh, long newLow) {
        return (int) (Checksum.words(~oldHigh) + Checksum.words(~oldLow) + Checksum.words(newHigh) + Checksum.words(newLow));
    }

    /** A checksum after adding a summed delta to its complement (RFC 1624 eqn. 3). */
    static int apply(int checksum, int delta) {
        return ~Checksum.fold((~checksum & 0xFFFF) + (long) delta) & 0xFFFF;
    }

    /**
     * The one's-complement difference {@code ~old + new} of a 32-bit field, to be added to
     * a checksum's complement (RFC 1624 eqn. 3). Sums of several deltas fit an int easily.
     */
    public static int delta32(int oldValue, int newValue) {
        return (~oldValue >>> 16 & 0xFFFF) + (~oldValue & 0xFFFF) + (newValue >>> 16) + (newValue & 0xFFFF);
    }

    /** As {@link #delta32} for a 16-bit field. */
    public static int delta16(int oldValue, int newValue) {
        return (~oldValue & 0xFFFF) + (newValue & 0xFFFF);
    }

    /**
     * Applies a summed delta to the checksum at {@code offset} and returns the old and new value
     * packed (old << 16 | new). With {@code neverZero} a result of +0 is written as -0 (0xFFFF):
     * UDP's zero means "no checksum" (RFC 768), and an ICMP message whose words are all zero
     * needs -0, which eqn. 3 turns into +0 — both verify wherever +0 would.
     */
    public static int patch(ByteBuf buf, int offset, int delta, boolean neverZero) {
        int old = buf.getUnsignedShort(offset);
        int updated = apply(old, delta);
        if (neverZero && updated == 0) {
            updated = 0xFFFF;
        }
        buf.setShort(offset, updated);
        return old << 16 | updated;
    }
}
