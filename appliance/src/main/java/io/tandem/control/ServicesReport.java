package io.tandem.control;

import io.tandem.balancer.Backend;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.health.HealthMonitor;
import io.tandem.packet.FlowProtocol;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The services and their backends as operators read them: addresses, weights, drains and flows. */
public final class ServicesReport {
    /** One backend of one service. {@code health}: up, down or unchecked (no health_check); {@code check}: the last result. */
    public record BackendRow(String service, String address, int weight, boolean drained, long flows, String health,
                             String check) {
    }

    public record ServiceRow(String name, String vip, String protocol, String snat, String scheduler, long flows,
                             List<BackendRow> backends) {
    }

    private ServicesReport() {
    }

    public static List<ServiceRow> services(ServiceTable table, FlowStats.Counts counts, Map<String, HealthMonitor.Report> health) {
        List<ServiceRow> rows = new ArrayList<>();
        for (Service s : table.services()) {
            List<BackendRow> backends = new ArrayList<>();
            for (Backend b : s.backends()) {
                HealthMonitor.Report h = health.get(ServiceTable.drainKey(s.name(), b));
                backends.add(new BackendRow(s.name(), b.key(), b.weight(), table.isDrained(s.name(), b),
                        counts.perBackend().getOrDefault(s.name() + "/" + b.key(), 0L), h == null ? "unchecked" : h.state(),
                        h == null ? null : h.detail()));
            }
            rows.add(new ServiceRow(s.name(), s.vipIp().withPort(s.port()), FlowProtocol.name(s.protocol()),
                    s.snatIp().toString(), s.selector().getClass().getSimpleName(),
                    counts.perService().getOrDefault(s.name(), 0L), backends));
        }
        return rows;
    }

    public static List<BackendRow> backends(ServiceTable table, FlowStats.Counts counts, Map<String, HealthMonitor.Report> health) {
        return services(table, counts, health).stream().flatMap(s -> s.backends().stream()).toList();
    }
}
