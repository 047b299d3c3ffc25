package io.tandem.dataplane.fastpath;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The TCP segments the fast path forwarded and reported — the backend's SYN-ACK, the ACK that
 * ends a handshake, a FIN at its exact sequence number — read from the program's ring buffer ({@code tandem_events})
 * through libbpf's {@code ring_buffer__poll} on a thread of their own, and handed to a
 * {@link Listener}: the engine's state machine, timeouts and replication follow those segments
 * without their packets' two trips through TUN.
 */
public final class SegmentReports implements AutoCloseable {
    /** What is done with each report; called on the reports' thread, one report at a time. */
    public interface Listener {
        /**
         * An IPv4 TCP segment, by its tuple as it arrived (addresses and ports in host order): its
         * flags, sequence number, window as sent and, for a SYN-ACK, its window scale option
         * ({@code PacketHeaders.NO_WINDOW_SCALE} if none).
         */
        void ipv4(int src, int srcPort, int dst, int dstPort, Segment segment);

        /** An IPv6 TCP segment: each address as its two network-order halves. */
        void ipv6(long srcHigh, long srcLow, int srcPort, long dstHigh, long dstLow, int dstPort, Segment segment);
    }

    /**
     * A report's fields (one instance, reused for every report: copy what is kept): a TCP
     * segment's, and for a flow the program created ({@link #created}) its first packet's — the
     * protocol, the backend's SNAT port pool and the SNAT port it claimed; for TCP, the SYN's
     * sequence number, window and window scale.
     */
    public static final class Segment {
        int flags;
        int seq;
        int window;
        int windowScale;
        boolean created;
        boolean reopened;
        int protocol;
        int pool;
        int snatPort;

        /**
         * Marks the report as a flow the program created (else a segment's); {@code reopened}: in
         * place of a finished flow of the same tuple, whose kernel entries the program removed.
         */
        public Segment created(int protocol, int pool, int snatPort, boolean reopened) {
            this.created = true;
            this.reopened = reopened;
            this.protocol = protocol;
            this.pool = pool;
            this.snatPort = snatPort;
            return this;
        }

        public boolean created() {
            return created;
        }

        public boolean reopened() {
            return reopened;
        }

        /** The transport (6, 17) of a created flow. */
        public int protocol() {
            return protocol;
        }

        public int pool() {
            return pool;
        }

        public int snatPort() {
            return snatPort;
        }

        public Segment set(int flags, int seq, int window, int windowScale) {
            this.flags = flags;
            this.seq = seq;
            this.window = window;
            this.windowScale = windowScale;
            this.created = false;
            return this;
        }

        public int flags() {
            return flags;
        }

        public int seq() {
            return seq;
        }

        public int window() {
            return window;
        }

        public int windowScale() {
            return windowScale;
        }

        @Override
        public String toString() {
            return flags + " " + Integer.toUnsignedString(seq) + " " + window + " " + windowScale;
        }
    }

    /**
     * struct fp_event (tandem_maps.h): family, tcp_flags, window, seq (host order), window_scale,
     * kind, snat_port (host order), pool, then the flow4_key or flow6_key.
     */
    static final int EVENT_SIZE = BpfLayout.size("fp_event");
    private static final int KIND_AT = BpfLayout.at("fp_event", "kind");
    private static final int SNAT_PORT_AT = BpfLayout.at("fp_event", "snat_port");
    private static final int POOL_AT = BpfLayout.at("fp_event", "pool");
    private static final int EV_CREATED = 1;
    private static final int EV_REOPENED = 2;
    private static final int KEY_AT = 16;
    /**
     * How long a poll waits: the program wakes the reader only once 64 KiB of reports wait (a
     * wake-up per report cost more CPU than the reports' work), so the reader looks every
     * millisecond and reads what came — a report is read within about a millisecond.
     */
    private static final int POLL_MILLIS = 1;
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int EINTR = 4;

    private final Listener listener;
    private final Segment segment = new Segment();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment ring;
    private final Thread thread;
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong malformed = new AtomicLong();
    private volatile boolean closed;
    private volatile String failure;

    private SegmentReports(int eventsFd, Listener listener) throws FastPathProgram.FastPathException {
        this.listener = listener;
        MethodHandle sample;
        try {
            sample = MethodHandles.lookup().findVirtual(SegmentReports.class, "onSample",
                    MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class, long.class)).bindTo(this);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        int[] errno = new int[1];
        ring = Libbpf.ringBufferNew(eventsFd, Libbpf.sampleStub(sample, arena), errno);
        if (ring.equals(MemorySegment.NULL)) {
            arena.close();
            throw new FastPathProgram.FastPathException("cannot read the fast path's reports (ring_buffer__new: errno " + errno[0] + ")");
        }
        thread = Thread.ofPlatform().name("fast-path-reports").daemon().unstarted(this::run);
    }

    /** Starts reading {@code program}'s reports, each handed to {@code listener}. */
    public static SegmentReports start(FastPathProgram program, Listener listener) throws FastPathProgram.FastPathException {
        SegmentReports reports = new SegmentReports(program.eventsFd(), listener);
        reports.thread.start();
        return reports;
    }

    private void run() {
        while (!closed) {
            int n = Libbpf.ringBufferPoll(ring, POLL_MILLIS);
            if (n >= 0 || n == -EINTR) {
                n = Libbpf.ringBufferConsume(ring); // what came without a wake-up
            }
            if (n < 0 && n != -EINTR) {
                failure = "ring_buffer__poll: errno " + -n;
                return;
            }
        }
    }

    /** One record of the ring (libbpf's sample callback): never throws into native code. */
    @SuppressWarnings("unused") // called by libbpf through the upcall stub
    private int onSample(MemorySegment context, MemorySegment data, long size) {
        try {
            if (size < EVENT_SIZE) {
                malformed.incrementAndGet();
                return 0;
            }
            deliver(data.reinterpret(size), segment, listener);
            delivered.incrementAndGet();
        } catch (RuntimeException | Error e) {
            malformed.incrementAndGet();
        }
        return 0;
    }

    /** Decodes one report into {@code segment} and hands it to {@code listener}. */
    static void deliver(MemorySegment e, Segment segment, Listener listener) {
        int family = e.get(ValueLayout.JAVA_BYTE, 0);
        segment.set(e.get(ValueLayout.JAVA_BYTE, 1) & 0xFF, e.get(ValueLayout.JAVA_INT_UNALIGNED, 4),
                e.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2) & 0xFFFF, e.get(ValueLayout.JAVA_BYTE, 8) & 0xFF);
        byte kind = e.get(ValueLayout.JAVA_BYTE, KIND_AT);
        if (kind == EV_CREATED || kind == EV_REOPENED) {
            segment.created(e.get(ValueLayout.JAVA_BYTE, KEY_AT + (family == 4 ? 12 : 36)) & 0xFF, e.get(ValueLayout.JAVA_INT_UNALIGNED, POOL_AT),
                    e.get(ValueLayout.JAVA_SHORT_UNALIGNED, SNAT_PORT_AT) & 0xFFFF, kind == EV_REOPENED);
        }
        if (family == 4) {
            listener.ipv4(e.get(BE_INT, KEY_AT), e.get(BE_SHORT, KEY_AT + 8) & 0xFFFF, e.get(BE_INT, KEY_AT + 4),
                    e.get(BE_SHORT, KEY_AT + 10) & 0xFFFF, segment);
        } else if (family == 6) {
            listener.ipv6(e.get(BE_LONG, KEY_AT), e.get(BE_LONG, KEY_AT + 8), e.get(BE_SHORT, KEY_AT + 32) & 0xFFFF,
                    e.get(BE_LONG, KEY_AT + 16), e.get(BE_LONG, KEY_AT + 24), e.get(BE_SHORT, KEY_AT + 34) & 0xFFFF, segment);
        } else {
            throw new IllegalArgumentException("family " + family);
        }
    }

    /** Reports handed to the listener so far. */
    public long delivered() {
        return delivered.get();
    }

    /** Reports that could not be read (or whose handling threw): counted, never fatal. */
    public long malformed() {
        return malformed.get();
    }

    /** Why the reading stopped, or null while it runs. */
    public String failure() {
        return failure;
    }

    @Override
    public void close() {
        closed = true;
        try {
            thread.join(200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) {
            Libbpf.ringBufferFree(ring);
            arena.close(); // the upcall stub goes with it: no poll can call it any more
        }
    }
}
