package io.tandem.conntrack;

import io.tandem.packet.Ipv4;

/**
 * A flow's full record, copied out of the table: both tuples, the NAT mapping, state and
 * last activity. Mutable and reusable (the data plane fills one without allocating);
 * {@link #copy()} when it must be kept.
 */
public final class FlowSnapshot {
    public int flowId;
    public int generation;
    public int protocol;
    public int clientAddress;
    public int clientPort;
    public int vipAddress;
    public int vipPort;
    public int backendAddress;
    public int backendPort;
    public int snatAddress;
    public int snatPort;
    public FlowState state;
    public boolean finFromReply;
    public long lastSeenMillis;
    /** The version of the flow's last change (state sync's order: the newest wins). */
    public long version;
    /** Installed from the peer and not seen here yet. */
    public boolean remote;

    public FlowSnapshot copy() {
        FlowSnapshot c = new FlowSnapshot();
        c.flowId = flowId;
        c.generation = generation;
        c.protocol = protocol;
        c.clientAddress = clientAddress;
        c.clientPort = clientPort;
        c.vipAddress = vipAddress;
        c.vipPort = vipPort;
        c.backendAddress = backendAddress;
        c.backendPort = backendPort;
        c.snatAddress = snatAddress;
        c.snatPort = snatPort;
        c.state = state;
        c.finFromReply = finFromReply;
        c.lastSeenMillis = lastSeenMillis;
        c.version = version;
        c.remote = remote;
        return c;
    }

    @Override
    public String toString() {
        return Ipv4.protocolName(protocol) + " " + Ipv4.format(clientAddress) + ":" + clientPort
                + " -> " + Ipv4.format(vipAddress) + ":" + vipPort
                + " => " + Ipv4.format(snatAddress) + ":" + snatPort
                + " -> " + Ipv4.format(backendAddress) + ":" + backendPort + " " + state;
    }
}
