package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;

/**
 * Builds IPv6 packets for tests (RFC 8200), extension headers included, with every checksum
 * computed from scratch over the IPv6 pseudo-header, so a packet the engine rewrote
 * incrementally can be verified independently. Addresses from 2001:2::/48 (RFC 5180).
 */
public final class TestPacket6 {
    private int protocol = Ipv4.PROTO_TCP;
    private long[] src;
    private long[] dst;
    private int srcPort;
    private int dstPort;
    private int hopLimit = 64;
    private int tcpFlags = TcpFlags.ACK;
    private int icmpType;
    private int icmpCode;
    private int icmpRest;
    private byte[] payload = new byte[0];
    private boolean udpZeroChecksum;
    /** Extension headers, each complete but for its first byte (Next Header), in order, with their type. */
    private final ByteBuf extensions = Unpooled.buffer();
    private final int[] extensionTypes = new int[16];
    private final int[] extensionStarts = new int[16];
    private int extensionCount;

    public static TestPacket6 tcp(String from, int fromPort, String to, int toPort, int flags) {
        TestPacket6 p = new TestPacket6();
        p.src = Ipv6.parse(from);
        p.srcPort = fromPort;
        p.dst = Ipv6.parse(to);
        p.dstPort = toPort;
        p.tcpFlags = flags;
        return p;
    }

    public static TestPacket6 udp(String from, int fromPort, String to, int toPort) {
        TestPacket6 p = tcp(from, fromPort, to, toPort, 0);
        p.protocol = Ipv4.PROTO_UDP;
        return p;
    }

    public static TestPacket6 icmp(String from, String to, int type, int code, int rest) {
        TestPacket6 p = tcp(from, 0, to, 0, 0);
        p.protocol = Ipv6.PROTO_ICMPV6;
        p.icmpType = type;
        p.icmpCode = code;
        p.icmpRest = rest;
        return p;
    }

    public TestPacket6 payload(String text) {
        this.payload = text.getBytes(StandardCharsets.US_ASCII);
        return this;
    }

    public TestPacket6 payload(byte[] bytes) {
        this.payload = bytes.clone();
        return this;
    }

    public TestPacket6 hopLimit(int value) {
        this.hopLimit = value;
        return this;
    }

    public TestPacket6 protocol(int value) {
        this.protocol = value;
        return this;
    }

    public TestPacket6 udpWithoutChecksum() {
        this.udpZeroChecksum = true;
        return this;
    }

    /** An options header (hop-by-hop or destination options) of {@code units} × 8 bytes, padded with PadN. */
    public TestPacket6 options(int type, int units) {
        start(type);
        int length = units * 8;
        extensions.writeByte(units - 1);
        // PadN (RFC 8200 §4.2) filling the rest: type 1, length, zeros.
        extensions.writeByte(1).writeByte(length - 4);
        extensions.writeZero(length - 4);
        return this;
    }

    /** A routing header of {@code routingType} with {@code segmentsLeft}, one address in it. */
    public TestPacket6 routing(int routingType, int segmentsLeft) {
        start(Ipv6.ROUTING);
        extensions.writeByte(2).writeByte(routingType).writeByte(segmentsLeft).writeInt(0);
        extensions.writeLong(dst[0]).writeLong(dst[1]);
        return this;
    }

    /** A Fragment header: offset in 8-byte units, the M flag, the identification. */
    public TestPacket6 fragment(int offsetUnits, boolean more, int identification) {
        start(Ipv6.FRAGMENT);
        extensions.writeByte(0).writeShort(offsetUnits << 3 | (more ? 1 : 0)).writeInt(identification);
        return this;
    }

    private void start(int type) {
        extensionTypes[extensionCount] = type;
        extensionStarts[extensionCount] = extensions.writerIndex();
        extensionCount++;
        extensions.writeByte(0); // Next Header, set in build
    }

    public ByteBuf build() {
        byte[] l4 = transport();
        int extLength = extensions.readableBytes();
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(Ipv6.HEADER_LENGTH + extLength + l4.length);
        int first = extensionCount == 0 ? protocol : extensionTypes[0];
        buf.writeInt(6 << 28).writeShort(extLength + l4.length).writeByte(first).writeByte(hopLimit);
        buf.writeLong(src[0]).writeLong(src[1]).writeLong(dst[0]).writeLong(dst[1]);
        for (int i = 0; i < extensionCount; i++) {
            extensions.setByte(extensionStarts[i], i + 1 < extensionCount ? extensionTypes[i + 1] : protocol);
        }
        buf.writeBytes(extensions, 0, extLength);
        int l4At = buf.writerIndex();
        buf.writeBytes(l4);
        int checksumAt = switch (protocol) {
            case Ipv4.PROTO_TCP -> 16;
            case Ipv4.PROTO_UDP -> udpZeroChecksum ? -1 : 6;
            case Ipv6.PROTO_ICMPV6 -> 2;
            default -> -1;
        };
        if (checksumAt >= 0) {
            int sum = Checksum.computeL4v6(buf, src[0], src[1], dst[0], dst[1], protocol, l4At, l4.length);
            buf.setShort(l4At + checksumAt, protocol == Ipv4.PROTO_UDP && sum == 0 ? 0xFFFF : sum);
        }
        return buf;
    }

    private byte[] transport() {
        ByteBuf l4 = Unpooled.buffer();
        switch (protocol) {
            case Ipv4.PROTO_TCP -> l4.writeShort(srcPort).writeShort(dstPort).writeInt(1000).writeInt(1001)
                    .writeByte(5 << 4).writeByte(tcpFlags).writeShort(65535).writeShort(0).writeShort(0);
            case Ipv4.PROTO_UDP -> l4.writeShort(srcPort).writeShort(dstPort).writeShort(8 + payload.length).writeShort(0);
            case Ipv6.PROTO_ICMPV6 -> l4.writeByte(icmpType).writeByte(icmpCode).writeShort(0).writeInt(icmpRest);
            default -> {
            }
        }
        l4.writeBytes(payload);
        return ByteBufUtil.getBytes(l4);
    }

    /** The transport checksum of an unfragmented IPv6 packet verifies, computed from scratch over the pseudo-header. */
    public static boolean transportChecksumValid(ByteBuf packet, int protocol, int l4Offset) {
        int ip = packet.readerIndex();
        int end = ip + Ipv6.HEADER_LENGTH + packet.getUnsignedShort(ip + 4);
        return Checksum.computeL4v6(packet, packet.getLong(ip + 8), packet.getLong(ip + 16), packet.getLong(ip + 24),
                packet.getLong(ip + 32), protocol, l4Offset, end - l4Offset) == 0;
    }
}
