package io.tandem.e2e;

import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Floods at the VIP from spoofed sources (the client namespace, bounded in time) — TCP SYNs,
 * then UDP datagrams that the backends answer — while 100 established connections echo every
 * 20 ms and a real client opens new connections steadily: the half-open cap and its early drop
 * take the flood, none of the established flows is evicted or stalls beyond 1 s, at least 99 %
 * of the real client's connections go through, the drops are counted, and the half-open flows
 * expire soon after the flood stops.
 */
class SynFloodIT {
    private static final Pattern EMBRYONIC = Pattern.compile("flows=(\\d+) \\(embryonic (\\d+)\\)");
    private static final Pattern EARLY_DROPS = Pattern.compile("early_drops=(\\d+)");
    private static final Pattern CHURN = Pattern.compile("churn connections (\\d+) failed (\\d+)");

    @Test
    void establishedFlowsRideOutASynFlood() throws Exception {
        String counters = rideOut("tsf", "7000", "tcp", 1_000, "auto");
        Matcher limited = Pattern.compile("client_rate_limit=(\\d+)").matcher(counters);
        assertTrue(limited.find() && Long.parseLong(limited.group(1)) > 0, "per-source limits refused part of the flood, counted: " + counters);
    }

    /**
     * Answered UDP: each spoofed datagram's flow sees the backend's reply, and stays half-open
     * (UDP_REPLIED) because nothing follows it, so early drop keeps the flood inside the half-open
     * cap. Were a reply enough to make a UDP flow assured, the ~200,000 flows the flood gets past
     * the per-source limits in 8 s would fill the 100,000-flow table and the real client's new
     * connections would meet table_full (seen: with the reply alone assuring, this test fails).
     *
     * <p>The stall bound is 3 s here, not 1 s: the answered flood doubles the packets through TUN
     * (the datagrams and the backends' answers, ~120 k/s on two shared cores), more than tandemd
     * reads, and the kernel drops at tandem0's queue (its TX dropped counter) whatever flow the
     * packet belongs to — retransmissions then stall an echo for up to ~1.3 s. The engine's table
     * is not the limit (no table_full); the in-kernel fast path (issue 19) takes established flows
     * off that queue.
     */
    @Test
    void establishedFlowsAndNewClientsRideOutAnAnsweredUdpFlood() throws Exception {
        String counters = rideOut("tuf", "5300", "udp", 3_000, "auto");
        assertTrue(!counters.contains("table_full="), "the table never filled: " + counters);
        Matcher limited = Pattern.compile("client_rate_limit=(\\d+)").matcher(counters);
        assertTrue(limited.find() && Long.parseLong(limited.group(1)) > 0, "per-source limits refused part of the flood, counted: " + counters);
    }

    /**
     * A spoofed SYN flood at the service the real client connects to, one the program creates
     * flows for (no client limits): with the fast path on the kernel creates every spoofed flow,
     * the engine takes each in from its report and holds them under the half-open cap, dropping
     * the oldest first (their kernel entries with them); with it off the engine does it all. Either
     * way at least 99 % of the real client's connections go through, and the early drops are counted.
     */
    @ParameterizedTest(name = "fast path {0}")
    @ValueSource(strings = {"on", "off"})
    void aSynFloodAtAServiceTheKernelCreatesFlowsForLeavesRealClientsConnecting(String fastPath) throws Exception {
        String counters = rideOut("tsk" + fastPath.charAt(1), "8080", "tcp", 1_000, fastPath);
        System.out.println("SYN flood at the kernel-created service, fast path " + fastPath + ": " + counters);
    }

    /** Floods {@code port} with {@code protocol} for 8 s; returns tandemd's last counters line. */
    private static String rideOut(String name, String port, String protocol, long maxStallMillis, String fastPath) throws Exception {
        try (NamespaceLab lab = NamespaceLab.up(name)) {
            Path config = lab.logs().resolve("tandem.yaml");
            Files.writeString(config, """
                    node: { name: lb1 }
                    dataplane: { front_interface: front, back_interface: back, queues: 2, stats_interval: 500ms, fast_path: "%s",
                                 fast_path_pin_dir: /tmp/tandem-test-unpinned/lb1 }
                    conntrack:
                      max_flows: 100000
                      max_embryonic: 60000
                      timeouts: { tcp_syn_sent: 3s, tcp_syn_recv: 3s, udp_unreplied: 3s }
                    control: { socket: %s, http: "off" }
                    services:
                      - name: echo
                        vip: 198.18.0.100
                        port: 7000
                        snat_address: 198.19.0.100
                        backends: [ { address: 198.19.0.11, port: 7000 }, { address: 198.19.0.12, port: 7000 } ]
                        client_limits: { new_flows_per_second: 100 }
                      - name: web
                        vip: 198.18.0.100
                        port: 8080
                        snat_address: 198.19.0.100
                        backends: [ { address: 198.19.0.11, port: 8080 }, { address: 198.19.0.12, port: 8080 } ]
                      - name: probe
                        vip: 198.18.0.100
                        port: 5300
                        protocol: udp
                        snat_address: 198.19.0.100
                        backends: [ { address: 198.19.0.11, port: 5300 }, { address: 198.19.0.12, port: 5300 } ]
                        client_limits: { new_flows_per_second: 100 }
                    """.formatted(fastPath, lab.logs().resolve("lb1.sock")));
            for (String b : List.of("b1", "b2")) {
                lab.traffic(b, b + ".log", "echo-server", "7000", "120");
                lab.traffic(b, b + "-web.log", "tcp-server", "8080", b, "120");
                lab.traffic(b, b + "-udp.log", "udp-server", "5300", b, "120");
                for (String log : List.of(b + ".log", b + "-web.log", b + "-udp.log")) {
                    lab.awaitLog(log, "listening", Duration.ofSeconds(30));
                }
            }
            lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", config.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "20");
            NamespaceLab.await(() -> lab.lastFlows("tandemd.log") >= 100, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));

            Process flood = lab.start("client", "flood.log", "timeout", "30", "python3",
                    lab.root().resolve("scripts/synflood.py").toString(), "198.18.0.100", port, "8", protocol);
            // A real client opening new connections steadily all through the flood, to another service.
            Process churn = lab.traffic("client", "churn.log", "tcp-churn", "198.18.0.100", "8080", "80", "1024", "8");
            assertEquals(0, NamespaceLab.awaitExit(flood, Duration.ofSeconds(40)), lab.log("flood.log"));
            NamespaceLab.awaitExit(churn, Duration.ofSeconds(60));
            Matcher churned = CHURN.matcher(lab.lastLine("churn.log", "churn connections"));
            assertTrue(churned.find(), lab.log("churn.log"));
            int opened = Integer.parseInt(churned.group(1));
            int failed = Integer.parseInt(churned.group(2));
            assertTrue(opened >= 500 && failed * 100 <= opened, "at least 99 % of the real client's new connections through the flood: "
                    + churned.group() + "\n" + lab.log("churn.log"));

            int exit = NamespaceLab.awaitExit(clients, Duration.ofSeconds(60));
            String summary = lab.log("clients.log").lines().filter(l -> l.startsWith("summary")).findFirst().orElse("no summary");
            String counters = lab.lastLine("tandemd.log", "packets=");
            Matcher drops = EARLY_DROPS.matcher(counters);
            assertTrue(drops.find() && Long.parseLong(drops.group(1)) > 0, "at the cap the oldest half-open flows made room, counted:\n" + counters);
            String tun = lab.run("lb", Duration.ofSeconds(10), "ip", "-s", "link", "show", "tandem0");
            System.out.println(protocol.toUpperCase() + " flood (" + lab.log("flood.log").strip() + ", half-open cap 60000): " + summary
                    + "; half-open flows dropped early: " + drops.group(1) + "; a real client meanwhile: " + churned.group()
                    + "; tandemd: " + counters + "\n" + tun);
            assertEquals(0, exit, summary + "\n" + lab.log("clients.log"));
            assertTrue(summary.startsWith("summary surviving 100/100"), summary);
            Matcher stall = Pattern.compile("longest_stall_ms (\\d+)").matcher(summary);
            assertTrue(stall.find() && Long.parseLong(stall.group(1)) < maxStallMillis, "no stall beyond " + maxStallMillis + " ms: " + summary);

            // The half-open flows expire (3 s here) once the flood stops.
            NamespaceLab.await(() -> {
                Matcher m = EMBRYONIC.matcher(lab.lastLine("tandemd.log", "(embryonic "));
                return m.find() && Integer.parseInt(m.group(2)) == 0;
            }, Duration.ofSeconds(20), () -> lab.lastLine("tandemd.log", "(embryonic "));
            return counters;
        }
    }
}
