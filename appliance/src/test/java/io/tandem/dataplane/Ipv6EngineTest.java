package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.tandem.TestConfig;
import io.tandem.conntrack.FlowDirection;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's IPv6 paths (NAT66, RFC 8200 / RFC 4443) on a dual-stack config: an IPv4 web
 * service beside IPv6 TCP and UDP services, every rewritten packet's checksums verified from
 * scratch.
 */
class Ipv6EngineTest {
    private static final long NOW = 1_000_000L;
    static final String CLIENT6 = "2001:2:0:1::5";
    static final String VIP6 = "2001:2::10";
    static final String SNAT6 = "2001:2:0:2::100";
    static final String ROUTER6 = "2001:2:0:2::1";
    private static final List<String> BACKENDS6 = List.of("2001:2:0:2::11", "2001:2:0:2::12");

    static final String YAML = TestConfig.box("lb1").conntrack("max_flows: 1024", "max_embryonic: 256")
            .services(TestConfig.Service.web(2),
                    new TestConfig.Service("web6", "\"" + VIP6 + "\"", 80).snat("\"" + SNAT6 + "\"")
                            .backend("\"" + BACKENDS6.get(0) + "\"", 8080).backend("\"" + BACKENDS6.get(1) + "\"", 8080),
                    new TestConfig.Service("dns6", "\"" + VIP6 + "\"", 53).protocol("udp").snat("\"" + SNAT6 + "\"")
                            .backend("\"" + BACKENDS6.get(0) + "\"", 5353))
            .yaml();

    private static String src(ByteBuf p) {
        return Ipv6.format(p.getLong(p.readerIndex() + 8), p.getLong(p.readerIndex() + 16));
    }

    private static String dst(ByteBuf p) {
        return Ipv6.format(p.getLong(p.readerIndex() + 24), p.getLong(p.readerIndex() + 32));
    }

    private static int port(ByteBuf p, int which) {
        return p.getUnsignedShort(p.readerIndex() + Ipv6.HEADER_LENGTH + 2 * which);
    }

    private static void assertTransportChecksum(ByteBuf p, int protocol) {
        assertTrue(TestPacket6.transportChecksumValid(p, protocol, p.readerIndex() + Ipv6.HEADER_LENGTH),
                "checksum verifies: " + ByteBufUtil.hexDump(p));
    }

    @Test
    void aTcpConnectionIsNatedBothWaysWithItsChecksumsAndTheTableHoldsItsAddresses() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        int pinned = e.flows.ipv6Addresses().size();
        assertEquals(4, pinned, "the config's VIP, SNAT address and two backends");

        ByteBuf syn = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.SYN).payload(new byte[0]).build();
        assertEquals(Verdict.FORWARD, e.processor.process(syn, NOW));
        assertEquals(SNAT6, src(syn));
        String backend = dst(syn);
        assertTrue(BACKENDS6.contains(backend), backend);
        assertEquals(8080, port(syn, 1));
        int snatPort = port(syn, 0);
        assertTransportChecksum(syn, Ipv4.PROTO_TCP);
        assertEquals(pinned + 1, e.flows.ipv6Addresses().size(), "the client's address entered with its flow");

        ByteBuf synAck = TestPacket6.tcp(backend, 8080, SNAT6, snatPort, TcpFlags.SYN | TcpFlags.ACK).build();
        assertEquals(Verdict.FORWARD, e.processor.process(synAck, NOW));
        assertEquals(VIP6, src(synAck));
        assertEquals(CLIENT6, dst(synAck));
        assertEquals(80, port(synAck, 0));
        assertEquals(40000, port(synAck, 1));
        assertTransportChecksum(synAck, Ipv4.PROTO_TCP);

        ByteBuf ack = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.ACK).payload("GET / HTTP/1.0\r\n\r\n").build();
        assertEquals(Verdict.FORWARD, e.processor.process(ack, NOW));
        assertEquals(backend, dst(ack), "the same backend for the flow's every packet");
        assertTransportChecksum(ack, Ipv4.PROTO_TCP);

        FlowLookup flow = e.flow6(Ipv4.PROTO_TCP, CLIENT6, 40000, VIP6, 80);
        assertNotNull(flow);
        assertEquals(FlowState.TCP_ESTABLISHED, flow.state());
        assertEquals(FlowDirection.ORIGINAL, flow.direction());
        assertNull(e.flow(Ipv4.PROTO_TCP, "198.18.0.10", 40000, EngineHarness.VIP, 80), "no IPv4 flow was made");

        List<FlowSnapshot> listed = new ArrayList<>();
        e.flows.forEach(listed::add);
        assertEquals(1, listed.size());
        assertEquals(CLIENT6, listed.get(0).client());
        assertEquals(VIP6, listed.get(0).vip());
        assertEquals(SNAT6, listed.get(0).snat());
        assertEquals(backend, listed.get(0).backend());
        assertEquals("[" + CLIENT6 + "]:40000", FlowSnapshot.endpoint(listed.get(0).client(), 40000));

        for (int round = 0; round < 100 && e.flows.size() > 0; round++) {
            e.flows.expire(NOW + 10L * 86_400_000L, e.flows.capacity());
        }
        assertEquals(0, e.flows.size());
        assertEquals(pinned, e.flows.ipv6Addresses().size(), "the client's address left with its last flow");
        assertEquals(0, e.pools.portsInUse());
    }

    @Test
    void udpIsNatedAndItsChecksumNeverBecomesZero() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        for (int i = 0; i < 64; i++) {
            ByteBuf query = TestPacket6.udp(CLIENT6, 30000 + i, VIP6, 53).payload("query " + i).build();
            assertEquals(Verdict.FORWARD, e.processor.process(query, NOW), "query " + i);
            assertEquals(SNAT6, src(query));
            assertEquals(BACKENDS6.get(0), dst(query));
            assertEquals(5353, port(query, 1));
            assertTrue(query.getUnsignedShort(query.readerIndex() + Ipv6.HEADER_LENGTH + 6) != 0, "UDP over IPv6 keeps a checksum");
            assertTransportChecksum(query, Ipv4.PROTO_UDP);

            ByteBuf answer = TestPacket6.udp(BACKENDS6.get(0), 5353, SNAT6, port(query, 0)).payload("answer " + i).build();
            assertEquals(Verdict.FORWARD, e.processor.process(answer, NOW));
            assertEquals(VIP6, src(answer));
            assertEquals(CLIENT6, dst(answer));
            assertEquals(53, port(answer, 0));
            assertEquals(30000 + i, port(answer, 1));
            assertTransportChecksum(answer, Ipv4.PROTO_UDP);
        }
        assertEquals(64, e.flows.size());
        assertEquals(5, e.flows.ipv6Addresses().size(), "one client's 64 flows share its address's entry");
    }

    @Test
    void echoToTheVipOrSnatAddressIsAnsweredAndToAnyOtherAddressDropped() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        for (String local : List.of(VIP6, SNAT6)) {
            ByteBuf ping = TestPacket6.icmp(CLIENT6, local, Ipv6.ICMPV6_ECHO_REQUEST, 0, 0x12340001).payload("ping").build();
            assertEquals(Verdict.REPLY, e.processor.process(ping, NOW), local);
            assertEquals(local, src(ping));
            assertEquals(CLIENT6, dst(ping));
            assertEquals(Ipv6.ICMPV6_ECHO_REPLY, ping.getUnsignedByte(ping.readerIndex() + Ipv6.HEADER_LENGTH));
            assertTransportChecksum(ping, Ipv6.PROTO_ICMPV6);
        }
        ByteBuf elsewhere = TestPacket6.icmp(CLIENT6, "2001:2::99", Ipv6.ICMPV6_ECHO_REQUEST, 0, 1).build();
        assertEquals(Verdict.DROP, e.processor.process(elsewhere, NOW));
        assertEquals(DropReason.NO_SERVICE, e.processor.lastDropReason());
        ByteBuf solicitation = TestPacket6.icmp(CLIENT6, VIP6, 135, 0, 0).build(); // neighbour discovery: the kernel's
        assertEquals(Verdict.DROP, e.processor.process(solicitation, NOW));
        assertEquals(DropReason.ICMP_UNSUPPORTED, e.processor.lastDropReason());
    }

    /**
     * A router on the back network with a smaller MTU answers the SNAT address with Packet Too
     * Big: the client must get it, about its own packet to the VIP, or path-MTU discovery
     * (RFC 8201) stalls the transfer.
     */
    @Test
    void packetTooBigFromTheBackReachesTheClientAboutItsOwnPacket() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        ByteBuf syn = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.SYN).build();
        assertEquals(Verdict.FORWARD, e.processor.process(syn, NOW));
        String backend = dst(syn);
        int snatPort = port(syn, 0);
        ByteBuf big = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.ACK).payload(new byte[1400]).build();
        assertEquals(Verdict.FORWARD, e.processor.process(big, NOW));
        byte[] quoted = ByteBufUtil.getBytes(big, big.readerIndex(), 1232 - 48); // as much as fits in 1280 bytes

        ByteBuf tooBig = TestPacket6.icmp(ROUTER6, SNAT6, Ipv6.ICMPV6_PACKET_TOO_BIG, 0, 1280).payload(quoted).build();
        assertEquals(Verdict.FORWARD, e.processor.process(tooBig, NOW), String.valueOf(e.processor.lastDropReason()));
        assertEquals(ROUTER6, src(tooBig), "the router that complained stays the source");
        assertEquals(CLIENT6, dst(tooBig));
        assertEquals(1280, tooBig.getInt(tooBig.readerIndex() + Ipv6.HEADER_LENGTH + 4), "the MTU is the router's");
        assertTransportChecksum(tooBig, Ipv6.PROTO_ICMPV6);
        int inner = tooBig.readerIndex() + Ipv6.HEADER_LENGTH + 8;
        assertEquals(CLIENT6, Ipv6.format(tooBig.getLong(inner + 8), tooBig.getLong(inner + 16)));
        assertEquals(VIP6, Ipv6.format(tooBig.getLong(inner + 24), tooBig.getLong(inner + 32)));
        assertEquals(40000, tooBig.getUnsignedShort(inner + 40));
        assertEquals(80, tooBig.getUnsignedShort(inner + 42));
        assertEquals(1, e.processor.counters().icmpErrorsTranslated());

        ByteBuf stranger = TestPacket6.icmp(ROUTER6, SNAT6, Ipv6.ICMPV6_PACKET_TOO_BIG, 0, 1280)
                .payload(ByteBufUtil.getBytes(TestPacket6.tcp(SNAT6, 1, backend, 8080, TcpFlags.ACK).build())).build();
        assertEquals(Verdict.DROP, e.processor.process(stranger, NOW));
        assertEquals(DropReason.ICMP_UNRELATED, e.processor.lastDropReason(), "about no flow of ours: " + snatPort);
    }

    @Test
    void aFlowWhoseBackendWentDownIsAnsweredWithAnIpv6Reset() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        ByteBuf syn = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.SYN).build();
        assertEquals(Verdict.FORWARD, e.processor.process(syn, NOW));
        FlowLookup flow = e.flow6(Ipv4.PROTO_TCP, CLIENT6, 40000, VIP6, 80);
        assertNotNull(flow);
        assertEquals(1, e.flows.markForReset(flow.protocol(), flow.vipAddress(), 80, flow.backendAddress(), 8080));
        ByteBuf next = TestPacket6.tcp(CLIENT6, 40000, VIP6, 80, TcpFlags.ACK).payload("more").build();
        assertEquals(Verdict.REPLY, e.processor.process(next, NOW));
        assertEquals(VIP6, src(next));
        assertEquals(CLIENT6, dst(next));
        assertEquals(Ipv6.HEADER_LENGTH + 20, next.readableBytes());
        assertEquals(TcpFlags.RST, next.getUnsignedByte(next.readerIndex() + Ipv6.HEADER_LENGTH + 13));
        assertTransportChecksum(next, Ipv4.PROTO_TCP);
        assertEquals(0, e.flows.size());
    }

    @Test
    void aSegmentOfNoFlowFromAnUnknownAddressIsDroppedWithoutEnteringIt() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        ByteBuf ack = TestPacket6.tcp("2001:2:0:1::77", 40000, VIP6, 80, TcpFlags.ACK).build();
        assertEquals(Verdict.DROP, e.processor.process(ack, NOW));
        assertEquals(DropReason.TCP_NOT_SYN, e.processor.lastDropReason());
        ByteBuf noService = TestPacket6.tcp("2001:2:0:1::77", 40000, VIP6, 8443, TcpFlags.SYN).build();
        assertEquals(Verdict.DROP, e.processor.process(noService, NOW));
        assertEquals(DropReason.NO_SERVICE, e.processor.lastDropReason());
        assertEquals(4, e.flows.ipv6Addresses().size(), "a packet that makes no flow enters no address");
    }

    /** The kernel's own MLD reports written into the TUN device (hop limit 1, to ff02::16) are not expired packets: multicast. */
    @Test
    void multicastIsDroppedAsMulticastBeforeItsHopLimitIsLookedAt() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        ByteBuf report = TestPacket6.icmp("::", "ff02::16", 143, 0, 1).hopLimit(1).build();
        assertEquals(Verdict.DROP, e.processor.process(report, NOW));
        assertEquals(DropReason.MULTICAST, e.processor.lastDropReason());
        ByteBuf igmp = TestPacket.udp("198.18.0.10", 5000, "224.0.0.251", 5353).ttl(1).build();
        assertEquals(Verdict.DROP, e.processor.process(igmp, NOW));
        assertEquals(DropReason.MULTICAST, e.processor.lastDropReason());
        assertEquals(2, e.processor.counters().drops(DropReason.MULTICAST));
        assertEquals(0, e.processor.counters().drops(DropReason.TTL_EXPIRED));
    }

    @Test
    void aLaterFragmentFollowsItsFirstAndOneAheadOfItWaitsForIt() throws Exception {
        EngineHarness e = new EngineHarness(YAML);
        ByteBuf first = TestPacket6.udp(CLIENT6, 30000, VIP6, 53).payload(new byte[64]).fragment(0, true, 77).build();
        assertEquals(Verdict.FORWARD, e.processor.process(first, NOW), String.valueOf(e.processor.lastDropReason()));
        assertEquals(SNAT6, src(first));
        ByteBuf later = TestPacket6.udp(CLIENT6, 30000, VIP6, 53).payload(new byte[16]).fragment(9, false, 77).build();
        assertEquals(Verdict.FORWARD, e.processor.process(later, NOW), String.valueOf(e.processor.lastDropReason()));
        assertEquals(SNAT6, src(later));
        assertEquals(BACKENDS6.get(0), dst(later));
        ByteBuf orphan = TestPacket6.udp("2001:2:0:1::78", 30000, VIP6, 53).payload(new byte[16]).fragment(9, false, 78).build();
        assertEquals(Verdict.DROP, e.processor.process(orphan, NOW));
        assertEquals(DropReason.FRAGMENT_WITHOUT_FIRST, e.processor.lastDropReason());
    }
}
