package io.tandem.control;

import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * Flows counted per service, per backend and per state, by one walk of the table — at most
 * once per {@link #MAX_AGE_MILLIS}, however many pages and scrapers ask: a walk of a million
 * flows takes a fraction of a second, and it runs off the packet path.
 */
public final class FlowStats {
    static final long MAX_AGE_MILLIS = 2_000;

    /** One walk's counts; backends keyed {@code service/address:port}. */
    public record Counts(long atMillis, Map<String, Long> perService, Map<String, Long> perBackend,
                         Map<FlowState, Long> perState, long remote) {
    }

    private final BoxView dataplane;
    private Counts last;

    public FlowStats(BoxView dataplane) {
        this.dataplane = dataplane;
    }

    public synchronized Counts get() {
        long now = System.currentTimeMillis();
        if (last != null && now - last.atMillis() < MAX_AGE_MILLIS) {
            return last;
        }
        ServiceTable services = dataplane.services();
        Map<String, Long> perService = new HashMap<>();
        Map<String, Long> perBackend = new HashMap<>();
        Map<FlowState, Long> perState = new EnumMap<>(FlowState.class);
        long[] remote = {0};
        dataplane.forEachFlowFrom(0, f -> {
            perState.merge(f.state(), 1L, Long::sum);
            if (f.remote()) {
                remote[0]++;
            }
            Service s = services.find(f.vipAddress(), f.vipPort(), f.protocol());
            if (s != null) {
                perService.merge(s.name(), 1L, Long::sum);
                perBackend.merge(s.name() + "/" + FlowSnapshot.endpoint(f.backend(), f.backendPort()), 1L, Long::sum);
            }
            return true;
        });
        last = new Counts(now, perService, perBackend, perState, remote[0]);
        return last;
    }
}
