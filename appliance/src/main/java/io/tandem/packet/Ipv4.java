package io.tandem.packet;

/** IPv4 constants, and addresses as {@code int}s (network byte order, as read from a packet). */
public final class Ipv4 {
    public static final int PROTO_ICMP = 1;
    public static final int PROTO_TCP = 6;
    public static final int PROTO_UDP = 17;

    public static final int HEADER_LENGTH = 20;
    public static final int FLAG_MORE_FRAGMENTS = 0x2000;
    public static final int FRAGMENT_OFFSET_MASK = 0x1FFF;

    private Ipv4() {
    }

    /**
     * Parses a dotted quad strictly ({@code "198.18.0.1"}); never resolves names, unlike
     * {@code InetAddress.getByName}.
     *
     * @throws IllegalArgumentException if the text is not four decimal octets
     */
    public static int parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("no address");
        }
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv4 address (a.b.c.d)");
        }
        int address = 0;
        for (String part : parts) {
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("'" + text + "' is not an IPv4 address (a.b.c.d)");
            }
            int octet = Integer.parseInt(part);
            if (octet > 255) {
                throw new IllegalArgumentException("'" + text + "' is not an IPv4 address: " + octet + " > 255");
            }
            address = address << 8 | octet;
        }
        return address;
    }

    public static String format(int address) {
        return (address >>> 24) + "." + (address >>> 16 & 0xFF) + "." + (address >>> 8 & 0xFF) + "." + (address & 0xFF);
    }

    public static String protocolName(int protocol) {
        return switch (protocol) {
            case PROTO_TCP -> "tcp";
            case PROTO_UDP -> "udp";
            case PROTO_ICMP -> "icmp";
            default -> Integer.toString(protocol);
        };
    }
}
