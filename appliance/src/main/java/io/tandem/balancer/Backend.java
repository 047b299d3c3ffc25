package io.tandem.balancer;

import io.tandem.config.IpAddress;
import io.tandem.conntrack.SnatPortPool;

/**
 * A backend as the data plane sees it, with the SNAT port pool of its reply tuples.
 * {@code address} is the flow table's key for {@code ip}: the IPv4 address itself, or the id
 * of the IPv6 one.
 */
public record Backend(IpAddress ip, int address, int port, int weight, SnatPortPool snatPorts) {
    /** {@code address:port}, {@code [address]:port} for IPv6: what Maglev hashes and drains name. */
    public String key() {
        return ip.withPort(port);
    }
}
