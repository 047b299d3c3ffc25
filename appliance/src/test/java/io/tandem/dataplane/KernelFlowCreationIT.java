package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.tandem.TestConfig;
import io.tandem.balancer.Backend;
import io.tandem.balancer.Service;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.dataplane.fastpath.FastPathProgram;
import io.tandem.dataplane.fastpath.PolicyPublisher;
import io.tandem.dataplane.fastpath.SegmentReports;
import io.tandem.lab.ThreadNetns;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Flow creation in the kernel (issue 30), run on packets without traffic ({@code BPF_PROG_TEST_RUN})
 * in a namespace the test makes: the program, given the engine's published policy, picks the
 * backend the engine would pick, claims a SNAT port the engine does not hold, creates both
 * directions' entries and reports the flow, which the engine's table takes in.
 */
class KernelFlowCreationIT {
    private static final byte[] ETHERNET = HexFormat.of().parseHex("000000000000" + "020000000002" + "0800");
    private static final int LOOPBACK = 1;
    private static final long NOW = 1_000_000L;

    private static byte[] frame(ByteBuf packet) {
        byte[] ip = ByteBufUtil.getBytes(packet, packet.readerIndex(), packet.readableBytes());
        byte[] frame = new byte[ETHERNET.length + ip.length];
        System.arraycopy(ETHERNET, 0, frame, 0, ETHERNET.length);
        System.arraycopy(ip, 0, frame, ETHERNET.length, ip.length);
        return frame;
    }

    /** Runs a packet through the program: its verdict, and the IP packet it left in {@code out[0]}. */
    private static int run(FastPathProgram program, ByteBuf packet, byte[][] out) {
        int verdict = program.testRun(frame(packet), out);
        byte[] ip = new byte[out[0].length - ETHERNET.length];
        System.arraycopy(out[0], ETHERNET.length, ip, 0, ip.length);
        out[0] = ip;
        return verdict;
    }

    private static int int32(byte[] b, int at) {
        return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | b[at + 3] & 0xFF;
    }

    private static int port(byte[] b, int at) {
        return (b[at] & 0xFF) << 8 | b[at + 1] & 0xFF;
    }

    private static String yaml(Random random, int backends, boolean clientAddressHash) {
        TestConfig.Service web = new TestConfig.Service("web", TestConfig.VIP, 80).protocol("tcp");
        if (clientAddressHash) {
            web.with("hash_key: client-address");
        }
        for (int b = 0; b < backends; b++) {
            int weight = random.nextInt(5) == 0 ? 0 : 1 + random.nextInt(10);
            web.backend("198.19.0." + (11 + b), 8080 + random.nextInt(3), "weight: " + weight);
        }
        return TestConfig.box("lb1").conntrack("max_flows: 65536").services(web).yaml();
    }

    private static PolicyPublisher publish(FastPathProgram program, EngineHarness engine) {
        PolicyPublisher publisher = new PolicyPublisher(program, LOOPBACK, LOOPBACK);
        assertNull(publisher.publish(KernelPolicies.of(engine.services.current(), engine.config.conntrack().snatPorts().first(),
                engine.config.conntrack().snatPorts().last()), true));
        return publisher;
    }

    /**
     * The property the issue asks for: over generated weights (a fifth of them 0: drained), both
     * hash keys, and generated client tuples, the program forwards each SYN to exactly the backend
     * the engine's own hash and Maglev table pick ({@code Service.pick(Service.flowHash)}).
     */
    @Test
    void theProgramPicksTheBackendTheEngineWouldForGeneratedTuplesAndWeights() throws Exception {
        Random random = new Random(20261207);
        int checked = 0;
        try (ThreadNetns ns = ThreadNetns.enter("tkc")) {
            for (int round = 0; round < 8; round++) {
                EngineHarness engine = new EngineHarness(yaml(random, 2 + random.nextInt(6), round % 2 == 1));
                Service web = engine.services.current().services().getFirst();
                try (FastPathProgram program = FastPathProgram.load(1 << 14)) {
                    publish(program, engine);
                    for (int i = 0; i < 400; i++) {
                        int client = 0xC6120000 | random.nextInt(1 << 17); // 198.18.0.0/15
                        int clientPort = 1024 + random.nextInt(64_000);
                        Backend expected = web.pick(web.flowHash(client, clientPort));
                        byte[][] out = new byte[1][];
                        int verdict = run(program, TestPacket.tcp(Ipv4.format(client), clientPort, TestConfig.VIP, 80, TcpFlags.SYN)
                                .seq(random.nextInt(), 0).build(), out);
                        if (expected == null) {
                            assertEquals(FastPathProgram.TC_ACT_OK, verdict, "no backend: the engine's to drop");
                            continue;
                        }
                        assertEquals(FastPathProgram.TC_ACT_REDIRECT, verdict, "round " + round + " case " + i);
                        assertEquals(Ipv4.format(expected.address()) + ":" + expected.port(),
                                Ipv4.format(int32(out[0], 16)) + ":" + port(out[0], 22), "round " + round + " case " + i);
                        assertEquals(Ipv4.parse(web.snatIp().toString()), int32(out[0], 12), "from the service's SNAT address");
                        checked++;
                    }
                    assertEquals(program.counter(FastPathProgram.CREATED), program.counter(FastPathProgram.FORWARDED));
                }
            }
        }
        assertTrue(checked > 2000, "most generated tuples had a backend: " + checked);
    }

    /** Reports collected for a test: the engine's listener, run on the test's thread after the ring is read. */
    private static final class Collected implements SegmentReports.Listener {
        final ReportedSegments engine;
        int count;

        Collected(ReportedSegments engine) {
            this.engine = engine;
        }

        @Override
        public void ipv4(int src, int srcPort, int dst, int dstPort, SegmentReports.Segment segment) {
            engine.ipv4(src, srcPort, dst, dstPort, segment);
            synchronized (this) {
                count++;
                notifyAll();
            }
        }

        @Override
        public void ipv6(long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort, SegmentReports.Segment segment) {
            engine.ipv6(srcHigh, srcLow, srcPort, dstHigh, dstLow, dstPort, segment);
        }

        synchronized void await(int wanted) throws InterruptedException {
            long end = System.nanoTime() + 5_000_000_000L;
            while (count < wanted && System.nanoTime() < end) {
                wait(100);
            }
            assertEquals(wanted, count, "reports read");
        }
    }

    /**
     * A SYN the program created a flow for is reported and taken into the engine's table with the
     * program's backend and SNAT port (held in its pool), owned by the fast path; the backend's
     * SYN-ACK and the client's ACK then go fast and establish it in the table, as for a flow the
     * engine created. A port the engine claimed is never the program's: its SYN gets another.
     */
    @Test
    void aCreatedFlowIsTakenInByTheTableAndItsHandshakeGoesFast() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tkd"); FastPathProgram program = FastPathProgram.load(1 << 12)) {
            EngineHarness engine = new EngineHarness();
            publish(program, engine);
            Collected reports = new Collected(new ReportedSegments(engine.flows, () -> NOW));
            try (SegmentReports ring = SegmentReports.start(program, reports)) {
                byte[][] out = new byte[1][];
                assertEquals(FastPathProgram.TC_ACT_REDIRECT,
                        run(program, TestPacket.tcp(EngineHarness.CLIENT, 40_001, EngineHarness.VIP, 80, TcpFlags.SYN).seq(100, 0).build(), out));
                int backend = int32(out[0], 16);
                int snatPort = port(out[0], 20);
                assertEquals(40_001, snatPort, "the client's own port, free and in the range");
                reports.await(1);
                FlowLookup f = engine.flow(Ipv4.PROTO_TCP, EngineHarness.CLIENT, 40_001, EngineHarness.VIP, 80);
                assertNotNull(f, "the table took the flow in");
                assertEquals(FlowState.TCP_SYN_SENT, f.state());
                assertEquals(backend, f.backendAddress());
                assertEquals(snatPort, f.snatPort());
                assertEquals(1, engine.pools.portsInUse(), "its SNAT port held in its pool");
                assertEquals(101, engine.flows.sequenceEnd(f, true), "the client's side starts at its SYN");

                assertEquals(FastPathProgram.TC_ACT_REDIRECT, run(program, TestPacket.tcp(Ipv4.format(backend), 8080, EngineHarness.SNAT,
                        snatPort, TcpFlags.SYN | TcpFlags.ACK).seq(900, 101).build(), out), "the SYN-ACK goes fast");
                assertEquals(FastPathProgram.TC_ACT_REDIRECT, run(program, TestPacket.tcp(EngineHarness.CLIENT, 40_001, EngineHarness.VIP,
                        80, TcpFlags.ACK).seq(101, 901).build(), out), "and the handshake's ACK");
                reports.await(3);
                assertEquals(FlowState.TCP_ESTABLISHED,
                        engine.flow(Ipv4.PROTO_TCP, EngineHarness.CLIENT, 40_001, EngineHarness.VIP, 80).state());

                // The engine holds 40002 for a flow of its own (a claim): the program takes another port.
                int claimed = program.claim(Ipv4.PROTO_TCP, backend, 8080, Ipv4.parse(EngineHarness.SNAT), 40_002);
                assertEquals(0, claimed);
                for (int i = 0; i < 20; i++) {
                    // The same client port towards the same backend on the same SNAT address: only the hash decides the backend,
                    // so another client address is tried until one lands on that backend.
                    String client = "198.18.1." + (10 + i);
                    run(program, TestPacket.tcp(client, 40_002, EngineHarness.VIP, 80, TcpFlags.SYN).seq(100, 0).build(), out);
                    if (int32(out[0], 16) == backend) {
                        assertNotEquals(40_002, port(out[0], 20), "a claimed reply tuple is never the program's");
                        return;
                    }
                }
                throw new AssertionError("no generated client landed on the backend");
            }
        }
    }

    /**
     * A client's new SYN on the tuple of a connection that closed through the kernel (both FINs
     * went fast: the engine holds it in TIME_WAIT) reopens it in the kernel, as Linux conntrack
     * does: the old flow's entries go, the new one gets the same SNAT port back (the client's own,
     * RFC 6191), and the engine replaces its TIME_WAIT flow with the new one.
     */
    @Test
    void aNewSynOnAFinishedFlowReopensItInTheKernel() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tkf"); FastPathProgram program = FastPathProgram.load(1 << 12)) {
            EngineHarness engine = new EngineHarness();
            publish(program, engine);
            Collected reports = new Collected(new ReportedSegments(engine.flows, () -> NOW));
            try (SegmentReports ring = SegmentReports.start(program, reports)) {
                byte[][] out = new byte[1][];
                String client = EngineHarness.CLIENT;
                assertEquals(FastPathProgram.TC_ACT_REDIRECT,
                        run(program, TestPacket.tcp(client, 40_010, EngineHarness.VIP, 80, TcpFlags.SYN).seq(100, 0).build(), out));
                String backend = Ipv4.format(int32(out[0], 16));
                int snatPort = port(out[0], 20);
                int[][] segments = {
                        {1, TcpFlags.SYN | TcpFlags.ACK, 900, 101}, {0, TcpFlags.ACK, 101, 901},
                        {0, TcpFlags.FIN | TcpFlags.ACK, 101, 901}, {1, TcpFlags.FIN | TcpFlags.ACK, 901, 102}, {0, TcpFlags.ACK, 102, 902}};
                for (int[] seg : segments) {
                    ByteBuf packet = seg[0] == 0
                            ? TestPacket.tcp(client, 40_010, EngineHarness.VIP, 80, seg[1]).seq(seg[2], seg[3]).build()
                            : TestPacket.tcp(backend, 8080, EngineHarness.SNAT, snatPort, seg[1]).seq(seg[2], seg[3]).build();
                    assertEquals(FastPathProgram.TC_ACT_REDIRECT, run(program, packet, out), "segment " + seg[1]);
                }
                reports.await(5); // created, SYN-ACK, ACK, and the two FINs
                assertEquals(FlowState.TCP_TIME_WAIT, engine.flow(Ipv4.PROTO_TCP, client, 40_010, EngineHarness.VIP, 80).state());

                assertEquals(FastPathProgram.TC_ACT_REDIRECT,
                        run(program, TestPacket.tcp(client, 40_010, EngineHarness.VIP, 80, TcpFlags.SYN).seq(7000, 0).build(), out),
                        "the new SYN goes fast: the flow reopened in the kernel");
                assertEquals(snatPort, port(out[0], 20), "the same SNAT port back");
                reports.await(6);
                FlowLookup f = engine.flow(Ipv4.PROTO_TCP, client, 40_010, EngineHarness.VIP, 80);
                assertEquals(FlowState.TCP_SYN_SENT, f.state(), "the engine's TIME_WAIT flow replaced by the new one");
                assertEquals(7001, engine.flows.sequenceEnd(f, true));
                assertEquals(1, engine.flows.size());
                assertEquals(1, engine.pools.portsInUse());
                assertEquals(2, program.counter(FastPathProgram.CREATED));
            }
        }
    }

    /**
     * A one-way UDP flow (syslog, statsd) is created and forwarded from its first datagram, and
     * the engine takes it in; its later datagrams go fast too, never through the engine.
     */
    @Test
    void aOneWayUdpFlowGoesFastFromItsFirstDatagram() throws Exception {
        try (ThreadNetns ns = ThreadNetns.enter("tke"); FastPathProgram program = FastPathProgram.load(1 << 12)) {
            EngineHarness engine = new EngineHarness();
            publish(program, engine);
            Collected reports = new Collected(new ReportedSegments(engine.flows, () -> NOW));
            try (SegmentReports ring = SegmentReports.start(program, reports)) {
                byte[][] out = new byte[1][];
                for (int i = 0; i < 5; i++) {
                    assertEquals(FastPathProgram.TC_ACT_REDIRECT,
                            run(program, TestPacket.udp(EngineHarness.CLIENT, 5140, EngineHarness.VIP, 53).payload("line " + i).build(), out));
                }
                reports.await(1);
                FlowLookup f = engine.flow(Ipv4.PROTO_UDP, EngineHarness.CLIENT, 5140, EngineHarness.VIP, 53);
                assertNotNull(f);
                assertEquals(FlowState.UDP_UNREPLIED, f.state());
                assertEquals(f.backendAddress(), int32(out[0], 16));
                assertEquals(1, program.counter(FastPathProgram.CREATED));
                assertEquals(5, program.counter(FastPathProgram.FORWARDED));
            }
        }
    }
}
