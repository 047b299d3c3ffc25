package io.tandem.health;

import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.tandem.config.BackendConfig;
import io.tandem.config.HealthCheckConfig;
import io.tandem.config.ServiceConfig;
import io.tandem.events.EventLog;
import io.tandem.events.PeriodicTasks;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Checks every backend of every service that has a {@code health_check}, on its own event
 * loop (never the data plane's), and reports the set of backends that are down whenever it
 * changes; the data plane then rebuilds its schedule without them, off the packet path.
 *
 * <p>Both boxes check independently (each from its own address on the backend network): the
 * results are not replicated. The active's results steer its traffic; the standby's are
 * ready when it takes over. Both see the same backends from the same network, so they agree
 * but for the moments around a change.
 */
public final class HealthMonitor implements AutoCloseable {
    /** One backend of one service and how to check it. Keyed like drains: {@code service/address:port}. */
    record Target(String service, String address, int port, HealthCheckConfig check) {
        /** As {@code ServiceTable.drainKey}: {@code service/address:port}, an IPv6 address in brackets. */
        String key() {
            return service + "/" + (address.indexOf(':') >= 0 ? "[" + address + "]" : address) + ":" + port;
        }

        int checkPort() {
            return check.port() != null ? check.port() : port;
        }
    }

    /** What operators see of one backend's health. */
    public record Report(String state, String detail, long checks) {
    }

    private record Entry(Target target, BackendHealth health, ScheduledFuture<?> task) {
    }

    private final MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final HealthProbe probe = new HealthProbe(group);
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private final Consumer<Set<String>> onDownChanged;
    private final EventLog events;

    /** @param onDownChanged told the whole set of down backends after every change */
    public HealthMonitor(Consumer<Set<String>> onDownChanged, EventLog events) {
        this.onDownChanged = onDownChanged;
        this.events = events;
    }

    /**
     * Checks the backends of these services from now on: new ones start up, removed ones stop
     * being checked, unchanged ones (same check) keep their state across a reload.
     */
    public synchronized void configure(Iterable<ServiceConfig> services) {
        Map<String, Target> wanted = new HashMap<>();
        for (ServiceConfig s : services) {
            if (s.healthCheck() == null) {
                continue;
            }
            for (BackendConfig b : s.backends()) {
                Target t = new Target(s.name(), b.address().toString(), b.port(), s.healthCheck());
                wanted.put(t.key(), t);
            }
        }
        boolean changed = false;
        for (var it = entries.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().target().equals(wanted.get(e.getKey()))) {
                e.getValue().task().cancel(false);
                changed |= !e.getValue().health().up();
                it.remove();
            }
        }
        for (Target t : wanted.values()) {
            entries.computeIfAbsent(t.key(), k -> start(t));
        }
        if (changed) {
            onDownChanged.accept(down());
        }
    }

    private Entry start(Target t) {
        BackendHealth health = new BackendHealth(t.check().rise(), t.check().fall());
        long interval = t.check().interval().toMillis();
        ScheduledFuture<?> task = group.next().scheduleAtFixedRate(PeriodicTasks.guard("health-check", () -> probe.check(t.address(),
                        t.checkPort(), t.check())
                .thenAccept(r -> {
                    if (health.record(r.ok(), r.detail()) && entries.containsKey(t.key())) {
                        events.add("health", t.key() + " " + (health.up() ? "up" : "down") + ": " + r.detail()
                                + " (" + t.check().type().name().toLowerCase(Locale.ROOT) + " check)");
                        onDownChanged.accept(down());
                    }
                })), 0, interval, TimeUnit.MILLISECONDS);
        return new Entry(t, health, task);
    }

    /** The backends that are down now, as {@code service/address:port}. */
    public Set<String> down() {
        Set<String> down = new TreeSet<>();
        entries.forEach((k, e) -> {
            if (!e.health().up()) {
                down.add(k);
            }
        });
        return down;
    }

    /** Every checked backend's state; backends without a check are absent. */
    public Map<String, Report> reports() {
        Map<String, Report> out = new HashMap<>();
        entries.forEach((k, e) -> out.put(k, new Report(e.health().up() ? "up" : "down", e.health().lastDetail(), e.health().checks())));
        return out;
    }

    @Override
    public void close() {
        entries.values().forEach(e -> e.task().cancel(false));
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
