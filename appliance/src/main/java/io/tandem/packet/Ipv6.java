package io.tandem.packet;

/**
 * IPv6 constants (RFC 8200), and addresses as two {@code long}s — the high and the low 64
 * bits, network byte order, as read from a packet — so the hot path handles them without an
 * object. {@link #parse} and {@link #format} are the text forms: any RFC 4291 §2.2 text in,
 * the RFC 5952 canonical text out.
 */
public final class Ipv6 {
    public static final int HEADER_LENGTH = 40;
    public static final int PROTO_ICMPV6 = 58;

    // Next Header values of the extension headers a packet may carry (RFC 8200 §4, IANA).
    public static final int HOP_BY_HOP = 0;
    public static final int ROUTING = 43;
    public static final int FRAGMENT = 44;
    public static final int ESP = 50;
    public static final int AUTHENTICATION = 51;
    public static final int NO_NEXT_HEADER = 59;
    public static final int DESTINATION_OPTIONS = 60;
    public static final int MOBILITY = 135;
    public static final int HIP = 139;
    public static final int SHIM6 = 140;

    /**
     * The most extension headers walked before the transport header. RFC 8200 §4.1 expects
     * each at most once (destination options twice), seven in all; more is an attack on
     * whoever walks the chain, and is dropped.
     */
    public static final int MAX_EXTENSION_HEADERS = 8;

    public static final int ICMPV6_DEST_UNREACHABLE = 1;
    public static final int ICMPV6_PACKET_TOO_BIG = 2;
    public static final int ICMPV6_TIME_EXCEEDED = 3;
    public static final int ICMPV6_PARAMETER_PROBLEM = 4;
    public static final int ICMPV6_ECHO_REQUEST = 128;
    public static final int ICMPV6_ECHO_REPLY = 129;

    /** One address as a value, for config and listings (the hot path keeps the two longs). */
    public record Address(long high, long low) {
        public static Address parse(String text) {
            long[] halves = Ipv6.parse(text);
            return new Address(halves[0], halves[1]);
        }

        /** fe80::/10 (RFC 4291 §2.5.6). */
        public boolean linkLocal() {
            return (high >>> 54) == 0x3FA;
        }

        /** ff00::/8 (RFC 4291 §2.7). */
        public boolean multicast() {
            return (high >>> 56) == 0xFF;
        }

        /** :: */
        public boolean unspecified() {
            return high == 0 && low == 0;
        }

        /** ::1 */
        public boolean loopback() {
            return high == 0 && low == 1;
        }

        /** ::ffff:0:0/96, an IPv4 address in IPv6 clothing (RFC 4291 §2.5.5.2). */
        public boolean ipv4Mapped() {
            return high == 0 && (low >>> 32) == 0xFFFF;
        }

        @Override
        public String toString() {
            return format(high, low);
        }
    }

    private Ipv6() {
    }

    /** Whether this Next Header value names an extension header the parser walks (ESP ends the walk: it is encrypted). */
    public static boolean isExtensionHeader(int nextHeader) {
        return switch (nextHeader) {
            case HOP_BY_HOP, ROUTING, FRAGMENT, AUTHENTICATION, DESTINATION_OPTIONS, MOBILITY, HIP, SHIM6 -> true;
            default -> false;
        };
    }

    /**
     * Parses an IPv6 address in any RFC 4291 §2.2 form — eight groups, "::" for a run of
     * zero groups, a dotted quad in the last 32 bits — into its high and low 64 bits. Never
     * resolves names; a zone ("%eth0") or brackets are refused: the caller strips "[...]:port".
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static long[] parse(String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("no address");
        }
        if (text.indexOf('%') >= 0) {
            throw new IllegalArgumentException("'" + text + "': a zone (%...) has no place in a service address");
        }
        int doubleColon = text.indexOf("::");
        if (doubleColon >= 0 && text.indexOf("::", doubleColon + 1) >= 0) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv6 address: '::' more than once");
        }
        int[] groups = new int[8];
        if (doubleColon < 0) {
            int count = groups(text, text, groups, true);
            if (count != 8) {
                throw new IllegalArgumentException("'" + text + "' is not an IPv6 address: " + count + " groups, not 8");
            }
        } else {
            int[] tail = new int[8];
            int head = doubleColon == 0 ? 0 : groups(text, text.substring(0, doubleColon), groups, false);
            String rest = text.substring(doubleColon + 2);
            int tailCount = rest.isEmpty() ? 0 : groups(text, rest, tail, true);
            if (head + tailCount > 7) {
                throw new IllegalArgumentException("'" + text + "' is not an IPv6 address: too many groups around '::'");
            }
            System.arraycopy(tail, 0, groups, 8 - tailCount, tailCount);
        }
        long high = 0;
        long low = 0;
        for (int i = 0; i < 4; i++) {
            high = high << 16 | groups[i];
            low = low << 16 | groups[i + 4];
        }
        return new long[] {high, low};
    }

    /**
     * Reads the colon-separated groups of {@code part} into {@code into}; with {@code lastMayBeQuad}
     * a dotted quad in the last place counts as two groups. Returns how many were read.
     */
    private static int groups(String whole, String part, int[] into, boolean lastMayBeQuad) {
        String[] fields = part.split(":", -1);
        int n = 0;
        for (int i = 0; i < fields.length; i++) {
            String f = fields[i];
            if (lastMayBeQuad && i == fields.length - 1 && f.indexOf('.') >= 0) {
                if (n + 2 > 8) {
                    throw new IllegalArgumentException("'" + whole + "' is not an IPv6 address: too many groups");
                }
                int v4;
                try {
                    v4 = Ipv4.parse(f);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("'" + whole + "' is not an IPv6 address: " + e.getMessage());
                }
                into[n++] = v4 >>> 16;
                into[n++] = v4 & 0xFFFF;
                continue;
            }
            if (f.isEmpty() || f.length() > 4) {
                throw new IllegalArgumentException("'" + whole + "' is not an IPv6 address: group '" + f + "'");
            }
            int value = 0;
            for (int c = 0; c < f.length(); c++) {
                int digit = Character.digit(f.charAt(c), 16);
                if (digit < 0) {
                    throw new IllegalArgumentException("'" + whole + "' is not an IPv6 address: group '" + f + "'");
                }
                value = value << 4 | digit;
            }
            if (n == 8) {
                throw new IllegalArgumentException("'" + whole + "' is not an IPv6 address: more than 8 groups");
            }
            into[n++] = value;
        }
        return n;
    }

    /**
     * The RFC 5952 text: lower-case hex without leading zeros, the longest run of two or more
     * zero groups (the first of equal runs) as "::", a lone zero group written "0" (§4.2.2);
     * an IPv4-mapped address as {@code ::ffff:a.b.c.d} (§5).
     */
    public static String format(long high, long low) {
        if (high == 0 && (low >>> 32) == 0xFFFF) {
            return "::ffff:" + Ipv4.format((int) low); // an IPv4-mapped address in mixed notation (§5)
        }
        int[] groups = new int[8];
        for (int i = 0; i < 4; i++) {
            groups[i] = (int) (high >>> (48 - 16 * i)) & 0xFFFF;
            groups[i + 4] = (int) (low >>> (48 - 16 * i)) & 0xFFFF;
        }
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        StringBuilder text = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                text.append("::");
                i += bestLength - 1;
                continue;
            }
            if (text.length() > 0 && text.charAt(text.length() - 1) != ':') {
                text.append(':');
            }
            text.append(Integer.toHexString(groups[i]));
        }
        return text.toString();
    }

    /** "[address]:port", the RFC 5952 §6 form of an address with a port. */
    public static String formatWithPort(long high, long low, int port) {
        return "[" + format(high, low) + "]:" + port;
    }
}
