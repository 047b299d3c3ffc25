package io.tandem;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.control.OperatorInterfaces;
import io.tandem.events.EventLog;
import io.tandem.control.PidFile;
import io.tandem.dataplane.Dataplane;
import io.tandem.config.HaMode;
import io.tandem.dataplane.netsetup.CommandRunner;
import io.tandem.ha.HaNode;
import io.tandem.ha.RouteAnnouncer;
import io.tandem.health.HealthMonitor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;

/**
 * {@code tandemd --config FILE}: reads the config, starts the data plane, reloads on
 * SIGHUP, and undoes its network setup on SIGTERM. Exit codes: 2 bad usage or config,
 * 3 cannot start (no TUN, no privilege, setup failed).
 */
public final class TandemDaemon {
    private static final Logger LOG = LoggerFactory.getLogger(TandemDaemon.class);

    private TandemDaemon() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 2 || !args[0].equals("--config")) {
            System.err.println("usage: tandemd --config FILE");
            System.exit(2);
        }
        Path configFile = Path.of(args[1]);
        TandemConfig config;
        try {
            config = ConfigLoader.load(configFile);
        } catch (ConfigException e) {
            System.err.println("tandemd: " + e.getMessage());
            System.exit(2);
            return;
        }
        // Started in order, closed in reverse: on a failed start and at stop alike.
        Deque<AutoCloseable> parts = new ArrayDeque<>();
        Dataplane dataplane;
        HealthMonitor health;
        try {
            dataplane = Dataplane.start(config);
            parts.push(dataplane);
            EventLog events = new EventLog();
            RouteAnnouncer announcer = config.ha() == null || config.ha().mode() != HaMode.BGP ? null
                    : new RouteAnnouncer(config.dataplane().tunName(), config.ha().bgp().announceTable(),
                            dataplane::announcedAddresses, new CommandRunner());
            HaNode ha = config.ha() == null ? null : HaNode.start(config.node().name(), config.ha(), dataplane::setActive,
                    dataplane.replicator(), dataplane::flowCount, events, new HaNode.SharedSettings(dataplane::configFingerprint,
                            dataplane::drained, dataplane::drainSeq, dataplane::adoptDrained), announcer);
            if (ha != null) {
                parts.push(ha);
            }
            health = new HealthMonitor(dataplane::setDown, events);
            parts.push(health);
            health.configure(config.services());
            parts.push(OperatorInterfaces.start(config.control(), config.node().name(), ha, dataplane, events,
                    () -> reload(dataplane, health, configFile), ha == null ? () -> 0 : ha::vrrpTransitions, health::reports));
            parts.push(PidFile.write(Path.of(config.control().pidFile())));
        } catch (Exception e) {
            System.err.println("tandemd: cannot start: " + e.getMessage());
            closeAll(parts);
            System.exit(3);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping: undoing network setup");
            closeAll(parts);
            stopped.countDown();
        }, "tandemd-shutdown"));
        HealthMonitor healthMonitor = health;
        Signal.handle(new Signal("HUP"), signal -> {
            try {
                reload(dataplane, healthMonitor, configFile);
            } catch (IllegalArgumentException e) {
                LOG.error(e.getMessage());
            }
        });
        LOG.info("tandemd {} running (pid {})", config.node().name(), ProcessHandle.current().pid());
        stopped.await();
    }

    private static void closeAll(Deque<AutoCloseable> parts) {
        while (!parts.isEmpty()) {
            AutoCloseable part = parts.pop();
            try {
                part.close();
            } catch (Exception e) {
                LOG.warn("stopping {}: {}", part.getClass().getSimpleName(), e.toString());
            }
        }
    }

    /** A bad config is refused with its field errors (thrown, as for the control API) and the running config stays. */
    private static String reload(Dataplane dataplane, HealthMonitor health, Path configFile) {
        try {
            TandemConfig next = ConfigLoader.load(configFile);
            dataplane.reload(next);
            health.configure(next.services());
            return "reloaded " + configFile + ": " + dataplane.services().services().size() + " services in force";
        } catch (ConfigException e) {
            throw new IllegalArgumentException("reload refused, running config kept: " + e.getMessage());
        } catch (Exception e) {
            throw new IllegalArgumentException("reload failed, running config kept: " + e.getMessage());
        }
    }
}
