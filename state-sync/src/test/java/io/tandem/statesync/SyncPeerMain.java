package io.tandem.statesync;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One box of a pair in its own JVM, for the multi-process test: a map-backed table behind a
 * real JGroupsReplicator. A source makes flow changes in bursts (2 s of changes at
 * {@code rate} per second, then 1 s quiet, so digests can be seen equal); both print their
 * status every 100 ms. Exits by itself after {@code seconds}.
 *
 * <pre>SyncPeerMain NAME PORT PEER_PORT KEYSTORE source|replica RATE SECONDS [FAILURE_TIMEOUT_MS]</pre>
 */
public final class SyncPeerMain {
    /** The test pair's keystore password. */
    static final String PASSWORD = "test-pair-sync-password";
    private SyncPeerMain() {
    }

    public static void main(String[] args) throws Exception {
        String name = args[0];
        int port = Integer.parseInt(args[1]);
        int peerPort = Integer.parseInt(args[2]);
        boolean source = args[4].equals("source");
        int rate = Integer.parseInt(args[5]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Integer.parseInt(args[6]));
        Duration failureTimeout = Duration.ofMillis(args.length > 7 ? Long.parseLong(args[7]) : 2000);
        MapFlowStore store = new MapFlowStore();
        JGroupsReplicator replicator = new JGroupsReplicator(new JGroupsReplicator.Settings(name, "127.0.0.1", port,
                List.of("127.0.0.1[" + port + "]", "127.0.0.1[" + peerPort + "]"), Path.of(args[3]), PASSWORD,
                failureTimeout, Duration.ofMillis(200), 1_000_000, Duration.ofSeconds(30)));
        replicator.start(store);
        replicator.setSource(source);
        VersionClock clock = new VersionClock();
        long started = System.nanoTime();
        long nextStatus = 0;
        int next = 0;
        while (System.nanoTime() < deadline) {
            long elapsedMillis = (System.nanoTime() - started) / 1_000_000;
            boolean burst = source && elapsedMillis % 3000 < 2000;
            if (burst) {
                for (int i = 0; i < rate / 100; i++, next++) {
                    FlowRecord flow = JGroupsReplicatorTest.flow(next % 50_000, clock.next());
                    if (next % 7 == 3) {
                        FlowRecord end = new FlowRecord(flow.protocol(), flow.clientAddress(), flow.clientPort(), flow.vipAddress(),
                                flow.vipPort(), flow.backendAddress(), flow.backendPort(), flow.snatAddress(), flow.snatPort(),
                                flow.state(), 0, flow.lastSeenMillis(), clock.next(), true);
                        store.apply(end);
                        replicator.publish(end);
                    } else {
                        store.put(flow);
                        replicator.publish(flow);
                    }
                }
            }
            if (elapsedMillis >= nextStatus) {
                nextStatus = elapsedMillis + 100;
                SyncStatus s = replicator.status();
                System.out.println("status connected=" + s.peerConnected() + " size=" + store.flows.size()
                        + " digest=" + Arrays.hashCode(store.digest().snapshot()) + " equal=" + s.digestsEqual()
                        + " quiet=" + !burst + " full_resync=" + (s.lastFullResync() == null ? 0 : s.lastFullResync().records())
                        + " merges=" + s.merges());
                System.out.flush();
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
        replicator.close();
        System.exit(0);
    }
}
