package io.tandem.config;

import java.util.List;

/**
 * A service's limits on one client address: at most {@code new_flows_per_second} new flows a
 * second, with bursts of up to {@code burst} (a token bucket; the default burst is one
 * second's worth), and at most {@code max_flows} flows held at once. A new flow over either is
 * dropped and counted ({@code client_rate_limit}, {@code client_flow_limit}); the client's
 * flows already held are untouched. Either may be left out, not both. Absent: no limit.
 */
public record ClientLimitsConfig(Integer newFlowsPerSecond, Integer burst, Integer maxFlows) {
    /** What one bucket can hold (22 bits of it). */
    public static final int MAX = (1 << 22) - 1;

    public ClientLimitsConfig {
        burst = burst == null ? newFlowsPerSecond : burst;
    }

    /** Only a rate. */
    public ClientLimitsConfig(Integer newFlowsPerSecond, Integer burst) {
        this(newFlowsPerSecond, burst, null);
    }

    public boolean limitsRate() {
        return newFlowsPerSecond != null;
    }

    /** The cap on one client's flows held at once, or 0 for none. */
    public int maxFlowsPerClient() {
        return maxFlows == null ? 0 : maxFlows;
    }

    void validate(String path, List<String> errors) {
        if (newFlowsPerSecond == null && maxFlows == null) {
            errors.add(path + ": give new_flows_per_second, max_flows or both");
        }
        if (newFlowsPerSecond != null && (newFlowsPerSecond < 1 || newFlowsPerSecond > 1_000_000)) {
            errors.add(path + ".new_flows_per_second: " + newFlowsPerSecond + " is not within 1-1000000");
        } else if (newFlowsPerSecond == null && burst != null) {
            errors.add(path + ".burst: a burst needs new_flows_per_second");
        } else if (burst != null && (burst < 1 || burst > MAX)) {
            errors.add(path + ".burst: " + burst + " is not within 1-" + MAX);
        }
        if (maxFlows != null && (maxFlows < 1 || maxFlows > 1_000_000)) {
            errors.add(path + ".max_flows: " + maxFlows + " is not within 1-1000000");
        }
    }
}
