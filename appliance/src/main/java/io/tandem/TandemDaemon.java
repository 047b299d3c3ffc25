package io.tandem;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.control.ControlSocketServer;
import io.tandem.control.OperatorCommands;
import io.tandem.control.PidFile;
import io.tandem.dataplane.Dataplane;
import io.tandem.ha.HaNode;
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
        try {
            dataplane = Dataplane.start(config);
            parts.push(dataplane);
            HaNode ha = config.ha() == null ? null : HaNode.start(config.node().name(), config.ha(), dataplane::setActive,
                    dataplane.replicator(), dataplane::flowCount);
            if (ha != null) {
                parts.push(ha);
            }
            parts.push(ControlSocketServer.start(Path.of(config.control().socket()),
                    OperatorCommands.build(config.node().name(), ha, dataplane::syncStatus, dataplane::flowCount)));
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
        Signal.handle(new Signal("HUP"), signal -> reload(dataplane, configFile));
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

    /** A bad config is refused with its field errors and the running config stays. */
    private static void reload(Dataplane dataplane, Path configFile) {
        try {
            dataplane.reload(ConfigLoader.load(configFile));
        } catch (ConfigException e) {
            LOG.error("reload refused, running config kept: {}", e.getMessage());
        } catch (Exception e) {
            LOG.error("reload failed, running config kept: {}", e.getMessage());
        }
    }
}
