package io.tandem.statesync;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static io.tandem.statesync.JGroupsReplicatorTest.await;
import static io.tandem.statesync.JGroupsReplicatorTest.flow;
import static io.tandem.statesync.JGroupsReplicatorTest.freePort;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 29, point 4: anyone who could reach the sync port could keep the pair apart — the gate
 * bounded each read of a TLS handshake to 2 s, not the handshake, so 32 connections trickling a
 * byte at a time held every handshake slot and a restarted peer was refused for good. Here the
 * pair runs on 127.0.0.2 and 127.0.0.3 (loopback addresses of their own), outsiders attack both
 * sync ports from 127.0.0.4 — 64 that trickle a byte every 300 ms and reconnect when closed, 64
 * that connect, send junk and reconnect a hundred times a second — while the replica restarts: the
 * pair is back in sync in about the time it takes without them, both roles as they were.
 * (Seen failing before the fix: the restarted replica never rejoined within 60 s.)
 */
class SyncPortUnderAttackTest {
    private static final String PASSWORD = "test-pair-sync-password";
    private static final String SOURCE_HOST = "127.0.0.2";
    private static final String REPLICA_HOST = "127.0.0.3";
    private static final String OUTSIDER_HOST = "127.0.0.4";
    @TempDir
    static Path keys;
    private static Path pairKey;
    private final List<JGroupsReplicator> started = new ArrayList<>();
    /** A TLS record header announcing a 512-byte handshake record, and the start of a ClientHello in it. */
    private static final byte[] CLIENT_HELLO_START = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03};
    private final AtomicBoolean attacking = new AtomicBoolean();
    private final List<Thread> attackers = new ArrayList<>();

    @BeforeAll
    static void makeKey() throws Exception {
        pairKey = keys.resolve("pair.p12");
        SyncKeys.generate(pairKey, PASSWORD.toCharArray());
    }

    @AfterEach
    void stop() throws InterruptedException {
        attacking.set(false);
        for (Thread t : attackers) {
            t.join(5_000);
        }
        started.forEach(JGroupsReplicator::close);
    }

    private JGroupsReplicator start(String name, String host, int port, String peerHost, int peerPort, MapFlowStore store,
                                    boolean source) throws Exception {
        JGroupsReplicator r = new JGroupsReplicator(new JGroupsReplicator.Settings(name, host, port,
                List.of(host + "[" + port + "]", peerHost + "[" + peerPort + "]"), pairKey, PASSWORD,
                Duration.ofSeconds(3), Duration.ofMillis(200), 100_000, Duration.ofSeconds(20)));
        started.add(r);
        r.start(store);
        r.setSource(source);
        return r;
    }

    /** Milliseconds from {@code start} (System.nanoTime) until both are connected and their tables equal. */
    private static long reform(long start, JGroupsReplicator source, JGroupsReplicator replica, MapFlowStore a, MapFlowStore b,
                               Duration bound) {
        await(() -> source.status().peerConnected() && replica.status().peerConnected() && b.flows.size() == a.flows.size()
                        && Arrays.equals(a.digest().snapshot(), b.digest().snapshot()),
                bound, () -> "pair re-formed: source " + source.status() + "; replica holds " + b.flows.size());
        return (System.nanoTime() - start) / 1_000_000;
    }

    @Test
    void outsidersOnTheSyncNetworkCannotKeepARestartedPeerOut() throws Exception {
        int pa = freePort();
        int pb = freePort();
        MapFlowStore a = new MapFlowStore();
        JGroupsReplicator source = start("lb1", SOURCE_HOST, pa, REPLICA_HOST, pb, a, true);
        MapFlowStore b = new MapFlowStore();
        JGroupsReplicator replica = start("lb2", REPLICA_HOST, pb, SOURCE_HOST, pa, b, false);
        for (int i = 0; i < 500; i++) {
            a.put(flow(i, i + 1));
            source.publish(flow(i, i + 1));
        }
        reform(System.nanoTime(), source, replica, a, b, Duration.ofSeconds(30));

        // The time a restart of the replica takes to re-form the pair, unattacked.
        replica.close();
        started.remove(replica);
        MapFlowStore b2 = new MapFlowStore();
        long restart = System.nanoTime();
        JGroupsReplicator restarted = start("lb2", REPLICA_HOST, pb, SOURCE_HOST, pa, b2, false);
        long normal = reform(restart, source, restarted, a, b2, Duration.ofSeconds(30));

        long refusedBefore = source.status().peersRefused();
        AtomicLong slowConnections = new AtomicLong();
        AtomicLong fastConnections = new AtomicLong();
        attacking.set(true);
        long attackEnds = System.nanoTime() + Duration.ofSeconds(90).toNanos(); // bounded: stops by itself
        for (int i = 0; i < 64; i++) {
            String host = i % 2 == 0 ? SOURCE_HOST : REPLICA_HOST;
            int port = i % 2 == 0 ? pa : pb;
            attackers.add(Thread.ofVirtual().start(() -> slowClient(host, port, attackEnds, slowConnections)));
            attackers.add(Thread.ofVirtual().start(() -> fastClient(host, port, attackEnds, fastConnections)));
        }
        await(() -> slowConnections.get() >= 64 && fastConnections.get() >= 640, Duration.ofSeconds(30),
                () -> "the attack is on: " + slowConnections.get() + " slow, " + fastConnections.get() + " fast connections");

        restarted.close();
        started.remove(restarted);
        MapFlowStore b3 = new MapFlowStore();
        long restartAttacked = System.nanoTime();
        JGroupsReplicator again = start("lb2", REPLICA_HOST, pb, SOURCE_HOST, pa, b3, false);
        long attacked = reform(restartAttacked, source, again, a, b3, Duration.ofSeconds(60));
        System.out.printf("Sync port under attack (64 slow and 64 fast outsiders, %,d connections): the restarted replica"
                + " re-formed the pair in %,d ms (unattacked %,d ms); refused %,d%n", slowConnections.get() + fastConnections.get(),
                attacked, normal, source.status().peersRefused() - refusedBefore);
        assertTrue(attacked <= normal + 5_000, "back in sync within the normal time: " + attacked + " ms against " + normal + " ms");
        assertTrue(source.status().source() && !again.status().source(), "both roles as they were");
        assertEquals(0, source.status().recordsReceived(), "nothing reached the source's table");
        assertTrue(source.status().peersRefused() - refusedBefore >= 320, "the outsiders were refused and counted");
    }

    /**
     * A connection from an address the gate admits (the replica's own) that keeps sending a byte
     * every 200 ms: with a bound per read it could hold its slot for as long as it trickled; the
     * whole handshake is bounded now.
     */
    @Test
    void aHandshakeThatTricklesIsClosedWhenItsWholeTimeIsUp() throws Exception {
        int pa = freePort();
        int pb = freePort();
        start("lb1", SOURCE_HOST, pa, REPLICA_HOST, pb, new MapFlowStore(), true);
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(REPLICA_HOST), 0));
            s.connect(new InetSocketAddress(InetAddress.getByName(SOURCE_HOST), pa));
            long start = System.nanoTime();
            OutputStream out = s.getOutputStream();
            boolean closed = false;
            for (int i = 0; i < 100 && !closed; i++) { // at most 20 s
                try {
                    out.write(i < CLIENT_HELLO_START.length ? CLIENT_HELLO_START[i] : 0);
                    out.flush();
                    s.setSoTimeout(200);
                    closed = s.getInputStream().read() < 0;
                } catch (SocketTimeoutException stillOpen) {
                    // the gate is still listening to the trickle
                } catch (IOException reset) {
                    closed = true;
                }
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(closed, "the trickling handshake was never closed");
            assertTrue(millis < SyncSockets.HANDSHAKE_MILLIS + 1_500, "closed after " + millis + " ms");
        }
    }

    /** Connects from the outsider's address and sends a byte every 300 ms, reconnecting when closed, until the attack ends. */
    private void slowClient(String host, int port, long endsAt, AtomicLong connections) {
        while (attacking.get() && System.nanoTime() < endsAt) {
            try (Socket s = outsider(host, port)) {
                connections.incrementAndGet();
                s.setSoLinger(true, 0);
                OutputStream out = s.getOutputStream();
                s.setSoTimeout(300);
                InputStream in = s.getInputStream();
                int sent = 0;
                while (attacking.get() && System.nanoTime() < endsAt) {
                    // A TLS ClientHello's record header (512 bytes to come), then its body a byte at a time.
                    out.write(sent < CLIENT_HELLO_START.length ? CLIENT_HELLO_START[sent] : 0);
                    sent++;
                    out.flush();
                    try {
                        if (in.read() < 0) {
                            break;
                        }
                    } catch (SocketTimeoutException stillOpen) {
                        // held open: go on trickling
                    }
                }
            } catch (IOException closed) {
                // refused: reconnect
            }
            pause();
        }
    }

    /** Connects, sends junk, closes, again, as fast as it goes, until the attack ends. */
    private void fastClient(String host, int port, long endsAt, AtomicLong connections) {
        byte[] junk = "bela\u0005\u0005 forged frame, no key".getBytes(StandardCharsets.US_ASCII);
        while (attacking.get() && System.nanoTime() < endsAt) {
            try (Socket s = outsider(host, port)) {
                connections.incrementAndGet();
                s.setSoLinger(true, 0); // closed with a RST: no TIME_WAIT left to use up the outsider's ports
                s.getOutputStream().write(junk);
            } catch (IOException refused) {
                // closed on it already
            }
            pause(); // a hundred a second each: thousands in all, and the two cores left to the pair
        }
    }

    private static Socket outsider(String host, int port) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(InetAddress.getByName(OUTSIDER_HOST), 0));
        s.connect(new InetSocketAddress(InetAddress.getByName(host), port), 1_000);
        return s;
    }

    /** Between connections: do not spin. */
    private static void pause() {
        LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
    }
}
