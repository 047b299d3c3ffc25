package io.tandem.dataplane;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.Checksum;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TestPacket;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing (Jazzer) of the packet engine: sequences of packets — raw bytes,
 * well-formed packets between the lab's addresses with fuzzed fields, answers to what the
 * engine last forwarded, ICMP errors quoting it — each optionally corrupted at one byte. Every
 * packet must come out as one of:
 *
 * <ul>
 *   <li>dropped, with a reason, counted once;</li>
 *   <li>forwarded at its own length, with checksums that verify whenever the input's did
 *       (including a CHECKSUM_PARTIAL super-packet once the kernel finishes it);</li>
 *   <li>answered in place (echo reply, reset) with checksums that verify.</li>
 * </ul>
 *
 * The engine may read nothing past the packet (each input sits in a buffer of exactly its
 * size), and after each sequence every flow expires and every SNAT port goes back to its pool.
 * Crashing inputs land in {@code src/test/resources/io/tandem/dataplane/PacketEngineFuzzTestInputs}
 * and are replayed by every build. How to run it longer: docs/fuzzing.md.
 */
class PacketEngineFuzzTest {
    private static final String[] ADDRESSES = {EngineHarness.CLIENT, EngineHarness.VIP, EngineHarness.SNAT,
        "198.19.0.11", "198.19.0.12", "198.19.0.13", "198.19.0.21", "198.18.0.11"};
    private static final int[] PORTS = {80, 53, 8080, 5353, 40000};
    private static final int[] PROTOCOLS = {Ipv4.PROTO_TCP, Ipv4.PROTO_UDP, Ipv4.PROTO_ICMP};
    private static final int MAX_PACKETS = 12;
    private static final long DAY_MILLIS = 86_400_000L;

    /** Built once: a Maglev table per input would slow the fuzzer a hundredfold. Each input drains it. */
    private static EngineHarness engine;
    private static long clock = 1_700_000_000_000L;
    /**
     * Held fragments of this input by IP id and fragment field (NAT changes neither): whether each
     * one's header checksum verified. The kernel checks it before a packet reaches TUN, so the
     * engine does not; a corrupt one comes out as corrupt as it went in.
     */
    private static final Map<Integer, Boolean> HELD_HEADER_SOUND = new HashMap<>();

    @FuzzTest(maxDuration = "15s")
    void everyPacketIsForwardedIntactAnsweredOrCountedAndDropped(FuzzedDataProvider data) throws Exception {
        EngineHarness e = engine();
        clock += 30 * DAY_MILLIS; // the previous input's flows and fragments are long gone
        long now = clock;
        ByteBuf lastForwarded = null;
        HELD_HEADER_SOUND.clear();
        int packets = data.consumeInt(1, MAX_PACKETS);
        for (int i = 0; i < packets && data.remainingBytes() > 0; i++) {
            ByteBuf packet = nextPacket(data, lastForwarded);
            try {
                ByteBuf forwarded = processAndCheck(e, packet, data.consumeBoolean(), now);
                if (forwarded != null) {
                    lastForwarded = forwarded;
                }
                drainReleased(e, now);
            } finally {
                packet.release();
            }
            now += data.consumeInt(0, 5_000);
        }
        assertTrue(e.flows.size() <= e.flows.capacity(), "flows within capacity");
        assertTrue(e.flows.embryonic() <= e.flows.size(), "embryonic flows are flows");
        expireEverything(e, now);
        assertEquals(0, e.flows.size(), "every flow expires");
        assertEquals(0, e.flows.embryonic(), "no embryonic flow left");
        assertEquals(0, e.pools.portsInUse(), "every SNAT port went back to its pool");
    }

    /** Processes one packet and checks the verdict's promise; returns a copy if it was forwarded. */
    private static ByteBuf processAndCheck(EngineHarness e, ByteBuf packet, boolean tryPartial, long now) {
        DataplaneCounters counters = e.processor.counters();
        long packetsIn = counters.packetsIn();
        long drops = counters.dropsTotal();
        int length = packet.readableBytes();
        boolean checksumsVerified = checksumsVerify(packet);
        int partialOffset = tryPartial && checksumsVerified ? partialChecksumOffset(packet) : -1;
        if (partialOffset >= 0) {
            TestPacket.makePartial(packet, packet.getUnsignedByte(9), partialOffset);
        }
        String input = ByteBufUtil.hexDump(packet);

        Verdict verdict = e.processor.process(packet, partialOffset >= 0, now);

        assertNotNull(verdict, input);
        assertEquals(packetsIn + 1, counters.packetsIn(), "counted in: " + input);
        switch (verdict) {
            case DROP -> {
                DropReason reason = e.processor.lastDropReason();
                assertNotNull(reason, "a drop has a reason: " + input);
                assertEquals(drops + 1, counters.dropsTotal(), "a drop is counted once: " + input);
                assertTrue(counters.drops(reason) > 0, "counted under its reason: " + input);
                return null;
            }
            case FORWARD -> {
                assertEquals(drops, counters.dropsTotal(), "forwarded, not dropped: " + input);
                assertEquals(length, packet.readableBytes(), "NAT keeps the length: " + input);
                if (partialOffset >= 0) {
                    TestPacket.finishPartialChecksum(packet, partialOffset);
                }
                if (checksumsVerified) {
                    assertTrue(checksumsVerify(packet), "checksums still verify after NAT: " + input
                            + " -> " + ByteBufUtil.hexDump(packet));
                }
                return Unpooled.copiedBuffer(packet);
            }
            case REPLY -> {
                if (checksumsVerified) {
                    assertTrue(checksumsVerify(packet), "the answer's checksums verify: " + input
                            + " -> " + ByteBufUtil.hexDump(packet));
                }
                return null;
            }
            case HELD -> {
                assertEquals(drops, counters.dropsTotal(), "held, not dropped: " + input);
                HELD_HEADER_SOUND.merge(fragmentKey(packet), headerChecksumVerifies(packet), Boolean::logicalAnd);
                return null;
            }
            default -> throw new AssertionError("unknown verdict " + verdict);
        }
    }

    /**
     * Whatever the engine lets go of after a packet (held fragments whose first came): each one
     * this input held, its header checksum verifying if it did when it was held.
     */
    private static void drainReleased(EngineHarness e, long now) {
        ByteBuf out = Unpooled.directBuffer(4096);
        try {
            for (int i = 0; i < 100 && e.processor.nextReleased(out, now); i++) {
                String released = ByteBufUtil.hexDump(out);
                assertTrue(out.readableBytes() >= 20, "a whole IP header: " + released);
                Boolean sound = HELD_HEADER_SOUND.get(fragmentKey(out));
                assertNotNull(sound, "a fragment this input held: " + released);
                if (sound) {
                    assertTrue(headerChecksumVerifies(out), "its header checksum still verifies: " + released);
                }
                out.clear();
            }
        } finally {
            out.release();
        }
    }

    private static int fragmentKey(ByteBuf packet) {
        return packet.getInt(packet.readerIndex() + 4);
    }

    private static boolean headerChecksumVerifies(ByteBuf packet) {
        int headerLength = (packet.getUnsignedByte(packet.readerIndex()) & 0x0F) * 4;
        return headerLength >= 20 && headerLength <= packet.readableBytes()
                && Checksum.compute(packet, packet.readerIndex(), headerLength) == 0;
    }

    private static ByteBuf nextPacket(FuzzedDataProvider data, ByteBuf lastForwarded) {
        int kind = data.consumeInt(0, 5);
        ByteBuf packet;
        if (kind == 0) {
            packet = exactCopy(data.consumeBytes(1600));
        } else if (kind == 1 && lastForwarded != null && transportOf(lastForwarded) != Ipv4.PROTO_ICMP) {
            packet = answerTo(lastForwarded, data);
        } else if (kind == 2 && lastForwarded != null) {
            packet = icmpErrorAbout(lastForwarded, data);
        } else {
            packet = wellFormed(data);
        }
        if (packet.readableBytes() > 0 && data.consumeInt(0, 7) == 0) {
            packet.setByte(data.consumeInt(0, packet.readableBytes() - 1), data.consumeByte());
        }
        return packet;
    }

    /** A packet whose checksums and lengths are right, between lab addresses, other fields fuzzed. */
    private static ByteBuf wellFormed(FuzzedDataProvider data) {
        int protocol = data.consumeBoolean() ? data.pickValue(PROTOCOLS) : data.consumeInt(0, 255);
        String from = address(data);
        String to = address(data);
        TestPacket p = TestPacket.tcp(from, port(data), to, port(data), data.consumeInt(0, 255));
        if (protocol == Ipv4.PROTO_UDP) {
            p = TestPacket.udp(from, port(data), to, port(data));
        } else if (protocol == Ipv4.PROTO_ICMP) {
            p = TestPacket.icmp(from, to, data.pickValue(new int[] {0, 3, 8, 11, data.consumeInt(0, 255)}),
                    data.consumeInt(0, 15), data.consumeInt());
        } else if (protocol != Ipv4.PROTO_TCP) {
            p = TestPacket.icmp(from, to, 0, 0, 0).protocol(protocol);
        }
        return withCommonFields(p, data).build();
    }

    private static TestPacket withCommonFields(TestPacket p, FuzzedDataProvider data) {
        p.seq(data.consumeInt() & 0xFFFFFFFFL, data.consumeInt() & 0xFFFFFFFFL)
                .ttl(data.consumeInt(0, 255))
                .ipId(data.consumeInt(0, 0xFFFF))
                .window(data.consumeInt(0, 0xFFFF));
        switch (data.consumeInt(0, 3)) {
            case 0 -> p.dontFragment();
            case 1 -> p.fragmentField(Ipv4.FLAG_MORE_FRAGMENTS | data.consumeInt(0, 0x1FFF));
            case 2 -> p.fragmentField(data.consumeInt(0, 0xFFFF));
            default -> {
            }
        }
        return p.payload(data.consumeBytes(data.consumeInt(0, 2000)));
    }

    /** What the far side of the last forwarded packet would send back, flags fuzzed. */
    private static ByteBuf answerTo(ByteBuf forwarded, FuzzedDataProvider data) {
        int l4 = (forwarded.getUnsignedByte(0) & 0x0F) * 4;
        if (forwarded.readableBytes() < l4 + 4) {
            return wellFormed(data);
        }
        String from = Ipv4.format(forwarded.getInt(16));
        String to = Ipv4.format(forwarded.getInt(12));
        int fromPort = forwarded.getUnsignedShort(l4 + 2);
        int toPort = forwarded.getUnsignedShort(l4);
        TestPacket p = transportOf(forwarded) == Ipv4.PROTO_UDP
                ? TestPacket.udp(from, fromPort, to, toPort)
                : TestPacket.tcp(from, fromPort, to, toPort, data.consumeInt(0, 255));
        return withCommonFields(p, data).build();
    }

    /** An ICMP error (unreachable, time exceeded, or fuzzed) quoting the start of the last forwarded packet. */
    private static ByteBuf icmpErrorAbout(ByteBuf forwarded, FuzzedDataProvider data) {
        String from = data.consumeBoolean() ? Ipv4.format(forwarded.getInt(16)) : address(data);
        String to = Ipv4.format(forwarded.getInt(12));
        int quoted = data.consumeInt(0, forwarded.readableBytes());
        byte[] quote = ByteBufUtil.getBytes(forwarded, 0, quoted);
        int type = data.pickValue(new int[] {3, 11, data.consumeInt(0, 255)});
        return TestPacket.icmp(from, to, type, data.consumeInt(0, 15), data.consumeInt(0, 0xFFFF))
                .ttl(data.consumeInt(0, 255)).payload(quote).build();
    }

    private static ByteBuf exactCopy(byte[] bytes) {
        ByteBuf buf = Unpooled.directBuffer(bytes.length, bytes.length);
        return buf.writeBytes(bytes);
    }

    private static String address(FuzzedDataProvider data) {
        return data.consumeInt(0, 15) == 0 ? Ipv4.format(data.consumeInt()) : data.pickValue(ADDRESSES);
    }

    private static int port(FuzzedDataProvider data) {
        return data.consumeInt(0, 7) == 0 ? data.consumeInt(0, 0xFFFF) : data.pickValue(PORTS);
    }

    private static int transportOf(ByteBuf packet) {
        return packet.getUnsignedByte(9);
    }

    /** The checksum field's offset in the transport header if this packet may carry a partial checksum. */
    private static int partialChecksumOffset(ByteBuf packet) {
        boolean plainHeader = (packet.getUnsignedByte(0) & 0x0F) == 5;
        boolean unfragmented = (packet.getUnsignedShort(6) & 0x3FFF) == 0;
        if (!plainHeader || !unfragmented) {
            return -1;
        }
        return switch (transportOf(packet)) {
            case Ipv4.PROTO_TCP -> packet.readableBytes() >= 40 ? 16 : -1;
            case Ipv4.PROTO_UDP -> packet.readableBytes() >= 28 && packet.getUnsignedShort(26) != 0 ? 6 : -1;
            default -> -1;
        };
    }

    /** Whether the packet is a whole IPv4 packet whose every checksum verifies. */
    private static boolean checksumsVerify(ByteBuf packet) {
        if (packet.readableBytes() < 20 || (packet.getUnsignedByte(0) >>> 4) != 4
                || (packet.getUnsignedByte(0) & 0x0F) < 5
                || packet.getUnsignedShort(2) != packet.readableBytes()) {
            return false;
        }
        int headerLength = (packet.getUnsignedByte(0) & 0x0F) * 4;
        int minimum = switch (transportOf(packet)) {
            case Ipv4.PROTO_TCP -> 20;
            case Ipv4.PROTO_UDP -> 8;
            case Ipv4.PROTO_ICMP -> 4;
            default -> 0;
        };
        if (packet.readableBytes() < headerLength + minimum) {
            return false;
        }
        try {
            TestPacket.assertChecksumsValid(packet);
            return true;
        } catch (AssertionError notValid) {
            return false;
        }
    }

    private static void expireEverything(EngineHarness e, long now) {
        long farFuture = now + 10 * DAY_MILLIS;
        for (int round = 0; round < 1_000 && e.flows.size() > 0; round++) {
            e.flows.expire(farFuture, e.flows.capacity());
        }
        e.hold.expire(farFuture);
        assertEquals(0, e.hold.held(), "no fragment held beyond its time");
    }

    private static synchronized EngineHarness engine() throws Exception {
        if (engine == null) {
            engine = new EngineHarness();
        }
        return engine;
    }
}
