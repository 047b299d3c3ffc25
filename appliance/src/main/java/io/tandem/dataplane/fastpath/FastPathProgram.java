package io.tandem.dataplane.fastpath;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * The fast path's BPF program ({@code appliance/src/main/bpf/tandem_fastpath.c}, compiled into
 * the jar) loaded into the kernel through libbpf, and its maps: the flows the engine decided
 * ({@code tandem_flows4}) and the program's counters. One per box; thread-safe (the map calls
 * are system calls; the scratch buffers for keys and values are guarded).
 */
public final class FastPathProgram implements AutoCloseable {
    static final String OBJECT = "/bpf/tandem_fastpath.o";
    /** Bytes of a flow4_key and a flow4_nat, as the C program declares them. */
    static final int KEY_SIZE = BpfLayout.size("flow4_key");
    static final int VALUE_SIZE = BpfLayout.size("flow4_nat");
    /** A flow6_key and a flow6_nat. */
    static final int KEY6_SIZE = BpfLayout.size("flow6_key");
    static final int VALUE6_SIZE = BpfLayout.size("flow6_nat");
    /**
     * The layout of the pinned maps this program reads and writes, stamped beside them in the
     * pinned {@code layout} map: 3 is flows4 values of 48 bytes and flows6 values
     * of 72 in preallocated maps, the program creating entries itself; 2 the
     * same values in maps allocated as they filled; 1 was flows4 values of 40 bytes and no flows6.
     * A tandemd adopts only a layout it knows ({@link PinnedLeftovers}).
     */
    public static final int LAYOUT_VERSION = 3;
    /** The name of the layout stamp's pin, beside the flow maps'. */
    public static final String LAYOUT_PIN = "layout";
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** The program's return codes (linux/pkt_cls.h). */
    public static final int TC_ACT_OK = 0;
    public static final int TC_ACT_REDIRECT = 7;
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int LOG_SIZE = 1 << 20;
    /** flow4_nat.flags and flow6_nat.flags: see tandem_maps.h. */
    public static final int NAT_REPORT_ACK = 0x01;
    public static final int NAT_SEQ_KNOWN = 0x02;
    public static final int NAT_FIN_SEEN = 0x04;
    public static final int NAT_AWAIT_SYNACK = 0x08;
    public static final int NAT_CLAIM = 0x10;
    private static final long FLAGS_AT = BpfLayout.at("flow4_nat", "flags");
    private static final long SEQ_END_AT = BpfLayout.at("flow4_nat", "seq_end");
    private static final long FLAGS6_AT = BpfLayout.at("flow6_nat", "flags");
    private static final long SEQ_END6_AT = BpfLayout.at("flow6_nat", "seq_end");

    private final Arena arena;
    private final MemorySegment object;
    private final int programFd;
    private final int flowsFd;
    private final int flows6Fd;
    private final int countersFd;
    private final int eventsFd;
    private final MemorySegment key;
    private final MemorySegment value;
    private final MemorySegment key6;
    private final MemorySegment value6;
    private PolicyMaps policy;

    private FastPathProgram(Arena arena, MemorySegment object, int programFd, int flowsFd, int flows6Fd, int countersFd, int eventsFd) {
        this.arena = arena;
        this.object = object;
        this.programFd = programFd;
        this.flowsFd = flowsFd;
        this.flows6Fd = flows6Fd;
        this.countersFd = countersFd;
        this.eventsFd = eventsFd;
        this.key = arena.allocate(KEY_SIZE, 8);
        this.value = arena.allocate(VALUE_SIZE, 8);
        this.key6 = arena.allocate(KEY6_SIZE, 8);
        this.value6 = arena.allocate(VALUE6_SIZE, 8);
    }

    /** Why the fast path cannot be had: libbpf missing, the object refused, the verifier's words. */
    public static final class FastPathException extends Exception {
        public FastPathException(String message) {
            super(message);
        }
    }

    /**
     * Loads the program with room for {@code maxFlows} map entries (two a flow: one each way).
     *
     * @throws FastPathException naming what failed; a verifier refusal carries the verifier's log
     */
    public static FastPathProgram load(int maxEntries) throws FastPathException {
        return load(maxEntries, null);
    }

    /**
     * As {@link #load(int)}, the flow map pinned at {@code pinPath} (on a bpffs): reused if a map
     * is pinned there already — the flows a previous tandemd left the kernel forwarding — else
     * created and pinned there. Null: unpinned.
     */
    public static FastPathProgram load(int maxEntries, Path pinPath) throws FastPathException {
        return load(maxEntries, pinPath, null);
    }

    /** As {@link #load(int, Path)}, the IPv6 flow map pinned at {@code pinPath6} the same way (null: unpinned). */
    public static FastPathProgram load(int maxEntries, Path pinPath, Path pinPath6) throws FastPathException {
        if (!Libbpf.available()) {
            throw new FastPathException("libbpf.so.1 is not installed (Debian: libbpf1, RHEL: libbpf)");
        }
        byte[] bytes = objectBytes();
        Arena arena = Arena.ofShared();
        boolean loaded = false;
        MemorySegment obj = MemorySegment.NULL;
        try {
            MemorySegment image = arena.allocate(bytes.length, 8);
            image.copyFrom(MemorySegment.ofArray(bytes));
            MemorySegment log = arena.allocate(LOG_SIZE);
            MemorySegment opts = arena.allocate(Libbpf.OPEN_OPTS_SIZE, 8);
            opts.set(ValueLayout.JAVA_LONG, 0, Libbpf.OPEN_OPTS_SIZE);
            opts.set(ValueLayout.ADDRESS, Libbpf.OPEN_OPTS_LOG_BUF, log);
            opts.set(ValueLayout.JAVA_LONG, Libbpf.OPEN_OPTS_LOG_SIZE, LOG_SIZE);
            opts.set(ValueLayout.JAVA_INT, Libbpf.OPEN_OPTS_LOG_LEVEL, 0); // the log on failure only
            int[] errno = new int[1];
            obj = Libbpf.openMem(image, opts, errno);
            if (obj.equals(MemorySegment.NULL)) {
                throw new FastPathException("libbpf could not open " + OBJECT + " (errno " + errno[0] + ")");
            }
            List<String> differences = BpfLayout.differences(Libbpf.objectBtf(obj), BpfLayout.EXPECTED);
            if (!differences.isEmpty()) {
                throw new FastPathException(OBJECT + " does not lay out its maps' structs as tandemd reads and writes them (a program"
                        + " and a tandemd from different builds?): " + String.join("; ", differences));
            }
            MemorySegment flows = Libbpf.findMap(obj, arena.allocateFrom("tandem_flows4"));
            MemorySegment flows6 = Libbpf.findMap(obj, arena.allocateFrom("tandem_flows6"));
            MemorySegment counters = Libbpf.findMap(obj, arena.allocateFrom("tandem_counters"));
            MemorySegment events = Libbpf.findMap(obj, arena.allocateFrom("tandem_events"));
            MemorySegment layout = Libbpf.findMap(obj, arena.allocateFrom("tandem_layout"));
            MemorySegment program = Libbpf.findProgram(obj, arena.allocateFrom("tandem_fastpath"));
            MemorySegment[] policyMaps = new MemorySegment[PolicyMaps.NAMES.size()];
            for (int i = 0; i < policyMaps.length; i++) {
                policyMaps[i] = Libbpf.findMap(obj, arena.allocateFrom(PolicyMaps.NAMES.get(i)));
                if (policyMaps[i].equals(MemorySegment.NULL)) {
                    throw new FastPathException(OBJECT + " lacks " + PolicyMaps.NAMES.get(i));
                }
            }
            if (flows.equals(MemorySegment.NULL) || flows6.equals(MemorySegment.NULL) || counters.equals(MemorySegment.NULL)
                    || events.equals(MemorySegment.NULL) || layout.equals(MemorySegment.NULL) || program.equals(MemorySegment.NULL)) {
                throw new FastPathException(OBJECT + " lacks tandem_flows4, tandem_flows6, tandem_counters, tandem_events, tandem_layout"
                        + " or tandem_fastpath");
            }
            Libbpf.setMaxEntries(flows, Math.max(2, maxEntries));
            Libbpf.setMaxEntries(flows6, Math.max(2, maxEntries));
            if (pinPath != null) {
                Libbpf.setPinPath(flows, arena.allocateFrom(pinPath.toString()));
                Libbpf.setPinPath(layout, arena.allocateFrom(pinPath.resolveSibling(LAYOUT_PIN).toString()));
            }
            if (pinPath6 != null) {
                Libbpf.setPinPath(flows6, arena.allocateFrom(pinPath6.toString()));
            }
            int err = Libbpf.load(obj);
            if (err < 0) {
                String words = log.getString(0, StandardCharsets.UTF_8).strip();
                throw new FastPathException("the kernel refused the BPF program (errno " + -err + ")"
                        + (pinPath != null ? " (or a map pinned at " + pinPath + (pinPath6 != null ? " or " + pinPath6 : "")
                        + " does not fit: remove it to start afresh)" : "")
                        + (words.isEmpty() ? "" : "; the verifier said:\n" + words));
            }
            stamp(arena, Libbpf.mapFd(layout));
            FastPathProgram p = new FastPathProgram(arena, obj, Libbpf.programFd(program), Libbpf.mapFd(flows), Libbpf.mapFd(flows6),
                    Libbpf.mapFd(counters), Libbpf.mapFd(events));
            p.policy = new PolicyMaps(Libbpf.mapFd(policyMaps[0]), Libbpf.mapFd(policyMaps[1]), Libbpf.mapFd(policyMaps[2]),
                    Libbpf.mapFd(policyMaps[3]));
            loaded = true;
            return p;
        } finally {
            if (!loaded) {
                if (!obj.equals(MemorySegment.NULL)) {
                    Libbpf.close(obj);
                }
                arena.close();
            }
        }
    }

    /** The compiled program object, as the build put it in the jar. */
    static byte[] objectBytes() throws FastPathException {
        try (InputStream in = FastPathProgram.class.getResourceAsStream(OBJECT)) {
            if (in == null) {
                throw new FastPathException("the BPF object " + OBJECT + " is not in the jar (built without clang?)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new FastPathException("reading " + OBJECT + ": " + e);
        }
    }

    /** Writes {@link #LAYOUT_VERSION} into the layout map (pinned beside the flow maps when they are). */
    private static void stamp(Arena arena, int layoutFd) throws FastPathException {
        MemorySegment zero = arena.allocate(ValueLayout.JAVA_INT);
        MemorySegment version = arena.allocate(ValueLayout.JAVA_INT);
        version.set(ValueLayout.JAVA_INT, 0, LAYOUT_VERSION);
        int rc = Libbpf.mapUpdate(layoutFd, zero, version, Libbpf.BPF_ANY);
        if (rc < 0) {
            throw new FastPathException("cannot stamp the pinned maps' layout (errno " + -rc + ")");
        }
    }

    int programFd() {
        return programFd;
    }

    /** The maps the engine's policy is published in (services, Maglev tables, backends, the box's config). */
    PolicyMaps policy() {
        return policy;
    }

    /**
     * Holds a reply tuple for a flow the engine forwards itself ({@code NAT_CLAIM}): the program
     * then neither creates a flow with that SNAT port nor forwards that tuple's packets (they go
     * to the engine). 0, -EEXIST if the tuple is taken (by a flow the program created, whose
     * report is on its way), or another negative errno.
     */
    public synchronized int claim(int proto, int backend, int backendPort, int snat, int snatPort) {
        writeKey(proto, backend, backendPort, snat, snatPort);
        value.fill((byte) 0);
        value.set(ValueLayout.JAVA_BYTE, FLAGS_AT, (byte) NAT_CLAIM);
        return Libbpf.mapUpdate(flowsFd, key, value, Libbpf.BPF_NOEXIST);
    }

    /** {@link #claim} for an IPv6 flow's reply tuple. */
    public synchronized int claim6(int proto, long[] backend, int backendPort, long[] snat, int snatPort) {
        writeKey6(proto, backend, backendPort, snat, snatPort);
        value6.fill((byte) 0);
        value6.set(ValueLayout.JAVA_BYTE, FLAGS6_AT, (byte) NAT_CLAIM);
        return Libbpf.mapUpdate(flows6Fd, key6, value6, Libbpf.BPF_NOEXIST);
    }

    /**
     * Writes one entry as it was read from an earlier tandemd's map, already in this layout
     * ({@link PinnedLeftovers} converts older ones): {@code key} and {@code value} of the IPv6
     * map's sizes when {@code ipv6}, else of the IPv4 map's. 0 or a negative errno.
     */
    synchronized int importEntry(boolean ipv6, byte[] entryKey, byte[] entryValue) {
        MemorySegment k = ipv6 ? key6 : key;
        MemorySegment v = ipv6 ? value6 : value;
        k.copyFrom(MemorySegment.ofArray(entryKey));
        v.copyFrom(MemorySegment.ofArray(entryValue));
        return Libbpf.mapUpdate(ipv6 ? flows6Fd : flowsFd, k, v, Libbpf.BPF_ANY);
    }

    /** The ring buffer through which the program reports the segments it forwarded that move a flow's state. */
    int eventsFd() {
        return eventsFd;
    }

    /**
     * Installs one direction of a flow: packets arriving as {@code src:srcPort -> dst:dstPort}
     * leave rewritten as {@code newSrc:newSrcPort -> newDst:newDstPort} by {@code ifindex}.
     *
     * @return 0, or the negative errno (E2BIG: the map is full — the flow stays on the slow path)
     */
    public int install(int proto, int src, int srcPort, int dst, int dstPort,
                       int newSrc, int newSrcPort, int newDst, int newDstPort, int ifindex) {
        return install(proto, src, srcPort, dst, dstPort, newSrc, newSrcPort, newDst, newDstPort, ifindex, 0, -1);
    }

    /**
     * As {@link #install(int, int, int, int, int, int, int, int, int, int)}, with the entry's
     * {@code flags} ({@link #NAT_REPORT_ACK}) and, for TCP, where the direction's sequence
     * stands ({@code seqEnd}, unsigned 32 bits; -1: unknown, learned from its first segment).
     */
    public synchronized int install(int proto, int src, int srcPort, int dst, int dstPort,
                                    int newSrc, int newSrcPort, int newDst, int newDstPort, int ifindex, int flags, long seqEnd) {
        writeKey(proto, src, srcPort, dst, dstPort);
        value.fill((byte) 0);
        value.set(BE_INT, 0, newSrc);
        value.set(BE_INT, 4, newDst);
        value.set(BE_SHORT, 8, (short) newSrcPort);
        value.set(BE_SHORT, 10, (short) newDstPort);
        value.set(ValueLayout.JAVA_INT, 12, ifindex);
        value.set(ValueLayout.JAVA_INT, SEQ_END_AT, (int) seqEnd);
        value.set(ValueLayout.JAVA_BYTE, FLAGS_AT, (byte) (flags | (seqEnd >= 0 ? NAT_SEQ_KNOWN : 0)));
        return Libbpf.mapUpdate(flowsFd, key, value, Libbpf.BPF_ANY);
    }

    /**
     * Moves where an installed TCP direction's sequence stands to {@code seqEnd} (unsigned 32
     * bits), marking it known; false if the direction is not installed. The entry is read and
     * written back whole (the map has no field update): a packet the kernel forwards in between
     * may lose its count and last-seen time, never its forwarding.
     */
    public synchronized boolean advance(int proto, int src, int srcPort, int dst, int dstPort, long seqEnd) {
        writeKey(proto, src, srcPort, dst, dstPort);
        if (Libbpf.mapLookup(flowsFd, key, value) != 0) {
            return false;
        }
        value.set(ValueLayout.JAVA_INT, SEQ_END_AT, (int) seqEnd);
        value.set(ValueLayout.JAVA_BYTE, FLAGS_AT, (byte) (value.get(ValueLayout.JAVA_BYTE, FLAGS_AT) | NAT_SEQ_KNOWN));
        return Libbpf.mapUpdate(flowsFd, key, value, Libbpf.BPF_EXIST) == 0;
    }

    /** {@link #advance} for an IPv6 flow's direction. */
    public synchronized boolean advance6(int proto, long[] src, int srcPort, long[] dst, int dstPort, long seqEnd) {
        writeKey6(proto, src, srcPort, dst, dstPort);
        if (Libbpf.mapLookup(flows6Fd, key6, value6) != 0) {
            return false;
        }
        value6.set(ValueLayout.JAVA_INT, SEQ_END6_AT, (int) seqEnd);
        value6.set(ValueLayout.JAVA_BYTE, FLAGS6_AT, (byte) (value6.get(ValueLayout.JAVA_BYTE, FLAGS6_AT) | NAT_SEQ_KNOWN));
        return Libbpf.mapUpdate(flows6Fd, key6, value6, Libbpf.BPF_EXIST) == 0;
    }

    /** Removes one direction; false if it was not there. */
    public synchronized boolean remove(int proto, int src, int srcPort, int dst, int dstPort) {
        writeKey(proto, src, srcPort, dst, dstPort);
        return Libbpf.mapDelete(flowsFd, key) == 0;
    }

    /** What the program recorded of one direction, or null if it is not installed. */
    public synchronized Seen seen(int proto, int src, int srcPort, int dst, int dstPort) {
        writeKey(proto, src, srcPort, dst, dstPort);
        if (Libbpf.mapLookup(flowsFd, key, value) != 0) {
            return null;
        }
        return new Seen(value.get(ValueLayout.JAVA_LONG, 16), value.get(ValueLayout.JAVA_LONG, 24), value.get(ValueLayout.JAVA_LONG, 32),
                value.get(ValueLayout.JAVA_INT, SEQ_END_AT), value.get(ValueLayout.JAVA_BYTE, FLAGS_AT) & 0xFF);
    }

    /**
     * {@link #install} for an IPv6 flow's direction: each address as {high, low} (network order
     * halves, as {@code io.tandem.packet.Ipv6} keeps them); {@code proto} the transport (6, 17).
     */
    public int install6(int proto, long[] src, int srcPort, long[] dst, int dstPort,
                        long[] newSrc, int newSrcPort, long[] newDst, int newDstPort, int ifindex) {
        return install6(proto, src, srcPort, dst, dstPort, newSrc, newSrcPort, newDst, newDstPort, ifindex, 0, -1);
    }

    /** {@link #install(int, int, int, int, int, int, int, int, int, int, int, long)} for an IPv6 flow's direction. */
    public synchronized int install6(int proto, long[] src, int srcPort, long[] dst, int dstPort,
                                     long[] newSrc, int newSrcPort, long[] newDst, int newDstPort, int ifindex, int flags, long seqEnd) {
        writeKey6(proto, src, srcPort, dst, dstPort);
        value6.fill((byte) 0);
        value6.set(BE_LONG, 0, newSrc[0]);
        value6.set(BE_LONG, 8, newSrc[1]);
        value6.set(BE_LONG, 16, newDst[0]);
        value6.set(BE_LONG, 24, newDst[1]);
        value6.set(BE_SHORT, 32, (short) newSrcPort);
        value6.set(BE_SHORT, 34, (short) newDstPort);
        value6.set(ValueLayout.JAVA_INT, 36, ifindex);
        value6.set(ValueLayout.JAVA_INT, SEQ_END6_AT, (int) seqEnd);
        value6.set(ValueLayout.JAVA_BYTE, FLAGS6_AT, (byte) (flags | (seqEnd >= 0 ? NAT_SEQ_KNOWN : 0)));
        return Libbpf.mapUpdate(flows6Fd, key6, value6, Libbpf.BPF_ANY);
    }

    /**
     * Removes a flow the program created by its original tuple alone: the reply direction's key
     * is read from the original's entry (its rewrite, turned around). For a report the engine
     * cannot take in at all (no room for its IPv6 addresses).
     */
    public synchronized void discard6(int proto, long[] src, int srcPort, long[] dst, int dstPort) {
        writeKey6(proto, src, srcPort, dst, dstPort);
        if (Libbpf.mapLookup(flows6Fd, key6, value6) == 0) {
            long[] newSrc = halves(value6, 0);
            long[] newDst = halves(value6, 16);
            int newSrcPort = value6.get(BE_SHORT, 32) & 0xFFFF;
            int newDstPort = value6.get(BE_SHORT, 34) & 0xFFFF;
            Libbpf.mapDelete(flows6Fd, key6);
            writeKey6(proto, newDst, newDstPort, newSrc, newSrcPort);
            Libbpf.mapDelete(flows6Fd, key6);
        }
    }

    public synchronized boolean remove6(int proto, long[] src, int srcPort, long[] dst, int dstPort) {
        writeKey6(proto, src, srcPort, dst, dstPort);
        return Libbpf.mapDelete(flows6Fd, key6) == 0;
    }

    public synchronized Seen seen6(int proto, long[] src, int srcPort, long[] dst, int dstPort) {
        writeKey6(proto, src, srcPort, dst, dstPort);
        if (Libbpf.mapLookup(flows6Fd, key6, value6) != 0) {
            return null;
        }
        return new Seen(value6.get(ValueLayout.JAVA_LONG, 40), value6.get(ValueLayout.JAVA_LONG, 48),
                value6.get(ValueLayout.JAVA_LONG, 56), value6.get(ValueLayout.JAVA_INT, SEQ_END6_AT),
                value6.get(ValueLayout.JAVA_BYTE, FLAGS6_AT) & 0xFF);
    }

    private void writeKey6(int proto, long[] src, int srcPort, long[] dst, int dstPort) {
        key6.fill((byte) 0);
        key6.set(BE_LONG, 0, src[0]);
        key6.set(BE_LONG, 8, src[1]);
        key6.set(BE_LONG, 16, dst[0]);
        key6.set(BE_LONG, 24, dst[1]);
        key6.set(BE_SHORT, 32, (short) srcPort);
        key6.set(BE_SHORT, 34, (short) dstPort);
        key6.set(ValueLayout.JAVA_BYTE, 36, (byte) proto);
    }

    /** One installed direction, as {@link #forEach} reports it. */
    public record Entry(int proto, int src, int srcPort, int dst, int dstPort, int newSrc, int newSrcPort, int newDst, int newDstPort,
                        int ifindex, long lastSeenNanos, int flags) {
    }

    /** One installed direction of an IPv6 flow, as {@link #forEach6} reports it: addresses as {high, low}. */
    public record Entry6(int proto, long[] src, int srcPort, long[] dst, int dstPort, long[] newSrc, int newSrcPort, long[] newDst,
                         int newDstPort, int ifindex, long lastSeenNanos, int flags) {
    }

    /** Every installed direction of an IPv6 flow (as {@link #forEach}). */
    public synchronized void forEach6(Consumer<Entry6> visitor) {
        eachEntry(flows6Fd, KEY6_SIZE, value6, key -> visitor.accept(new Entry6(key.get(ValueLayout.JAVA_BYTE, 36) & 0xFF,
                halves(key, 0), key.get(BE_SHORT, 32) & 0xFFFF, halves(key, 16), key.get(BE_SHORT, 34) & 0xFFFF,
                halves(value6, 0), value6.get(BE_SHORT, 32) & 0xFFFF, halves(value6, 16), value6.get(BE_SHORT, 34) & 0xFFFF,
                value6.get(ValueLayout.JAVA_INT, 36), value6.get(ValueLayout.JAVA_LONG, 40),
                value6.get(ValueLayout.JAVA_BYTE, FLAGS6_AT) & 0xFF)));
    }

    private static long[] halves(MemorySegment s, long offset) {
        return new long[] {s.get(BE_LONG, offset), s.get(BE_LONG, offset + 8)};
    }

    /** Every installed direction (a restarted tandemd adopting what the kernel kept forwarding). */
    public synchronized void forEach(Consumer<Entry> visitor) {
        eachEntry(flowsFd, KEY_SIZE, value, key -> visitor.accept(new Entry(key.get(ValueLayout.JAVA_BYTE, 12) & 0xFF,
                key.get(BE_INT, 0), key.get(BE_SHORT, 8) & 0xFFFF, key.get(BE_INT, 4), key.get(BE_SHORT, 10) & 0xFFFF,
                value.get(BE_INT, 0), value.get(BE_SHORT, 8) & 0xFFFF, value.get(BE_INT, 4), value.get(BE_SHORT, 10) & 0xFFFF,
                value.get(ValueLayout.JAVA_INT, 12), value.get(ValueLayout.JAVA_LONG, 16),
                value.get(ValueLayout.JAVA_BYTE, FLAGS_AT) & 0xFF)));
    }

    /** How many entries the map pinned at {@code pin} holds now, by a walk of its keys (for the tests and by hand). */
    public static int pinnedEntries(Path pin) throws FastPathException {
        try (Arena a = Arena.ofConfined()) {
            int fd = Libbpf.objGet(a.allocateFrom(pin.toString()));
            if (fd < 0) {
                throw new FastPathException("cannot open the map pinned at " + pin + " (errno " + -fd + ")");
            }
            try {
                MemorySegment info = a.allocate(Libbpf.MAP_INFO_SIZE, 8);
                if (Libbpf.mapInfo(fd, info) < 0) {
                    throw new FastPathException(pin + " is not a map");
                }
                int[] count = {0};
                eachEntry(fd, info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_KEY_SIZE),
                        a.allocate(info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_VALUE_SIZE), 8), key -> count[0]++);
                return count[0];
            } finally {
                LinuxFd.close(fd);
            }
        }
    }

    /** Walks a map's keys, each entry's value read into {@code value} before {@code visitor} sees its key. */
    static void eachEntry(int fd, int keySize, MemorySegment value, Consumer<MemorySegment> visitor) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment current = a.allocate(keySize, 8);
            MemorySegment next = a.allocate(keySize, 8);
            MemorySegment previous = MemorySegment.NULL;
            while (Libbpf.mapNextKey(fd, previous, next) == 0) {
                current.copyFrom(next);
                previous = current;
                if (Libbpf.mapLookup(fd, current, value) == 0) { // else removed meanwhile
                    visitor.accept(current);
                }
            }
        }
    }

    /**
     * One direction's last packet time (CLOCK_MONOTONIC ns, 0: none yet), counts, for TCP the
     * sequence number after its last segment forwarded here (meaningful with {@link #NAT_SEQ_KNOWN}),
     * and the entry's {@code NAT_*} flags.
     */
    public record Seen(long lastSeenNanos, long packets, long bytes, int sequenceEnd, int flags) {
        public boolean sequenceKnown() {
            return (flags & NAT_SEQ_KNOWN) != 0;
        }
    }

    /** The program's counters (FP_FORWARDED, FP_NO_ENTRY, …), summed over the CPUs. */
    public synchronized long counter(int which) {
        int cpus = Libbpf.possibleCpus();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(ValueLayout.JAVA_INT);
            k.set(ValueLayout.JAVA_INT, 0, which);
            MemorySegment values = a.allocate(8L * cpus, 8);
            if (Libbpf.mapLookup(countersFd, k, values) != 0) {
                return 0;
            }
            long sum = 0;
            for (int i = 0; i < cpus; i++) {
                sum += values.getAtIndex(ValueLayout.JAVA_LONG, i);
            }
            return sum;
        }
    }

    public static final int FORWARDED = 0;
    public static final int NO_ENTRY = 1;
    public static final int TCP_FLAGS = 2;
    public static final int NOT_SIMPLE = 3;
    public static final int TOO_BIG = 4;
    public static final int REPORTED = 5;
    public static final int RING_FULL = 6;
    public static final int MALFORMED = 7;
    public static final int NOT_FOR_US = 8;
    public static final int CREATED = 9;
    public static final int ENGINE_POLICY = 10;
    public static final int NO_BACKEND = 11;
    public static final int SNAT_BUSY = 12;
    public static final int TABLE_FULL = 13;
    public static final int CLAIMED = 14;
    /** The counters' names, by index (enum fp_counter in tandem_maps.h). */
    public static final List<String> COUNTER_NAMES = List.of("forwarded", "no_entry", "tcp_flags", "not_simple", "too_big", "reported",
            "ring_full", "malformed", "not_for_us", "created", "engine_policy", "no_backend", "snat_busy", "table_full", "claimed");

    /**
     * Runs the program once on {@code frame} (an Ethernet frame) without any traffic
     * ({@code BPF_PROG_TEST_RUN}): its return code, and the frame as the program left it in {@code out}.
     */
    public int testRun(byte[] frame, byte[][] out) {
        return testRun(frame, out, 0, 0);
    }

    /**
     * As {@link #testRun(byte[], byte[][])}, the packet arriving by {@code ingressIfindex} (0: none
     * given) and, with {@code gsoSize} > 0, a GSO super-packet of segments that size.
     */
    public synchronized int testRun(byte[] frame, byte[][] out, int ingressIfindex, int gsoSize) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(frame.length, 8);
            in.copyFrom(MemorySegment.ofArray(frame));
            MemorySegment result = a.allocate(frame.length + 256L, 8);
            MemorySegment opts = a.allocate(Libbpf.TEST_RUN_SIZE, 8);
            opts.set(ValueLayout.JAVA_LONG, 0, Libbpf.TEST_RUN_SIZE);
            opts.set(ValueLayout.ADDRESS, Libbpf.TEST_RUN_DATA_IN, in);
            opts.set(ValueLayout.ADDRESS, Libbpf.TEST_RUN_DATA_OUT, result);
            opts.set(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_DATA_SIZE_IN, frame.length);
            opts.set(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_DATA_SIZE_OUT, (int) result.byteSize());
            opts.set(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_REPEAT, 1);
            if (ingressIfindex != 0 || gsoSize != 0) {
                // struct __sk_buff as the test run takes it: only these fields may be set.
                MemorySegment ctx = a.allocate(Libbpf.SK_BUFF_SIZE, 8);
                ctx.set(ValueLayout.JAVA_INT, Libbpf.SK_BUFF_INGRESS_IFINDEX, ingressIfindex);
                ctx.set(ValueLayout.JAVA_INT, Libbpf.SK_BUFF_IFINDEX, 1); // the loopback device the run uses
                if (gsoSize > 0) {
                    ctx.set(ValueLayout.JAVA_INT, Libbpf.SK_BUFF_GSO_SEGS, Math.max(1, (frame.length - 54 + gsoSize - 1) / gsoSize));
                    ctx.set(ValueLayout.JAVA_INT, Libbpf.SK_BUFF_GSO_SIZE, gsoSize);
                }
                opts.set(ValueLayout.ADDRESS, Libbpf.TEST_RUN_CTX_IN, ctx);
                opts.set(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_CTX_SIZE_IN, (int) Libbpf.SK_BUFF_SIZE);
            }
            int err = Libbpf.testRun(programFd, opts);
            if (err < 0) {
                throw new IllegalStateException("BPF_PROG_TEST_RUN failed (errno " + -err + ")");
            }
            int length = opts.get(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_DATA_SIZE_OUT);
            out[0] = result.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
            return opts.get(ValueLayout.JAVA_INT, Libbpf.TEST_RUN_RETVAL);
        }
    }

    /**
     * What the kernel accounts for the flow map now ({@code memlock} in its fdinfo: the elements
     * allocated so far, as the map is not preallocated), in bytes; -1 if the kernel does not say.
     */
    public long flowMapBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + flowsFd))) {
                if (line.startsWith("memlock:")) {
                    return Long.parseLong(line.substring("memlock:".length()).strip());
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    private void writeKey(int proto, int src, int srcPort, int dst, int dstPort) {
        key.fill((byte) 0);
        key.set(BE_INT, 0, src);
        key.set(BE_INT, 4, dst);
        key.set(BE_SHORT, 8, (short) srcPort);
        key.set(BE_SHORT, 10, (short) dstPort);
        key.set(ValueLayout.JAVA_BYTE, 12, (byte) proto);
    }

    /** Unloads the program and its maps (attachments made from it go with their own close). */
    @Override
    public synchronized void close() {
        Libbpf.close(object);
        arena.close();
    }
}
