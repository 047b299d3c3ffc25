package io.tandem.conntrack;

import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;

/**
 * A flow's record as listings and state sync see it: the {@link FlowFields} plus its last
 * activity, the version of its last change and whether it was installed from the peer.
 * Mutable and reusable (the table fills one per event without allocating); {@link #copy()}
 * when it must be kept. State sync builds one from the peer's record with the setters.
 *
 * <p>An IPv6 flow's snapshot from the table also carries its four 128-bit addresses (its
 * {@code int} addresses are ids that mean nothing off this box): {@link #client()} and the
 * like print either family.
 */
public final class FlowSnapshot extends FlowFields {
    public static final int CLIENT = 0;
    public static final int VIP = 1;
    public static final int BACKEND = 2;
    public static final int SNAT = 3;

    long lastSeenMillis;
    long version;
    boolean remote;
    /** For an IPv6 flow: high, low of client, VIP, backend, SNAT address; null for IPv4. */
    long[] addresses6;

    /** The high 64 bits of one of an IPv6 flow's addresses ({@link #CLIENT}, {@link #VIP}, {@link #BACKEND}, {@link #SNAT}). */
    public long address6High(int which) {
        return addresses6[2 * which];
    }

    public long address6Low(int which) {
        return addresses6[2 * which + 1];
    }

    public String client() {
        return text(CLIENT, clientAddress);
    }

    public String vip() {
        return text(VIP, vipAddress);
    }

    public String backend() {
        return text(BACKEND, backendAddress);
    }

    public String snat() {
        return text(SNAT, snatAddress);
    }

    /** {@code address:port}, {@code [address]:port} for IPv6. */
    public static String endpoint(String address, int port) {
        return address.indexOf(':') >= 0 ? "[" + address + "]:" + port : address + ":" + port;
    }

    private String text(int which, int address) {
        if (!FlowProtocol.isIpv6(protocol)) {
            return Ipv4.format(address);
        }
        return addresses6 == null ? "#" + address : Ipv6.format(address6High(which), address6Low(which));
    }

    public long lastSeenMillis() {
        return lastSeenMillis;
    }

    /** The version of the flow's last change (state sync's order: the newest wins). */
    public long version() {
        return version;
    }

    /** Installed from the peer and not seen here yet. */
    public boolean remote() {
        return remote;
    }

    /** The original tuple: the key of the flow. */
    public FlowSnapshot setKey(int protocol, int clientAddress, int clientPort, int vipAddress, int vipPort) {
        this.protocol = protocol;
        this.clientAddress = clientAddress;
        this.clientPort = clientPort;
        this.vipAddress = vipAddress;
        this.vipPort = vipPort;
        return this;
    }

    /** The NAT mapping: the reply tuple. */
    public FlowSnapshot setMapping(int backendAddress, int backendPort, int snatAddress, int snatPort) {
        this.backendAddress = backendAddress;
        this.backendPort = backendPort;
        this.snatAddress = snatAddress;
        this.snatPort = snatPort;
        return this;
    }

    public FlowSnapshot setState(FlowState state, boolean finFromReply, long lastSeenMillis, long version) {
        this.state = state;
        this.finFromReply = finFromReply;
        this.lastSeenMillis = lastSeenMillis;
        this.version = version;
        return this;
    }

    public FlowSnapshot copy() {
        FlowSnapshot c = new FlowSnapshot();
        copyFieldsTo(c);
        c.lastSeenMillis = lastSeenMillis;
        c.version = version;
        c.remote = remote;
        c.addresses6 = addresses6 == null ? null : addresses6.clone();
        return c;
    }
}
