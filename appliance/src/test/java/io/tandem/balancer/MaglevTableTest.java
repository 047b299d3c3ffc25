package io.tandem.balancer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Maglev's properties (NSDI 2016 §3.4 and §5.3): balance, minimal disruption, determinism. */
class MaglevTableTest {
    private static List<String> backends(int n) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            names.add("198.19." + (i / 250) + "." + (i % 250 + 1) + ":8080");
        }
        return names;
    }

    private static int[] ones(int n) {
        int[] w = new int[n];
        Arrays.fill(w, 1);
        return w;
    }

    @Test
    void equalWeightsGiveSlotCountsThatDifferByAtMostOne() {
        for (int n : new int[] {1, 2, 3, 7, 10, 100, 1000}) {
            MaglevTable table = MaglevTable.build(backends(n), ones(n), MaglevTable.DEFAULT_SIZE);
            int[] counts = table.slotCounts(n);
            int max = Arrays.stream(counts).max().orElseThrow();
            int min = Arrays.stream(counts).min().orElseThrow();
            assertTrue(max - min <= 1, n + " backends: min " + min + " max " + max);
            assertEquals(MaglevTable.DEFAULT_SIZE, Arrays.stream(counts).sum(), "every slot owned");
        }
    }

    @Test
    void weightsSetTheShare() {
        int[] weights = {1, 2, 3, 0, 4};
        MaglevTable table = MaglevTable.build(backends(5), weights, MaglevTable.DEFAULT_SIZE);
        int[] counts = table.slotCounts(5);
        assertEquals(0, counts[3], "weight 0 gets nothing");
        double unit = MaglevTable.DEFAULT_SIZE / 10.0;
        for (int i = 0; i < 5; i++) {
            assertEquals(weights[i] * unit, counts[i], 1 + weights[i], "backend " + i + " of weights " + Arrays.toString(weights));
        }
    }

    @Test
    void removingOneOfNMovesAboutOneNthOfTheSlots() {
        Random random = new Random(2016);
        for (int n : new int[] {5, 10, 50, 200}) {
            List<String> names = backends(n);
            MaglevTable before = MaglevTable.build(names, ones(n), MaglevTable.DEFAULT_SIZE);
            int removed = random.nextInt(n);
            List<String> fewer = new ArrayList<>(names);
            fewer.remove(removed);
            MaglevTable after = MaglevTable.build(fewer, ones(n - 1), MaglevTable.DEFAULT_SIZE);
            int moved = 0;
            for (int slot = 0; slot < MaglevTable.DEFAULT_SIZE; slot++) {
                String was = names.get(before.owner(slot));
                String now = fewer.get(after.owner(slot));
                if (!was.equals(now)) {
                    moved++;
                }
            }
            double movedFraction = (double) moved / MaglevTable.DEFAULT_SIZE;
            double removedShare = 1.0 / n;
            // Every slot of the removed backend must move; the paper measures a few percent more.
            assertTrue(movedFraction >= removedShare * 0.99, n + ": moved " + movedFraction);
            assertTrue(movedFraction <= removedShare * 1.6 + 0.005, n + ": moved " + movedFraction + " for a share of " + removedShare);
        }
    }

    @Test
    void sameInputSameTableOnEveryBuild() {
        MaglevTable a = MaglevTable.build(backends(37), ones(37), 251);
        assertEquals("198.19.0.1:8080", backends(37).get(0));
        MaglevTable b = MaglevTable.build(backends(37), ones(37), 251);
        for (int slot = 0; slot < 251; slot++) {
            assertEquals(a.owner(slot), b.owner(slot));
        }
        // Pinned: a change of the name hash would make two versions of a pair disagree on
        // backends, so it must be a deliberate, visible change.
        assertEquals(List.of(12, 11, 11, 7), List.of(a.owner(0), a.owner(1), a.owner(2), a.owner(100)));
    }

    @Test
    void lookupSpreadsFlowHashesLikeTheSlots() {
        MaglevTable table = MaglevTable.build(backends(4), ones(4), MaglevTable.DEFAULT_SIZE);
        int[] hits = new int[4];
        Random random = new Random(7);
        for (int i = 0; i < 400_000; i++) {
            hits[table.select(random.nextLong())]++;
        }
        for (int h : hits) {
            assertEquals(100_000, h, 2_000);
        }
    }

    @Test
    void noBackendsOrNonPrimeSize() {
        assertEquals(-1, MaglevTable.build(List.of(), new int[0], 251).select(42));
        assertEquals(-1, MaglevTable.build(backends(2), new int[] {0, 0}, 251).select(42));
        assertThrows(IllegalArgumentException.class, () -> MaglevTable.build(backends(2), ones(2), 65536));
    }
}
