package io.tandem.control;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.LagHistogram;
import io.tandem.dataplane.DataplaneCounters;
import io.tandem.events.PeriodicTasks;
import io.tandem.ha.PairView;
import io.tandem.health.HealthMonitor;
import io.tandem.packet.DropReason;
import io.tandem.role.Role;
import io.tandem.statesync.SyncStatus;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Prometheus metrics, with the official Java client: every value is read when scraped
 * (callbacks), so the packet path pays nothing for them.
 */
public final class Metrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    /**
     * @param pair            the pair's view (role, in sync), or a standalone one
     * @param vrrpTransitions keepalived state changes so far
     */
    public Metrics(BoxView dataplane, FlowStats stats, Supplier<PairView> pair, LongSupplier vrrpTransitions,
                   Supplier<Map<String, HealthMonitor.Report>> health) {
        counter("tandem_packets", "Packets received from the TUN device", () -> dataplane.counters().packetsIn());
        counter("tandem_bytes", "Bytes received from the TUN device", () -> dataplane.counters().bytesIn());
        counter("tandem_forwarded_packets", "Packets rewritten and forwarded", () -> dataplane.counters().forwarded());
        counter("tandem_new_flows", "Flows created on this box", () -> dataplane.counters().flowsCreated());
        counter("tandem_fragments_held", "Later fragments that came before their first and waited for it",
                () -> dataplane.counters().fragmentsHeld());
        counter("tandem_tcp_rsts_challenged", "In-window RSTs not at the expected sequence: passed to the endpoint, the flow kept",
                () -> dataplane.counters().rstsChallenged());
        counter("tandem_tcp_handshake_acks_refused", "Handshake ACKs not acknowledging the backend's ISN + 1 (blind spoofing): passed to the backend, the flow not established",
                () -> dataplane.counters().handshakeAcksRefused());
        counter("tandem_tun_queue_drops", "Packets the kernel dropped before the engine read them: a TUN queue was full"
                + " (dataplane.tun_queue_length)", dataplane::tunQueueDrops);
        CounterWithCallback.builder().name("tandem_dropped_packets").help("Packets dropped, by reason").labelNames("reason")
                .callback(cb -> {
                    DataplaneCounters c = dataplane.counters();
                    for (DropReason r : DropReason.values()) {
                        cb.call(c.drops(r), r.label());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_flows").help("Tracked flows, by state").labelNames("state")
                .callback(cb -> {
                    FlowStats.Counts counts = stats.get();
                    for (FlowState s : FlowState.values()) {
                        if (s != FlowState.FREE) {
                            cb.call(counts.perState().getOrDefault(s, 0L), s.name().toLowerCase(Locale.ROOT));
                        }
                    }
                }).register(registry);
        counter("tandem_half_open_early_drops", "Half-open flows dropped at the half-open cap to make room (the oldest first): a flood",
                dataplane::earlyDrops);
        CounterWithCallback.builder().name("tandem_fastpath_packets")
                .help("The in-kernel program: packets forwarded, flows created, packets reported, and packets passed on to the engine"
                        + " by reason").labelNames("what")
                .callback(cb -> dataplane.fastPathCounters().forEach((what, n) -> cb.call(n, what))).register(registry);
        gauge("tandem_flow_capacity", "Flows the table holds at most", dataplane::flowCapacity);
        gauge("tandem_flows_unknown_backend", "Flows from the peer to a backend this box's config does not have (the configs differ)",
                dataplane::flowsToUnknownBackends);
        counter("tandem_sync_records_sent", "Flow records sent to the peer", () -> sync(dataplane).recordsSent());
        counter("tandem_sync_records_received", "Flow records received from the peer", () -> sync(dataplane).recordsReceived());
        counter("tandem_sync_overflows", "Flow changes dropped from a full sync queue", () -> sync(dataplane).overflows());
        counter("tandem_sync_decode_errors", "Sync messages rejected as malformed", () -> sync(dataplane).decodeErrors());
        counter("tandem_sync_range_messages_ignored", "Range-resync messages that answered no current request, came in the wrong"
                + " role or too often, or ended a resync whose records did not all arrive", () -> sync(dataplane).rangeMessagesIgnored());
        counter("tandem_sync_peers_refused", "Connections to the sync port refused: no TLS, not the pair's key, too slow, too many",
                () -> sync(dataplane).peersRefused());
        counter("tandem_sync_records_refused", "Peer records refused: older than the flow's removal, a state not of its"
                + " protocol, a version far ahead of this clock", () -> sync(dataplane).recordsRefused());
        counter("tandem_sync_conflicts", "Peer records refused because another flow held their reply tuple (a split brain)",
                () -> sync(dataplane).conflicts());
        counter("tandem_sync_merges", "Partitions healed: the sync group merged and both boxes sent each other their tables",
                () -> sync(dataplane).merges());
        counter("tandem_sync_range_resyncs", "Digest ranges asked again from the peer", () -> sync(dataplane).rangeResyncs());
        gauge("tandem_sync_queue_depth", "Flow changes waiting for the peer", () -> sync(dataplane).queueDepth());
        GaugeWithCallback.builder().name("tandem_sync_lag_seconds").help("Replication lag of the last batch received")
                .callback(cb -> cb.call(sync(dataplane).lastLagMillis() / 1000.0)).register(registry);
        GaugeWithCallback.builder().name("tandem_sync_to_kernel_lag_seconds")
                .help("From a flow change on the active to the flow in this box's kernel map (a UDP flow from its creation, a TCP flow"
                        + " from its establishment): quantiles since start").labelNames("quantile")
                .callback(cb -> {
                    LagHistogram lag = dataplane.replicationLag();
                    if (lag.count() > 0) {
                        cb.call(lag.quantile(0.5) / 1000.0, "0.5");
                        cb.call(lag.quantile(0.99) / 1000.0, "0.99");
                    }
                }).register(registry);
        gauge("tandem_sync_peer_connected", "1 while the peer is connected on the sync link", () -> sync(dataplane).peerConnected() ? 1 : 0);
        gauge("tandem_in_sync", "1 while the pair is in sync (safe to fail over)", () -> pair.get().inSync() ? 1 : 0);
        GaugeWithCallback.builder().name("tandem_role").help("1 for this box's current role").labelNames("role")
                .callback(cb -> {
                    Role now = pair.get().self().role();
                    for (Role r : Role.values()) {
                        cb.call(r == now ? 1 : 0, r.name().toLowerCase(Locale.ROOT));
                    }
                }).register(registry);
        counter("tandem_vrrp_transitions", "keepalived state changes seen", vrrpTransitions);
        CounterWithCallback.builder().name("tandem_task_failures").help("Runs of a periodic task that failed (it goes on)")
                .labelNames("task").callback(cb -> PeriodicTasks.failures().forEach((task, n) -> cb.call(n, task)))
                .register(registry);
        GaugeWithCallback.builder().name("tandem_backend_up").help("1 while a checked backend passes its health check")
                .labelNames("service", "backend").callback(cb -> health.get().forEach((key, r) -> {
                    String[] sb = key.split("/", 2);
                    cb.call(r.state().equals("up") ? 1 : 0, sb[0], sb[1]);
                })).register(registry);
        CounterWithCallback.builder().name("tandem_health_checks").help("Health checks run").labelNames("service", "backend")
                .callback(cb -> health.get().forEach((key, r) -> {
                    String[] sb = key.split("/", 2);
                    cb.call(r.checks(), sb[0], sb[1]);
                })).register(registry);
    }

    private static SyncStatus sync(BoxView dataplane) {
        SyncStatus s = dataplane.syncStatus();
        return s != null ? s : new SyncStatus(false, false, null, 0, 0, 0, 0, 0, 0, null, 0, null);
    }

    private void counter(String name, String help, LongSupplier value) {
        CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.getAsLong())).register(registry);
    }

    private void gauge(String name, String help, LongSupplier value) {
        GaugeWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.getAsLong())).register(registry);
    }

    /** The exposition in Prometheus' text format. */
    public byte[] scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writer.write(out, registry.scrape());
        return out.toByteArray();
    }

    public String contentType() {
        return writer.getContentType();
    }
}
