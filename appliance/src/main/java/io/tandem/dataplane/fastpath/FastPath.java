package io.tandem.dataplane.fastpath;

import io.tandem.config.DataplaneConfig;
import io.tandem.config.FastPathAttach;
import io.tandem.conntrack.FastPathHook;
import io.tandem.conntrack.FlowFields;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The fast path at work: the program loaded, attached to the ingress of the front and back
 * interfaces (tc {@code clsact} with a direct-action filter, through libbpf), and the flows the
 * engine decided installed in its map, each in both directions — the original one leaves by the
 * back interface, the reply by the front. Implements the table's {@link FastPathHook}: a flow's
 * entries go with it, and its idle time is asked of the kernel before it expires.
 */
public final class FastPath implements FastPathHook, AutoCloseable {
    private static final int EEXIST = 17;
    /** Our filter's handle and priority on each interface's ingress: "ta" 1. */
    private static final int HANDLE = 0x7461;
    private static final int PRIORITY = 1;

    private final FastPathProgram program;
    private final int frontIfindex;
    private final int backIfindex;
    private final Arena arena = Arena.ofShared();
    private final AtomicLong installed = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    /** The flow table's IPv6 address arena: an IPv6 flow's addresses are ids in it. */
    private volatile Ipv6Addresses addresses6;
    private final Path pinDir;
    private final FastPathAttach attachMode;
    /** Per interface (front, back): the tcx link's fd, 0 for a tc filter, -1 when not attached. */
    private int frontLink = -1;
    private int backLink = -1;
    /** Why a link could not be pinned (a restart then re-attaches), or null. */
    private String linkPinFailure;
    /** What an earlier tandemd left and what became of it, or null. */
    private String leftovers;
    /** Why the maps are not pinned, or null when they are. */
    private String unpinned;
    private final PolicyPublisher policy;
    /** The segments the program forwarded and reported, once {@link #startReports} ran. */
    private volatile SegmentReports reports;

    private FastPath(FastPathProgram program, int frontIfindex, int backIfindex, Path pinDir, FastPathAttach attachMode) {
        this.program = program;
        this.frontIfindex = frontIfindex;
        this.backIfindex = backIfindex;
        this.pinDir = pinDir;
        this.attachMode = attachMode;
        this.policy = new PolicyPublisher(program, frontIfindex, backIfindex);
    }

    /**
     * Loads the program with room for {@code maxFlows} flows and attaches it to both interfaces.
     *
     * @throws FastPathProgram.FastPathException what failed; nothing is left attached
     */
    public static FastPath start(String frontInterface, String backInterface, int maxFlows) throws FastPathProgram.FastPathException {
        return start(frontInterface, backInterface, maxFlows, null, FastPathAttach.AUTO);
    }

    /**
     * As {@link #start(String, String, int)}, the flow map pinned in {@code pinDir} when that is
     * (or can be made, inside) a bpffs mount: a map pinned there before is reused, with the flows
     * the kernel kept forwarding. Otherwise unpinned ({@link #pinned()} null).
     */
    public static FastPath start(String frontInterface, String backInterface, int maxFlows, Path pinDir, FastPathAttach attach)
            throws FastPathProgram.FastPathException {
        return start(frontInterface, ifindex(frontInterface), backInterface, ifindex(backInterface), maxFlows, pinDir, attach);
    }

    /** As {@link #start(String, String, int, Path, FastPathAttach)}, the interfaces given by index too. */
    public static FastPath start(String frontInterface, int front, String backInterface, int back, int maxFlows, Path pinDir,
                                 FastPathAttach attach) throws FastPathProgram.FastPathException {
        String unpinned = pinDir == null ? "no pin directory is configured" : unpinnedBecause(pinDir);
        Path pin = unpinned == null ? pinDir : null;
        int entries = (int) Math.min(Integer.MAX_VALUE, 2L * maxFlows);
        String found = null;
        List<PinnedLeftovers.Entry> carried = List.of();
        if (pin != null) {
            PinnedLeftovers left = PinnedLeftovers.inspect(pin);
            try {
                if (left.layout() == PinnedLeftovers.Layout.NONE) {
                    found = null;
                } else if (left.adoptable(entries)) {
                    found = "adopted as they are: " + left.description();
                } else if (left.carriable()) {
                    carried = left.carry();
                    found = "carried into new maps of " + entries + " entries (" + carried.size() + " entries; the old program forwarded"
                            + " them until this one took its place): " + left.description();
                } else {
                    found = "removed, not a layout this tandemd knows (" + left.description() + "): "
                            + PinnedLeftovers.removeAll(pin, front, back);
                }
            } catch (IOException | RuntimeException e) {
                throw new FastPathProgram.FastPathException("cannot take over what is pinned in " + pin + " (" + left.description() + "): " + e);
            }
        }
        FastPathProgram program = FastPathProgram.load(entries, pin == null ? null : mapPin(pin),
                pin == null ? null : pin.resolve(DataplaneConfig.FAST_PATH_MAP6));
        int lost = 0;
        for (PinnedLeftovers.Entry e : carried) {
            if (program.importEntry(e.ipv6(), e.key(), e.value()) < 0) {
                lost++; // the new map is smaller than the old one's flows: the rest go through the engine
            }
        }
        FastPath path = new FastPath(program, front, back, pin, attach);
        path.unpinned = unpinned;
        path.leftovers = found == null ? null : found + (lost > 0 ? "; " + lost + " entries did not fit" : "");
        try {
            path.frontLink = path.attach(front, frontInterface, "front");
            path.backLink = path.attach(back, backInterface, "back");
            return path;
        } catch (FastPathProgram.FastPathException e) {
            path.close();
            throw e;
        }
    }

    /** Why the maps are not pinned (a restart then loses the flows the fast path carries), or null when they are. */
    public String unpinnedBecause() {
        return unpinned;
    }

    /**
     * What an earlier tandemd left in the kernel and what this one did with it (adopted, carried
     * into new maps, or removed), or null if there was nothing.
     */
    public String leftovers() {
        return leftovers;
    }

    /**
     * Removes whatever an earlier tandemd left attached to the two interfaces and pinned in
     * {@code pinDir} ({@code dataplane.fast_path: off} after {@code on}, or a start that cannot
     * use it): its program detached (tcx or tc clsact), its pins unlinked. Returns what it
     * removed, or "nothing".
     */
    public static String removeLeftovers(String frontInterface, String backInterface, Path pinDir) throws FastPathProgram.FastPathException {
        if (!Libbpf.available()) {
            return "nothing (no libbpf: nothing can have been attached by it)";
        }
        return removeLeftovers(ifindex(frontInterface), ifindex(backInterface), pinDir);
    }

    /** As {@link #removeLeftovers(String, String, Path)}, the interfaces given by index. */
    public static String removeLeftovers(int frontIfindex, int backIfindex, Path pinDir) throws FastPathProgram.FastPathException {
        Path pin = pinDir == null ? null : pinDirectory(pinDir);
        try {
            return PinnedLeftovers.removeAll(pin, frontIfindex, backIfindex);
        } catch (IOException e) {
            throw new FastPathProgram.FastPathException("cannot remove what is pinned in " + pin + ": " + e);
        }
    }

    /** Deletes our tc filter ("ta" 1) from an interface's ingress; true if there was one. */
    static boolean detachTcFilter(int ifindex) {
        try (Arena a = Arena.ofConfined()) {
            return Libbpf.tcDetach(hook(a, ifindex), opts(a)) == 0;
        }
    }

    /** {@code dir} if it is on a bpffs (made there if missing), else null: pins need a bpffs. */
    private static Path pinDirectory(Path dir) {
        return unpinnedBecause(dir) == null ? dir : null;
    }

    /**
     * Null if {@code dir} is (or was just made) a directory on a bpffs this process can use;
     * else why the maps cannot be pinned there.
     */
    static String unpinnedBecause(Path dir) {
        Path existing = dir;
        try {
            while (existing != null && !Files.exists(existing)) {
                existing = existing.getParent();
            }
            if (existing == null || !"bpf".equals(Files.getFileStore(existing).type())) {
                return dir + " is not on a bpffs (mount -t bpf bpf DIR)";
            }
            Files.createDirectories(dir);
            if (!Files.isWritable(dir) || !Files.isExecutable(dir)) {
                throw new IOException("not writable");
            }
            return null;
        } catch (IOException e) {
            return dir + " is on a bpffs but this user (" + System.getProperty("user.name") + ") cannot make or use it (" + e
                    + "): systemd mounts /sys/fs/bpf for root alone; tandemd.service's ExecStartPre=+ tandemd-prepare-pins makes"
                    + " the directory the service user's";
        }
    }

    /** The loaded program (tests read its maps). */
    FastPathProgram program() {
        return program;
    }

    /** Where the flow map is pinned, or null when it is not (no bpffs): a restart then loses the fast path's flows. */
    public Path pinned() {
        return pinDir == null ? null : mapPin(pinDir);
    }

    private static Path mapPin(Path dir) {
        return dir.resolve(DataplaneConfig.FAST_PATH_MAP);
    }

    /**
     * The flows the pinned map holds — those the kernel kept forwarding while no tandemd ran —
     * handed to {@code visitor} as the engine's records (established or a UDP stream), once per
     * flow (its original direction, the one that leaves by the back interface).
     */
    public int forEachKept(Consumer<FlowSnapshot> visitor) {
        int[] count = {0};
        long nowMillis = System.currentTimeMillis();
        long nowNanos = System.nanoTime();
        program.forEach(e -> {
            if (e.ifindex() != backIfindex) {
                return; // a reply direction: its flow comes with the original one
            }
            FastPathProgram.Seen reply = program.seen(e.proto(), e.newDst(), e.newDstPort(), e.newSrc(), e.newSrcPort());
            int replyFlags = reply == null ? 0 : reply.flags();
            FlowSnapshot record = new FlowSnapshot().setKey(e.proto(), e.src(), e.srcPort(), e.dst(), e.dstPort())
                    .setMapping(e.newDst(), e.newDstPort(), e.newSrc(), e.newSrcPort())
                    .setState(keptState(e.proto(), e.flags(), replyFlags), finFromReply(e.flags(), replyFlags),
                            seen(e.lastSeenNanos(), nowMillis, nowNanos), 0);
            visitor.accept(record);
            count[0]++;
        });
        Ipv6Addresses a = addresses6;
        if (a != null) {
            program.forEach6(e -> {
                if (e.ifindex() != backIfindex) {
                    return;
                }
                FastPathProgram.Seen reply = program.seen6(e.proto(), e.newDst(), e.newDstPort(), e.newSrc(), e.newSrcPort());
                if (keep6(a, e, reply == null ? 0 : reply.flags(), nowMillis, nowNanos, visitor)) {
                    count[0]++;
                }
            });
        }
        return count[0];
    }

    /**
     * An IPv6 flow the kernel kept: its addresses entered in the arena for the visit (the table,
     * adopting it, holds references of its own), as the standby enters a peer's records. False
     * when the arena is full: the flow is left to time out in the kernel.
     */
    private static boolean keep6(Ipv6Addresses a, FastPathProgram.Entry6 e, int replyFlags, long nowMillis, long nowNanos,
                                 Consumer<FlowSnapshot> visitor) {
        FlowSnapshot record = new FlowSnapshot().setKey(FlowProtocol.of(e.proto(), true), 0, e.srcPort(), 0, e.dstPort())
                .setMapping(0, e.newDstPort(), 0, e.newSrcPort())
                .setState(keptState(e.proto(), e.flags(), replyFlags), finFromReply(e.flags(), replyFlags),
                        seen(e.lastSeenNanos(), nowMillis, nowNanos), 0);
        // client, VIP, backend (the original direction's new destination), SNAT address (its new source)
        if (!a.acquireFlow(record, e.src()[0], e.src()[1], e.dst()[0], e.dst()[1], e.newDst()[0], e.newDst()[1],
                e.newSrc()[0], e.newSrc()[1])) {
            return false;
        }
        try {
            visitor.accept(record);
            return true;
        } finally {
            a.releaseFlow(record);
        }
    }

    /**
     * The state of a flow the kernel kept, from what the program noted in its two entries: a FIN
     * in both directions, TIME_WAIT; in one, FIN_WAIT; the SYN-ACK still awaited, SYN_SENT; the
     * handshake's ACK, SYN_RECV (the table keeps neither in the fast path: those go on through TUN).
     */
    static FlowState keptState(int transport, int originalFlags, int replyFlags) {
        if (transport != Ipv4.PROTO_TCP) {
            return FlowState.UDP_ASSURED;
        }
        boolean clientFin = (originalFlags & FastPathProgram.NAT_FIN_SEEN) != 0;
        boolean backendFin = (replyFlags & FastPathProgram.NAT_FIN_SEEN) != 0;
        if (clientFin && backendFin) {
            return FlowState.TCP_TIME_WAIT;
        }
        if (clientFin || backendFin) {
            return FlowState.TCP_FIN_WAIT;
        }
        if ((replyFlags & FastPathProgram.NAT_AWAIT_SYNACK) != 0) {
            return FlowState.TCP_SYN_SENT;
        }
        return (originalFlags & FastPathProgram.NAT_REPORT_ACK) != 0 ? FlowState.TCP_SYN_RECV : FlowState.TCP_ESTABLISHED;
    }

    /** Whether the backend closed first (only its FIN went through here). */
    static boolean finFromReply(int originalFlags, int replyFlags) {
        return (replyFlags & FastPathProgram.NAT_FIN_SEEN) != 0 && (originalFlags & FastPathProgram.NAT_FIN_SEEN) == 0;
    }

    /** The wall-clock time of the kernel's last-seen stamp (monotonic nanoseconds; 0: never). */
    private static long seen(long lastSeenNanos, long nowMillis, long nowNanos) {
        return lastSeenNanos == 0 ? nowMillis : nowMillis - Math.max(0, nowNanos - lastSeenNanos) / 1_000_000;
    }

    private static int ifindex(String name) throws FastPathProgram.FastPathException {
        try {
            return Integer.parseInt(Files.readString(Path.of("/sys/class/net", name, "ifindex")).strip());
        } catch (IOException | NumberFormatException e) {
            throw new FastPathProgram.FastPathException("no interface " + name + " to attach the fast path to (" + e + ")");
        }
    }

    /** How the program is attached: {@code tcx} (a BPF link) or {@code tc} (a clsact filter). */
    public String attachment() {
        return frontLink > 0 ? "tcx" : "tc clsact";
    }

    /** Why a tcx link could not be pinned, or null. */
    public String linkPinFailure() {
        return linkPinFailure;
    }

    /**
     * Attaches to one interface's ingress: a tcx link where the kernel has tcx (6.6+) and the
     * mode allows — pinned beside the map, or the pinned one a previous tandemd left taken over
     * with {@code bpf_link_update}, so the attachment never lapses — else a tc clsact filter.
     *
     * @return the link's fd, or 0 for a tc filter
     */
    private int attach(int ifindex, String name, String role) throws FastPathProgram.FastPathException {
        if (attachMode != FastPathAttach.TC) {
            int link = tcxLink(ifindex, role);
            if (link > 0) {
                detachTc(ifindex); // a filter an older tandemd left: the program would run twice
                return link;
            }
            if (attachMode == FastPathAttach.TCX) {
                throw new FastPathProgram.FastPathException("cannot attach the fast path to " + name + "'s ingress with tcx (errno "
                        + -link + "; Linux 6.6 or later; dataplane.fast_path_attach: tc uses a clsact filter)");
            }
        }
        attachTc(ifindex, name);
        dropPinnedLink(role); // a tcx link an earlier tandemd pinned: the program would run twice
        return 0;
    }

    private void dropPinnedLink(String role) {
        try {
            PinnedLeftovers.dropPinnedLink(pinDir, role);
        } catch (IOException e) {
            // detached already: the pin alone holds nothing attached
        }
    }

    private int tcxLink(int ifindex, String role) {
        Path linkPin = pinDir == null ? null : pinDir.resolve(role + ".link");
        if (linkPin != null && Files.exists(linkPin)) {
            int kept = Libbpf.objGet(arena.allocateFrom(linkPin.toString()));
            if (kept > 0 && Libbpf.linkUpdate(kept, program.programFd()) == 0) {
                return kept;
            }
            try {
                Files.deleteIfExists(linkPin); // not a link of ours any more: start afresh
            } catch (IOException e) {
                return -1;
            }
        }
        int link = Libbpf.linkCreate(program.programFd(), ifindex, Libbpf.BPF_TCX_INGRESS);
        if (link > 0 && linkPin != null) {
            int rc = Libbpf.objPin(link, arena.allocateFrom(linkPin.toString()));
            if (rc < 0) {
                // An unpinned link ends with this process, and the kernel would stop forwarding
                // while tandemd restarts: a tc filter, which outlives it, is used instead.
                linkPinFailure = (linkPinFailure == null ? "" : linkPinFailure + "; ") + "pinning the " + role + " tcx link at " + linkPin
                        + " failed (errno " + -rc + "): attached with tc clsact instead, which outlives a restart";
                LinuxFd.close(link);
                return rc;
            }
        }
        return link;
    }

    private void attachTc(int ifindex, String name) throws FastPathProgram.FastPathException {
        MemorySegment hook = hook(arena, ifindex);
        int rc = Libbpf.tcHookCreate(hook);
        if (rc < 0 && rc != -EEXIST) {
            throw new FastPathProgram.FastPathException("cannot add the clsact qdisc on " + name + " (errno " + -rc + ")");
        }
        MemorySegment opts = opts(arena);
        opts.set(ValueLayout.JAVA_INT, Libbpf.TC_OPTS_PROG_FD, program.programFd());
        opts.set(ValueLayout.JAVA_INT, Libbpf.TC_OPTS_FLAGS, Libbpf.BPF_TC_F_REPLACE);
        rc = Libbpf.tcAttach(hook, opts);
        if (rc < 0) {
            throw new FastPathProgram.FastPathException("cannot attach the fast path to " + name + "'s ingress (errno " + -rc + ")");
        }
    }

    private void detachTc(int ifindex) {
        Libbpf.tcDetach(hook(arena, ifindex), opts(arena)); // handle and priority only: that names our filter
    }

    /** Ends one interface's attachment: the tc filter removed, or the link unpinned and closed (which detaches it). */
    private void detach(int ifindex, int link, String role) {
        if (link == 0) {
            detachTc(ifindex);
        } else if (link > 0) {
            if (pinDir != null) {
                try {
                    Files.deleteIfExists(pinDir.resolve(role + ".link"));
                } catch (IOException e) {
                    // the pin stays; the next start takes it over
                }
            }
            LinuxFd.close(link);
        }
    }

    private static MemorySegment hook(Arena arena, int ifindex) {
        MemorySegment hook = arena.allocate(Libbpf.TC_HOOK_SIZE, 8);
        hook.set(ValueLayout.JAVA_LONG, 0, Libbpf.TC_HOOK_SIZE);
        hook.set(ValueLayout.JAVA_INT, Libbpf.TC_HOOK_IFINDEX, ifindex);
        hook.set(ValueLayout.JAVA_INT, Libbpf.TC_HOOK_ATTACH_POINT, Libbpf.BPF_TC_INGRESS);
        return hook;
    }

    private static MemorySegment opts(Arena arena) {
        MemorySegment opts = arena.allocate(Libbpf.TC_OPTS_SIZE, 8);
        opts.set(ValueLayout.JAVA_LONG, 0, Libbpf.TC_OPTS_SIZE);
        opts.set(ValueLayout.JAVA_INT, Libbpf.TC_OPTS_HANDLE, HANDLE);
        opts.set(ValueLayout.JAVA_INT, Libbpf.TC_OPTS_PRIORITY, PRIORITY);
        return opts;
    }

    /**
     * Starts reading the segments the program forwards and reports (the backend's SYN-ACK, the
     * handshake's last ACK, FINs at their exact sequence number), each handed to {@code listener}
     * on a thread of its own.
     */
    public void startReports(SegmentReports.Listener listener) throws FastPathProgram.FastPathException {
        reports = SegmentReports.start(program, listener);
    }

    /**
     * Publishes the engine's policy for the program to create flows by: backends first, then each
     * service whose table changed (a new inner table swapped in whole), then the removal of those
     * gone, then the box's config with flow creation on ({@code create}: the engine reads the
     * reports). Off the hot path; one caller at a time.
     *
     * @return null, or what failed (the program then leaves those services' new flows to the engine)
     */
    public String publish(KernelPolicy policy, boolean create) {
        return this.policy.publish(policy, create);
    }

    /**
     * Claims a flow's reply tuple for the engine ({@code NAT_CLAIM}): a flow the engine created and
     * forwards itself. True if claimed (or this box has no IPv6 arena yet); false if the program
     * created a flow with that tuple first (its report is on the way): the caller takes another port.
     */
    public boolean claim(int protocol, int backend, int backendPort, int snat, int snatPort) {
        if (FlowProtocol.isIpv6(protocol)) {
            if (addresses6 == null) {
                return true;
            }
            return program.claim6(FlowProtocol.transport(protocol), address(backend), backendPort, address(snat), snatPort) != -EEXIST;
        }
        return program.claim(protocol, backend, backendPort, snat, snatPort) != -EEXIST;
    }

    /** Installs both directions of a decided flow; false (counted) when the map has no room: it stays on the slow path. */
    @Override
    public boolean install(FlowFields f) {
        return install(f, false, false, -1, -1);
    }

    /**
     * Installs both directions of a flow the engine decided here. {@code reportAck}: the engine
     * asks for the client's next ACK (the handshake's last); {@code awaitSynAck}: the flow is in
     * SYN_SENT, and of the backend's segments only its SYN-ACK may go fast (and is reported) until
     * then. The sequence ends (unsigned 32 bits, -1 unknown) are where each side stands, so a FIN
     * at exactly its place goes fast from the start. False (counted) when the map has no room.
     */
    public boolean install(FlowFields f, boolean reportAck, boolean awaitSynAck, long clientSeqEnd, long backendSeqEnd) {
        int askAck = reportAck ? FastPathProgram.NAT_REPORT_ACK : 0;
        int await = awaitSynAck ? FastPathProgram.NAT_AWAIT_SYNACK : 0;
        int original;
        int reply;
        if (f.ipv6()) {
            if (addresses6 == null) {
                return false;
            }
            int proto = FlowProtocol.transport(f.protocol());
            long[] client = address(f.clientAddress());
            long[] vip = address(f.vipAddress());
            long[] backend = address(f.backendAddress());
            long[] snat = address(f.snatAddress());
            original = program.install6(proto, client, f.clientPort(), vip, f.vipPort(), snat, f.snatPort(), backend, f.backendPort(),
                    backIfindex, askAck, clientSeqEnd);
            reply = original < 0 ? original : program.install6(proto, backend, f.backendPort(), snat, f.snatPort(), vip, f.vipPort(),
                    client, f.clientPort(), frontIfindex, await, backendSeqEnd);
        } else {
            original = program.install(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(),
                    f.snatAddress(), f.snatPort(), f.backendAddress(), f.backendPort(), backIfindex, askAck, clientSeqEnd);
            reply = original < 0 ? original : program.install(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(),
                    f.snatPort(), f.vipAddress(), f.vipPort(), f.clientAddress(), f.clientPort(), frontIfindex, await, backendSeqEnd);
        }
        if (reply < 0) {
            remove(f);
            refused.incrementAndGet();
            return false;
        }
        installed.incrementAndGet();
        return true;
    }

    /** Removes both directions (the flow is closing, or ended). */
    public void remove(FlowFields f) {
        if (f.ipv6()) {
            if (addresses6 != null) {
                int proto = FlowProtocol.transport(f.protocol());
                program.remove6(proto, address(f.clientAddress()), f.clientPort(), address(f.vipAddress()), f.vipPort());
                program.remove6(proto, address(f.backendAddress()), f.backendPort(), address(f.snatAddress()), f.snatPort());
            }
            return;
        }
        program.remove(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort());
        program.remove(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort());
    }

    @Override
    public void removed(FlowFields flow) {
        remove(flow);
    }

    /** Removes the reply direction's entry, or claim, alone (its original tuple is another flow's now, or was never claimed). */
    @Override
    public void replyReleased(FlowFields f) {
        if (f.ipv6()) {
            if (addresses6 != null) {
                program.remove6(FlowProtocol.transport(f.protocol()), address(f.backendAddress()), f.backendPort(), address(f.snatAddress()),
                        f.snatPort());
            }
            return;
        }
        program.remove(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort());
    }

    /** Removes both entries of an IPv6 flow the program created and the engine cannot take in ({@link FastPathProgram#discard6}). */
    public void discard6(int transport, long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort) {
        program.discard6(transport, new long[] {srcHigh, srcLow}, srcPort, new long[] {dstHigh, dstLow}, dstPort);
    }

    @Override
    public void handedBack(FlowFields f) {
        remove(f);
        claim(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort());
    }

    /** Drops a claim made by {@link #claim} for a flow that was not made after all. */
    public void unclaim(int protocol, int backend, int backendPort, int snat, int snatPort) {
        if (FlowProtocol.isIpv6(protocol)) {
            if (addresses6 != null) {
                program.remove6(FlowProtocol.transport(protocol), address(backend), backendPort, address(snat), snatPort);
            }
            return;
        }
        program.remove(protocol, backend, backendPort, snat, snatPort);
    }

    /** The kernel's last forwarding of either direction, as epoch ms (CLOCK_MONOTONIC, as System.nanoTime, mapped to the wall clock). */
    @Override
    public long lastForwardedMillis(FlowFields f) {
        FastPathProgram.Seen a = seen(f, true);
        FastPathProgram.Seen b = seen(f, false);
        long last = Math.max(a == null ? 0 : a.lastSeenNanos(), b == null ? 0 : b.lastSeenNanos());
        if (last == 0) {
            return 0;
        }
        return System.currentTimeMillis() - Math.max(0, System.nanoTime() - last) / 1_000_000;
    }

    @Override
    public boolean carriedBothWays(FlowFields f) {
        FastPathProgram.Seen client = seen(f, true);
        FastPathProgram.Seen backend = seen(f, false);
        return client != null && backend != null && client.packets() >= 2 && backend.packets() >= 2;
    }

    @Override
    public long sequenceEnd(FlowFields f, boolean fromClient) {
        FastPathProgram.Seen seen = seen(f, fromClient);
        return seen == null || !seen.sequenceKnown() ? -1 : seen.sequenceEnd() & 0xFFFFFFFFL;
    }

    @Override
    public void sequenceAdvanced(FlowFields f, boolean fromClient, long end) {
        if (f.ipv6()) {
            if (addresses6 != null) {
                int proto = FlowProtocol.transport(f.protocol());
                if (fromClient) {
                    program.advance6(proto, address(f.clientAddress()), f.clientPort(), address(f.vipAddress()), f.vipPort(), end);
                } else {
                    program.advance6(proto, address(f.backendAddress()), f.backendPort(), address(f.snatAddress()), f.snatPort(), end);
                }
            }
        } else if (fromClient) {
            program.advance(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort(), end);
        } else {
            program.advance(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort(), end);
        }
    }

    /** What the program saw of one direction: the client's ({@code fromClient}) or the backend's. */
    private FastPathProgram.Seen seen(FlowFields f, boolean fromClient) {
        if (f.ipv6()) {
            if (addresses6 == null) {
                return null;
            }
            int proto = FlowProtocol.transport(f.protocol());
            return fromClient
                    ? program.seen6(proto, address(f.clientAddress()), f.clientPort(), address(f.vipAddress()), f.vipPort())
                    : program.seen6(proto, address(f.backendAddress()), f.backendPort(), address(f.snatAddress()), f.snatPort());
        }
        return fromClient
                ? program.seen(f.protocol(), f.clientAddress(), f.clientPort(), f.vipAddress(), f.vipPort())
                : program.seen(f.protocol(), f.backendAddress(), f.backendPort(), f.snatAddress(), f.snatPort());
    }

    /** Hands the fast path the flow table's IPv6 address arena (IPv6 flows are forwarded once it has it). */
    public void setIpv6Addresses(Ipv6Addresses addresses6) {
        this.addresses6 = addresses6;
    }

    /** One IPv6 address of a flow, by its id: {high, low}. */
    private long[] address(int id) {
        Ipv6Addresses a = addresses6;
        return new long[] {a.high(id), a.low(id)};
    }

    /** Packets the program forwarded, summed over the CPUs. */
    public long forwarded() {
        return program.counter(FastPathProgram.FORWARDED);
    }

    /**
     * What the program passed on to the slow path, by reason (no entry, TCP flags, not simple, too
     * big, a full report ring), and the segments it forwarded and reported to the engine.
     */
    public String passedOn() {
        SegmentReports r = reports;
        return "no_entry=" + program.counter(FastPathProgram.NO_ENTRY) + " tcp_flags=" + program.counter(FastPathProgram.TCP_FLAGS)
                + " not_simple=" + program.counter(FastPathProgram.NOT_SIMPLE) + " too_big=" + program.counter(FastPathProgram.TOO_BIG)
                + " ring_full=" + program.counter(FastPathProgram.RING_FULL) + " malformed=" + program.counter(FastPathProgram.MALFORMED)
                + " not_for_us=" + program.counter(FastPathProgram.NOT_FOR_US) + " engine_policy=" + program.counter(FastPathProgram.ENGINE_POLICY)
                + " no_backend=" + program.counter(FastPathProgram.NO_BACKEND) + " snat_busy=" + program.counter(FastPathProgram.SNAT_BUSY)
                + " table_full=" + program.counter(FastPathProgram.TABLE_FULL) + " claimed=" + program.counter(FastPathProgram.CLAIMED)
                + "; reported=" + program.counter(FastPathProgram.REPORTED)
                + (r == null ? "" : " read=" + r.delivered() + " unreadable=" + r.malformed() + (r.failure() == null ? "" : " (" + r.failure() + ")"));
    }

    /** The program's counters by name (what it forwarded, created, and passed on to the engine and why), summed over the CPUs. */
    public Map<String, Long> counters() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (int i = 0; i < FastPathProgram.COUNTER_NAMES.size(); i++) {
            out.put(FastPathProgram.COUNTER_NAMES.get(i), program.counter(i));
        }
        return out;
    }

    /** Flows the program created (each a TCP SYN or a UDP flow's first datagram it decided itself). */
    public long created() {
        return program.counter(FastPathProgram.CREATED);
    }

    /** Flows the engine installed so far, and those the full map refused. */
    public long installed() {
        return installed.get();
    }

    public long refused() {
        return refused.get();
    }

    /** Detaches from both interfaces (the flows go on through TUN), then unloads. */
    @Override
    public void close() {
        close(false);
    }

    /**
     * Stops using the fast path. With {@code keepForwarding} and a pinned map, the program stays
     * attached and its map pinned: the kernel goes on forwarding the decided flows until the next
     * tandemd adopts them (a restart). Otherwise detaches first and unlinks the pins: nothing
     * forwards those entries any more, and a next tandemd must not take them for live flows.
     */
    public void close(boolean keepForwarding) {
        SegmentReports r = reports;
        if (r != null) {
            r.close();
        }
        if (keepForwarding && pinDir != null) {
            LinuxFd.close(frontLink); // the pinned links keep the program attached
            LinuxFd.close(backLink);
        } else {
            detach(frontIfindex, frontLink, "front");
            detach(backIfindex, backLink, "back");
            if (pinDir != null) {
                try {
                    PinnedLeftovers.unpinMaps(pinDir);
                } catch (IOException e) {
                    // the next start finds them, and takes them over or removes them
                }
            }
        }
        program.close();
        arena.close();
    }
}
