package io.tandem.ha;

import io.tandem.config.HaConfig;
import io.tandem.statesync.SyncStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * This box's part in the VRRP pair: keepalived's notify FIFO and the sync state go into a
 * {@link RoleController}, which steers the track file and whether the data plane publishes
 * its flow changes. In sync means: no peer to sync with, or equal digests with it.
 */
public final class HaNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HaNode.class);
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("tandem-ha").daemon().factory());
    private final RoleController controller;

    private HaNode(RoleController controller) {
        this.controller = controller;
    }

    public static HaNode start(HaConfig ha, Consumer<Boolean> setActive, Supplier<SyncStatus> sync)
            throws IOException, InterruptedException {
        RoleController controller = new RoleController(new TrackFile(Path.of(ha.trackFile())), setActive);
        HaNode node = new HaNode(controller);
        new NotifyFifo(Path.of(ha.notifyFifo()), state -> {
            try {
                controller.onVrrp(state);
            } catch (IOException e) {
                LOG.error("role change to {} failed: {}", state, e.toString());
            }
        }).start();
        node.poller.scheduleWithFixedDelay(() -> {
            SyncStatus s = sync.get();
            try {
                controller.onSync(s == null || !s.peerConnected() || Boolean.TRUE.equals(s.digestsEqual()));
            } catch (IOException e) {
                LOG.error("track file: {}", e.toString());
            }
        }, 0, 200, TimeUnit.MILLISECONDS);
        return node;
    }

    public Role role() {
        return controller.role();
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
