package io.tandem.microbench;

import io.netty.buffer.ByteBuf;
import io.tandem.conntrack.FlowLookup;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.Ipv4;
import io.tandem.packet.PacketCopy;
import io.tandem.packet.TcpFlags;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The established-flow path: one packet of a tracked flow, parsed, looked up, state
 * updated, NATed, checksums patched. The rewrite is in place, so each operation first
 * restores the template's 40 header bytes (the payload is never touched);
 * {@code restoreOnly} measures that restore alone.
 * The table holds {@code flows} other flows so the lookup is not a trivially cached hit.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class ForwardPathBenchmark {
    @Param({"1000000"})
    int flows;

    private Engines engine;
    private ByteBuf original;
    private ByteBuf reply;
    private ByteBuf work;
    private ByteBuf replyWork;
    private long now;

    @Setup(Level.Trial)
    public void setUp() {
        engine = new Engines(flows + 16, 20); // 20 x 64,512 SNAT ports hold 1M flows
        int vip = Ipv4.parse("198.18.0.100");
        int clientBase = Ipv4.parse("198.18.0.0");
        ByteBuf syn = Packets.tcp(0, 0, vip, 80, TcpFlags.SYN, 0);
        work = syn.alloc().directBuffer(2048);
        for (int i = 0; i < flows; i++) {
            PacketCopy.copy(syn, work);
            // The engine does not verify checksums, so patching the tuple without them is fine here.
            work.setInt(12, clientBase + (i >>> 14) + 1);
            work.setShort(20, 1024 + (i & 0x3FFF));
            if (engine.processor.process(work, 0) != Verdict.FORWARD) {
                throw new IllegalStateException("setup dropped: " + engine.processor.lastDropReason());
            }
        }
        int client = Ipv4.parse("198.18.200.1");
        PacketCopy.copy(Packets.tcp(client, 40000, vip, 80, TcpFlags.SYN, 0), work);
        engine.processor.process(work, 0);
        FlowLookup flow = new FlowLookup();
        engine.flows.lookup(Ipv4.PROTO_TCP, client, vip, 40000, 80, flow);
        original = Packets.tcp(client, 40000, vip, 80, TcpFlags.ACK, 1400);
        reply = Packets.tcp(flow.backendAddress(), 8080, flow.snatAddress(), flow.snatPort(), TcpFlags.ACK, 1400);
        PacketCopy.copy(original, work);
        replyWork = work.alloc().directBuffer(2048);
        PacketCopy.copy(reply, replyWork);
    }

    @Benchmark
    public Verdict originalDirection() {
        Packets.restoreHeaders(original, work, 40);
        return engine.processor.process(work, ++now);
    }

    @Benchmark
    public Verdict replyDirection() {
        Packets.restoreHeaders(reply, replyWork, 40);
        return engine.processor.process(replyWork, ++now);
    }

    @Benchmark
    public ByteBuf restoreOnly() {
        Packets.restoreHeaders(original, work, 40);
        return work;
    }
}
