package io.tandem.balancer;

import io.tandem.config.HashKey;
import io.tandem.config.IpAddress;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.TupleHash;

import java.util.List;

/**
 * A virtual service as the data plane sees it: immutable, rebuilt on reload. {@code vip} and
 * {@code snatAddress} are the flow table's keys for {@code vipIp} and {@code snatIp} (the
 * IPv4 address, or the IPv6 address's id); {@code protocol} is the flow protocol
 * ({@link FlowProtocol}: the transport, with the IPv6 bit for an IPv6 service).
 */
public record Service(String name, IpAddress vipIp, int vip, int port, int protocol, IpAddress snatIp, int snatAddress,
                      HashKey hashKey, List<Backend> backends, BackendSelector selector, ClientLimiter clientLimits) {

    /**
     * Whether {@code client} may open one more flow now ({@code client_limits}; always, without
     * them). An IPv6 client is limited by its /64 ({@link #clientKey6}): one host owns a whole
     * /64 and could otherwise take a fresh address for every flow.
     */
    public boolean admits(int client, long nowMillis) {
        return clientLimits == null || clientLimits.tryAcquire(client, nowMillis);
    }

    /** The rate limiter's key for an IPv6 client: its /64 prefix folded to 32 bits. */
    public static int clientKey6(long high) {
        return (int) (high ^ high >>> 32);
    }

    /** The most flows one client address may hold in this service at once ({@code client_limits.max_flows}), or 0 for no cap. */
    public int maxFlowsPerClient() {
        return clientLimits == null ? 0 : clientLimits.maxFlowsPerClient();
    }

    public boolean ipv6() {
        return vipIp.ipv6();
    }

    /** The hash the scheduler uses for a new flow from {@code client:clientPort}. */
    public long flowHash(int client, int clientPort) {
        return hashKey == HashKey.CLIENT_ADDRESS
                ? TupleHash.ofAddress(client)
                : TupleHash.of(protocol, client, vip, clientPort, port);
    }

    /** As {@link #flowHash}, for an IPv6 client: its address, not its id, so both boxes agree. */
    public long flowHash6(long clientHigh, long clientLow, int clientPort) {
        return hashKey == HashKey.CLIENT_ADDRESS
                ? TupleHash.ofAddress6(clientHigh, clientLow)
                : TupleHash.of6(protocol, clientHigh, clientLow, vipIp.high(), vipIp.low(), clientPort, port);
    }

    /** The backend for a new flow, or null if none can take it. */
    public Backend pick(long flowHash) {
        int i = selector.select(flowHash);
        return i < 0 ? null : backends.get(i);
    }

    @Override
    public String toString() {
        return name + " " + vipIp.withPort(port) + "/" + FlowProtocol.name(protocol);
    }
}
