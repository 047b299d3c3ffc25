package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.config.ConfigLoader;
import io.tandem.ha.KeepalivedConfig;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** tandemd's start and stop: clear refusals, idempotent network setup, a clean teardown. */
class DaemonStartupIT {
    private static final String CONFIG = TestConfig.box(null).dataplane("queues: 1").conntrack("max_flows: 1024")
            .services(TestConfig.Service.web(1)).yaml();

    private static NamespaceLab lab;
    private static Path config;
    private static String tandemd;

    @BeforeAll
    static void startLab() throws Exception {
        lab = NamespaceLab.up("tds");
        config = lab.logs().resolve("tandem.yaml");
        Files.writeString(config, CONFIG + "control: { socket: " + lab.logs().resolve("tandemd.sock") + ", http: \"off\" }\n");
        tandemd = lab.root().resolve("appliance/target/tandem/bin/tandemd").toString();
    }

    @AfterAll
    static void stopLab() throws Exception {
        if (lab != null) {
            lab.close();
        }
    }

    private static String rules() throws Exception {
        return lab.run("lb", Duration.ofSeconds(10), "ip", "rule", "show");
    }

    @Test
    void restartAfterACrashIsCleanAndStopUndoesOnlyItsOwnRouting() throws Exception {
        lab.run("lb", Duration.ofSeconds(10), "ip", "rule", "add", "pref", "100", "to", "198.18.5.5", "lookup", "main");
        String before = rules();

        Process crashed = lab.start("lb", "crashed.log", tandemd, "--config", config.toString());
        lab.awaitLog("crashed.log", "running", Duration.ofSeconds(30));
        crashed.destroyForcibly(); // SIGKILL: no teardown
        NamespaceLab.awaitExit(crashed, Duration.ofSeconds(10));
        assertTrue(rules().contains("198.18.0.100 iif front ipproto tcp lookup 100"), "a crash leaves the rules behind");
        assertEquals("blackhole default metric 4096", lab.run("lb", Duration.ofSeconds(10), "ip", "route", "show", "table", "100"),
                "and the blackhole: the box's own stack must not answer the VIPs' packets with resets");

        Process restarted = lab.start("lb", "restarted.log", tandemd, "--config", config.toString());
        lab.awaitLog("restarted.log", "running", Duration.ofSeconds(30));
        String during = rules();
        assertEquals(6, during.lines().filter(l -> l.contains("lookup 100")).count(), "no duplicate rules after the restart:\n" + during);
        assertTrue(during.contains("32000:\tfrom all lookup local"), during);
        assertFalse(during.lines().anyMatch(l -> l.startsWith("0:")), "the local table moved behind our rules:\n" + during);

        restarted.destroy(); // SIGTERM
        assertEquals(143, NamespaceLab.awaitExit(restarted, Duration.ofSeconds(20)), lab.log("restarted.log"));
        assertEquals(before, rules(), "routing as it was, the foreign rule at priority 100 included");
        assertTrue(rules().contains("198.18.5.5 lookup main"));
        assertEquals("", lab.run("lb", Duration.ofSeconds(10), "ip", "route", "show", "table", "100"));
        assertFalse(lab.run("lb", Duration.ofSeconds(10), "ip", "link", "show").contains("tandem0"), "the TUN device is gone");
    }

    @Test
    void aSecondTandemdIsRefusedWithTheRunningOnesPidAndTheFirstKeepsServing() throws Exception {
        Process server = lab.traffic("b1", "one-instance-server.log", "tcp-server", "8080", "b1", "120");
        Process first = lab.start("lb", "first.log", tandemd, "--config", config.toString());
        try {
            lab.awaitLog("first.log", "running", Duration.ofSeconds(30));
            String rulesBefore = rules();
            String tableBefore = lab.run("lb", Duration.ofSeconds(10), "ip", "route", "show", "table", "100");
            assertTrue(tableBefore.contains("default dev tandem0"), tableBefore);

            // The same config; then only the TUN device shared; then only the route table.
            Path socketOnly = lab.logs().resolve("second-tun.yaml");
            Files.writeString(socketOnly, CONFIG + "control: { socket: " + lab.logs().resolve("second.sock") + ", http: \"off\" }\n");
            Path tableOnly = lab.logs().resolve("second-table.yaml");
            Files.writeString(tableOnly, CONFIG.replace("  queues: 1\n", "  queues: 1\n  tun_name: tandem9\n")
                    + "control: { socket: " + lab.logs().resolve("third.sock") + ", http: \"off\" }\n");
            String[][] seconds = {
                {config.toString(), "second-same.log", "answers on the control socket"},
                {socketOnly.toString(), "second-tun.log", "the TUN device tandem0 exists"},
                {tableOnly.toString(), "second-table.log", "route table 100 is in use"}};
            for (String[] second : seconds) {
                Process p = lab.start("lb", second[1], tandemd, "--config", second[0]);
                assertEquals(3, NamespaceLab.awaitExit(p, Duration.ofSeconds(30)), lab.log(second[1]));
                String said = lab.log(second[1]);
                assertTrue(said.contains(second[2]) && said.contains("tandemd (pid " + first.pid()), said);
            }

            assertTrue(first.isAlive());
            assertEquals(rulesBefore, rules(), "the first one's rules untouched");
            assertEquals(tableBefore, lab.run("lb", Duration.ofSeconds(10), "ip", "route", "show", "table", "100"));
            assertTrue(Files.exists(lab.logs().resolve("tandemd.sock")), "its control socket still there");
            Process clients = lab.traffic("client", "one-instance-clients.log", "tcp-clients", "198.18.0.100", "80", "5", "1024", "0",
                    "20");
            assertEquals(0, NamespaceLab.awaitExit(clients, Duration.ofSeconds(30)), lab.log("one-instance-clients.log"));
            assertEquals(5, lab.log("one-instance-clients.log").lines().filter(l -> l.startsWith("ok ")).count(),
                    lab.log("one-instance-clients.log"));
        } finally {
            first.destroy();
            NamespaceLab.awaitExit(first, Duration.ofSeconds(20));
            server.destroy();
        }
    }

    @Test
    void keepalivedsCheckFailsForAWedgedDaemonAndPassesAgainWhenItResumes() throws Exception {
        Process daemon = lab.start("lb", "wedged.log", tandemd, "--config", config.toString());
        String script = lab.root().resolve("vrrp-scripts/tandemd-alive").toString();
        String pidFile = lab.logs().resolve("tandemd.pid").toString();
        String socket = lab.logs().resolve("tandemd.sock").toString();
        try {
            lab.awaitLog("wedged.log", "running", Duration.ofSeconds(30));
            assertEquals(0, lab.outcome("lb", Duration.ofSeconds(10), "sh", script, pidFile, socket).exit(), "a running tandemd passes");
            lab.run("lb", Duration.ofSeconds(10), "kill", "-STOP", Long.toString(daemon.pid()));
            long start = System.nanoTime();
            NamespaceLab.Outcome wedged = lab.outcome("lb", Duration.ofSeconds(10), "sh", script, pidFile, socket);
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertEquals(1, wedged.exit(), "a stopped tandemd still has its PID, but fails the check: " + wedged.output());
            assertTrue(millis < 2_500, "within keepalived's 2 s timeout and a margin: " + millis + " ms");
            lab.run("lb", Duration.ofSeconds(10), "kill", "-CONT", Long.toString(daemon.pid()));
            NamespaceLab.await(() -> {
                try {
                    return lab.outcome("lb", Duration.ofSeconds(10), "sh", script, pidFile, socket).exit() == 0;
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(15), () -> lab.log("wedged.log"));
        } finally {
            lab.run("lb", Duration.ofSeconds(10), "kill", "-CONT", Long.toString(daemon.pid()));
            daemon.destroy();
            NamespaceLab.awaitExit(daemon, Duration.ofSeconds(20));
        }
    }

    @Test
    void keepalivedAcceptsTheRenderedConfigOnTheBox() throws Exception {
        String withHa = CONFIG + """
                ha: { virtual_router_id: 51, priority: 150, self_address: 198.18.0.1, peer_address: 198.18.0.2,
                      check_script: %s }
                """.formatted(lab.checkScript());
        Path conf = lab.logs().resolve("keepalived.conf");
        Files.writeString(conf, KeepalivedConfig.render(ConfigLoader.parse(withHa, "test")));
        Process check = lab.start("lb", "keepalived-t.log", "keepalived", "-t", "-l", "-f", conf.toString());
        assertEquals(0, NamespaceLab.awaitExit(check, Duration.ofSeconds(30)), lab.log("keepalived-t.log"));

        // The same check fails for a config naming an interface the box does not have.
        Path wrong = lab.logs().resolve("keepalived-wrong.conf");
        Files.writeString(wrong, KeepalivedConfig.render(ConfigLoader.parse(
                withHa.replace("front_interface: front", "front_interface: eth9"), "test")));
        Process bad = lab.start("lb", "keepalived-wrong.log", "keepalived", "-t", "-l", "-f", wrong.toString());
        assertTrue(NamespaceLab.awaitExit(bad, Duration.ofSeconds(30)) != 0, lab.log("keepalived-wrong.log"));
    }

    /**
     * A dual-stack config: keepalived takes the IPv6 VIP and SNAT address in the excluded block
     * of the IPv4 instance (in virtual_ipaddress it refuses them: "address family must match
     * VRRP instance", exit 5).
     */
    @Test
    void keepalivedAcceptsADualStackConfig() throws Exception {
        String withHa = CONFIG + "  - name: web6\n    vip: 2001:2::100\n    port: 80\n    snat_address: 2001:2:0:1::100\n"
                + "    backends:\n      - { address: 2001:2:0:1::11, port: 8080 }\n"
                + "ha: { virtual_router_id: 51, priority: 150, self_address: 198.18.0.1, peer_address: 198.18.0.2, check_script: "
                + lab.checkScript() + " }\n";
        Path conf = lab.logs().resolve("keepalived6.conf");
        String rendered = KeepalivedConfig.render(ConfigLoader.parse(withHa, "test"));
        assertTrue(rendered.contains("2001:2::100/128 dev front") && rendered.contains("2001:2:0:1::100/128 dev back"), rendered);
        Files.writeString(conf, rendered);
        Process check = lab.start("lb", "keepalived6-t.log", "keepalived", "-t", "-l", "-f", conf.toString());
        assertEquals(0, NamespaceLab.awaitExit(check, Duration.ofSeconds(30)), lab.log("keepalived6-t.log") + "\n" + rendered);

        // And with the boxes' own addresses IPv6: an IPv6 instance, the IPv4 VIP excluded.
        String overIpv6 = KeepalivedConfig.render(ConfigLoader.parse(withHa.replace("self_address: 198.18.0.1", "self_address: 2001:2::1")
                .replace("peer_address: 198.18.0.2", "peer_address: 2001:2::2"), "test"));
        assertTrue(overIpv6.contains("unicast_src_ip 2001:2::1"), overIpv6);
        Path conf6 = lab.logs().resolve("keepalived-over6.conf");
        Files.writeString(conf6, overIpv6);
        Process check6 = lab.start("lb", "keepalived-over6-t.log", "keepalived", "-t", "-l", "-f", conf6.toString());
        assertEquals(0, NamespaceLab.awaitExit(check6, Duration.ofSeconds(30)), lab.log("keepalived-over6-t.log") + "\n" + overIpv6);
    }

    @Test
    void aBadConfigExitsWithTheFieldError() throws Exception {
        Path bad = lab.logs().resolve("bad.yaml");
        Files.writeString(bad, CONFIG.replace("port: 80", "port: 0"));
        Process p = lab.start("lb", "bad.log", tandemd, "--config", bad.toString());
        assertEquals(2, NamespaceLab.awaitExit(p, Duration.ofSeconds(30)));
        assertTrue(lab.log("bad.log").contains("services[0].port: 0 is not a port (1-65535)"), lab.log("bad.log"));
    }

    @Test
    void withoutCapNetAdminItExitsSayingSo() throws Exception {
        Process p = lab.start("lb", "nocap.log", "setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin",
                tandemd, "--config", config.toString());
        assertEquals(3, NamespaceLab.awaitExit(p, Duration.ofSeconds(30)), lab.log("nocap.log"));
        assertTrue(lab.log("nocap.log").contains("needs CAP_NET_ADMIN"), lab.log("nocap.log"));
    }

    @Test
    void withoutDevNetTunItExitsSayingSo() throws Exception {
        // A private mount namespace in which /dev/net is empty.
        Process p = lab.start("lb", "notun.log", "unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs none /dev/net && exec \"$0\" --config \"$1\"", tandemd, config.toString());
        assertEquals(3, NamespaceLab.awaitExit(p, Duration.ofSeconds(30)), lab.log("notun.log"));
        assertTrue(lab.log("notun.log").contains("/dev/net/tun does not exist"), lab.log("notun.log"));
    }
}
