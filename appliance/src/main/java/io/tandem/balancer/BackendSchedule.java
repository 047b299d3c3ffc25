package io.tandem.balancer;

import io.tandem.config.ConfigFingerprint;
import io.tandem.config.ServiceConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;

/**
 * Which backends get new flows: the services config in force, the backends the operators
 * drained, the ones their health checks found down, and their weights. Every change builds a
 * new {@link ServiceTable} here — Maglev included, never on an event loop — and publishes it
 * through {@link ActiveServices} with one volatile write.
 *
 * <p>Drains are part of what the pair shares: the newer set wins ({@link #adoptDrained}), so a
 * failover does not undo one; the {@link #configFingerprint} lets the pair catch a reload done
 * on one box only.
 */
public final class BackendSchedule {
    private static final Logger LOG = LoggerFactory.getLogger(BackendSchedule.class);

    /** A step taken with a new table before it is published (the routing change of a reload). */
    @FunctionalInterface
    public interface BeforePublish<E extends Exception> {
        void accept(ServiceTable next) throws E;
    }

    /** Marks the tracked TCP flows of one service's backend for reset (the flow table's {@code markForReset}). */
    @FunctionalInterface
    public interface FlowResets {
        int markForReset(int proto, int vip, int vipPort, int backend, int backendPort);
    }

    private final SnatPortPools pools;
    private final Ipv6Addresses addresses6;
    private final ActiveServices services;
    private final FlowResets resets;
    private final ClientLimiters limiters = new ClientLimiters();
    private volatile List<ServiceConfig> configs;
    /** Backends the operators drained ({@link ServiceTable#drainKey}); kept across reloads while they exist. */
    private final Set<String> drained = new ConcurrentSkipListSet<>();
    /** Backends their health checks found down ({@link ServiceTable#drainKey}). */
    private volatile Set<String> down = Set.of();
    /** When the drains last changed here or were adopted from the peer (wall clock ms): the newer set wins. */
    private volatile long drainSeq;

    public BackendSchedule(List<ServiceConfig> configs, SnatPortPools pools, FlowResets resets) {
        this(configs, pools, new Ipv6Addresses(FlowTable.CONFIG_ADDRESSES), resets);
    }

    /** @param addresses6 the flow table's IPv6 address arena, where IPv6 services pin their addresses */
    public BackendSchedule(List<ServiceConfig> configs, SnatPortPools pools, Ipv6Addresses addresses6, FlowResets resets) {
        this.configs = List.copyOf(configs);
        this.pools = pools;
        this.addresses6 = addresses6;
        this.resets = resets;
        this.services = new ActiveServices(ServiceTable.build(configs, pools, MaglevTable.DEFAULT_SIZE, Set.of(), Set.of(), limiters, addresses6));
    }

    /** The table in force, as the event loops read it. */
    public ActiveServices active() {
        return services;
    }

    public ServiceTable current() {
        return services.current();
    }

    /** The services config in force. */
    public List<ServiceConfig> configs() {
        return configs;
    }

    /**
     * Schedules a new services config: the new table is built with the drains and health
     * verdicts held, {@code beforePublish} runs with it (and may refuse it by throwing: then
     * nothing changes — table, config and drains stay as they were), and the table is
     * published. Tracked flows keep their backends.
     */
    public synchronized <E extends Exception> ServiceTable reload(List<ServiceConfig> next, BeforePublish<E> beforePublish) throws E {
        ServiceTable table = ServiceTable.build(next, pools, MaglevTable.DEFAULT_SIZE, drained, down, limiters, addresses6);
        beforePublish.accept(table);
        drained.retainAll(table.drained()); // a drained backend that left the config is forgotten
        services.publish(table);
        configs = List.copyOf(next);
        return table;
    }

    /** What a failed change goes back to: the services config, the drains and the table in force. */
    public record Saved(List<ServiceConfig> configs, Set<String> drained, long drainSeq, ServiceTable table) {
    }

    public synchronized Saved save() {
        return new Saved(configs, Set.copyOf(drained), drainSeq, services.current());
    }

    /** Puts back what {@link #save} saw: {@code beforePublish} (the routing) first, then the drains and the table. */
    public synchronized <E extends Exception> void restore(Saved saved, BeforePublish<E> beforePublish) throws E {
        beforePublish.accept(saved.table());
        configs = saved.configs();
        drained.clear();
        drained.addAll(saved.drained());
        drainSeq = saved.drainSeq();
        rebuild(); // with the health verdicts of now
    }

    /**
     * Drains (no new flows; tracked flows go on) or undrains a backend, in one service or in
     * every service that has it. Lasts until undrained or tandemd restarts.
     *
     * @param service  a service name, or null for every service
     * @param backend  {@code address:port}
     * @return the services/backends changed, as {@link ServiceTable#drainKey}s
     * @throws IllegalArgumentException no such service or backend
     */
    public synchronized List<String> drain(String service, String backend, boolean drain) {
        List<String> keys = new ArrayList<>();
        for (Service s : services.current().services()) {
            if (service != null && !s.name().equals(service)) {
                continue;
            }
            for (Backend b : s.backends()) {
                if (b.key().equals(backend)) {
                    keys.add(ServiceTable.drainKey(s.name(), b));
                }
            }
        }
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("no backend " + backend + (service == null ? " in any service" : " in service '" + service + "'"));
        }
        if (drain) {
            drained.addAll(keys);
        } else {
            keys.forEach(drained::remove);
        }
        drainSeq = Math.max(System.currentTimeMillis(), drainSeq + 1);
        rebuild();
        LOG.info("{}: {}", drain ? "drained" : "undrained", keys);
        return keys;
    }

    /** The drained backends, for the peer. */
    public synchronized List<String> drained() {
        return List.copyOf(drained);
    }

    /** When the drains last changed. */
    public long drainSeq() {
        return drainSeq;
    }

    /** The peer's newer drains: so a failover does not undo a drain. */
    public synchronized void adoptDrained(List<String> keys, long seq) {
        if (seq <= drainSeq) {
            return;
        }
        drained.clear();
        drained.addAll(keys);
        drainSeq = seq;
        rebuild();
        LOG.info("drains from the peer: {}", keys);
    }

    /** A short hash of the services config: the pair compares theirs to catch a reload done on one box only. */
    public String configFingerprint() {
        return ConfigFingerprint.of(configs);
    }

    /**
     * The health checks' verdict: these backends (as {@link ServiceTable#drainKey}s) get no new
     * flows; of services with {@code on_backend_down: reset}, the newly down backends' tracked
     * flows are marked for reset.
     */
    public synchronized void setDown(Set<String> downNow) {
        Set<String> newlyDown = new HashSet<>(downNow);
        newlyDown.removeAll(down);
        down = Set.copyOf(downNow);
        rebuild();
        for (Service s : services.current().services()) {
            ServiceConfig c = configs.stream().filter(x -> x.name().equals(s.name())).findFirst().orElse(null);
            if (c == null || c.onBackendDown() != ServiceConfig.OnBackendDown.RESET) {
                continue;
            }
            for (Backend b : s.backends()) {
                if (newlyDown.contains(ServiceTable.drainKey(s.name(), b))) {
                    int marked = resets.markForReset(s.protocol(), s.vip(), s.port(), b.address(), b.port());
                    LOG.info("backend {} of {} down: {} flows will be reset at their next segment", b.key(), s.name(), marked);
                }
            }
        }
    }

    /** A new table from the running config, drains and health. */
    private void rebuild() {
        services.publish(ServiceTable.build(configs, pools, MaglevTable.DEFAULT_SIZE, drained, down, limiters, addresses6));
    }
}
