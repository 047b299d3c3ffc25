package io.tandem.conntrack;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

/**
 * Idle timeout per state. The defaults are Linux conntrack's
 * ({@code net.netfilter.nf_conntrack_tcp_timeout_*}, {@code ..._udp_timeout*}).
 */
public final class FlowTimeouts {
    /** The longest idle timeout: the flow table keeps times in 32 bits of milliseconds (see FlowSlots). */
    public static final Duration MAX = Duration.ofDays(20);
    /**
     * An established TCP flow that never carried data both ways: Linux's
     * {@code nf_conntrack_tcp_timeout_unacknowledged} value, instead of the established 5 days.
     */
    public static final Duration UNCONFIRMED_DEFAULT = Duration.ofSeconds(300);
    private final long[] millisByCode = new long[FlowState.values().length];
    private final long unconfirmedMillis;

    private FlowTimeouts(Map<FlowState, Duration> timeouts, Duration unconfirmed) {
        unconfirmedMillis = Math.min(unconfirmed.toMillis(), timeouts.get(FlowState.TCP_ESTABLISHED).toMillis());
        for (var entry : timeouts.entrySet()) {
            if (entry.getValue().compareTo(MAX) > 0) {
                throw new IllegalArgumentException("the " + entry.getKey() + " timeout " + entry.getValue() + " is over " + MAX.toDays() + " days");
            }
            millisByCode[entry.getKey().code()] = entry.getValue().toMillis();
        }
    }

    public static Map<FlowState, Duration> linuxDefaults() {
        Map<FlowState, Duration> m = new EnumMap<>(FlowState.class);
        m.put(FlowState.TCP_SYN_SENT, Duration.ofSeconds(120));
        m.put(FlowState.TCP_SYN_RECV, Duration.ofSeconds(60));
        m.put(FlowState.TCP_ESTABLISHED, Duration.ofDays(5));
        m.put(FlowState.TCP_FIN_WAIT, Duration.ofSeconds(120));
        m.put(FlowState.TCP_CLOSE_WAIT, Duration.ofSeconds(60));
        m.put(FlowState.TCP_TIME_WAIT, Duration.ofSeconds(120));
        m.put(FlowState.TCP_CLOSED, Duration.ofSeconds(10));
        m.put(FlowState.UDP_UNREPLIED, Duration.ofSeconds(30));
        m.put(FlowState.UDP_REPLIED, Duration.ofSeconds(30));
        m.put(FlowState.UDP_ASSURED, Duration.ofSeconds(120));
        return m;
    }

    public static FlowTimeouts defaults() {
        return of(linuxDefaults());
    }

    /** Timeouts for the states given; any state left out keeps its Linux default. */
    public static FlowTimeouts of(Map<FlowState, Duration> overrides) {
        return of(overrides, UNCONFIRMED_DEFAULT);
    }

    /** As {@link #of(Map)}, with the timeout of an established flow that has not carried data both ways. */
    public static FlowTimeouts of(Map<FlowState, Duration> overrides, Duration unconfirmed) {
        Map<FlowState, Duration> all = linuxDefaults();
        all.putAll(overrides);
        return new FlowTimeouts(all, unconfirmed);
    }

    /** The idle limit of an established TCP flow that has not carried data both ways (at most the established one). */
    public long unconfirmedMillis() {
        return unconfirmedMillis;
    }

    public long millis(FlowState state) {
        return millisByCode[state.code()];
    }

    long millisByCode(int code) {
        return millisByCode[code];
    }
}
