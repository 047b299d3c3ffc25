package io.tandem;

import io.tandem.balancer.BackendSchedule;
import io.tandem.balancer.ServiceTable;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.LagHistogram;
import io.tandem.control.BoxView;
import io.tandem.dataplane.Dataplane;
import io.tandem.dataplane.DataplaneCounters;
import io.tandem.statesync.SyncStatus;
import io.tandem.sync.SyncLink;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/** What the operators' interfaces see of the box, gathered from the parts that hold it. */
final class AssembledBoxView implements BoxView {
    private final Dataplane dataplane;
    private final BackendSchedule schedule;
    private final SyncLink sync;

    /** @param sync the sync link, or null for a box alone */
    AssembledBoxView(Dataplane dataplane, BackendSchedule schedule, SyncLink sync) {
        this.dataplane = dataplane;
        this.schedule = schedule;
        this.sync = sync;
    }

    @Override
    public DataplaneCounters counters() {
        return dataplane.counters();
    }

    @Override
    public long tunQueueDrops() {
        return dataplane.tunQueueDrops();
    }

    @Override
    public SyncStatus syncStatus() {
        return sync == null ? null : sync.status();
    }

    @Override
    public int flowCount() {
        return dataplane.flowCount();
    }

    @Override
    public int flowsToUnknownBackends() {
        return dataplane.unknownBackendFlows();
    }

    @Override
    public Map<String, Long> fastPathCounters() {
        return dataplane.fastPathCounters();
    }

    @Override
    public long earlyDrops() {
        return dataplane.earlyDrops();
    }

    @Override
    public LagHistogram replicationLag() {
        return dataplane.replicationLag();
    }

    @Override
    public int flowCapacity() {
        return dataplane.flowCapacity();
    }

    @Override
    public ServiceTable services() {
        return schedule.current();
    }

    @Override
    public int forEachFlowFrom(int cursor, Predicate<FlowSnapshot> visitor) {
        return dataplane.forEachFlowFrom(cursor, visitor);
    }

    @Override
    public List<String> stuck(Duration timeout) throws InterruptedException {
        return dataplane.stuckLoops(timeout);
    }

    @Override
    public List<String> drain(String service, String backend, boolean drain) {
        return schedule.drain(service, backend, drain);
    }
}
