package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.conntrack.FlowDirection;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.Checksum;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import org.junit.jupiter.api.Test;

import static io.tandem.dataplane.EngineHarness.CLIENT;
import static io.tandem.dataplane.EngineHarness.SNAT;
import static io.tandem.dataplane.EngineHarness.VIP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Packet in, packet out (katran's lib/testing style): a crafted packet goes in, and the exact
 * bytes expected out are built independently with checksums computed from scratch.
 */
class PacketProcessorTest {
    private static final long NOW = 1_000_000L;

    private static void assertSameBytes(ByteBuf expected, ByteBuf actual) {
        assertEquals(ByteBufUtil.hexDump(expected), ByteBufUtil.hexDump(actual));
        TestPacket.assertChecksumsValid(actual);
    }

    /** Sends a client SYN and returns the flow it created. */
    private static FlowLookup open(EngineHarness engine, int clientPort) {
        ByteBuf syn = TestPacket.tcp(CLIENT, clientPort, VIP, 80, TcpFlags.SYN).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW));
        return engine.flow(Ipv4.PROTO_TCP, CLIENT, clientPort, VIP, 80);
    }

    @Test
    void synToVipIsFullNattedToTheMaglevBackend() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf syn = TestPacket.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).seq(7, 0).payload("x").build();

        assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW));

        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, 40000, VIP, 80);
        assertNotNull(flow, "the SYN created a flow");
        Service web = engine.services.current().find(Ipv4.parse(VIP), 80, Ipv4.PROTO_TCP);
        assertEquals(web.pick(web.flowHash(Ipv4.parse(CLIENT), 40000)).address(), flow.backendAddress(), "Maglev's choice");
        assertEquals(Ipv4.parse(SNAT), flow.snatAddress());
        assertTrue(flow.snatPort() >= 1024, "SNAT port in the configured range");
        ByteBuf expected = TestPacket.tcp(SNAT, flow.snatPort(), Ipv4.format(flow.backendAddress()), 8080, TcpFlags.SYN)
                .seq(7, 0).payload("x").build();
        assertSameBytes(expected, syn);
        assertEquals(FlowState.TCP_SYN_SENT, flow.state());
        assertEquals(1, engine.processor.counters().flowsCreated());
    }

    @Test
    void aSuperPacketWithAPartialChecksumIsNattedSoTheKernelsChecksumComesOutRight() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40020);
        String backend = Ipv4.format(flow.backendAddress());
        // 60 KB of payload, as a TSO super-packet from the client's stack arrives on TUN.
        ByteBuf big = TestPacket.tcp(CLIENT, 40020, VIP, 80, TcpFlags.ACK).seq(8, 501).payload(new byte[60_000]).build();
        TestPacket.makePartial(big, Ipv4.PROTO_TCP, 16);
        assertEquals(Verdict.FORWARD, engine.processor.process(big, true, NOW));
        assertEquals(Ipv4.parse(backend), big.getInt(16), "NATed to the backend");
        TestPacket.finishPartialChecksum(big, 16);
        TestPacket.assertChecksumsValid(big);

        ByteBuf reply = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.ACK).seq(501, 60_008).payload(new byte[30_000]).build();
        TestPacket.makePartial(reply, Ipv4.PROTO_TCP, 16);
        assertEquals(Verdict.FORWARD, engine.processor.process(reply, true, NOW));
        TestPacket.finishPartialChecksum(reply, 16);
        TestPacket.assertChecksumsValid(reply);

        ByteBuf udp = TestPacket.udp(CLIENT, 40021, VIP, 53).payload(new byte[20_000]).build();
        TestPacket.makePartial(udp, Ipv4.PROTO_UDP, 6);
        assertEquals(Verdict.FORWARD, engine.processor.process(udp, true, NOW));
        TestPacket.finishPartialChecksum(udp, 6);
        TestPacket.assertChecksumsValid(udp);
    }

    @Test
    void aFlowWhoseBackendFailedIsAnsweredWithAResetTheClientAccepts() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40009);
        String backend = Ipv4.format(flow.backendAddress());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(500, 8).build(), NOW);
        engine.processor.process(TestPacket.tcp(CLIENT, 40009, VIP, 80, TcpFlags.ACK).seq(8, 501).build(), NOW);
        assertEquals(1, engine.flows.markForReset(Ipv4.parse(VIP), 80, flow.backendAddress(), 8080));
        assertEquals(0, engine.flows.markForReset(Ipv4.parse(VIP), 80, flow.backendAddress(), 8080), "marked once");

        // RFC 793 §3.4: the segment carries an ACK, so the reset's sequence number is that ACK.
        ByteBuf data = TestPacket.tcp(CLIENT, 40009, VIP, 80, TcpFlags.ACK | TcpFlags.PSH).seq(8, 501).payload("more data").build();
        assertEquals(Verdict.REPLY, engine.processor.process(data, NOW));
        assertSameBytes(TestPacket.tcp(VIP, 80, CLIENT, 40009, TcpFlags.RST).seq(501, 0).window(0).ttl(64).dontFragment().build(), data);
        TestPacket.assertChecksumsValid(data);
        assertNull(engine.flow(Ipv4.PROTO_TCP, CLIENT, 40009, VIP, 80), "the flow ended with the reset");
    }

    @Test
    void aResetWithoutAckAcknowledgesTheSegmentAndTheBackendSideIsDropped() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40010);
        engine.flows.markForReset(Ipv4.parse(VIP), 80, flow.backendAddress(), 8080);
        ByteBuf fromBackend = TestPacket.tcp(Ipv4.format(flow.backendAddress()), 8080, SNAT, flow.snatPort(), TcpFlags.ACK).build();
        assertEquals(Verdict.DROP, engine.processor.process(fromBackend, NOW));
        assertEquals(DropReason.BACKEND_DOWN, engine.processor.lastDropReason());

        FlowLookup again = open(engine, 40011);
        engine.flows.markForReset(Ipv4.parse(VIP), 80, again.backendAddress(), 8080);
        ByteBuf fin = TestPacket.tcp(CLIENT, 40011, VIP, 80, TcpFlags.FIN).seq(1000, 0).payload("abc").build();
        assertEquals(Verdict.REPLY, engine.processor.process(fin, NOW));
        assertSameBytes(TestPacket.tcp(VIP, 80, CLIENT, 40011, TcpFlags.RST | TcpFlags.ACK).seq(0, 1004).window(0).ttl(64)
                .dontFragment().build(), fin);
    }

    @Test
    void replyDirectionIsTranslatedBackAndTheHandshakeEstablishes() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40001);
        String backend = Ipv4.format(flow.backendAddress());

        ByteBuf synAck = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).seq(500, 8).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(synAck, NOW));
        assertSameBytes(TestPacket.tcp(VIP, 80, CLIENT, 40001, TcpFlags.SYN | TcpFlags.ACK).seq(500, 8).build(), synAck);
        assertEquals(FlowState.TCP_SYN_RECV, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40001, VIP, 80).state());

        ByteBuf ack = TestPacket.tcp(CLIENT, 40001, VIP, 80, TcpFlags.ACK).seq(8, 501).payload("GET / HTTP/1.0\r\n\r\n").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(ack, NOW));
        assertSameBytes(TestPacket.tcp(SNAT, flow.snatPort(), backend, 8080, TcpFlags.ACK).seq(8, 501)
                .payload("GET / HTTP/1.0\r\n\r\n").build(), ack);
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40001, VIP, 80).state());
    }

    @Test
    void closeWithFinsReachesTimeWaitAndRstClosesAtOnce() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40002);
        String backend = Ipv4.format(flow.backendAddress());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).build(), NOW);
        engine.processor.process(TestPacket.tcp(CLIENT, 40002, VIP, 80, TcpFlags.ACK).build(), NOW);
        engine.processor.process(TestPacket.tcp(CLIENT, 40002, VIP, 80, TcpFlags.FIN | TcpFlags.ACK).build(), NOW);
        assertEquals(FlowState.TCP_FIN_WAIT, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40002, VIP, 80).state());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.ACK).build(), NOW);
        assertEquals(FlowState.TCP_CLOSE_WAIT, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40002, VIP, 80).state());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.FIN | TcpFlags.ACK).build(), NOW);
        assertEquals(FlowState.TCP_TIME_WAIT, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40002, VIP, 80).state());

        FlowLookup other = open(engine, 40003);
        // The backend refuses the SYN (seq 1000): its RST acknowledges it, as a real stack's does.
        ByteBuf rst = TestPacket.tcp(Ipv4.format(other.backendAddress()), 8080, SNAT, other.snatPort(), TcpFlags.RST | TcpFlags.ACK)
                .seq(0, 1001).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(rst, NOW), "the RST itself is forwarded");
        assertEquals(FlowState.TCP_CLOSED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 40003, VIP, 80).state());
    }

    @Test
    void unknownNonSynTcpIsDroppedSilentlyAndCreatesNothing() throws Exception {
        EngineHarness engine = new EngineHarness();
        for (int flags : new int[] {TcpFlags.ACK, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.RST, TcpFlags.FIN | TcpFlags.ACK, TcpFlags.SYN | TcpFlags.FIN}) {
            ByteBuf packet = TestPacket.tcp(CLIENT, 40010, VIP, 80, flags).payload("data").build();
            String before = ByteBufUtil.hexDump(packet);
            assertEquals(Verdict.DROP, engine.processor.process(packet, NOW));
            assertEquals(DropReason.TCP_NOT_SYN, engine.processor.lastDropReason());
            assertEquals(before, ByteBufUtil.hexDump(packet), "a dropped packet is not modified");
        }
        assertEquals(0, engine.flows.size());
        assertEquals(5, engine.processor.counters().drops(DropReason.TCP_NOT_SYN));
    }

    /** A malformed IPv6 packet is counted as what it is, and changes nothing. */
    @Test
    void malformedIpv6IsDroppedAsWhatItIs() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf rh0 = TestPacket6.tcp("2001:2:0:1::5", 40000, "2001:2::10", 80, TcpFlags.SYN).routing(0, 1).build();
        String before = ByteBufUtil.hexDump(rh0);
        assertEquals(Verdict.DROP, engine.processor.process(rh0, NOW));
        assertEquals(DropReason.ROUTING_HEADER_TYPE_0, engine.processor.lastDropReason());
        assertEquals(before, ByteBufUtil.hexDump(rh0), "a dropped packet is not modified");
        assertEquals(0, engine.flows.size());
        assertEquals(1, engine.processor.counters().drops(DropReason.ROUTING_HEADER_TYPE_0));
    }

    @Test
    void trafficToNoServiceIsDropped() throws Exception {
        EngineHarness engine = new EngineHarness();
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 40000, VIP, 443, TcpFlags.SYN).build(), NOW));
        assertEquals(DropReason.NO_SERVICE, engine.processor.lastDropReason());
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.udp(CLIENT, 40000, VIP, 80).build(), NOW));
        assertEquals(DropReason.NO_SERVICE, engine.processor.lastDropReason(), "port 80 serves TCP only");
    }

    @Test
    void udpBothDirectionsAndAssuredOnThePacketAfterTheReply() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf query = TestPacket.udp(CLIENT, 33000, VIP, 53).payload("query").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(query, NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_UDP, CLIENT, 33000, VIP, 53);
        assertEquals(FlowState.UDP_UNREPLIED, flow.state());
        assertSameBytes(TestPacket.udp(SNAT, flow.snatPort(), "198.19.0.21", 5353).payload("query").build(), query);

        ByteBuf answer = TestPacket.udp("198.19.0.21", 5353, SNAT, flow.snatPort()).payload("answer!").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(answer, NOW));
        assertSameBytes(TestPacket.udp(VIP, 53, CLIENT, 33000).payload("answer!").build(), answer);
        assertEquals(FlowState.UDP_REPLIED, engine.flow(Ipv4.PROTO_UDP, CLIENT, 33000, VIP, 53).state(),
                "one exchange is not yet a stream: still half-open, early drop may take it");
        assertEquals(1, engine.flows.embryonic());

        ByteBuf next = TestPacket.udp(CLIENT, 33000, VIP, 53).payload("again").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(next, NOW));
        assertEquals(FlowState.UDP_ASSURED, engine.flow(Ipv4.PROTO_UDP, CLIENT, 33000, VIP, 53).state(), "a packet after the reply");
        assertEquals(0, engine.flows.embryonic());
    }

    @Test
    void udpWithoutChecksumKeepsZero() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf query = TestPacket.udp(CLIENT, 33001, VIP, 53).udpWithoutChecksum().payload("q").build();
        assertEquals(Verdict.FORWARD, engine.processor.process(query, NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_UDP, CLIENT, 33001, VIP, 53);
        assertSameBytes(TestPacket.udp(SNAT, flow.snatPort(), "198.19.0.21", 5353).udpWithoutChecksum().payload("q").build(), query);
        assertEquals(0, query.getUnsignedShort(26));
    }

    @Test
    void echoToVipOrSnatAddressIsAnswered() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf ping = TestPacket.icmp(CLIENT, VIP, 8, 0, 0x00420001).ttl(63).payload("abcdefgh").build();
        assertEquals(Verdict.REPLY, engine.processor.process(ping, NOW));
        assertSameBytes(TestPacket.icmp(VIP, CLIENT, 0, 0, 0x00420001).ttl(64).payload("abcdefgh").build(), ping);

        ByteBuf backendPing = TestPacket.icmp("198.19.0.11", SNAT, 8, 0, 7).build();
        assertEquals(Verdict.REPLY, engine.processor.process(backendPing, NOW));

        ByteBuf elsewhere = TestPacket.icmp(CLIENT, "198.18.0.99", 8, 0, 7).build();
        assertEquals(Verdict.DROP, engine.processor.process(elsewhere, NOW));
        assertEquals(DropReason.NO_SERVICE, engine.processor.lastDropReason());
        assertEquals(2, engine.processor.counters().replied());
    }

    /** Found by fuzzing: the reply's words are all zero, so its checksum must be -0 (0xFFFF), not +0. */
    @Test
    void anEchoOfAllZeroWordsGetsAReplyWhoseChecksumVerifies() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf ping = TestPacket.icmp(CLIENT, VIP, 8, 0, 0).build();
        assertEquals(Verdict.REPLY, engine.processor.process(ping, NOW));
        assertEquals(0xFFFF, ping.getUnsignedShort(22));
        TestPacket.assertChecksumsValid(ping);
    }

    @Test
    void fragmentationNeededFromTheBackSideReachesTheClientTranslated() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf original = TestPacket.tcp(CLIENT, 40020, VIP, 80, TcpFlags.ACK).payload(new byte[100]).build();
        ByteBuf syn = TestPacket.tcp(CLIENT, 40020, VIP, 80, TcpFlags.SYN).build();
        engine.processor.process(syn, NOW);
        ByteBuf sent = original.copy();
        assertEquals(Verdict.FORWARD, engine.processor.process(sent, NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, CLIENT, 40020, VIP, 80);

        for (int quoted : new int[] {28, 48}) { // RFC 792's minimum, and enough to carry the TCP checksum
            ByteBuf error = TestPacket.icmp("198.19.1.1", SNAT, 3, 4, 1400).payload(ByteBufUtil.getBytes(sent, 0, quoted)).build();
            assertEquals(Verdict.FORWARD, engine.processor.process(error, NOW), "quoting " + quoted + " bytes");
            ByteBuf expected = TestPacket.icmp("198.19.1.1", CLIENT, 3, 4, 1400).payload(ByteBufUtil.getBytes(original, 0, quoted)).build();
            assertSameBytes(expected, error);
        }
        assertEquals(2, engine.processor.counters().icmpErrorsTranslated());
        assertEquals(Ipv4.parse(SNAT), flow.snatAddress());
    }

    @Test
    void timeExceededFromTheFrontSideReachesTheBackendTranslated() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup flow = open(engine, 40021);
        String backend = Ipv4.format(flow.backendAddress());
        ByteBuf reply = TestPacket.tcp(backend, 8080, SNAT, flow.snatPort(), TcpFlags.SYN | TcpFlags.ACK).build();
        ByteBuf replyAsSent = reply.copy();
        assertEquals(Verdict.FORWARD, engine.processor.process(replyAsSent, NOW));

        ByteBuf error = TestPacket.icmp("198.18.1.1", VIP, 11, 0, 0).payload(ByteBufUtil.getBytes(replyAsSent, 0, 28)).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(error, NOW));
        assertSameBytes(TestPacket.icmp("198.18.1.1", backend, 11, 0, 0).payload(ByteBufUtil.getBytes(reply, 0, 28)).build(), error);
    }

    @Test
    void icmpErrorAboutNoTrackedFlowIsDropped() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf stray = TestPacket.tcp(SNAT, 20000, "198.19.0.11", 8080, TcpFlags.ACK).build();
        ByteBuf error = TestPacket.icmp("198.19.1.1", SNAT, 3, 4, 1400).payload(ByteBufUtil.getBytes(stray, 0, 28)).build();
        assertEquals(Verdict.DROP, engine.processor.process(error, NOW));
        assertEquals(DropReason.ICMP_UNRELATED, engine.processor.lastDropReason());

        ByteBuf cut = TestPacket.icmp("198.19.1.1", SNAT, 3, 4, 1400).payload(ByteBufUtil.getBytes(stray, 0, 24)).build();
        assertEquals(Verdict.DROP, engine.processor.process(cut, NOW));
        assertEquals(DropReason.TRUNCATED, engine.processor.lastDropReason());
    }

    @Test
    void laterFragmentsFollowTheFirstFragmentsMapping() throws Exception {
        EngineHarness engine = new EngineHarness();
        byte[] payload = new byte[200];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        ByteBuf datagram = TestPacket.udp(CLIENT, 33010, VIP, 53).ipId(0xBEEF).payload(payload).build();
        ByteBuf[] fragments = TestPacket.split(datagram, 104);

        assertEquals(Verdict.FORWARD, engine.processor.process(fragments[0], NOW));
        assertEquals(Verdict.FORWARD, engine.processor.process(fragments[1], NOW));
        FlowLookup flow = engine.flow(Ipv4.PROTO_UDP, CLIENT, 33010, VIP, 53);
        TestPacket.assertChecksumsValid(fragments[0]);
        TestPacket.assertChecksumsValid(fragments[1]);
        assertEquals(Ipv4.parse(SNAT), fragments[1].getInt(12));
        assertEquals(Ipv4.parse("198.19.0.21"), fragments[1].getInt(16));

        // Reassemble and verify the UDP checksum over the new pseudo-header.
        ByteBuf whole = PooledByteBufAllocator.DEFAULT.directBuffer();
        whole.writeBytes(fragments[0], 20, fragments[0].readableBytes() - 20).writeBytes(fragments[1], 20, fragments[1].readableBytes() - 20);
        assertEquals(0, Checksum.computeL4(whole, Ipv4.parse(SNAT), Ipv4.parse("198.19.0.21"), Ipv4.PROTO_UDP, 0, whole.readableBytes()));
        assertEquals(flow.snatPort(), whole.getUnsignedShort(0));

        ByteBuf orphan = TestPacket.split(TestPacket.udp(CLIENT, 33011, VIP, 53).ipId(0xCAFE).payload(payload).build(), 104)[1];
        assertEquals(Verdict.HELD, engine.processor.process(orphan, NOW), "held for its first (FragmentTest follows it further)");
        engine.hold.expire(NOW + 201);
        assertEquals(1, engine.hold.expired(), "its first never came: dropped after fragment_hold_time, counted");
    }

    @Test
    void ttlOfOneIsDropped() throws Exception {
        EngineHarness engine = new EngineHarness();
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).ttl(1).build(), NOW));
        assertEquals(DropReason.TTL_EXPIRED, engine.processor.lastDropReason());
        assertEquals(0, engine.flows.size());
    }

    @Test
    void aClientOverItsServicesNewFlowRateIsDroppedAndCountedWhileOthersAreNot() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("protocol: tcp",
                "protocol: tcp\n    client_limits: { new_flows_per_second: 5 }"));
        int forwarded = 0;
        for (int port = 43000; port < 43010; port++) {
            if (engine.processor.process(TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).build(), NOW) == Verdict.FORWARD) {
                forwarded++;
            } else {
                assertEquals(DropReason.CLIENT_RATE_LIMIT, engine.processor.lastDropReason());
            }
        }
        assertEquals(5, forwarded, "a burst of one second's worth, then nothing");
        assertEquals(5, engine.processor.counters().drops(DropReason.CLIENT_RATE_LIMIT));
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp("198.18.0.11", 43000, VIP, 80, TcpFlags.SYN).build(), NOW),
                "another client has its own bucket");
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp(CLIENT, 43000, VIP, 80, TcpFlags.ACK).build(), NOW),
                "a tracked flow's segments are never limited");
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.udp(CLIENT, 43020, VIP, 53).payload("q").build(), NOW),
                "nor other services");
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp(CLIENT, 43011, VIP, 80, TcpFlags.SYN).build(), NOW + 200),
                "200 ms later: one more token");
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 43012, VIP, 80, TcpFlags.SYN).build(), NOW + 200));
    }

    @Test
    void aClientHoldingItsServicesMaxFlowsGetsNoMoreUntilOneEnds() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("protocol: tcp",
                "protocol: tcp\n    client_limits: { max_flows: 3 }"));
        for (int port = 44000; port < 44003; port++) {
            assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp(CLIENT, port, VIP, 80, TcpFlags.SYN).build(), NOW));
        }
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 44003, VIP, 80, TcpFlags.SYN).build(), NOW));
        assertEquals(DropReason.CLIENT_FLOW_LIMIT, engine.processor.lastDropReason());
        assertEquals(1, engine.processor.counters().drops(DropReason.CLIENT_FLOW_LIMIT));
        assertEquals(3, engine.flows.size(), "the client's flows held are untouched");
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp("198.18.0.11", 44003, VIP, 80, TcpFlags.SYN).build(), NOW),
                "another client has its own count");
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.udp(CLIENT, 44010, VIP, 53).payload("q").build(), NOW),
                "and other services");
        FlowLookup one = engine.flow(Ipv4.PROTO_TCP, CLIENT, 44000, VIP, 80);
        engine.flows.remove(one.flowId(), one.generation());
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp(CLIENT, 44003, VIP, 80, TcpFlags.SYN).build(), NOW),
                "one ended: room for one more");
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 44004, VIP, 80, TcpFlags.SYN).build(), NOW));
    }

    @Test
    void fullTableRefusesNewFlowsAndKeepsOldOnes() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("max_flows: 1024", "max_flows: 4")
                .replace("max_embryonic: 256", "max_embryonic: 4"));
        for (int port = 41000; port < 41004; port++) {
            assertNotNull(open(engine, port));
        }
        assertEquals(Verdict.DROP, engine.processor.process(TestPacket.tcp(CLIENT, 41004, VIP, 80, TcpFlags.SYN).build(), NOW));
        assertEquals(DropReason.TABLE_FULL, engine.processor.lastDropReason());
        FlowLookup old = engine.flow(Ipv4.PROTO_TCP, CLIENT, 41000, VIP, 80);
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.tcp(CLIENT, 41000, VIP, 80, TcpFlags.ACK).build(), NOW));
        assertEquals(4, engine.flows.size());
        assertEquals(old.snatPort(), engine.flow(Ipv4.PROTO_TCP, CLIENT, 41000, VIP, 80).snatPort());
    }

    @Test
    void aSynFloodAtTheHalfOpenCapEvictsItsOldestEntriesAndEstablishedFlowsStay() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("max_embryonic: 256", "max_embryonic: 10"));
        FlowLookup established = open(engine, 42000);
        engine.processor.process(TestPacket.tcp(Ipv4.format(established.backendAddress()), 8080, SNAT, established.snatPort(),
                TcpFlags.SYN | TcpFlags.ACK).build(), NOW);
        engine.processor.process(TestPacket.tcp(CLIENT, 42000, VIP, 80, TcpFlags.ACK).build(), NOW);
        for (int i = 0; i < 100; i++) {
            ByteBuf syn = TestPacket.tcp("198.18.7." + (i % 250), 1024 + i, VIP, 80, TcpFlags.SYN).build();
            assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW), "SYN " + i + " is admitted: the oldest half-open makes room");
        }
        assertEquals(10, engine.flows.embryonic(), "never more half-open flows than the cap");
        assertEquals(90, engine.flows.earlyDrops());
        for (int i = 0; i < 100; i++) {
            boolean held = engine.flows.lookup(Ipv4.PROTO_TCP, Ipv4.parse("198.18.7." + (i % 250)), Ipv4.parse(VIP), 1024 + i, 80,
                    new FlowLookup());
            assertEquals(i >= 90, held, "only the 10 newest half-open flows are held: " + i);
        }
        assertEquals(FlowState.TCP_ESTABLISHED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 42000, VIP, 80).state());
    }

    @Test
    void snatPortExhaustionIsCountedAndDropped() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("max_embryonic: 256", "max_embryonic: 256\n  snat_ports: 20000-20003"));
        int forwarded = 0;
        for (int port = 50000; port < 50005; port++) {
            if (engine.processor.process(TestPacket.udp(CLIENT, port, VIP, 53).build(), NOW) == Verdict.FORWARD) {
                forwarded++;
            }
        }
        assertEquals(4, forwarded);
        assertEquals(DropReason.SNAT_PORTS_EXHAUSTED, engine.processor.lastDropReason());
        assertEquals(1, engine.processor.counters().drops(DropReason.SNAT_PORTS_EXHAUSTED));

        FlowLookup first = engine.flow(Ipv4.PROTO_UDP, CLIENT, 50000, VIP, 53);
        assertTrue(engine.flows.remove(first.flowId(), first.generation()));
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.udp(CLIENT, 50004, VIP, 53).build(), NOW),
                "the removed flow's port is free again");
        assertEquals(first.snatPort(), engine.flow(Ipv4.PROTO_UDP, CLIENT, 50004, VIP, 53).snatPort());
    }

    @Test
    void clientAffinitySendsEveryConnectionOfAClientToOneBackend() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("protocol: tcp", "protocol: tcp\n    hash_key: client-address"));
        for (int client = 1; client <= 20; client++) {
            String address = "198.18.3." + client;
            int backend = 0;
            for (int port = 30000; port < 30010; port++) {
                engine.processor.process(TestPacket.tcp(address, port, VIP, 80, TcpFlags.SYN).build(), NOW);
                FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, address, port, VIP, 80);
                if (backend == 0) {
                    backend = flow.backendAddress();
                }
                assertEquals(backend, flow.backendAddress(), address + ":" + port);
            }
        }
    }

    @Test
    void flowsKeepTheirBackendWhenTheServiceTableChanges() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup before = open(engine, 43000);
        EngineHarness smaller = new EngineHarness(EngineHarness.DEFAULT_YAML
                .replace("      - { address: 198.19.0.12, port: 8080 }\n", "")
                .replace("      - { address: 198.19.0.13, port: 8080, weight: 2 }\n", "")
                .replace("198.19.0.11", Ipv4.format(before.backendAddress()).equals("198.19.0.11") ? "198.19.0.12" : "198.19.0.11"));
        engine.services.publish(ServiceTable.build(smaller.config.services(), engine.pools, MaglevTable.DEFAULT_SIZE));

        ByteBuf next = TestPacket.tcp(CLIENT, 43000, VIP, 80, TcpFlags.ACK).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(next, NOW));
        assertEquals(before.backendAddress(), next.getInt(16), "the tracked flow ignores the new table");
        assertEquals(FlowDirection.ORIGINAL, engine.flow(Ipv4.PROTO_TCP, CLIENT, 43000, VIP, 80).direction());
        FlowLookup fresh = open(engine, 43001);
        assertTrue(fresh.backendAddress() != before.backendAddress(), "new flows use the new table");
    }

    @Test
    void aSynReusingAFinishedFlowsPortIsBalancedAfresh() throws Exception {
        EngineHarness engine = new EngineHarness();
        FlowLookup old = open(engine, 43100);
        String backend = Ipv4.format(old.backendAddress());
        engine.processor.process(TestPacket.tcp(backend, 8080, SNAT, old.snatPort(), TcpFlags.RST | TcpFlags.ACK).seq(0, 1001).build(), NOW);
        assertEquals(FlowState.TCP_CLOSED, engine.flow(Ipv4.PROTO_TCP, CLIENT, 43100, VIP, 80).state());
        // The old backend leaves the service; the client reuses the port for a new connection.
        String remaining = backend.equals("198.19.0.11") ? "198.19.0.12" : "198.19.0.11";
        String oneBackend = """
                dataplane: { front_interface: front, back_interface: back }
                services:
                  - name: web
                    vip: 198.18.0.100
                    port: 80
                    snat_address: 198.19.0.100
                    backends: [ { address: %s, port: 8080 } ]
                """.formatted(remaining);
        engine.services.publish(ServiceTable.build(ConfigLoader.parse(oneBackend, "test").services(), engine.pools,
                MaglevTable.DEFAULT_SIZE));
        ByteBuf syn = TestPacket.tcp(CLIENT, 43100, VIP, 80, TcpFlags.SYN).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(syn, NOW));
        FlowLookup fresh = engine.flow(Ipv4.PROTO_TCP, CLIENT, 43100, VIP, 80);
        assertEquals(FlowState.TCP_SYN_SENT, fresh.state());
        assertEquals(Ipv4.parse(remaining), fresh.backendAddress(), "the new connection follows the new table");
        assertEquals(1, engine.flows.size());
    }

    @Test
    void expiredFlowsAreRemovedAndTheirPortsFreed() throws Exception {
        EngineHarness engine = new EngineHarness();
        engine.processor.process(TestPacket.udp(CLIENT, 33100, VIP, 53).build(), NOW);
        FlowLookup udp = engine.flow(Ipv4.PROTO_UDP, CLIENT, 33100, VIP, 53);
        assertEquals(0, engine.flows.expire(NOW + 29_000, 1024), "UDP unreplied lives 30 s");
        assertEquals(1, engine.flows.expire(NOW + 31_000, 1024));
        assertNull(engine.flow(Ipv4.PROTO_UDP, CLIENT, 33100, VIP, 53));
        ByteBuf late = TestPacket.udp("198.19.0.21", 5353, SNAT, udp.snatPort()).build();
        assertEquals(Verdict.DROP, engine.processor.process(late, NOW + 31_000));
        assertEquals(DropReason.NO_SERVICE, engine.processor.lastDropReason());
    }

    @Test
    void malformedPacketsAreCountedByReason() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf options = TestPacket.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).build();
        options.setByte(0, 0x46);
        ByteBuf truncated = TestPacket.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).build();
        truncated.writerIndex(10);
        ByteBuf gre = TestPacket.tcp(CLIENT, 40000, VIP, 80, TcpFlags.SYN).build();
        gre.setByte(9, 47);
        assertEquals(Verdict.DROP, engine.processor.process(options, NOW));
        assertEquals(Verdict.DROP, engine.processor.process(truncated, NOW));
        assertEquals(Verdict.DROP, engine.processor.process(gre, NOW));
        DataplaneCounters c = engine.processor.counters();
        assertEquals(1, c.drops(DropReason.IP_OPTIONS));
        assertEquals(1, c.drops(DropReason.TRUNCATED));
        assertEquals(1, c.drops(DropReason.UNSUPPORTED_PROTOCOL));
        assertEquals(3, c.dropsTotal());
        assertEquals(3, c.packetsIn());
    }
}
