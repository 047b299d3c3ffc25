package io.tandem.dataplane;

import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConntrackConfig;
import io.tandem.config.DataplaneConfig;
import io.tandem.config.FastPathMode;
import io.tandem.config.IoEngine;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.conntrack.LagHistogram;
import io.tandem.dataplane.fastpath.FastPath;
import io.tandem.dataplane.fastpath.FastPathProgram;
import io.tandem.dataplane.netsetup.PolicyRouting;
import io.tandem.dataplane.tun.PacketQueue;
import io.tandem.dataplane.tun.TunDevice;
import io.tandem.dataplane.tun.TunQueue;
import io.tandem.dataplane.tun.UringTunQueue;
import io.tandem.events.LoopProbe;
import io.tandem.events.PeriodicTasks;
import io.tandem.os.CommandRunner;
import io.tandem.packet.DropReason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The running data plane of one box: the TUN device's queues, each on its own Netty event
 * loop with its own {@link PacketProcessor}, the policy routing that steers the services'
 * packets into the device, and the timers (flow expiry, counters in the log). The flow table
 * and the table of services in force are built by the box's assembly and handed in: the
 * data plane reads them, the sync link and the backend schedule change them.
 */
public final class Dataplane implements AutoCloseable {
    /** Expiry examines this share of the table per tick: every slot once per 100 ticks (10 s). */
    static final long EXPIRY_TICK_MILLIS = 100;
    private static final Logger LOG = LoggerFactory.getLogger(Dataplane.class);

    private final FlowTable flows;
    private final PolicyRouting routing;
    private final MultiThreadIoEventLoopGroup loops;
    private final List<PacketQueue> queues = new ArrayList<>();
    private final List<PacketProcessor> processors = new ArrayList<>();
    private FragmentHold hold;
    private FastPath fastPath;
    /** The device, for the kernel's count of what overflowed its queues; its queues close with {@link #queues}. */
    private TunDevice tun;

    private Dataplane(FlowTable flows, PolicyRouting routing, MultiThreadIoEventLoopGroup loops) {
        this.flows = flows;
        this.routing = routing;
        this.loops = loops;
    }

    /**
     * Opens the TUN device, installs the routing for the services in force and starts serving.
     *
     * @throws Exception a {@link TunDevice.TunException} or {@link CommandRunner.SetupException}
     *                   whose message says what failed and what to do; nothing is left behind
     */
    public static Dataplane start(DataplaneConfig config, ConntrackConfig conntrack, FlowTable flows, ActiveServices services)
            throws Exception {
        boolean uring = config.io() == IoEngine.IO_URING;
        if (uring) {
            IoUring.ensureAvailability();
        } else {
            Epoll.ensureAvailability();
        }
        FragmentTable fragments = new FragmentTable(4096, conntrack.fragmentLifetime().toMillis());
        FragmentHold hold = conntrack.fragmentHoldPackets() == 0 ? null
                : new FragmentHold(conntrack.fragmentHoldPackets(), conntrack.fragmentHoldTime().toMillis(), PooledByteBufAllocator.DEFAULT);
        int queueCount = config.effectiveQueues();
        TunDevice tun = TunDevice.open(config.tunName(), queueCount, config.offload(), uring);
        PolicyRouting routing = new PolicyRouting(config, new CommandRunner(), Path.of("/proc/sys"));
        MultiThreadIoEventLoopGroup loops = new MultiThreadIoEventLoopGroup(queueCount,
                uring ? IoUringIoHandler.newFactory() : EpollIoHandler.newFactory());
        Dataplane dataplane = new Dataplane(flows, routing, loops);
        dataplane.hold = hold;
        dataplane.tun = tun;
        try {
            dataplane.fastPath = startFastPath(config, flows);
            if (dataplane.fastPath != null) {
                dataplane.followPolicy(services, conntrack);
            }
            for (int fd : tun.queueFds()) {
                PacketProcessor processor = new PacketProcessor(flows, fragments, hold, dataplane.fastPath, services);
                dataplane.processors.add(processor);
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
        loops.next().scheduleAtFixedRate(PeriodicTasks.guard("flow-expiry", () -> {
            long now = System.currentTimeMillis();
            flows.expire(now, budget);
            if (hold != null) {
                hold.expire(now);
            }
        }),
                EXPIRY_TICK_MILLIS, EXPIRY_TICK_MILLIS, TimeUnit.MILLISECONDS);
        long statsMillis = config.statsInterval().toMillis();
        loops.next().scheduleAtFixedRate(PeriodicTasks.guard("dataplane-counters", dataplane::logCounters), statsMillis, statsMillis,
                TimeUnit.MILLISECONDS);
        LOG.info("serving {} services on {} with {} queues ({}, offloads: {}); flow table {} flows ({} MB)",
                services.current().services().size(), config.tunName(), queueCount, uring ? "io_uring" : "epoll", tun.offloads(),
                flows.capacity(), flows.memoryFootprintBytes() >> 20);
        return dataplane;
    }

    /**
     * The fast path as {@code dataplane.fast_path} asks: off; on (a failure is the start's
     * failure, exit 3, with the reason); auto (a failure is logged with the reason, and every
     * packet goes through TUN).
     */
    private static FastPath startFastPath(DataplaneConfig config, FlowTable flows) throws FastPathProgram.FastPathException {
        if (config.fastPath() == FastPathMode.OFF) {
            LOG.info("fast path off (dataplane.fast_path: off): every packet through {}", config.tunName());
            removeLeftovers(config, "off");
            return null;
        }
        try {
            long begun = System.nanoTime();
            FastPath path = FastPath.start(config.frontInterface(), config.backInterface(), flows.capacity(),
                    Path.of(config.fastPathPinDir()), config.fastPathAttach());
            path.setIpv6Addresses(flows.ipv6Addresses());
            flows.setFastPathHook(path);
            try {
                path.startReports(new ReportedSegments(flows, System::currentTimeMillis, path));
            } catch (FastPathProgram.FastPathException | RuntimeException e) {
                flows.setFastPathHook(null);
                path.close();
                throw e;
            }
            LOG.info("fast path on: flows are created and forwarded in the kernel (BPF, {} ingress on {} and {}; loaded in {} ms)",
                    path.attachment(), config.frontInterface(), config.backInterface(), (System.nanoTime() - begun) / 1_000_000);
            if (path.pinned() == null) {
                LOG.warn("fast path unpinned, so a restart loses the flows it carries: {}", path.unpinnedBecause());
            } else {
                long now = System.currentTimeMillis();
                int[] adoption = new int[FlowTable.Adoption.values().length];
                path.forEachKept(record -> {
                    FlowTable.Adoption a = flows.adopt(record, now);
                    adoption[a.ordinal()]++;
                    if (a == FlowTable.Adoption.REFUSED) {
                        path.removed(record); // entries no flow of the table owns would forward for good
                    }
                });
                int taken = adoption[FlowTable.Adoption.TAKEN.ordinal()];
                int held = adoption[FlowTable.Adoption.ALREADY_HELD.ordinal()];
                LOG.info("fast path pinned at {} and {}: adopted {} flows the kernel kept forwarding ({} taken in, {} the table held"
                                + " already from the peer); removed the entries of {} no flow of the table owns", path.pinned(),
                        path.pinned().resolveSibling(DataplaneConfig.FAST_PATH_MAP6), taken + held, taken, held,
                        adoption[FlowTable.Adoption.REFUSED.ordinal()]);
                if (path.linkPinFailure() != null) {
                    LOG.warn("fast path: {}", path.linkPinFailure());
                }
                if (path.leftovers() != null) {
                    LOG.info("fast path: what an earlier tandemd pinned was {}", path.leftovers());
                }
            }
            int pulled = flows.installDecided();
            if (pulled > 0) {
                LOG.info("fast path: installed {} decided flows the table held before it attached (the peer's)", pulled);
            }
            return path;
        } catch (FastPathProgram.FastPathException | RuntimeException e) {
            if (config.fastPath() == FastPathMode.ON) {
                throw e instanceof FastPathProgram.FastPathException f ? f
                        : new FastPathProgram.FastPathException("the fast path failed: " + e);
            }
            LOG.warn("fast path unavailable, every packet through {} (dataplane.fast_path: auto): {}", config.tunName(), e.getMessage());
            removeLeftovers(config, "unavailable");
            return null;
        }
    }

    /**
     * Publishes the policy in force into the program's maps, and each table published after it
     * (a reload, a health change, a drain): from then on the program creates the new flows of the
     * services whose policy it can apply (DESIGN §3b). A failure leaves those flows to the engine.
     */
    private void followPolicy(ActiveServices services, ConntrackConfig conntrack) {
        FastPath path = fastPath;
        services.follow(table -> {
            String failed = path.publish(KernelPolicies.of(table, conntrack.snatPorts().first(), conntrack.snatPorts().last()), true);
            if (failed != null) {
                LOG.warn("fast path: {}; the new flows of those services go through the engine", failed);
            }
        });
        LOG.info("fast path: the program creates new flows (services and Maglev tables published in its maps)");
    }

    /**
     * Without a fast path of its own, tandemd removes what an earlier one left attached and pinned:
     * entries nobody expires would go on rewriting packets of flows that ended.
     */
    private static void removeLeftovers(DataplaneConfig config, String why) {
        try {
            String removed = FastPath.removeLeftovers(config.frontInterface(), config.backInterface(), Path.of(config.fastPathPinDir()));
            if (!removed.startsWith("nothing")) {
                LOG.warn("fast path {}: removed what an earlier tandemd left in the kernel: {}", why, removed);
            }
        } catch (FastPathProgram.FastPathException | RuntimeException e) {
            LOG.warn("fast path {}: could not remove what an earlier tandemd left in the kernel: {}", why, e.getMessage());
        }
    }

    /** Steers the packets of {@code next}'s services into the device (a reload's routing change). */
    public void route(ServiceTable next) throws CommandRunner.SetupException {
        routing.replaceRules(next.services());
    }

    /** Flows tracked now, local and replicated. */
    public int flowCount() {
        return flows.size();
    }

    public int flowCapacity() {
        return flows.capacity();
    }

    /**
     * What {@link FlowTable#unknownBackendFlows} says, for the pair's status: null when every flow's
     * backend is one this box has, else a sentence naming the count and the last such backend.
     */
    public String flowsToUnknownBackends() {
        int n = flows.unknownBackendFlows();
        return n == 0 ? null : n + " flows from the peer go to backends this box's config does not have (the last to "
                + flows.lastUnknownBackend() + "): they keep working, with no SNAT pool made for them here";
    }

    public int unknownBackendFlows() {
        return flows.unknownBackendFlows();
    }

    /** The fast path program's counters by name; empty without a fast path. */
    public Map<String, Long> fastPathCounters() {
        FastPath path = fastPath;
        return path == null ? Map.of() : path.counters();
    }

    /** Half-open flows dropped at the half-open cap to make room, since start. */
    public long earlyDrops() {
        return flows.earlyDrops();
    }

    /** How long the peer's flow changes took to be in this box's kernel map (the standby's replication lag). */
    public LagHistogram replicationLag() {
        return flows.replicationLag();
    }

    /** Visits flows from a listing cursor on; see {@link FlowTable#forEachFrom}. */
    public int forEachFlowFrom(int cursor, Predicate<FlowSnapshot> visitor) {
        return flows.forEachFrom(cursor, visitor);
    }

    /** The counters of every queue added up (each may be a few packets old). */
    public DataplaneCounters counters() {
        DataplaneCounters total = new DataplaneCounters();
        for (PacketProcessor p : processors) {
            p.counters().addTo(total);
        }
        if (hold != null) {
            total.drops[DropReason.FRAGMENT_HOLD_EXPIRED.ordinal()] += hold.expired();
        }
        return total;
    }

    /**
     * Packets the kernel dropped because a TUN queue was full — the engine read them too late
     * ({@code dataplane.tun_queue_length}); the kernel's count (they never reached the engine),
     * read from sysfs on each call.
     */
    public long tunQueueDrops() {
        return tun == null ? 0 : tun.queueDrops();
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
                        + " early_drops={} rsts_challenged={} handshake_acks_refused={} fragments_held={} tun_write_errors={} tun_backlog_drops={} tun_queue_drops={}",
                c.packetsIn(), c.bytesIn(), c.forwarded(), c.replied(), c.icmpErrorsTranslated(), flows.size(), flows.embryonic(),
                c.flowsCreated(), c.dropsTotal(), drops, flows.earlyDrops(), c.rstsChallenged(), c.handshakeAcksRefused(), c.fragmentsHeld(), writeErrors, backlogDrops,
                tunQueueDrops());
        if (fastPath != null) {
            long created = fastPath.created();
            LagHistogram lag = flows.replicationLag();
            if (lag.count() > 0) {
                LOG.info("sync to kernel: {} peer flow changes in this box's kernel map, lag p50={} ms p99={} ms", lag.count(),
                        lag.quantile(0.5), lag.quantile(0.99));
            }
            LOG.info("fast path: forwarded={} flows_installed={} (created by the program {}, installed by the engine {}) flows_refused={}"
                            + " passed_on: {}", fastPath.forwarded(), created + fastPath.installed(), created, fastPath.installed(),
                    fastPath.refused(), fastPath.passedOn());
        }
    }

    /** The packet loops that did not run a task within {@code timeout} (see {@link LoopProbe}). */
    public List<String> stuckLoops(Duration timeout) throws InterruptedException {
        return LoopProbe.stuck("packet loop", loops, timeout);
    }

    /**
     * True when the kernel goes on forwarding the decided flows after this tandemd stops and the
     * next one adopts them: the fast path runs with its map pinned (its program stays attached).
     */
    public boolean carriesFlowsThroughRestart() {
        return fastPath != null && fastPath.pinned() != null;
    }

    /** Undoes the routing, closes the queues (the TUN device goes with the last) and stops the loops. */
    @Override
    public void close() {
        logCounters(); // the last figures, whatever the stats interval
        // With a pinned fast path the kernel goes on forwarding the decided flows after this stop,
        // and the next tandemd adopts them: the routing stays (its blackhole drops, rather than the
        // local stack resets, what the engine would have seen until then).
        boolean keepForwarding = carriesFlowsThroughRestart();
        if (!keepForwarding) {
            routing.remove();
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
        if (fastPath != null) {
            flows.setFastPathHook(null);
            fastPath.close(keepForwarding);
        }
        if (hold != null) {
            hold.close();
        }
    }
}
