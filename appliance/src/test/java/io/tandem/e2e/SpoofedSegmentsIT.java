package io.tandem.e2e;

import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Blind attacks from a spoofer on the front LAN (its own namespace, {@code scripts/lab-pair}'s
 * {@code spoof} host): for every live echo connection, RSTs and FINs at random sequence numbers
 * and then a SYN, forged with the client's address and port. None of them ends or re-balances a
 * connection (RFC 5961 §3–4, as Linux's connection tracking applies it): every connection keeps echoing to
 * the end, and the out-of-window segments are dropped and counted.
 */
class SpoofedSegmentsIT {
    private static final int CONNECTIONS = 40;
    private static final int PER_CONNECTION = 250;

    @Test
    void blindResetsFinsAndSynsNeitherEndNorMoveALiveConnection() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsp", "scripts/lab-pair")) {
            lab.run("lb1", Duration.ofSeconds(10), "ip", "addr", "add", "198.18.0.100/32", "dev", "front");
            lab.run("lb1", Duration.ofSeconds(10), "ip", "addr", "add", "198.19.0.100/32", "dev", "back");
            Path config = lab.logs().resolve("tandem.yaml");
            Files.writeString(config, """
                    node: { name: lb1 }
                    dataplane: { front_interface: front, back_interface: back, queues: 2, stats_interval: 500ms }
                    control: { socket: %s, http: "off" }
                    services:
                      - name: echo
                        vip: 198.18.0.100
                        port: 7000
                        snat_address: 198.19.0.100
                        backends: [ { address: 198.19.0.11, port: 7000 }, { address: 198.19.0.12, port: 7000 } ]
                    """.formatted(lab.logs().resolve("lb1.sock")));
            for (String b : List.of("b1", "b2")) {
                lab.traffic(b, b + ".log", "echo-server", "7000", "120");
                lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
            }
            lab.start("lb1", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", config.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000",
                    String.valueOf(CONNECTIONS), "20", "25");
            // 4,000 forged segments a second: what TUN carries without the kernel dropping at its queue,
            // so every one reaches the engine and its counters.
            List<String> ports = new ArrayList<>();
            NamespaceLab.await(() -> {
                ports.clear();
                ports.addAll(clientPorts(lab));
                return ports.size() == CONNECTIONS;
            }, Duration.ofSeconds(30), () -> "established: " + ports);

            List<String> spoof = new ArrayList<>(List.of("timeout", "60", "python3",
                    lab.root().resolve("scripts/spoof-segments.py").toString(), "198.18.0.10", "198.18.0.100", "7000",
                    String.valueOf(PER_CONNECTION), "4000", "30"));
            spoof.addAll(ports);
            String sent = lab.run("spoof", Duration.ofSeconds(90), spoof.toArray(String[]::new)).strip();
            assertTrue(sent.startsWith("spoofed rst " + CONNECTIONS * PER_CONNECTION), sent);

            int exit = NamespaceLab.awaitExit(clients, Duration.ofSeconds(60));
            String summary = lab.log("clients.log").lines().filter(l -> l.startsWith("summary")).findFirst().orElse("no summary");
            NamespaceLab.await(() -> count(lab, "rst_out_of_window") >= CONNECTIONS * PER_CONNECTION * 99L / 100,
                    Duration.ofSeconds(10), () -> lab.lastLine("tandemd.log", "packets="));
            String counters = lab.lastLine("tandemd.log", "packets=");
            System.out.println("Spoofed segments (" + sent + "): " + summary + "; tandemd: " + counters);
            assertEquals(0, exit, summary + "\n" + lab.log("clients.log"));
            assertTrue(summary.startsWith("summary surviving " + CONNECTIONS + "/" + CONNECTIONS), summary);
            assertTrue(count(lab, "fin_out_of_window") >= CONNECTIONS * PER_CONNECTION * 99L / 100, counters);
            assertEquals(CONNECTIONS, count(lab, "created"), "no spoofed SYN re-balanced a connection into a new flow: " + counters);
        }
    }

    /** The client's local ports of its established connections to the VIP. */
    private static List<String> clientPorts(NamespaceLab lab) {
        try {
            String out = lab.run("client", Duration.ofSeconds(10), "ss", "-Htn", "state", "established",
                    "dst", "198.18.0.100:7000");
            List<String> ports = new ArrayList<>();
            for (String line : out.strip().split("\n")) {
                String[] fields = line.trim().split("\\s+");
                if (fields.length >= 3) {
                    String local = fields[fields.length - 2];
                    ports.add(local.substring(local.lastIndexOf(':') + 1));
                }
            }
            return ports;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long count(NamespaceLab lab, String label) {
        Matcher m = Pattern.compile(label + "=(\\d+)").matcher(lab.lastLine("tandemd.log", "packets="));
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }
}
