package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.time.Duration;
import java.util.List;

/**
 * BGP mode ({@code ha.mode: bgp}): each box announces the VIPs and SNAT addresses as /32
 * routes to its upstream routers through BIRD 2 ({@code tandemctl bird-config} renders its
 * configuration); the standby's path is longer by {@code standby_prepend} copies of
 * {@code local_as}, so the routers prefer the active and fall back to the standby when the
 * active's routes are withdrawn. tandemd tells BIRD what to announce through the routes it
 * keeps in {@code announce_table} (see {@code io.tandem.ha.RouteAnnouncer}).
 *
 * <p>A session carries the routes of its own family: an IPv4 neighbour the IPv4 VIPs and SNAT
 * addresses (/32), an IPv6 neighbour the IPv6 ones (/128), as separate sessions per family are
 * usually run.
 *
 * @param routerId BIRD's router id, a 32-bit number written as an IPv4 address (default: the
 *                 first IPv4 neighbour's local address; required if every neighbour is IPv6)
 * @param holdTime the BGP hold time: how long a silent session lives (RFC 4271 §4.2; at least 3 s)
 */
public record BgpConfig(Long localAs, Ipv4Address routerId, Integer standbyPrepend, Integer announceTable,
                        Duration holdTime, BfdConfig bfd, List<Neighbor> neighbors) {
    public BgpConfig {
        standbyPrepend = standbyPrepend == null ? 3 : standbyPrepend;
        announceTable = announceTable == null ? 101 : announceTable;
        holdTime = holdTime == null ? Duration.ofSeconds(3) : holdTime;
        bfd = bfd == null ? new BfdConfig(null, null, null) : bfd;
        neighbors = neighbors == null ? List.of() : List.copyOf(neighbors);
    }

    /** What a session carries: the VIPs (towards the clients), the SNAT addresses (towards the backends) or both. */
    public enum Announce {
        @JsonProperty("vips") VIPS,
        @JsonProperty("snat") SNAT,
        @JsonProperty("all") ALL
    }

    /**
     * One BGP session to an upstream router.
     *
     * @param password the session's TCP-MD5 key (RFC 2385, BIRD's {@code password}; the router must
     *                 have the same): 1-80 printable ASCII characters, no quote or backslash; none: the
     *                 session is not authenticated
     */
    public record Neighbor(IpAddress address, @JsonProperty("as") Long as, IpAddress localAddress, Announce announce,
                           String password) {
        public Neighbor {
            announce = announce == null ? Announce.ALL : announce;
        }
    }

    /** Bidirectional Forwarding Detection on every session (RFC 5880): a dead box is noticed in interval × multiplier. */
    public record BfdConfig(Boolean enabled, Duration interval, Integer multiplier) {
        public BfdConfig {
            enabled = enabled == null ? Boolean.FALSE : enabled;
            interval = interval == null ? Duration.ofMillis(100) : interval;
            multiplier = multiplier == null ? 3 : multiplier;
        }
    }

    public Ipv4Address effectiveRouterId() {
        if (routerId != null) {
            return routerId;
        }
        return neighbors.stream().map(Neighbor::localAddress).filter(a -> a != null && !a.ipv6()).findFirst()
                .map(a -> new Ipv4Address(a.ipv4())).orElse(null);
    }

    void validate(String path, List<String> errors, int routeTable) {
        asNumber(localAs, path + ".local_as", errors);
        if (standbyPrepend < 1 || standbyPrepend > 10) {
            errors.add(path + ".standby_prepend: " + standbyPrepend + " is not within 1-10");
        }
        if (announceTable < 1 || announceTable == 253 || announceTable == 254 || announceTable == 255 || announceTable == routeTable) {
            errors.add(path + ".announce_table: " + announceTable + " is not a free table id (not 253-255, not dataplane.route_table)");
        }
        if (holdTime.toSeconds() < 3 || holdTime.toSeconds() > 65535 || holdTime.toMillis() % 1000 != 0) {
            errors.add(path + ".hold_time: " + holdTime.toMillis() + " ms is not a BGP hold time (whole seconds, 3-65535; RFC 4271 §4.2)");
        }
        if (bfd.enabled() && (bfd.interval().toMillis() < 10 || bfd.multiplier() < 1 || bfd.multiplier() > 255)) {
            errors.add(path + ".bfd: interval " + bfd.interval().toMillis() + " ms and multiplier " + bfd.multiplier()
                    + " are not usable (at least 10 ms; 1-255)");
        }
        if (neighbors.isEmpty()) {
            errors.add(path + ".neighbors: at least one upstream router is required");
        } else if (effectiveRouterId() == null) {
            errors.add(path + ".router_id: required when no neighbour is IPv4 (a BGP identifier is 32 bits, RFC 6286)");
        }
        for (int i = 0; i < neighbors.size(); i++) {
            Neighbor n = neighbors.get(i);
            String at = path + ".neighbors[" + i + "]";
            ConfigChecks.required(n.address(), at + ".address", errors);
            ConfigChecks.required(n.localAddress(), at + ".local_address", errors);
            if (n.address() != null && n.localAddress() != null && n.address().ipv6() != n.localAddress().ipv6()) {
                errors.add(at + ".local_address: " + n.localAddress() + " is " + n.localAddress().family() + " and the neighbour "
                        + n.address() + " is " + n.address().family() + "; a session is one family");
            }
            asNumber(n.as(), at + ".as", errors);
            if (n.password() != null && !n.password().matches("[\\x21-\\x7e&&[^\"\\\\]]{1,80}")) {
                errors.add(at + ".password: 1-80 printable ASCII characters without spaces, quotes or backslashes"
                        + " (a TCP-MD5 key, RFC 2385)");
            }
        }
    }

    private static void asNumber(Long as, String path, List<String> errors) {
        if (as == null) {
            errors.add(path + ": required");
        } else if (as < 1 || as > 4_294_967_294L || as == 23456) {
            errors.add(path + ": " + as + " is not an AS number (1-4294967294, not 23456; RFC 6793)");
        }
    }
}
