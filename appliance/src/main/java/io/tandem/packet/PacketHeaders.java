package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/**
 * A reusable, mutable view of one IPv4 or IPv6 packet's headers: {@link #parse} reads and
 * checks them once, and the fields then describe the packet until the next parse. One
 * instance per event loop; never shared, never allocated per packet.
 *
 * <p>Field offsets follow RFC 791 (IPv4), RFC 8200 (IPv6), RFC 9293 (TCP), RFC 768 (UDP),
 * RFC 792 (ICMP), RFC 4443 (ICMPv6). For IPv6, {@link #headerLength} spans the fixed header
 * and every extension header before the transport header, {@link #ttl} is the hop limit and
 * {@link #ipId} the Fragment header's 32-bit identification; the addresses are
 * {@link #src6High}/{@link #src6Low} and {@link #dst6High}/{@link #dst6Low}, and
 * {@link #srcAddress}/{@link #dstAddress} are 0.
 */
public final class PacketHeaders {
    static final int IP_TOTAL_LENGTH = 2;
    static final int IP_ID = 4;
    static final int IP_FRAGMENT = 6;
    static final int IP_TTL = 8;
    static final int IP_PROTOCOL = 9;
    static final int IP_CHECKSUM = 10;
    static final int IP_SRC = 12;
    static final int IP_DST = 16;
    static final int TCP_CHECKSUM = 16;
    static final int UDP_CHECKSUM = 6;
    static final int ICMP_CHECKSUM = 2;
    /** IPv6 (RFC 8200 §3): hop limit, source and destination, each address two longs. */
    static final int IP6_HOP_LIMIT = 7;
    static final int IP6_SRC = 8;
    static final int IP6_DST = 24;

    public static final int ICMP_ECHO_REPLY = 0;
    public static final int ICMP_DEST_UNREACHABLE = 3;
    public static final int ICMP_ECHO_REQUEST = 8;
    public static final int ICMP_TIME_EXCEEDED = 11;
    /** {@link #tcpWindowScale()} of a segment that offers none (or is not a SYN). */
    public static final int NO_WINDOW_SCALE = 15;

    private ByteBuf buf;
    private int version;
    private long src6High;
    private long src6Low;
    private long dst6High;
    private long dst6Low;
    private int ipOffset;
    private int headerLength;
    private int totalLength;
    private int protocol;
    private int srcAddress;
    private int dstAddress;
    private int ttl;
    private int ipChecksum;
    private int ipId;
    private int fragmentOffset;
    private boolean moreFragments;
    private int l4Offset;
    private int l4Length;
    private int srcPort;
    private int dstPort;
    private int tcpFlags;
    private int tcpSeq;
    private int tcpAck;
    private int tcpWindow;
    private int tcpHeaderLength;
    private int tcpWindowScale;
    private int icmpType;
    private int icmpCode;
    private boolean partialChecksum;
    private DropReason malformation;

    /**
     * Parses the IPv4 packet between {@code buf}'s reader and writer index.
     *
     * @return true if the headers are sound; otherwise {@link #malformation()} says why
     */
    public boolean parse(ByteBuf packet) {
        this.buf = packet;
        this.ipOffset = packet.readerIndex();
        this.version = 0;
        int available = packet.readableBytes();
        if (available < Ipv4.HEADER_LENGTH) {
            return fail(DropReason.TRUNCATED);
        }
        // The fixed header in three reads (each ByteBuf access costs a bounds check):
        // version/IHL, TOS, total length, identification, flags/fragment offset | TTL,
        // protocol, checksum, source | destination.
        long first = packet.getLong(ipOffset);
        int versionIhl = (int) (first >>> 56);
        if (versionIhl >>> 4 == 6) {
            return parseIpv6(packet, first, available);
        }
        if (versionIhl >>> 4 != 4) {
            return fail(DropReason.NOT_IP);
        }
        version = 4;
        long second = packet.getLong(ipOffset + IP_TTL);
        headerLength = (versionIhl & 0x0F) * 4;
        if (headerLength < Ipv4.HEADER_LENGTH || headerLength > available) {
            return fail(DropReason.BAD_HEADER_LENGTH);
        }
        totalLength = (int) (first >>> 32) & 0xFFFF;
        if (totalLength < headerLength || totalLength > available) {
            return fail(DropReason.BAD_TOTAL_LENGTH);
        }
        if (headerLength != Ipv4.HEADER_LENGTH) {
            return fail(DropReason.IP_OPTIONS);
        }
        ipId = (int) (first >>> 16) & 0xFFFF;
        fragmentOffset = (int) first & Ipv4.FRAGMENT_OFFSET_MASK;
        moreFragments = (first & Ipv4.FLAG_MORE_FRAGMENTS) != 0;
        ttl = (int) (second >>> 56);
        protocol = (int) (second >>> 48) & 0xFF;
        ipChecksum = (int) (second >>> 32) & 0xFFFF;
        srcAddress = (int) second;
        dstAddress = packet.getInt(ipOffset + IP_DST);
        l4Offset = ipOffset + headerLength;
        l4Length = totalLength - headerLength;
        srcPort = dstPort = tcpFlags = icmpType = icmpCode = 0;
        tcpSeq = tcpAck = tcpWindow = tcpHeaderLength = 0;
        tcpWindowScale = NO_WINDOW_SCALE;
        malformation = null;
        if (fragmentOffset != 0) {
            return true; // L4 header lives in the first fragment only
        }
        return parseTransport(false);
    }

    /**
     * The IPv6 header and its extension headers, walked to the transport header (RFC 8200 §4):
     * at most {@link Ipv6#MAX_EXTENSION_HEADERS}, hop-by-hop options first only, one Fragment
     * header. A routing header of type 0 is dropped whatever its segments left (RFC 5095), any
     * other with segments left (the packet is not at its last hop: this box would have to route
     * it on, not answer for the VIP). A first fragment must hold the whole chain and the
     * transport header (RFC 7112); an atomic fragment (offset 0, no more) is an unfragmented
     * packet (RFC 6946). ESP and "no next header" end the walk as the protocol.
     */
    private boolean parseIpv6(ByteBuf packet, long first, int available) {
        version = 6;
        if (available < Ipv6.HEADER_LENGTH) {
            return fail(DropReason.TRUNCATED);
        }
        int payloadLength = (int) (first >>> 16) & 0xFFFF;
        // 0 is a jumbogram's (RFC 2675): not on any link this box serves.
        if (payloadLength == 0 || Ipv6.HEADER_LENGTH + payloadLength > available) {
            return fail(DropReason.BAD_TOTAL_LENGTH);
        }
        totalLength = Ipv6.HEADER_LENGTH + payloadLength;
        int next = (int) (first >>> 8) & 0xFF;
        readIpv6Header(packet, ipOffset, first);
        int end = ipOffset + totalLength;
        int at = ipOffset + Ipv6.HEADER_LENGTH;
        boolean fragmentSeen = false;
        for (int walked = 0; Ipv6.isExtensionHeader(next); walked++) {
            if (walked == Ipv6.MAX_EXTENSION_HEADERS) {
                return fail(DropReason.EXTENSION_HEADER_CHAIN);
            }
            if (at + 8 > end) {
                return fail(moreFragments ? DropReason.TINY_FRAGMENT : DropReason.TRUNCATED);
            }
            int following = packet.getUnsignedByte(at);
            int length;
            switch (next) {
                case Ipv6.HOP_BY_HOP -> {
                    if (walked != 0) {
                        return fail(DropReason.EXTENSION_HEADER_CHAIN);
                    }
                    length = (packet.getUnsignedByte(at + 1) + 1) * 8;
                }
                case Ipv6.ROUTING -> {
                    if (packet.getUnsignedByte(at + 2) == 0) {
                        return fail(DropReason.ROUTING_HEADER_TYPE_0);
                    }
                    if (packet.getUnsignedByte(at + 3) != 0) {
                        return fail(DropReason.ROUTING_HEADER_SEGMENTS_LEFT);
                    }
                    length = (packet.getUnsignedByte(at + 1) + 1) * 8;
                }
                case Ipv6.FRAGMENT -> {
                    if (fragmentSeen) {
                        return fail(DropReason.EXTENSION_HEADER_CHAIN);
                    }
                    fragmentSeen = true;
                    int offsetAndFlags = packet.getUnsignedShort(at + 2);
                    fragmentOffset = offsetAndFlags >>> 3;
                    moreFragments = (offsetAndFlags & 1) != 0;
                    ipId = packet.getInt(at + 4);
                    length = 8;
                    if (fragmentOffset != 0) {
                        // A later fragment: what follows is the middle of the datagram.
                        protocol = following;
                        l4Offset = at + length;
                        l4Length = end - l4Offset;
                        headerLength = l4Offset - ipOffset;
                        return true;
                    }
                }
                case Ipv6.AUTHENTICATION -> length = (packet.getUnsignedByte(at + 1) + 2) * 4; // RFC 4302 §2.2
                default -> length = (packet.getUnsignedByte(at + 1) + 1) * 8; // destination options and the like
            }
            if (at + length > end) {
                return fail(moreFragments ? DropReason.TINY_FRAGMENT : DropReason.TRUNCATED);
            }
            at += length;
            next = following;
        }
        protocol = next;
        headerLength = at - ipOffset;
        l4Offset = at;
        l4Length = end - at;
        return parseTransport(false);
    }

    /**
     * Parses the IPv4 header and the first 8 bytes of transport header embedded in an ICMP
     * error (RFC 792): the datagram is usually cut short, so lengths are not checked against
     * its total length, only against {@code end}.
     */
    public boolean parseEmbedded(ByteBuf packet, int offset, int end) {
        this.buf = packet;
        this.ipOffset = offset;
        if (end - offset < Ipv4.HEADER_LENGTH) {
            return fail(DropReason.TRUNCATED);
        }
        int versionIhl = packet.getUnsignedByte(offset);
        if (versionIhl >>> 4 == 6) {
            return parseEmbedded6(packet, offset, end);
        }
        if (versionIhl >>> 4 != 4) {
            return fail(DropReason.NOT_IP);
        }
        version = 4;
        headerLength = (versionIhl & 0x0F) * 4;
        if (headerLength < Ipv4.HEADER_LENGTH || offset + headerLength + 8 > end) {
            return fail(DropReason.TRUNCATED);
        }
        totalLength = packet.getUnsignedShort(offset + IP_TOTAL_LENGTH);
        protocol = buf.getUnsignedByte(offset + IP_PROTOCOL);
        srcAddress = buf.getInt(offset + IP_SRC);
        dstAddress = buf.getInt(offset + IP_DST);
        ipId = buf.getUnsignedShort(offset + IP_ID);
        int fragment = buf.getUnsignedShort(offset + IP_FRAGMENT);
        fragmentOffset = fragment & Ipv4.FRAGMENT_OFFSET_MASK;
        moreFragments = (fragment & Ipv4.FLAG_MORE_FRAGMENTS) != 0;
        ttl = packet.getUnsignedByte(offset + IP_TTL);
        ipChecksum = packet.getUnsignedShort(offset + IP_CHECKSUM);
        l4Offset = offset + headerLength;
        l4Length = end - l4Offset;
        srcPort = dstPort = tcpFlags = icmpType = icmpCode = 0;
        tcpSeq = tcpAck = tcpWindow = tcpHeaderLength = 0;
        tcpWindowScale = NO_WINDOW_SCALE;
        malformation = null;
        if (fragmentOffset != 0) {
            return fail(DropReason.TRUNCATED);
        }
        return parseTransport(true);
    }

    /**
     * The IPv6 datagram quoted by an ICMPv6 error (RFC 4443 §2.4(c): as much of it as fits in
     * the minimum MTU): its header, extension headers walked as {@link #parseIpv6} walks them
     * (bounded, each inside {@code end}), and the first 8 bytes of its transport header. A later
     * fragment quoted is refused: it names no ports.
     */
    private boolean parseEmbedded6(ByteBuf packet, int offset, int end) {
        version = 6;
        if (end - offset < Ipv6.HEADER_LENGTH) {
            return fail(DropReason.TRUNCATED);
        }
        long first = packet.getLong(offset);
        totalLength = Ipv6.HEADER_LENGTH + ((int) (first >>> 16) & 0xFFFF);
        int next = (int) (first >>> 8) & 0xFF;
        readIpv6Header(packet, offset, first);
        int at = offset + Ipv6.HEADER_LENGTH;
        for (int walked = 0; Ipv6.isExtensionHeader(next); walked++) {
            if (walked == Ipv6.MAX_EXTENSION_HEADERS) {
                return fail(DropReason.EXTENSION_HEADER_CHAIN);
            }
            if (at + 8 > end) {
                return fail(DropReason.TRUNCATED);
            }
            int following = packet.getUnsignedByte(at);
            int length = switch (next) {
                case Ipv6.FRAGMENT -> {
                    ipId = packet.getInt(at + 4);
                    fragmentOffset = packet.getUnsignedShort(at + 2) >>> 3;
                    yield 8;
                }
                case Ipv6.AUTHENTICATION -> (packet.getUnsignedByte(at + 1) + 2) * 4;
                default -> (packet.getUnsignedByte(at + 1) + 1) * 8;
            };
            if (fragmentOffset != 0) {
                return fail(DropReason.TRUNCATED);
            }
            at += length;
            next = following;
        }
        if (at + 8 > end) {
            return fail(DropReason.TRUNCATED);
        }
        protocol = next;
        headerLength = at - offset;
        l4Offset = at;
        l4Length = end - at;
        return parseTransport(true);
    }

    /** The fixed IPv6 header's hop limit and addresses; every other field cleared for the walk to fill. */
    private void readIpv6Header(ByteBuf packet, int at, long first) {
        ttl = (int) first & 0xFF;
        src6High = packet.getLong(at + IP6_SRC);
        src6Low = packet.getLong(at + IP6_SRC + 8);
        dst6High = packet.getLong(at + IP6_DST);
        dst6Low = packet.getLong(at + IP6_DST + 8);
        srcAddress = dstAddress = ipChecksum = ipId = fragmentOffset = 0;
        moreFragments = false;
        srcPort = dstPort = tcpFlags = icmpType = icmpCode = 0;
        tcpSeq = tcpAck = tcpWindow = tcpHeaderLength = 0;
        tcpWindowScale = NO_WINDOW_SCALE;
        malformation = null;
    }

    private boolean parseTransport(boolean embedded) {
        switch (protocol) {
            case Ipv4.PROTO_TCP -> {
                if (l4Length < (embedded ? 8 : 20)) {
                    return fail(!embedded && moreFragments ? DropReason.TINY_FRAGMENT : DropReason.TRUNCATED);
                }
                int ports = buf.getInt(l4Offset);
                srcPort = ports >>> 16;
                dstPort = ports & 0xFFFF;
                if (!embedded) {
                    // Bytes 12-13: data offset (4 bits), reserved, flags.
                    int offsetAndFlags = buf.getUnsignedShort(l4Offset + 12);
                    int dataOffset = (offsetAndFlags >>> 12) * 4;
                    if (dataOffset < 20 || dataOffset > l4Length) {
                        // A first fragment that splits the header (options included) is the tiny-fragment attack.
                        return fail(dataOffset >= 20 && moreFragments ? DropReason.TINY_FRAGMENT : DropReason.BAD_L4_HEADER);
                    }
                    tcpFlags = offsetAndFlags & 0xFF;
                    tcpHeaderLength = dataOffset;
                    long seqAck = buf.getLong(l4Offset + 4);
                    tcpSeq = (int) (seqAck >>> 32);
                    tcpAck = (int) seqAck;
                    tcpWindow = buf.getUnsignedShort(l4Offset + 14);
                    tcpWindowScale = (tcpFlags & TcpFlags.SYN) != 0 ? windowScaleOption(dataOffset) : NO_WINDOW_SCALE;
                }
            }
            case Ipv4.PROTO_UDP -> {
                if (l4Length < 8) {
                    return fail(!embedded && moreFragments ? DropReason.TINY_FRAGMENT : DropReason.TRUNCATED);
                }
                long header = buf.getLong(l4Offset); // ports, length, checksum
                srcPort = (int) (header >>> 48);
                dstPort = (int) (header >>> 32) & 0xFFFF;
                if (!embedded) {
                    if (version == 6 && !partialChecksum && (header & 0xFFFF) == 0) {
                        return fail(DropReason.UDP_ZERO_CHECKSUM);
                    }
                    int udpLength = (int) (header >>> 16) & 0xFFFF;
                    // A first fragment carries only part of the datagram the length describes.
                    if (udpLength < 8 || (!moreFragments && udpLength > l4Length)) {
                        return fail(DropReason.BAD_L4_HEADER);
                    }
                }
            }
            case Ipv4.PROTO_ICMP, Ipv6.PROTO_ICMPV6 -> {
                if (protocol != (version == 6 ? Ipv6.PROTO_ICMPV6 : Ipv4.PROTO_ICMP)) {
                    return true; // the other family's ICMP: parsed at the IP level only
                }
                if (l4Length < 8) {
                    return fail(DropReason.TRUNCATED);
                }
                icmpType = buf.getUnsignedByte(l4Offset);
                icmpCode = buf.getUnsignedByte(l4Offset + 1);
            }
            default -> {
                // Parsed at the IP level; the engine decides whether it can serve it.
            }
        }
        return true;
    }

    /**
     * The window scale option of a SYN (RFC 7323 §2: kind 3, length 3, shift ≤ 14), or
     * {@link #NO_WINDOW_SCALE}. Walks the options within the header; a malformed list ends the walk.
     */
    private int windowScaleOption(int dataOffset) {
        int at = l4Offset + 20;
        int end = l4Offset + dataOffset;
        while (at < end) {
            int kind = buf.getUnsignedByte(at);
            if (kind == 0) {
                break; // end of option list
            }
            if (kind == 1) {
                at++; // no-operation
                continue;
            }
            if (at + 1 >= end) {
                break;
            }
            int length = buf.getUnsignedByte(at + 1);
            if (length < 2 || at + length > end) {
                break;
            }
            if (kind == 3 && length == 3) {
                return Math.min(buf.getUnsignedByte(at + 2), 14);
            }
            at += length;
        }
        return NO_WINDOW_SCALE;
    }

    private boolean fail(DropReason reason) {
        malformation = reason;
        return false;
    }

    /**
     * Whether the TCP/UDP checksum field holds only the pseudo-header sum (a super-packet
     * from TUN with VIRTIO_NET_HDR_F_NEEDS_CSUM): the kernel completes it later.
     */
    public boolean partialChecksum() {
        return partialChecksum;
    }

    /** Set by the reader before {@link #parse}, from the packet's virtio-net header. */
    public void setPartialChecksum(boolean partial) {
        this.partialChecksum = partial;
    }

    public ByteBuf buffer() {
        return buf;
    }

    public DropReason malformation() {
        return malformation;
    }

    public int ipOffset() {
        return ipOffset;
    }

    /** 4 or 6: the IP version of the packet last parsed. */
    public int version() {
        return version;
    }

    public boolean isIpv6() {
        return version == 6;
    }

    /** The IPv6 source address's high 64 bits (0 for IPv4). */
    public long src6High() {
        return src6High;
    }

    public long src6Low() {
        return src6Low;
    }

    public long dst6High() {
        return dst6High;
    }

    public long dst6Low() {
        return dst6Low;
    }

    public int headerLength() {
        return headerLength;
    }

    public int totalLength() {
        return totalLength;
    }

    public int protocol() {
        return protocol;
    }

    public int srcAddress() {
        return srcAddress;
    }

    public int dstAddress() {
        return dstAddress;
    }

    public int ttl() {
        return ttl;
    }

    /** The IPv4 header checksum as received (IPv6 has none: 0). */
    public int ipChecksum() {
        return ipChecksum;
    }

    public int ipId() {
        return ipId;
    }

    /** True for any fragment of a fragmented datagram, the first included. */
    public boolean isFragment() {
        return moreFragments || fragmentOffset != 0;
    }

    /** Where this fragment's data starts in the datagram's payload, in bytes (0 for a first fragment). */
    public int fragmentOffsetBytes() {
        return fragmentOffset * 8;
    }

    /** True for the second and later fragments, which carry no transport header. */
    public boolean isNonFirstFragment() {
        return fragmentOffset != 0;
    }

    public int l4Offset() {
        return l4Offset;
    }

    public int l4Length() {
        return l4Length;
    }

    public int srcPort() {
        return srcPort;
    }

    public int dstPort() {
        return dstPort;
    }

    public int tcpFlags() {
        return tcpFlags;
    }

    public int icmpType() {
        return icmpType;
    }

    public int icmpCode() {
        return icmpCode;
    }

    /** The TCP sequence number (a 32-bit serial number: compare with subtraction, RFC 1982). */
    public int tcpSeq() {
        return tcpSeq;
    }

    public int tcpAck() {
        return tcpAck;
    }

    /** The TCP window field as sent (unscaled). */
    public int tcpWindow() {
        return tcpWindow;
    }

    /** The sequence space the segment occupies: its payload, plus one each for SYN and FIN. */
    public int tcpSequenceLength() {
        return l4Length - tcpHeaderLength + (tcpFlags & TcpFlags.SYN) / TcpFlags.SYN + (tcpFlags & TcpFlags.FIN);
    }

    /** A SYN's window scale shift (0-14), or {@link #NO_WINDOW_SCALE}. */
    public int tcpWindowScale() {
        return tcpWindowScale;
    }
}
