package io.tandem.balancer;

import io.tandem.config.BackendConfig;
import io.tandem.config.IpAddress;
import io.tandem.config.Scheduler;
import io.tandem.config.ServiceConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.TupleHash;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * All services, looked up by (VIP, port, flow protocol) in an open-addressed array, plus the
 * set of addresses the box answers pings for (VIPs and SNAT addresses). Built from the config
 * off the hot path — including every Maglev table — and swapped whole on reload.
 *
 * <p>An IPv6 service's addresses are the flow table's keys for them: ids in its
 * {@link Ipv6Addresses}, pinned there by the build for good (a table replaced by a reload may
 * still be read by an event loop for a moment, so its ids must not change meaning), and its
 * protocol carries {@link FlowProtocol#IPV6}.
 */
public final class ServiceTable {
    private final Service[] slots;
    private final long[] keys;
    private final int[] localAddresses;
    private final int[] localAddresses6;
    private final List<Service> services;
    private final Set<String> drained;
    private final Set<String> down;

    private ServiceTable(List<Service> services, Set<String> drained, Set<String> down) {
        this.services = List.copyOf(services);
        this.drained = Set.copyOf(drained);
        this.down = Set.copyOf(down);
        int size = Integer.highestOneBit(Math.max(8, services.size() * 4 - 1)) << 1;
        slots = new Service[size];
        keys = new long[size];
        for (Service s : services) {
            long key = key(s.vip(), s.port(), s.protocol());
            int i = position(key);
            while (slots[i] != null) {
                i = (i + 1) & (size - 1);
            }
            slots[i] = s;
            keys[i] = key;
        }
        localAddresses = localAddresses(services, false);
        localAddresses6 = localAddresses(services, true);
    }

    private static int[] localAddresses(List<Service> services, boolean ipv6) {
        return services.stream().filter(s -> FlowProtocol.isIpv6(s.protocol()) == ipv6)
                .flatMapToInt(s -> IntStream.of(s.vip(), s.snatAddress())).distinct().sorted().toArray();
    }

    public static ServiceTable empty() {
        return new ServiceTable(List.of(), Set.of(), Set.of());
    }

    /** The key {@link #build} takes for a drained backend: {@code service/address:port}. */
    public static String drainKey(String service, Backend backend) {
        return service + "/" + backend.key();
    }

    /** Builds every service of {@code configs}; SNAT port pools come from (and stay in) {@code pools}. */
    public static ServiceTable build(List<ServiceConfig> configs, SnatPortPools pools, int maglevSize) {
        return build(configs, pools, maglevSize, Set.of(), Set.of());
    }

    /**
     * As {@link #build(List, SnatPortPools, int)}, with the backends named in {@code drained}
     * (by the operators) or {@code down} (by health checks) — as {@link #drainKey}s — scheduled
     * as weight 0: no new flows; their tracked flows go on.
     */
    public static ServiceTable build(List<ServiceConfig> configs, SnatPortPools pools, int maglevSize, Set<String> drained,
                                     Set<String> down) {
        return build(configs, pools, maglevSize, drained, down, new ClientLimiters());
    }

    /** As above, the services' client limiters taken from (and kept in) {@code limiters}. */
    public static ServiceTable build(List<ServiceConfig> configs, SnatPortPools pools, int maglevSize, Set<String> drained,
                                     Set<String> down, ClientLimiters limiters) {
        return build(configs, pools, maglevSize, drained, down, limiters, new Ipv6Addresses(FlowTable.CONFIG_ADDRESSES));
    }

    /**
     * As above, an IPv6 service's addresses pinned in {@code addresses6} (the flow table's arena).
     *
     * @throws IllegalStateException if the arena has no room for them
     */
    public static ServiceTable build(List<ServiceConfig> configs, SnatPortPools pools, int maglevSize, Set<String> drained,
                                     Set<String> down, ClientLimiters limiters, Ipv6Addresses addresses6) {
        Set<String> applied = new HashSet<>();
        Set<String> appliedDown = new HashSet<>();
        List<Service> services = new ArrayList<>();
        for (ServiceConfig c : configs) {
            int protocol = FlowProtocol.of(c.protocol().number(), c.vip().ipv6());
            int snat = key(c.snatAddress(), addresses6);
            List<Backend> backends = new ArrayList<>();
            for (BackendConfig b : c.backends()) {
                int address = key(b.address(), addresses6);
                backends.add(new Backend(b.address(), address, b.port(), b.weight(), pools.poolFor(snat, address, b.port(), protocol)));
            }
            int[] weights = new int[backends.size()];
            for (int i = 0; i < weights.length; i++) {
                String key = drainKey(c.name(), backends.get(i));
                boolean isDrained = drained.contains(key);
                boolean isDown = down.contains(key);
                if (isDrained) {
                    applied.add(key);
                }
                if (isDown) {
                    appliedDown.add(key);
                }
                weights[i] = isDrained || isDown ? 0 : backends.get(i).weight();
            }
            BackendSelector selector = c.scheduler() == Scheduler.MAGLEV
                    ? MaglevTable.build(backends.stream().map(Backend::key).toList(), weights, maglevSize)
                    : new WeightedRoundRobin(weights);
            services.add(new Service(c.name(), c.vip(), key(c.vip(), addresses6), c.port(), protocol, c.snatAddress(), snat,
                    c.hashKey(), List.copyOf(backends), selector, limiters.forService(c)));
        }
        return new ServiceTable(services, applied, appliedDown);
    }

    /** The flow table's key for a config address: the IPv4 address, or the pinned id of the IPv6 one. */
    private static int key(IpAddress address, Ipv6Addresses addresses6) {
        if (!address.ipv6()) {
            return address.ipv4();
        }
        int id = addresses6.acquire(address.high(), address.low());
        if (id == Ipv6Addresses.NONE) {
            throw new IllegalStateException("no room left for IPv6 address " + address + " in the flow table's address arena");
        }
        return id;
    }

    /** Whether this backend failed its health check (and so gets no new flows). */
    public boolean isDown(String service, Backend backend) {
        return down.contains(drainKey(service, backend));
    }

    /** Whether this backend of this service is drained (weight 0 by the operators' choice). */
    public boolean isDrained(String service, Backend backend) {
        return drained.contains(drainKey(service, backend));
    }

    /** The drained backends that exist in this table, as {@link #drainKey}s. */
    public Set<String> drained() {
        return drained;
    }

    /** The service at {@code vip:port/protocol}, or null. No allocation. */
    public Service find(int vip, int port, int protocol) {
        long key = key(vip, port, protocol);
        int mask = slots.length - 1;
        for (int i = position(key), probes = 0; probes < slots.length; i = (i + 1) & mask, probes++) {
            Service s = slots[i];
            if (s == null) {
                return null;
            }
            if (keys[i] == key) {
                return s;
            }
        }
        return null;
    }

    /** True for a VIP or SNAT address of any service: the engine answers its pings. */
    public boolean isLocalAddress(int address) {
        return Arrays.binarySearch(localAddresses, address) >= 0;
    }

    /** As {@link #isLocalAddress}, for the id of an IPv6 address. */
    public boolean isLocalAddress6(int id) {
        return Arrays.binarySearch(localAddresses6, id) >= 0;
    }

    public List<Service> services() {
        return services;
    }

    private static long key(int vip, int port, int protocol) {
        return (vip & 0xFFFFFFFFL) << 24 | (long) port << 8 | protocol;
    }

    private int position(long key) {
        long h = TupleHash.fmix64(key);
        return (int) h & (slots.length - 1);
    }
}
