package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.tandem.conntrack.FlowLookup;
import io.tandem.dataplane.fastpath.FastPathProgram;
import io.tandem.dataplane.fastpath.SegmentReports;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.lab.ThreadNetns;
import io.tandem.packet.Checksum;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static io.tandem.dataplane.EngineHarness.CLIENT;
import static io.tandem.dataplane.EngineHarness.SNAT;
import static io.tandem.dataplane.EngineHarness.VIP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fast path's BPF program run on packets without traffic ({@code BPF_PROG_TEST_RUN}), in a
 * network namespace this test makes: for the same flow, the program must leave exactly the
 * bytes the engine makes — after the kernel's forwarding has taken one from the TTL, which the
 * program does itself — and must pass on unchanged every packet the engine has to see.
 */
class FastPathProgramIT {
    private static final long NOW = 1_000_000L;
    /** To the test run's device (the loopback, whose address is all zeros): a frame for this host (PACKET_HOST). */
    private static final byte[] ETHERNET = HexFormat.of().parseHex("000000000000" + "020000000002" + "0800");
    private static final int LOOPBACK = 1;

    private static byte[] bytes(ByteBuf packet) {
        return ByteBufUtil.getBytes(packet, packet.readerIndex(), packet.readableBytes());
    }

    private static byte[] frame(byte[] packet) {
        byte[] frame = new byte[ETHERNET.length + packet.length];
        System.arraycopy(ETHERNET, 0, frame, 0, ETHERNET.length);
        System.arraycopy(packet, 0, frame, ETHERNET.length, packet.length);
        return frame;
    }

    /** What the kernel does to the engine's packet when it forwards it: TTL - 1, IP checksum anew. */
    private static byte[] forwarded(byte[] packet) {
        byte[] out = packet.clone();
        out[8] = (byte) (out[8] - 1);
        return withIpChecksum(out, 20);
    }

    /** {@code packet} with its IP header checksum computed afresh over {@code headerLength} bytes. */
    private static byte[] withIpChecksum(byte[] packet, int headerLength) {
        packet[10] = 0;
        packet[11] = 0;
        int sum = Checksum.compute(Unpooled.wrappedBuffer(packet), 0, headerLength);
        packet[10] = (byte) (sum >>> 8);
        packet[11] = (byte) sum;
        return packet;
    }

    /** Runs {@code packet} through the program; asserts the verdict; returns the IP packet it left. */
    private static byte[] run(FastPathProgram program, byte[] packet, int expectedVerdict) {
        byte[][] out = new byte[1][];
        assertEquals(expectedVerdict, program.testRun(frame(packet), out), "the program's verdict");
        byte[] ip = new byte[out[0].length - ETHERNET.length];
        System.arraycopy(out[0], ETHERNET.length, ip, 0, ip.length);
        return ip;
    }

    private static void installBothWays(FastPathProgram program, FlowLookup f, int ifindex) {
        assertEquals(0, program.install(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(),
                f.snatAddress(), f.snatPort(), f.backendAddress(), f.backendPort(), ifindex));
        assertEquals(0, program.install(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort(),
                f.vipAddress(), f.vipPort(), f.clientAddress(), f.clientPort(), ifindex));
    }

    /**
     * Installs a flow as the engine does when it decides its SYN (client sequence at 101): the
     * handshake's ACK asked for, the backend's direction awaiting its SYN-ACK.
     */
    private static void installAtTheSyn(FastPathProgram program, FlowLookup f) {
        assertEquals(0, program.install(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(), f.snatAddress(),
                f.snatPort(), f.backendAddress(), f.backendPort(), LOOPBACK, FastPathProgram.NAT_REPORT_ACK, 101));
        assertEquals(0, program.install(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort(),
                f.vipAddress(), f.vipPort(), f.clientAddress(), f.clientPort(), LOOPBACK, FastPathProgram.NAT_AWAIT_SYNACK, -1));
    }

    /** An established TCP flow through the engine (SYN, SYN-ACK, ACK). */
    private static FlowLookup tcpFlow(EngineHarness engine, int clientPort) {
        engine.processor.process(TestPacket.tcp(CLIENT, clientPort, VIP, 80, TcpFlags.SYN).seq(100, 0).build(), NOW);
        FlowLookup f = engine.flow(Ipv4.PROTO_TCP, CLIENT, clientPort, VIP, 80);
        String backend = Ipv4.format(f.backendAddress());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(900, 101).build(), NOW);
        engine.processor.process(TestPacket.tcp(CLIENT, clientPort, VIP, 80, TcpFlags.ACK).seq(101, 901).build(), NOW);
        return engine.flow(Ipv4.PROTO_TCP, CLIENT, clientPort, VIP, 80);
    }

    @Test
    void forEveryGeneratedPacketTheProgramAndTheEngineMakeTheSameBytes() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfp"); FastPathProgram program = FastPathProgram.load(4096)) {
            EngineHarness engine = new EngineHarness();
            Random random = new Random(20261201);
            int lengthOfCase0 = -1;
            for (int i = 0; i < 300; i++) {
                boolean tcp = random.nextBoolean();
                int clientPort = 20_000 + i;
                int length = random.nextInt(1400);
                if (i == 0) {
                    lengthOfCase0 = length;
                }
                byte[] payload = new byte[length];
                random.nextBytes(payload);
                FlowLookup f;
                TestPacket original;
                if (tcp) {
                    f = tcpFlow(engine, clientPort);
                    original = TestPacket.tcp(CLIENT, clientPort, VIP, 80, TcpFlags.ACK | TcpFlags.PSH).seq(101, 901).payload(payload);
                } else {
                    engine.processor.process(TestPacket.udp(CLIENT, clientPort, VIP, 53).payload("first").build(), NOW);
                    f = engine.flow(Ipv4.PROTO_UDP, CLIENT, clientPort, VIP, 53);
                    original = TestPacket.udp(CLIENT, clientPort, VIP, 53).payload(payload);
                    if (random.nextInt(4) == 0) {
                        original.udpWithoutChecksum();
                    }
                }
                original.ttl(2 + random.nextInt(250)).ipId(random.nextInt(65536));
                assertNotNull(f, "case " + i);
                installBothWays(program, f, LOOPBACK);
                byte[] in = bytes(original.build());
                ByteBuf viaEngine = original.build();
                assertEquals(Verdict.FORWARD, engine.processor.process(viaEngine, NOW));
                byte[] expected = forwarded(bytes(viaEngine));
                assertEquals(HexFormat.of().formatHex(expected), HexFormat.of().formatHex(run(program, in, FastPathProgram.TC_ACT_REDIRECT)),
                        "case " + i + (tcp ? " tcp" : " udp") + " length " + length);

                // And the reply, the other way.
                String backend = Ipv4.format(f.backendAddress());
                TestPacket reply = tcp ? TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), TcpFlags.ACK).seq(901, 101 + length).payload(payload)
                        : TestPacket.udp(backend, f.backendPort(), SNAT, f.snatPort()).payload(payload);
                ByteBuf replyViaEngine = reply.build();
                assertEquals(Verdict.FORWARD, engine.processor.process(replyViaEngine, NOW));
                assertEquals(HexFormat.of().formatHex(forwarded(bytes(replyViaEngine))),
                        HexFormat.of().formatHex(run(program, bytes(reply.build()), FastPathProgram.TC_ACT_REDIRECT)), "reply of case " + i);
            }
            assertEquals(600, program.counter(FastPathProgram.FORWARDED));
            FastPathProgram.Seen seen = program.seen(Ipv4.PROTO_TCP, Ipv4.parse(CLIENT), 20_000, Ipv4.parse(VIP), 80);
            FastPathProgram.Seen udpSeen = program.seen(Ipv4.PROTO_UDP, Ipv4.parse(CLIENT), 20_000, Ipv4.parse(VIP), 53);
            FastPathProgram.Seen first = seen != null ? seen : udpSeen;
            assertNotNull(first);
            assertEquals(1, first.packets(), "the program counts what it forwards");
            if (seen != null) {
                assertEquals(101 + lengthOfCase0, seen.sequenceEnd(), "and where the client's sequence stands");
            }
            assertTrue(first.lastSeenNanos() > 0, "and stamps it");
        }
    }

    @Test
    void whatTheEngineMustSeeGoesOnUnchanged() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfq"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            FlowLookup f = tcpFlow(engine, 30_000);
            installBothWays(program, f, LOOPBACK);
            byte[][] slow = {
                bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.FIN | TcpFlags.ACK).build()),
                bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.RST).build()),
                bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.SYN).build()),
                bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.ACK).ttl(1).build()),
                bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.ACK).fragmentField(Ipv4.FLAG_MORE_FRAGMENTS).payload(new byte[64]).build()),
                bytes(TestPacket.icmp(CLIENT, VIP, 8, 0, 1).build()),
                bytes(TestPacket.tcp(CLIENT, 30_001, VIP, 80, TcpFlags.ACK).build()), // no entry
            };
            for (byte[] packet : slow) {
                assertEquals(HexFormat.of().formatHex(packet), HexFormat.of().formatHex(run(program, packet, FastPathProgram.TC_ACT_OK)));
            }
            byte[] options = withIpOptions(bytes(TestPacket.tcp(CLIENT, 30_000, VIP, 80, TcpFlags.ACK).build()));
            assertEquals(HexFormat.of().formatHex(options), HexFormat.of().formatHex(run(program, options, FastPathProgram.TC_ACT_OK)));
            assertEquals(3, program.counter(FastPathProgram.TCP_FLAGS));
            assertEquals(4, program.counter(FastPathProgram.NOT_SIMPLE));
            assertEquals(1, program.counter(FastPathProgram.NO_ENTRY));
            assertEquals(0, program.counter(FastPathProgram.FORWARDED));
        }
    }

    /** One malformed or stray packet of an installed flow, and the counter its pass must show. */
    private record Stray(String what, byte[] frame, int ingressIfindex, int counter) {
    }

    private static byte[] withDestinationMac(byte[] frame, String mac) {
        byte[] out = frame.clone();
        System.arraycopy(HexFormat.of().parseHex(mac), 0, out, 0, 6);
        return out;
    }

    /**
     * Issue 29, point 3: for a tuple that is installed, the program must not forward what the kernel
     * or the engine would drop — a bad IPv4 header checksum or total length, a TCP data offset
     * below 5 or past the packet, a UDP length past the packet, IPv6 UDP with checksum 0, a frame
     * addressed to another host or to everyone, a packet that came in by the interface its entry
     * leaves by. Each goes on to the kernel unchanged and is counted (the kernel and the engine
     * then drop it as they always did).
     */
    @Test
    void malformedAndStrayPacketsOfAnInstalledFlowGoOnUnchangedAndCounted() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfs"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            FlowLookup f = tcpFlow(engine, 30_300);
            installBothWays(program, f, LOOPBACK);
            int udpPort = 30_301;
            assertEquals(0, program.install(Ipv4.PROTO_UDP, Ipv4.parse(CLIENT), udpPort, Ipv4.parse(VIP), 53, Ipv4.parse(SNAT), udpPort,
                    f.backendAddress(), 53, LOOPBACK));
            long[] client6 = Ipv6.parse("2001:2::10");
            long[] vip6 = Ipv6.parse("2001:2::100");
            assertEquals(0, program.install6(Ipv4.PROTO_UDP, client6, udpPort, vip6, 53, Ipv6.parse("2001:2:0:1::100"), udpPort,
                    Ipv6.parse("2001:2:0:1::11"), 53, LOOPBACK, 0, -1));
            byte[] good = bytes(TestPacket.tcp(CLIENT, 30_300, VIP, 80, TcpFlags.ACK).seq(101, 901).payload(new byte[40]).build());
            byte[] goodUdp = bytes(TestPacket.udp(CLIENT, udpPort, VIP, 53).payload(new byte[20]).build());
            byte[] badChecksum = good.clone();
            badChecksum[10] ^= 0x5A;
            byte[] longer = good.clone();
            longer[2] = 0x02; // total length 512 + the low byte: past the packet
            byte[] shorter = good.clone();
            shorter[2] = 0;
            shorter[3] = 19;
            byte[] offset4 = good.clone();
            offset4[20 + 12] = 0x40;
            byte[] offset15 = bytes(TestPacket.tcp(CLIENT, 30_300, VIP, 80, TcpFlags.ACK).seq(101, 901).payload(new byte[10]).build());
            offset15[20 + 12] = (byte) 0xF0; // 60 bytes of header in a 30-byte segment
            byte[] udpLong = goodUdp.clone();
            udpLong[20 + 4] = 0x10; // UDP length 4,096 + the low byte
            byte[] udp6 = bytes(TestPacket6.udp("2001:2::10", udpPort, "2001:2::100", 53).payload(new byte[20]).build());
            byte[] udp6NoChecksum = bytes(TestPacket6.udp("2001:2::10", udpPort, "2001:2::100", 53).payload(new byte[20]).udpWithoutChecksum().build());
            byte[] frame6NoChecksum = new byte[ETHERNET6.length + udp6NoChecksum.length];
            System.arraycopy(ETHERNET6, 0, frame6NoChecksum, 0, ETHERNET6.length);
            System.arraycopy(udp6NoChecksum, 0, frame6NoChecksum, ETHERNET6.length, udp6NoChecksum.length);
            List<Stray> strays = List.of(
                    new Stray("a bad IPv4 header checksum", frame(badChecksum), 0, FastPathProgram.MALFORMED),
                    new Stray("a total length past the packet", frame(withIpChecksum(longer, 20)), 0, FastPathProgram.MALFORMED),
                    new Stray("a total length below the header", frame(withIpChecksum(shorter, 20)), 0, FastPathProgram.MALFORMED),
                    new Stray("a TCP data offset of 4", frame(offset4), 0, FastPathProgram.MALFORMED),
                    new Stray("a TCP data offset past the packet", frame(offset15), 0, FastPathProgram.MALFORMED),
                    new Stray("a UDP length past the packet", frame(udpLong), 0, FastPathProgram.MALFORMED),
                    new Stray("IPv6 UDP with checksum 0", frame6NoChecksum, 0, FastPathProgram.MALFORMED),
                    new Stray("a frame for another host", withDestinationMac(frame(good), "020000000009"), 0, FastPathProgram.NOT_FOR_US),
                    new Stray("a broadcast frame", withDestinationMac(frame(good), "ffffffffffff"), 0, FastPathProgram.NOT_FOR_US),
                    new Stray("in by the interface it would leave by", frame(good), LOOPBACK, FastPathProgram.NOT_FOR_US));
            long[] counts = new long[9];
            for (Stray stray : strays) {
                byte[][] out = new byte[1][];
                assertEquals(FastPathProgram.TC_ACT_OK, program.testRun(stray.frame(), out, stray.ingressIfindex(), 0), stray.what());
                assertEquals(HexFormat.of().formatHex(stray.frame()), HexFormat.of().formatHex(out[0]), stray.what() + ": unchanged");
                counts[stray.counter()]++;
                assertEquals(counts[stray.counter()], program.counter(stray.counter()), stray.what() + ": counted");
            }
            assertEquals(0, program.counter(FastPathProgram.FORWARDED), "none forwarded");
            run(program, good, FastPathProgram.TC_ACT_REDIRECT);
            run(program, goodUdp, FastPathProgram.TC_ACT_REDIRECT);
            run6(program, udp6, FastPathProgram.TC_ACT_REDIRECT);
            assertEquals(3, program.counter(FastPathProgram.FORWARDED), "the same packets, well formed and for this host, go fast");
        }
    }

    /** The reports a test reads: "4 SRC:PORT>DST:PORT flags seq", in order. */
    private static final class Recorder implements SegmentReports.Listener {
        final List<String> seen = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void ipv4(int src, int srcPort, int dst, int dstPort, SegmentReports.Segment segment) {
            seen.add("4 " + Ipv4.format(src) + ":" + srcPort + ">" + Ipv4.format(dst) + ":" + dstPort + " " + segment.flags() + " "
                    + segment.seq() + (TcpFlags.has(segment.flags(), TcpFlags.SYN) ? " window " + segment.window() + " scale "
                    + segment.windowScale() : ""));
        }

        @Override
        public void ipv6(long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort, SegmentReports.Segment segment) {
            seen.add("6 " + srcPort + ">" + dstPort + " " + segment);
        }

        void await(int count) {
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (seen.size() < count && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(count, seen.size(), "reports read: " + seen);
        }
    }

    /**
     * A flow installed when the engine has decided its SYN (the backend's direction awaiting the
     * SYN-ACK, the handshake's last ACK asked for): the SYN-ACK (with its window scale), that ACK
     * and the FINs at their exact sequence numbers go fast and are reported through the ring
     * buffer — once each — while the backend's segments before its SYN-ACK, a FIN anywhere else, a
     * RST and a SYN go on to the engine unchanged; the entries note where each side stands and
     * which sent its FIN.
     */
    @Test
    void theSegmentsThatMoveAFlowGoFastAndAreReportedTheRestGoesToTheEngine() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfe"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            engine.processor.process(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.SYN).seq(100, 0).build(), NOW);
            FlowLookup f = engine.flow(Ipv4.PROTO_TCP, CLIENT, 31_000, VIP, 80);
            String backend = Ipv4.format(f.backendAddress());
            String client = CLIENT + ":31000>" + VIP + ":80";
            String reply = backend + ":8080>" + SNAT + ":" + f.snatPort();
            installAtTheSyn(program, f);
            Recorder recorder = new Recorder();
            try (SegmentReports reports = SegmentReports.start(program, recorder)) {
                // Awaiting the SYN-ACK, the backend's other segments go to the engine: a bare ACK (of an
                // old connection in TIME_WAIT there, RFC 9293 §3.10.7.4) and a RST.
                for (int flags : new int[] {TcpFlags.ACK, TcpFlags.RST | TcpFlags.ACK}) {
                    byte[] early = bytes(TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), flags).seq(7000, 101).build());
                    assertEquals(HexFormat.of().formatHex(early), HexFormat.of().formatHex(run(program, early, FastPathProgram.TC_ACT_OK)));
                }
                // MSS, SACK permitted, timestamps, NOP, window scale 7: as Linux sends them.
                byte[] options = HexFormat.of().parseHex("020405b40402080a0000000100000000" + "01030307");
                run(program, bytes(TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(900, 101).window(64_240)
                        .options(options).build()), FastPathProgram.TC_ACT_REDIRECT);
                run(program, bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.ACK).seq(101, 901).build()), FastPathProgram.TC_ACT_REDIRECT);
                run(program, bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.ACK | TcpFlags.PSH).seq(101, 901).payload(new byte[10])
                        .build()), FastPathProgram.TC_ACT_REDIRECT);
                byte[][] slow = {
                    bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.FIN | TcpFlags.ACK).seq(5000, 901).build()), // not at 111
                    bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.RST).seq(111, 0).build()),
                    bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.SYN).seq(111, 0).build()),
                };
                for (byte[] packet : slow) {
                    assertEquals(HexFormat.of().formatHex(packet), HexFormat.of().formatHex(run(program, packet, FastPathProgram.TC_ACT_OK)));
                }
                run(program, bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.FIN | TcpFlags.ACK).seq(111, 901).build()),
                        FastPathProgram.TC_ACT_REDIRECT);
                run(program, bytes(TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), TcpFlags.FIN | TcpFlags.ACK).seq(901, 112).build()),
                        FastPathProgram.TC_ACT_REDIRECT);
                run(program, bytes(TestPacket.tcp(CLIENT, 31_000, VIP, 80, TcpFlags.ACK).seq(112, 902).build()), FastPathProgram.TC_ACT_REDIRECT);
                recorder.await(4);
                assertEquals(List.of("4 " + reply + " " + (TcpFlags.SYN | TcpFlags.ACK) + " 900 window 64240 scale 7",
                        "4 " + client + " " + TcpFlags.ACK + " 101", "4 " + client + " " + (TcpFlags.FIN | TcpFlags.ACK) + " 111",
                        "4 " + reply + " " + (TcpFlags.FIN | TcpFlags.ACK) + " 901"), recorder.seen);
                assertEquals(4, reports.delivered());
                assertEquals(0, reports.malformed());
            }
            assertEquals(4, program.counter(FastPathProgram.REPORTED));
            assertEquals(5, program.counter(FastPathProgram.TCP_FLAGS));
            assertEquals(6, program.counter(FastPathProgram.FORWARDED));
            FastPathProgram.Seen clientSide = program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_000, f.vipAddress(), 80);
            FastPathProgram.Seen backendSide = program.seen(Ipv4.PROTO_TCP, f.backendAddress(), 8080, f.snatAddress(), f.snatPort());
            assertEquals(112, clientSide.sequenceEnd(), "the FIN counts one");
            assertEquals(FastPathProgram.NAT_SEQ_KNOWN | FastPathProgram.NAT_FIN_SEEN, clientSide.flags(), "the ACK asked for came");
            assertEquals(FastPathProgram.NAT_SEQ_KNOWN | FastPathProgram.NAT_FIN_SEEN, backendSide.flags());
        }
    }

    /**
     * What an outsider sends must not move what the engine trusts (issue 29, points 1 and 2): the
     * handshake's ACK goes fast only if it acknowledges the backend's ISN + 1 (a blind spoofer's
     * goes to the engine, unreported, as does one before the SYN-ACK); a segment starting more
     * than 64 KiB past where its side stands goes to the engine and leaves the entry where it was;
     * a retransmission behind it goes fast without moving it back; and the engine's
     * {@code advance} moves it on.
     */
    @Test
    void aBlindHandshakeAckAndAnOffPathSegmentGoToTheEngineAndMoveNothing() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfb"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            engine.processor.process(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.SYN).seq(100, 0).build(), NOW);
            FlowLookup f = engine.flow(Ipv4.PROTO_TCP, CLIENT, 31_500, VIP, 80);
            String backend = Ipv4.format(f.backendAddress());
            installAtTheSyn(program, f);
            Recorder recorder = new Recorder();
            try (SegmentReports reports = SegmentReports.start(program, recorder)) {
                byte[] early = bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(101, 901).build());
                assertEquals(HexFormat.of().formatHex(early), HexFormat.of().formatHex(run(program, early, FastPathProgram.TC_ACT_OK)),
                        "before the SYN-ACK went through here no ACK can be checked: the engine's");
                run(program, bytes(TestPacket.tcp(backend, 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(900, 101).build()),
                        FastPathProgram.TC_ACT_REDIRECT);
                for (long ack : new long[] {4242, 900, 902, 901 + (1L << 31)}) {
                    byte[] blind = bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(101, ack).build());
                    assertEquals(HexFormat.of().formatHex(blind), HexFormat.of().formatHex(run(program, blind, FastPathProgram.TC_ACT_OK)),
                            "a blind ACK (ack " + ack + ") goes to the engine unchanged");
                }
                run(program, bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(101, 901).build()), FastPathProgram.TC_ACT_REDIRECT);
                recorder.await(2);
                assertEquals(2, program.counter(FastPathProgram.REPORTED), "the SYN-ACK and the real ACK reported, no blind one: " + recorder.seen);
            }
            FastPathProgram.Seen clientSide = program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80);
            assertEquals(101, clientSide.sequenceEnd());
            byte[] offPath = bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK | TcpFlags.PSH).seq(101 + 1_000_000, 901)
                    .payload(new byte[100]).build());
            assertEquals(HexFormat.of().formatHex(offPath), HexFormat.of().formatHex(run(program, offPath, FastPathProgram.TC_ACT_OK)),
                    "1 MB ahead: the engine judges it by the real window");
            assertEquals(101, program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80).sequenceEnd(), "and it moved nothing");
            run(program, bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(101 + 60_000, 901).payload(new byte[10]).build()),
                    FastPathProgram.TC_ACT_REDIRECT);
            assertEquals(60_111, program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80).sequenceEnd(),
                    "within 64 KiB: in any window the engine allows");
            run(program, bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(101, 901).payload(new byte[10]).build()),
                    FastPathProgram.TC_ACT_REDIRECT);
            assertEquals(60_111, program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80).sequenceEnd(),
                    "a retransmission does not move it back");
            assertTrue(program.advance(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80, 2_000_000));
            run(program, bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.ACK).seq(2_000_000, 901).payload(new byte[10]).build()),
                    FastPathProgram.TC_ACT_REDIRECT);
            assertEquals(2_000_010, program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 31_500, f.vipAddress(), 80).sequenceEnd(),
                    "where the engine moved it");
            byte[] blindRstAtSpoofedEnd = bytes(TestPacket.tcp(CLIENT, 31_500, VIP, 80, TcpFlags.RST).seq(101 + 1_000_100, 0).build());
            assertEquals(FastPathProgram.TC_ACT_OK, program.testRun(frame(blindRstAtSpoofedEnd), new byte[1][]), "RSTs are the engine's");
        }
    }

    /**
     * The window scale the program finds in a SYN-ACK's options, as the engine's parser would: none
     * (15) without the option, the shift after NOPs and SACK permitted, at most 14, and none in a
     * malformed list (an option of length 0 ends the walk).
     */
    @Test
    void theSynAcksWindowScaleIsReadAsTheEngineReadsIt() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfw"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            String[][] cases = {
                {"020405b4", "15"},
                {"01010402" + "01030305", "5"},
                {"01030309" + "01030300", "9"},
                {"0103031e", "14"},
                {"04000000" + "01030307", "15"},
            };
            Recorder recorder = new Recorder();
            try (SegmentReports reports = SegmentReports.start(program, recorder)) {
                for (int i = 0; i < cases.length; i++) {
                    int port = 33_000 + i;
                    engine.processor.process(TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).seq(100, 0).build(), NOW);
                    FlowLookup f = engine.flow(Ipv4.PROTO_TCP, CLIENT, port, VIP, 80);
                    assertEquals(0, program.install(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort(),
                            f.vipAddress(), f.vipPort(), f.clientAddress(), f.clientPort(), LOOPBACK, FastPathProgram.NAT_AWAIT_SYNACK, -1));
                    run(program, bytes(TestPacket.tcp(Ipv4.format(f.backendAddress()), 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK)
                            .seq(900, 101).window(1000).options(HexFormat.of().parseHex(cases[i][0])).build()), FastPathProgram.TC_ACT_REDIRECT);
                }
                recorder.await(cases.length);
            }
            for (int i = 0; i < cases.length; i++) {
                assertTrue(recorder.seen.get(i).endsWith(" window 1000 scale " + cases[i][1]), cases[i][0] + ": " + recorder.seen.get(i));
            }
        }
    }

    /** A report that finds the ring full is not lost: the segment goes to the engine unchanged, and the program counts it. */
    @Test
    void aFullReportRingSendsTheSegmentTheSlowWay() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfr"); FastPathProgram program = FastPathProgram.load(64)) {
            EngineHarness engine = new EngineHarness();
            FlowLookup f = tcpFlow(engine, 32_000);
            assertEquals(0, program.install(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(), f.snatAddress(),
                    f.snatPort(), f.backendAddress(), f.backendPort(), LOOPBACK, 0, 101));
            // Nobody reads the ring: FINs, each at the place the one before left, fill it (4 MiB, 56 bytes a report and 8 of header).
            long seq = 101;
            byte[] packet = null;
            byte[][] out = new byte[1][];
            for (int i = 0; i < 200_000; i++) {
                packet = bytes(TestPacket.tcp(CLIENT, 32_000, VIP, 80, TcpFlags.FIN | TcpFlags.ACK).seq(seq, 901).build());
                if (program.testRun(frame(packet), out) == FastPathProgram.TC_ACT_OK) {
                    break;
                }
                seq++;
            }
            assertEquals(1, program.counter(FastPathProgram.RING_FULL), "the ring filled, once");
            assertTrue(program.counter(FastPathProgram.REPORTED) > 60_000, "after tens of thousands of reports (64 bytes each with the ring's header)");
            assertEquals(HexFormat.of().formatHex(frame(packet)), HexFormat.of().formatHex(out[0]), "and that FIN went on unchanged");
            FastPathProgram.Seen clientSide = program.seen(Ipv4.PROTO_TCP, f.clientAddress(), 32_000, f.vipAddress(), 80);
            assertEquals(seq, clientSide.sequenceEnd() & 0xFFFFFFFFL, "the entry did not move past the FIN it did not forward");
            assertFalse(clientSide.packets() == 0);
        }
    }

    @Test
    void aPacketOrGsoSegmentsTooBigForTheEgressGoTheSlowWayAndAFullMapRefusesNewEntries() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tfr"); FastPathProgram program = FastPathProgram.load(2)) {
            ns.ip("link", "add", "v0", "mtu", "1280", "type", "veth", "peer", "name", "v1");
            int v0 = ns.ifindex("v0");
            EngineHarness engine = new EngineHarness();
            FlowLookup f = tcpFlow(engine, 30_100);
            installBothWays(program, f, v0);
            byte[] small = bytes(TestPacket.tcp(CLIENT, 30_100, VIP, 80, TcpFlags.ACK).payload(new byte[1000]).build());
            run(program, small, FastPathProgram.TC_ACT_REDIRECT);
            byte[] big = bytes(TestPacket.tcp(CLIENT, 30_100, VIP, 80, TcpFlags.ACK).payload(new byte[1400]).build());
            assertEquals(HexFormat.of().formatHex(big), HexFormat.of().formatHex(run(program, big, FastPathProgram.TC_ACT_OK)),
                    "1,440 bytes over a 1,280-byte link: the kernel's slow path says fragmentation needed");
            assertEquals(1, program.counter(FastPathProgram.TOO_BIG));
            // A GSO super-packet is checked segment by segment: without BPF_MTU_CHK_SEGS the helper lets any
            // GSO packet by, and the kernel would then drop its too-big segments silently instead of saying
            // "fragmentation needed" (seen: the program without the flag forwarded this one). That segments
            // which fit still go fast needs a super-packet as GRO or TSO makes it, with its GSO type and
            // transport header, which a test run cannot build: FastPathIT's uploads show it.
            byte[] superPacket = frame(bytes(TestPacket.tcp(CLIENT, 30_100, VIP, 80, TcpFlags.ACK).payload(new byte[3000]).build()));
            assertEquals(FastPathProgram.TC_ACT_OK, program.testRun(superPacket, new byte[1][], 0, 1400),
                    "1,400-byte segments over a 1,280-byte link");
            assertEquals(2, program.counter(FastPathProgram.TOO_BIG));

            FlowLookup g = tcpFlow(engine, 30_101);
            int full = program.install(g.protocol(), g.clientAddress(), g.clientPort(), g.vipAddress(), g.vipPort(),
                    g.snatAddress(), g.snatPort(), g.backendAddress(), g.backendPort(), v0);
            assertEquals(-7, full, "E2BIG: the map (2 entries) is full; the flow stays on the slow path");
            assertTrue(program.remove(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort()));
            assertEquals(0, program.install(g.protocol(), g.clientAddress(), g.clientPort(), g.vipAddress(), g.vipPort(),
                    g.snatAddress(), g.snatPort(), g.backendAddress(), g.backendPort(), v0), "room again");
        }
    }

    /**
     * What a flow costs in the kernel: the maps are preallocated (never LRU, never allocating as
     * flows come: issue 30), so the IPv4 map's accounted bytes are all there empty and do not
     * grow with 100,000 flows in it; per flow of capacity, at least both directions' keys and values.
     */
    @Test
    void theMapsBytesPerFlow() throws Exception {
        int flows = 100_000;
        try (ThreadNetns ns = ThreadNetns.enter("tfm"); FastPathProgram program = FastPathProgram.load(2 * flows)) {
            long empty = program.flowMapBytes();
            int client = Ipv4.parse("198.18.0.10");
            int backend = Ipv4.parse("198.19.0.11");
            for (int i = 0; i < flows; i++) {
                int c = client + (i >>> 15); // 32,768 ports an address: every key unique
                int port = 1024 + (i & 0x7FFF);
                assertEquals(0, program.install(Ipv4.PROTO_TCP, c, port, Ipv4.parse(VIP), 80, Ipv4.parse(SNAT), port, backend + (i >>> 15),
                        8080, LOOPBACK));
                assertEquals(0, program.install(Ipv4.PROTO_TCP, backend + (i >>> 15), 8080, Ipv4.parse(SNAT), port, Ipv4.parse(VIP), 80,
                        c, port, LOOPBACK));
            }
            long full = program.flowMapBytes();
            double perFlow = full / (double) flows;
            System.out.printf("Fast path IPv4 map: %,d bytes for room for %,d flows (%,d entries), %.1f bytes a flow; %,d with them in it%n",
                    empty, flows, 2 * flows, perFlow, full);
            assertEquals(empty, full, "preallocated: nothing allocated as flows come");
            assertTrue(perFlow >= 2 * (16 + 48), "at least the keys and values: " + perFlow);
        }
    }

    private static final byte[] ETHERNET6 = HexFormat.of().parseHex("000000000000" + "020000000002" + "86dd");

    /** Runs an IPv6 {@code packet} through the program in an Ethernet frame of type 0x86dd. */
    private static byte[] run6(FastPathProgram program, byte[] packet, int expectedVerdict) {
        byte[] frame = new byte[ETHERNET6.length + packet.length];
        System.arraycopy(ETHERNET6, 0, frame, 0, ETHERNET6.length);
        System.arraycopy(packet, 0, frame, ETHERNET6.length, packet.length);
        byte[][] out = new byte[1][];
        assertEquals(expectedVerdict, program.testRun(frame, out), "the program's verdict");
        byte[] ip = new byte[out[0].length - ETHERNET6.length];
        System.arraycopy(out[0], ETHERNET6.length, ip, 0, ip.length);
        return ip;
    }

    private static long[] address(EngineHarness engine, int id) {
        return new long[] {engine.flows.ipv6Addresses().high(id), engine.flows.ipv6Addresses().low(id)};
    }

    private static void installBothWays6(FastPathProgram program, EngineHarness engine, FlowLookup f, int ifindex) {
        int proto = FlowProtocol.transport(f.protocol());
        long[] client = address(engine, f.clientAddress());
        long[] vip = address(engine, f.vipAddress());
        long[] backend = address(engine, f.backendAddress());
        long[] snat = address(engine, f.snatAddress());
        assertEquals(0, program.install6(proto, client, f.clientPort(), vip, f.vipPort(), snat, f.snatPort(), backend, f.backendPort(),
                ifindex));
        assertEquals(0, program.install6(proto, backend, f.backendPort(), snat, f.snatPort(), vip, f.vipPort(), client, f.clientPort(),
                ifindex));
    }

    /** The kernel's forwarding of the engine's IPv6 packet: hop limit - 1 (no header checksum). */
    private static byte[] forwarded6(byte[] packet) {
        byte[] out = packet.clone();
        out[7] = (byte) (out[7] - 1);
        return out;
    }

    /**
     * Issue 21: IPv6 flows in the fast path (tandem_flows6). For random TCP and UDP packets of
     * decided IPv6 flows the program leaves exactly the engine's bytes (NAT66, the pseudo-header's
     * 128-bit addresses in the checksum), both ways; SYN/FIN/RST, a hop limit of 1, extension
     * headers and unknown flows go on unchanged.
     */
    @Test
    void ipv6FlowsAreForwardedAsTheEngineWouldAndTheRestGoesOnUnchanged() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tf6"); FastPathProgram program = FastPathProgram.load(4096)) {
            EngineHarness engine = new EngineHarness(Ipv6EngineTest.YAML);
            String client = Ipv6EngineTest.CLIENT6;
            String vip = Ipv6EngineTest.VIP6;
            String snat = Ipv6EngineTest.SNAT6;
            Random random = new Random(20261202);
            for (int i = 0; i < 200; i++) {
                boolean tcp = random.nextBoolean();
                int clientPort = 21_000 + i;
                byte[] payload = new byte[random.nextInt(1200)];
                random.nextBytes(payload);
                FlowLookup f;
                TestPacket6 original;
                if (tcp) {
                    engine.processor.process(TestPacket6.tcp(client, clientPort, vip, 80, TcpFlags.SYN).build(), NOW);
                    f = engine.flow6(Ipv4.PROTO_TCP, client, clientPort, vip, 80);
                    assertNotNull(f, "case " + i);
                    String backend = Ipv6.format(engine.flows.ipv6Addresses().high(f.backendAddress()),
                            engine.flows.ipv6Addresses().low(f.backendAddress()));
                    engine.processor.process(TestPacket6.tcp(backend, 8080, snat, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK).build(), NOW);
                    original = TestPacket6.tcp(client, clientPort, vip, 80, TcpFlags.ACK | TcpFlags.PSH).payload(payload);
                } else {
                    engine.processor.process(TestPacket6.udp(client, clientPort, vip, 53).payload("first").build(), NOW);
                    f = engine.flow6(Ipv4.PROTO_UDP, client, clientPort, vip, 53);
                    original = TestPacket6.udp(client, clientPort, vip, 53).payload(payload);
                }
                original.hopLimit(2 + random.nextInt(250));
                assertNotNull(f, "case " + i);
                installBothWays6(program, engine, f, LOOPBACK);
                ByteBuf viaEngine = original.build();
                byte[] in = bytes(original.build());
                assertEquals(Verdict.FORWARD, engine.processor.process(viaEngine, NOW), "case " + i);
                assertEquals(HexFormat.of().formatHex(forwarded6(bytes(viaEngine))),
                        HexFormat.of().formatHex(run6(program, in, FastPathProgram.TC_ACT_REDIRECT)),
                        "case " + i + (tcp ? " tcp" : " udp") + " length " + payload.length);

                String backend = Ipv6.format(engine.flows.ipv6Addresses().high(f.backendAddress()),
                        engine.flows.ipv6Addresses().low(f.backendAddress()));
                TestPacket6 reply = tcp ? TestPacket6.tcp(backend, 8080, snat, f.snatPort(), TcpFlags.ACK).payload(payload)
                        : TestPacket6.udp(backend, f.backendPort(), snat, f.snatPort()).payload(payload);
                ByteBuf replyViaEngine = reply.build();
                assertEquals(Verdict.FORWARD, engine.processor.process(replyViaEngine, NOW), "reply of case " + i);
                assertEquals(HexFormat.of().formatHex(forwarded6(bytes(replyViaEngine))),
                        HexFormat.of().formatHex(run6(program, bytes(reply.build()), FastPathProgram.TC_ACT_REDIRECT)), "reply of case " + i);
            }
            assertEquals(400, program.counter(FastPathProgram.FORWARDED));
            FlowLookup first = engine.flow6(Ipv4.PROTO_TCP, client, 21_000, vip, 80) != null
                    ? engine.flow6(Ipv4.PROTO_TCP, client, 21_000, vip, 80) : engine.flow6(Ipv4.PROTO_UDP, client, 21_000, vip, 53);
            FastPathProgram.Seen seen = program.seen6(FlowProtocol.transport(first.protocol()), address(engine, first.clientAddress()),
                    21_000, address(engine, first.vipAddress()), first.vipPort());
            assertNotNull(seen);
            assertEquals(1, seen.packets(), "the program counts what it forwards");
            assertTrue(seen.lastSeenNanos() > 0);

            engine.processor.process(TestPacket6.tcp(client, 30_000, vip, 80, TcpFlags.SYN).build(), NOW);
            FlowLookup f = engine.flow6(Ipv4.PROTO_TCP, client, 30_000, vip, 80);
            installBothWays6(program, engine, f, LOOPBACK);
            byte[][] slow = {
                bytes(TestPacket6.tcp(client, 30_000, vip, 80, TcpFlags.FIN | TcpFlags.ACK).build()),
                bytes(TestPacket6.tcp(client, 30_000, vip, 80, TcpFlags.RST).build()),
                bytes(TestPacket6.tcp(client, 30_000, vip, 80, TcpFlags.ACK).hopLimit(1).build()),
                bytes(TestPacket6.tcp(client, 30_000, vip, 80, TcpFlags.ACK).options(Ipv6.DESTINATION_OPTIONS, 1).build()),
                bytes(TestPacket6.tcp(client, 30_001, vip, 80, TcpFlags.ACK).build()), // no entry
            };
            long passedBefore = program.counter(FastPathProgram.TCP_FLAGS) + program.counter(FastPathProgram.NOT_SIMPLE)
                    + program.counter(FastPathProgram.NO_ENTRY);
            for (byte[] packet : slow) {
                assertEquals(HexFormat.of().formatHex(packet), HexFormat.of().formatHex(run6(program, packet, FastPathProgram.TC_ACT_OK)));
            }
            assertEquals(passedBefore + 5, program.counter(FastPathProgram.TCP_FLAGS) + program.counter(FastPathProgram.NOT_SIMPLE)
                    + program.counter(FastPathProgram.NO_ENTRY));
            assertTrue(program.remove6(Ipv4.PROTO_TCP, address(engine, f.clientAddress()), 30_000, address(engine, f.vipAddress()), 80));
            assertEquals(null, program.seen6(Ipv4.PROTO_TCP, address(engine, f.clientAddress()), 30_000, address(engine, f.vipAddress()), 80));
        }
    }

    /** The same packet with a 4-byte IP option (NOPs and an end of list): IHL 6. */
    private static byte[] withIpOptions(byte[] packet) {
        byte[] out = new byte[packet.length + 4];
        System.arraycopy(packet, 0, out, 0, 20);
        out[20] = 1;
        out[21] = 1;
        out[22] = 1;
        out[23] = 0;
        System.arraycopy(packet, 20, out, 24, packet.length - 20);
        out[0] = 0x46;
        int total = out.length;
        out[2] = (byte) (total >>> 8);
        out[3] = (byte) total;
        return withIpChecksum(out, 24);
    }
}
