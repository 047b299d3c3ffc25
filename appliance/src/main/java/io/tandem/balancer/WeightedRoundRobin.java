package io.tandem.balancer;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Weighted round robin: new flows go to backends in turn, each as often as its weight. The
 * order is nginx's smooth weighted round robin (no bursts to the heaviest backend), laid out
 * once as a schedule; picking is one atomic increment. Ignores the flow hash, so unlike
 * Maglev the pair's two boxes do not agree on it: a flow whose record never reached the
 * standby may land elsewhere after failover.
 */
public final class WeightedRoundRobin implements BackendSelector {
    private static final int MAX_SCHEDULE = 1 << 16;

    private final int[] schedule;
    private final AtomicLong turn = new AtomicLong();

    public WeightedRoundRobin(int[] weights) {
        int gcd = 0;
        long total = 0;
        for (int w : weights) {
            if (w < 0) {
                throw new IllegalArgumentException("negative weight");
            }
            gcd = gcd(gcd, w);
            total += w;
        }
        if (total == 0) {
            schedule = new int[0];
            return;
        }
        int length = (int) Math.min(MAX_SCHEDULE, total / gcd);
        schedule = new int[length];
        long[] current = new long[weights.length];
        for (int t = 0; t < length; t++) {
            int best = -1;
            for (int i = 0; i < weights.length; i++) {
                current[i] += weights[i] / gcd;
                if (weights[i] > 0 && (best < 0 || current[i] > current[best])) {
                    best = i;
                }
            }
            current[best] -= total / gcd;
            schedule[t] = best;
        }
    }

    @Override
    public int select(long flowHash) {
        if (schedule.length == 0) {
            return -1;
        }
        return schedule[(int) Long.remainderUnsigned(turn.getAndIncrement(), schedule.length)];
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
