package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.Backend;
import io.tandem.balancer.Service;
import io.tandem.conntrack.FlowDirection;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.dataplane.fastpath.FastPath;
import io.tandem.dataplane.tun.PacketHandler;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.IcmpEcho;
import io.tandem.packet.Ipv4;
import io.tandem.packet.NatRewriter;
import io.tandem.packet.PacketHeaders;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TcpReset;

/**
 * The full-NAT engine for one event loop. Given one IPv4 packet that policy routing steered
 * to the box (to a VIP from the front, or to a SNAT address from the back), it rewrites the
 * packet in place and says what to do with it:
 *
 * <ul>
 *   <li>a packet of a tracked flow: original direction {@code client:cport -> VIP:vport}
 *       becomes {@code SNAT:sport -> backend:bport}; the reply direction the reverse;</li>
 *   <li>a new flow (a TCP SYN, or any UDP datagram) to a service: a backend is picked, a
 *       SNAT port allocated, the flow inserted, the packet rewritten;</li>
 *   <li>a TCP segment of an unknown flow that is not a SYN: dropped silently (counted), never
 *       reset and never used to invent a flow — after a failover it may be a retransmission
 *       whose record is still on its way;</li>
 *   <li>ICMP errors (unreachable, fragmentation needed, time exceeded) about a tracked flow:
 *       outer and embedded headers translated, so path-MTU discovery works through the NAT;</li>
 *   <li>ICMP echo to a VIP or SNAT address: answered in place;</li>
 *   <li>fragments: the first is NATed with the flow and leaves a mapping that later
 *       fragments of the same datagram follow; a later one that comes first waits in the
 *       {@link FragmentHold} until the first has passed; a first fragment too short for its
 *       transport header, or a later one overlapping the first, is dropped (RFC 1858, RFC 3128).</li>
 * </ul>
 *
 * Not thread-safe: one per event loop. The flow table and fragment table are shared.
 * Allocates nothing per packet.
 */
public final class PacketProcessor implements PacketHandler {
    private final FlowTable flows;
    private final FragmentTable fragments;
    /** Later fragments that came before their first; null: none held. */
    private final FragmentHold hold;
    /** The in-kernel fast path the decided flows are handed to; null: off. */
    private final FastPath fastPath;
    private final ActiveServices services;
    private final DataplaneCounters counters = new DataplaneCounters();
    private final PacketHeaders headers = new PacketHeaders();
    private final PacketHeaders embedded = new PacketHeaders();
    private final FlowLookup flow = new FlowLookup();
    private DropReason lastDropReason;

    public PacketProcessor(FlowTable flows, FragmentTable fragments, ActiveServices services) {
        this(flows, fragments, null, services);
    }

    PacketProcessor(FlowTable flows, FragmentTable fragments, FragmentHold hold, ActiveServices services) {
        this(flows, fragments, hold, null, services);
    }

    PacketProcessor(FlowTable flows, FragmentTable fragments, FragmentHold hold, FastPath fastPath, ActiveServices services) {
        this.flows = flows;
        this.fragments = fragments;
        this.hold = hold;
        this.fastPath = fastPath;
        this.services = services;
    }

    /**
     * Processes the IPv4 packet between {@code packet}'s reader and writer index, in place.
     *
     * @param nowMillis the event loop's clock for this batch (flow activity, fragment expiry)
     */
    public Verdict process(ByteBuf packet, long nowMillis) {
        return process(packet, false, nowMillis);
    }

    /**
     * As {@link #process(ByteBuf, long)}, for a packet whose L4 checksum may be partial (a
     * super-packet from TUN with checksum offload): NAT then patches only its pseudo-header part.
     */
    @Override
    public Verdict process(ByteBuf packet, boolean partialChecksum, long nowMillis) {
        headers.setPartialChecksum(partialChecksum);
        counters.packetsIn++;
        counters.bytesIn += packet.readableBytes();
        PacketHeaders h = headers;
        if (!h.parse(packet)) {
            return drop(h.malformation());
        }
        if (h.isIpv6()) {
            return drop(DropReason.IPV6_NOT_SERVED); // parsed and checked; the flow table is IPv4-only so far
        }
        if (h.ttl() <= 1) {
            return drop(DropReason.TTL_EXPIRED);
        }
        if (h.isNonFirstFragment()) {
            return laterFragment(h, nowMillis);
        }
        return switch (h.protocol()) {
            case Ipv4.PROTO_TCP, Ipv4.PROTO_UDP -> transport(h, nowMillis);
            case Ipv4.PROTO_ICMP -> icmp(h);
            default -> drop(DropReason.UNSUPPORTED_PROTOCOL);
        };
    }

    private Verdict transport(PacketHeaders h, long now) {
        if (flows.lookup(h.protocol(), h.srcAddress(), h.dstAddress(), h.srcPort(), h.dstPort(), flow)) {
            if (flow.resetPending()) {
                return resetFlow(h);
            }
            if (!isNewSynOnFinishedFlow(h)) {
                return tracked(h, now);
            }
            // The client reuses the port of a finished connection: a new connection, balanced
            // afresh (as Linux conntrack re-runs NAT for a SYN in TIME_WAIT), so a backend
            // removed meanwhile gets no new flow through an old record.
            flows.remove(flow.flowId(), flow.generation());
        }
        return newFlow(h, now);
    }

    /**
     * A flow whose backend failed (on_backend_down: reset): the client's segment is answered
     * with a RST and the flow ends, so the client reconnects to a healthy backend at once; the
     * backend's side (if it still speaks) is dropped.
     */
    private Verdict resetFlow(PacketHeaders h) {
        flows.remove(flow.flowId(), flow.generation());
        if (flow.direction() != FlowDirection.ORIGINAL || (h.tcpFlags() & TcpFlags.RST) != 0) {
            return drop(DropReason.BACKEND_DOWN);
        }
        TcpReset.turnIntoReset(h);
        counters.replied++;
        return Verdict.REPLY;
    }

    private boolean isNewSynOnFinishedFlow(PacketHeaders h) {
        return h.protocol() == Ipv4.PROTO_TCP && flow.direction() == FlowDirection.ORIGINAL
                && (h.tcpFlags() & (TcpFlags.SYN | TcpFlags.ACK)) == TcpFlags.SYN
                && (flow.state() == FlowState.TCP_TIME_WAIT || flow.state() == FlowState.TCP_CLOSED);
    }

    private Verdict newFlow(PacketHeaders h, long now) {
        Service service = services.current().find(h.dstAddress(), h.dstPort(), h.protocol());
        if (service == null) {
            return drop(DropReason.NO_SERVICE);
        }
        boolean tcp = h.protocol() == Ipv4.PROTO_TCP;
        if (tcp && (h.tcpFlags() & (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.RST | TcpFlags.FIN)) != TcpFlags.SYN) {
            return drop(DropReason.TCP_NOT_SYN);
        }
        if (!service.admits(h.srcAddress(), now)) {
            return drop(DropReason.CLIENT_RATE_LIMIT);
        }
        long hash = service.flowHash(h.srcAddress(), h.srcPort());
        Backend backend = service.pick(hash);
        if (backend == null) {
            return drop(DropReason.NO_BACKEND);
        }
        int snatPort = backend.snatPorts().allocate(h.srcPort(), (int) hash);
        if (snatPort < 0) {
            return drop(DropReason.SNAT_PORTS_EXHAUSTED);
        }
        int result = flows.insert(h.protocol(), h.srcAddress(), h.srcPort(), h.dstAddress(), h.dstPort(),
                backend.address(), backend.port(), service.snatAddress(), snatPort, backend.snatPorts().id(),
                tcp ? FlowState.TCP_SYN_SENT : FlowState.UDP_UNREPLIED, now, service.maxFlowsPerClient(), flow);
        if (result < 0) {
            backend.snatPorts().release(snatPort);
            switch (result) {
                case FlowTable.INSERT_EXISTS -> {
                    // Another event loop created this flow a moment ago: follow its mapping.
                    return tracked(h, now);
                }
                case FlowTable.INSERT_TABLE_FULL -> {
                    return drop(DropReason.TABLE_FULL);
                }
                case FlowTable.INSERT_EMBRYONIC_LIMIT -> {
                    return drop(DropReason.EMBRYONIC_LIMIT);
                }
                case FlowTable.INSERT_CLIENT_FLOW_LIMIT -> {
                    return drop(DropReason.CLIENT_FLOW_LIMIT);
                }
                default -> {
                    return drop(DropReason.TUPLE_IN_USE);
                }
            }
        }
        counters.flowsCreated++;
        if (tcp) {
            flows.checkSegment(flow, h); // the SYN starts the client's sequence tracking
        }
        return translate(h, now);
    }

    /**
     * A packet of a tracked flow: a TCP segment is checked against the flow's window first, so a
     * blind RST or FIN neither ends the flow nor reaches the endpoint (RFC 5961 §3), then it
     * moves the flow's state and is translated.
     */
    private Verdict tracked(PacketHeaders h, long now) {
        int flags = h.tcpFlags();
        if (h.protocol() == Ipv4.PROTO_TCP) {
            switch (flows.checkSegment(flow, h)) {
                case OUT_OF_WINDOW -> {
                    if ((flags & TcpFlags.RST) != 0) {
                        return drop(DropReason.RST_OUT_OF_WINDOW);
                    }
                    if ((flags & TcpFlags.FIN) != 0) {
                        return drop(DropReason.FIN_OUT_OF_WINDOW);
                    }
                }
                case RST_NOT_EXACT -> {
                    counters.rstsChallenged++;
                    flags &= ~TcpFlags.RST; // the endpoint answers it with a challenge ACK; the flow stays
                }
                case IN_WINDOW -> {
                }
            }
        }
        FlowState state = flows.observe(flow, flags, now);
        if (fastPath != null) {
            handOver(state);
        }
        return translate(h, now);
    }

    /**
     * A flow decided (TCP established, UDP a stream) goes to the fast path, once; one that
     * starts to close comes back, so the engine sees the rest of its end (the program passes
     * FIN and RST on, and this packet is one of them).
     */
    private void handOver(FlowState state) {
        if (state == FlowState.TCP_ESTABLISHED || state == FlowState.UDP_ASSURED) {
            if (flows.markFast(flow) && !fastPath.install(flow)) {
                flows.unmarkFast(flow); // the map is full: the flow stays on the slow path (counted)
            }
        } else if (!state.embryonic() && flows.unmarkFast(flow)) {
            fastPath.remove(flow);
        }
    }

    /** Rewrites a packet of the flow in {@link #flow} according to its direction. */
    private Verdict translate(PacketHeaders h, long now) {
        FlowLookup f = flow;
        int newSrc;
        int newDst;
        if (f.direction() == FlowDirection.ORIGINAL) {
            newSrc = f.snatAddress();
            newDst = f.backendAddress();
            NatRewriter.rewrite(h, newSrc, f.snatPort(), newDst, f.backendPort());
        } else {
            newSrc = f.vipAddress();
            newDst = f.clientAddress();
            NatRewriter.rewrite(h, newSrc, f.vipPort(), newDst, f.clientPort());
        }
        if (h.isFragment()) {
            fragments.put(h.srcAddress(), h.dstAddress(), h.protocol(), h.ipId(), newSrc, newDst, h.l4Length(), now);
            if (hold != null) {
                hold.release(h.srcAddress(), h.dstAddress(), h.protocol(), h.ipId());
            }
        }
        counters.forwarded++;
        return Verdict.FORWARD;
    }

    private Verdict laterFragment(PacketHeaders h, long now) {
        long rewrite = fragments.get(h.srcAddress(), h.dstAddress(), h.protocol(), h.ipId(), now);
        if (rewrite == 0) {
            return holdBack(h, now);
        }
        if (h.fragmentOffsetBytes() < fragments.covered(h.srcAddress(), h.dstAddress(), h.protocol(), h.ipId(), now)) {
            // It would overwrite bytes the first fragment carried — the transport header among them.
            return drop(DropReason.FRAGMENT_OVERLAP);
        }
        NatRewriter.rewriteAddresses(h, (int) (rewrite >>> 32), (int) rewrite);
        counters.forwarded++;
        return Verdict.FORWARD;
    }

    /** A later fragment ahead of its first: held until the first has passed, if there is room. */
    private Verdict holdBack(PacketHeaders h, long now) {
        if (hold == null) {
            return drop(DropReason.FRAGMENT_WITHOUT_FIRST);
        }
        return switch (hold.hold(h.buffer(), h.totalLength(), h.srcAddress(), h.dstAddress(), h.protocol(), h.ipId(), now)) {
            case HELD -> {
                counters.fragmentsHeld++;
                yield Verdict.HELD;
            }
            case FULL -> drop(DropReason.FRAGMENT_HOLD_FULL);
            case TOO_LARGE -> drop(DropReason.FRAGMENT_WITHOUT_FIRST);
        };
    }

    /** A held fragment whose first has passed, translated into {@code out}; those that now fail the checks are dropped and counted. */
    @Override
    public boolean nextReleased(ByteBuf out, long nowMillis) {
        if (hold == null || !hold.anyReady()) {
            return false;
        }
        int start = out.readerIndex();
        while (hold.take(out)) {
            if (embedded.parse(out) && embedded.isNonFirstFragment() && laterFragment(embedded, nowMillis) == Verdict.FORWARD) {
                return true;
            }
            out.setIndex(start, start); // dropped (and counted) or held again: the next one
        }
        return false;
    }

    private Verdict icmp(PacketHeaders h) {
        if (h.isFragment()) {
            return drop(DropReason.ICMP_UNSUPPORTED);
        }
        return switch (h.icmpType()) {
            case PacketHeaders.ICMP_ECHO_REQUEST -> services.current().isLocalAddress(h.dstAddress())
                    ? echoReply(h) : drop(DropReason.NO_SERVICE);
            case PacketHeaders.ICMP_DEST_UNREACHABLE, PacketHeaders.ICMP_TIME_EXCEEDED -> icmpError(h);
            default -> drop(DropReason.ICMP_UNSUPPORTED);
        };
    }

    private Verdict icmpError(PacketHeaders h) {
        DropReason refused = IcmpErrorTranslator.translate(h, embedded, flows, flow);
        if (refused != null) {
            return drop(refused);
        }
        counters.icmpErrorsTranslated++;
        counters.forwarded++;
        return Verdict.FORWARD;
    }

    private Verdict echoReply(PacketHeaders h) {
        IcmpEcho.turnIntoReply(h);
        counters.replied++;
        return Verdict.REPLY;
    }

    private Verdict drop(DropReason reason) {
        lastDropReason = reason;
        counters.drops[reason.ordinal()]++;
        return Verdict.DROP;
    }

    /** Why the last {@link Verdict#DROP} was given. */
    public DropReason lastDropReason() {
        return lastDropReason;
    }

    public DataplaneCounters counters() {
        return counters;
    }
}
