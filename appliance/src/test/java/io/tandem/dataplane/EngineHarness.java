package io.tandem.dataplane;

import io.netty.buffer.PooledByteBufAllocator;
import io.tandem.TestConfig;
import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.ClientLimiters;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;

import java.util.Set;

/** An engine built from YAML the way tandemd builds it, without any device. */
final class EngineHarness {
    static final String CLIENT = "198.18.0.10";
    static final String VIP = "198.18.0.100";
    static final String SNAT = "198.19.0.100";

    static final String DEFAULT_YAML = TestConfig.box("lb1").conntrack("max_flows: 1024", "max_embryonic: 256")
            .services(new TestConfig.Service("web", TestConfig.VIP, 80).protocol("tcp")
                            .backend("198.19.0.11", 8080).backend("198.19.0.12", 8080).backend("198.19.0.13", 8080, "weight: 2"),
                    TestConfig.Service.dns("198.19.0.21"))
            .yaml();

    final TandemConfig config;
    final SnatPortPools pools;
    final FlowTable flows;
    final ActiveServices services;
    final PacketProcessor processor;
    /** The later fragments waiting for their first, as the daemon sizes it from the config. */
    final FragmentHold hold;

    EngineHarness(String yaml) throws Exception {
        config = ConfigLoader.parse(yaml, "test");
        pools = new SnatPortPools(config.conntrack().snatPorts().first(), config.conntrack().snatPorts().last());
        flows = new FlowTable(config.conntrack().maxFlows(), config.conntrack().maxEmbryonic(),
                config.conntrack().flowTimeouts(), pools);
        services = new ActiveServices(ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE, Set.of(), Set.of(),
                new ClientLimiters(), flows.ipv6Addresses()));
        hold = new FragmentHold(config.conntrack().fragmentHoldPackets(), config.conntrack().fragmentHoldTime().toMillis(),
                PooledByteBufAllocator.DEFAULT);
        processor = new PacketProcessor(flows, new FragmentTable(256, config.conntrack().fragmentLifetime().toMillis()), hold, services);
    }

    EngineHarness() throws Exception {
        this(DEFAULT_YAML);
    }

    /** The flow whose original tuple is {@code client:port -> vip:vport}, or null. */
    FlowLookup flow(int protocol, String client, int port, String vip, int vport) {
        FlowLookup out = new FlowLookup();
        return flows.lookup(protocol, Ipv4.parse(client), Ipv4.parse(vip), port, vport, out) ? out : null;
    }

    /** As {@link #flow}, for an IPv6 flow (protocol 6 or 17, the family bit added here). */
    FlowLookup flow6(int protocol, String client, int port, String vip, int vport) {
        Ipv6Addresses a = flows.ipv6Addresses();
        long[] c = Ipv6.parse(client);
        long[] v = Ipv6.parse(vip);
        int clientId = a.find(c[0], c[1]);
        int vipId = a.find(v[0], v[1]);
        FlowLookup out = new FlowLookup();
        return clientId >= 0 && vipId >= 0
                && flows.lookup(FlowProtocol.of(protocol, true), clientId, vipId, port, vport, out) ? out : null;
    }
}
