package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.tandem.conntrack.FlowLookup;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.Checksum;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import org.junit.jupiter.api.Test;

import static io.tandem.dataplane.EngineHarness.CLIENT;
import static io.tandem.dataplane.EngineHarness.SNAT;
import static io.tandem.dataplane.EngineHarness.VIP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fragments out of order, and fragments that attack the transport header (RFC 1858, RFC 3128):
 * a later fragment that comes first waits for its first and then leaves translated; tiny first
 * fragments and fragments overlapping the first are dropped and counted.
 */
class FragmentTest {
    private static final long NOW = 1_000_000L;
    private static final String DNS_BACKEND = "198.19.0.21";

    private static byte[] payload(int n) {
        byte[] bytes = new byte[n];
        for (int i = 0; i < n; i++) {
            bytes[i] = (byte) (i * 13 + 1);
        }
        return bytes;
    }

    /** Takes what the engine lets go of, as a queue does after a packet. */
    private static ByteBuf released(EngineHarness engine) {
        ByteBuf out = PooledByteBufAllocator.DEFAULT.directBuffer(4096);
        return engine.processor.nextReleased(out, NOW) ? out : null;
    }

    @Test
    void aLaterFragmentAheadOfItsFirstIsHeldThenForwardedTranslated() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf datagram = TestPacket.udp(CLIENT, 33100, VIP, 53).ipId(0x1111).payload(payload(300)).build();
        ByteBuf[] parts = TestPacket.split(datagram, 160);

        assertEquals(Verdict.HELD, engine.processor.process(parts[1], NOW), "the second fragment came first");
        assertEquals(null, released(engine), "nothing to let go yet");
        assertEquals(1, engine.processor.counters().fragmentsHeld());
        assertEquals(Verdict.FORWARD, engine.processor.process(parts[0], NOW + 5));
        ByteBuf second = released(engine);
        assertTrue(second != null, "the first passed: the held one goes");
        assertEquals(null, released(engine), "and only once");

        FlowLookup flow = engine.flow(Ipv4.PROTO_UDP, CLIENT, 33100, VIP, 53);
        assertEquals(Ipv4.parse(SNAT), second.getInt(12));
        assertEquals(Ipv4.parse(DNS_BACKEND), second.getInt(16));
        TestPacket.assertChecksumsValid(second);
        ByteBuf whole = PooledByteBufAllocator.DEFAULT.directBuffer();
        whole.writeBytes(parts[0], 20, parts[0].readableBytes() - 20).writeBytes(second, 20, second.readableBytes() - 20);
        assertEquals(0, Checksum.computeL4(whole, Ipv4.parse(SNAT), Ipv4.parse(DNS_BACKEND), Ipv4.PROTO_UDP, 0, whole.readableBytes()),
                "the reassembled datagram is the translated one");
        assertEquals(flow.snatPort(), whole.getUnsignedShort(0));
        assertEquals(0, engine.hold.held());
    }

    @Test
    void aHeldFragmentWhoseFirstNeverComesIsDroppedAfterTheHoldTime() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("  max_flows: 1024",
                "  max_flows: 1024\n  fragment_hold_time: 50ms"));
        ByteBuf[] parts = TestPacket.split(TestPacket.udp(CLIENT, 33101, VIP, 53).ipId(0x2222).payload(payload(200)).build(), 104);
        assertEquals(Verdict.HELD, engine.processor.process(parts[1], NOW));
        engine.hold.expire(NOW + 40);
        assertEquals(1, engine.hold.held(), "within its 50 ms");
        engine.hold.expire(NOW + 51);
        assertEquals(0, engine.hold.held());
        assertEquals(1, engine.hold.expired());
        assertEquals(Verdict.FORWARD, engine.processor.process(parts[0], NOW + 60));
        assertEquals(null, released(engine), "too late: the expired one is gone");
    }

    @Test
    void aFullHoldDropsAndCountsTheNextFragment() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("  max_flows: 1024",
                "  max_flows: 1024\n  fragment_hold_packets: 2"));
        for (int id = 0; id < 3; id++) {
            ByteBuf later = TestPacket.split(TestPacket.udp(CLIENT, 33110 + id, VIP, 53).ipId(0x3000 + id).payload(payload(200)).build(), 104)[1];
            Verdict v = engine.processor.process(later, NOW);
            assertEquals(id < 2 ? Verdict.HELD : Verdict.DROP, v, "fragment " + id);
        }
        assertEquals(DropReason.FRAGMENT_HOLD_FULL, engine.processor.lastDropReason());
        assertEquals(1, engine.processor.counters().drops(DropReason.FRAGMENT_HOLD_FULL));
    }

    @Test
    void noHoldAtAllWhenTheConfigSaysZero() throws Exception {
        EngineHarness engine = new EngineHarness(EngineHarness.DEFAULT_YAML.replace("  max_flows: 1024",
                "  max_flows: 1024\n  fragment_hold_packets: 0"));
        ByteBuf later = TestPacket.split(TestPacket.udp(CLIENT, 33120, VIP, 53).ipId(0x4000).payload(payload(200)).build(), 104)[1];
        assertEquals(Verdict.DROP, engine.processor.process(later, NOW));
        assertEquals(DropReason.FRAGMENT_HOLD_FULL, engine.processor.lastDropReason());
    }

    @Test
    void aTinyFirstFragmentThatSplitsTheTcpHeaderIsDropped() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf syn = TestPacket.tcp(CLIENT, 40100, VIP, 80, TcpFlags.SYN).payload(payload(40)).build();
        ByteBuf[] parts = TestPacket.split(syn, 8); // ports and sequence number only: flags in the next fragment
        assertEquals(Verdict.DROP, engine.processor.process(parts[0], NOW));
        assertEquals(DropReason.TINY_FRAGMENT, engine.processor.lastDropReason());
        assertEquals(0, engine.flows.size(), "no flow from a header cut in two");
        ByteBuf[] sixteen = TestPacket.split(TestPacket.tcp(CLIENT, 40101, VIP, 80, TcpFlags.SYN).payload(payload(40)).build(), 16);
        assertEquals(Verdict.DROP, engine.processor.process(sixteen[0], NOW), "16 bytes still cut the header short");
        assertEquals(DropReason.TINY_FRAGMENT, engine.processor.lastDropReason());
    }

    @Test
    void aFragmentOverlappingTheFirstIsDroppedWhetherItComesAfterOrBefore() throws Exception {
        EngineHarness engine = new EngineHarness();
        ByteBuf data = TestPacket.tcp(CLIENT, 40102, VIP, 80, TcpFlags.SYN).payload(payload(100)).build();
        ByteBuf[] parts = TestPacket.split(data, 40);
        assertEquals(Verdict.FORWARD, engine.processor.process(parts[0], NOW));
        // RFC 1858 §4's attack: offset 1 (8 bytes) rewrites the TCP header's flags on reassembly.
        ByteBuf overlap = overlapping(data, 8, 0x1234);
        assertEquals(Verdict.DROP, engine.processor.process(overlap, NOW));
        assertEquals(DropReason.FRAGMENT_OVERLAP, engine.processor.lastDropReason());
        assertEquals(Verdict.FORWARD, engine.processor.process(parts[1], NOW), "the honest second fragment passes");

        // The same, arriving before the first: held, then dropped when the first shows what it covers.
        ByteBuf data2 = TestPacket.tcp(CLIENT, 40103, VIP, 80, TcpFlags.SYN).ipId(0x6666).payload(payload(100)).build();
        ByteBuf early = overlapping(data2, 16, 0x6666);
        assertEquals(Verdict.HELD, engine.processor.process(early, NOW));
        assertEquals(Verdict.FORWARD, engine.processor.process(TestPacket.split(data2, 40)[0], NOW));
        assertEquals(null, released(engine), "dropped on release");
        assertEquals(2, engine.processor.counters().drops(DropReason.FRAGMENT_OVERLAP));
        assertFalse(engine.hold.anyReady());
    }

    /** A non-first fragment of {@code datagram} starting at {@code offset} bytes into its payload, to its end. */
    private static ByteBuf overlapping(ByteBuf datagram, int offset, int ipId) {
        int l4Length = datagram.getUnsignedShort(2) - 20;
        ByteBuf f = PooledByteBufAllocator.DEFAULT.directBuffer(20 + l4Length - offset);
        f.writeBytes(datagram, 0, 20).writeBytes(datagram, 20 + offset, l4Length - offset);
        f.setShort(2, 20 + l4Length - offset);
        f.setShort(4, ipId);
        f.setShort(6, offset / 8);
        f.setShort(10, 0);
        f.setShort(10, Checksum.compute(f, 0, 20));
        return f;
    }
}
