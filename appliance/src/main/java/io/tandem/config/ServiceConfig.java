package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A virtual service: traffic to {@code vip:port/protocol} is spread over the backends.
 * {@code health_check} (optional) takes failed backends out of the schedule;
 * {@code on_backend_down} says what happens to their tracked flows: {@code keep} (default:
 * they run on, and finish if the backend answers again) or {@code reset} (TCP: the client's
 * next segment is answered with a RST, so it reconnects to a healthy backend at once).
 *
 * <p>A service is one family: its VIP, SNAT address and backends are all IPv4 or all IPv6
 * (NAT46/NAT64 would be a service of its own kind, not a mix of these fields).
 */
public record ServiceConfig(String name, IpAddress vip, Integer port, Protocol protocol,
                            IpAddress snatAddress, Scheduler scheduler, HashKey hashKey,
                            List<BackendConfig> backends, HealthCheckConfig healthCheck, OnBackendDown onBackendDown,
                            ClientLimitsConfig clientLimits) {
    /** What happens to the tracked flows of a backend that fails its health check. */
    public enum OnBackendDown {
        @JsonProperty("keep") KEEP,
        @JsonProperty("reset") RESET
    }

    public ServiceConfig {
        protocol = protocol == null ? Protocol.TCP : protocol;
        scheduler = scheduler == null ? Scheduler.MAGLEV : scheduler;
        hashKey = hashKey == null ? HashKey.FIVE_TUPLE : hashKey;
        backends = backends == null ? List.of() : List.copyOf(backends);
        onBackendDown = onBackendDown == null ? OnBackendDown.KEEP : onBackendDown;
    }

    void validate(String path, List<String> errors) {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")) {
            errors.add(path + ".name: " + (name == null ? "required" : "'" + name + "' is not a name (letters, digits, '_', '.', '-'; up to 63)"));
        }
        ConfigChecks.required(vip, path + ".vip", errors);
        ConfigChecks.port(port, path + ".port", errors);
        ConfigChecks.required(snatAddress, path + ".snat_address", errors);
        ConfigChecks.unicast(vip, path + ".vip", errors);
        ConfigChecks.unicast(snatAddress, path + ".snat_address", errors);
        if (vip != null && snatAddress != null && vip.ipv6() != snatAddress.ipv6()) {
            errors.add(path + ".snat_address: " + snatAddress + " is " + snatAddress.family() + " and the vip " + vip
                    + " is " + vip.family() + "; a service is one family");
        }
        if (backends.isEmpty()) {
            errors.add(path + ".backends: a service needs at least one backend");
        }
        if (hashKey == HashKey.CLIENT_ADDRESS && scheduler != Scheduler.MAGLEV) {
            errors.add(path + ".hash_key: client-address affinity needs scheduler: maglev");
        }
        if (healthCheck != null) {
            healthCheck.validate(path + ".health_check", errors);
        }
        if (clientLimits != null) {
            clientLimits.validate(path + ".client_limits", errors);
        }
        if (onBackendDown == OnBackendDown.RESET && protocol != Protocol.TCP) {
            errors.add(path + ".on_backend_down: reset needs protocol tcp (UDP has no reset)");
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < backends.size(); i++) {
            BackendConfig backend = backends.get(i);
            String backendPath = path + ".backends[" + i + "]";
            if (backend == null) {
                errors.add(backendPath + ": empty backend");
                continue;
            }
            backend.validate(backendPath, errors);
            if (vip != null && backend.address() != null && vip.ipv6() != backend.address().ipv6()) {
                errors.add(backendPath + ".address: " + backend.address() + " is " + backend.address().family()
                        + " and the vip " + vip + " is " + vip.family() + "; a service is one family");
            }
            if (backend.address() != null && backend.port() != null && !seen.add(backend.key())) {
                errors.add(backendPath + ": " + backend.key() + " is listed twice");
            }
        }
    }
}
