package io.tandem.dataplane;

import com.sun.management.ThreadMXBean;
import io.netty.buffer.ByteBuf;
import io.tandem.conntrack.FlowLookup;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.NatRewriter;
import io.tandem.packet.PacketCopy;
import io.tandem.packet.PacketHeaders;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-packet path allocates nothing: the thread's allocation counter barely moves over
 * 200,000 packets of established flows in both directions (JMH's {@code -prof gc} gives
 * the same figure per operation in the benchmarks).
 */
class ZeroAllocationTest {
    private static final ThreadMXBean THREADS =
            (ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void establishedFlowsAllocateNothingPerPacket() throws Exception {
        EngineHarness engine = new EngineHarness();
        engine.processor.process(TestPacket.tcp(EngineHarness.CLIENT, 40000, EngineHarness.VIP, 80, TcpFlags.SYN).build(), 0);
        FlowLookup flow = engine.flow(Ipv4.PROTO_TCP, EngineHarness.CLIENT, 40000, EngineHarness.VIP, 80);
        ByteBuf forward = TestPacket.tcp(EngineHarness.CLIENT, 40000, EngineHarness.VIP, 80, TcpFlags.ACK).payload(new byte[64]).build();
        ByteBuf reply = TestPacket.tcp(Ipv4.format(flow.backendAddress()), 8080, EngineHarness.SNAT, flow.snatPort(), TcpFlags.ACK)
                .payload(new byte[64]).build();
        ByteBuf work = forward.alloc().directBuffer(forward.readableBytes());

        run(engine, forward, reply, work, 50_000); // warm up: JIT, class loading
        long tid = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(tid);
        run(engine, forward, reply, work, 100_000);
        long allocated = THREADS.getThreadAllocatedBytes(tid) - before;

        assertTrue(allocated < 20_000, allocated + " bytes allocated over 200000 packets");
        assertEquals(0, engine.processor.counters().dropsTotal());
    }

    /** An established IPv6 flow through the whole engine (address ids found, flow looked up, NAT66): nothing either. */
    @Test
    void establishedIpv6FlowsAllocateNothingPerPacket() throws Exception {
        EngineHarness engine = new EngineHarness(Ipv6EngineTest.YAML);
        ByteBuf syn = TestPacket6.tcp(Ipv6EngineTest.CLIENT6, 40000, Ipv6EngineTest.VIP6, 80, TcpFlags.SYN).build();
        assertEquals(Verdict.FORWARD, engine.processor.process(syn, 0));
        String backend = Ipv6.format(syn.getLong(syn.readerIndex() + 24), syn.getLong(syn.readerIndex() + 32));
        int snatPort = syn.getUnsignedShort(syn.readerIndex() + Ipv6.HEADER_LENGTH);
        ByteBuf forward = TestPacket6.tcp(Ipv6EngineTest.CLIENT6, 40000, Ipv6EngineTest.VIP6, 80, TcpFlags.ACK)
                .payload(new byte[64]).build();
        ByteBuf reply = TestPacket6.tcp(backend, 8080, Ipv6EngineTest.SNAT6, snatPort, TcpFlags.ACK).payload(new byte[64]).build();
        ByteBuf work = forward.alloc().directBuffer(forward.readableBytes());

        run(engine, forward, reply, work, 50_000);
        long tid = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(tid);
        run(engine, forward, reply, work, 100_000);
        long allocated = THREADS.getThreadAllocatedBytes(tid) - before;

        assertTrue(allocated < 20_000, allocated + " bytes allocated over 200000 IPv6 packets");
        assertEquals(0, engine.processor.counters().dropsTotal());
    }

    /** The IPv6 parse (extension headers walked) and NAT66 rewrite allocate nothing either. */
    @Test
    void ipv6ParsingAndNat66AllocateNothingPerPacket() {
        ByteBuf packet = TestPacket6.tcp("2001:2:0:1::5", 40000, "2001:2::10", 80, TcpFlags.ACK)
                .options(Ipv6.HOP_BY_HOP, 1).options(Ipv6.DESTINATION_OPTIONS, 1).payload(new byte[64]).build();
        ByteBuf work = packet.alloc().directBuffer(packet.readableBytes());
        PacketHeaders h = new PacketHeaders();
        long[] snat = Ipv6.parse("2001:2:0:2::100");
        long[] backend = Ipv6.parse("2001:2:0:2::11");
        long checksums = rewriteIpv6(packet, work, h, snat, backend, 50_000);
        long tid = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(tid);
        checksums += rewriteIpv6(packet, work, h, snat, backend, 200_000);
        long allocated = THREADS.getThreadAllocatedBytes(tid) - before;
        assertTrue(allocated < 20_000, allocated + " bytes allocated over 200000 IPv6 packets");
        assertTrue(checksums != 0);
    }

    private static long rewriteIpv6(ByteBuf packet, ByteBuf work, PacketHeaders h, long[] snat, long[] backend, int rounds) {
        long checksums = 0;
        for (int i = 0; i < rounds; i++) {
            PacketCopy.copy(packet, work);
            if (!h.parse(work)) {
                throw new AssertionError("refused: " + h.malformation());
            }
            NatRewriter.rewrite6(h, snat[0], snat[1], 1024 + (i & 0x3FF), backend[0], backend[1], 8080);
            checksums += work.getUnsignedShort(h.l4Offset() + 16);
        }
        return checksums;
    }

    private static void run(EngineHarness engine, ByteBuf forward, ByteBuf reply, ByteBuf work, int rounds) {
        for (int i = 0; i < rounds; i++) {
            PacketCopy.copy(forward, work);
            if (engine.processor.process(work, i) != Verdict.FORWARD) {
                throw new AssertionError("dropped: " + engine.processor.lastDropReason());
            }
            PacketCopy.copy(reply, work);
            if (engine.processor.process(work, i) != Verdict.FORWARD) {
                throw new AssertionError("dropped: " + engine.processor.lastDropReason());
            }
        }
    }
}
