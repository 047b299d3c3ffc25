package io.tandem.dataplane;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
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
    private final FlowLookup flow = new FlowLookup();
    /** Reports for flows no longer in the table (removed since the packet passed): nothing to do. */
    private long gone;

    ReportedSegments(FlowTable flows, LongSupplier clock) {
        this.flows = flows;
        this.addresses6 = flows.ipv6Addresses();
        this.clock = clock;
    }

    @Override
    public void ipv4(int src, int srcPort, int dst, int dstPort, SegmentReports.Segment segment) {
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

    /** Reports that found no flow. */
    long gone() {
        return gone;
    }
}
