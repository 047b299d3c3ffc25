package io.tandem.conntrack;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LagHistogramTest {
    @Test
    void quantilesAreTheRankedLagsToTheMillisecondAndOutOfRangeLagsAreClamped() {
        LagHistogram lag = new LagHistogram();
        assertEquals(-1, lag.quantile(0.5), "nothing recorded yet");
        for (int i = 1; i <= 100; i++) {
            lag.record(i); // 1 .. 100 ms
        }
        assertEquals(50, lag.quantile(0.5));
        assertEquals(99, lag.quantile(0.99));
        assertEquals(100, lag.quantile(1.0));
        lag.record(-5); // a peer's clock ahead of this one: no negative lag
        lag.record(1_000_000);
        assertEquals(0, lag.quantile(0.0));
        assertEquals(LagHistogram.MAX_MILLIS, lag.quantile(1.0));
        assertEquals(102, lag.count());
    }
}
