package io.tandem.packet;

/**
 * A flow's protocol as the tables key it: the transport protocol (TCP 6, UDP 17), plus
 * {@link #IPV6} for an IPv6 flow (TCP over IPv6 is 0x86). One flow table, one service table
 * and one set of SNAT port pools then hold both families, and an IPv6 flow — whose four
 * {@code int} addresses are ids in the table's IPv6 address arena — never matches an IPv4 one.
 * Only TCP and UDP are tracked, so the bit is free.
 */
public final class FlowProtocol {
    public static final int IPV6 = 0x80;

    private FlowProtocol() {
    }

    public static int of(int transport, boolean ipv6) {
        return ipv6 ? transport | IPV6 : transport;
    }

    public static int transport(int flowProtocol) {
        return flowProtocol & ~IPV6;
    }

    public static boolean isIpv6(int flowProtocol) {
        return (flowProtocol & IPV6) != 0;
    }

    /** "tcp", "udp", "tcp6", "udp6". */
    public static String name(int flowProtocol) {
        return Ipv4.protocolName(transport(flowProtocol)) + (isIpv6(flowProtocol) ? "6" : "");
    }
}
