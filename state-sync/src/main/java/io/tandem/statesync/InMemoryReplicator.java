package io.tandem.statesync;

import java.time.Duration;
import java.util.Random;
import java.util.function.LongSupplier;

/**
 * A stand-in for tests (seesaw's DummyEngine, JGroups' NoopProtocol in spirit): two
 * replicators wired to each other in one JVM. Everything but the network is real — the
 * queue, coalescing, batching, the wire format, digests and range resync — so what passes
 * here differs from JGroups only in transport. {@link #disconnect} simulates a sync link
 * down, {@link #merge} its return after a partition; {@link #start} on a replica pulls the
 * peer's table, as a joining box does. {@link #lossy} makes the link drop, duplicate and
 * reorder messages (each way, at random from a seed), as JGroups never does — to show that
 * the digests and resyncs repair whatever a worse transport would lose.
 */
public final class InMemoryReplicator implements FlowReplicator {
    private final String name;
    private final Duration digestInterval;
    private final int queueCapacity;
    private final LongSupplier clock;
    private InMemoryReplicator peer;
    private SyncEngine engine;
    private FlowStore store;
    private volatile boolean connected = true;
    /** Drop, duplicate, reorder probabilities (this side's sends); null when lossless. */
    private volatile double[] loss;
    private Random random;
    /** A message held back to be delivered after the next one (reordering); guarded by this. */
    private byte[] heldBack;

    private InMemoryReplicator(String name, int queueCapacity, Duration digestInterval) {
        this(name, queueCapacity, digestInterval, System::currentTimeMillis);
    }

    private InMemoryReplicator(String name, int queueCapacity, Duration digestInterval, LongSupplier clock) {
        this.clock = clock;
        this.name = name;
        this.queueCapacity = queueCapacity;
        this.digestInterval = digestInterval;
    }

    /** Two replicators, each the other's peer. */
    public static InMemoryReplicator[] pair(int queueCapacity, Duration digestInterval) {
        return pair(queueCapacity, digestInterval, System::currentTimeMillis, System::currentTimeMillis);
    }

    /** Two replicators whose engines read these wall clocks (two boxes whose clocks disagree). */
    public static InMemoryReplicator[] pair(int queueCapacity, Duration digestInterval, LongSupplier clockA, LongSupplier clockB) {
        InMemoryReplicator a = new InMemoryReplicator("a", queueCapacity, digestInterval, clockA);
        InMemoryReplicator b = new InMemoryReplicator("b", queueCapacity, digestInterval, clockB);
        a.peer = b;
        b.peer = a;
        return new InMemoryReplicator[] {a, b};
    }

    @Override
    public void start(FlowStore flowStore) {
        this.store = flowStore;
        engine = new SyncEngine(new SyncEngine.Transport() {
            @Override
            public void send(byte[] message) {
                InMemoryReplicator other = peer;
                if (connected && other.engine != null) {
                    deliver(other, message);
                }
            }

            @Override
            public boolean peerConnected() {
                return connected && peer.engine != null;
            }

            @Override
            public String peer() {
                return peer.name;
            }
        }, flowStore, queueCapacity, digestInterval, name, clock);
        if (peer.store != null) {
            long started = System.nanoTime();
            long[] count = {0};
            peer.store.forEach(record -> {
                flowStore.apply(record);
                count[0]++;
            });
            engine.noteFullResync(count[0], (System.nanoTime() - started) / 1_000_000);
        }
        engine.start();
    }

    private void deliver(InMemoryReplicator other, byte[] message) {
        double[] p = loss;
        if (p == null) {
            other.engine.receive(message, 0, message.length);
            return;
        }
        byte[] first = message;
        byte[] second = null;
        synchronized (this) { // the sync thread and the resync thread both send
            double r = random.nextDouble();
            if (r < p[0]) {
                return;
            }
            if (r < p[0] + p[1]) {
                second = message;
            } else if (r < p[0] + p[1] + p[2] && heldBack == null) {
                heldBack = message;
                return;
            } else if (heldBack != null) {
                second = heldBack;
                heldBack = null;
            }
        }
        other.engine.receive(first, 0, first.length);
        if (second != null) {
            other.engine.receive(second, 0, second.length);
        }
    }

    /**
     * From now on this side's messages are dropped, duplicated or held back behind the next one
     * with these probabilities (seeded, so a failure can be replayed); all zero: lossless again
     * (a message still held back is then dropped).
     */
    public synchronized void lossy(long seed, double drop, double duplicate, double reorder) {
        random = new Random(seed);
        heldBack = null;
        loss = drop == 0 && duplicate == 0 && reorder == 0 ? null : new double[] {drop, duplicate, reorder};
    }

    /** The link returns after a partition: both sides see the merge and send each other their tables. */
    public void merge() {
        connect(true);
        engine.peerMerged();
        peer.engine.peerMerged();
    }

    /** Cuts (false) or restores (true) the link in both directions. */
    public void connect(boolean up) {
        connected = up;
        peer.connected = up;
    }

    public void disconnect() {
        connect(false);
    }

    @Override
    public void setSource(boolean source) {
        engine.setSource(source);
    }

    @Override
    public boolean publish(FlowRecord record) {
        return engine.publish(record, false);
    }

    @Override
    public boolean publishCreated(FlowRecord record) {
        return engine.publish(record, true);
    }

    @Override
    public void announce(byte[] payload) {
        engine.announce(payload);
    }

    @Override
    public PeerAnnouncement peerAnnouncement() {
        return engine.peerAnnouncement();
    }

    @Override
    public long peerClockAheadMillis() {
        return engine.peerClockAheadMillis();
    }

    @Override
    public SyncStatus status() {
        return engine.status();
    }

    @Override
    public void close() {
        if (engine != null) {
            engine.close();
        }
    }
}
