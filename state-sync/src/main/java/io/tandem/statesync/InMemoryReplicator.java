package io.tandem.statesync;

import java.time.Duration;

/**
 * A stand-in for tests (seesaw's DummyEngine, JGroups' NoopProtocol in spirit): two
 * replicators wired to each other in one JVM. Everything but the network is real — the
 * queue, coalescing, batching, the wire format, digests and range resync — so what passes
 * here differs from JGroups only in transport. {@link #disconnect} simulates a sync link
 * down; {@link #start} on a replica pulls the peer's table, as a joining box does.
 */
public final class InMemoryReplicator implements FlowReplicator {
    private final String name;
    private final Duration digestInterval;
    private final int queueCapacity;
    private InMemoryReplicator peer;
    private SyncEngine engine;
    private FlowStore store;
    private volatile boolean connected = true;

    private InMemoryReplicator(String name, int queueCapacity, Duration digestInterval) {
        this.name = name;
        this.queueCapacity = queueCapacity;
        this.digestInterval = digestInterval;
    }

    /** Two replicators, each the other's peer. */
    public static InMemoryReplicator[] pair(int queueCapacity, Duration digestInterval) {
        InMemoryReplicator a = new InMemoryReplicator("a", queueCapacity, digestInterval);
        InMemoryReplicator b = new InMemoryReplicator("b", queueCapacity, digestInterval);
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
                    other.engine.receive(message, 0, message.length);
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
        }, flowStore, queueCapacity, digestInterval, name);
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
