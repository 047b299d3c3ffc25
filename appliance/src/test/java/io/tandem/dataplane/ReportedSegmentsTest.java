package io.tandem.dataplane;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.dataplane.fastpath.SegmentReports;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.PacketHeaders;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import org.junit.jupiter.api.Test;

import static io.tandem.dataplane.EngineHarness.CLIENT;
import static io.tandem.dataplane.EngineHarness.SNAT;
import static io.tandem.dataplane.EngineHarness.VIP;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The segments the fast path forwarded and reported move the engine's flows as the packets
 * themselves would have: the handshake's last ACK establishes the flow (it stops counting as
 * half-open), the first FIN starts its close, the other side's FIN ends it; a report for a flow
 * that is gone changes nothing.
 */
class ReportedSegmentsTest {
    private static final long NOW = 1_000_000L;

    private static SegmentReports.Segment segment(int flags, int seq) {
        return new SegmentReports.Segment().set(flags, seq, 502, PacketHeaders.NO_WINDOW_SCALE);
    }

    @Test
    void reportsMoveAnIpv4FlowThroughItsHandshakeAndClose() throws Exception {
        EngineHarness e = new EngineHarness();
        e.processor.process(TestPacket.tcp(CLIENT, 40_000, VIP, 80, TcpFlags.SYN).seq(100, 0).build(), NOW);
        FlowLookup f = e.flow(Ipv4.PROTO_TCP, CLIENT, 40_000, VIP, 80);
        e.processor.process(TestPacket.tcp(Ipv4.format(f.backendAddress()), 8080, SNAT, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK)
                .seq(900, 101).build(), NOW);
        assertEquals(FlowState.TCP_SYN_RECV, e.flow(Ipv4.PROTO_TCP, CLIENT, 40_000, VIP, 80).state());
        assertEquals(1, e.flows.embryonic());
        long[] clock = {NOW + 1000};
        ReportedSegments reports = new ReportedSegments(e.flows, () -> clock[0]);
        int client = Ipv4.parse(CLIENT);
        int vip = Ipv4.parse(VIP);

        reports.ipv4(client, 40_000, vip, 80, segment(TcpFlags.ACK, 101));
        assertEquals(FlowState.TCP_ESTABLISHED, e.flow(Ipv4.PROTO_TCP, CLIENT, 40_000, VIP, 80).state());
        assertEquals(0, e.flows.embryonic(), "no longer half-open");
        reports.ipv4(client, 40_000, vip, 80, segment(TcpFlags.FIN | TcpFlags.ACK, 101));
        assertEquals(FlowState.TCP_FIN_WAIT, e.flow(Ipv4.PROTO_TCP, CLIENT, 40_000, VIP, 80).state());
        reports.ipv4(f.backendAddress(), 8080, f.snatAddress(), f.snatPort(), segment(TcpFlags.FIN | TcpFlags.ACK, 901));
        FlowLookup closed = e.flow(Ipv4.PROTO_TCP, CLIENT, 40_000, VIP, 80);
        assertEquals(FlowState.TCP_TIME_WAIT, closed.state(), "the backend's FIN after the client's");

        reports.ipv4(client, 40_001, vip, 80, segment(TcpFlags.FIN | TcpFlags.ACK, 5));
        assertEquals(1, reports.gone(), "a report for no flow is counted and changes nothing");
        assertEquals(1, e.flows.size());
    }

    /** A SYN-ACK the fast path forwarded: the flow moves to SYN_RECV and the backend's side of its window starts from the report. */
    @Test
    void aReportedSynAckStartsTheBackendsSide() throws Exception {
        EngineHarness e = new EngineHarness();
        e.processor.process(TestPacket.tcp(CLIENT, 40_002, VIP, 80, TcpFlags.SYN).seq(100, 0).windowScale(7).build(), NOW);
        FlowLookup f = e.flow(Ipv4.PROTO_TCP, CLIENT, 40_002, VIP, 80);
        assertEquals(FlowState.TCP_SYN_SENT, f.state());
        assertEquals(-1, e.flows.sequenceEnd(f, false), "the backend's side not seen yet");
        ReportedSegments reports = new ReportedSegments(e.flows, () -> NOW + 1);
        reports.ipv4(f.backendAddress(), 8080, f.snatAddress(), f.snatPort(),
                new SegmentReports.Segment().set(TcpFlags.SYN | TcpFlags.ACK, 0xFFFF_FFF0, 64_240, 7));
        FlowLookup opened = e.flow(Ipv4.PROTO_TCP, CLIENT, 40_002, VIP, 80);
        assertEquals(FlowState.TCP_SYN_RECV, opened.state());
        assertEquals(0xFFFF_FFF1L, e.flows.sequenceEnd(opened, false), "the SYN counts one");
        assertEquals(101, e.flows.sequenceEnd(opened, true));
        // The window is tracked from there: a RST from the backend at its exact place is honoured.
        e.processor.process(TestPacket.tcp(Ipv4.format(f.backendAddress()), 8080, SNAT, f.snatPort(), TcpFlags.RST).seq(0xFFFF_FFF1L, 0)
                .build(), NOW + 2);
        assertEquals(FlowState.TCP_CLOSED, e.flow(Ipv4.PROTO_TCP, CLIENT, 40_002, VIP, 80).state());
    }

    @Test
    void reportsMoveAnIpv6FlowTheSameWay() throws Exception {
        EngineHarness e = new EngineHarness(Ipv6EngineTest.YAML);
        String client = Ipv6EngineTest.CLIENT6;
        String vip = Ipv6EngineTest.VIP6;
        e.processor.process(TestPacket6.tcp(client, 40_000, vip, 80, TcpFlags.SYN).build(), NOW);
        FlowLookup f = e.flow6(Ipv4.PROTO_TCP, client, 40_000, vip, 80);
        String backend = Ipv6.format(e.flows.ipv6Addresses().high(f.backendAddress()), e.flows.ipv6Addresses().low(f.backendAddress()));
        e.processor.process(TestPacket6.tcp(backend, 8080, Ipv6EngineTest.SNAT6, f.snatPort(), TcpFlags.SYN | TcpFlags.ACK).build(), NOW);
        assertEquals(FlowState.TCP_SYN_RECV, e.flow6(Ipv4.PROTO_TCP, client, 40_000, vip, 80).state());
        ReportedSegments reports = new ReportedSegments(e.flows, () -> NOW + 1000);
        long[] c = Ipv6.parse(client);
        long[] v = Ipv6.parse(vip);
        long[] b = Ipv6.parse(backend);
        long[] s = Ipv6.parse(Ipv6EngineTest.SNAT6);

        reports.ipv6(c[0], c[1], 40_000, v[0], v[1], 80, segment(TcpFlags.ACK, 1));
        assertEquals(FlowState.TCP_ESTABLISHED, e.flow6(Ipv4.PROTO_TCP, client, 40_000, vip, 80).state());
        reports.ipv6(b[0], b[1], 8080, s[0], s[1], f.snatPort(), segment(TcpFlags.FIN | TcpFlags.ACK, 1));
        FlowLookup closing = e.flow6(Ipv4.PROTO_TCP, client, 40_000, vip, 80);
        assertEquals(FlowState.TCP_FIN_WAIT, closing.state());
        reports.ipv6(c[0], c[1], 40_000, v[0], v[1], 80, segment(TcpFlags.FIN | TcpFlags.ACK, 1));
        assertEquals(FlowState.TCP_TIME_WAIT, e.flow6(Ipv4.PROTO_TCP, client, 40_000, vip, 80).state(), "the client's FIN after the backend's");
        reports.ipv6(c[0], c[1] + 1, 40_000, v[0], v[1], 80, segment(TcpFlags.ACK, 1));
        assertEquals(1, reports.gone(), "an address no flow holds");
    }
}
