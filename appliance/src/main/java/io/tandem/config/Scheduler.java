package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/** How a service picks the backend of a new flow. */
public enum Scheduler {
    /** Maglev consistent hashing: both boxes agree, minimal disruption when backends change. */
    @JsonProperty("maglev") MAGLEV,
    /** Weighted round robin: even spread, no agreement between boxes. */
    @JsonProperty("wrr") WEIGHTED_ROUND_ROBIN
}
