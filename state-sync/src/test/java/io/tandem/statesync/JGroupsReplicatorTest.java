package io.tandem.statesync;

import org.jgroups.protocols.DISCARD;
import org.jgroups.protocols.TCP;
import org.jgroups.stack.ProtocolStack;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import javax.net.ssl.SSLSocket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two real JGroups channels over loopback in one JVM, encrypted with the pair's key. */
class JGroupsReplicatorTest {
    private static final String PASSWORD = "test-pair-sync-password";
    @TempDir
    static Path keys;
    private static Path pairKey;
    private static Path otherKey;
    private final List<JGroupsReplicator> started = new ArrayList<>();

    @BeforeAll
    static void makeKeys() throws Exception {
        pairKey = keys.resolve("pair.p12");
        otherKey = keys.resolve("other.p12");
        SyncKeys.generate(pairKey, PASSWORD.toCharArray());
        SyncKeys.generate(otherKey, PASSWORD.toCharArray());
    }

    @AfterEach
    void stop() {
        started.forEach(JGroupsReplicator::close);
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private JGroupsReplicator start(String name, int port, int peerPort, Path key, MapFlowStore store, boolean source) throws Exception {
        return start(name, "127.0.0.1", port, peerPort, key, store, source);
    }

    private JGroupsReplicator start(String name, String host, int port, int peerPort, Path key, MapFlowStore store, boolean source)
            throws Exception {
        JGroupsReplicator r = new JGroupsReplicator(new JGroupsReplicator.Settings(name, host, port,
                List.of(host + "[" + port + "]", host + "[" + peerPort + "]"), key, PASSWORD,
                Duration.ofSeconds(3), Duration.ofMillis(200), 100_000, Duration.ofSeconds(20)));
        started.add(r);
        r.start(store);
        r.setSource(source);
        return r;
    }

    static FlowRecord flow(int i, long version) {
        return new FlowRecord(6, 0xC6120000 | (i >>> 16), i & 0xFFFF, 0xC6120064, 80, 0xC613000B + (i % 3), 8080,
                0xC6130064, 1024 + i % 60000, 3, 0, 1000L, version, false);
    }

    static void await(BooleanSupplier condition, Duration timeout, Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + ": " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    /** A source (lb1, holding {@code a}) and a replica (lb2, holding {@code b}) with the pair's key, joined. */
    private JGroupsReplicator[] joinedPair(MapFlowStore a, MapFlowStore b) throws Exception {
        int pa = freePort();
        int pb = freePort();
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        JGroupsReplicator rb = start("lb2", pb, pa, pairKey, b, false);
        await(() -> ra.status().peerConnected() && rb.status().peerConnected(), Duration.ofSeconds(20), () -> "peers joined");
        return new JGroupsReplicator[] {ra, rb};
    }

    @Test
    void changesReachThePeerAndTheDigestsAgree() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        JGroupsReplicator ra = pair[0];
        JGroupsReplicator rb = pair[1];

        for (int i = 0; i < 5000; i++) {
            FlowRecord record = flow(i, i + 1);
            a.put(record);
            assertTrue(ra.publish(record));
        }
        // a later change of one flow wins over the earlier one, even within one batch
        FlowRecord moved = new FlowRecord(6, flow(7, 0).clientAddress(), 7, 0xC6120064, 80, 0xC613000D, 8080, 0xC6130064, 2000,
                4, 1, 2000L, 1_000_000L, false);
        a.put(moved);
        ra.publish(moved);

        await(() -> b.flows.size() == 5000 && Arrays.equals(a.digest().snapshot(), b.digest().snapshot()),
                Duration.ofSeconds(20), () -> b.flows.size() + " flows on the peer");
        assertEquals(moved, b.flows.get(MapFlowStore.Key.of(moved)));
        await(() -> Boolean.TRUE.equals(rb.status().digestsEqual()), Duration.ofSeconds(10), () -> rb.status().toString());
        assertTrue(ra.status().recordsSent() >= 5000);
        assertEquals(0, rb.status().decodeErrors());
    }

    /** Issue 21: the sync link over IPv6 (the loopback ::1), carrying IPv4 and IPv6 flows' records alike. */
    @Test
    void theSyncLinkRunsOverIpv6AndCarriesBothFamiliesFlows() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        int pa = freePort();
        int pb = freePort();
        JGroupsReplicator lb1 = start("lb1", "::1", pa, pb, pairKey, a, true);
        start("lb2", "::1", pb, pa, pairKey, b, false);
        await(() -> lb1.status().peerConnected(), Duration.ofSeconds(20), () -> "lb2 joined over ::1");
        FlowRecord v4 = flow(1, 10);
        FlowRecord v6 = new FlowRecord(6 | FlowRecord.IPV6, 0, 40000, 0, 80, 0, 8080, 0, 1025, 3, 0, 1000L, 11, false,
                new FlowRecord.Ipv6Addresses(0x2001000200000000L, 0x10L, 0x2001000200000000L, 0x100L,
                        0x2001000200000001L, 0x11L, 0x2001000200000001L, 0x100L));
        for (FlowRecord r : List.of(v4, v6)) {
            a.put(r);
            lb1.publish(r);
        }
        await(() -> b.flows.size() == 2, Duration.ofSeconds(10), () -> "both records on lb2: " + b.flows);
        assertEquals(v6, b.flows.get(MapFlowStore.Key.of(v6)), "the IPv6 record whole");
    }

    @Test
    void aJoiningPeerReceivesTheWholeTableThenTheStream() throws Exception {
        int pa = freePort();
        int pb = freePort();
        MapFlowStore a = new MapFlowStore();
        for (int i = 0; i < 20_000; i++) {
            a.put(flow(i, i + 1));
        }
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator rb = start("lb2", pb, pa, pairKey, b, false);

        assertEquals(20_000, b.flows.size(), "the state transfer completed before start returned");
        assertEquals(20_000, rb.status().lastFullResync().records());
        FlowRecord after = flow(30_000, 40_000);
        a.put(after);
        ra.publish(after);
        await(() -> b.flows.containsKey(MapFlowStore.Key.of(after)), Duration.ofSeconds(10), () -> "the change after the transfer");
        assertArrayEquals(a.digest().snapshot(), b.digest().snapshot());
    }

    @Test
    void aPeerWithAnotherKeyIsNotAdmittedAndNoRecordCrosses() throws Exception {
        int pa = freePort();
        int pb = freePort();
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator ra = start("lb1", pa, pb, pairKey, a, true);
        JGroupsReplicator rb = start("intruder", pb, pa, otherKey, b, false);
        for (int i = 0; i < 100; i++) {
            a.put(flow(i, i + 1));
            ra.publish(flow(i, i + 1));
            b.put(flow(i + 1000, i + 1));
            rb.publish(flow(i + 1000, i + 1));
        }
        // Give them the time a join takes with the right key (it takes well under a second).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
        while (System.nanoTime() < deadline) {
            assertFalse(ra.status().peerConnected(), "the intruder joined");
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
        assertEquals(100, a.flows.size());
        assertEquals(100, b.flows.size());
        assertEquals(0, ra.status().recordsReceived());
        assertEquals(0, rb.status().recordsReceived());
        assertTrue(ra.status().peersRefused() > 0 && rb.status().peersRefused() > 0,
                "each side counted the other's refusal: " + ra.status() + " / " + rb.status());
    }

    /**
     * An outsider on the sync network, without the pair's key, attacks a joined pair's source:
     * bytes shaped like JGroups frames (a forged LEAVE, RangeEnd or anything else is such
     * bytes), a frame declaring 2 GiB, a real box's sniffed TLS handshake replayed on a new
     * connection, a TLS client with a key of its own, and 100 connections opened at once that
     * never speak. Each is refused before JGroups reads a byte, counted, and closed; the view,
     * both tables and the stream of changes are as they were.
     */
    @Test
    void anOutsiderWithoutTheKeyCanNeitherJoinNorChangeATableNorHoldThePeersResources() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        JGroupsReplicator ra = pair[0];
        JGroupsReplicator rb = pair[1];
        int pa = ra.port();
        for (int i = 0; i < 100; i++) {
            a.put(flow(i, i + 1));
            ra.publish(flow(i, i + 1));
        }
        await(() -> b.flows.size() == 100, Duration.ofSeconds(10), () -> b.flows.size() + " flows on the replica");
        String view = ra.viewId();
        long refusedBefore = ra.status().peersRefused();
        byte[] session = capturedHandshake();
        assertTrue(session.length > 100, "a handshake was captured: " + session.length + " bytes");

        List<Socket> attacks = new ArrayList<>();
        // JGroups' own frame start ("bela", version) and junk: what a forged message looks like on the wire.
        attacks.add(send(pa, new byte[] {'b', 'e', 'l', 'a', 5, 5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7}));
        // A frame that declares 2 GiB: nothing is allocated for it.
        attacks.add(send(pa, new byte[] {0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 0}));
        // The real peer's captured bytes, replayed: the server's fresh random makes the old handshake fail.
        attacks.add(send(pa, session));
        for (int i = 0; i < 100; i++) {
            attacks.add(send(pa, new byte[0])); // connects, then says nothing
        }
        for (Socket s : attacks) {
            assertClosedByPeer(s, Duration.ofSeconds(10));
        }
        // A TLS client with a key of its own.
        JGroupsReplicator intruder = start("intruder", freePort(), pa, otherKey, new MapFlowStore(), false);
        await(() -> ra.status().peersRefused() >= refusedBefore + 104, Duration.ofSeconds(15),
                () -> "refusals counted: " + (ra.status().peersRefused() - refusedBefore));
        assertFalse(intruder.status().peerConnected());

        assertEquals(view, ra.viewId(), "no member joined, left or was evicted");
        assertTrue(rb.status().peerConnected());
        assertEquals(100, a.flows.size());
        assertEquals(100, b.flows.size());
        assertEquals(0, ra.status().recordsReceived(), "nothing reached the source's table");
        for (int i = 100; i < 200; i++) {
            a.put(flow(i, i + 1));
            ra.publish(flow(i, i + 1));
        }
        await(() -> b.flows.size() == 200 && Arrays.equals(a.digest().snapshot(), b.digest().snapshot()), Duration.ofSeconds(10),
                () -> b.flows.size() + " flows on the replica after the attacks");
    }

    /** What a real box sends first when it opens the sync link (its TLS ClientHello, with the pair's key), as sniffed. */
    private static byte[] capturedHandshake() throws Exception {
        SyncTls tls = SyncTls.of(SyncKeys.load(pairKey, PASSWORD), PASSWORD);
        try (ServerSocket recorder = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread client = Thread.ofVirtual().start(() -> {
                try (Socket s = tls.context().getSocketFactory().createSocket("127.0.0.1", recorder.getLocalPort())) {
                    ((SSLSocket) s).startHandshake();
                } catch (IOException expected) {
                    // the recorder never answers
                }
            });
            try (Socket s = recorder.accept()) {
                s.setSoTimeout(2_000);
                byte[] buffer = new byte[16384];
                int n = s.getInputStream().read(buffer);
                client.join(5_000);
                return n <= 0 ? new byte[0] : Arrays.copyOf(buffer, n);
            }
        }
    }

    private static Socket send(int port, byte[] bytes) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout(10_000);
        if (bytes.length > 0) {
            s.getOutputStream().write(bytes);
            s.getOutputStream().flush();
        }
        return s;
    }

    /** The server closes the connection: a read ends (EOF or reset) well before the timeout. */
    private static void assertClosedByPeer(Socket s, Duration timeout) throws IOException {
        try (s) {
            s.setSoTimeout((int) timeout.toMillis());
            InputStream in = s.getInputStream();
            byte[] buffer = new byte[4096];
            while (in.read(buffer) >= 0) {
                // the server's TLS alert, if any, then the end
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the server kept an outsider's connection open for " + timeout);
        } catch (SocketException e) {
            // reset: closed too
        }
    }

    @Test
    void aReplicaThatDriftedIsRepairedRangeByRange() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        JGroupsReplicator ra = pair[0];
        JGroupsReplicator rb = pair[1];
        // Changes that never crossed (a full queue, a link down): the digests show it.
        for (int i = 0; i < 300; i++) {
            a.put(flow(i, i + 1));
        }
        b.put(flow(9999, 1)); // a flow the source does not have
        await(() -> Arrays.equals(a.digest().snapshot(), b.digest().snapshot()), Duration.ofSeconds(20),
                () -> b.flows.size() + " flows on the replica, digests equal: " + rb.status().digestsEqual());
        assertEquals(300, b.flows.size());
        assertFalse(b.flows.containsKey(MapFlowStore.Key.of(flow(9999, 1))));
        assertTrue(rb.status().rangeResyncs() > 0);
    }

    /**
     * A partition (every message dropped both ways, as a cut sync link) lets each side evict
     * the other and go on alone, both active — a split brain — each opening flows of its own.
     * When the link returns MERGE3 merges the two groups and each side sends the other its
     * whole table: afterwards both hold every flow of both, and the digests agree.
     */
    @Test
    void afterAPartitionHealsBothSidesHoldEveryFlowOfBoth() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        for (int i = 0; i < 100; i++) {
            a.put(flow(i, i + 1));
            pair[0].publish(flow(i, i + 1));
        }
        await(() -> b.flows.size() == 100, Duration.ofSeconds(10), () -> b.flows.size() + " flows on the replica");

        DISCARD[] cut = new DISCARD[2];
        for (int side = 0; side < 2; side++) {
            cut[side] = new DISCARD().discardAll(true);
            pair[side].channel().getProtocolStack().insertProtocol(cut[side], ProtocolStack.Position.ABOVE, TCP.class);
        }
        await(() -> !pair[0].status().peerConnected() && !pair[1].status().peerConnected(), Duration.ofSeconds(20),
                () -> "each side alone: " + pair[0].viewId() + " / " + pair[1].viewId());
        pair[1].setSource(true); // both active
        for (int i = 1000; i < 1200; i++) {
            a.put(flow(i, i + 1));
            b.put(flow(i + 1000, i + 1));
        }

        for (DISCARD d : cut) {
            d.discardAll(false);
        }
        await(() -> a.flows.size() == 500 && b.flows.size() == 500, Duration.ofSeconds(30),
                () -> a.flows.size() + " and " + b.flows.size() + " flows after the heal (500 each expected); views "
                        + pair[0].viewId() + " / " + pair[1].viewId());
        assertEquals(a.flows, b.flows);
        assertArrayEquals(a.digest().snapshot(), b.digest().snapshot());
        assertEquals(1, pair[0].status().merges());
        assertEquals(1, pair[1].status().merges());
    }

    /**
     * A connection closed under a live pair - as a forged RST on the sync network would close
     * it - costs a new handshake, nothing more: nobody is suspected or evicted (failure
     * detection is the heartbeats alone), and the stream goes on over a new connection.
     */
    @Test
    void aConnectionClosedUnderALivePairEvictsNobody() throws Exception {
        MapFlowStore a = new MapFlowStore();
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator[] pair = joinedPair(a, b);
        String viewA = pair[0].viewId();
        String viewB = pair[1].viewId();
        TCP tcpB = pair[1].channel().getProtocolStack().findProtocol(TCP.class);

        tcpB.clearConnections(); // lb2 closes its end; lb1 reads the close as its peer's
        assertEquals(0, tcpB.getOpenConnections());

        for (int i = 0; i < 100; i++) {
            a.put(flow(i, i + 1));
            pair[0].publish(flow(i, i + 1));
        }
        await(() -> b.flows.size() == 100, Duration.ofSeconds(10), () -> b.flows.size() + " flows on the replica");
        // Past the heartbeats' timeout (3 s here) and VERIFY_SUSPECT2's 500 ms: nothing changes
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < until) {
            assertEquals(viewA, pair[0].viewId());
            assertEquals(viewB, pair[1].viewId());
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        assertTrue(pair[0].status().peerConnected() && pair[1].status().peerConnected());
        assertTrue(tcpB.getOpenConnections() > 0, "a new connection carries the stream");
    }
}
