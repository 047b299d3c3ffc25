package io.tandem.balancer;

import io.tandem.config.HashKey;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TupleHash;

import java.util.List;

/** A virtual service as the data plane sees it: immutable, rebuilt on reload. */
public record Service(String name, int vip, int port, int protocol, int snatAddress,
                      HashKey hashKey, List<Backend> backends, BackendSelector selector, ClientLimiter clientLimits) {

    /** Whether {@code client} may open one more flow now ({@code client_limits}; always, without them). */
    public boolean admits(int client, long nowMillis) {
        return clientLimits == null || clientLimits.tryAcquire(client, nowMillis);
    }

    /** The most flows one client address may hold in this service at once ({@code client_limits.max_flows}), or 0 for no cap. */
    public int maxFlowsPerClient() {
        return clientLimits == null ? 0 : clientLimits.maxFlowsPerClient();
    }

    /** The hash the scheduler uses for a new flow from {@code client:clientPort}. */
    public long flowHash(int client, int clientPort) {
        return hashKey == HashKey.CLIENT_ADDRESS
                ? TupleHash.ofAddress(client)
                : TupleHash.of(protocol, client, vip, clientPort, port);
    }

    /** The backend for a new flow, or null if none can take it. */
    public Backend pick(long flowHash) {
        int i = selector.select(flowHash);
        return i < 0 ? null : backends.get(i);
    }

    @Override
    public String toString() {
        return name + " " + Ipv4.format(vip) + ":" + port + "/" + Ipv4.protocolName(protocol);
    }
}
