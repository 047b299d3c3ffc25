package io.tandem.control;

import io.tandem.balancer.ServiceTable;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.LagHistogram;
import io.tandem.dataplane.DataplaneCounters;
import io.tandem.statesync.SyncStatus;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/** What the operators' interfaces read of the box (data plane, services, sync link), and the one thing they change: drains. The box's assembly implements it. */
public interface BoxView {
    DataplaneCounters counters();

    /** Packets the kernel dropped before the engine read them: a TUN queue was full. */
    long tunQueueDrops();

    /** The sync link's status, or null when this box has no peer. */
    SyncStatus syncStatus();

    int flowCount();

    int flowCapacity();

    /** Flows from the peer to a backend this box's config does not have (the configs differ). */
    int flowsToUnknownBackends();

    /** The fast path program's counters by name (forwarded, created, why packets went to the engine); empty without one. */
    Map<String, Long> fastPathCounters();

    /** Half-open flows dropped at the half-open cap to make room (a flood), since start. */
    long earlyDrops();

    /** How long the peer's flow changes took to be in this box's kernel map: the replication lag's distribution. */
    LagHistogram replicationLag();

    ServiceTable services();

    /** Visits flows from a listing cursor until the visitor says stop; returns the next cursor, or -1 at the end. */
    int forEachFlowFrom(int cursor, Predicate<FlowSnapshot> visitor);

    /** What of the box is stuck — its packet loops that ran no task within {@code timeout}; empty when all answered. */
    List<String> stuck(Duration timeout) throws InterruptedException;

    /** Drains or undrains a backend (address:port) in one service (or every one, service null). */
    List<String> drain(String service, String backend, boolean drain);
}
