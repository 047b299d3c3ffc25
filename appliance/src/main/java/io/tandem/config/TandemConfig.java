package io.tandem.config;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The whole configuration of one tandemd. Build it with {@link ConfigLoader}, which validates. */
public record TandemConfig(NodeConfig node, DataplaneConfig dataplane, ConntrackConfig conntrack, SyncConfig sync,
                           HaConfig ha, ControlConfig control, List<ServiceConfig> services) {
    public TandemConfig {
        node = node == null ? new NodeConfig(null) : node;
        dataplane = dataplane == null ? new DataplaneConfig(null, null, null, null, null, null, null, null, null, null, null, null, null) : dataplane;
        conntrack = conntrack == null ? new ConntrackConfig(null, null, null, null, null, null, null) : conntrack;
        control = control == null ? new ControlConfig(null, null) : control;
        services = services == null ? List.of() : List.copyOf(services);
    }

    /** Every problem found, each as "field.path: what is wrong"; empty if the config is sound. */
    public List<String> validate() {
        List<String> errors = new ArrayList<>();
        node.validate("node", errors);
        dataplane.validate("dataplane", errors);
        if (sync != null) {
            sync.validate("sync", errors);
        }
        if (ha != null) {
            ha.validate("ha", errors, dataplane.routeTable());
        }
        conntrack.validate("conntrack", errors);
        control.validate("control", errors);
        Map<String, Integer> names = new HashMap<>();
        Map<String, Integer> endpoints = new HashMap<>();
        for (int i = 0; i < services.size(); i++) {
            ServiceConfig service = services.get(i);
            String path = "services[" + i + "]";
            if (service == null) {
                errors.add(path + ": empty service");
                continue;
            }
            service.validate(path, errors);
            if (service.name() != null) {
                Integer first = names.putIfAbsent(service.name(), i);
                if (first != null) {
                    errors.add(path + ".name: '" + service.name() + "' is already the name of services[" + first + "]");
                }
            }
            if (service.vip() != null && service.port() != null) {
                String endpoint = service.vip().withPort(service.port()) + "/" + service.protocol().name().toLowerCase(Locale.ROOT);
                Integer first = endpoints.putIfAbsent(endpoint, i);
                if (first != null) {
                    errors.add(path + ": " + endpoint + " is already served by services[" + first + "]");
                }
            }
        }
        for (int i = 0; i < services.size(); i++) {
            ServiceConfig service = services.get(i);
            if (service != null && service.snatAddress() != null
                    && services.stream().anyMatch(other -> other != null && service.snatAddress().equals(other.vip()))) {
                errors.add("services[" + i + "].snat_address: " + service.snatAddress()
                        + " is a VIP; the SNAT address must be its own address on the back network");
            }
        }
        return errors;
    }
}
