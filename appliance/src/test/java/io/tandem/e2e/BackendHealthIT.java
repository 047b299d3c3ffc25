package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Backends come and go while traffic runs (the single-box lab): a backend whose server stops
 * gets no new flows once its health check has failed {@code fall} times, and flows again once
 * it is back; a drained backend's open connections finish their transfers; a reload adding a
 * service and a backend while 100 connections run resets none of them; a broken reload is
 * refused and traffic goes on.
 */
class BackendHealthIT {
    private static String config(Object socket) {
        return TestConfig.box("lb1").dataplane("queues: 1", "stats_interval: 1s").control(socket)
                .services(TestConfig.Service.web(3)
                        .with("health_check: { type: http, port: 8090, path: /healthz, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }"))
                .yaml();
    }
    private static final String ADDED = """
              - name: web2
                vip: 198.18.0.100
                port: 81
                snat_address: 198.19.0.100
                backends:
                  - { address: 198.19.0.13, port: 8081 }
            """;

    /** Runs tcp-clients and returns connections per backend id; fails the test if any connection failed. */
    private static Map<String, Integer> clients(NamespaceLab lab, String log, int port, int connections, int holdMillis) throws Exception {
        Process p = lab.traffic("client", log, "tcp-clients", "198.18.0.100", Integer.toString(port), Integer.toString(connections),
                "8192", Integer.toString(holdMillis), "60");
        int exit = NamespaceLab.awaitExit(p, Duration.ofSeconds(90));
        assertEquals(0, exit, "every connection carried its data:\n" + lab.log(log) + "\ntandemd:\n" + lab.log("tandemd.log"));
        return perBackend(lab.log(log));
    }

    private static Map<String, Integer> perBackend(String log) {
        Map<String, Integer> per = new TreeMap<>();
        log.lines().filter(l -> l.startsWith("ok ")).forEach(l -> per.merge(l.split(" ")[2], 1, Integer::sum));
        return per;
    }

    private static NamespaceLab.Outcome tandemctl(NamespaceLab lab, String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString()));
        argv.addAll(List.of(args));
        argv.addAll(List.of("--socket", lab.logs().resolve("lb1.sock").toString()));
        return lab.outcome("lb", Duration.ofSeconds(60), argv.toArray(String[]::new));
    }

    @Test
    void backendsComeAndGoWhileTrafficRunsAndNoFlowIsDropped() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tbh")) {
            Path config = lab.logs().resolve("tandem.yaml");
            String yaml = config(lab.logs().resolve("lb1.sock"));
            Files.writeString(config, yaml);
            Process[] servers = new Process[3];
            Process[] healthz = new Process[3];
            for (int i = 0; i < 3; i++) {
                String b = "b" + (i + 1);
                servers[i] = lab.traffic(b, b + ".log", "tcp-server", "8080", b, "240");
                healthz[i] = lab.traffic(b, b + "-healthz.log", "http-status", "8090", lab.logs().resolve(b + ".status").toString(), "240");
                lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
                lab.awaitLog(b + "-healthz.log", "listening", Duration.ofSeconds(30));
            }
            lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", config.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            assertEquals(3, clients(lab, "all.log", 80, 30, 0).size(), "all three backends serve");

            // b3's server stops: after `fall` failed checks it gets no new flows; the others go on.
            servers[2].destroyForcibly();
            healthz[2].destroyForcibly();
            NamespaceLab.awaitExit(servers[2], Duration.ofSeconds(10));
            NamespaceLab.awaitExit(healthz[2], Duration.ofSeconds(10));
            lab.awaitLog("tandemd.log", "web/198.19.0.13:8080 down", Duration.ofSeconds(10));
            Map<String, Integer> without = clients(lab, "without-b3.log", 80, 40, 0);
            assertFalse(without.containsKey("b3"), "no flow to the dead backend: " + without);
            assertTrue(tandemctl(lab, "backends").output().matches("(?s).*198.19.0.13:8080\\s+1 serving\\s+down.*"),
                    tandemctl(lab, "backends").output());

            // It comes back: after `rise` good checks it gets flows again.
            lab.traffic("b3", "b3-again.log", "tcp-server", "8080", "b3", "240");
            lab.traffic("b3", "b3-healthz-again.log", "http-status", "8090", lab.logs().resolve("b3.status").toString(), "240");
            lab.awaitLog("b3-again.log", "listening", Duration.ofSeconds(30));
            lab.awaitLog("tandemd.log", "web/198.19.0.13:8080 up", Duration.ofSeconds(10));
            assertTrue(clients(lab, "with-b3.log", 80, 60, 0).containsKey("b3"), "b3 serves again");

            // b2's health endpoint answers 503: down though it still accepts connections; 200 again: up.
            Files.writeString(lab.logs().resolve("b2.status"), "503");
            lab.awaitLog("tandemd.log", "web/198.19.0.12:8080 down: status 503", Duration.ofSeconds(10));
            assertFalse(clients(lab, "b2-503.log", 80, 30, 0).containsKey("b2"), "no flow to the backend answering 503");
            Files.writeString(lab.logs().resolve("b2.status"), "200");
            lab.awaitLog("tandemd.log", "web/198.19.0.12:8080 up: status 200", Duration.ofSeconds(10));

            // Drain b1 while 30 connections are open on the three backends: they all finish their transfers.
            Process held = lab.traffic("client", "held.log", "tcp-clients", "198.18.0.100", "80", "30", "16384", "3000", "60");
            NamespaceLab.await(() -> lab.lastFlows("tandemd.log") >= 30, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));
            NamespaceLab.Outcome drain = tandemctl(lab, "drain", "198.19.0.11:8080");
            assertEquals(0, drain.exit(), drain.output());
            assertEquals(0, NamespaceLab.awaitExit(held, Duration.ofSeconds(90)), "drained b1's open connections finish:\n" + lab.log("held.log"));
            assertTrue(perBackend(lab.log("held.log")).containsKey("b1"), "some held connections were b1's: " + lab.log("held.log"));
            assertFalse(clients(lab, "drained.log", 80, 40, 0).containsKey("b1"), "no new flow to the drained backend");
            assertEquals(0, tandemctl(lab, "undrain", "198.19.0.11:8080").exit());

            // A reload adds a service and a backend while 100 connections are open: none is reset.
            Process hundred = lab.traffic("client", "hundred.log", "tcp-clients", "198.18.0.100", "80", "100", "8192", "4000", "60");
            NamespaceLab.await(() -> lab.lastFlows("tandemd.log") >= 100, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));
            lab.traffic("b3", "b3-8081.log", "tcp-server", "8081", "b3-web2", "240");
            lab.awaitLog("b3-8081.log", "listening", Duration.ofSeconds(30));
            Files.writeString(config, yaml + ADDED);
            NamespaceLab.Outcome reload = tandemctl(lab, "reload");
            assertEquals(0, reload.exit(), reload.output());
            assertTrue(reload.output().contains("2 services in force"), reload.output());
            assertEquals(0, NamespaceLab.awaitExit(hundred, Duration.ofSeconds(90)), "none of the 100 reset:\n" + lab.log("hundred.log"));
            assertEquals(100, perBackend(lab.log("hundred.log")).values().stream().mapToInt(Integer::intValue).sum());
            assertEquals(Map.of("b3-web2", 10), clients(lab, "web2.log", 81, 10, 0), "the added service serves");

            // A broken config is refused with its field error; the running config stays and serves.
            Files.writeString(config, yaml.replace("interval: 300ms", "interval: 0ms"));
            NamespaceLab.Outcome bad = tandemctl(lab, "reload");
            assertEquals(1, bad.exit(), bad.output());
            assertTrue(bad.output().contains("services[0].health_check.interval: must be longer than 0"), bad.output());
            assertEquals(10, clients(lab, "after-bad.log", 81, 10, 0).get("b3-web2"), "the running config (with web2) still serves");
            System.out.println("backend health, drain and reload: every connection carried its data; "
                    + "without b3 " + without + "; refused reload: " + bad.output().lines().findFirst().orElse(""));
        }
    }

    /**
     * {@code on_backend_down: reset}, fast path on (the kernel carries the flows: they are handed
     * back to the engine when their backend goes down, so their next segment reaches it) and off.
     */
    @ParameterizedTest(name = "fast path {0}")
    @ValueSource(strings = {"on", "off"})
    void withResetTheClientsOfASilentBackendAreResetAtTheirNextSegment(String fastPath) throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tbr" + fastPath.charAt(1))) {
            Path config = lab.logs().resolve("tandem.yaml");
            Files.writeString(config, """
                    node: { name: lb1 }
                    dataplane: { front_interface: front, back_interface: back, queues: 1, stats_interval: 500ms, fast_path: "%s",
                                 fast_path_pin_dir: /tmp/tandem-test-unpinned/lb1 }
                    control: { socket: %s, http: "off" }
                    services:
                      - name: echo
                        vip: 198.18.0.100
                        port: 7000
                        snat_address: 198.19.0.100
                        health_check: { type: tcp, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }
                        on_backend_down: reset
                        backends:
                          - { address: 198.19.0.11, port: 7000 }
                          - { address: 198.19.0.12, port: 7000 }
                          - { address: 198.19.0.13, port: 7000 }
                    """.formatted(fastPath, lab.logs().resolve("lb1.sock")));
            for (String b : List.of("b1", "b2", "b3")) {
                lab.traffic(b, b + ".log", "echo-server", "7000", "120");
                lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
            }
            lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", config.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "30", "50", "12");
            NamespaceLab.await(() -> lab.lastFlows("tandemd.log") >= 30, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));

            // b3 goes silent (its link down: no FIN, no RST of its own): its clients would hang.
            lab.run("b3", Duration.ofSeconds(10), "ip", "link", "set", "eth0", "down");
            lab.awaitLog("tandemd.log", "of echo down:", Duration.ofSeconds(10));
            Matcher marked = Pattern.compile("of echo down: (\\d+) flows will be reset")
                    .matcher(lab.log("tandemd.log"));
            assertTrue(marked.find(), lab.log("tandemd.log"));
            int reset = Integer.parseInt(marked.group(1));
            assertTrue(reset > 0, "some of the 30 were b3's");
            NamespaceLab.awaitExit(clients, Duration.ofSeconds(60));
            String summary = lab.log("clients.log").lines().filter(l -> l.startsWith("summary")).findFirst().orElse("no summary");
            assertTrue(summary.startsWith("summary surviving " + (30 - reset) + "/30"), "exactly b3's clients failed: " + summary
                    + "\n" + lab.log("clients.log"));
            NamespaceLab.await(() -> {
                Matcher m = Pattern.compile("replied=(\\d+)").matcher(lab.lastLine("tandemd.log", "replied="));
                return m.find() && Integer.parseInt(m.group(1)) >= reset;
            }, Duration.ofSeconds(10), () -> "a reset sent to each: " + lab.lastLine("tandemd.log", "replied="));
            System.out.println("on_backend_down reset: " + reset + " flows of the silent backend reset, " + summary);
        }
    }
}
