package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigLoader;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.lab.NamespaceLab;
import io.tandem.packet.Ipv4;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One tandemd in a namespace between a client and backends, carrying real TCP, UDP and ICMP
 * as a full NAT (scripts/lab draws the topology), with the default epoll engine and the default
 * fast path ({@code auto}: the kernel creates and carries what it can); {@link
 * SingleNodeIoUringDataplaneIT} runs every case again through TUN alone ({@code fast_path: off},
 * io_uring), the TUN path's own tests. The {@code syslog} service's {@code client_limits} keep its
 * new flows on the engine, so the TUN queue can overflow whatever the fast path.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SingleNodeDataplaneIT {
    private static final String CONFIG = TestConfig.box("lb1").dataplane("queues: 2", "stats_interval: 1s")
            .conntrack("max_flows: 65536")
            .services(TestConfig.Service.web(3), TestConfig.Service.dns("198.19.0.11"),
                    new TestConfig.Service("far", TestConfig.VIP, 81).backend("198.19.1.21", 8080),
                    new TestConfig.Service("syslog", TestConfig.VIP, 514).protocol("udp").backend("198.19.0.11", 5514)
                            .with("client_limits: { new_flows_per_second: 1000000 }"))
            .yaml();

    private NamespaceLab lab;
    private Path configFile;
    private Process tandemd;

    /** The data plane's I/O engine under test ({@code dataplane.io}); {@link SingleNodeIoUringDataplaneIT} overrides it. */
    String ioEngine() {
        return "epoll";
    }

    /** The control socket in the lab's directory, not the box's /run. */
    /** {@code dataplane.fast_path} for this class's daemon: the default; {@link SingleNodeIoUringDataplaneIT} turns it off. */
    String fastPath() {
        return "auto";
    }

    private String withControl(String yaml) {
        return yaml.replace("  queues: 2\n", "  queues: 2\n  io: " + ioEngine() + "\n  fast_path: \"" + fastPath() + "\"\n") + "control: { socket: " + lab.logs().resolve("tandemd.sock") + ", http: \"off\" }\n";
    }

    @BeforeAll
    void startLab() throws Exception {
        lab = NamespaceLab.up(ioEngine().equals("epoll") ? "tsn" : "tsu");
        try {
            configFile = lab.logs().resolve("tandem.yaml");
            Files.writeString(configFile, withControl(CONFIG));
            for (String b : List.of("b1", "b2", "b3")) {
                lab.traffic(b, b + "-tcp.log", "tcp-server", "8080", b, "240");
            }
            lab.traffic("b1", "b1-udp.log", "udp-server", "5353", "b1", "240");
            lab.traffic("far", "far-tcp.log", "tcp-server", "8080", "far", "240");
            tandemd = lab.start("lb", "tandemd.log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                    "--config", configFile.toString());
            lab.awaitLog("tandemd.log", "running", Duration.ofSeconds(30));
            lab.awaitLog("tandemd.log", "queues (" + ioEngine() + ",", Duration.ofSeconds(1));
            for (String b : List.of("b1", "b2", "b3", "far")) {
                lab.awaitLog(b + "-tcp.log", "listening", Duration.ofSeconds(30));
            }
            lab.awaitLog("b1-udp.log", "listening", Duration.ofSeconds(30));
        } catch (Throwable t) {
            stopLab();
            throw t;
        }
    }

    @AfterAll
    void stopLab() throws Exception {
        if (lab != null) {
            lab.close();
            lab = null;
        }
    }

    private List<String> tcpClients(String log, int port, int connections, int bytes, int holdMillis) throws Exception {
        Process clients = lab.traffic("client", log, "tcp-clients", "198.18.0.100", Integer.toString(port),
                Integer.toString(connections), Integer.toString(bytes), Integer.toString(holdMillis), "60");
        int exit = NamespaceLab.awaitExit(clients, Duration.ofSeconds(90));
        List<String> lines = lab.log(log).lines().filter(l -> l.startsWith("ok") || l.startsWith("fail")).toList();
        assertEquals(0, exit, "every connection verified:\n" + lab.log(log) + "\ntandemd:\n" + lab.log("tandemd.log"));
        assertEquals(connections, lines.size());
        return lines;
    }

    @Test
    @Order(1)
    void hundredConcurrentConnectionsCarryVerifiedDataToTheBackendsMaglevPredicts() throws Exception {
        List<String> results = tcpClients("clients-100.log", 80, 100, 64 * 1024, 0);
        Service web = ServiceTable.build(ConfigLoader.parse(CONFIG, "test").services(), new SnatPortPools(1024, 65535),
                MaglevTable.DEFAULT_SIZE).services().get(0);
        Map<String, Integer> perBackend = new HashMap<>();
        for (String line : results) {
            String[] f = line.split(" "); // ok LOCAL_PORT BACKEND PEER
            int localPort = Integer.parseInt(f[1]);
            String expected = Ipv4.format(web.pick(web.flowHash(Ipv4.parse("198.18.0.10"), localPort)).address());
            assertEquals(expected, "198.19.0.1" + f[2].substring(1), "Maglev's backend for client port " + localPort);
            assertTrue(f[3].startsWith("198.19.0.100:"), "the backend sees the SNAT address: " + line);
            perBackend.merge(f[2], 1, Integer::sum);
        }
        assertEquals(3, perBackend.size(), "all three backends got connections: " + perBackend);
    }

    @Test
    @Order(2)
    void udpRequestsAreAnsweredThroughTheNat() throws Exception {
        Process client = lab.traffic("client", "udp-client.log", "udp-client", "198.18.0.100", "53", "20");
        assertEquals(0, NamespaceLab.awaitExit(client, Duration.ofSeconds(60)), lab.log("udp-client.log"));
        assertEquals(20, lab.log("udp-client.log").lines().filter(l -> l.startsWith("ok b1 request-")).count());
    }

    @Test
    @Order(3)
    void fragmentsOutOfOrderAreHeldAndForwardedAndHeaderAttacksAreDropped() throws Exception {
        String reverse = lab.run("client", Duration.ofSeconds(60), "python3", lab.root().resolve("scripts/frag-probe.py").toString(),
                "reverse", "198.18.0.100", "53", "20").strip();
        assertEquals("frag-probe reverse sent 20 answered 20", reverse, "each datagram's second fragment came first, and waited");
        String tiny = lab.run("client", Duration.ofSeconds(60), "python3", lab.root().resolve("scripts/frag-probe.py").toString(),
                "tiny", "198.18.0.100", "80", "5").strip();
        assertEquals("frag-probe tiny sent 5 answered 0", tiny);
        String overlap = lab.run("client", Duration.ofSeconds(60), "python3", lab.root().resolve("scripts/frag-probe.py").toString(),
                "overlap", "198.18.0.100", "53", "5").strip();
        assertEquals("frag-probe overlap sent 5 answered 0", overlap, "the overlapping fragment never reached the backend");
        NamespaceLab.await(() -> {
            String counters = lab.lastLine("tandemd.log", "packets=");
            return counters.contains("tiny_fragment=5") && counters.contains("fragment_overlap=5");
        }, Duration.ofSeconds(10), () -> lab.lastLine("tandemd.log", "packets="));
    }

    @Test
    @Order(3)
    void pingToTheVipIsAnswered() throws Exception {
        String out = lab.run("client", Duration.ofSeconds(20), "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.0.100");
        assertTrue(out.contains("3 received"), out);
    }

    @Test
    @Order(4)
    void largeTransferAcrossASmallerMtuNeedsTheTranslatedFragmentationNeeded() throws Exception {
        // The router's far link has MTU 1280; its "fragmentation needed" goes to the SNAT
        // address and must reach the client translated, or this upload stalls.
        List<String> results = tcpClients("clients-far.log", 81, 4, 512 * 1024, 0);
        assertTrue(results.stream().allMatch(l -> l.contains(" far 198.19.0.100:")), String.join("\n", results));
        String pmtu = lab.run("client", Duration.ofSeconds(10), "ip", "route", "get", "198.18.0.100");
        assertTrue(pmtu.contains("mtu 1280"), "the client learned the path MTU: " + pmtu);
        NamespaceLab.await(() -> lab.log("tandemd.log").matches("(?s).*icmp_translated=[1-9].*"), Duration.ofSeconds(10),
                () -> "tandemd counting translated ICMP errors:\n" + lab.log("tandemd.log"));
    }

    @Test
    @Order(5)
    void reloadRemovingABackendKeepsItsFlowsAndSendsItNoNewOnes() throws Exception {
        Process longLived = lab.traffic("client", "clients-hold.log", "tcp-clients", "198.18.0.100", "80", "30",
                Integer.toString(16 * 1024), "4000", "60");
        NamespaceLab.await(() -> lab.log("tandemd.log").lines().anyMatch(l -> l.matches(".*flows=[1-9][0-9]+ .*")),
                Duration.ofSeconds(20), () -> "flows in tandemd's counters");
        Files.writeString(configFile, withControl(CONFIG.replace("      - { address: 198.19.0.13, port: 8080 }\n", "")));
        lab.run("lb", Duration.ofSeconds(10), "kill", "-HUP", Long.toString(tandemd.pid()));
        lab.awaitLog("tandemd.log", "reload: 4 services in force", Duration.ofSeconds(20));

        assertEquals(0, NamespaceLab.awaitExit(longLived, Duration.ofSeconds(90)),
                "flows opened before the reload, b3's included, all finish:\n" + lab.log("clients-hold.log"));
        List<String> fresh = tcpClients("clients-after-reload.log", 80, 40, 4096, 0);
        assertFalse(fresh.stream().anyMatch(l -> l.split(" ")[2].equals("b3")), "no new flow to the removed backend:\n" + fresh);
    }

    @Test
    @Order(6)
    void aBrokenReloadKeepsTheRunningConfig() throws Exception {
        Files.writeString(configFile, withControl(CONFIG.replace("port: 80\n", "port: 80000\n")));
        lab.run("lb", Duration.ofSeconds(10), "kill", "-HUP", Long.toString(tandemd.pid()));
        lab.awaitLog("tandemd.log", "services[0].port: 80000 is not a port (1-65535)", Duration.ofSeconds(20));
        tcpClients("clients-after-bad-reload.log", 80, 10, 4096, 0);
    }

    /**
     * The queue the kernel fills for the engine (dataplane.tun_queue_length, 10,000 by default: the
     * kernel's 500 overflowed when 2,000 connections a second opened beside 10,000 open ones): with
     * tandemd stopped, 25,000 datagrams overflow its two queues; the kernel counts the drops, tandemd
     * reports the kernel's count, and serves on once it runs again.
     */
    @Test
    @Order(7)
    void aTunQueueOverflowedWhileTheEngineStandsStillIsCountedAndReported() throws Exception {
        String link = lab.run("lb", Duration.ofSeconds(10), "ip", "-s", "link", "show", "tandem0");
        assertTrue(link.contains("qlen 10000"), link);
        long before = lab.tunTxDropped("lb");
        lab.run("lb", Duration.ofSeconds(10), "kill", "-STOP", Long.toString(tandemd.pid()));
        try {
            lab.run("client", Duration.ofSeconds(120), "bash", "-c", "for i in $(seq 25000); do echo x > /dev/udp/198.18.0.100/514; done");
        } finally {
            lab.run("lb", Duration.ofSeconds(10), "kill", "-CONT", Long.toString(tandemd.pid()));
        }
        // The kernel's count, read again until tandemd's line says the same: the last datagrams of the loop may
        // still be meeting the full queue when it is first read (seen: 6 more on a loaded box).
        long[] kernel = {0};
        NamespaceLab.await(() -> {
            try {
                kernel[0] = lab.tunTxDropped("lb");
            } catch (Exception e) {
                return false;
            }
            Matcher reported = Pattern.compile("tun_queue_drops=(\\d+)").matcher(lab.lastLine("tandemd.log", "tun_queue_drops="));
            return reported.find() && Long.parseLong(reported.group(1)) == kernel[0];
        }, Duration.ofSeconds(15), () -> "tandemd reports the kernel's " + kernel[0] + ": " + lab.lastLine("tandemd.log", "tun_queue_drops="));
        long dropped = kernel[0] - before;
        assertTrue(dropped >= 1000 && dropped <= 25_000 - 2 * 500, "the two queues held 10,000 each, not the kernel's 500: " + dropped);
        Process client = lab.traffic("client", "udp-after-overflow.log", "udp-client", "198.18.0.100", "53", "5");
        assertEquals(0, NamespaceLab.awaitExit(client, Duration.ofSeconds(60)), lab.log("udp-after-overflow.log"));
    }
}
