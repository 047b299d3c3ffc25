package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;

/**
 * Builds IPv4 packets for tests with every checksum computed from scratch (RFC 1071), so a
 * packet the engine rewrote incrementally can be compared byte for byte with one built here.
 */
public final class TestPacket {
    private int protocol = Ipv4.PROTO_TCP;
    private int src;
    private int dst;
    private int srcPort;
    private int dstPort;
    private int ttl = 64;
    private int window = 65535;
    private int fragmentField;
    private int ipId = 0x1234;
    private int tcpFlags = TcpFlags.ACK;
    private long seq = 1000;
    private long ack = 1001; // acknowledges a SYN or SYN-ACK at the default sequence number (1000)
    private int icmpType;
    private int icmpCode;
    private int icmpRest;
    private boolean udpZeroChecksum;
    private byte[] payload = new byte[0];
    private byte[] options;
    private int windowScale = -1;

    public static TestPacket tcp(String from, int fromPort, String to, int toPort, int flags) {
        TestPacket p = new TestPacket();
        p.protocol = Ipv4.PROTO_TCP;
        p.src = Ipv4.parse(from);
        p.srcPort = fromPort;
        p.dst = Ipv4.parse(to);
        p.dstPort = toPort;
        p.tcpFlags = flags;
        return p;
    }

    public static TestPacket udp(String from, int fromPort, String to, int toPort) {
        TestPacket p = tcp(from, fromPort, to, toPort, 0);
        p.protocol = Ipv4.PROTO_UDP;
        return p;
    }

    public static TestPacket icmp(String from, String to, int type, int code, int rest) {
        TestPacket p = tcp(from, 0, to, 0, 0);
        p.protocol = Ipv4.PROTO_ICMP;
        p.icmpType = type;
        p.icmpCode = code;
        p.icmpRest = rest;
        return p;
    }

    public TestPacket payload(byte[] bytes) {
        this.payload = bytes.clone();
        return this;
    }

    public TestPacket payload(String text) {
        return payload(text.getBytes(StandardCharsets.US_ASCII));
    }

    public TestPacket window(int value) {
        this.window = value;
        return this;
    }

    /** Adds a window scale option (RFC 7323) with this shift, padded with a no-operation. */
    public TestPacket windowScale(int shift) {
        this.windowScale = shift;
        return this;
    }

    /** TCP options as they are (a multiple of 4 bytes, at most 40), instead of {@link #windowScale}'s. */
    public TestPacket options(byte[] bytes) {
        this.options = bytes.clone();
        return this;
    }

    /** Sets DF (don't fragment). */
    public TestPacket dontFragment() {
        this.fragmentField = 0x4000;
        return this;
    }

    public TestPacket ttl(int value) {
        this.ttl = value;
        return this;
    }

    /** Sets the IP protocol number as is (for packets of protocols the engine does not carry). */
    public TestPacket protocol(int value) {
        this.protocol = value;
        return this;
    }

    /** Sets the flags-and-fragment-offset field as is (DF, MF, offset in 8-byte units). */
    public TestPacket fragmentField(int value) {
        this.fragmentField = value;
        return this;
    }

    public TestPacket ipId(int value) {
        this.ipId = value;
        return this;
    }

    public TestPacket seq(long seq, long ack) {
        this.seq = seq;
        this.ack = ack;
        return this;
    }

    public TestPacket udpWithoutChecksum() {
        this.udpZeroChecksum = true;
        return this;
    }

    public TestPacket from(String address, int port) {
        this.src = Ipv4.parse(address);
        this.srcPort = port;
        return this;
    }

    public TestPacket to(String address, int port) {
        this.dst = Ipv4.parse(address);
        this.dstPort = port;
        return this;
    }

    public ByteBuf build() {
        byte[] l4 = transport();
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(20 + l4.length);
        buf.writeByte(0x45).writeByte(0).writeShort(20 + l4.length).writeShort(ipId).writeShort(fragmentField)
                .writeByte(ttl).writeByte(protocol).writeShort(0).writeInt(src).writeInt(dst);
        buf.setShort(10, Checksum.compute(buf, 0, 20));
        buf.writeBytes(l4);
        if (protocol == Ipv4.PROTO_TCP || (protocol == Ipv4.PROTO_UDP && !udpZeroChecksum)) {
            int checksumAt = 20 + (protocol == Ipv4.PROTO_TCP ? 16 : 6);
            int sum = Checksum.computeL4(buf, src, dst, protocol, 20, l4.length);
            buf.setShort(checksumAt, protocol == Ipv4.PROTO_UDP && sum == 0 ? 0xFFFF : sum);
        } else if (protocol == Ipv4.PROTO_ICMP) {
            buf.setShort(22, Checksum.compute(buf, 20, l4.length));
        }
        return buf;
    }

    /** The transport header and payload. */
    private byte[] transport() {
        ByteBuf l4 = Unpooled.buffer();
        switch (protocol) {
            case Ipv4.PROTO_TCP -> {
                int words = options != null ? 5 + options.length / 4 : windowScale >= 0 ? 6 : 5;
                l4.writeShort(srcPort).writeShort(dstPort).writeInt((int) seq).writeInt((int) ack)
                        .writeByte(words << 4).writeByte(tcpFlags).writeShort(window).writeShort(0).writeShort(0);
                if (options != null) {
                    l4.writeBytes(options);
                } else if (windowScale >= 0) {
                    l4.writeByte(1).writeByte(3).writeByte(3).writeByte(windowScale);
                }
            }
            case Ipv4.PROTO_UDP -> l4.writeShort(srcPort).writeShort(dstPort)
                    .writeShort(8 + payload.length).writeShort(0);
            case Ipv4.PROTO_ICMP -> l4.writeByte(icmpType).writeByte(icmpCode).writeShort(0).writeInt(icmpRest);
            default -> {
            }
        }
        l4.writeBytes(payload);
        return ByteBufUtil.getBytes(l4);
    }

    /**
     * Splits an unfragmented datagram in two fragments (RFC 791): the first carries
     * {@code firstL4Bytes} (a multiple of 8) of the transport segment, the second the rest.
     */
    public static ByteBuf[] split(ByteBuf datagram, int firstL4Bytes) {
        int total = datagram.getUnsignedShort(2);
        int l4Length = total - 20;
        ByteBuf first = PooledByteBufAllocator.DEFAULT.directBuffer(20 + firstL4Bytes);
        first.writeBytes(datagram, 0, 20 + firstL4Bytes);
        first.setShort(2, 20 + firstL4Bytes);
        first.setShort(6, Ipv4.FLAG_MORE_FRAGMENTS);
        first.setShort(10, 0);
        first.setShort(10, Checksum.compute(first, 0, 20));
        ByteBuf second = PooledByteBufAllocator.DEFAULT.directBuffer(20 + l4Length - firstL4Bytes);
        second.writeBytes(datagram, 0, 20);
        second.writeBytes(datagram, 20 + firstL4Bytes, l4Length - firstL4Bytes);
        second.setShort(2, 20 + l4Length - firstL4Bytes);
        second.setShort(6, firstL4Bytes / 8);
        second.setShort(10, 0);
        second.setShort(10, Checksum.compute(second, 0, 20));
        return new ByteBuf[] {first, second};
    }

    /**
     * Turns an unfragmented packet's full L4 checksum into the partial one a TSO/CSUM-offloading
     * sender leaves (CHECKSUM_PARTIAL): the folded pseudo-header sum, not complemented.
     */
    public static void makePartial(ByteBuf packet, int protocol, int checksumOffset) {
        int l4 = 20;
        int length = packet.readableBytes() - l4;
        int src = packet.getInt(12);
        int dst = packet.getInt(16);
        long pseudo = (src >>> 16) + (src & 0xFFFF) + (dst >>> 16) + (dst & 0xFFFF) + protocol + length;
        while ((pseudo >>> 16) != 0) {
            pseudo = (pseudo & 0xFFFF) + (pseudo >>> 16);
        }
        packet.setShort(l4 + checksumOffset, (int) pseudo);
    }

    /** What the kernel does with a CHECKSUM_PARTIAL packet: sum the segment (field included) and complement. */
    public static void finishPartialChecksum(ByteBuf packet, int checksumOffset) {
        int l4 = 20;
        int length = packet.readableBytes() - l4;
        int sum = Checksum.compute(packet, l4, length);
        packet.setShort(l4 + checksumOffset, sum);
    }

    /** Every checksum of {@code packet} recomputed from scratch matches the one it carries. */
    public static void assertChecksumsValid(ByteBuf packet) {
        int ip = packet.readerIndex();
        int ihl = (packet.getUnsignedByte(ip) & 0x0F) * 4;
        int total = packet.getUnsignedShort(ip + 2);
        check(Checksum.compute(packet, ip, ihl) == 0, "IP header checksum", packet);
        int protocol = packet.getUnsignedByte(ip + 9);
        boolean fragmented = (packet.getUnsignedShort(ip + 6) & 0x3FFF) != 0;
        if (fragmented) {
            return; // L4 checksum covers the whole datagram; checked after reassembly in tests that need it
        }
        int src = packet.getInt(ip + 12);
        int dst = packet.getInt(ip + 16);
        int l4 = ip + ihl;
        int l4Length = total - ihl;
        switch (protocol) {
            case Ipv4.PROTO_TCP -> check(verifyL4(packet, src, dst, protocol, l4, l4Length), "TCP checksum", packet);
            case Ipv4.PROTO_UDP -> check(packet.getUnsignedShort(l4 + 6) == 0 || verifyL4(packet, src, dst, protocol, l4, l4Length),
                    "UDP checksum", packet);
            case Ipv4.PROTO_ICMP -> check(Checksum.compute(packet, l4, l4Length) == 0, "ICMP checksum", packet);
            default -> {
            }
        }
    }

    private static boolean verifyL4(ByteBuf packet, int src, int dst, int protocol, int l4, int length) {
        return Checksum.computeL4(packet, src, dst, protocol, l4, length) == 0;
    }

    private static void check(boolean ok, String what, ByteBuf packet) {
        if (!ok) {
            throw new AssertionError(what + " does not verify: " + ByteBufUtil.hexDump(packet));
        }
    }
}
