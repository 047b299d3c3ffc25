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
 * its flow changes. In sync means: the peer is connected and our digests are equal (or
 * this box has no sync configured). A box that cannot reach its peer stays held back: if the
 * peer is really gone, VRRP makes this box master anyway (priority 1 beats silence); if the
 * peer is alive, it keeps the addresses — a returning box never takes them with an empty table.
 */
public final class HaNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HaNode.class);
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("tandem-ha").daemon().factory());
    private final RoleController controller;
    private final TrackFile trackFile;

    private HaNode(RoleController controller, TrackFile trackFile) {
        this.controller = controller;
        this.trackFile = trackFile;
    }

    public static HaNode start(HaConfig ha, Consumer<Boolean> setActive, Supplier<SyncStatus> sync)
            throws IOException, InterruptedException {
        TrackFile trackFile = new TrackFile(Path.of(ha.trackFile()));
        RoleController controller = new RoleController(trackFile, setActive);
        HaNode node = new HaNode(controller, trackFile);
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
                controller.onSync(s == null || (s.peerConnected() && Boolean.TRUE.equals(s.digestsEqual())));
            } catch (IOException e) {
                LOG.error("track file: {}", e.toString());
            }
        }, 0, 200, TimeUnit.MILLISECONDS);
        return node;
    }

    /** Stops steering and holds the box back: a stopping tandemd must not stay the preferred master. */
    @Override
    public void close() {
        poller.shutdownNow();
        try {
            trackFile.holdBack();
        } catch (IOException e) {
            LOG.warn("track file on stop: {}", e.toString());
        }
    }
}
