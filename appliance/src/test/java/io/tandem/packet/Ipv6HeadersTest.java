package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every IPv6 packet shape the parser must take or refuse (RFC 8200 §4, RFC 5095, RFC 7112), and the NAT66 rewrites. */
class Ipv6HeadersTest {
    private static final String CLIENT = "2001:2:0:1::5";
    private static final String VIP = "2001:2::10";
    private static final String SNAT = "2001:2:0:2::100";
    private static final String BACKEND = "2001:2:0:2::11";

    private final PacketHeaders h = new PacketHeaders();

    private void parses(ByteBuf packet) {
        try {
            assertTrue(h.parse(packet), () -> "refused: " + h.malformation());
            assertNull(h.malformation());
            assertTrue(h.isIpv6());
        } finally {
            packet.release();
        }
    }

    private void refuses(ByteBuf packet, DropReason reason) {
        try {
            assertFalse(h.parse(packet), "parsed");
            assertEquals(reason, h.malformation());
        } finally {
            packet.release();
        }
    }

    @Test
    void readsTheFixedHeaderAndTcp() {
        parses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).hopLimit(33).payload("hello").build());
        assertEquals(6, h.version());
        assertEquals(Ipv4.PROTO_TCP, h.protocol());
        assertEquals(Ipv6.parse(CLIENT)[0], h.src6High());
        assertEquals(Ipv6.parse(CLIENT)[1], h.src6Low());
        assertEquals(Ipv6.parse(VIP)[0], h.dst6High());
        assertEquals(Ipv6.parse(VIP)[1], h.dst6Low());
        assertEquals(0, h.srcAddress());
        assertEquals(40000, h.srcPort());
        assertEquals(80, h.dstPort());
        assertEquals(TcpFlags.SYN, h.tcpFlags());
        assertEquals(33, h.ttl(), "the hop limit");
        assertEquals(40, h.headerLength());
        assertEquals(40 + 20 + 5, h.totalLength());
        assertEquals(20 + 5, h.l4Length());
        assertEquals(1000, h.tcpSeq());
        assertFalse(h.isFragment());
    }

    @Test
    void readsUdpAndIcmpv6() {
        parses(TestPacket6.udp(CLIENT, 5353, VIP, 53).payload("query").build());
        assertEquals(Ipv4.PROTO_UDP, h.protocol());
        assertEquals(53, h.dstPort());
        parses(TestPacket6.icmp(CLIENT, VIP, Ipv6.ICMPV6_ECHO_REQUEST, 0, 0x00010002).build());
        assertEquals(Ipv6.PROTO_ICMPV6, h.protocol());
        assertEquals(Ipv6.ICMPV6_ECHO_REQUEST, h.icmpType());
    }

    @Test
    void walksExtensionHeadersToTheTransportHeader() {
        parses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.ACK)
                .options(Ipv6.HOP_BY_HOP, 1).options(Ipv6.DESTINATION_OPTIONS, 2).routing(2, 0).build());
        assertEquals(Ipv4.PROTO_TCP, h.protocol());
        assertEquals(40 + 8 + 16 + 24, h.headerLength());
        assertEquals(h.ipOffset() + h.headerLength(), h.l4Offset());
        assertEquals(80, h.dstPort());
    }

    @Test
    void refusesARoutingHeaderOfType0WhateverItsSegmentsLeft() {
        refuses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).routing(0, 0).build(), DropReason.ROUTING_HEADER_TYPE_0);
        refuses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).routing(0, 1).build(), DropReason.ROUTING_HEADER_TYPE_0);
        assertTrue(DropReason.ROUTING_HEADER_TYPE_0.malformed());
    }

    @Test
    void refusesAnyRoutingHeaderThatStillHasSegmentsToVisit() {
        refuses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).routing(4, 1).build(), DropReason.ROUTING_HEADER_SEGMENTS_LEFT);
    }

    @Test
    void refusesHopByHopOptionsAnywhereButFirstAndChainsTooLong() {
        refuses(TestPacket6.udp(CLIENT, 1, VIP, 53).options(Ipv6.DESTINATION_OPTIONS, 1).options(Ipv6.HOP_BY_HOP, 1).build(),
                DropReason.EXTENSION_HEADER_CHAIN);
        TestPacket6 long9 = TestPacket6.udp(CLIENT, 1, VIP, 53);
        for (int i = 0; i < Ipv6.MAX_EXTENSION_HEADERS + 1; i++) {
            long9.options(Ipv6.DESTINATION_OPTIONS, 1);
        }
        refuses(long9.build(), DropReason.EXTENSION_HEADER_CHAIN);
        TestPacket6 long8 = TestPacket6.udp(CLIENT, 1, VIP, 53);
        for (int i = 0; i < Ipv6.MAX_EXTENSION_HEADERS; i++) {
            long8.options(Ipv6.DESTINATION_OPTIONS, 1);
        }
        parses(long8.build());
        assertEquals(Ipv4.PROTO_UDP, h.protocol());
        refuses(TestPacket6.udp(CLIENT, 1, VIP, 53).fragment(0, false, 1).fragment(0, false, 2).build(),
                DropReason.EXTENSION_HEADER_CHAIN);
    }

    @Test
    void readsFragmentsAsIpv4FragmentsAreRead() {
        parses(TestPacket6.udp(CLIENT, 5353, VIP, 53).payload(new byte[64]).fragment(0, true, 0xCAFE0001).build());
        assertTrue(h.isFragment());
        assertFalse(h.isNonFirstFragment());
        assertEquals(0xCAFE0001, h.ipId());
        assertEquals(53, h.dstPort(), "the first fragment carries the transport header");

        parses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, 0).protocol(Ipv4.PROTO_TCP).fragment(185, false, 0xCAFE0001).build());
        assertTrue(h.isNonFirstFragment());
        assertEquals(185 * 8, h.fragmentOffsetBytes());
        assertEquals(Ipv4.PROTO_TCP, h.protocol(), "the Fragment header's next header");
        assertEquals(0, h.dstPort(), "no transport header in a later fragment");

        parses(TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).fragment(0, false, 7).build());
        assertFalse(h.isFragment(), "an atomic fragment is a whole packet (RFC 6946)");
        assertEquals(80, h.dstPort());
    }

    @Test
    void refusesAFirstFragmentThatDoesNotHoldTheWholeHeaderChain() {
        // RFC 7112: the transport header must be in the first fragment; here only 4 bytes of it are.
        ByteBuf tiny = TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).fragment(0, true, 9).build();
        tiny.setShort(4, 8 + 4); // payload length: the Fragment header and 4 bytes of TCP
        tiny.writerIndex(40 + 8 + 4);
        refuses(tiny, DropReason.TINY_FRAGMENT);
    }

    @Test
    void refusesLengthsThatDoNotFitThePacket() {
        ByteBuf longer = TestPacket6.udp(CLIENT, 1, VIP, 53).build();
        longer.setShort(4, longer.getUnsignedShort(4) + 1);
        refuses(longer, DropReason.BAD_TOTAL_LENGTH);
        ByteBuf jumbo = TestPacket6.udp(CLIENT, 1, VIP, 53).build();
        jumbo.setShort(4, 0);
        refuses(jumbo, DropReason.BAD_TOTAL_LENGTH);
        ByteBuf cut = TestPacket6.udp(CLIENT, 1, VIP, 53).build();
        cut.writerIndex(39);
        refuses(cut, DropReason.TRUNCATED);
        ByteBuf cutOptions = TestPacket6.udp(CLIENT, 1, VIP, 53).options(Ipv6.DESTINATION_OPTIONS, 3).build();
        cutOptions.setShort(4, 16); // the options claim 24 bytes
        cutOptions.writerIndex(40 + 16);
        refuses(cutOptions, DropReason.TRUNCATED);
    }

    @Test
    void refusesUdpWithoutAChecksum() {
        refuses(TestPacket6.udp(CLIENT, 1, VIP, 53).udpWithoutChecksum().build(), DropReason.UDP_ZERO_CHECKSUM);
    }

    @Test
    void anIpv4ParseAfterAnIpv6OneForgetsTheFamily() {
        parses(TestPacket6.udp(CLIENT, 1, VIP, 53).build());
        ByteBuf v4 = TestPacket.udp("198.18.0.5", 1, "198.18.0.100", 53).build();
        try {
            assertTrue(h.parse(v4));
            assertEquals(4, h.version());
            assertFalse(h.isIpv6());
        } finally {
            v4.release();
        }
    }

    @Test
    void nat66KeepsTheTcpAndUdpChecksumsValid() {
        long[] snat = Ipv6.parse(SNAT);
        long[] backend = Ipv6.parse(BACKEND);
        for (ByteBuf packet : new ByteBuf[] {
            TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).payload("GET / HTTP/1.1").build(),
            TestPacket6.udp(CLIENT, 5353, VIP, 53).payload("query").build(),
            TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.ACK).options(Ipv6.DESTINATION_OPTIONS, 1).payload("x").build(),
        }) {
            try {
                assertTrue(h.parse(packet));
                NatRewriter.rewrite6(h, snat[0], snat[1], 1025, backend[0], backend[1], 8080);
                assertTrue(h.parse(packet));
                assertEquals(snat[0], h.src6High());
                assertEquals(snat[1], h.src6Low());
                assertEquals(backend[1], h.dst6Low());
                assertEquals(1025, h.srcPort());
                assertEquals(8080, h.dstPort());
                assertTrue(TestPacket6.transportChecksumValid(packet, h.protocol(), h.l4Offset()),
                        "the incrementally updated checksum verifies from scratch");
            } finally {
                packet.release();
            }
        }
    }

    @Test
    void nat66OfAUdpDatagramWhoseChecksumWouldBecomeZeroSendsMinusZero() {
        // Search for a payload whose rewritten checksum is +0: it must be written as 0xFFFF.
        long[] snat = Ipv6.parse(SNAT);
        long[] backend = Ipv6.parse(BACKEND);
        boolean seen = false;
        for (int word = 0; word < 0x10000 && !seen; word++) {
            ByteBuf packet = TestPacket6.udp(CLIENT, 5353, VIP, 53).payload(new byte[] {(byte) (word >>> 8), (byte) word}).build();
            try {
                h.parse(packet);
                NatRewriter.rewrite6(h, snat[0], snat[1], 1025, backend[0], backend[1], 8080);
                int checksum = packet.getUnsignedShort(h.l4Offset() + 6);
                assertTrue(checksum != 0, "UDP over IPv6 never carries checksum 0");
                seen = checksum == 0xFFFF;
                assertTrue(TestPacket6.transportChecksumValid(packet, Ipv4.PROTO_UDP, h.l4Offset()));
            } finally {
                packet.release();
            }
        }
        assertTrue(seen, "some payload makes the sum -0");
    }

    @Test
    void nat66OfAPartialChecksumFollowsThePseudoHeaderOnly() {
        long[] snat = Ipv6.parse(SNAT);
        long[] backend = Ipv6.parse(BACKEND);
        ByteBuf packet = TestPacket6.tcp(CLIENT, 40000, VIP, 80, TcpFlags.ACK).payload("data").build();
        try {
            int l4 = 40;
            int length = packet.readableBytes() - l4;
            packet.setShort(l4 + 16, pseudoHeaderSum(packet, length));
            h.setPartialChecksum(true);
            assertTrue(h.parse(packet));
            NatRewriter.rewrite6(h, snat[0], snat[1], 1025, backend[0], backend[1], 8080);
            assertEquals(pseudoHeaderSum(packet, length), packet.getUnsignedShort(l4 + 16),
                    "the field holds the new pseudo-header's sum, as the kernel expects");
            // What the kernel then does: sum the segment, field included, and complement.
            packet.setShort(l4 + 16, Checksum.compute(packet, l4, length));
            assertTrue(TestPacket6.transportChecksumValid(packet, Ipv4.PROTO_TCP, l4));
        } finally {
            h.setPartialChecksum(false);
            packet.release();
        }
    }

    private static int pseudoHeaderSum(ByteBuf p, int length) {
        long sum = Checksum.words(p.getLong(8)) + Checksum.words(p.getLong(16)) + Checksum.words(p.getLong(24))
                + Checksum.words(p.getLong(32)) + length + Ipv4.PROTO_TCP;
        return Checksum.fold(sum);
    }

    @Test
    void aLaterFragmentGetsItsAddressesOnly() {
        long[] snat = Ipv6.parse(SNAT);
        long[] backend = Ipv6.parse(BACKEND);
        ByteBuf packet = TestPacket6.udp(CLIENT, 5353, VIP, 53).protocol(Ipv4.PROTO_UDP).fragment(4, false, 77).build();
        try {
            assertTrue(h.parse(packet));
            int payloadStart = packet.getInt(h.l4Offset());
            NatRewriter.rewriteAddresses6(h, snat[0], snat[1], backend[0], backend[1]);
            assertTrue(h.parse(packet));
            assertEquals(snat[1], h.src6Low());
            assertEquals(backend[0], h.dst6High());
            assertEquals(payloadStart, packet.getInt(h.l4Offset()), "the payload is untouched");
        } finally {
            packet.release();
        }
    }

    @Test
    void anEchoRequestBecomesAReplyWithAValidChecksum() {
        ByteBuf packet = TestPacket6.icmp(CLIENT, VIP, Ipv6.ICMPV6_ECHO_REQUEST, 0, 0x12340001).payload("ping").hopLimit(50).build();
        try {
            assertTrue(h.parse(packet));
            IcmpEcho.turnIntoReply6(h);
            assertTrue(h.parse(packet));
            assertEquals(Ipv6.ICMPV6_ECHO_REPLY, h.icmpType());
            assertEquals(Ipv6.parse(VIP)[1], h.src6Low());
            assertEquals(Ipv6.parse(CLIENT)[1], h.dst6Low());
            assertEquals(IcmpEcho.REPLY_TTL, h.ttl());
            assertTrue(TestPacket6.transportChecksumValid(packet, Ipv6.PROTO_ICMPV6, h.l4Offset()));
        } finally {
            packet.release();
        }
    }
}
