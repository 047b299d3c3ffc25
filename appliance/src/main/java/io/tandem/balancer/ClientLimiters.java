package io.tandem.balancer;

import io.tandem.config.ClientLimitsConfig;
import io.tandem.config.ServiceConfig;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The services' client limiters, kept across the rebuilds of the service table (a drain, a
 * health verdict, a reload with the same limits), so rebuilding never refills a client's
 * bucket; one per service name, replaced when its limits change.
 */
public final class ClientLimiters {
    private final Map<String, ClientLimiter> limiters = new ConcurrentHashMap<>();

    /** The limiter of this service, or null when it has no client limits. */
    ClientLimiter forService(ServiceConfig service) {
        ClientLimitsConfig limits = service.clientLimits();
        if (limits == null) {
            limiters.remove(service.name());
            return null;
        }
        return limiters.compute(service.name(), (name, held) -> held != null && held.limits().equals(limits) ? held : new ClientLimiter(limits));
    }
}
