package io.tandem.microbench;

import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.PacketProcessor;

/** An engine as tandemd builds it: one TCP service with the given number of backends. */
final class Engines {
    static final String YAML = """
            dataplane:
              front_interface: front
              back_interface: back
            conntrack:
              max_flows: %d
              max_embryonic: %d
            services:
              - name: web
                vip: 198.18.0.100
                port: 80
                snat_address: 198.19.0.100
                backends:
            """;

    final FlowTable flows;
    final PacketProcessor processor;

    Engines(int maxFlows, int backends) {
        StringBuilder yaml = new StringBuilder(YAML.formatted(maxFlows, maxFlows));
        for (int i = 1; i <= backends; i++) {
            yaml.append("      - { address: 198.19.0.").append(10 + i).append(", port: 8080 }\n");
        }
        try {
            TandemConfig config = ConfigLoader.parse(yaml.toString(), "benchmark");
            SnatPortPools pools = new SnatPortPools(1024, 65535);
            flows = new FlowTable(maxFlows, maxFlows, config.conntrack().flowTimeouts(), pools);
            processor = new PacketProcessor(flows, new FragmentTable(1024, 30_000),
                    new ActiveServices(ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
