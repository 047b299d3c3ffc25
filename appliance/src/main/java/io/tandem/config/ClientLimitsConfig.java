package io.tandem.config;

import java.util.List;

/**
 * A service's limit on one client address: at most {@code new_flows_per_second} new flows a
 * second, with bursts of up to {@code burst} (a token bucket; the default burst is one
 * second's worth). A new flow over the limit is dropped and counted ({@code client_rate_limit}).
 * Absent: no limit.
 */
public record ClientLimitsConfig(Integer newFlowsPerSecond, Integer burst) {
    /** What one bucket can hold (22 bits of it). */
    public static final int MAX = (1 << 22) - 1;

    public ClientLimitsConfig {
        burst = burst == null ? newFlowsPerSecond : burst;
    }

    void validate(String path, List<String> errors) {
        if (newFlowsPerSecond == null || newFlowsPerSecond < 1 || newFlowsPerSecond > 1_000_000) {
            errors.add(path + ".new_flows_per_second: " + (newFlowsPerSecond == null ? "required" : newFlowsPerSecond + " is not within 1-1000000"));
        } else if (burst < 1 || burst > MAX) {
            errors.add(path + ".burst: " + burst + " is not within 1-" + MAX);
        }
    }
}
