package io.tandem.sync;

import io.tandem.config.SyncConfig;
import io.tandem.conntrack.FlowTable;
import io.tandem.events.PeriodicTasks;
import io.tandem.role.RoleListener;
import io.tandem.statesync.FlowReplicator;
import io.tandem.statesync.JGroupsReplicator;
import io.tandem.statesync.SyncStatus;
import io.tandem.statesync.VersionClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The sync link of a box with a peer: the JGroups replicator, the {@link FlowSyncBridge}
 * between it and the flow table, and the bridge's periodic refresh. Started before the data
 * plane serves, so a box that starts while its peer runs pulls the peer's whole table first
 * and never serves with an empty one.
 */
public final class SyncLink implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SyncLink.class);

    private final FlowSyncBridge bridge;
    private final JGroupsReplicator replicator;
    /** Whole-table walks (the refresh) run here, never on an event loop that forwards packets. */
    private final ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("tandem-housekeeping").daemon().factory());

    private SyncLink(FlowSyncBridge bridge, JGroupsReplicator replicator) {
        this.bridge = bridge;
        this.replicator = replicator;
    }

    /**
     * Joins the peer and starts replicating {@code flows}; the box starts as a replica until
     * its {@link #roles()} listener is told otherwise.
     *
     * @param statsInterval how often the link's counters go to the log
     */
    public static SyncLink start(SyncConfig sync, String nodeName, FlowTable flows, VersionClock versions, Duration statsInterval)
            throws Exception {
        FlowSyncBridge bridge = new FlowSyncBridge(flows, versions, System::currentTimeMillis);
        flows.setRemoteHold(sync.remoteHold().toMillis());
        flows.setListener(bridge); // only with a peer: a box alone pays nothing per flow event
        JGroupsReplicator replicator = new JGroupsReplicator(new JGroupsReplicator.Settings(nodeName, sync.bindAddress().toString(),
                sync.port(), List.of(sync.bindAddress() + "[" + sync.port() + "]", sync.peer() + "[" + sync.peerPort() + "]"),
                Path.of(sync.keyFile()), sync.keyPassword(), sync.failureTimeout(), sync.digestInterval(), sync.queue(),
                Duration.ofSeconds(60)));
        bridge.attach(replicator);
        SyncLink link = new SyncLink(bridge, replicator);
        try {
            replicator.start(bridge);
        } catch (Exception e) {
            link.close();
            flows.setListener(null);
            throw e;
        }
        long refreshMillis = sync.refreshInterval().toMillis();
        link.housekeeping.scheduleAtFixedRate(PeriodicTasks.guard("sync-refresh", bridge::refresh), refreshMillis, refreshMillis,
                TimeUnit.MILLISECONDS);
        long statsMillis = statsInterval.toMillis();
        link.housekeeping.scheduleAtFixedRate(PeriodicTasks.guard("sync-counters", link::logCounters), statsMillis, statsMillis,
                TimeUnit.MILLISECONDS);
        SyncStatus status = replicator.status();
        LOG.info("sync: joined; peer {}", status.peerConnected() ? status.peer() : "not connected");
        return link;
    }

    /** What follows the box's role: the active publishes, the standby applies. */
    public RoleListener roles() {
        return bridge;
    }

    /** The link itself, for the HA node's announcements. */
    public FlowReplicator replicator() {
        return replicator;
    }

    public SyncStatus status() {
        return replicator.status().withStoreCounts(bridge.recordsRefused(), bridge.conflicts());
    }

    void logCounters() {
        SyncStatus sync = status();
        LOG.info("sync: role={} peer={} connected={} sent={} received={} queue={} overflows={} decode_errors={} peers_refused={} lag_ms={}"
                        + " digests_equal={} range_resyncs={} range_messages_ignored={} records_refused={} conflicts={} merges={}"
                        + " last_full_resync={}",
                sync.source() ? "source" : "replica", sync.peer(), sync.peerConnected(), sync.recordsSent(), sync.recordsReceived(),
                sync.queueDepth(), sync.overflows(), sync.decodeErrors(), sync.peersRefused(), sync.lastLagMillis(), sync.digestsEqual(),
                sync.rangeResyncs(), sync.rangeMessagesIgnored(), sync.recordsRefused(), sync.conflicts(), sync.merges(),
                sync.lastFullResync());
    }

    /** Leaves the peer; the table stays as it is. */
    @Override
    public void close() {
        housekeeping.shutdownNow();
        replicator.close();
    }
}
