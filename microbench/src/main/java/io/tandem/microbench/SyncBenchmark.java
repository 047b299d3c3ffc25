package io.tandem.microbench;

import io.tandem.statesync.FlowDigest;
import io.tandem.statesync.FlowRecord;
import io.tandem.statesync.FlowStore;
import io.tandem.statesync.JGroupsReplicator;
import io.tandem.statesync.SyncKeys;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * State sync between two processes on loopback, over the real encrypted JGroups stack:
 * <ol>
 *   <li>throughput: distinct flow records published as fast as the queue takes them;</li>
 *   <li>lag at a paced 100,000 records/s: p50 and p99 from a change to its application on the peer;</li>
 *   <li>the time a peer that joins takes to pull a table of 1,000,000 flows.</li>
 * </ol>
 * Run: java -cp microbench/target/microbench.jar io.tandem.microbench.SyncBenchmark
 */
public final class SyncBenchmark {
    private static final String PASSWORD = "bench-pair-sync-password";
    private SyncBenchmark() {
    }

    /** Counts what it applies and histograms the lag (ms) carried in lastSeenMillis. */
    static final class CountingStore implements FlowStore {
        final AtomicLong applied = new AtomicLong();
        final AtomicLongArray lagHistogram = new AtomicLongArray(10_001);
        final FlowDigest digest = new FlowDigest();
        private final int tableSize;

        CountingStore(int tableSize) {
            this.tableSize = tableSize;
        }

        @Override
        public Applied apply(FlowRecord record) {
            applied.incrementAndGet();
            long lag = Math.max(0, System.currentTimeMillis() - record.lastSeenMillis());
            lagHistogram.incrementAndGet((int) Math.min(10_000, lag));
            return Applied.TAKEN;
        }

        @Override
        public void replace(FlowRecord record) {
            apply(record);
        }

        @Override
        public void forEach(Consumer<FlowRecord> visitor) {
            for (int i = 0; i < tableSize; i++) {
                visitor.accept(record(i, 1, System.currentTimeMillis()));
            }
        }

        @Override
        public void removeLocal(FlowRecord record) {
        }

        @Override
        public FlowDigest digest() {
            return digest;
        }

        long percentile(double p) {
            long total = 0;
            for (int i = 0; i < lagHistogram.length(); i++) {
                total += lagHistogram.get(i);
            }
            long rank = (long) Math.ceil(total * p);
            long seen = 0;
            for (int i = 0; i < lagHistogram.length(); i++) {
                seen += lagHistogram.get(i);
                if (seen >= rank) {
                    return i;
                }
            }
            return -1;
        }

        void reset() {
            applied.set(0);
            for (int i = 0; i < lagHistogram.length(); i++) {
                lagHistogram.set(i, 0);
            }
        }
    }

    static FlowRecord record(long i, long version, long nowMillis) {
        return new FlowRecord(6, 0xC6120000 + (int) (i >>> 16), (int) (i & 0xFFFF), 0xC6120064, 80, 0xC613000B, 8080,
                0xC6130064, 1024 + (int) (i % 60000), 3, 0, nowMillis, version, false);
    }

    static JGroupsReplicator replicator(String name, int port, int peerPort, Path key) {
        return new JGroupsReplicator(new JGroupsReplicator.Settings(name, "127.0.0.1", port,
                List.of("127.0.0.1[" + port + "]", "127.0.0.1[" + peerPort + "]"), key, PASSWORD,
                Duration.ofSeconds(5), Duration.ofSeconds(5), 1 << 20, Duration.ofSeconds(120)));
    }

    /** The receiving process: prints what it applied on each line of stdin, exits at EOF. */
    static void receiver(String[] args) throws Exception {
        CountingStore store = new CountingStore(0);
        JGroupsReplicator r = replicator("receiver", Integer.parseInt(args[1]), Integer.parseInt(args[2]), Path.of(args[3]));
        r.start(store);
        var full = r.status().lastFullResync();
        System.out.println("ready full_resync_records=" + (full == null ? 0 : full.records()) + " full_resync_ms=" + (full == null ? 0 : full.millis()));
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.equals("reset")) {
                store.reset();
            }
            System.out.println("applied=" + store.applied.get() + " p50=" + store.percentile(0.50) + " p99=" + store.percentile(0.99));
            System.out.flush();
        }
        r.close();
        System.exit(0);
    }

    /** A receiver process and a way to ask it for its counts. */
    static final class Peer implements AutoCloseable {
        final Process process;
        final BufferedReader out;

        Peer(int port, int peerPort, Path key) throws Exception {
            process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
                    "-cp", System.getProperty("java.class.path"), SyncBenchmark.class.getName(), "receiver",
                    Integer.toString(port), Integer.toString(peerPort), key.toString())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            out = new BufferedReader(new InputStreamReader(process.getInputStream()));
        }

        String readyLine() throws Exception {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                if (line.startsWith("ready")) {
                    return line;
                }
            }
            throw new IllegalStateException("receiver died");
        }

        String ask(String command) throws Exception {
            process.getOutputStream().write((command + "\n").getBytes());
            process.getOutputStream().flush();
            return out.readLine();
        }

        long applied() throws Exception {
            return Long.parseLong(ask("count").split(" ")[0].substring("applied=".length()));
        }

        @Override
        public void close() throws Exception {
            process.getOutputStream().close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("receiver")) {
            receiver(args);
            return;
        }
        Path dir = Files.createTempDirectory("tandem-sync-bench");
        Path key = dir.resolve("sync.p12");
        SyncKeys.generate(key, PASSWORD.toCharArray());
        int senderPort = freePort();
        int receiverPort = freePort();
        CountingStore senderStore = new CountingStore(1_000_000);
        JGroupsReplicator sender = replicator("sender", senderPort, receiverPort, key);
        sender.start(senderStore);
        sender.setSource(true);

        try (Peer peer = new Peer(receiverPort, senderPort, key)) {
            String ready = peer.readyLine();
            System.out.println("1M-flow table pulled by the joining peer: " + ready);
            await(() -> sender.status().peerConnected());

            // 1. throughput
            peer.ask("reset");
            long n = 3_000_000;
            long start = System.nanoTime();
            for (long i = 0; i < n; i++) {
                FlowRecord r = record(i, 2, System.currentTimeMillis());
                while (!sender.publish(r)) {
                    LockSupport.parkNanos(20_000);
                }
            }
            while (peer.applied() < n - sender.status().overflows()) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("throughput: %,d records applied by the peer in %.2f s = %,.0f records/s (overflows retried: %d)%n",
                    n, seconds, n / seconds, sender.status().overflows());

            // 2. lag at a paced 100 k/s for 5 s
            peer.ask("reset");
            long paced = 500_000;
            long begin = System.nanoTime();
            for (long i = 0; i < paced; i++) {
                long due = begin + i * 10_000; // 10 µs apart
                while (System.nanoTime() < due) {
                    Thread.onSpinWait();
                }
                sender.publish(record(n + i, 3, System.currentTimeMillis()));
            }
            while (peer.applied() < paced) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
            }
            System.out.println("lag at 100,000 records/s (ms, change to application on the peer): " + peer.ask("count"));
        } finally {
            sender.close();
        }
        System.exit(0);
    }

    private static void await(BooleanSupplier c) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!c.getAsBoolean() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
