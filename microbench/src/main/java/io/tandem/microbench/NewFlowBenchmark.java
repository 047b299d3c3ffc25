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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The new-flow path with churn: each operation is a SYN from a new (client, port) — service
 * lookup, Maglev pick, SNAT port allocation, insert in both directions, NAT — plus the
 * removal of the flow opened {@code WINDOW} operations earlier, so the table stays at
 * {@code WINDOW} flows however long JMH runs.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class NewFlowBenchmark {
    private static final int WINDOW = 1 << 16;
    private static final int CLIENTS = 1 << 12;

    private Engines engine;
    private ByteBuf syn;
    private ByteBuf work;
    private final FlowLookup flow = new FlowLookup();
    private final int[] openSlots = new int[WINDOW];
    private final int[] openGenerations = new int[WINDOW];
    private long counter;
    private int vip;
    private int clientBase;

    @Setup(Level.Trial)
    public void setUp() {
        engine = new Engines(WINDOW * 2, 10);
        vip = Ipv4.parse("198.18.0.100");
        clientBase = Ipv4.parse("198.18.1.0");
        syn = Packets.tcp(Ipv4.parse("198.18.1.1"), 1024, vip, 80, TcpFlags.SYN, 0);
        work = syn.alloc().directBuffer(64);
        Arrays.fill(openSlots, -1);
    }

    @Benchmark
    public Verdict synOfANewFlow() {
        long n = counter++;
        int client = clientBase + (int) (n % CLIENTS);
        int port = 1024 + (int) ((n / CLIENTS) % 60000);
        int ring = (int) (n & (WINDOW - 1));
        if (openSlots[ring] >= 0) {
            engine.flows.remove(openSlots[ring], openGenerations[ring]);
        }
        PacketCopy.copy(syn, work);
        work.setInt(12, client);
        work.setShort(20, port);
        Verdict verdict = engine.processor.process(work, n);
        engine.flows.lookup(Ipv4.PROTO_TCP, client, vip, port, 80, flow);
        openSlots[ring] = flow.flowId();
        openGenerations[ring] = flow.generation();
        return verdict;
    }
}
