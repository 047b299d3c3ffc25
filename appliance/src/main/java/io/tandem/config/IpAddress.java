package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;

/**
 * An address of either family in the config: a dotted quad, or IPv6 text (RFC 4291 §2.2),
 * printed the RFC 5952 way. For IPv4 {@link #ipv4()} is the address and the halves are 0.
 */
public record IpAddress(boolean ipv6, int ipv4, long high, long low) {
    @JsonCreator
    public static IpAddress of(String text) {
        if (text != null && text.indexOf(':') >= 0) {
            long[] halves = Ipv6.parse(text);
            return new IpAddress(true, 0, halves[0], halves[1]);
        }
        return new IpAddress(false, Ipv4.parse(text), 0, 0);
    }

    public static IpAddress v4(int address) {
        return new IpAddress(false, address, 0, 0);
    }

    public static IpAddress v6(long high, long low) {
        return new IpAddress(true, 0, high, low);
    }

    /** "IPv4" or "IPv6", for messages. */
    public String family() {
        return ipv6 ? "IPv6" : "IPv4";
    }

    /**
     * Why this address cannot be a unicast service address (a VIP, SNAT address or backend), or
     * null: multicast, unspecified, loopback, link-local (it has no meaning off its link, and a
     * service's addresses are routed), an IPv4-mapped IPv6 address (use the IPv4 address).
     */
    public String notUnicast() {
        if (ipv6) {
            Ipv6.Address a = new Ipv6.Address(high, low);
            if (a.multicast()) {
                return "a multicast address (ff00::/8)";
            }
            if (a.unspecified()) {
                return "the unspecified address";
            }
            if (a.loopback()) {
                return "the loopback address";
            }
            if (a.linkLocal()) {
                return "a link-local address (fe80::/10)";
            }
            if (a.ipv4Mapped()) {
                return "an IPv4-mapped address: write the IPv4 address itself";
            }
            return null;
        }
        int first = ipv4 >>> 24;
        if (first >= 224 && first <= 239) {
            return "a multicast address (224.0.0.0/4)";
        }
        if (ipv4 == 0) {
            return "the unspecified address";
        }
        if (first == 127) {
            return "a loopback address";
        }
        if (first == 169 && ((ipv4 >>> 16) & 0xFF) == 254) {
            return "a link-local address (169.254.0.0/16)";
        }
        if (ipv4 == -1) {
            return "the broadcast address";
        }
        return null;
    }

    /** The address with a port: {@code 198.18.0.1:80} or {@code [2001:2::1]:80} (RFC 5952 §6). */
    public String withPort(int port) {
        return ipv6 ? Ipv6.formatWithPort(high, low, port) : this + ":" + port;
    }

    @JsonValue
    @Override
    public String toString() {
        return ipv6 ? Ipv6.format(high, low) : Ipv4.format(ipv4);
    }
}
