package io.tandem.balancer;

import io.tandem.conntrack.SnatPortPool;
import io.tandem.packet.Ipv4;

/** A backend as the data plane sees it, with the SNAT port pool of its reply tuples. */
public record Backend(int address, int port, int weight, SnatPortPool snatPorts) {
    public String key() {
        return Ipv4.format(address) + ":" + port;
    }
}
