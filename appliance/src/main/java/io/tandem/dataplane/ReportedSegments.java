package io.tandem.dataplane;

import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.dataplane.fastpath.SegmentReports;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;

import java.util.function.LongSupplier;

/**
 * The segments the fast path forwarded and reported, applied to the flow table as if the engine
 * had seen them: the flow is looked up by the tuple the segment arrived with, and its state moves
 * by the segment's flags (SYN_RECV to ESTABLISHED on the handshake's last ACK, FIN_WAIT and
 * TIME_WAIT on the FINs), which also replicates it and sets its timeout. The program forwards a
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
    public void ipv4(int src, int srcPort, int dst, int dstPort, int tcpFlags, int seq) {
        if (flows.lookup(Ipv4.PROTO_TCP, src, dst, srcPort, dstPort, flow)) {
            flows.observe(flow, tcpFlags, clock.getAsLong());
        } else {
            gone++;
        }
    }

    @Override
    public void ipv6(long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort, int tcpFlags, int seq) {
        int src = addresses6.find(srcHigh, srcLow);
        int dst = addresses6.find(dstHigh, dstLow);
        if (src != Ipv6Addresses.NONE && dst != Ipv6Addresses.NONE
                && flows.lookup(FlowProtocol.of(Ipv4.PROTO_TCP, true), src, dst, srcPort, dstPort, flow)
                && addresses6.holds(src, srcHigh, srcLow) && addresses6.holds(dst, dstHigh, dstLow)) {
            flows.observe(flow, tcpFlags, clock.getAsLong());
        } else {
            gone++;
        }
    }

    /** Reports that found no flow. */
    long gone() {
        return gone;
    }
}
