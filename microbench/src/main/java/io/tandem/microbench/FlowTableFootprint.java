package io.tandem.microbench;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FlowTimeouts;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.packet.Ipv4;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/**
 * Measures the heap a flow table of N flows really takes (not what the arrays should take):
 * heap used after GC, before and after building and filling the table.
 * Run: java -cp microbench/target/microbench.jar io.tandem.microbench.FlowTableFootprint [flows]
 */
public final class FlowTableFootprint {
    private FlowTableFootprint() {
    }

    public static void main(String[] args) {
        int flows = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long before = usedAfterGc(memory);
        FlowTable table = new FlowTable(flows, flows, FlowTimeouts.defaults(), new SnatPortPools(1024, 65535));
        FlowLookup out = new FlowLookup();
        int vip = Ipv4.parse("198.18.0.100");
        int snat = Ipv4.parse("198.19.0.100");
        for (int i = 0; i < flows; i++) {
            int client = Ipv4.parse("198.18.0.0") + (i >>> 15) + 1;
            int port = 1024 + (i & 0x7FFF);
            // Reply tuples must be unique: 20 backends x 64,000 SNAT ports per backend port.
            int backend = Ipv4.parse("198.19.0.11") + (i % 20);
            int backendPort = 8080 + i / (20 * 64_000);
            int snatPort = 1024 + (i / 20) % 64_000;
            int result = table.insert(Ipv4.PROTO_TCP, client, port, vip, 80, backend, backendPort, snat, snatPort,
                    -1, FlowState.TCP_ESTABLISHED, 0, out);
            if (result < 0) {
                throw new IllegalStateException("insert " + i + " failed: " + result);
            }
        }
        long after = usedAfterGc(memory);
        long bytes = after - before;
        System.out.printf("flows: %,d  heap: %,d bytes  per flow: %.1f bytes  (arrays by design: %.1f)%n",
                table.size(), bytes, (double) bytes / table.size(), (double) table.memoryFootprintBytes() / table.capacity());
    }

    private static long usedAfterGc(MemoryMXBean memory) {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return memory.getHeapMemoryUsage().getUsed();
    }
}
