package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operators' servers under an exhaustion attempt: tandemd runs with a file-descriptor
 * limit of 4,096, and 15,000 idle connections to its HTTP side plus 10,000 to its control
 * socket are held open against it. Without the connection caps these would use up its
 * descriptors and its health probes would fail; with them, tandemctl, the page and the
 * health checks go on answering, and traffic through the VIP goes on.
 */
class OperatorServersIT {
    private static final int FD_LIMIT = 4096;

    @Test
    void tensOfThousandsOfIdleConnectionsLeaveStatusPageAndHealthChecksAnswering() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tos")) {
            Path socket = lab.logs().resolve("lb1.sock");
            Path config = lab.logs().resolve("tandem.yaml");
            Files.writeString(config, TestConfig.box("lb1").dataplane("queues: 1", "stats_interval: 1s")
                    .section("control: { socket: " + socket + ", http: \"127.0.0.1:9180\" }")
                    .services(TestConfig.Service.web(2)
                            .with("health_check: { type: http, port: 8090, path: /healthz, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }"))
                    .yaml());
            for (String b : List.of("b1", "b2")) {
                lab.traffic(b, b + ".log", "tcp-server", "8080", b, "240");
                lab.traffic(b, b + "-healthz.log", "http-status", "8090", lab.logs().resolve(b + ".status").toString(), "240");
                lab.awaitLog(b + "-healthz.log", "listening", Duration.ofSeconds(30));
            }
            String tandemd = lab.root().resolve("appliance/target/tandem/bin/tandemd").toString();
            Process daemon = lab.start("lb", "tandemd.log", "sh", "-c", "ulimit -n " + FD_LIMIT + " && exec " + tandemd + " --config " + config);
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(60));
            flipB2(lab, 1); // the checks run before the flood...

            Process http = lab.traffic("lb", "idle-http.log", "idle-conns", "127.0.0.1", "9180", "15000", "40");
            Process unix = lab.traffic("lb", "idle-unix.log", "idle-conns", "unix:" + socket, "0", "10000", "40");
            lab.awaitLog("idle-http.log", "idle holding", Duration.ofSeconds(40));
            lab.awaitLog("idle-unix.log", "idle holding", Duration.ofSeconds(40));

            // While they are held: tandemctl, the page and a bad parameter are answered.
            NamespaceLab.Outcome status = tandemctl(lab, socket, "status");
            assertTrue(status.exit() == 0 || status.exit() == 1, "tandemctl reaches tandemd: " + status.output());
            assertTrue(status.output().contains("ACTIVE") || status.output().contains("lb1"), status.output());
            String page = httpGet(lab, "/api/status");
            assertTrue(page.startsWith("HTTP/1.1 200"), page);
            assertTrue(httpGet(lab, "/api/events?limit=-1").startsWith("HTTP/1.1 400"));
            flipB2(lab, 2); // ...and during it
            Process clients = lab.traffic("client", "clients.log", "tcp-clients", "198.18.0.100", "80", "10", "4096", "0", "30");
            assertEquals(0, NamespaceLab.awaitExit(clients, Duration.ofSeconds(60)), lab.log("clients.log"));

            assertEquals(0, NamespaceLab.awaitExit(http, Duration.ofSeconds(90)), lab.log("idle-http.log"));
            assertEquals(0, NamespaceLab.awaitExit(unix, Duration.ofSeconds(90)), lab.log("idle-unix.log"));
            String httpSummary = lab.lastLine("idle-http.log", "idle opened");
            String unixSummary = lab.lastLine("idle-unix.log", "idle opened");
            assertTrue(closedByServer(httpSummary) >= opened(httpSummary) - 256 && opened(httpSummary) > 256, httpSummary);
            assertTrue(closedByServer(unixSummary) >= opened(unixSummary) - 64 && opened(unixSummary) > 64, unixSummary);
            assertTrue(daemon.isAlive(), lab.log("tandemd.log"));
            System.out.println("operator servers under idle connections: http " + httpSummary + "; control socket " + unixSummary
                    + "; tandemctl, the page and the health checks answered throughout");
        }
    }

    /** b2's health endpoint turns bad, is seen down, turns good, is seen up: the {@code n}-th time. */
    private static void flipB2(NamespaceLab lab, int n) throws Exception {
        Files.writeString(lab.logs().resolve("b2.status"), "503");
        NamespaceLab.await(() -> count(lab, "web/198.19.0.12:8080 down: status 503") == n, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));
        Files.writeString(lab.logs().resolve("b2.status"), "200");
        NamespaceLab.await(() -> count(lab, "web/198.19.0.12:8080 up: status 200") == n, Duration.ofSeconds(20), () -> lab.log("tandemd.log"));
    }

    private static long count(NamespaceLab lab, String text) {
        return lab.log("tandemd.log").lines().filter(l -> l.contains(text)).count();
    }

    private static int opened(String summary) {
        return field(summary, "opened");
    }

    private static int closedByServer(String summary) {
        return field(summary, "closed_by_server");
    }

    private static int field(String summary, String name) {
        String[] words = summary.split("\\s+");
        for (int i = 0; i < words.length - 1; i++) {
            if (words[i].equals(name)) {
                return Integer.parseInt(words[i + 1]);
            }
        }
        throw new AssertionError(name + " in " + summary);
    }

    private static NamespaceLab.Outcome tandemctl(NamespaceLab lab, Path socket, String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString(),
                "--socket", socket.toString()));
        argv.addAll(List.of(args));
        return lab.outcome("lb", Duration.ofSeconds(60), argv.toArray(String[]::new));
    }

    /** One HTTP/1.0 GET to the page's loopback port inside lb's namespace, with bash's /dev/tcp. */
    private static String httpGet(NamespaceLab lab, String uri) throws Exception {
        return lab.outcome("lb", Duration.ofSeconds(30), "bash", "-c",
                "exec 3<>/dev/tcp/127.0.0.1/9180 && printf 'GET " + uri + " HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 10 cat <&3").output();
    }
}
