package io.tandem.control;

import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.IpAddress;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.packet.FlowProtocol;

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
                flows.add(new Flow(FlowProtocol.name(f.protocol()), FlowSnapshot.endpoint(f.client(), f.clientPort()),
                        FlowSnapshot.endpoint(f.vip(), f.vipPort()), s == null ? null : s.name(),
                        FlowSnapshot.endpoint(f.snat(), f.snatPort()), FlowSnapshot.endpoint(f.backend(), f.backendPort()),
                        f.state().name(), Math.max(0, nowMillis - f.lastSeenMillis()), f.remote()));
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
            Predicate<FlowSnapshot> match = endpointMatcher("client", client, FlowSnapshot.CLIENT);
            p = p.and(match);
        }
        String backend = request.arg("backend", null);
        if (backend != null) {
            Predicate<FlowSnapshot> match = endpointMatcher("backend", backend, FlowSnapshot.BACKEND);
            p = p.and(match);
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

    /**
     * "address" or "address:port" — IPv6 as "2001:2::1" or "[2001:2::1]:80" (RFC 5952 §6) — →
     * a matcher of one of a flow's endpoints ({@link FlowSnapshot#CLIENT} or {@link FlowSnapshot#BACKEND}).
     */
    private static Predicate<FlowSnapshot> endpointMatcher(String field, String text, int which) {
        String address;
        String port = null;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0 || (close + 1 < text.length() && text.charAt(close + 1) != ':')) {
                throw new IllegalArgumentException(field + ": '" + text + "' is not [IPv6 address]:port");
            }
            address = text.substring(1, close);
            port = close + 1 < text.length() ? text.substring(close + 2) : null;
        } else if (text.indexOf(':') != text.lastIndexOf(':')) {
            address = text; // IPv6 without a port
        } else {
            String[] parts = text.split(":", 2);
            address = parts[0];
            port = parts.length == 2 ? parts[1] : null;
        }
        IpAddress ip;
        try {
            ip = IpAddress.of(address);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": '" + text + "' is not an address or address:port (" + e.getMessage() + ")");
        }
        int wantedPort = port == null ? -1 : parsePort(field, text, port);
        return f -> {
            if (FlowProtocol.isIpv6(f.protocol()) != ip.ipv6()) {
                return false;
            }
            boolean same = ip.ipv6()
                    ? f.address6High(which) == ip.high() && f.address6Low(which) == ip.low()
                    : (which == FlowSnapshot.CLIENT ? f.clientAddress() : f.backendAddress()) == ip.ipv4();
            int flowPort = which == FlowSnapshot.CLIENT ? f.clientPort() : f.backendPort();
            return same && (wantedPort < 0 || flowPort == wantedPort);
        };
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

}
