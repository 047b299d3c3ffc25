package io.tandem.statesync;

/**
 * One flow as replicated: its original tuple (the key), its NAT mapping, its state and the
 * active's last sight of it, and a version that orders every change to the flow (last
 * writer wins). {@code removed} records end a flow on the peer.
 *
 * <p>{@code state} and {@code flags} are the appliance's codes, carried opaquely.
 */
public record FlowRecord(int protocol, int clientAddress, int clientPort, int vipAddress, int vipPort,
                         int backendAddress, int backendPort, int snatAddress, int snatPort,
                         int state, int flags, long lastSeenMillis, long version, boolean removed) {

    /** The key's first half: client address and VIP. */
    public long keyAddresses() {
        return (long) clientAddress << 32 | (vipAddress & 0xFFFFFFFFL);
    }

    /** The key's second half: ports and protocol. */
    public long keyPortsAndProtocol() {
        return (long) clientPort << 24 | (long) vipPort << 8 | protocol;
    }

    /** A flow's identity across its records: its original tuple, as a map key. */
    public record Key(long addresses, long portsAndProtocol) {
    }

    public Key key() {
        return new Key(keyAddresses(), keyPortsAndProtocol());
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
        h = mix(h ^ ((long) backendAddress << 32 | (snatAddress & 0xFFFFFFFFL)));
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
