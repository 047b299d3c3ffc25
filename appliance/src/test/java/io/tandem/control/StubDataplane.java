package io.tandem.control;

import io.tandem.TestConfig;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.LagHistogram;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.DataplaneCounters;
import io.tandem.packet.Ipv4;
import io.tandem.statesync.SyncStatus;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/** A real flow table and service table behind {@link BoxView}, without devices: for the control API's tests. */
public final class StubDataplane implements BoxView {
    public static final String YAML = TestConfig.box("lb1").conntrack("max_flows: 4096")
            .services(TestConfig.Service.web(2), TestConfig.Service.dns("198.19.0.21")).yaml();

    private final TandemConfig config;
    private final SnatPortPools pools;
    private final FlowTable flows;
    private final Set<String> drained = new HashSet<>();
    /** What {@link #stuck} reports (a test makes a loop stuck by adding to it). */
    public final List<String> stuck = new ArrayList<>();
    private ServiceTable services;
    public volatile SyncStatus sync;

    public StubDataplane() throws Exception {
        config = ConfigLoader.parse(YAML, "test");
        pools = new SnatPortPools(1024, 65535);
        flows = new FlowTable(config.conntrack().maxFlows(), 1024, config.conntrack().flowTimeouts(), pools);
        services = ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE);
    }

    /** Adds {@code count} established TCP flows to web from 198.18.0.10:(10000+i), to backend .11 (even i) or .12. */
    public StubDataplane withWebFlows(int count, long nowMillis) {
        FlowLookup out = new FlowLookup();
        for (int i = 0; i < count; i++) {
            int backend = Ipv4.parse(i % 2 == 0 ? "198.19.0.11" : "198.19.0.12");
            flows.insert(Ipv4.PROTO_TCP, Ipv4.parse("198.18.0.10"), 10_000 + i, Ipv4.parse("198.18.0.100"), 80,
                    backend, 8080, Ipv4.parse("198.19.0.100"), 20_000 + i, -1, FlowState.TCP_ESTABLISHED, nowMillis, out);
        }
        return this;
    }

    @Override
    public DataplaneCounters counters() {
        return new DataplaneCounters();
    }

    @Override
    public long tunQueueDrops() {
        return 0;
    }

    @Override
    public SyncStatus syncStatus() {
        return sync;
    }

    @Override
    public int flowCount() {
        return flows.size();
    }

    @Override
    public int flowsToUnknownBackends() {
        return flows.unknownBackendFlows();
    }

    @Override
    public Map<String, Long> fastPathCounters() {
        return Map.of("forwarded", 7L, "created", 3L);
    }

    @Override
    public long earlyDrops() {
        return flows.earlyDrops();
    }

    @Override
    public LagHistogram replicationLag() {
        return flows.replicationLag();
    }

    @Override
    public int flowCapacity() {
        return flows.capacity();
    }

    @Override
    public ServiceTable services() {
        return services;
    }

    @Override
    public int forEachFlowFrom(int cursor, Predicate<FlowSnapshot> visitor) {
        return flows.forEachFrom(cursor, visitor);
    }

    @Override
    public List<String> drain(String service, String backend, boolean drain) {
        List<String> keys = new ArrayList<>();
        services.services().stream().filter(s -> service == null || s.name().equals(service))
                .forEach(s -> s.backends().stream().filter(b -> b.key().equals(backend))
                        .forEach(b -> keys.add(ServiceTable.drainKey(s.name(), b))));
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("no backend " + backend);
        }
        if (drain) {
            drained.addAll(keys);
        } else {
            keys.forEach(drained::remove);
        }
        services = ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE, drained, Set.of());
        return keys;
    }

    @Override
    public List<String> stuck(Duration timeout) {
        return List.copyOf(stuck);
    }
}
