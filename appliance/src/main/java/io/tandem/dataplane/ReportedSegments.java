package io.tandem.dataplane;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.dataplane.fastpath.FastPath;
import io.tandem.dataplane.fastpath.SegmentReports;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;

import java.util.function.LongSupplier;

/**
 * The segments the fast path forwarded and reported, applied to the flow table as if the engine
 * had seen them: the flow is looked up by the tuple the segment arrived with, and its state moves
 * by the segment's flags (SYN_SENT to SYN_RECV on the SYN-ACK, whose sequence number, window and
 * window scale start the backend's side of the window tracking; SYN_RECV to ESTABLISHED on the
 * handshake's last ACK; FIN_WAIT and TIME_WAIT on the FINs), which also replicates it and sets
 * its timeout. The program forwards a
 * FIN only at its side's exact next sequence number, so it needs no window check here. Runs on the
 * reports' one thread.
 */
final class ReportedSegments implements SegmentReports.Listener {
    private final FlowTable flows;
    private final Ipv6Addresses addresses6;
    private final LongSupplier clock;
    private final FastPath fastPath;
    private final FlowLookup flow = new FlowLookup();
    /** Reports for flows no longer in the table (removed since the packet passed): nothing to do. */
    private long gone;
    private long createdFlows;
    private long refused;

    ReportedSegments(FlowTable flows, LongSupplier clock) {
        this(flows, clock, null);
    }

    /** As above, {@code fastPath} removing the entries of a created flow the table cannot even name (no room for its IPv6 addresses). */
    ReportedSegments(FlowTable flows, LongSupplier clock, FastPath fastPath) {
        this.fastPath = fastPath;
        this.flows = flows;
        this.addresses6 = flows.ipv6Addresses();
        this.clock = clock;
    }

    @Override
    public void ipv4(int src, int srcPort, int dst, int dstPort, SegmentReports.Segment segment) {
        if (segment.created()) {
            created(segment.protocol(), src, srcPort, dst, dstPort, segment);
            return;
        }
        if (flows.lookup(Ipv4.PROTO_TCP, src, dst, srcPort, dstPort, flow)) {
            apply(segment);
        } else {
            gone++;
        }
    }

    /** The segment moves the looked-up flow; a SYN-ACK first starts the backend's side of its window. */
    private void apply(SegmentReports.Segment segment) {
        if (TcpFlags.has(segment.flags(), TcpFlags.SYN)) {
            flows.synAckReported(flow, segment.seq(), segment.window(), segment.windowScale());
        }
        flows.observe(flow, segment.flags(), clock.getAsLong());
    }

    @Override
    public void ipv6(long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort, SegmentReports.Segment segment) {
        if (segment.created()) {
            // The flow holds references of its own to its addresses' ids; the client's is held for the insert only.
            int vip = addresses6.find(dstHigh, dstLow);
            int client = addresses6.acquire(srcHigh, srcLow);
            if (vip == Ipv6Addresses.NONE || client == Ipv6Addresses.NONE) {
                refused++;
                if (fastPath != null) {
                    fastPath.discard6(segment.protocol(), srcHigh, srcLow, srcPort, dstHigh, dstLow, dstPort);
                }
            } else {
                created(FlowProtocol.of(segment.protocol(), true), client, srcPort, vip, dstPort, segment);
            }
            if (client != Ipv6Addresses.NONE) {
                addresses6.release(client);
            }
            return;
        }
        int src = addresses6.find(srcHigh, srcLow);
        int dst = addresses6.find(dstHigh, dstLow);
        if (src != Ipv6Addresses.NONE && dst != Ipv6Addresses.NONE
                && flows.lookup(FlowProtocol.of(Ipv4.PROTO_TCP, true), src, dst, srcPort, dstPort, flow)
                && addresses6.holds(src, srcHigh, srcLow) && addresses6.holds(dst, dstHigh, dstLow)) {
            apply(segment);
        } else {
            gone++;
        }
    }

    /**
     * A flow the program created (DESIGN §3b): taken into the table as the engine's own, its kernel
     * entries this flow's from now on, a TCP flow's client side of the window started from its
     * SYN. A flow the table refuses (full, the half-open cap with nothing to drop) loses its kernel
     * entries ({@link FlowTable#insertCreated}): its next packet comes to the engine, which refuses it the same way.
     */
    private void created(int proto, int client, int clientPort, int vip, int vipPort, SegmentReports.Segment segment) {
        boolean tcp = FlowProtocol.transport(proto) == Ipv4.PROTO_TCP;
        int slot = flows.insertCreated(proto, client, clientPort, vip, vipPort, segment.pool(), segment.snatPort(),
                tcp ? FlowState.TCP_SYN_SENT : FlowState.UDP_UNREPLIED, segment.reopened(), clock.getAsLong(), flow);
        if (slot < 0) {
            refused++;
            return;
        }
        createdFlows++;
        if (tcp) {
            flows.synReported(flow, segment.seq(), segment.window(), segment.windowScale());
        }
    }

    /** Flows the program created that the table took in, and those it refused. */
    long created() {
        return createdFlows;
    }

    long refused() {
        return refused;
    }

    /** Reports that found no flow. */
    long gone() {
        return gone;
    }
}
