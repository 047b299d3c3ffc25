package io.tandem.statesync;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Versions for flow changes: milliseconds in the high bits, a counter in the low 16, never
 * going backwards (a hybrid logical clock). The newer version of a flow wins on either box;
 * {@link #observe} keeps a box that receives a newer version from issuing older ones.
 */
public final class VersionClock {
    private final AtomicLong last = new AtomicLong();
    private final LongSupplier millis;

    public VersionClock(LongSupplier millis) {
        this.millis = millis;
    }

    public VersionClock() {
        this(System::currentTimeMillis);
    }

    public long next() {
        long now = millis.getAsLong() << 16;
        return last.accumulateAndGet(now, (previous, wall) -> Math.max(previous + 1, wall));
    }

    public void observe(long version) {
        last.accumulateAndGet(version, Math::max);
    }
}
