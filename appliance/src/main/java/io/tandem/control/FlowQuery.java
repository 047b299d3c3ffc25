package io.tandem.control;

import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.packet.Ipv4;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * A page of the flow table, filtered: never the whole table in one answer. Filters (all
 * optional): {@code service} (name), {@code client} and {@code backend} (address, or
 * address:port), {@code state} (e.g. TCP_ESTABLISHED); {@code limit} (default 100, at most
 * 1000) and {@code cursor} (from the previous page's {@code next_cursor}).
 */
public final class FlowQuery {
    public static final int DEFAULT_LIMIT = 100;
    public static final int MAX_LIMIT = 1000;

    /** One flow as operators read it. */
    public record Flow(String protocol, String client, String vip, String service, String snat, String backend, String state,
                       long idleMillis, boolean replicated) {
    }

    /** A page: the flows, and where the next page starts (null: this was the last). */
    /** Flows one request examines at most: a page ends there, with a cursor, even if it is not full. */
    static final int SCAN_BUDGET = 65_536;

    public record Page(List<Flow> flows, Integer nextCursor) {
    }

    private FlowQuery() {
    }

    public static Page run(BoxView dataplane, ControlRequest request, long nowMillis) {
        return run(dataplane, request, nowMillis, SCAN_BUDGET);
    }

    static Page run(BoxView dataplane, ControlRequest request, long nowMillis, int scanBudget) {
        int limit = intArg(request, "limit", DEFAULT_LIMIT);
        if (limit < 1 || limit > MAX_LIMIT) {
            throw new IllegalArgumentException("limit: " + limit + " is not within 1-" + MAX_LIMIT);
        }
        int cursor = intArg(request, "cursor", 0);
        if (cursor < 0) {
            throw new IllegalArgumentException("cursor: " + cursor + " is not a cursor from a previous page");
        }
        ServiceTable services = dataplane.services();
        Predicate<FlowSnapshot> filter = filter(request, services);
        List<Flow> flows = new ArrayList<>();
        int[] examined = {0};
        // Bounded work per request: a filter that matches nothing ends its page after SCAN_BUDGET
        // flows with a cursor to go on from, instead of walking the whole table every time.
        int next = dataplane.forEachFlowFrom(cursor, f -> {
            examined[0]++;
            if (filter.test(f)) {
                Service s = services.find(f.vipAddress(), f.vipPort(), f.protocol());
                flows.add(new Flow(Ipv4.protocolName(f.protocol()), endpoint(f.clientAddress(), f.clientPort()),
                        endpoint(f.vipAddress(), f.vipPort()), s == null ? null : s.name(), endpoint(f.snatAddress(), f.snatPort()),
                        endpoint(f.backendAddress(), f.backendPort()), f.state().name(), Math.max(0, nowMillis - f.lastSeenMillis()),
                        f.remote()));
            }
            return flows.size() < limit && examined[0] < scanBudget;
        });
        return new Page(flows, next < 0 ? null : next);
    }

    private static Predicate<FlowSnapshot> filter(ControlRequest request, ServiceTable services) {
        Predicate<FlowSnapshot> p = f -> true;
        String service = request.arg("service", null);
        if (service != null) {
            if (services.services().stream().noneMatch(s -> s.name().equals(service))) {
                throw new IllegalArgumentException("service: no service named '" + service + "'");
            }
            p = p.and(f -> {
                Service s = services.find(f.vipAddress(), f.vipPort(), f.protocol());
                return s != null && s.name().equals(service);
            });
        }
        String client = request.arg("client", null);
        if (client != null) {
            Predicate<int[]> match = endpointMatcher("client", client);
            p = p.and(f -> match.test(new int[] {f.clientAddress(), f.clientPort()}));
        }
        String backend = request.arg("backend", null);
        if (backend != null) {
            Predicate<int[]> match = endpointMatcher("backend", backend);
            p = p.and(f -> match.test(new int[] {f.backendAddress(), f.backendPort()}));
        }
        String state = request.arg("state", null);
        if (state != null) {
            FlowState wanted;
            try {
                wanted = FlowState.valueOf(state.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("state: '" + state + "' is not a flow state (e.g. TCP_ESTABLISHED, UDP_ASSURED)");
            }
            p = p.and(f -> f.state() == wanted);
        }
        return p;
    }

    /** "address" or "address:port" → a matcher of {address, port}. */
    private static Predicate<int[]> endpointMatcher(String field, String text) {
        String[] parts = text.split(":", 2);
        int address;
        try {
            address = Ipv4.parse(parts[0]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": '" + text + "' is not an IPv4 address or address:port");
        }
        if (parts.length == 1) {
            return e -> e[0] == address;
        }
        int port = parsePort(field, text, parts[1]);
        return e -> e[0] == address && e[1] == port;
    }

    private static int parsePort(String field, String text, String port) {
        try {
            int p = Integer.parseInt(port);
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException ignored) {
            // said below
        }
        throw new IllegalArgumentException(field + ": '" + text + "' has no valid port");
    }

    private static int intArg(ControlRequest request, String name, int fallback) {
        String v = request.arg(name, null);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + ": '" + v + "' is not a number");
        }
    }

    private static String endpoint(int address, int port) {
        return Ipv4.format(address) + ":" + port;
    }
}
