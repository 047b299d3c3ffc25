package io.tandem.control;

import io.tandem.dataplane.DataplaneCounters;
import io.tandem.statesync.SyncStatus;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The last ten minutes, one sample a second, for the status page's charts: replication lag,
 * sync record rates, packet rate, flows, and whether the pair was in sync.
 */
public final class History {
    public static final int SAMPLES = 600;

    public record Sample(long atMillis, long flows, double packetsPerSecond, double syncSentPerSecond,
                         double syncReceivedPerSecond, long lagMillis, boolean inSync) {
    }

    private final Deque<Sample> samples = new ArrayDeque<>();
    private long lastAt;
    private long lastPackets;
    private long lastSent;
    private long lastReceived;

    /** Takes one sample; rates are against the previous one. */
    /** @param lagMillis the pair's replication lag now (the replica measures it; the active hears it from the peer) */
    public synchronized void sample(long nowMillis, DataplaneCounters counters, long flows, SyncStatus sync, long lagMillis,
                                    boolean inSync) {
        long sent = sync == null ? 0 : sync.recordsSent();
        long received = sync == null ? 0 : sync.recordsReceived();
        double seconds = lastAt == 0 ? 0 : (nowMillis - lastAt) / 1000.0;
        Sample s = new Sample(nowMillis, flows,
                rate(counters.packetsIn(), lastPackets, seconds), rate(sent, lastSent, seconds), rate(received, lastReceived, seconds),
                lagMillis, inSync);
        lastAt = nowMillis;
        lastPackets = counters.packetsIn();
        lastSent = sent;
        lastReceived = received;
        samples.addLast(s);
        if (samples.size() > SAMPLES) {
            samples.removeFirst();
        }
    }

    private static double rate(long now, long before, double seconds) {
        return seconds <= 0 ? 0 : Math.max(0, now - before) / seconds;
    }

    /** Samples newer than {@code afterMillis}, oldest first. */
    public synchronized List<Sample> since(long afterMillis) {
        List<Sample> out = new ArrayList<>();
        for (Sample s : samples) {
            if (s.atMillis() > afterMillis) {
                out.add(s);
            }
        }
        return out;
    }
}
