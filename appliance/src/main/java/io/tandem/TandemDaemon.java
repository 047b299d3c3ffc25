package io.tandem;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;

/**
 * {@code tandemd --config FILE}: reads the config, starts the box ({@link TandemBox}), reloads
 * on SIGHUP, and undoes its network setup on SIGTERM. Exit codes: 2 bad usage or config,
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
        TandemBox box;
        try {
            box = TandemBox.start(configFile, config);
        } catch (Exception e) {
            System.err.println("tandemd: cannot start: " + e.getMessage());
            System.exit(3);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping: undoing network setup");
            long begun = System.nanoTime();
            box.close();
            LOG.info("stopped in {} ms", (System.nanoTime() - begun) / 1_000_000);
            stopped.countDown();
        }, "tandemd-shutdown"));
        Signal.handle(new Signal("HUP"), signal -> {
            try {
                box.reload();
            } catch (IllegalArgumentException e) {
                LOG.error(e.getMessage());
            }
        });
        long sinceLaunch = System.currentTimeMillis() - ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli)
                .orElse(System.currentTimeMillis());
        LOG.info("tandemd {} running (pid {}, {} ms after launch)", config.node().name(), ProcessHandle.current().pid(), sinceLaunch);
        stopped.await();
    }
}
