package io.tandem.control;

import io.tandem.events.EventLog;
import io.tandem.events.PeriodicTasks;
import io.tandem.ha.HandOverCheck;
import io.tandem.ha.ManualOverride;
import io.tandem.ha.NodeStatus;
import io.tandem.ha.PairControl;
import io.tandem.ha.PairPreference;
import io.tandem.ha.PairView;
import io.tandem.health.HealthMonitor;
import io.tandem.role.Role;
import io.tandem.statesync.SyncStatus;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The commands of tandemd's control API, wired to the parts that answer them. */
public final class OperatorCommands {
    /** Re-reads the config file and applies it; returns what changed, or throws with the config's errors. */
    @FunctionalInterface
    public interface Reloader {
        String reload() throws Exception;
    }

    /** What the commands read and change. {@code pair} is null when this box runs alone (no {@code ha} section). */
    public record Parts(String node, PairControl pair, BoxView dataplane, FlowStats stats, EventLog events,
                        History history, Reloader reloader, Supplier<Map<String, HealthMonitor.Report>> health) {
    }

    /** How long {@code alive} waits for the packet loops: within the check's 1.5 s, with room for a loaded box. */
    static final Duration ALIVE_TIMEOUT = Duration.ofSeconds(1);

    private OperatorCommands() {
    }

    /** The pair as this box sees it; a box alone is active by definition and in sync with no one. */
    public static Supplier<PairView> view(String node, PairControl pair, BoxView dataplane) {
        long startedAt = System.currentTimeMillis();
        return pair != null ? pair::view : () -> standalone(node, startedAt, dataplane.syncStatus(), dataplane.flowCount());
    }

    public static ControlApi build(Parts p) {
        Supplier<PairView> view = view(p.node(), p.pair(), p.dataplane());
        return new ControlApi()
                .query("status", request -> view.get())
                .query("alive", request -> alive(p.dataplane()))
                .query("sync", request -> {
                    SyncStatus s = p.dataplane().syncStatus();
                    if (s == null) {
                        throw new IllegalArgumentException("no 'sync' section: this box replicates to no peer");
                    }
                    return s;
                })
                .query("flows", request -> FlowQuery.run(p.dataplane(), request, System.currentTimeMillis()))
                .query("services", request -> ServicesReport.services(p.dataplane().services(), p.stats().get(), p.health().get()))
                .query("backends", request -> ServicesReport.backends(p.dataplane().services(), p.stats().get(), p.health().get()))
                .query("events", request -> p.events().since(longArg(request, "after", 0, Long.MAX_VALUE),
                        (int) longArg(request, "limit", 100, 1, EventLog.CAPACITY)))
                .query("history", request -> p.history().since(longArg(request, "after", 0, Long.MAX_VALUE)))
                .mutation("failover", request -> requirePair(p.pair()).failover(request.force(), who("failover", request, p.node())))
                .mutation("takeover", request -> requirePair(p.pair()).takeover(request.force(), who("takeover", request, p.node())))
                .mutation("drain", request -> drain(p, request, true))
                .mutation("undrain", request -> drain(p, request, false))
                .mutation("reload", request -> {
                    String result = p.reloader().reload();
                    p.events().add("reload", result + " (" + who("reload", request, p.node()) + ")");
                    return Map.of("message", result);
                });
    }

    /**
     * keepalived's check (vrrp-scripts/tandemd-alive): answered by the control loop, after every
     * packet loop ran a task. A stuck one makes it a refusal, so the check fails and the peer takes over.
     */
    private static Object alive(BoxView box) throws InterruptedException {
        String broken = PeriodicTasks.broken();
        if (broken != null) {
            return ControlResponse.error("a task can no longer run: " + broken);
        }
        List<String> stuck = box.stuck(ALIVE_TIMEOUT);
        if (!stuck.isEmpty()) {
            return ControlResponse.error("stuck: " + String.join("; ", stuck));
        }
        return Map.of("alive", true);
    }

    private static Object drain(Parts p, ControlRequest request, boolean drain) {
        String backend = request.arg("backend", null);
        if (backend == null) {
            throw new IllegalArgumentException("which backend? give it as address:port");
        }
        List<String> changed = p.dataplane().drain(request.arg("service", null), backend, drain);
        p.events().add(drain ? "drain" : "undrain", String.join(", ", changed) + " (" + who(drain ? "drain" : "undrain", request, p.node()) + ")");
        return Map.of(drain ? "drained" : "undrained", changed);
    }

    /** A numeric argument within {@code 0..max}, or the fallback when absent. */
    private static long longArg(ControlRequest request, String name, long fallback, long max) {
        return longArg(request, name, fallback, 0, max);
    }

    /** A numeric argument within {@code min..max}, or the fallback when absent; anything else is the caller's mistake (a 400). */
    private static long longArg(ControlRequest request, String name, long fallback, long min, long max) {
        String v = request.arg(name, null);
        long value;
        try {
            value = v == null ? fallback : Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + ": '" + v + "' is not a number");
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + ": " + value + " is not within " + min + "-" + max);
        }
        return value;
    }

    private static PairControl requirePair(PairControl pair) {
        if (pair == null) {
            throw new IllegalArgumentException("no 'ha' section: this box runs alone, there is nothing to fail over to");
        }
        return pair;
    }

    private static String who(String command, ControlRequest request, String node) {
        return "tandemctl " + command + (request.force() ? " --force" : "") + " on " + node
                + (request.by() == null ? "" : " by " + request.by());
    }

    private static PairView standalone(String node, long startedAt, SyncStatus sync, long flows) {
        NodeStatus self = new NodeStatus(node, Role.ACTIVE, "none", 0, startedAt, false, flows, 0,
                sync == null ? null : sync.digestsEqual(), sync != null && sync.peerConnected(), PairPreference.NONE, ManualOverride.NONE,
                null, List.of(), 0);
        List<String> alone = List.of("no 'ha' section: this box runs alone");
        HandOverCheck.Verdict no = new HandOverCheck.Verdict(false, alone, false);
        return new PairView(self, null, -1, sync, alone, no, no);
    }
}
