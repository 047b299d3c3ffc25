package io.tandem.microbench;

import io.tandem.balancer.MaglevTable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Building a Maglev table of 65537 slots, as a reload or a health change does, off the hot path. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class MaglevBuildBenchmark {
    @Param({"10", "1000"})
    int backends;

    private List<String> names;
    private int[] weights;

    @Setup
    public void setUp() {
        names = new ArrayList<>();
        for (int i = 0; i < backends; i++) {
            names.add("198.19." + (i / 250) + "." + (i % 250 + 1) + ":8080");
        }
        weights = new int[backends];
        Arrays.fill(weights, 1);
    }

    @Benchmark
    public MaglevTable build() {
        return MaglevTable.build(names, weights, MaglevTable.DEFAULT_SIZE);
    }
}
