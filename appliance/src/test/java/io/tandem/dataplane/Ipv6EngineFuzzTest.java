package io.tandem.dataplane;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket6;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing (Jazzer) of the engine's IPv6 paths, as {@link PacketEngineFuzzTest}
 * does the IPv4 ones: sequences of raw bytes, well-formed IPv6 packets between the lab's
 * addresses with fuzzed fields and extension headers, answers to what the engine last
 * forwarded and ICMPv6 errors quoting it, each optionally corrupted at one byte. Every packet is
 * dropped with a reason and counted once, forwarded at its own length with a transport checksum
 * that still verifies if it did, or answered; the engine reads nothing past the packet. After each
 * sequence every flow expires, every SNAT port goes back to its pool and every client address
 * leaves the IPv6 address arena (only the config's stay).
 */
class Ipv6EngineFuzzTest {
    private static final String[] ADDRESSES = {Ipv6EngineTest.CLIENT6, Ipv6EngineTest.VIP6, Ipv6EngineTest.SNAT6,
        "2001:2:0:2::11", "2001:2:0:2::12", Ipv6EngineTest.ROUTER6, "ff02::1", "fe80::1", "::ffff:198.18.0.10"};
    private static final int[] PORTS = {80, 53, 8080, 5353, 40000};
    private static final int[] EXTENSIONS = {Ipv6.HOP_BY_HOP, Ipv6.DESTINATION_OPTIONS, Ipv6.ROUTING, Ipv6.FRAGMENT};
    private static final int MAX_PACKETS = 10;
    private static final long DAY_MILLIS = 86_400_000L;

    private static EngineHarness engine;
    private static int pinned;
    private static long clock = 1_700_000_000_000L;

    @FuzzTest(maxDuration = "10s")
    void everyIpv6PacketIsForwardedIntactAnsweredOrCountedAndDropped(FuzzedDataProvider data) throws Exception {
        EngineHarness e = engine();
        clock += 30 * DAY_MILLIS;
        long now = clock;
        ByteBuf lastForwarded = null;
        int packets = data.consumeInt(1, MAX_PACKETS);
        for (int i = 0; i < packets && data.remainingBytes() > 0; i++) {
            ByteBuf packet = nextPacket(data, lastForwarded);
            try {
                ByteBuf forwarded = processAndCheck(e, packet, now);
                if (forwarded != null) {
                    lastForwarded = forwarded;
                }
                ByteBuf out = Unpooled.directBuffer(4096);
                try {
                    for (int k = 0; k < 100 && e.processor.nextReleased(out, now); k++) {
                        out.clear(); // held fragments let go: their checks are the IPv4 fuzz test's
                    }
                } finally {
                    out.release();
                }
            } finally {
                packet.release();
            }
            now += data.consumeInt(0, 5_000);
        }
        long farFuture = now + 10 * DAY_MILLIS;
        for (int round = 0; round < 1_000 && e.flows.size() > 0; round++) {
            e.flows.expire(farFuture, e.flows.capacity());
        }
        e.hold.expire(farFuture);
        assertEquals(0, e.flows.size(), "every flow expires");
        assertEquals(0, e.pools.portsInUse(), "every SNAT port went back to its pool");
        assertEquals(pinned, e.flows.ipv6Addresses().size(), "every client address left the arena with its flows");
    }

    private static ByteBuf processAndCheck(EngineHarness e, ByteBuf packet, long now) {
        DataplaneCounters counters = e.processor.counters();
        long packetsIn = counters.packetsIn();
        long drops = counters.dropsTotal();
        int length = packet.readableBytes();
        boolean verified = transportChecksumVerifies(packet);
        String input = ByteBufUtil.hexDump(packet);

        Verdict verdict = e.processor.process(packet, false, now);

        assertNotNull(verdict, input);
        assertEquals(packetsIn + 1, counters.packetsIn(), "counted in: " + input);
        switch (verdict) {
            case DROP -> {
                DropReason reason = e.processor.lastDropReason();
                assertNotNull(reason, "a drop has a reason: " + input);
                assertEquals(drops + 1, counters.dropsTotal(), "a drop is counted once: " + input);
                return null;
            }
            case FORWARD -> {
                assertEquals(drops, counters.dropsTotal(), "forwarded, not dropped: " + input);
                assertEquals(length, packet.readableBytes(), "NAT66 keeps the length: " + input);
                if (verified) {
                    assertTrue(transportChecksumVerifies(packet), "the checksum still verifies: " + input + " -> " + ByteBufUtil.hexDump(packet));
                }
                return Unpooled.copiedBuffer(packet);
            }
            case REPLY -> {
                if (verified) {
                    assertTrue(transportChecksumVerifies(packet), "the answer's checksum verifies: " + input + " -> " + ByteBufUtil.hexDump(packet));
                }
                return null;
            }
            case HELD -> {
                assertEquals(drops, counters.dropsTotal(), "held, not dropped: " + input);
                return null;
            }
            default -> throw new AssertionError("unknown verdict " + verdict);
        }
    }

    private static ByteBuf nextPacket(FuzzedDataProvider data, ByteBuf lastForwarded) {
        int kind = data.consumeInt(0, 5);
        ByteBuf packet;
        if (kind == 0) {
            byte[] bytes = data.consumeBytes(1600);
            packet = Unpooled.directBuffer(bytes.length, bytes.length).writeBytes(bytes);
        } else if (kind == 1 && lastForwarded != null && next(lastForwarded) != Ipv6.PROTO_ICMPV6) {
            packet = answerTo(lastForwarded, data);
        } else if (kind == 2 && lastForwarded != null) {
            int quoted = data.consumeInt(0, lastForwarded.readableBytes());
            packet = TestPacket6.icmp(data.consumeBoolean() ? src(lastForwarded) : data.pickValue(ADDRESSES), dst(lastForwarded),
                    data.pickValue(new int[] {1, 2, 3, data.consumeInt(0, 255)}), data.consumeInt(0, 3), data.consumeInt())
                    .hopLimit(data.consumeInt(0, 255)).payload(ByteBufUtil.getBytes(lastForwarded, 0, quoted)).build();
        } else {
            packet = wellFormed(data);
        }
        if (packet.readableBytes() > 0 && data.consumeInt(0, 7) == 0) {
            packet.setByte(data.consumeInt(0, packet.readableBytes() - 1), data.consumeByte());
        }
        return exact(packet);
    }

    /** The packet in a buffer of exactly its size, so a read past it fails. */
    private static ByteBuf exact(ByteBuf packet) {
        ByteBuf copy = Unpooled.directBuffer(packet.readableBytes(), packet.readableBytes()).writeBytes(packet);
        packet.release();
        return copy;
    }

    private static ByteBuf wellFormed(FuzzedDataProvider data) {
        String from = data.pickValue(ADDRESSES);
        String to = data.pickValue(ADDRESSES);
        TestPacket6 p = switch (data.consumeInt(0, 3)) {
            case 0 -> TestPacket6.udp(from, port(data), to, port(data));
            case 1 -> TestPacket6.icmp(from, to, data.pickValue(new int[] {128, 129, 1, 2, 3, 135, data.consumeInt(0, 255)}),
                    data.consumeInt(0, 3), data.consumeInt());
            default -> TestPacket6.tcp(from, port(data), to, port(data), data.consumeBoolean() ? TcpFlags.SYN : data.consumeInt(0, 255));
        };
        return withCommonFields(p, data).build();
    }

    private static TestPacket6 withCommonFields(TestPacket6 p, FuzzedDataProvider data) {
        p.hopLimit(data.consumeInt(0, 255));
        for (int n = data.consumeInt(0, 3); n > 0; n--) {
            switch (data.pickValue(EXTENSIONS)) {
                case Ipv6.ROUTING -> p.routing(data.consumeInt(0, 4), data.consumeInt(0, 2));
                case Ipv6.FRAGMENT -> p.fragment(data.consumeBoolean() ? 0 : data.consumeInt(1, 0x1FFF), data.consumeBoolean(),
                        data.consumeInt());
                case Ipv6.HOP_BY_HOP -> p.options(Ipv6.HOP_BY_HOP, data.consumeInt(1, 2));
                default -> p.options(Ipv6.DESTINATION_OPTIONS, data.consumeInt(1, 2));
            }
        }
        return p.payload(data.consumeBytes(data.consumeInt(0, 1400)));
    }

    private static ByteBuf answerTo(ByteBuf forwarded, FuzzedDataProvider data) {
        if (forwarded.readableBytes() < Ipv6.HEADER_LENGTH + 4) {
            return wellFormed(data);
        }
        int fromPort = forwarded.getUnsignedShort(Ipv6.HEADER_LENGTH + 2);
        int toPort = forwarded.getUnsignedShort(Ipv6.HEADER_LENGTH);
        TestPacket6 p = next(forwarded) == Ipv4.PROTO_UDP
                ? TestPacket6.udp(dst(forwarded), fromPort, src(forwarded), toPort)
                : TestPacket6.tcp(dst(forwarded), fromPort, src(forwarded), toPort, data.consumeInt(0, 255));
        return withCommonFields(p, data).build();
    }

    private static int next(ByteBuf packet) {
        return packet.getUnsignedByte(6);
    }

    private static String src(ByteBuf packet) {
        return Ipv6.format(packet.getLong(8), packet.getLong(16));
    }

    private static String dst(ByteBuf packet) {
        return Ipv6.format(packet.getLong(24), packet.getLong(32));
    }

    private static int port(FuzzedDataProvider data) {
        return data.consumeInt(0, 7) == 0 ? data.consumeInt(0, 0xFFFF) : data.pickValue(PORTS);
    }

    /** An unfragmented IPv6 TCP, UDP or ICMPv6 packet without extension headers whose transport checksum verifies. */
    private static boolean transportChecksumVerifies(ByteBuf p) {
        if (p.readableBytes() < Ipv6.HEADER_LENGTH || (p.getUnsignedByte(0) >>> 4) != 6
                || Ipv6.HEADER_LENGTH + p.getUnsignedShort(4) != p.readableBytes()) {
            return false;
        }
        int proto = next(p);
        int minimum = switch (proto) {
            case Ipv4.PROTO_TCP -> 20;
            case Ipv4.PROTO_UDP -> 8;
            case Ipv6.PROTO_ICMPV6 -> 4;
            default -> -1;
        };
        return minimum >= 0 && p.readableBytes() >= Ipv6.HEADER_LENGTH + minimum
                && TestPacket6.transportChecksumValid(p, proto, Ipv6.HEADER_LENGTH);
    }

    private static synchronized EngineHarness engine() throws Exception {
        if (engine == null) {
            engine = new EngineHarness(Ipv6EngineTest.YAML);
            pinned = engine.flows.ipv6Addresses().size();
        }
        return engine;
    }
}
