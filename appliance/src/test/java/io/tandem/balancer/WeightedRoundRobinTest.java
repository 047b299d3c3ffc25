package io.tandem.balancer;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class WeightedRoundRobinTest {

    @Test
    void sharesFollowWeightsAndAreSmooth() {
        WeightedRoundRobin wrr = new WeightedRoundRobin(new int[] {5, 1, 1});
        int[] picks = new int[7];
        for (int i = 0; i < 7; i++) {
            picks[i] = wrr.select(0);
        }
        // nginx's smooth WRR for 5:1:1 interleaves the light backends.
        assertArrayEquals(new int[] {0, 0, 1, 0, 2, 0, 0}, picks);
        int[] counts = new int[3];
        for (int i = 0; i < 7000; i++) {
            counts[wrr.select(0)]++;
        }
        assertArrayEquals(new int[] {5000, 1000, 1000}, counts);
    }

    @Test
    void zeroWeightIsNeverPickedAndAllZeroPicksNothing() {
        WeightedRoundRobin wrr = new WeightedRoundRobin(new int[] {0, 2, 0, 2});
        for (int i = 0; i < 100; i++) {
            int pick = wrr.select(0);
            assertEquals(1, pick % 2, "picked " + pick);
        }
        assertEquals(-1, new WeightedRoundRobin(new int[] {0, 0}).select(0));
    }
}
