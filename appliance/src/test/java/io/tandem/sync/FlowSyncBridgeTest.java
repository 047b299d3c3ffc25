package io.tandem.sync;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.tandem.TestConfig;
import io.tandem.balancer.ActiveServices;
import io.tandem.balancer.ClientLimiters;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.FlowLookup;
import io.tandem.conntrack.FlowSnapshot;
import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.FragmentTable;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.PacketProcessor;
import io.tandem.dataplane.tun.Verdict;
import io.tandem.packet.DropReason;
import io.tandem.packet.Ipv4;
import io.tandem.packet.TcpFlags;
import io.tandem.packet.TestPacket;
import io.tandem.packet.TestPacket6;
import io.tandem.statesync.FlowRecord;
import io.tandem.statesync.InMemoryReplicator;
import io.tandem.statesync.VersionClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two boxes' engines joined by the in-memory replicator: the active's flows appear on the
 * standby with the same NAT mapping, survive there without traffic, and carry on through it.
 */
class FlowSyncBridgeTest {
    static final String CONFIG = TestConfig.box(null)
            .conntrack("max_flows: 4096", "timeouts: { tcp_established: 2s, udp_assured: 2s }")
            .services(TestConfig.Service.web(3)).yaml();

    /** One box: table, engine, bridge, with a clock the test moves. */
    static final class Box {
        final AtomicLong clock = new AtomicLong(1_000_000);
        /** The box's clock: {@link #clock}, which the test moves, unless the box was given another. */
        final LongSupplier now;
        final FlowTable table;
        final SnatPortPools pools = new SnatPortPools(1024, 65535);
        final PacketProcessor processor;
        final FlowSyncBridge bridge;

        Box(TandemConfig config) {
            this(config, null);
        }

        Box(TandemConfig config, LongSupplier wallClock) {
            now = wallClock != null ? wallClock : clock::get;
            VersionClock versions = new VersionClock(now);
            table = new FlowTable(4096, 4096, config.conntrack().flowTimeouts(), pools, versions::next);
            processor = new PacketProcessor(table, new FragmentTable(64, 30_000),
                    new ActiveServices(ServiceTable.build(config.services(), pools, MaglevTable.DEFAULT_SIZE, Set.of(), Set.of(),
                            new ClientLimiters(), table.ipv6Addresses())));
            bridge = new FlowSyncBridge(table, versions, now);
            table.setListener(bridge);
        }

        FlowLookup flow(int clientPort) {
            FlowLookup out = new FlowLookup();
            return table.lookup(Ipv4.PROTO_TCP, Ipv4.parse("198.18.0.10"), Ipv4.parse("198.18.0.100"), clientPort, 80, out) ? out : null;
        }
    }

    private InMemoryReplicator[] link;

    private static long lastSeen(Box box) {
        long[] seen = {-1};
        box.table.forEach(f -> seen[0] = f.lastSeenMillis());
        return seen[0];
    }

    @AfterEach
    void unlink() {
        if (link != null) {
            link[0].close();
            link[1].close();
        }
    }

    private Box[] pair() throws Exception {
        return pair(CONFIG);
    }

    private Box[] pair(String yaml) throws Exception {
        TandemConfig config = ConfigLoader.parse(yaml, "test");
        Box active = new Box(config);
        Box standby = new Box(config);
        link = InMemoryReplicator.pair(10_000, Duration.ofMillis(100));
        active.bridge.attach(link[0]);
        standby.bridge.attach(link[1]);
        link[0].start(active.bridge);
        link[1].start(standby.bridge);
        active.bridge.becameActive();
        return new Box[] {active, standby};
    }

    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private static void handshake(Box box, int clientPort) {
        assertEquals(Verdict.FORWARD, box.processor.process(
                TestPacket.tcp("198.18.0.10", clientPort, "198.18.0.100", 80, TcpFlags.SYN).build(), box.clock.get()));
        FlowLookup f = box.flow(clientPort);
        box.processor.process(TestPacket.tcp(Ipv4.format(f.backendAddress()), 8080, "198.19.0.100", f.snatPort(),
                TcpFlags.SYN | TcpFlags.ACK).build(), box.clock.get());
        box.processor.process(TestPacket.tcp("198.18.0.10", clientPort, "198.18.0.100", 80, TcpFlags.ACK).build(), box.clock.get());
    }

    private static FlowRecord record(int protocol, int clientPort, FlowState state, long version, boolean removed) {
        return new FlowRecord(protocol, Ipv4.parse("198.18.0.10"), clientPort, Ipv4.parse("198.18.0.100"), 80,
                Ipv4.parse("198.19.0.11"), 8080, Ipv4.parse("198.19.0.100"), 30000 + clientPort % 1000, state.code(), 0,
                1_000_000, version, removed);
    }

    /**
     * Issue 20: a copy of a flow older than its removal (a walk, a transfer or a refresh the
     * removal overtook) must not bring it back; a newer flow of the same tuple (the client
     * reused its port) is welcome; a state not of the record's protocol is refused, not made
     * ESTABLISHED. Each refusal counted.
     */
    @Test
    void aRemovalIsNotUndoneByAnOlderCopyAndForeignStatesAndFutureVersionsAreRefused() throws Exception {
        TandemConfig config = ConfigLoader.parse(CONFIG, "test");
        Box standby = new Box(config);
        standby.bridge.apply(record(6, 44000, FlowState.TCP_ESTABLISHED, 10, false));
        assertNotNull(standby.flow(44000));
        standby.bridge.apply(record(6, 44000, FlowState.TCP_ESTABLISHED, 20, true));
        assertNull(standby.flow(44000), "removed");
        standby.bridge.apply(record(6, 44000, FlowState.TCP_ESTABLISHED, 10, false)); // the overtaken copy
        assertNull(standby.flow(44000), "not resurrected");
        assertEquals(1, standby.bridge.recordsRefused());
        standby.bridge.apply(record(6, 44000, FlowState.TCP_SYN_SENT, 30, false)); // a new connection on the same tuple
        assertNotNull(standby.flow(44000), "a newer flow of the same tuple is installed");

        standby.bridge.apply(record(17, 44001, FlowState.TCP_ESTABLISHED, 40, false)); // UDP with a TCP state
        standby.bridge.apply(record(6, 44002, FlowState.UDP_ASSURED, 41, false)); // TCP with a UDP state
        assertNull(standby.flow(44002));
        assertEquals(3, standby.bridge.recordsRefused());
        assertEquals(1, standby.table.size(), "only the new flow of 44000");

        // A version from the far future (a clock gone wrong, a forged record) would make every later
        // update of the flow stale, and drag this box's clock along: refused.
        long farAhead = (standby.clock.get() + FlowSyncBridge.MAX_VERSION_AHEAD_MILLIS + 1_000) << 16;
        standby.bridge.apply(record(6, 44004, FlowState.TCP_ESTABLISHED, farAhead, false));
        standby.bridge.apply(record(6, 44005, FlowState.TCP_ESTABLISHED, Long.MAX_VALUE, false));
        assertNull(standby.flow(44004));
        assertNull(standby.flow(44005));
        assertEquals(5, standby.bridge.recordsRefused());
        assertTrue(standby.table.size() == 1, "nothing installed");

        // A tombstone lasts TOMBSTONE_MILLIS: after it, an old copy is just a record again.
        standby.bridge.apply(record(6, 44003, FlowState.TCP_ESTABLISHED, 50, false));
        standby.bridge.apply(record(6, 44003, FlowState.TCP_ESTABLISHED, 60, true));
        standby.clock.addAndGet(FlowSyncBridge.TOMBSTONE_MILLIS + 1);
        standby.bridge.apply(record(6, 44003, FlowState.TCP_ESTABLISHED, 50, false));
        assertNotNull(standby.flow(44003));
    }

    /**
     * Issue 20, goal 5: the peer's config has a backend this box's has not. Its flows still
     * install and carry packets (they hold their mapping), but make no SNAT pool here — one
     * made for them would never be freed — and they are counted for the status and metrics.
     */
    @Test
    void aPeerFlowToABackendThisBoxDoesNotHaveWorksAndLeavesNoPoolBehind() throws Exception {
        Box box = new Box(ConfigLoader.parse(CONFIG, "test"));
        int unknown = Ipv4.parse("198.19.0.99");
        FlowRecord toUnknown = new FlowRecord(6, Ipv4.parse("198.18.0.10"), 46000, Ipv4.parse("198.18.0.100"), 80, unknown, 7777,
                Ipv4.parse("198.19.0.100"), 46000, FlowState.TCP_ESTABLISHED.code(), 0, 1_000_000, 10, false);
        box.bridge.apply(toUnknown);
        assertNotNull(box.flow(46000));
        assertEquals(1, box.table.unknownBackendFlows());
        assertEquals("198.19.0.99:7777", box.table.lastUnknownBackend());
        assertNull(box.pools.existing(Ipv4.parse("198.19.0.100"), unknown, 7777, Ipv4.PROTO_TCP), "no pool made for it");
        ByteBuf packet = TestPacket.tcp("198.18.0.10", 46000, "198.18.0.100", 80, TcpFlags.ACK).build();
        assertEquals(Verdict.FORWARD, box.processor.process(packet, box.clock.get()));
        assertEquals("198.19.0.99", Ipv4.format(packet.getInt(16)), "forwarded to the peer's backend");
        packet.release();

        box.bridge.apply(new FlowRecord(6, Ipv4.parse("198.18.0.10"), 46000, Ipv4.parse("198.18.0.100"), 80, unknown, 7777,
                Ipv4.parse("198.19.0.100"), 46000, FlowState.TCP_ESTABLISHED.code(), 0, 1_000_000, 20, true));
        assertNull(box.flow(46000));
        assertEquals(0, box.table.unknownBackendFlows());
    }

    /**
     * Found by SyncPairIT's flapping link: a flow the active ended while the link was down (its
     * removal never sent) came back on the active in the merge's copy of the standby's table —
     * the active kept no tombstone of its own removals — and the standby's tombstone then
     * refused every later copy: the digests never agreed.
     */
    @Test
    void aFlowTheActiveEndedWhileTheLinkWasDownDoesNotComeBackInTheMerge() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 47000);
        await(() -> boxes[1].flow(47000) != null, "the flow on the standby");
        link[0].disconnect();
        assertTrue(boxes[0].table.removeByKey(Ipv4.PROTO_TCP, Ipv4.parse("198.18.0.10"), 47000, Ipv4.parse("198.18.0.100"), 80));
        awaitLostInTheCut(link[0]); // else it reaches the standby and leaves no stale copy for the merge
        link[0].merge();
        await(() -> boxes[1].flow(47000) == null, "the standby's stale copy dropped by a range resync");
        assertNull(boxes[0].flow(47000), "not brought back on the active by the standby's table");
        assertTrue(boxes[0].bridge.recordsRefused() >= 1, "the merge's copy refused");
        assertTrue(Arrays.equals(boxes[0].bridge.digest().snapshot(), boxes[1].bridge.digest().snapshot()));
    }

    /** Two clients' flows with one reply tuple (a split brain's two actives chose the same SNAT port): the held one wins. */
    @Test
    void aPeerFlowWhoseReplyTupleAnotherFlowHoldsIsRefusedAndCounted() throws Exception {
        Box box = new Box(ConfigLoader.parse(CONFIG, "test"));
        box.bridge.apply(record(6, 44000, FlowState.TCP_ESTABLISHED, 10, false));
        box.bridge.apply(record(6, 45000, FlowState.TCP_ESTABLISHED, 20, false)); // SNAT port 30000 too
        assertNotNull(box.flow(44000), "the flow held keeps its reply tuple");
        assertNull(box.flow(45000), "the newcomer is refused");
        assertEquals(1, box.bridge.conflicts());
        box.bridge.apply(record(6, 44000, FlowState.TCP_FIN_WAIT, 30, false)); // the held flow's own update
        assertEquals(1, box.bridge.conflicts(), "an update of the same flow is no conflict");
    }

    /**
     * Issue 20, clock skew: the standby's clock is 30 s behind. The active's last change of a
     * flow (a FIN) is lost; the active fails; the new active resets the flow. Its version must
     * still outrank the lost change's, or the old active, now standby, would keep the FIN and
     * refuse the reset as stale. (It becomes the source above the peer's clock, as measured
     * from the peer's send times.)
     */
    @Test
    void aNewActiveWhoseClockIsBehindStillOutranksTheOldActivesLostChange() throws Exception {
        TandemConfig config = ConfigLoader.parse(CONFIG, "test");
        Box ahead = new Box(config, System::currentTimeMillis);
        Box behind = new Box(config, () -> System.currentTimeMillis() - 30_000);
        link = InMemoryReplicator.pair(10_000, Duration.ofMillis(100), ahead.now, behind.now);
        ahead.bridge.attach(link[0]);
        behind.bridge.attach(link[1]);
        link[0].start(ahead.bridge);
        link[1].start(behind.bridge);
        ahead.bridge.becameActive();
        send(ahead, "198.18.0.10", 45000, "198.18.0.100", 80, TcpFlags.SYN);
        FlowLookup f = ahead.flow(45000);
        String backend = Ipv4.format(f.backendAddress());
        send(ahead, backend, 8080, "198.19.0.100", f.snatPort(), TcpFlags.SYN | TcpFlags.ACK);
        send(ahead, "198.18.0.10", 45000, "198.18.0.100", 80, TcpFlags.ACK);
        await(() -> behind.flow(45000) != null && behind.flow(45000).state() == FlowState.TCP_ESTABLISHED, "the flow on the standby");
        await(() -> link[1].peerClockAheadMillis() >= 29_000, "the standby sees the active's clock 30 s ahead");

        link[0].disconnect();
        send(ahead, "198.18.0.10", 45000, "198.18.0.100", 80, TcpFlags.FIN | TcpFlags.ACK); // lost
        assertEquals(FlowState.TCP_FIN_WAIT, ahead.flow(45000).state());
        awaitLostInTheCut(link[0]);
        link[0].connect(true);
        ahead.bridge.becameStandby();
        behind.bridge.becameActive();
        send(behind, backend, 8080, "198.19.0.100", f.snatPort(), TcpFlags.RST);
        assertEquals(FlowState.TCP_CLOSED, behind.flow(45000).state());
        await(() -> ahead.flow(45000).state() == FlowState.TCP_CLOSED, "the new active's reset on the old active, not refused as stale");
    }

    /**
     * Waits until what {@code side} was just given is lost in the cut link. The sender gathers a
     * batch for a few ms before it sends: flushed after the link returned, the change would
     * simply arrive. Its loop runs a digest round every 100 ms after its batch; two of them with
     * the queue empty put the batch behind it.
     */
    private static void awaitLostInTheCut(InMemoryReplicator side) {
        long from = System.nanoTime();
        await(() -> side.status().queueDepth() == 0 && System.nanoTime() - from > TimeUnit.MILLISECONDS.toNanos(200),
                "the change lost in the cut");
    }

    private static void send(Box box, String from, int fromPort, String to, int toPort, int flags) {
        box.processor.process(TestPacket.tcp(from, fromPort, to, toPort, flags).build(), box.now.getAsLong());
    }

    @Test
    void theStandbyHoldsEachFlowWithTheSameMappingAndState() throws Exception {
        Box[] boxes = pair();
        for (int port = 40000; port < 40100; port++) {
            handshake(boxes[0], port);
        }
        await(() -> boxes[1].table.size() == 100
                && Arrays.equals(boxes[0].bridge.digest().snapshot(), boxes[1].bridge.digest().snapshot()), "100 flows on the standby");
        await(() -> boxes[1].flow(40099) != null && boxes[1].flow(40099).state() == FlowState.TCP_ESTABLISHED, "states replicated");
        for (int port = 40000; port < 40100; port++) {
            FlowLookup a = boxes[0].flow(port);
            FlowLookup b = boxes[1].flow(port);
            assertEquals(a.backendAddress(), b.backendAddress());
            assertEquals(a.snatPort(), b.snatPort());
            assertEquals(FlowState.TCP_ESTABLISHED, b.state());
        }
        assertEquals(0, boxes[1].table.embryonic());
        await(() -> Boolean.TRUE.equals(link[1].status().digestsEqual()), "the standby's digest comparison");
    }

    @Test
    void afterTakeoverTheStandbyForwardsMidStreamSegmentsWithTheSameNat() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 41000);
        ByteBuf onActive = TestPacket.tcp("198.18.0.10", 41000, "198.18.0.100", 80, TcpFlags.ACK).payload("data").build();
        boxes[0].processor.process(onActive, boxes[0].clock.get());
        await(() -> boxes[1].flow(41000) != null, "the flow on the standby");

        // The active dies; a retransmitted mid-stream segment reaches the standby.
        ByteBuf onStandby = TestPacket.tcp("198.18.0.10", 41000, "198.18.0.100", 80, TcpFlags.ACK).payload("data").build();
        assertEquals(Verdict.FORWARD, boxes[1].processor.process(onStandby, boxes[1].clock.get()));
        assertEquals(ByteBufUtil.hexDump(onActive), ByteBufUtil.hexDump(onStandby), "the same rewrite, byte for byte");

        ByteBuf unknown = TestPacket.tcp("198.18.0.10", 41001, "198.18.0.100", 80, TcpFlags.ACK).build();
        assertEquals(Verdict.DROP, boxes[1].processor.process(unknown, boxes[1].clock.get()));
        assertEquals(DropReason.TCP_NOT_SYN, boxes[1].processor.lastDropReason(), "a flow it never heard of is still not invented");
    }

    @Test
    void longLivedFlowsOutliveTheStandbysIdleTimersWhileTheActiveRefreshesThem() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 42000);
        await(() -> boxes[1].flow(42000) != null && boxes[1].flow(42000).state() == FlowState.TCP_ESTABLISHED, "the flow on the standby");
        boxes[1].table.setRemoteHold(8_000); // longer than the refresh interval (5 s), far shorter than the test
        for (int second = 1; second <= 20; second++) {
            // traffic on the active only, every second; ESTABLISHED idles out after 2 s here
            boxes[0].clock.addAndGet(1000);
            boxes[1].clock.addAndGet(1000);
            boxes[0].processor.process(TestPacket.tcp("198.18.0.10", 42000, "198.18.0.100", 80, TcpFlags.ACK).build(), boxes[0].clock.get());
            if (second % 5 == 0) {
                assertEquals(1, boxes[0].bridge.refresh());
                long refreshedAt = boxes[1].clock.get();
                await(() -> lastSeen(boxes[1]) == refreshedAt, "the refresh reaching the standby");
            }
            boxes[0].table.expire(boxes[0].clock.get(), 4096);
            boxes[1].table.expire(boxes[1].clock.get(), 4096);
            int at = second;
            assertNotNull(boxes[1].flow(42000), () -> "the standby dropped the flow at second " + at);
        }
        assertNotNull(boxes[0].flow(42000));
        assertNotNull(boxes[1].flow(42000), "the standby still holds the flow after 20 s, ten idle timeouts");

        // The active stops refreshing (it died): the standby lets the flow go after its timeout and the hold.
        boxes[1].clock.addAndGet(9_000);
        boxes[1].table.expire(boxes[1].clock.get(), 4096);
        assertNotNull(boxes[1].flow(42000), "2 s idle timeout + 8 s hold not over yet");
        boxes[1].clock.addAndGet(2_000);
        boxes[1].table.expire(boxes[1].clock.get(), 4096);
        assertNull(boxes[1].flow(42000));
    }

    /** Found by the soak: idle flows left the standby at the hold, before the active let them go. */
    @Test
    void anIdleFlowStaysOnTheStandbyAsLongAsTheActiveKeepsIt() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 42100);
        await(() -> boxes[1].flow(42100) != null && boxes[1].flow(42100).state() == FlowState.TCP_ESTABLISHED, "the flow on the standby");
        boxes[1].table.setRemoteHold(1_000); // shorter than the 2 s idle timeout of ESTABLISHED here
        boxes[0].clock.addAndGet(1_500);
        boxes[1].clock.addAndGet(1_500);
        boxes[0].table.expire(boxes[0].clock.get(), 4096);
        boxes[1].table.expire(boxes[1].clock.get(), 4096);
        assertNotNull(boxes[0].flow(42100), "idle 1.5 s: the active keeps it");
        assertNotNull(boxes[1].flow(42100), "so must the standby");

        boxes[0].clock.addAndGet(1_000);
        assertEquals(1, boxes[0].table.expire(boxes[0].clock.get(), 4096), "idle 2.5 s: the active lets it go");
        await(() -> boxes[1].flow(42100) == null, "the removal reaching the standby");
        assertTrue(Arrays.equals(boxes[0].bridge.digest().snapshot(), boxes[1].bridge.digest().snapshot()));
    }

    /** Found by the soak: after a failover the new standby let its own flows go before the new active did. */
    @Test
    void afterAFailoverTheNewActiveLetsFlowsGoFirstWhoeverCreatedThem() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 42200);
        await(() -> boxes[1].flow(42200) != null && boxes[1].flow(42200).state() == FlowState.TCP_ESTABLISHED, "the flow on the standby");
        boxes[0].table.setRemoteHold(1_000);
        boxes[1].table.setRemoteHold(1_000);
        // Failover: box 1 becomes the source, box 0 the replica; nobody sends a packet.
        boxes[0].bridge.becameStandby();
        boxes[1].bridge.becameActive();
        boxes[0].clock.addAndGet(2_500); // idle past the 2 s timeout of ESTABLISHED here, within timeout + hold
        boxes[1].clock.addAndGet(2_500);
        boxes[0].table.expire(boxes[0].clock.get(), 4096);
        assertNotNull(boxes[0].flow(42200), "the replica waits for the active's word, though it created the flow");
        assertEquals(1, boxes[1].table.expire(boxes[1].clock.get(), 4096), "the active lets it go");
        await(() -> boxes[0].flow(42200) == null, "the removal reaching the replica");
        assertTrue(Arrays.equals(boxes[0].bridge.digest().snapshot(), boxes[1].bridge.digest().snapshot()));
    }

    @Test
    void aClosedFlowEndsOnTheStandbyToo() throws Exception {
        Box[] boxes = pair();
        handshake(boxes[0], 43000);
        await(() -> boxes[1].flow(43000) != null, "the flow on the standby");
        FlowLookup f = boxes[0].flow(43000);
        boxes[0].processor.process(TestPacket.tcp(Ipv4.format(f.backendAddress()), 8080, "198.19.0.100", f.snatPort(), TcpFlags.RST).build(),
                boxes[0].clock.get());
        boxes[0].clock.addAndGet(11_000);
        assertEquals(1, boxes[0].table.expire(boxes[0].clock.get(), 4096));
        await(() -> boxes[1].flow(43000) == null, "the removal on the standby");
        assertEquals(0, boxes[1].table.size());
        assertTrue(Arrays.equals(boxes[0].bridge.digest().snapshot(), boxes[1].bridge.digest().snapshot()));
    }

    @Test
    void aStandbyThatJoinsLateGetsTheWholeTable() throws Exception {
        TandemConfig config = ConfigLoader.parse(CONFIG, "test");
        Box active = new Box(config);
        Box standby = new Box(config);
        link = InMemoryReplicator.pair(10_000, Duration.ofMillis(100));
        active.bridge.attach(link[0]);
        link[0].start(active.bridge);
        active.bridge.becameActive();
        for (int port = 44000; port < 44500; port++) {
            handshake(active, port);
        }
        standby.bridge.attach(link[1]);
        link[1].start(standby.bridge);
        assertEquals(500, standby.table.size());
        assertEquals(500, link[1].status().lastFullResync().records());
        handshake(active, 44500);
        await(() -> standby.table.size() == 501, "the change after the transfer");
    }

    /**
     * Issue 21: an IPv6 flow goes to the standby with its four addresses (its ids there are the
     * standby's own), the digests agree, the standby forwards its next segment byte for byte as
     * the active did, and the flow's end takes its addresses out of the standby's arena.
     */
    @Test
    void anIpv6FlowReachesTheStandbyWithItsAddressesAndCarriesOnThroughIt() throws Exception {
        Box[] boxes = pair(TestConfig.box(null).conntrack("max_flows: 4096", "timeouts: { tcp_established: 2s, udp_assured: 2s }")
                .services(TestConfig.Service.web(1), new TestConfig.Service("web6", VIP6, 80).snat(SNAT6)
                        .backend("2001:2:0:1::11", 8080).backend("2001:2:0:1::12", 8080))
                .yaml());
        Box active = boxes[0];
        Box standby = boxes[1];
        int pinned = standby.table.ipv6Addresses().size();
        assertEquals(Verdict.FORWARD, active.processor.process(TestPacket6.tcp(CLIENT6, 45000, VIP6, 80, TcpFlags.SYN).build(),
                active.clock.get()));
        FlowSnapshot held = only(active);
        active.processor.process(TestPacket6.tcp(held.backend(), 8080, SNAT6, held.snatPort(), TcpFlags.SYN | TcpFlags.ACK).build(),
                active.clock.get());
        ByteBuf onActive = TestPacket6.tcp(CLIENT6, 45000, VIP6, 80, TcpFlags.ACK).payload("data").build();
        assertEquals(Verdict.FORWARD, active.processor.process(onActive, active.clock.get()));

        await(() -> standby.table.size() == 1 && only(standby).state() == FlowState.TCP_ESTABLISHED
                && Arrays.equals(active.bridge.digest().snapshot(), standby.bridge.digest().snapshot()), "the IPv6 flow on the standby");
        FlowSnapshot copy = only(standby);
        assertEquals(CLIENT6, copy.client());
        assertEquals(VIP6, copy.vip());
        assertEquals(held.backend(), copy.backend());
        assertEquals(SNAT6, copy.snat());
        assertEquals(held.snatPort(), copy.snatPort());
        assertEquals(pinned + 1, standby.table.ipv6Addresses().size(), "the client's address entered on the standby");

        ByteBuf onStandby = TestPacket6.tcp(CLIENT6, 45000, VIP6, 80, TcpFlags.ACK).payload("data").build();
        assertEquals(Verdict.FORWARD, standby.processor.process(onStandby, standby.clock.get()));
        assertEquals(ByteBufUtil.hexDump(onActive), ByteBufUtil.hexDump(onStandby), "the same rewrite, byte for byte");

        active.processor.process(TestPacket6.tcp(held.backend(), 8080, SNAT6, held.snatPort(), TcpFlags.RST).build(), active.clock.get());
        active.clock.addAndGet(11_000);
        assertEquals(1, active.table.expire(active.clock.get(), 4096));
        await(() -> standby.table.size() == 0, "the removal on the standby");
        assertEquals(pinned, standby.table.ipv6Addresses().size(), "and the client's address left with it");
        assertTrue(Arrays.equals(active.bridge.digest().snapshot(), standby.bridge.digest().snapshot()));
    }

    private static FlowSnapshot only(Box box) {
        List<FlowSnapshot> flows = new ArrayList<>();
        box.table.forEach(flows::add);
        assertEquals(1, flows.size());
        return flows.get(0);
    }

    private static final String CLIENT6 = "2001:2::10";
    private static final String VIP6 = "2001:2::100";
    private static final String SNAT6 = "2001:2:0:1::100";
}
