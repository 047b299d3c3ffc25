package io.tandem.conntrack;

/**
 * A flow's record as listings and state sync see it: the {@link FlowFields} plus its last
 * activity, the version of its last change and whether it was installed from the peer.
 * Mutable and reusable (the table fills one per event without allocating); {@link #copy()}
 * when it must be kept. State sync builds one from the peer's record with the setters.
 */
public final class FlowSnapshot extends FlowFields {
    long lastSeenMillis;
    long version;
    boolean remote;

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
        return c;
    }
}
