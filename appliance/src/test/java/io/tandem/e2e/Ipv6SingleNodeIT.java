package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.balancer.ClientLimiters;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.config.IpAddress;
import io.tandem.conntrack.FlowTable;
import io.tandem.conntrack.Ipv6Addresses;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One dual-stack tandemd in the namespace lab (scripts/lab: IPv6 from 2001:2::/48 only, RFC
 * 5180) carrying real IPv6 TCP, UDP and ICMPv6 through its TUN device as NAT66, beside an IPv4
 * service; path MTU through the router's 1280-byte link; neighbour discovery for the VIP and
 * the SNAT address left to the kernel, and still answering after all of this class's traffic;
 * the status page's API and metrics served on an IPv6 address ({@code [::1]:9180}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Ipv6SingleNodeIT {
    private static final String VIP6 = "2001:2::100";
    private static final String SNAT6 = "2001:2:0:1::100";
    private static final String CONFIG = TestConfig.box("lb1").dataplane("queues: 2", "stats_interval: 1s")
            .conntrack("max_flows: 65536")
            .services(TestConfig.Service.web(3),
                    new TestConfig.Service("web6", VIP6, 80).snat(SNAT6)
                            .with("health_check: { type: http, port: 8090, path: /healthz, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }")
                            .backend("2001:2:0:1::11", 8080).backend("2001:2:0:1::12", 8080).backend("2001:2:0:1::13", 8080),
                    new TestConfig.Service("dns6", VIP6, 53).protocol("udp").snat(SNAT6).backend("2001:2:0:1::11", 5353),
                    new TestConfig.Service("far6", VIP6, 81).snat(SNAT6).backend("2001:2:0:2::21", 8080))
            .yaml();

    private NamespaceLab lab;

    @BeforeAll
    void startLab() throws Exception {
        lab = NamespaceLab.up("tv6");
        try {
            Path configFile = lab.logs().resolve("tandem.yaml");
            Files.writeString(configFile, CONFIG + "control: { socket: " + lab.logs().resolve("tandemd.sock") + ", http: \"[::1]:9180\" }\n");
            watchNeighbourDiscovery();
            for (String b : List.of("b1", "b2", "b3", "far")) {
                lab.traffic(b, b + "-tcp.log", "tcp-server", "8080", b, "300");
            }
            lab.traffic("b1", "b1-udp.log", "udp-server", "5353", "b1", "300");
            for (String b : List.of("b1", "b2", "b3")) {
                lab.traffic(b, b + "-healthz.log", "http-status", "8090", lab.logs().resolve(b + ".status").toString(), "300");
            }
            lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", configFile.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(30));
            for (String b : List.of("b1", "b2", "b3", "far")) {
                lab.awaitLog(b + "-tcp.log", "listening", Duration.ofSeconds(30));
            }
            lab.awaitLog("b1-udp.log", "listening", Duration.ofSeconds(30));
            for (String b : List.of("b1", "b2", "b3")) {
                lab.awaitLog(b + "-healthz.log", "listening", Duration.ofSeconds(30));
            }
        } catch (Throwable t) {
            stopLab();
            throw t;
        }
    }

    /**
     * For the whole class, neighbour unreachability detection (RFC 4861 §7.3) runs on the client's
     * entry for the VIP and a backend's entry for the SNAT address every few seconds instead of
     * every half minute or so (reachable time 1 s, first probe after 1 s), while UDP through the
     * dns6 service keeps the entries in use: a datagram every 0.5 s from the client to the VIP, and
     * b1's answers to the SNAT address. Unlike TCP (and iputils ping, which sends with
     * MSG_CONFIRM) UDP does not confirm a neighbour, so each cycle ends in a unicast solicitation
     * to the address itself, which the kernel, not the engine, must answer. Every state change is
     * logged by {@code ip monitor}; {@link #neighbourDiscoveryKeptAnsweringThroughout} counts them.
     */
    private void watchNeighbourDiscovery() throws Exception {
        for (String[] side : new String[][] {{"client", "c0"}, {"b1", "eth0"}}) {
            lab.run(side[0], Duration.ofSeconds(10), "sysctl", "-qw", "net.ipv6.neigh." + side[1] + ".base_reachable_time_ms=1000",
                    "net.ipv6.neigh." + side[1] + ".delay_first_probe_time=1");
            lab.start(side[0], "nd-" + side[0] + ".log", "timeout", "600", "ip", "-6", "-ts", "monitor", "neigh", "dev", side[1]);
        }
        lab.start("client", "nd-udp.log", "timeout", "600", "bash", "-c",
                "for i in $(seq 1200); do echo nd > /dev/udp/" + VIP6 + "/53; sleep 0.5; done");
        neighbourWatchStarted = System.nanoTime();
    }

    private long neighbourWatchStarted;

    @AfterAll
    void stopLab() throws Exception {
        if (lab != null) {
            lab.close();
            lab = null;
        }
    }

    /** Runs verified TCP connections from the client; returns their "ok LOCAL_PORT BACKEND PEER" lines. */
    private List<String> tcpClients(String log, String vip, int port, int connections, int bytes) throws Exception {
        Process clients = lab.traffic("client", log, "tcp-clients", vip, Integer.toString(port),
                Integer.toString(connections), Integer.toString(bytes), "0", "60");
        int exit = NamespaceLab.awaitExit(clients, Duration.ofSeconds(90));
        List<String> lines = lab.log(log).lines().filter(l -> l.startsWith("ok") || l.startsWith("fail")).toList();
        assertEquals(0, exit, "every connection verified:\n" + lab.log(log) + "\ntandemd:\n" + lab.log("tandemd.log"));
        assertEquals(connections, lines.size());
        return lines;
    }

    /** The peer a backend saw ("ADDRESS:PORT", Java's uncompressed IPv6 text), as the address it is. */
    private static IpAddress peer(String line) {
        String peer = line.split(" ")[3];
        return IpAddress.of(peer.substring(0, peer.lastIndexOf(':')));
    }

    @Test
    @Order(1)
    void hundredIpv6ConnectionsCarryVerifiedDataToTheBackendsMaglevPredicts() throws Exception {
        List<String> results = tcpClients("clients6.log", VIP6, 80, 100, 64 * 1024);
        Ipv6Addresses arena = new Ipv6Addresses(FlowTable.CONFIG_ADDRESSES);
        Service web6 = ServiceTable.build(ConfigLoader.parse(CONFIG, "test").services(), new SnatPortPools(1024, 65535),
                MaglevTable.DEFAULT_SIZE, Set.of(), Set.of(), new ClientLimiters(), arena).services().get(1);
        IpAddress client = IpAddress.of("2001:2::10");
        Map<String, Integer> perBackend = new HashMap<>();
        for (String line : results) {
            String[] f = line.split(" "); // ok LOCAL_PORT BACKEND PEER
            int localPort = Integer.parseInt(f[1]);
            String expected = web6.pick(web6.flowHash6(client.high(), client.low(), localPort)).ip().toString();
            assertEquals(expected, "2001:2:0:1::1" + f[2].substring(1), "Maglev's backend for client port " + localPort);
            assertEquals(IpAddress.of(SNAT6), peer(line), "the backend sees the IPv6 SNAT address: " + line);
            perBackend.merge(f[2], 1, Integer::sum);
        }
        assertEquals(3, perBackend.size(), "all three backends got connections: " + perBackend);
    }

    @Test
    @Order(2)
    void ipv4IsServedBesideIt() throws Exception {
        List<String> results = tcpClients("clients4.log", "198.18.0.100", 80, 20, 16 * 1024);
        assertTrue(results.stream().allMatch(l -> l.split(" ")[3].startsWith("198.19.0.100:")), String.join("\n", results));
    }

    @Test
    @Order(2)
    void udpOverIpv6IsAnsweredThroughTheNat() throws Exception {
        Process client = lab.traffic("client", "udp6.log", "udp-client", VIP6, "53", "20");
        assertEquals(0, NamespaceLab.awaitExit(client, Duration.ofSeconds(60)), lab.log("udp6.log"));
        assertEquals(20, lab.log("udp6.log").lines().filter(l -> l.startsWith("ok b1 request-")).count());
    }

    @Test
    @Order(2)
    void echoToTheVipAndTheSnatAddressIsAnsweredByTheEngine() throws Exception {
        String before = lab.lastLine("tandemd.log", "packets=");
        String toVip = lab.run("client", Duration.ofSeconds(20), "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", VIP6);
        assertTrue(toVip.contains("3 received"), toVip);
        String toSnat = lab.run("b1", Duration.ofSeconds(20), "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", SNAT6);
        assertTrue(toSnat.contains("3 received"), toSnat);
        int repliedBefore = counter(before, "replied");
        NamespaceLab.await(() -> counter(lab.lastLine("tandemd.log", "packets="), "replied") >= repliedBefore + 6,
                Duration.ofSeconds(10), () -> "the engine answered the six pings: " + lab.lastLine("tandemd.log", "packets="));
    }

    private static int counter(String line, String name) {
        for (String field : line.split(" ")) {
            if (field.startsWith(name + "=")) {
                return Integer.parseInt(field.substring(name.length() + 1));
            }
        }
        return 0;
    }

    /**
     * The router's far link has MTU 1280 and routers never fragment IPv6: its Packet Too Big
     * goes to the SNAT address and must reach the client translated, or these uploads stall.
     */
    @Test
    @Order(3)
    void largeUploadsAcrossTheSmallerMtuNeedTheTranslatedPacketTooBig() throws Exception {
        List<String> results = tcpClients("clients-far6.log", VIP6, 81, 4, 512 * 1024);
        assertTrue(results.stream().allMatch(l -> l.contains(" far ") && peer(l).equals(IpAddress.of(SNAT6))), String.join("\n", results));
        String pmtu = lab.run("client", Duration.ofSeconds(10), "ip", "-6", "route", "get", VIP6);
        assertTrue(pmtu.contains("mtu 1280"), "the client learned the path MTU: " + pmtu);
        NamespaceLab.await(() -> counter(lab.lastLine("tandemd.log", "packets="), "icmp_translated") > 0, Duration.ofSeconds(10),
                () -> "tandemd counting translated ICMPv6 errors:\n" + lab.lastLine("tandemd.log", "packets="));
    }

    /**
     * Neighbour unreachability detection (RFC 4861 §7.3) sends its probes to the VIP itself,
     * by unicast: the kernel must still answer them after the traffic above. The client's entry
     * for the VIP is made stale, a packet sent, and the entry must come back to REACHABLE — a
     * rule steering all ICMPv6 for the VIP into the engine leaves it FAILED.
     */
    @Test
    @Order(4)
    void neighbourDiscoveryForTheVipStaysWithTheKernel() throws Exception {
        lab.run("client", Duration.ofSeconds(10), "sysctl", "-qw", "net.ipv6.neigh.c0.delay_first_probe_time=1");
        for (int round = 0; round < 3; round++) {
            lab.run("client", Duration.ofSeconds(10), "ip", "-6", "neigh", "change", VIP6, "dev", "c0", "nud", "stale");
            lab.outcome("client", Duration.ofSeconds(10), "ping", "-6", "-c", "1", "-W", "2", VIP6);
            List<String> seen = new ArrayList<>();
            NamespaceLab.await(() -> {
                try {
                    String entry = lab.run("client", Duration.ofSeconds(5), "ip", "-6", "neigh", "show", VIP6, "dev", "c0");
                    seen.add(entry);
                    return entry.contains("REACHABLE");
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(15), () -> "the VIP's neighbour entry went " + seen);
            assertTrue(seen.stream().noneMatch(e -> e.contains("FAILED")), "never unreachable: " + seen);
        }
        tcpClients("clients6-after-nud.log", VIP6, 80, 10, 4096);
    }

    /** HTTP health checks reach the IPv6 backends: one answering 503 goes down and gets no new flows, then comes back. */
    @Test
    @Order(6)
    void anIpv6BackendFailingItsHttpCheckGetsNoNewFlows() throws Exception {
        assertTrue(!lab.log("tandemd.log").contains("web6/"), "every check passed so far:\n" + lab.log("tandemd.log"));
        Files.writeString(lab.logs().resolve("b2.status"), "503");
        lab.awaitLog("tandemd.log", "web6/[2001:2:0:1::12]:8080 down: status 503", Duration.ofSeconds(10));
        String backends = tandemctl("backends").output();
        assertTrue(backends.matches("(?s).*\\[2001:2:0:1::12]:8080\\s+1 serving\\s+down.*"), backends);
        List<String> without = tcpClients("clients6-without-b2.log", VIP6, 80, 30, 4096);
        assertTrue(without.stream().noneMatch(l -> l.split(" ")[2].equals("b2")), String.join("\n", without));
        Files.writeString(lab.logs().resolve("b2.status"), "200");
        NamespaceLab.await(() -> {
            try {
                return tandemctl("backends").output().matches("(?s).*\\[2001:2:0:1::12]:8080\\s+1 serving\\s+up.*");
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofSeconds(10), () -> "b2 up again");
    }

    private NamespaceLab.Outcome tandemctl(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString()));
        argv.addAll(List.of(args));
        argv.addAll(List.of("--socket", lab.logs().resolve("tandemd.sock").toString()));
        return lab.outcome("lb", Duration.ofSeconds(30), argv.toArray(String[]::new));
    }

    @Test
    @Order(5)
    void tandemctlListsIpv6FlowsAndFiltersByAnIpv6Client() throws Exception {
        Process hold = lab.traffic("client", "clients6-hold.log", "tcp-clients", VIP6, "80", "5", "4096", "6000", "60");
        try {
            List<String> out = new ArrayList<>();
            NamespaceLab.await(() -> {
                try {
                    NamespaceLab.Outcome o = lab.outcome("lb", Duration.ofSeconds(30),
                            lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString(), "flows", "--client", "2001:2::10",
                            "--socket", lab.logs().resolve("tandemd.sock").toString());
                    out.add(o.output());
                    return o.exit() == 0 && o.output().lines().filter(l -> l.contains("[2001:2::10]:")).count() >= 5;
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(20), () -> "tandemctl flows: " + out);
            String listing = out.get(out.size() - 1);
            assertTrue(listing.contains("[" + VIP6 + "]:80") && listing.contains("[" + SNAT6 + "]:") && listing.contains("tcp6"), listing);
        } finally {
            NamespaceLab.awaitExit(hold, Duration.ofSeconds(60));
        }
    }

    /** GETs a path from the status server on the box's IPv6 loopback, as HTTP/1.0 (the answer, headers and body). */
    private String httpGet6(String uri) throws Exception {
        return lab.outcome("lb", Duration.ofSeconds(30), "bash", "-c",
                "exec 3<>/dev/tcp/::1/9180 && printf 'GET " + uri + " HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 10 cat <&3").output();
    }

    /** Every operator's view over HTTP, served on [::1]: the page, IPv6 flows, services, backends and metrics. */
    @Test
    @Order(7)
    void theStatusPageApiAndMetricsShowIpv6FlowsServicesAndBackends() throws Exception {
        assertTrue(httpGet6("/").startsWith("HTTP/1.1 200"), "the page on [::1]:9180");
        Process hold = lab.traffic("client", "clients6-views.log", "tcp-clients", VIP6, "80", "5", "4096", "6000", "60");
        try {
            List<String> flows = new ArrayList<>();
            NamespaceLab.await(() -> {
                try {
                    String page = httpGet6("/api/flows?service=web6&limit=100");
                    flows.add(page);
                    return page.split("\\[2001:2::10]:", -1).length > 5;
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(20), () -> "five IPv6 flows in /api/flows: " + flows.get(flows.size() - 1));
            String listing = flows.get(flows.size() - 1);
            assertTrue(listing.startsWith("HTTP/1.1 200") && listing.contains("\"[" + VIP6 + "]:80\"")
                    && listing.contains("\"[" + SNAT6 + "]:") && listing.contains("tcp6"), listing);
        } finally {
            NamespaceLab.awaitExit(hold, Duration.ofSeconds(60));
        }
        String services = httpGet6("/api/services");
        assertTrue(services.contains("\"web6\"") && services.contains("\"[" + VIP6 + "]:80\"") && services.contains("\"" + SNAT6 + "\""),
                services);
        String backends = httpGet6("/api/backends");
        assertTrue(backends.contains("\"[2001:2:0:1::11]:8080\"") && backends.contains("\"[2001:2:0:2::21]:8080\""), backends);
        String metrics = httpGet6("/metrics");
        assertTrue(metrics.contains("tandem_backend_up{backend=\"[2001:2:0:1::12]:8080\",service=\"web6\"} 1.0"), metrics);
        assertTrue(metrics.contains("tandem_health_checks_total{backend=\"[2001:2:0:1::11]:8080\",service=\"web6\"}"), metrics);
    }

    /**
     * The neighbour entries watched since the lab came up ({@link #watchNeighbourDiscovery}):
     * many probe cycles, each answered (PROBE followed by REACHABLE), none FAILED, on both sides,
     * across every test above.
     */
    @Test
    @Order(99)
    void neighbourDiscoveryKeptAnsweringThroughout() throws Exception {
        int wanted = Integer.getInteger("tandem.nd.cycles", 8);
        for (String[] side : new String[][] {{"client", VIP6}, {"b1", SNAT6}}) {
            NamespaceLab.await(() -> answeredProbes(lab.log("nd-" + side[0] + ".log"), side[1]) >= wanted,
                    Duration.ofSeconds(40 + 4L * wanted), () -> side[0] + "'s entry for " + side[1] + ": "
                            + answeredProbes(lab.log("nd-" + side[0] + ".log"), side[1]) + " probes answered so far:\n"
                            + lab.log("nd-" + side[0] + ".log"));
            String log = lab.log("nd-" + side[0] + ".log");
            assertTrue(log.lines().filter(l -> l.contains(side[1] + " ")).noneMatch(l -> l.contains("FAILED") || l.contains("INCOMPLETE")),
                    side[0] + "'s entry for " + side[1] + " never failed:\n" + log);
            System.out.printf("neighbour discovery: %s's entry for %s answered %d unicast probes over %d s%n", side[0], side[1],
                    answeredProbes(log, side[1]), (System.nanoTime() - neighbourWatchStarted) / 1_000_000_000L);
        }
    }

    /** Probe cycles of {@code address} in an {@code ip monitor neigh} log that ended REACHABLE. */
    private static int answeredProbes(String log, String address) {
        int answered = 0;
        boolean probing = false;
        for (String line : log.lines().filter(l -> l.contains(address + " ")).toList()) {
            if (line.contains("PROBE")) {
                probing = true;
            } else if (line.contains("REACHABLE") && probing) {
                answered++;
                probing = false;
            }
        }
        return answered;
    }
}
