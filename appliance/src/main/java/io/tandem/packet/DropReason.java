package io.tandem.packet;

import java.util.Locale;

/**
 * Why the engine dropped a packet. Every drop is counted under one of these; the
 * {@code malformed} ones are input that no correct sender produces.
 */
public enum DropReason {
    TRUNCATED(true, "shorter than its headers claim"),
    NOT_IP(false, "IP version is neither 4 nor 6"),
    EXTENSION_HEADER_CHAIN(true, "IPv6 extension headers repeated, out of order or more than 8 (RFC 8200 §4.1)"),
    ROUTING_HEADER_TYPE_0(true, "IPv6 routing header type 0, deprecated for the attacks it allows (RFC 5095)"),
    ROUTING_HEADER_SEGMENTS_LEFT(false, "IPv6 routing header with segments left: this box is not the packet's last hop"),
    UDP_ZERO_CHECKSUM(true, "UDP over IPv6 without a checksum (RFC 8200 §8.1)"),
    BAD_HEADER_LENGTH(true, "IHL below 5 words or beyond the packet"),
    BAD_TOTAL_LENGTH(true, "total length beyond the packet or below the header"),
    IP_OPTIONS(true, "IPv4 options are not forwarded (as katran)"),
    BAD_L4_HEADER(true, "TCP data offset or UDP length inconsistent"),
    TTL_EXPIRED(false, "TTL <= 1"),
    MULTICAST(false, "a multicast destination: no service is multicast (the kernel's MLD reports on the TUN device end here)"),
    UNSUPPORTED_PROTOCOL(false, "not TCP, UDP or ICMP"),
    NO_SERVICE(false, "no service on this address, port and protocol"),
    TCP_NOT_SYN(false, "TCP segment of an unknown flow that is not a SYN"),
    NO_BACKEND(false, "the service has no usable backend"),
    BACKEND_DOWN(false, "segment of a flow being reset because its backend failed"),
    SNAT_PORTS_EXHAUSTED(false, "every SNAT port towards that backend is in use"),
    TABLE_FULL(false, "flow table at its cap"),
    EMBRYONIC_LIMIT(false, "half-open flows at their cap"),
    CLIENT_RATE_LIMIT(false, "the client opened more new flows than its service's client_limits allow"),
    CLIENT_FLOW_LIMIT(false, "the client holds as many flows as its service's client_limits.max_flows allow"),
    RST_OUT_OF_WINDOW(false, "TCP RST outside the receiver's window (RFC 5961 §3): a blind reset, ignored"),
    FIN_OUT_OF_WINDOW(false, "TCP FIN outside the receiver's window: ignored"),
    TUPLE_IN_USE(false, "the reply tuple already belongs to another flow"),
    FRAGMENT_WITHOUT_FIRST(false, "non-first fragment of a datagram whose first fragment was not seen (and could not be held)"),
    FRAGMENT_HOLD_FULL(false, "a fragment ahead of its first found the hold buffer full (conntrack.fragment_hold_packets)"),
    FRAGMENT_HOLD_EXPIRED(false, "a held fragment's first fragment did not come within conntrack.fragment_hold_time"),
    FRAGMENT_OVERLAP(true, "a later fragment overlaps the first, whose transport header it could rewrite (RFC 1858, RFC 3128)"),
    TINY_FRAGMENT(true, "a first fragment too short for its whole transport header (RFC 1858 tiny fragment)"),
    ICMP_UNSUPPORTED(false, "ICMP type not handled"),
    ICMP_UNRELATED(false, "ICMP error about no tracked flow");

    private final boolean malformed;
    private final String description;

    DropReason(boolean malformed, String description) {
        this.malformed = malformed;
        this.description = description;
    }

    public boolean malformed() {
        return malformed;
    }

    public String description() {
        return description;
    }

    /** Lower-case name for metrics labels and JSON ({@code snat_ports_exhausted}). */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
