package io.tandem.e2e;

import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A SYN flood at the VIP (spoofed sources, from the client namespace, bounded in time) while
 * 100 established connections echo every 20 ms: the half-open cap takes the flood, none of
 * the established flows is evicted or stalls beyond 1 s, the drops are counted, and the
 * half-open flows expire soon after the flood stops.
 */
class SynFloodIT {
    private static final Pattern EMBRYONIC = Pattern.compile("flows=(\\d+) \\(embryonic (\\d+)\\)");
    private static final Pattern EARLY_DROPS = Pattern.compile("early_drops=(\\d+)");
    private static final Pattern CHURN = Pattern.compile("churn connections (\\d+) failed (\\d+)");

    @Test
    void establishedFlowsRideOutASynFlood() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsf")) {
            Path config = lab.logs().resolve("tandem.yaml");
            Files.writeString(config, """
                    node: { name: lb1 }
                    dataplane: { front_interface: front, back_interface: back, queues: 2, stats_interval: 500ms }
                    conntrack: { max_flows: 262144, max_embryonic: 60000, timeouts: { tcp_syn_sent: 3s, tcp_syn_recv: 3s } }
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
                    """.formatted(lab.logs().resolve("lb1.sock")));
            for (String b : List.of("b1", "b2")) {
                lab.traffic(b, b + ".log", "echo-server", "7000", "120");
                lab.traffic(b, b + "-web.log", "tcp-server", "8080", b, "120");
                lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
                lab.awaitLog(b + "-web.log", "listening", Duration.ofSeconds(30));
            }
            lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", config.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "20");
            NamespaceLab.await(() -> lab.lastFlows("tandemd.log") >= 100, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));

            Process flood = lab.start("client", "flood.log", "timeout", "30", "python3",
                    lab.root().resolve("scripts/synflood.py").toString(), "198.18.0.100", "7000", "8");
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
            Matcher limited = Pattern.compile("client_rate_limit=(\\d+)").matcher(lab.lastLine("tandemd.log", "packets="));
            assertTrue(limited.find() && Long.parseLong(limited.group(1)) > 0, "per-source limits refused part of the flood, counted");
            Matcher drops = EARLY_DROPS.matcher(lab.lastLine("tandemd.log", "early_drops="));
            assertTrue(drops.find() && Long.parseLong(drops.group(1)) > 0,
                    "at the cap the oldest half-open flows made room, counted:\n" + lab.lastLine("tandemd.log", "packets="));
            System.out.println("SYN flood (" + lab.log("flood.log").strip() + ", half-open cap 60000): " + summary
                    + "; refused by client_limits: " + limited.group(1) + "; half-open flows dropped early: " + drops.group(1)
                    + "; a real client meanwhile: " + churned.group());
            assertEquals(0, exit, summary + "\n" + lab.log("clients.log"));
            assertTrue(summary.startsWith("summary surviving 100/100"), summary);
            Matcher stall = Pattern.compile("longest_stall_ms (\\d+)").matcher(summary);
            assertTrue(stall.find() && Long.parseLong(stall.group(1)) < 1000, "no stall beyond 1 s: " + summary);

            // The half-open flows expire (3 s here) once the flood stops.
            NamespaceLab.await(() -> {
                Matcher m = EMBRYONIC.matcher(lab.lastLine("tandemd.log", "(embryonic "));
                return m.find() && Integer.parseInt(m.group(2)) == 0;
            }, Duration.ofSeconds(20), () -> lab.lastLine("tandemd.log", "(embryonic "));
        }
    }
}
