package io.tandem.packet;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing (Jazzer) of the IPv6 parser and the NAT66 rewrite, beside
 * {@code PacketEngineFuzzTest}'s IPv4 engine: raw bytes with version 6, and well-formed
 * packets with a fuzzed chain of extension headers, each maybe corrupted at one byte. Every
 * input must parse into headers that lie inside the packet, or be refused with a reason; the
 * parser may read nothing past the packet (each input sits in a buffer of exactly its size);
 * a TCP/UDP packet whose checksum verified still verifies after NAT66.
 */
class Ipv6ParserFuzzTest {
    private static final int[] HEADERS = {Ipv6.HOP_BY_HOP, Ipv6.DESTINATION_OPTIONS, Ipv6.ROUTING, Ipv6.FRAGMENT};
    private static final long[] SNAT = Ipv6.parse("2001:2:0:2::100");
    private static final long[] BACKEND = Ipv6.parse("2001:2:0:2::11");

    @FuzzTest(maxDuration = "15s")
    void everyIpv6PacketParsesInsideItselfOrIsRefusedWithAReason(FuzzedDataProvider data) {
        byte[] bytes = data.consumeBoolean() ? built(data) : raw(data);
        if (bytes.length > 0 && data.consumeBoolean()) {
            bytes[data.consumeInt(0, bytes.length - 1)] = data.consumeByte();
        }
        ByteBuf packet = Unpooled.wrappedBuffer(bytes);
        PacketHeaders h = new PacketHeaders();
        if (!h.parse(packet)) {
            assertNotNull(h.malformation());
            return;
        }
        if (!h.isIpv6()) {
            return; // the corrupted byte made it another version: the IPv4 tests' business
        }
        assertTrue(h.totalLength() <= bytes.length && h.totalLength() >= Ipv6.HEADER_LENGTH);
        assertTrue(h.l4Offset() >= Ipv6.HEADER_LENGTH);
        assertEquals(h.totalLength(), h.l4Offset() + h.l4Length());
        if (!h.isNonFirstFragment()) {
            assertFalse(Ipv6.isExtensionHeader(h.protocol()), "the walk ends at a transport header");
        }
        boolean transport = h.protocol() == Ipv4.PROTO_TCP || h.protocol() == Ipv4.PROTO_UDP;
        if (transport && !h.isFragment()
                && TestPacket6.transportChecksumValid(packet, h.protocol(), h.l4Offset())) {
            NatRewriter.rewrite6(h, SNAT[0], SNAT[1], 1025, BACKEND[0], BACKEND[1], 8080);
            assertTrue(TestPacket6.transportChecksumValid(packet, h.protocol(), h.l4Offset()),
                    () -> "checksum after NAT66: " + ByteBufUtil.hexDump(packet));
        }
    }

    private static byte[] raw(FuzzedDataProvider data) {
        byte[] bytes = data.consumeBytes(data.consumeInt(0, 200));
        if (bytes.length > 0) {
            bytes[0] = (byte) (0x60 | bytes[0] & 0x0F);
        }
        return bytes;
    }

    private static byte[] built(FuzzedDataProvider data) {
        int kind = data.consumeInt(0, 2);
        TestPacket6 p = switch (kind) {
            case 0 -> TestPacket6.tcp("2001:2:0:1::5", data.consumeInt(0, 65535), "2001:2::10", 80, data.consumeInt(0, 255));
            case 1 -> TestPacket6.udp("2001:2:0:1::5", data.consumeInt(0, 65535), "2001:2::10", 53);
            default -> TestPacket6.icmp("2001:2:0:1::5", "2001:2::10", data.consumeInt(0, 255), 0, data.consumeInt());
        };
        int headers = data.consumeInt(0, 10);
        for (int i = 0; i < headers; i++) {
            switch (data.pickValue(HEADERS)) {
                case Ipv6.ROUTING -> p.routing(data.consumeInt(0, 4), data.consumeInt(0, 2));
                case Ipv6.FRAGMENT -> p.fragment(data.consumeInt(0, 4), data.consumeBoolean(), data.consumeInt());
                default -> p.options(data.consumeBoolean() ? Ipv6.HOP_BY_HOP : Ipv6.DESTINATION_OPTIONS, data.consumeInt(1, 3));
            }
        }
        p.payload(data.consumeBytes(data.consumeInt(0, 64)));
        ByteBuf b = p.build();
        try {
            return ByteBufUtil.getBytes(b);
        } finally {
            b.release();
        }
    }
}
