package io.tandem.config;

import io.tandem.conntrack.FlowState;
import io.tandem.conntrack.FlowTimeouts;

import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Flow-table sizing and timeouts. The table is allocated whole at start (about 80 bytes per
 * flow of {@code max_flows}); half-open flows have their own, smaller cap. Fragments: a
 * datagram's fragments follow its first for {@code fragment_lifetime}; a later fragment that
 * comes before the first waits up to {@code fragment_hold_time}, at most
 * {@code fragment_hold_packets} of them at once (0: none wait, they are dropped).
 */
public record ConntrackConfig(Integer maxFlows, Integer maxEmbryonic, PortRange snatPorts,
                              Duration fragmentLifetime, Integer fragmentHoldPackets, Duration fragmentHoldTime,
                              TimeoutsConfig timeouts) {
    public static final int MAX_FLOWS_LIMIT = 1 << 29;
    public static final int MAX_FRAGMENT_HOLD_PACKETS = 4096;

    public ConntrackConfig {
        maxFlows = maxFlows == null ? 1 << 20 : maxFlows;
        maxEmbryonic = maxEmbryonic == null ? Math.max(1, maxFlows / 4) : maxEmbryonic;
        snatPorts = snatPorts == null ? new PortRange(1024, 65535) : snatPorts;
        fragmentLifetime = fragmentLifetime == null ? Duration.ofSeconds(30) : fragmentLifetime;
        fragmentHoldPackets = fragmentHoldPackets == null ? 64 : fragmentHoldPackets;
        fragmentHoldTime = fragmentHoldTime == null ? Duration.ofMillis(200) : fragmentHoldTime;
        timeouts = timeouts == null ? new TimeoutsConfig(null, null, null, null, null, null, null, null, null, null) : timeouts;
    }

    void validate(String path, List<String> errors) {
        if (maxFlows < 1 || maxFlows > MAX_FLOWS_LIMIT) {
            errors.add(path + ".max_flows: " + maxFlows + " is not within 1-" + MAX_FLOWS_LIMIT);
        }
        if (maxEmbryonic < 1 || maxEmbryonic > maxFlows) {
            errors.add(path + ".max_embryonic: " + maxEmbryonic + " must be between 1 and max_flows (" + maxFlows + ")");
        }
        ConfigChecks.positive(fragmentLifetime, path + ".fragment_lifetime", errors);
        if (fragmentHoldPackets < 0 || fragmentHoldPackets > MAX_FRAGMENT_HOLD_PACKETS) {
            errors.add(path + ".fragment_hold_packets: " + fragmentHoldPackets + " is not within 0-" + MAX_FRAGMENT_HOLD_PACKETS);
        }
        ConfigChecks.positive(fragmentHoldTime, path + ".fragment_hold_time", errors);
        if (fragmentHoldTime.compareTo(Duration.ofSeconds(5)) > 0) {
            errors.add(path + ".fragment_hold_time: " + fragmentHoldTime.toMillis() + " ms is over 5 s: a held fragment delays its datagram that long");
        }
        timeouts.validate(path + ".timeouts", errors);
    }

    public FlowTimeouts flowTimeouts() {
        return timeouts.toFlowTimeouts();
    }

    /** Per-state idle timeouts; a state left out keeps Linux conntrack's default. */
    public record TimeoutsConfig(Duration tcpSynSent, Duration tcpSynRecv, Duration tcpEstablished,
                                 Duration tcpFinWait, Duration tcpCloseWait, Duration tcpTimeWait,
                                 Duration tcpClose, Duration udpUnreplied, Duration udpAssured, Duration tcpUnconfirmed) {
        private Map<FlowState, Duration> given() {
            Map<FlowState, Duration> m = new EnumMap<>(FlowState.class);
            put(m, FlowState.TCP_SYN_SENT, tcpSynSent);
            put(m, FlowState.TCP_SYN_RECV, tcpSynRecv);
            put(m, FlowState.TCP_ESTABLISHED, tcpEstablished);
            put(m, FlowState.TCP_FIN_WAIT, tcpFinWait);
            put(m, FlowState.TCP_CLOSE_WAIT, tcpCloseWait);
            put(m, FlowState.TCP_TIME_WAIT, tcpTimeWait);
            put(m, FlowState.TCP_CLOSED, tcpClose);
            put(m, FlowState.UDP_UNREPLIED, udpUnreplied);
            put(m, FlowState.UDP_REPLIED, udpUnreplied); // until it is a stream, as Linux does
            put(m, FlowState.UDP_ASSURED, udpAssured);
            return m;
        }

        private static void put(Map<FlowState, Duration> m, FlowState state, Duration d) {
            if (d != null) {
                m.put(state, d);
            }
        }

        void validate(String path, List<String> errors) {
            if (tcpUnconfirmed != null) {
                ConfigChecks.positive(tcpUnconfirmed, path + ".tcp_unconfirmed", errors);
            }
            given().forEach((state, d) -> {
                ConfigChecks.positive(d, path + "." + fieldName(state), errors);
                if (d.compareTo(FlowTimeouts.MAX) > 0) {
                    errors.add(path + "." + fieldName(state) + ": at most " + FlowTimeouts.MAX.toDays()
                            + " days (the flow table keeps times in 32 bits of milliseconds)");
                }
            });
        }

        FlowTimeouts toFlowTimeouts() {
            return FlowTimeouts.of(given(), tcpUnconfirmed == null ? FlowTimeouts.UNCONFIRMED_DEFAULT : tcpUnconfirmed);
        }

        private static String fieldName(FlowState state) {
            return switch (state) {
                case TCP_CLOSED -> "tcp_close";
                default -> state.name().toLowerCase(Locale.ROOT);
            };
        }
    }
}
