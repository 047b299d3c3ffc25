package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PacketHeadersTest {
    private final PacketHeaders headers = new PacketHeaders();

    @Test
    void parsesTcpHeaders() {
        ByteBuf p = TestPacket.tcp("198.18.0.10", 40000, "198.18.0.100", 80, TcpFlags.SYN).payload("hello").build();
        assertTrue(headers.parse(p));
        assertEquals(Ipv4.PROTO_TCP, headers.protocol());
        assertEquals(Ipv4.parse("198.18.0.10"), headers.srcAddress());
        assertEquals(Ipv4.parse("198.18.0.100"), headers.dstAddress());
        assertEquals(40000, headers.srcPort());
        assertEquals(80, headers.dstPort());
        assertEquals(TcpFlags.SYN, headers.tcpFlags());
        assertEquals(25, headers.l4Length());
        assertFalse(headers.isFragment());
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
                bad("fewer than 20 bytes", p -> p.writerIndex(19), DropReason.TRUNCATED),
                bad("version nibble 5", p -> p.setByte(0, 0x55), DropReason.NOT_IP),
                bad("IHL of 4 words", p -> p.setByte(0, 0x44), DropReason.BAD_HEADER_LENGTH),
                bad("IHL beyond the packet", p -> { p.setByte(0, 0x4F); p.writerIndex(40); }, DropReason.BAD_HEADER_LENGTH),
                bad("total length beyond the packet", p -> p.setShort(2, p.readableBytes() + 1), DropReason.BAD_TOTAL_LENGTH),
                bad("total length below the header", p -> p.setShort(2, 19), DropReason.BAD_TOTAL_LENGTH),
                bad("IP options", p -> p.setByte(0, 0x46), DropReason.IP_OPTIONS),
                bad("TCP data offset below 5", p -> p.setByte(32, 4 << 4), DropReason.BAD_L4_HEADER),
                bad("TCP data offset beyond the segment", p -> p.setByte(32, 15 << 4), DropReason.BAD_L4_HEADER),
                bad("TCP header cut short", p -> { p.setShort(2, 30); p.writerIndex(30); }, DropReason.TRUNCATED));
    }

    private static Arguments bad(String what, Consumer<ByteBuf> damage, DropReason reason) {
        return Arguments.of(what, damage, reason);
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("malformed")
    void classifiesMalformedInputWithAReason(String what, Consumer<ByteBuf> damage, DropReason reason) {
        ByteBuf p = TestPacket.tcp("198.18.0.10", 40000, "198.18.0.100", 80, TcpFlags.SYN).payload("hello").build();
        damage.accept(p);
        assertFalse(headers.parse(p), what);
        assertEquals(reason, headers.malformation(), what);
        assertEquals(reason != DropReason.NOT_IP, reason.malformed());
    }

    @Test
    void udpLengthMustFitUnlessFirstFragment() {
        ByteBuf p = TestPacket.udp("198.18.0.10", 5000, "198.18.0.100", 53).payload("query").build();
        p.setShort(24, 200);
        assertFalse(headers.parse(p));
        assertEquals(DropReason.BAD_L4_HEADER, headers.malformation());

        ByteBuf big = TestPacket.udp("198.18.0.10", 5000, "198.18.0.100", 53).payload(new byte[64]).build();
        ByteBuf first = TestPacket.split(big, 32)[0];
        assertTrue(headers.parse(first), "a first fragment carries only part of the UDP length");
        assertTrue(headers.isFragment());
        assertFalse(headers.isNonFirstFragment());
    }

    @Test
    void nonFirstFragmentHasNoTransportHeader() {
        ByteBuf big = TestPacket.udp("198.18.0.10", 5000, "198.18.0.100", 53).payload(new byte[64]).build();
        ByteBuf second = TestPacket.split(big, 32)[1];
        assertTrue(headers.parse(second));
        assertTrue(headers.isNonFirstFragment());
        assertEquals(0, headers.srcPort());
    }

    @Test
    void truncatedUdpAndIcmpHeaders() {
        ByteBuf udp = TestPacket.udp("198.18.0.10", 5000, "198.18.0.100", 53).build();
        udp.setShort(2, 27);
        udp.writerIndex(27);
        assertFalse(headers.parse(udp));
        assertEquals(DropReason.TRUNCATED, headers.malformation());

        ByteBuf icmp = TestPacket.icmp("198.18.0.10", "198.18.0.100", 8, 0, 0).build();
        icmp.setShort(2, 24);
        icmp.writerIndex(24);
        assertFalse(headers.parse(icmp));
        assertEquals(DropReason.TRUNCATED, headers.malformation());
    }
}
