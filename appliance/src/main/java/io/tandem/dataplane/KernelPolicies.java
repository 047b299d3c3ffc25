package io.tandem.dataplane;

import io.tandem.balancer.Backend;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.HashKey;
import io.tandem.config.IpAddress;
import io.tandem.dataplane.fastpath.KernelPolicy;
import io.tandem.packet.FlowProtocol;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The engine's service table as the fast path's program applies it (DESIGN §3b): each service
 * with its Maglev table as SNAT port pool ids, and the backends those name. A service whose policy
 * the program cannot apply keeps its new flows on the engine (no table): one with
 * {@code client_limits} (a per-client rate and flow count, which need the engine's counters) or
 * the {@code wrr} scheduler (round robin is state, not a function of the tuple).
 */
final class KernelPolicies {
    private KernelPolicies() {
    }

    static KernelPolicy of(ServiceTable table, int firstPort, int lastPort) {
        List<KernelPolicy.Service> services = new ArrayList<>();
        Map<Integer, KernelPolicy.Backend> backends = new LinkedHashMap<>();
        for (Service s : table.services()) {
            int[] slots = null;
            if (s.selector() instanceof MaglevTable maglev && s.clientLimits() == null) {
                slots = new int[maglev.size()];
                for (int i = 0; i < slots.length; i++) {
                    int owner = maglev.owner(i);
                    slots[i] = owner < 0 ? KernelPolicy.NO_BACKEND : s.backends().get(owner).snatPorts().id();
                }
                for (Backend b : s.backends()) {
                    backends.putIfAbsent(b.snatPorts().id(),
                            new KernelPolicy.Backend(b.snatPorts().id(), bytes(b.ip()), bytes(s.snatIp()), b.port()));
                }
            }
            services.add(new KernelPolicy.Service(bytes(s.vipIp()), s.port(), FlowProtocol.transport(s.protocol()),
                    s.hashKey() == HashKey.CLIENT_ADDRESS, slots));
        }
        return new KernelPolicy(firstPort, lastPort, services, List.copyOf(backends.values()));
    }

    /** An address as the program keys it: 4 bytes, or 16, in network order. */
    static byte[] bytes(IpAddress a) {
        return a.ipv6() ? ByteBuffer.allocate(16).putLong(a.high()).putLong(a.low()).array() : ByteBuffer.allocate(4).putInt(a.ipv4()).array();
    }
}
