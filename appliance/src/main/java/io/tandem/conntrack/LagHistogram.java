package io.tandem.conntrack;

/**
 * Replication lag, in milliseconds: how long a flow change made on the active took to be in this
 * box's kernel map — the change's own clock (its version's milliseconds, {@code VersionClock})
 * against this box's clock when the fast path installed it. Both boxes' clocks are NTP's: a skew
 * between them shows here as lag (or as 0, never negative). One bucket per millisecond up to
 * {@link #MAX_MILLIS}; the quantiles are exact to the millisecond below it.
 */
public final class LagHistogram {
    public static final int MAX_MILLIS = 10_000;
    private final long[] buckets = new long[MAX_MILLIS + 1];
    private long count;

    /** One change, {@code millis} after it was made (clamped to 0 .. MAX_MILLIS). */
    public synchronized void record(long millis) {
        buckets[(int) Math.max(0, Math.min(MAX_MILLIS, millis))]++;
        count++;
    }

    public synchronized long count() {
        return count;
    }

    /** The lag at quantile {@code q} (0.5, 0.99), in ms; -1 before any change. */
    public synchronized long quantile(double q) {
        if (count == 0) {
            return -1;
        }
        long rank = (long) Math.ceil(q * count);
        long seen = 0;
        for (int ms = 0; ms <= MAX_MILLIS; ms++) {
            seen += buckets[ms];
            if (seen >= Math.max(1, rank)) {
                return ms;
            }
        }
        return MAX_MILLIS;
    }
}
