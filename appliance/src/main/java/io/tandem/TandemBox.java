package io.tandem;

import io.tandem.balancer.BackendSchedule;
import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.ConntrackConfig;
import io.tandem.config.HaMode;
import io.tandem.config.ServiceConfig;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.control.OperatorInterfaces;
import io.tandem.control.PidFile;
import io.tandem.dataplane.Dataplane;
import io.tandem.events.EventLog;
import io.tandem.ha.HaNode;
import io.tandem.ha.RestartCarry;
import io.tandem.ha.RouteAnnouncer;
import io.tandem.ha.SharedSettings;
import io.tandem.health.HealthMonitor;
import io.tandem.os.CommandRunner;
import io.tandem.role.RoleListener;
import io.tandem.statesync.VersionClock;
import io.tandem.sync.SyncLink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * One box, wired: the only place that builds the parts and hands each the narrow interface it
 * needs (Seesaw's {@code binaries/*\/main.go} is the model). In start order:
 * <ol>
 *   <li>the check that no other tandemd runs this box ({@link SingleInstance});</li>
 *   <li>the flow table and the backend schedule (services, drains, health verdicts);</li>
 *   <li>the sync link, which joins the peer and pulls its table before anything is served;</li>
 *   <li>the data plane: TUN queues, engines, policy routing;</li>
 *   <li>the role: the HA node (VRRP or BGP), or for a box without {@code ha} its configured
 *       {@code sync.role}, told once to the one {@link RoleListener};</li>
 *   <li>health checks, the operators' interfaces, the PID file.</li>
 * </ol>
 * Closed in reverse, on a failed start and at stop alike.
 */
final class TandemBox implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TandemBox.class);
    /** How long a stop waits for keepalived to move the VIPs to the peer before it removes the routing. */
    static final Duration HAND_OVER_WAIT = Duration.ofSeconds(3);

    private final Deque<AutoCloseable> parts = new ArrayDeque<>();
    private final Path configFile;
    private BackendSchedule schedule;
    private Dataplane dataplane;
    private HealthMonitor health;
    private volatile TandemConfig config;

    private TandemBox(Path configFile, TandemConfig config) {
        this.configFile = configFile;
        this.config = config;
    }

    /** Starts every part; on a failure, closes what started and rethrows (nothing is left behind). */
    static TandemBox start(Path configFile, TandemConfig config) throws Exception {
        TandemBox box = new TandemBox(configFile, config);
        try {
            box.wire();
        } catch (Exception e) {
            box.close();
            throw e;
        }
        return box;
    }

    private void wire() throws Exception {
        SingleInstance.check(config, new CommandRunner()); // before anything is touched
        String node = config.node().name();
        ConntrackConfig c = config.conntrack();
        SnatPortPools pools = new SnatPortPools(c.snatPorts().first(), c.snatPorts().last());
        VersionClock versions = new VersionClock();
        FlowTable flows = new FlowTable(c.maxFlows(), c.maxEmbryonic(), c.flowTimeouts(), pools, versions::next);
        schedule = new BackendSchedule(config.services(), pools, flows.ipv6Addresses(), flows::markForReset);

        SyncLink sync = config.sync() == null ? null
                : SyncLink.start(config.sync(), node, flows, versions, config.dataplane().statsInterval());
        if (sync != null) {
            parts.push(sync);
        }
        RoleListener roles = sync == null ? RoleListener.NONE : sync.roles();

        dataplane = Dataplane.start(config.dataplane(), c, flows, schedule.active());
        parts.push(dataplane);
        boolean vrrp = config.ha() != null && config.ha().mode() != HaMode.BGP;
        RestartCarry restart = !vrrp || !dataplane.carriesFlowsThroughRestart() ? RestartCarry.NONE
                : new RestartCarry(true, anyLocal(vips()));
        if (vrrp && !restart.carried()) {
            // Closed after the HA node (which holds the box back) and before the data plane: see handOver.
            parts.push(this::awaitHandOver);
        }

        EventLog events = new EventLog();
        HaNode ha = null;
        if (config.ha() != null) {
            RouteAnnouncer announcer = config.ha().mode() != HaMode.BGP ? null
                    : new RouteAnnouncer(config.dataplane().tunName(), config.ha().bgp().announceTable(),
                            () -> RouteAnnouncer.Addresses.of(schedule.configs()), new CommandRunner());
            ha = HaNode.start(node, config.ha(), roles, sync == null ? null : sync.replicator(), dataplane::flowCount, events,
                    new SharedSettings(schedule::configFingerprint, schedule::drained, schedule::drainSeq, schedule::adoptDrained,
                            dataplane::flowsToUnknownBackends),
                    announcer, restart);
            parts.push(ha);
        } else if (config.sync() != null) {
            roles.tell(config.sync().role()); // no HA node: the configured role, once
            LOG.info("sync: {} by config (no ha section)", config.sync().role());
        }

        health = new HealthMonitor(schedule::setDown, events);
        parts.push(health);
        health.configure(config.services());
        parts.push(OperatorInterfaces.start(config.control(), node, ha, new AssembledBoxView(dataplane, schedule, sync), events,
                this::reload, ha == null ? () -> 0 : ha::vrrpTransitions, health::reports));
        parts.push(PidFile.write(Path.of(config.control().pidFile())));
    }

    /**
     * Reads the config file again and applies it: services, backends and their routing change
     * at once; tracked flows keep their backends. A bad config is refused with its field errors
     * (thrown, as for the control API) and the running config stays.
     */
    synchronized String reload() {
        try {
            TandemConfig next = ConfigLoader.load(configFile);
            if (!next.dataplane().equals(config.dataplane()) || !next.conntrack().equals(config.conntrack())) {
                LOG.warn("reload: dataplane and conntrack settings take effect at the next restart only");
            }
            BackendSchedule.Saved before = schedule.save();
            int count = schedule.reload(next.services(), dataplane::route).services().size();
            try {
                health.configure(next.services());
            } catch (RuntimeException e) {
                // The last step failed: the services, their routing, the drains and the checks go back as they were.
                schedule.restore(before, dataplane::route);
                health.configure(before.configs());
                throw e;
            }
            config = next;
            LOG.info("reload: {} services in force", count);
            return "reloaded " + configFile + ": " + count + " services in force";
        } catch (ConfigException e) {
            throw new IllegalArgumentException("reload refused, running config kept: " + e.getMessage());
        } catch (Exception e) {
            throw new IllegalArgumentException("reload failed, running config kept: " + e.getMessage());
        }
    }

    /**
     * A stopping box has held itself back (the HA node closed first), so keepalived moves the
     * VIPs to the peer: the routing stays until they have left this box (at most
     * {@link #HAND_OVER_WAIT}), else the flows' next packets would meet the local stack's resets
     * in between — a stop resets nothing, the peer carries on.
     */
    private void awaitHandOver() throws InterruptedException {
        long deadline = System.nanoTime() + HAND_OVER_WAIT.toNanos();
        Set<String> vips = vips();
        while (System.nanoTime() < deadline) {
            if (!anyLocal(vips)) {
                LOG.info("stop: the VIPs have left this box; removing the routing");
                return;
            }
            Thread.sleep(50);
        }
        LOG.warn("stop: the VIPs are still on this box after {} ms (no peer took them?); removing the routing anyway",
                HAND_OVER_WAIT.toMillis());
    }

    private Set<String> vips() {
        Set<String> vips = new HashSet<>();
        for (ServiceConfig s : schedule.configs()) {
            vips.add(s.vip().toString());
        }
        return vips;
    }

    private static boolean anyLocal(Set<String> addresses) {
        try {
            return NetworkInterface.networkInterfaces().flatMap(NetworkInterface::inetAddresses)
                    .anyMatch(a -> addresses.contains(a.getHostAddress()));
        } catch (SocketException e) {
            return false;
        }
    }

    @Override
    public void close() {
        while (!parts.isEmpty()) {
            AutoCloseable part = parts.pop();
            try {
                part.close();
            } catch (Exception e) {
                LOG.warn("stopping {}: {}", part.getClass().getSimpleName(), e.toString());
            }
        }
    }
}
