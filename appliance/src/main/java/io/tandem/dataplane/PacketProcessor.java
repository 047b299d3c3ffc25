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
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPool;
import io.tandem.dataplane.fastpath.FastPath;
import io.tandem.dataplane.tun.PacketHandler;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.IcmpEcho;
import io.tandem.packet.Ipv4;
import io.tandem.packet.Ipv6;
import io.tandem.packet.NatRewriter;
import io.tandem.packet.PacketHeaders;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TcpReset;

/**
 * The full-NAT engine for one event loop. Given one IPv4 or IPv6 packet that policy routing
 * steered to the box (to a VIP from the front, or to a SNAT address from the back), it
 * rewrites the packet in place and says what to do with it:
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
 * An IPv6 packet takes the same paths (NAT66: no header checksum; the transport checksum
 * covers the 128-bit addresses). The tables key its addresses by their ids in the flow table's
 * {@link Ipv6Addresses} ({@link #keys}): a packet finds them without interning anything, a
 * new flow's client address is entered when the flow is.
 *
 * <p>Not thread-safe: one per event loop. The flow table and fragment table are shared.
 * Allocates nothing per packet.
 */
public final class PacketProcessor implements PacketHandler {
    /** Ports tried for a flow the engine creates before it gives up to the program's claims (each a port the program took a moment ago). */
    private static final int CLAIM_TRIES = 8;
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
    private final Ipv6Addresses addresses6;
    /** The packet's flow protocol and address keys ({@link #keys}): for IPv4 the addresses, for IPv6 their ids or NONE. */
    private int proto;
    private int src;
    private int dst;

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
        this.addresses6 = flows.ipv6Addresses();
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
        if (h.isIpv6() ? (h.dst6High() >>> 56) == 0xFF : (h.dstAddress() >>> 28) == 0xE) {
            return drop(DropReason.MULTICAST);
        }
        if (h.ttl() <= 1) {
            return drop(DropReason.TTL_EXPIRED);
        }
        keys(h);
        if (h.isNonFirstFragment()) {
            return laterFragment(h, nowMillis);
        }
        if (h.isIpv6()) {
            return switch (h.protocol()) {
                case Ipv4.PROTO_TCP, Ipv4.PROTO_UDP -> transport(h, nowMillis);
                case Ipv6.PROTO_ICMPV6 -> icmp6(h);
                default -> drop(DropReason.UNSUPPORTED_PROTOCOL);
            };
        }
        return switch (h.protocol()) {
            case Ipv4.PROTO_TCP, Ipv4.PROTO_UDP -> transport(h, nowMillis);
            case Ipv4.PROTO_ICMP -> icmp(h);
            default -> drop(DropReason.UNSUPPORTED_PROTOCOL);
        };
    }

    /**
     * Sets {@link #proto}, {@link #src} and {@link #dst} for this packet: for IPv4 its protocol
     * and addresses; for IPv6 the protocol with {@link FlowProtocol#IPV6} and the addresses' ids,
     * {@link Ipv6Addresses#NONE} for an address no flow or service holds (then no flow matches).
     */
    private void keys(PacketHeaders h) {
        if (h.isIpv6()) {
            proto = FlowProtocol.of(h.protocol(), true);
            src = addresses6.find(h.src6High(), h.src6Low());
            dst = addresses6.find(h.dst6High(), h.dst6Low());
        } else {
            proto = h.protocol();
            src = h.srcAddress();
            dst = h.dstAddress();
        }
    }

    /**
     * Whether the flow just looked up is this packet's: for IPv6, whether the ids found without
     * a lock still stand for the packet's addresses (an id freed and reused between the find and
     * the lookup would match another client's flow).
     */
    private boolean stillTheirs(PacketHeaders h) {
        return !h.isIpv6() || (addresses6.holds(src, h.src6High(), h.src6Low()) && addresses6.holds(dst, h.dst6High(), h.dst6Low()));
    }

    private Verdict transport(PacketHeaders h, long now) {
        boolean known = src != Ipv6Addresses.NONE && dst != Ipv6Addresses.NONE;
        if (known && flows.lookup(proto, src, dst, h.srcPort(), h.dstPort(), flow) && stillTheirs(h)) {
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
        Service service = dst == Ipv6Addresses.NONE ? null : services.current().find(dst, h.dstPort(), proto);
        if (service == null) {
            return drop(DropReason.NO_SERVICE);
        }
        boolean tcp = h.protocol() == Ipv4.PROTO_TCP;
        if (tcp && (h.tcpFlags() & (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.RST | TcpFlags.FIN)) != TcpFlags.SYN) {
            return drop(DropReason.TCP_NOT_SYN);
        }
        boolean v6 = h.isIpv6();
        if (!service.admits(v6 ? Service.clientKey6(h.src6High()) : src, now)) {
            return drop(DropReason.CLIENT_RATE_LIMIT);
        }
        long hash = v6 ? service.flowHash6(h.src6High(), h.src6Low(), h.srcPort()) : service.flowHash(src, h.srcPort());
        Backend backend = service.pick(hash);
        if (backend == null) {
            return drop(DropReason.NO_BACKEND);
        }
        int client = v6 ? addresses6.acquire(h.src6High(), h.src6Low()) : src;
        if (client == Ipv6Addresses.NONE) {
            return drop(DropReason.TABLE_FULL); // the arena holds the table's capacity and the config's: full table
        }
        int snatPort = claimedPort(backend, service, proto, h.srcPort(), (int) hash);
        int result = snatPort < 0 ? 0 : flows.insert(proto, client, h.srcPort(), dst, h.dstPort(),
                backend.address(), backend.port(), service.snatAddress(), snatPort, backend.snatPorts().id(),
                tcp ? FlowState.TCP_SYN_SENT : FlowState.UDP_UNREPLIED, now, service.maxFlowsPerClient(), flow);
        if (v6) {
            src = client; // a flow, if made, holds its own reference; the packet's key is the id now
            addresses6.release(client);
        }
        if (snatPort < 0) {
            return drop(DropReason.SNAT_PORTS_EXHAUSTED);
        }
        if (result < 0) {
            backend.snatPorts().release(snatPort);
            if (fastPath != null) {
                fastPath.unclaim(proto, backend.address(), backend.port(), service.snatAddress(), snatPort);
            }
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
            if (fastPath != null && !flows.halfOpenUnderPressure() && flows.markFast(flow)) {
                installFast(true, true);
            }
        }
        return translate(h, now);
    }

    /**
     * A SNAT port for a flow the engine creates, claimed in the fast path's map too when there is
     * one (the map is the one allocator, {@link FastPath#claim}): a port the program took a moment
     * ago for a flow of its own (its report not read yet) is given back to the pool, which the
     * report then reserves, and the next one is tried. -1: none free.
     */
    private int claimedPort(Backend backend, Service service, int proto, int clientPort, int hint) {
        SnatPortPool pool = backend.snatPorts();
        int port = pool.allocate(clientPort, hint);
        if (fastPath == null) {
            return port;
        }
        for (int tries = 0; port >= 0 && tries < CLAIM_TRIES; tries++) {
            if (fastPath.claim(proto, backend.address(), backend.port(), service.snatAddress(), port)) {
                return port;
            }
            pool.release(port);
            port = pool.allocate(port - pool.firstPort() + 1);
        }
        if (port >= 0) {
            pool.release(port);
        }
        return -1;
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
                case ACK_NOT_ACCEPTABLE -> {
                    counters.handshakeAcksRefused++;
                    return translate(h, now); // the backend resets it; the flow stays half-open, its time not renewed
                }
                case IN_WINDOW -> {
                }
            }
        }
        FlowState state = flows.observe(flow, flags, now);
        if (fastPath != null) {
            handOver(state, flags);
        }
        return translate(h, now);
    }

    /**
     * A TCP flow goes to the fast path when the engine has decided its SYN ({@link #newFlow}): the
     * program forwards and reports the backend's SYN-ACK, the handshake's last ACK and the FINs at
     * their exact place, and passes the rest of the SYNs and every RST on, so the engine sees each
     * segment that needs judging and follows the others ({@link FlowState#fastPathCarries}). A SYN-ACK
     * that came through the engine after all (the report ring was full, or the flow was not
     * installed under a flood of half-open flows, {@link FlowTable#halfOpenUnderPressure}) installs
     * it afresh, no longer awaiting one; so does a flow that got established on the slow path. A UDP
     * flow goes once it is a stream. A RST brings the flow back: its stragglers go through the engine.
     */
    private void handOver(FlowState state, int flags) {
        boolean synAck = state == FlowState.TCP_SYN_RECV && flow.direction() == FlowDirection.REPLY
                && (flags & (TcpFlags.SYN | TcpFlags.ACK)) == (TcpFlags.SYN | TcpFlags.ACK) && !flows.halfOpenUnderPressure();
        if (synAck) {
            flows.markFast(flow); // marked already if installed at the SYN: installed afresh all the same
            installFast(true, false);
        } else if (state.fastPathCarries()) {
            if (flows.markFast(flow)) {
                installFast(false, false);
            }
        } else if (!state.embryonic() && flows.unmarkFast(flow)) {
            fastPath.remove(flow);
            fastPath.claim(flow.protocol(), flow.backendAddress(), flow.backendPort(), flow.snatAddress(), flow.snatPort());
        }
    }

    /**
     * Installs the flow in {@link #flow} (marked fast by the caller) with where each side's
     * sequence stands; a full map unmarks it: it stays on the slow path (counted).
     */
    private void installFast(boolean reportAck, boolean awaitSynAck) {
        if (!fastPath.install(flow, reportAck, awaitSynAck, flows.sequenceEnd(flow, true), flows.sequenceEnd(flow, false))) {
            flows.unmarkFast(flow);
        }
    }

    /** Rewrites a packet of the flow in {@link #flow} according to its direction. */
    private Verdict translate(PacketHeaders h, long now) {
        FlowLookup f = flow;
        int newSrc;
        int newDst;
        int newSrcPort;
        int newDstPort;
        if (f.direction() == FlowDirection.ORIGINAL) {
            newSrc = f.snatAddress();
            newSrcPort = f.snatPort();
            newDst = f.backendAddress();
            newDstPort = f.backendPort();
        } else {
            newSrc = f.vipAddress();
            newSrcPort = f.vipPort();
            newDst = f.clientAddress();
            newDstPort = f.clientPort();
        }
        if (h.isIpv6()) {
            NatRewriter.rewrite6(h, addresses6.high(newSrc), addresses6.low(newSrc), newSrcPort,
                    addresses6.high(newDst), addresses6.low(newDst), newDstPort);
        } else {
            NatRewriter.rewrite(h, newSrc, newSrcPort, newDst, newDstPort);
        }
        if (h.isFragment()) {
            // Keyed by the packet's address keys as received: for IPv6 ids this flow holds.
            fragments.put(src, dst, proto, h.ipId(), newSrc, newDst, h.l4Length(), now);
            if (hold != null) {
                hold.release(src, dst, proto, h.ipId());
            }
        }
        counters.forwarded++;
        return Verdict.FORWARD;
    }

    private Verdict laterFragment(PacketHeaders h, long now) {
        if (src == Ipv6Addresses.NONE || dst == Ipv6Addresses.NONE) {
            // An IPv6 address no flow holds: its first fragment has not made a flow, and there
            // is no key to hold it under.
            return drop(DropReason.FRAGMENT_WITHOUT_FIRST);
        }
        long rewrite = fragments.get(src, dst, proto, h.ipId(), now);
        if (rewrite == 0) {
            return holdBack(h, now);
        }
        if (h.fragmentOffsetBytes() < fragments.covered(src, dst, proto, h.ipId(), now)) {
            // It would overwrite bytes the first fragment carried — the transport header among them.
            return drop(DropReason.FRAGMENT_OVERLAP);
        }
        int newSrc = (int) (rewrite >>> 32);
        int newDst = (int) rewrite;
        if (h.isIpv6()) {
            NatRewriter.rewriteAddresses6(h, addresses6.high(newSrc), addresses6.low(newSrc),
                    addresses6.high(newDst), addresses6.low(newDst));
        } else {
            NatRewriter.rewriteAddresses(h, newSrc, newDst);
        }
        counters.forwarded++;
        return Verdict.FORWARD;
    }

    /** A later fragment ahead of its first: held until the first has passed, if there is room. */
    private Verdict holdBack(PacketHeaders h, long now) {
        if (hold == null) {
            return drop(DropReason.FRAGMENT_WITHOUT_FIRST);
        }
        return switch (hold.hold(h.buffer(), h.totalLength(), src, dst, proto, h.ipId(), now)) {
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
            if (embedded.parse(out) && embedded.isNonFirstFragment()) {
                keys(embedded);
                if (laterFragment(embedded, nowMillis) == Verdict.FORWARD) {
                    return true;
                }
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

    /**
     * ICMPv6 (RFC 4443) steered here: echo to a VIP or SNAT address is answered; errors about a
     * tracked flow are translated. Neighbour discovery (133–137) stays with the kernel — policy
     * routing never steers it here — and anything else is dropped.
     */
    private Verdict icmp6(PacketHeaders h) {
        if (h.isFragment()) {
            return drop(DropReason.ICMP_UNSUPPORTED);
        }
        return switch (h.icmpType()) {
            case Ipv6.ICMPV6_ECHO_REQUEST -> dst != Ipv6Addresses.NONE && services.current().isLocalAddress6(dst)
                    ? echoReply(h) : drop(DropReason.NO_SERVICE);
            case Ipv6.ICMPV6_DEST_UNREACHABLE, Ipv6.ICMPV6_PACKET_TOO_BIG, Ipv6.ICMPV6_TIME_EXCEEDED -> icmpError(h);
            default -> drop(DropReason.ICMP_UNSUPPORTED);
        };
    }

    private Verdict echoReply(PacketHeaders h) {
        if (h.isIpv6()) {
            IcmpEcho.turnIntoReply6(h);
            counters.replied++;
            return Verdict.REPLY;
        }
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
