package io.tandem.dataplane.fastpath;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Publishes the engine's {@link KernelPolicy} into the program's maps ({@link PolicyMaps}), and
 * keeps what it published: each service's id (its Maglev table's key in {@code tandem_maglev},
 * stable while tandemd runs) and its last table, so a change rewrites only the services it touched.
 */
public final class PolicyPublisher {
    private final PolicyMaps maps;
    private final int frontIfindex;
    private final int backIfindex;
    private final Map<String, Integer> serviceIds = new HashMap<>();
    private final Map<String, KernelPolicy.Service> published = new HashMap<>();
    private int nextServiceId;

    public PolicyPublisher(FastPathProgram program, int frontIfindex, int backIfindex) {
        this.maps = program.policy();
        this.frontIfindex = frontIfindex;
        this.backIfindex = backIfindex;
    }

    /**
     * Publishes the engine's policy for the program to create flows by: backends first, then each
     * service whose table changed (a new inner table swapped in whole), then the removal of those
     * gone, then the box's config with flow creation on ({@code create}: the engine reads the
     * reports). Off the hot path.
     *
     * @return null, or what failed (the program then leaves those services' new flows to the engine)
     */
    public synchronized String publish(KernelPolicy policy, boolean create) {
        StringBuilder failed = new StringBuilder();
        for (KernelPolicy.Backend b : policy.backends()) {
            int rc = maps.backend(b.pool(), b.address(), b.snat(), b.port());
            if (rc < 0) {
                failed.append(" backend pool ").append(b.pool()).append(": errno ").append(-rc);
            }
        }
        Set<String> keep = new HashSet<>();
        for (KernelPolicy.Service s : policy.services()) {
            String key = s.key();
            keep.add(key);
            KernelPolicy.Service before = published.get(key);
            if (before != null && before.hashClient() == s.hashClient() && Arrays.equals(before.slots(), s.slots())) {
                continue;
            }
            int id = serviceIds.computeIfAbsent(key, k -> nextServiceId++);
            int rc = maps.service(s.vip(), s.port(), s.proto(), id,
                    PolicyMaps.SVC_CREATE | (s.hashClient() ? PolicyMaps.SVC_HASH_CLIENT : 0), s.slots());
            if (rc < 0) {
                failed.append(" service ").append(key).append(": errno ").append(-rc);
                maps.removeService(s.vip(), s.port(), s.proto(), id);
                published.remove(key);
            } else {
                published.put(key, s);
            }
        }
        for (var it = published.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!keep.contains(e.getKey())) {
                maps.removeService(e.getValue().vip(), e.getValue().port(), e.getValue().proto(), serviceIds.get(e.getKey()));
                it.remove();
            }
        }
        int rc = maps.config(frontIfindex, backIfindex, policy.firstPort(), policy.lastPort(), create);
        if (rc < 0) {
            failed.append(" config: errno ").append(-rc);
        }
        return failed.isEmpty() ? null : "publishing the policy failed:" + failed;
    }
}
