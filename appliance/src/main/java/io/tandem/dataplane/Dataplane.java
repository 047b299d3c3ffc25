package io.tandem.dataplane;

import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigFingerprint;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.netsetup.CommandRunner;
import io.tandem.dataplane.netsetup.PolicyRouting;
import io.tandem.dataplane.tun.TunDevice;
import io.tandem.dataplane.tun.PacketQueue;
import io.tandem.dataplane.tun.TunQueue;
import io.tandem.dataplane.tun.UringTunQueue;
import io.tandem.config.IoEngine;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.tandem.packet.DropReason;
import io.tandem.statesync.JGroupsReplicator;
import io.tandem.statesync.SyncStatus;
import io.tandem.statesync.VersionClock;
import io.tandem.sync.FlowSyncBridge;
import io.tandem.config.SyncConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The running data plane of one box: the TUN device's queues, each on its own Netty event
 * loop with its own {@link PacketProcessor}, the shared flow table, the service table in
 * force, the policy routing, and the timers (flow expiry, counters in the log).
 */
public final class Dataplane implements DataplaneView, AutoCloseable {
    /** Expiry examines this share of the table per tick: every slot once per 100 ticks (10 s). */
    static final long EXPIRY_TICK_MILLIS = 100;
    private static final Logger LOG = LoggerFactory.getLogger(Dataplane.class);

    private final SnatPortPools pools;
    private final FlowTable flows;
    private final ActiveServices services;
    private final PolicyRouting routing;
    private final MultiThreadIoEventLoopGroup loops;
    private final List<PacketQueue> queues = new ArrayList<>();
    private final FlowSyncBridge bridge;
    private JGroupsReplicator replicator;
    /** Whole-table walks (sync refresh) run here, never on an event loop that forwards packets. */
    private final java.util.concurrent.ScheduledExecutorService housekeeping = java.util.concurrent.Executors
            .newSingleThreadScheduledExecutor(Thread.ofPlatform().name("tandem-housekeeping").daemon().factory());
    private volatile TandemConfig config;
    /** Backends the operators drained ({@link ServiceTable#drainKey}); kept across reloads while they exist. */
    private final Set<String> drained = new java.util.concurrent.ConcurrentSkipListSet<>();
    /** Backends their health checks found down ({@link ServiceTable#drainKey}). */
    private volatile Set<String> down = Set.of();
    /** When the drains last changed here or were adopted from the peer (wall clock ms): the newer set wins. */
    private volatile long drainSeq;

    private Dataplane(TandemConfig config, SnatPortPools pools, FlowTable flows, FlowSyncBridge bridge, ActiveServices services,
                      PolicyRouting routing, MultiThreadIoEventLoopGroup loops) {
        this.config = config;
        this.bridge = bridge;
        this.pools = pools;
        this.flows = flows;
        this.services = services;
        this.routing = routing;
        this.loops = loops;
    }

    /**
     * Opens the TUN device, installs the routing and starts serving.
     *
     * @throws Exception a {@link TunDevice.TunException} or {@link CommandRunner.SetupException}
     *                   whose message says what failed and what to do; nothing is left behind
     */
    public static Dataplane start(TandemConfig config) throws Exception {
        boolean uring = config.dataplane().io() == IoEngine.IO_URING;
        if (uring) {
            IoUring.ensureAvailability();
        } else {
            Epoll.ensureAvailability();
        }
        var c = config.conntrack();
        SnatPortPools pools = new SnatPortPools(c.snatPorts().first(), c.snatPorts().last());
        VersionClock versions = new VersionClock();
        FlowTable flows = new FlowTable(c.maxFlows(), c.maxEmbryonic(), c.flowTimeouts(), pools, versions::next);
        FlowSyncBridge bridge = new FlowSyncBridge(flows, versions, System::currentTimeMillis);
        ActiveServices services = new ActiveServices(ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE));
        FragmentTable fragments = new FragmentTable(4096, c.fragmentLifetime().toMillis());
        int queueCount = config.dataplane().effectiveQueues();
        TunDevice tun = TunDevice.open(config.dataplane().tunName(), queueCount, config.dataplane().offload(), uring);
        PolicyRouting routing = new PolicyRouting(config.dataplane(), new CommandRunner(), Path.of("/proc/sys"));
        MultiThreadIoEventLoopGroup loops = new MultiThreadIoEventLoopGroup(queueCount,
                uring ? IoUringIoHandler.newFactory() : EpollIoHandler.newFactory());
        Dataplane dataplane = new Dataplane(config, pools, flows, bridge, services, routing, loops);
        try {
            if (config.sync() != null) {
                dataplane.startSync(config.sync(), config.node().name());
            }
            for (int fd : tun.queueFds()) {
                PacketProcessor processor = new PacketProcessor(flows, fragments, services);
                IoEventLoop loop = (IoEventLoop) loops.next();
                if (uring) {
                    UringTunQueue queue = new UringTunQueue(fd, tun.vnetHeader(), processor, System::currentTimeMillis,
                            PooledByteBufAllocator.DEFAULT);
                    dataplane.queues.add(queue);
                    IoRegistration registration = loop.register(queue).syncUninterruptibly().getNow();
                    loop.execute(() -> queue.start(registration));
                } else {
                    TunQueue queue = new TunQueue(fd, tun.vnetHeader(), processor, System::currentTimeMillis,
                            PooledByteBufAllocator.DEFAULT);
                    dataplane.queues.add(queue);
                    IoRegistration registration = loop.register(queue).syncUninterruptibly().getNow();
                    loop.execute(() -> registration.submit(EpollIoOps.EPOLLIN));
                }
            }
            routing.apply(services.current().services());
        } catch (Exception e) {
            dataplane.close();
            throw e;
        }
        int budget = (int) Math.max(1024, (long) flows.capacity() * EXPIRY_TICK_MILLIS / 10_000);
        loops.next().scheduleAtFixedRate(() -> flows.expire(System.currentTimeMillis(), budget),
                EXPIRY_TICK_MILLIS, EXPIRY_TICK_MILLIS, TimeUnit.MILLISECONDS);
        long statsMillis = config.dataplane().statsInterval().toMillis();
        loops.next().scheduleAtFixedRate(dataplane::logCounters, statsMillis, statsMillis, TimeUnit.MILLISECONDS);
        LOG.info("serving {} services on {} with {} queues ({}, offloads: {}); flow table {} flows ({} MB)", config.services().size(),
                config.dataplane().tunName(), queueCount, uring ? "io_uring" : "epoll", tun.offloads(), flows.capacity(),
                flows.memoryFootprintBytes() >> 20);
        return dataplane;
    }

    /**
     * Joins the peer before serving: a box that starts while its peer runs pulls the peer's
     * whole table first, so it never serves with an empty one.
     */
    private void startSync(SyncConfig sync, String nodeName) throws Exception {
        flows.setRemoteHold(sync.remoteHold().toMillis());
        flows.setListener(bridge); // only with a peer: a box alone pays nothing per flow event
        replicator = new JGroupsReplicator(new JGroupsReplicator.Settings(nodeName, sync.bindAddress().toString(), sync.port(),
                List.of(sync.bindAddress() + "[" + sync.port() + "]", sync.peer() + "[" + sync.peerPort() + "]"),
                Path.of(sync.keyFile()), sync.keyPassword(), sync.failureTimeout(), sync.digestInterval(), sync.queue(),
                Duration.ofSeconds(60)));
        bridge.attach(replicator);
        replicator.start(bridge);
        setActive(sync.role() == SyncConfig.Role.ACTIVE);
        long refreshMillis = sync.refreshInterval().toMillis();
        housekeeping.scheduleAtFixedRate(bridge::refresh, refreshMillis, refreshMillis, TimeUnit.MILLISECONDS);
        LOG.info("sync: joined as {}; peer {}", sync.role(), replicator.status().peerConnected() ? replicator.status().peer() : "not connected");
    }

    /** The active publishes its flow changes to the peer; the standby applies the peer's. */
    public void setActive(boolean active) {
        bridge.setSource(active);
        if (replicator != null) {
            replicator.setSource(active);
        }
    }

    @Override
    public SyncStatus syncStatus() {
        return replicator == null ? null : replicator.status();
    }

    /** The sync link to the peer, or null when this box runs alone. */
    public io.tandem.statesync.FlowReplicator replicator() {
        return replicator;
    }

    /** BGP mode: the VIPs and SNAT addresses of the running services, each once. */
    public io.tandem.ha.RouteAnnouncer.Addresses announcedAddresses() {
        java.util.Set<Integer> vips = new java.util.LinkedHashSet<>();
        java.util.Set<Integer> snats = new java.util.LinkedHashSet<>();
        for (io.tandem.balancer.Service s : services.current().services()) {
            vips.add(s.vip());
            snats.add(s.snatAddress());
        }
        return new io.tandem.ha.RouteAnnouncer.Addresses(List.copyOf(vips), List.copyOf(snats));
    }

    /** Flows tracked now, local and replicated. */
    @Override
    public int flowCount() {
        return flows.size();
    }

    /**
     * Applies a new, already validated config: services, backends and their routing change
     * at once; tracked flows keep their backends. Sizing and device changes need a restart.
     */
    public synchronized void reload(TandemConfig next) throws CommandRunner.SetupException {
        if (!next.dataplane().equals(config.dataplane()) || !next.conntrack().equals(config.conntrack())) {
            LOG.warn("reload: dataplane and conntrack settings take effect at the next restart only");
        }
        ServiceTable table = ServiceTable.build(next.services(), pools, MaglevTable.DEFAULT_SIZE, drained, down);
        drained.retainAll(table.drained()); // a drained backend that left the config is forgotten
        routing.replaceRules(table.services());
        services.publish(table);
        config = next;
        LOG.info("reload: {} services in force", table.services().size());
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
    @Override
    public synchronized List<String> drain(String service, String backend, boolean drain) {
        List<String> keys = new ArrayList<>();
        for (Service s : services.current().services()) {
            if (service != null && !s.name().equals(service)) {
                continue;
            }
            for (io.tandem.balancer.Backend b : s.backends()) {
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

    /** The drained backends and when they last changed, for the peer. */
    public synchronized List<String> drained() {
        return List.copyOf(drained);
    }

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
        return ConfigFingerprint.of(config.services());
    }

    /** The health checks' verdict: these backends (as {@link ServiceTable#drainKey}s) get no new flows. */
    public synchronized void setDown(Set<String> downNow) {
        Set<String> newlyDown = new java.util.HashSet<>(downNow);
        newlyDown.removeAll(down);
        down = Set.copyOf(downNow);
        rebuild();
        for (Service s : services.current().services()) {
            io.tandem.config.ServiceConfig c = config.services().stream().filter(x -> x.name().equals(s.name())).findFirst().orElse(null);
            if (c == null || c.onBackendDown() != io.tandem.config.ServiceConfig.OnBackendDown.RESET) {
                continue;
            }
            for (io.tandem.balancer.Backend b : s.backends()) {
                if (newlyDown.contains(ServiceTable.drainKey(s.name(), b))) {
                    int marked = flows.markForReset(s.vip(), s.port(), b.address(), b.port());
                    LOG.info("backend {} of {} down: {} flows will be reset at their next segment", b.key(), s.name(), marked);
                }
            }
        }
    }

    /** A new schedule from the running config, drains and health; Maglev is rebuilt here, never on an event loop. */
    private void rebuild() {
        services.publish(ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE, drained, down));
    }

    @Override
    public ServiceTable services() {
        return services.current();
    }

    @Override
    public int flowCapacity() {
        return flows.capacity();
    }

    public TandemConfig config() {
        return config;
    }

    /** Visits flows from a listing cursor on; see {@link FlowTable#forEachFrom}. */
    @Override
    public int forEachFlowFrom(int cursor, java.util.function.Predicate<io.tandem.conntrack.FlowSnapshot> visitor) {
        return flows.forEachFrom(cursor, visitor);
    }

    /** The counters of every queue added up (each may be a few packets old). */
    @Override
    public DataplaneCounters counters() {
        DataplaneCounters total = new DataplaneCounters();
        for (PacketQueue q : queues) {
            q.processor().counters().addTo(total);
        }
        return total;
    }

    void logCounters() {
        DataplaneCounters c = counters();
        StringBuilder drops = new StringBuilder();
        for (DropReason reason : DropReason.values()) {
            if (c.drops(reason) > 0) {
                drops.append(' ').append(reason.label()).append('=').append(c.drops(reason));
            }
        }
        long writeErrors = queues.stream().mapToLong(PacketQueue::writeErrors).sum();
        long backlogDrops = queues.stream().mapToLong(PacketQueue::backlogDrops).sum();
        LOG.info("packets={} bytes={} forwarded={} replied={} icmp_translated={} flows={} (embryonic {}) created={} drops={}{}"
                        + " tun_write_errors={} tun_backlog_drops={}",
                c.packetsIn(), c.bytesIn(), c.forwarded(), c.replied(), c.icmpErrorsTranslated(), flows.size(), flows.embryonic(),
                c.flowsCreated(), c.dropsTotal(), drops, writeErrors, backlogDrops);
        SyncStatus sync = syncStatus();
        if (sync != null) {
            LOG.info("sync: role={} peer={} connected={} sent={} received={} queue={} overflows={} decode_errors={} lag_ms={}"
                            + " digests_equal={} range_resyncs={} last_full_resync={}",
                    sync.source() ? "source" : "replica", sync.peer(), sync.peerConnected(), sync.recordsSent(), sync.recordsReceived(), sync.queueDepth(),
                    sync.overflows(), sync.decodeErrors(), sync.lastLagMillis(), sync.digestsEqual(), sync.rangeResyncs(),
                    sync.lastFullResync());
        }
    }

    /** Undoes the routing, closes the queues (the TUN device goes with the last) and stops the loops. */
    @Override
    public void close() {
        routing.remove();
        housekeeping.shutdownNow();
        if (replicator != null) {
            replicator.close(); // leaves the peer; the table stays as it is
        }
        loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        for (PacketQueue q : queues) {
            try {
                q.close();
            } catch (Exception e) {
                LOG.warn("closing a TUN queue: {}", e.toString());
            }
        }
        logCounters();
    }
}
