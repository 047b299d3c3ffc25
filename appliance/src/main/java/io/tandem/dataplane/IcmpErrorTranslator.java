package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.tandem.conntrack.FlowDirection;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.packet.DropReason;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.NatRewriter;
import io.tandem.packet.PacketHeaders;

/**
 * Translates an ICMP error (RFC 792 destination unreachable — fragmentation needed
 * included, RFC 1191 — and time exceeded) that concerns a tracked flow, as Linux's
 * nf_nat_icmp_reply_translation does: the embedded datagram is one that this box emitted,
 * so its reversed tuple is a packet of the flow arriving here. The embedded headers are
 * restored to what the other side sent, the outer destination becomes that side, and four
 * checksums follow incrementally: embedded IP, embedded TCP/UDP (when quoted), the ICMP
 * checksum over all of it, outer IP. The outer source (the router that complained) stays.
 *
 * <p>ICMPv6 errors (RFC 4443: destination unreachable, packet too big — routers never fragment
 * IPv6, so without it path-MTU discovery through the NAT fails, RFC 8201 — and time exceeded)
 * the same way; IPv6 has no header checksums, but the ICMPv6 checksum covers a pseudo-header
 * with the outer addresses, so the outer destination's change enters it too.
 */
final class IcmpErrorTranslator {
    private static final int ICMP_HEADER = 8;

    private IcmpErrorTranslator() {
    }

    /** @return null if translated in place, else why not */
    static DropReason translate(PacketHeaders outer, PacketHeaders inner, FlowTable flows, FlowLookup flow) {
        if (outer.isIpv6()) {
            return translate6(outer, inner, flows, flow);
        }
        ByteBuf buf = outer.buffer();
        int icmp = outer.l4Offset();
        int end = outer.ipOffset() + outer.totalLength();
        if (!inner.parseEmbedded(buf, icmp + ICMP_HEADER, end)) {
            return inner.malformation();
        }
        int protocol = inner.protocol();
        if (inner.isIpv6() || (protocol != Ipv4.PROTO_TCP && protocol != Ipv4.PROTO_UDP)) {
            return DropReason.ICMP_UNRELATED;
        }
        if (!flows.lookup(protocol, inner.dstAddress(), inner.srcAddress(), inner.dstPort(), inner.srcPort(), flow)) {
            return DropReason.ICMP_UNRELATED;
        }
        int innerSrc;
        int innerSrcPort;
        int innerDst;
        int innerDstPort;
        int outerDst;
        if (flow.direction() == FlowDirection.REPLY) {
            // We sent SNAT -> backend; a router on the back side answered to the SNAT address.
            if (outer.dstAddress() != flow.snatAddress()) {
                return DropReason.ICMP_UNRELATED;
            }
            innerSrc = flow.clientAddress();
            innerSrcPort = flow.clientPort();
            innerDst = flow.vipAddress();
            innerDstPort = flow.vipPort();
            outerDst = flow.clientAddress();
        } else {
            // We sent VIP -> client; a router on the front side answered to the VIP.
            if (outer.dstAddress() != flow.vipAddress()) {
                return DropReason.ICMP_UNRELATED;
            }
            innerSrc = flow.backendAddress();
            innerSrcPort = flow.backendPort();
            innerDst = flow.snatAddress();
            innerDstPort = flow.snatPort();
            outerDst = flow.backendAddress();
        }

        int ip = inner.ipOffset();
        int addressDelta = NatRewriter.delta32(inner.srcAddress(), innerSrc) + NatRewriter.delta32(inner.dstAddress(), innerDst);
        int portDelta = NatRewriter.delta16(inner.srcPort(), innerSrcPort) + NatRewriter.delta16(inner.dstPort(), innerDstPort);
        buf.setInt(ip + 12, innerSrc);
        buf.setInt(ip + 16, innerDst);
        int icmpDelta = addressDelta + portDelta + changed(NatRewriter.patch(buf, ip + 10, addressDelta, false));
        int l4 = inner.l4Offset();
        buf.setShort(l4, innerSrcPort);
        buf.setShort(l4 + 2, innerDstPort);
        if (protocol == Ipv4.PROTO_TCP) {
            if (l4 + 18 <= end) { // the TCP checksum is quoted only if more than 8 bytes were
                icmpDelta += changed(NatRewriter.patch(buf, l4 + 16, addressDelta + portDelta, false));
            }
        } else if (buf.getUnsignedShort(l4 + 6) != 0) {
            icmpDelta += changed(NatRewriter.patch(buf, l4 + 6, addressDelta + portDelta, true));
        }
        NatRewriter.patch(buf, icmp + 2, icmpDelta, false);

        int outerIp = outer.ipOffset();
        buf.setInt(outerIp + 16, outerDst);
        NatRewriter.patch(buf, outerIp + 10, NatRewriter.delta32(outer.dstAddress(), outerDst), false);
        return null;
    }

    private static DropReason translate6(PacketHeaders outer, PacketHeaders inner, FlowTable flows, FlowLookup flow) {
        ByteBuf buf = outer.buffer();
        int icmp = outer.l4Offset();
        int end = outer.ipOffset() + outer.totalLength();
        if (!inner.parseEmbedded(buf, icmp + ICMP_HEADER, end)) {
            return inner.malformation();
        }
        int protocol = inner.protocol();
        if (!inner.isIpv6() || (protocol != Ipv4.PROTO_TCP && protocol != Ipv4.PROTO_UDP)) {
            return DropReason.ICMP_UNRELATED;
        }
        Ipv6Addresses a = flows.ipv6Addresses();
        int quotedSrc = a.find(inner.src6High(), inner.src6Low());
        int quotedDst = a.find(inner.dst6High(), inner.dst6Low());
        int outerDstId = a.find(outer.dst6High(), outer.dst6Low());
        if (quotedSrc == Ipv6Addresses.NONE || quotedDst == Ipv6Addresses.NONE || outerDstId == Ipv6Addresses.NONE
                || !flows.lookup(FlowProtocol.of(protocol, true), quotedDst, quotedSrc, inner.dstPort(), inner.srcPort(), flow)) {
            return DropReason.ICMP_UNRELATED;
        }
        int innerSrc;
        int innerSrcPort;
        int innerDst;
        int innerDstPort;
        int outerDst;
        if (flow.direction() == FlowDirection.REPLY) {
            if (outerDstId != flow.snatAddress()) {
                return DropReason.ICMP_UNRELATED;
            }
            innerSrc = flow.clientAddress();
            innerSrcPort = flow.clientPort();
            innerDst = flow.vipAddress();
            innerDstPort = flow.vipPort();
            outerDst = flow.clientAddress();
        } else {
            if (outerDstId != flow.vipAddress()) {
                return DropReason.ICMP_UNRELATED;
            }
            innerSrc = flow.backendAddress();
            innerSrcPort = flow.backendPort();
            innerDst = flow.snatAddress();
            innerDstPort = flow.snatPort();
            outerDst = flow.backendAddress();
        }
        long srcHigh = a.high(innerSrc);
        long srcLow = a.low(innerSrc);
        long dstHigh = a.high(innerDst);
        long dstLow = a.low(innerDst);
        int addressDelta = NatRewriter.delta128(inner.src6High(), inner.src6Low(), srcHigh, srcLow)
                + NatRewriter.delta128(inner.dst6High(), inner.dst6Low(), dstHigh, dstLow);
        int portDelta = NatRewriter.delta16(inner.srcPort(), innerSrcPort) + NatRewriter.delta16(inner.dstPort(), innerDstPort);
        int ip = inner.ipOffset();
        buf.setLong(ip + 8, srcHigh);
        buf.setLong(ip + 16, srcLow);
        buf.setLong(ip + 24, dstHigh);
        buf.setLong(ip + 32, dstLow);
        int icmpDelta = addressDelta + portDelta;
        int l4 = inner.l4Offset();
        buf.setShort(l4, innerSrcPort);
        buf.setShort(l4 + 2, innerDstPort);
        if (protocol == Ipv4.PROTO_TCP) {
            if (l4 + 18 <= end) {
                icmpDelta += changed(NatRewriter.patch(buf, l4 + 16, addressDelta + portDelta, false));
            }
        } else {
            icmpDelta += changed(NatRewriter.patch(buf, l4 + 6, addressDelta + portDelta, true)); // never 0 over IPv6
        }
        long outerHigh = a.high(outerDst);
        long outerLow = a.low(outerDst);
        icmpDelta += NatRewriter.delta128(outer.dst6High(), outer.dst6Low(), outerHigh, outerLow); // the pseudo-header
        NatRewriter.patch(buf, icmp + 2, icmpDelta, false);
        int outerIp = outer.ipOffset();
        buf.setLong(outerIp + 24, outerHigh);
        buf.setLong(outerIp + 32, outerLow);
        return null;
    }

    /** The delta of a checksum field that {@link NatRewriter#patch} changed, for the enclosing checksum. */
    private static int changed(int oldAndNew) {
        return NatRewriter.delta16(oldAndNew >>> 16, oldAndNew & 0xFFFF);
    }
}
