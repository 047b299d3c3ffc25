package io.tandem.control;

import io.tandem.config.ControlConfig;
import io.tandem.events.EventLog;
import io.tandem.events.PeriodicTasks;
import io.tandem.ha.PairControl;
import io.tandem.ha.PairView;
import io.tandem.health.HealthMonitor;
import io.tandem.role.Role;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Everything operators talk to, started together: the control socket (tandemctl), the
 * read-only HTTP server (status page, JSON, /metrics) and the once-a-second history the
 * page's charts draw.
 */
public final class OperatorInterfaces implements AutoCloseable {
    private final ControlSocketServer socket;
    private final HttpControlServer http;
    private final ScheduledExecutorService sampler;

    private OperatorInterfaces(ControlSocketServer socket, HttpControlServer http, ScheduledExecutorService sampler) {
        this.socket = socket;
        this.http = http;
        this.sampler = sampler;
    }

    /**
     * @param pair            the HA pair, or null for a box alone
     * @param vrrpTransitions keepalived state changes so far (for metrics)
     */
    public static OperatorInterfaces start(ControlConfig config, String node, PairControl pair, BoxView dataplane,
                                           EventLog events, OperatorCommands.Reloader reloader, LongSupplier vrrpTransitions,
                                           Supplier<Map<String, HealthMonitor.Report>> health) throws IOException {
        FlowStats stats = new FlowStats(dataplane);
        History history = new History();
        Supplier<PairView> view = OperatorCommands.view(node, pair, dataplane);
        ControlApi api = OperatorCommands.build(new OperatorCommands.Parts(node, pair, dataplane, stats, events, history, reloader,
                health));
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("tandem-history").daemon().factory());
        sampler.scheduleAtFixedRate(PeriodicTasks.guard("history", () -> {
            PairView v = view.get();
            long lag = v.self().role() == Role.ACTIVE && v.peer() != null ? v.peer().lagMillis() : v.self().lagMillis();
            history.sample(System.currentTimeMillis(), dataplane.counters(), dataplane.flowCount(), dataplane.syncStatus(), lag, v.inSync());
        }), 0, 1, TimeUnit.SECONDS);
        ControlSocketServer socket = null;
        try {
            socket = ControlSocketServer.start(Path.of(config.socket()), api);
            HttpControlServer http = config.httpEnabled()
                    ? HttpControlServer.start(config.httpHost(), config.httpPort(), api, new Metrics(dataplane, stats, view, vrrpTransitions, health))
                    : null;
            return new OperatorInterfaces(socket, http, sampler);
        } catch (IOException | RuntimeException e) {
            sampler.shutdownNow();
            if (socket != null) {
                socket.close();
            }
            throw e;
        }
    }

    @Override
    public void close() {
        sampler.shutdownNow();
        if (http != null) {
            http.close();
        }
        socket.close();
    }
}
