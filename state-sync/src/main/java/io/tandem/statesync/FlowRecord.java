package io.tandem.statesync;

/**
 * One flow as replicated: its original tuple (the key), its NAT mapping, its state and the
 * active's last sight of it, and a version that orders every change to the flow (last
 * writer wins). {@code removed} records end a flow on the peer.
 *
 * <p>{@code protocol} is the appliance's flow protocol: TCP 6 or UDP 17, plus {@link #IPV6}
 * for an IPv6 flow, whose 128-bit addresses are in {@code ipv6} (its {@code int} addresses are
 * 0: an IPv6 address's id means nothing on the other box). {@code ipv6} is null for IPv4.
 * {@code state} and {@code flags} are the appliance's codes, carried opaquely.
 */
public record FlowRecord(int protocol, int clientAddress, int clientPort, int vipAddress, int vipPort,
                         int backendAddress, int backendPort, int snatAddress, int snatPort,
                         int state, int flags, long lastSeenMillis, long version, boolean removed, Ipv6Addresses ipv6) {
    /** The IPv6 bit of the flow protocol. */
    public static final int IPV6 = 0x80;

    /** An IPv6 flow's four addresses, each as its high and low 64 bits. */
    public record Ipv6Addresses(long clientHigh, long clientLow, long vipHigh, long vipLow,
                                long backendHigh, long backendLow, long snatHigh, long snatLow) {
    }

    public FlowRecord {
        if (((protocol & IPV6) != 0) != (ipv6 != null)) {
            throw new IllegalArgumentException("protocol " + protocol + (ipv6 == null ? " is IPv6 without" : " is IPv4 with")
                    + " IPv6 addresses");
        }
    }

    /** An IPv4 flow's record. */
    public FlowRecord(int protocol, int clientAddress, int clientPort, int vipAddress, int vipPort,
                      int backendAddress, int backendPort, int snatAddress, int snatPort,
                      int state, int flags, long lastSeenMillis, long version, boolean removed) {
        this(protocol, clientAddress, clientPort, vipAddress, vipPort, backendAddress, backendPort, snatAddress, snatPort,
                state, flags, lastSeenMillis, version, removed, null);
    }

    public boolean isIpv6() {
        return ipv6 != null;
    }

    /** The key's first half, for hashing: client address and VIP (folded, for IPv6). */
    public long keyAddresses() {
        if (ipv6 != null) {
            return mix(mix(ipv6.clientHigh() ^ Long.rotateLeft(ipv6.clientLow(), 17)) ^ ipv6.vipHigh() * 0x9E3779B97F4A7C15L
                    ^ Long.rotateLeft(ipv6.vipLow(), 41));
        }
        return (long) clientAddress << 32 | (vipAddress & 0xFFFFFFFFL);
    }

    /** The key's second half: ports and protocol. */
    public long keyPortsAndProtocol() {
        return (long) clientPort << 24 | (long) vipPort << 8 | protocol;
    }

    /**
     * A flow's identity across its records: its original tuple, as a map key. The addresses
     * whole (for IPv4 the low words, the high ones 0; the protocol tells the families apart).
     */
    public record Key(long clientHigh, long clientLow, long vipHigh, long vipLow, long portsAndProtocol) {
    }

    public Key key() {
        return ipv6 == null
                ? new Key(0, clientAddress & 0xFFFFFFFFL, 0, vipAddress & 0xFFFFFFFFL, keyPortsAndProtocol())
                : new Key(ipv6.clientHigh(), ipv6.clientLow(), ipv6.vipHigh(), ipv6.vipLow(), keyPortsAndProtocol());
    }

    /** Which of the {@link FlowDigest#RANGES} digest ranges the flow falls in. */
    public int range() {
        return FlowDigest.rangeOf(keyAddresses(), keyPortsAndProtocol());
    }

    /**
     * The hash the digest XORs in: the key and the NAT mapping (what must be equal on both
     * boxes for a takeover to keep the flow), not the state or times, which move on.
     */
    public long mappingHash() {
        long h = mix(keyAddresses() * 0x9E3779B97F4A7C15L ^ keyPortsAndProtocol());
        if (ipv6 != null) {
            h = mix(h ^ ipv6.backendHigh());
            h = mix(h ^ ipv6.backendLow());
            h = mix(h ^ ipv6.snatHigh());
            h = mix(h ^ ipv6.snatLow());
        } else {
            h = mix(h ^ ((long) backendAddress << 32 | (snatAddress & 0xFFFFFFFFL)));
        }
        return mix(h ^ ((long) backendPort << 16 | snatPort));
    }

    static long mix(long k) {
        k ^= k >>> 33;
        k *= 0xFF51AFD7ED558CCDL;
        k ^= k >>> 33;
        k *= 0xC4CEB9FE1A85EC53L;
        k ^= k >>> 33;
        return k;
    }
}
