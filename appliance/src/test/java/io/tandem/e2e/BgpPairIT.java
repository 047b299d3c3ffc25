package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.config.ConfigLoader;
import io.tandem.ha.BirdConfig;
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
 * BGP mode end to end (scripts/lab-bgp): the pair behind a router running BIRD 2, each box
 * running tandemd and BIRD with the configuration {@code tandemctl bird-config} renders, dual stack (an
 * IPv4 and an IPv6 VIP, each on sessions of its own family, half the connections to each). The
 * active announces the VIP and the SNAT address as they are, the standby with a longer AS
 * path; 200 TCP connections echo every 20 ms through the router. The active dies hard (its
 * links down, then tandemd and BIRD SIGKILLed: no FIN reaches the router): the router's
 * session to it ends — after BFD's
 * 3 × 100 ms, or the 3 s hold time without BFD — its routes go, the standby's path takes over,
 * and every connection carries on. And {@code tandemctl failover} moves the traffic with no
 * loss. Each case prints survivors and the longest stall.
 */
class BgpPairIT {
    private static final String VIP = "198.18.10.100";
    private static final String SNAT = "198.19.10.100";
    /** Dual stack: the same service over IPv6, announced as /128s on the IPv6 sessions (scripts/lab-bgp). */
    private static final String VIP6 = "2001:2:0:10::100";
    private static final String SNAT6 = "2001:2:0:11::100";
    /** Every session is TCP-MD5 authenticated (RFC 2385): the boxes' BIRD from tandem's config, the router's by hand. */
    private static final String MD5_KEY = "lab-bgp-md5-key";
    private static String box(String name, int self, int peer, Object key, int priority, Path logs, boolean bfd) {
        return TestConfig.box(name).dataplane("queues: 1", "stats_interval: 500ms").conntrack("max_flows: 65536")
                .section(PairLab.sync("198.18.2." + self, "198.18.2." + peer, key))
                .section("""
                        ha:
                          mode: bgp
                          priority: %1$d
                          track_file: %2$s/%3$s.track
                          bgp:
                            local_as: 65001
                            hold_time: 3s
                            bfd: { enabled: %4$s, interval: 100ms, multiplier: 3 }
                            neighbors:
                              - { address: 198.18.0.254, as: 65000, local_address: 198.18.0.%5$d, announce: vips, password: %6$s }
                              - { address: 198.19.0.254, as: 65000, local_address: 198.19.0.%5$d, announce: snat, password: %6$s }
                              - { address: "2001:2::fe", as: 65000, local_address: "2001:2::%5$d", announce: vips, password: %6$s }
                              - { address: "2001:2:0:1::fe", as: 65000, local_address: "2001:2:0:1::%5$d", announce: snat, password: %6$s }
                        """.formatted(priority, logs, name, bfd, self, MD5_KEY))
                .control(logs.resolve(name + ".sock"))
                .services(TestConfig.Service.echo(VIP, SNAT), new TestConfig.Service("echo6", VIP6, 7000).snat(SNAT6)
                        .backend("2001:2:0:1::11", 7000).backend("2001:2:0:1::12", 7000).backend("2001:2:0:1::13", 7000)).yaml();
    }
    /** The upstream router: eBGP to both boxes on both LANs, best routes into its kernel. */
    private static final String ROUTER = """
            log stderr all;
            router id 198.18.0.254;
            protocol device { scan time 10; }
            protocol kernel { ipv4 { import none; export all; }; }
            protocol kernel { ipv6 { import none; export all; }; }
            %1$s
            template bgp box {
              local as 65000;
              hold time 3;
              keepalive time 1;
              connect retry time 2;
              password "lab-bgp-md5-key";
              %2$s
              ipv4 { import all; export none; };
            }
            template bgp box6 from box {
              ipv6 { import all; export none; };
            }
            protocol bgp lb1_front from box { local 198.18.0.254 as 65000; neighbor 198.18.0.1 as 65001; }
            protocol bgp lb2_front from box { local 198.18.0.254 as 65000; neighbor 198.18.0.2 as 65001; }
            protocol bgp lb1_back from box { local 198.19.0.254 as 65000; neighbor 198.19.0.1 as 65001; }
            protocol bgp lb2_back from box { local 198.19.0.254 as 65000; neighbor 198.19.0.2 as 65001; }
            protocol bgp lb1_front6 from box6 { local 2001:2::fe as 65000; neighbor 2001:2::1 as 65001; }
            protocol bgp lb2_front6 from box6 { local 2001:2::fe as 65000; neighbor 2001:2::2 as 65001; }
            protocol bgp lb1_back6 from box6 { local 2001:2:0:1::fe as 65000; neighbor 2001:2:0:1::1 as 65001; }
            protocol bgp lb2_back6 from box6 { local 2001:2:0:1::fe as 65000; neighbor 2001:2:0:1::2 as 65001; }
            """;
    private static final String BFD = "protocol bfd { interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }";

    @Test
    void withBfdEveryFlowSurvivesTheActivesHardDeath() throws Exception {
        hardDeath("tbb", true, 3_000);
    }

    @Test
    void withoutBfdTheHoldTimeEndsTheSessionAndEveryFlowStillSurvives() throws Exception {
        hardDeath("tbh", false, 10_000);
    }

    @Test
    void tandemctlFailoverMovesTheRoutesWithoutLoss() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tbf", "scripts/lab-bgp")) {
            Process[][] boxes = startPair(lab, true);
            Process[] clients = startClients(lab);
            NamespaceLab.Outcome failover = PairLab.tandemctl(lab, "lb1", "failover");
            System.out.println("tandemctl failover on lb1 (bgp):\n" + failover.output());
            assertEquals(0, failover.exit(), failover.output());
            assertTrue(failover.output().contains("lb1 is STANDBY, lb2 is ACTIVE"), failover.output());
            awaitRouterPrefers(lab, "198.18.0.2", "198.19.0.2");
            assertTrue(boxes[0][0].isAlive(), "lb1 carries on as the standby");
            assertEverySurvived(lab, clients, "tandemctl failover on lb1", 3_000);

            // A router with the wrong TCP-MD5 key gets no session: lb1's front session, re-keyed on the
            // router only, goes down and stays down (the box's kernel drops its unsigned segments),
            // while lb2's, with the right key, stays up.
            Path routerConf = lab.logs().resolve("router-bird.conf");
            Files.writeString(routerConf, Files.readString(routerConf).replace("neighbor 198.18.0.1 as 65001; }",
                    "neighbor 198.18.0.1 as 65001; password \"not-the-pairs-key\"; }"));
            birdc(lab, "router", "configure");
            NamespaceLab.await(() -> !sessionUp(lab, "lb1_front"), Duration.ofSeconds(15), () -> "lb1_front re-keyed goes down");
            // Three hold times and more: the wrong-keyed session does not come back, the right-keyed one stays.
            NamespaceLab.assertHolds(() -> !sessionUp(lab, "lb1_front") && sessionUp(lab, "lb2_front"), Duration.ofSeconds(10),
                    () -> "lb1_front (wrong key) down and lb2_front (right key) up:\n" + safeBirdc(lab));
        }
    }

    private static boolean sessionUp(NamespaceLab lab, String protocol) {
        try {
            return birdc(lab, "router", "show protocols " + protocol).contains("Established");
        } catch (Exception e) {
            return false;
        }
    }

    /** The active dies hard; the router must move to the standby's path and keep every flow. */
    private static void hardDeath(String prefix, boolean bfd, long maxStallMillis) throws Exception {
        try (NamespaceLab lab = NamespaceLab.up(prefix, "scripts/lab-bgp")) {
            Process[][] boxes = startPair(lab, bfd);
            Process[] clients = startClients(lab);
            // Links first, as a box losing power: no FIN may tell the router its sessions ended.
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "front", "down");
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "back", "down");
            for (Process p : boxes[0]) {
                p.destroyForcibly();
            }
            awaitRouterPrefers(lab, "198.18.0.2", "198.19.0.2");
            lab.awaitLog("lb2.log", "-> ACTIVE", Duration.ofSeconds(10));
            assertEverySurvived(lab, clients, "SIGKILL of the active, BFD " + (bfd ? "on" : "off"), maxStallMillis);
        }
    }

    /** lb1 (priority 150) ACTIVE, then lb2 (100) STANDBY; the router prefers lb1's path. Returns {tandemd, bird} per box. */
    private static Process[][] startPair(NamespaceLab lab, boolean bfd) throws Exception {
        Path key = PairLab.newKey(lab);
        for (String b : List.of("b1", "b2", "b3")) {
            lab.traffic(b, b + ".log", "echo-server", "7000", "120");
            lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
        }
        Path routerConf = lab.logs().resolve("router-bird.conf");
        Files.writeString(routerConf, ROUTER.formatted(bfd ? BFD : "", bfd ? "bfd on;" : ""));
        startBird(lab, "router", routerConf);
        Process[] lb1 = startBox(lab, "lb1", 1, 2, 150, key, bfd);
        lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
        Process[] lb2 = startBox(lab, "lb2", 2, 1, 100, key, bfd);
        lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
        awaitRouterPrefers(lab, "198.18.0.1", "198.19.0.1");
        String[] routes = {""};
        NamespaceLab.await(() -> {
            try {
                routes[0] = birdc(lab, "router", "show route " + VIP + "/32 all");
                return routes[0].contains("BGP.as_path: 65001 65001 65001 65001");
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofSeconds(20), () -> "the standby's path, 3 times prepended, at the router too:\n" + routes[0]);
        return new Process[][] {lb1, lb2};
    }

    private static Process[] startBox(NamespaceLab lab, String name, int self, int peer, int priority, Path key, boolean bfd)
            throws Exception {
        Path config = lab.logs().resolve(name + ".yaml");
        Files.writeString(config, box(name, self, peer, key, priority, lab.logs(), bfd));
        Process tandemd = lab.start(name, name + ".log", "env", "TANDEMD_JAVA_OPTS=" + PairLab.UNIT_JAVA_OPTS,
                lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(), "--config", config.toString());
        lab.awaitLog(name + ".log", "running", Duration.ofSeconds(60));
        // BIRD's configuration as the package renders it; logging to the test's log instead of syslog.
        Path birdConf = lab.logs().resolve(name + "-bird.conf");
        Files.writeString(birdConf, BirdConfig.render(ConfigLoader.load(config)).replace("log syslog all;", "log stderr all;"));
        Process bird = startBird(lab, name, birdConf);
        return new Process[] {tandemd, bird};
    }

    /** Checks the configuration with BIRD's own parser, then runs BIRD in the foreground in {@code ns}. */
    private static Process startBird(NamespaceLab lab, String ns, Path conf) throws Exception {
        NamespaceLab.Outcome parsed = lab.outcome(ns, Duration.ofSeconds(10), "bird", "-p", "-c", conf.toString());
        assertEquals(0, parsed.exit(), "bird -p accepts " + conf.getFileName() + ":\n" + parsed.output() + "\n" + Files.readString(conf));
        Process bird = lab.start(ns, ns + "-bird.log", "bird", "-f", "-c", conf.toString(),
                "-s", lab.logs().resolve(ns + "-bird.ctl").toString(), "-P", lab.logs().resolve(ns + "-bird.pid").toString());
        NamespaceLab.await(() -> Files.exists(lab.logs().resolve(ns + "-bird.ctl")), Duration.ofSeconds(10),
                () -> "BIRD's control socket in " + ns + ":\n" + lab.log(ns + "-bird.log"));
        return bird;
    }

    private static String birdc(NamespaceLab lab, String ns, String command) throws Exception {
        List<String> argv = new ArrayList<>(List.of("birdc", "-s", lab.logs().resolve(ns + "-bird.ctl").toString()));
        argv.addAll(List.of(command.split(" ")));
        return lab.outcome(ns, Duration.ofSeconds(10), argv.toArray(String[]::new)).output();
    }

    /** Waits until the router's kernel routes the VIP and the SNAT address to the given box. */
    private static void awaitRouterPrefers(NamespaceLab lab, String vipNextHop, String snatNextHop) {
        String[] last = {""};
        NamespaceLab.await(() -> {
            try {
                last[0] = lab.run("router", Duration.ofSeconds(5), "ip", "route", "show", VIP + "/32")
                        + lab.run("router", Duration.ofSeconds(5), "ip", "route", "show", SNAT + "/32");
                String v6 = lab.run("router", Duration.ofSeconds(5), "ip", "-6", "route", "show", VIP6 + "/128")
                        + lab.run("router", Duration.ofSeconds(5), "ip", "-6", "route", "show", SNAT6 + "/128");
                last[0] += "\n" + v6;
                return last[0].contains("via " + vipNextHop) && last[0].contains("via " + snatNextHop)
                        && v6.contains("via " + ipv6Of(vipNextHop)) && v6.contains("via " + ipv6Of(snatNextHop));
            } catch (Exception e) {
                last[0] = e.toString();
                return false;
            }
        }, Duration.ofSeconds(30), () -> "the router routing " + VIP + " via " + vipNextHop + " and " + SNAT + " via " + snatNextHop
                + ", now:\n" + last[0] + "\nrouter BIRD:\n" + safeBirdc(lab));
    }

    /** A box's IPv6 address on the LAN of its IPv4 one: 198.18.0.N is 2001:2::N, 198.19.0.N is 2001:2:0:1::N. */
    private static String ipv6Of(String ipv4) {
        String n = ipv4.substring(ipv4.lastIndexOf('.') + 1);
        return (ipv4.startsWith("198.18.") ? "2001:2::" : "2001:2:0:1::") + n;
    }

    private static String safeBirdc(NamespaceLab lab) {
        try {
            return birdc(lab, "router", "show protocols") + birdc(lab, "router", "show route all");
        } catch (Exception e) {
            return e.toString();
        }
    }

    /**
     * 200 connections through the router, 100 to the IPv4 VIP and 100 to the IPv6 one, each
     * echoing every 20 ms for 30 s; returns once the standby holds them.
     */
    private static Process[] startClients(NamespaceLab lab) throws Exception {
        Process v4 = lab.traffic("client", "clients.log", "echo-clients", VIP, "7000", "100", "20", "30");
        Process v6 = lab.traffic("client", "clients6.log", "echo-clients", VIP6, "7000", "100", "20", "30");
        NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 200, Duration.ofSeconds(20),
                () -> "the standby holding the 200 flows:\n" + lab.log("lb2.log") + "\nclients:\n" + lab.log("clients.log")
                        + lab.log("clients6.log"));
        return new Process[] {v4, v6};
    }

    private static void assertEverySurvived(NamespaceLab lab, Process[] clients, String what, long maxStallMillis) throws Exception {
        String[] logs = {"clients.log", "clients6.log"};
        for (int i = 0; i < 2; i++) {
            int exit = NamespaceLab.awaitExit(clients[i], Duration.ofSeconds(60));
            String summary = lab.lastLine(logs[i], "summary");
            System.out.println("bgp failover (" + what + ", " + (i == 0 ? "IPv4" : "IPv6") + "): " + summary);
            assertEquals(0, exit, summary + "\n" + lab.log(logs[i]) + "\nlb2:\n" + lab.log("lb2.log"));
            Matcher m = Pattern.compile("surviving (\\d+)/(\\d+) longest_stall_ms (\\d+)").matcher(summary);
            assertTrue(m.find(), summary);
            assertEquals("100/100", m.group(1) + "/" + m.group(2), summary);
            assertTrue(Long.parseLong(m.group(3)) < maxStallMillis, "longest stall under " + maxStallMillis + " ms: " + summary);
        }
    }
}
