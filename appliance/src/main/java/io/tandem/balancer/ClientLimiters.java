package io.tandem.balancer;

import io.tandem.config.ClientLimitsConfig;
import io.tandem.config.ServiceConfig;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The services' client limiters, kept across the rebuilds of the service table (a drain, a
 * health verdict, a reload with the same limits), so rebuilding never refills a client's bucket.
 */
public final class ClientLimiters {
    private record Key(String service, ClientLimitsConfig limits) {
    }

    private final Map<Key, ClientLimiter> limiters = new ConcurrentHashMap<>();

    /** The limiter of this service, or null when it has no client limits. */
    ClientLimiter forService(ServiceConfig service) {
        if (service.clientLimits() == null) {
            return null;
        }
        return limiters.computeIfAbsent(new Key(service.name(), service.clientLimits()), k -> new ClientLimiter(k.limits()));
    }
}
