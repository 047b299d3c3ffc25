package io.tandem.microbench;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FlowTimeouts;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/**
 * Measures the heap a flow table of N flows really takes (not what the arrays should take):
 * heap used after GC, before and after building and filling the table.
 * Run: java -cp microbench/target/microbench.jar io.tandem.microbench.FlowTableFootprint [flows] [v4|v6|mix] [max_embryonic]
 *
 * <p>IPv6 flows take the worst case: every flow from a client address of its own, so each one
 * has an entry in the table's IPv6 address arena (real clients share theirs across flows).
 * "mix" alternates the families. The half-open cap defaults to the config's ({@code max_flows / 4}):
 * its early-drop ring costs 4 bytes for each of about twice the cap's entries.
 */
public final class FlowTableFootprint {
    private FlowTableFootprint() {
    }

    public static void main(String[] args) {
        int flows = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        String family = args.length > 1 ? args[1] : "v4";
        int maxEmbryonic = args.length > 2 ? Integer.parseInt(args[2]) : Math.max(1, flows / 4);
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long before = usedAfterGc(memory);
        FlowTable table = new FlowTable(flows, maxEmbryonic, FlowTimeouts.defaults(), new SnatPortPools(1024, 65535));
        FlowLookup out = new FlowLookup();
        int vip = Ipv4.parse("198.18.0.100");
        int snat = Ipv4.parse("198.19.0.100");
        Ipv6Addresses a = table.ipv6Addresses();
        long[] vip6 = Ipv6.parse("2001:2::100");
        long[] snat6 = Ipv6.parse("2001:2:0:1::100");
        long[] client6 = Ipv6.parse("2001:2:0:8::");
        int vipId = a.acquire(vip6[0], vip6[1]);
        int snatId = a.acquire(snat6[0], snat6[1]);
        int[] backendIds = new int[20];
        for (int b = 0; b < 20; b++) {
            backendIds[b] = a.acquire(snat6[0], 0x11 + b);
        }
        for (int i = 0; i < flows; i++) {
            boolean v6 = family.equals("v6") || (family.equals("mix") && (i & 1) == 1);
            if (v6) {
                int clientId = a.acquire(client6[0], client6[1] + i);
                int result = table.insert(FlowProtocol.of(Ipv4.PROTO_TCP, true), clientId, 40000, vipId, 80,
                        backendIds[i % 20], 8080 + i / (20 * 64_000), snatId, 1024 + (i / 20) % 64_000,
                        -1, FlowState.TCP_ESTABLISHED, 0, out);
                a.release(clientId); // the flow holds its own reference
                if (result < 0) {
                    throw new IllegalStateException("insert " + i + " failed: " + result);
                }
                continue;
            }
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
        System.out.printf("%s (max_embryonic %,d) flows: %,d  heap: %,d bytes  per flow: %.1f bytes  (arrays by design: %.1f; IPv6 addresses held: %,d)%n",
                family, maxEmbryonic, table.size(), bytes, (double) bytes / table.size(), (double) table.memoryFootprintBytes() / table.capacity(),
                a.size());
    }

    private static long usedAfterGc(MemoryMXBean memory) {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return memory.getHeapMemoryUsage().getUsed();
    }
}
