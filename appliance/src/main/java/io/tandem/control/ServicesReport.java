package io.tandem.control;

import io.tandem.balancer.Backend;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.packet.Ipv4;

import java.util.ArrayList;
import java.util.List;

/** The services and their backends as operators read them: addresses, weights, drains and flows. */
public final class ServicesReport {
    /** One backend of one service. {@code health} is "unchecked" until health checks exist (issue 8). */
    public record BackendRow(String service, String address, int weight, boolean drained, long flows, String health) {
    }

    public record ServiceRow(String name, String vip, String protocol, String snat, String scheduler, long flows,
                             List<BackendRow> backends) {
    }

    private ServicesReport() {
    }

    public static List<ServiceRow> services(ServiceTable table, FlowStats.Counts counts) {
        List<ServiceRow> rows = new ArrayList<>();
        for (Service s : table.services()) {
            List<BackendRow> backends = new ArrayList<>();
            for (Backend b : s.backends()) {
                backends.add(new BackendRow(s.name(), b.key(), b.weight(), table.isDrained(s.name(), b),
                        counts.perBackend().getOrDefault(s.name() + "/" + b.key(), 0L), "unchecked"));
            }
            rows.add(new ServiceRow(s.name(), Ipv4.format(s.vip()) + ":" + s.port(), Ipv4.protocolName(s.protocol()),
                    Ipv4.format(s.snatAddress()), s.selector().getClass().getSimpleName(),
                    counts.perService().getOrDefault(s.name(), 0L), backends));
        }
        return rows;
    }

    public static List<BackendRow> backends(ServiceTable table, FlowStats.Counts counts) {
        return services(table, counts).stream().flatMap(s -> s.backends().stream()).toList();
    }
}
