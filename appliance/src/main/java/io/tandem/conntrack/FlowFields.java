package io.tandem.conntrack;

import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;

/**
 * The fields every copy of a flow carries: its original tuple (client to VIP), its NAT mapping
 * (SNAT address to backend) and its TCP/UDP state. Filled by the table's one slot reader
 * ({@link FlowSlots#read}); {@link FlowLookup} and {@link FlowSnapshot} add what their users need.
 */
public class FlowFields {
    int protocol;
    int clientAddress;
    int clientPort;
    int vipAddress;
    int vipPort;
    int backendAddress;
    int backendPort;
    int snatAddress;
    int snatPort;
    FlowState state;
    boolean finFromReply;

    FlowFields() {
    }

    public int protocol() {
        return protocol;
    }

    /** An IPv6 flow: its addresses are ids in the table's {@link Ipv6Addresses}. */
    public boolean ipv6() {
        return FlowProtocol.isIpv6(protocol);
    }

    public int clientAddress() {
        return clientAddress;
    }

    public int clientPort() {
        return clientPort;
    }

    public int vipAddress() {
        return vipAddress;
    }

    public int vipPort() {
        return vipPort;
    }

    public int backendAddress() {
        return backendAddress;
    }

    public int backendPort() {
        return backendPort;
    }

    public int snatAddress() {
        return snatAddress;
    }

    public int snatPort() {
        return snatPort;
    }

    public FlowState state() {
        return state;
    }

    /** The first FIN of the connection came from the backend's side. */
    public boolean finFromReply() {
        return finFromReply;
    }

    void copyFieldsTo(FlowFields c) {
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
    }

    @Override
    public String toString() {
        // An IPv6 flow's addresses are ids here ("#n"); FlowSnapshot's client() etc. print them.
        if (FlowProtocol.isIpv6(protocol)) {
            return FlowProtocol.name(protocol) + " #" + clientAddress + ":" + clientPort + " -> #" + vipAddress + ":" + vipPort
                    + " => #" + snatAddress + ":" + snatPort + " -> #" + backendAddress + ":" + backendPort + " " + state;
        }
        return Ipv4.protocolName(protocol) + " " + Ipv4.format(clientAddress) + ":" + clientPort
                + " -> " + Ipv4.format(vipAddress) + ":" + vipPort
                + " => " + Ipv4.format(snatAddress) + ":" + snatPort
                + " -> " + Ipv4.format(backendAddress) + ":" + backendPort + " " + state;
    }
}
