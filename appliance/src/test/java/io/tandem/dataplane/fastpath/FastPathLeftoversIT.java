package io.tandem.dataplane.fastpath;

import io.tandem.config.FastPathAttach;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.lab.ThreadNetns;
import io.tandem.packet.Ipv4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 29, point 5: what an earlier tandemd left in the kernel is adopted only when this one can
 * prove it understands it, else carried into new maps or removed — never left attached with
 * entries nobody expires. In a namespace of its own with two veth pairs (front, back) and a bpffs
 * the test mounts: {@code fast_path: off} after {@code on} (tc clsact and tcx), a changed
 * {@code max_flows}, the first layout (40-byte values, no stamp) and a layout nobody knows.
 */
class FastPathLeftoversIT {
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int CLIENT = Ipv4.parse("198.18.0.10");
    private static final int VIP = Ipv4.parse("198.18.0.100");
    private static final int SNAT = Ipv4.parse("198.19.0.100");
    private static final int BACKEND = Ipv4.parse("198.19.0.11");

    private ThreadNetns ns;
    private Path bpffs;
    private Path pins;
    private int front;
    private int back;

    @BeforeEach
    void up() throws Exception {
        ns = ThreadNetns.enter("tlo");
        ns.ip("link", "add", "front", "type", "veth", "peer", "name", "front-peer");
        ns.ip("link", "add", "back", "type", "veth", "peer", "name", "back-peer");
        for (String dev : List.of("front", "front-peer", "back", "back-peer")) {
            ns.ip("link", "set", dev, "up");
        }
        front = ns.ifindex("front");
        back = ns.ifindex("back");
        bpffs = Files.createTempDirectory("tandem-bpffs");
        run("mount", "-t", "bpf", "bpf", bpffs.toString());
        pins = bpffs.resolve("tandem");
    }

    @AfterEach
    void down() throws Exception {
        try {
            run("umount", bpffs.toString());
            Files.deleteIfExists(bpffs);
        } finally {
            ns.close();
        }
    }

    private FastPath start(int maxFlows, FastPathAttach attach) throws FastPathProgram.FastPathException {
        return FastPath.start("front", front, "back", back, maxFlows, pins, attach);
    }

    /** Installs an established client:port flow both ways, the original direction leaving by back. */
    private void installFlow(FastPathProgram program, int clientPort) {
        assertEquals(0, program.install(Ipv4.PROTO_TCP, CLIENT, clientPort, VIP, 80, SNAT, clientPort, BACKEND, 8080, back, 0, 1000));
        assertEquals(0, program.install(Ipv4.PROTO_TCP, BACKEND, 8080, SNAT, clientPort, VIP, 80, CLIENT, clientPort, front, 0, 2000));
    }

    private String tcFilters(String dev) throws Exception {
        return run("ip", "netns", "exec", ns.name(), "tc", "filter", "show", "dev", dev, "ingress");
    }

    /** BPF filters on a device's ingress (a line each, with the program's id). */
    private long attachedPrograms(String dev) throws Exception {
        return tcFilters(dev).lines().filter(l -> l.contains(" handle ") && l.contains(" id ")).count();
    }

    private List<FlowSnapshot> kept(FastPath path) {
        List<FlowSnapshot> flows = new ArrayList<>();
        path.forEachKept(flows::add); // a new record each
        return flows;
    }

    @Test
    void fastPathOffAfterOnDetachesTheProgramAndRemovesItsPins() throws Exception {
        for (FastPathAttach attach : List.of(FastPathAttach.TC, FastPathAttach.AUTO)) {
            FastPath path = start(1024, attach);
            installFlow(path.program(), 40_000);
            String how = path.attachment();
            path.close(true); // a stop that leaves the kernel forwarding (a restart)
            boolean tc = how.equals("tc clsact");
            assertTrue(!tc || tcFilters("front").contains("tandem_fastpath"), attach + ": still attached after the stop");
            assertTrue(Files.exists(pins.resolve("flows4")) && Files.exists(pins.resolve("layout")));

            String removed = FastPath.removeLeftovers(front, back, pins); // what tandemd does with fast_path: off
            System.out.println("fast_path: off after " + how + ": removed " + removed);
            assertTrue(removed.contains("the pinned flows4") && removed.contains("the pinned layout"), removed);
            assertTrue(tc ? removed.contains("the tc filter on the front interface") && removed.contains("the tc filter on the back interface")
                    : removed.contains("the front tcx link") && removed.contains("the back tcx link"), removed);
            assertFalse(tcFilters("front").contains("tandem_fastpath") || tcFilters("back").contains("tandem_fastpath"), "detached");
            assertFalse(Files.exists(pins.resolve("flows4")) || Files.exists(pins.resolve("front.link")), "unpinned");
            assertEquals("nothing", FastPath.removeLeftovers(front, back, pins), "and nothing is left");
        }
    }

    @Test
    void aChangedMaxFlowsCarriesTheFlowsIntoNewMaps() throws Exception {
        FastPath first = start(512, FastPathAttach.TC);
        installFlow(first.program(), 40_001);
        installFlow(first.program(), 40_002);
        assertNull(first.leftovers(), "nothing was pinned before");
        first.close(true);
        FastPath second = start(4096, FastPathAttach.TC);
        try {
            assertTrue(second.leftovers() != null && second.leftovers().startsWith("carried into new maps of 8192 entries (4 entries"),
                    second.leftovers());
            List<FlowSnapshot> flows = kept(second);
            assertEquals(2, flows.size(), "both flows in the new maps: " + flows);
            FastPathProgram.Seen seen = second.program().seen(Ipv4.PROTO_TCP, CLIENT, 40_001, VIP, 80);
            assertTrue(seen != null && seen.sequenceKnown() && seen.sequenceEnd() == 1000, "as they were: " + seen);
            assertEquals(1, attachedPrograms("front"), "one program attached: the new one replaced the old\n" + tcFilters("front"));
        } finally {
            second.close(false);
        }
        assertFalse(Files.exists(pins.resolve("flows4")), "a stop that does not keep forwarding leaves nothing pinned");
    }

    /** An RPM upgrade from the first layout (40-byte values, no flows6, no stamp), with live flows in it. */
    @Test
    void anUpgradeFromTheFirstLayoutCarriesItsFlows() throws Exception {
        Files.createDirectories(pins);
        try (Arena a = Arena.ofConfined()) {
            int fd = Libbpf.mapCreate(Libbpf.BPF_MAP_TYPE_HASH, "tandem_flows4", 16, 40, 1024);
            assertTrue(fd > 0, "map created: " + fd);
            MemorySegment key = a.allocate(16, 8);
            MemorySegment value = a.allocate(40, 8);
            for (int port : new int[] {41_000, 41_001, 41_002}) {
                writeV1(fd, key, value, CLIENT, port, VIP, 80, SNAT, port, BACKEND, 8080, back);
                writeV1(fd, key, value, BACKEND, 8080, SNAT, port, VIP, 80, CLIENT, port, front);
            }
            assertEquals(0, Libbpf.objPin(fd, a.allocateFrom(pins.resolve("flows4").toString())));
            LinuxFd.close(fd);
        }
        FastPath path = start(1024, FastPathAttach.TC);
        try {
            assertTrue(path.leftovers().startsWith("carried into new maps of 2048 entries (6 entries") && path.leftovers().contains("40-byte values"),
                    path.leftovers());
            List<FlowSnapshot> flows = kept(path);
            assertEquals(3, flows.size(), flows.toString());
            for (FlowSnapshot f : flows) {
                assertEquals(FlowState.TCP_ESTABLISHED, f.state());
                assertEquals(BACKEND, f.backendAddress());
                assertEquals(f.clientPort(), f.snatPort());
            }
            FastPathProgram.Seen seen = path.program().seen(Ipv4.PROTO_TCP, CLIENT, 41_000, VIP, 80);
            assertFalse(seen.sequenceKnown(), "the first layout knew no sequence: learned from the next segment");
        } finally {
            path.close(false);
        }
    }

    @Test
    void aLayoutThisTandemdDoesNotKnowIsRemovedNotAdopted() throws Exception {
        FastPath first = start(1024, FastPathAttach.TC);
        installFlow(first.program(), 40_003);
        first.close(true);
        // What a newer tandemd (a downgrade) might have pinned: a layout stamp this one does not know.
        try (Arena a = Arena.ofConfined()) {
            int fd = Libbpf.objGet(a.allocateFrom(pins.resolve("layout").toString()));
            MemorySegment zero = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment version = a.allocate(ValueLayout.JAVA_INT);
            version.set(ValueLayout.JAVA_INT, 0, 99);
            assertEquals(0, Libbpf.mapUpdate(fd, zero, version, Libbpf.BPF_ANY));
            LinuxFd.close(fd);
        }
        FastPath second = start(1024, FastPathAttach.TC);
        try {
            assertTrue(second.leftovers().startsWith("removed, not a layout this tandemd knows") && second.leftovers().contains("stamp 99")
                    && second.leftovers().contains("the tc filter on the front interface"), second.leftovers());
            assertEquals(0, kept(second).size(), "none of its entries adopted");
            assertEquals(1, attachedPrograms("front"), "this tandemd's program alone\n" + tcFilters("front"));
        } finally {
            second.close(false);
        }
    }

    private static void writeV1(int fd, MemorySegment key, MemorySegment value, int src, int srcPort, int dst, int dstPort,
                                int newSrc, int newSrcPort, int newDst, int newDstPort, int ifindex) {
        key.fill((byte) 0);
        key.set(BE_INT, 0, src);
        key.set(BE_INT, 4, dst);
        key.set(BE_SHORT, 8, (short) srcPort);
        key.set(BE_SHORT, 10, (short) dstPort);
        key.set(ValueLayout.JAVA_BYTE, 12, (byte) Ipv4.PROTO_TCP);
        value.fill((byte) 0);
        value.set(BE_INT, 0, newSrc);
        value.set(BE_INT, 4, newDst);
        value.set(BE_SHORT, 8, (short) newSrcPort);
        value.set(BE_SHORT, 10, (short) newDstPort);
        value.set(ValueLayout.JAVA_INT, 12, ifindex);
        value.set(ValueLayout.JAVA_LONG, 16, System.nanoTime());
        value.set(ValueLayout.JAVA_LONG, 24, 10);
        assertEquals(0, Libbpf.mapUpdate(fd, key, value, Libbpf.BPF_ANY));
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(Duration.ofSeconds(20).toMillis(), TimeUnit.MILLISECONDS), String.join(" ", command));
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
        return out;
    }
}
