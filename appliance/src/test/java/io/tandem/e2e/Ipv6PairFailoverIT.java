package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The keepalived pair serving one service over both families (scripts/lab-pair, dual stack):
 * 200 connections, half to the IPv4 VIP and half to the IPv6 one, replicated to the standby
 * (IPv6 flows with their 128-bit addresses, sync format 4), survive a hard kill of the active
 * and, on the pair that takes over, a manual failover back. VRRP runs over IPv6 here (the boxes'
 * own addresses are IPv6): keepalived moves the IPv4 VIP and both SNAT addresses with the IPv6 VIP
 * (virtual_ipaddress_excluded) and announces them.
 */
class Ipv6PairFailoverIT {
    static final String VIP6 = "2001:2::100";
    static final String SNAT6 = "2001:2:0:1::100";

    /** Adds the echo service's IPv6 twin to a pair box's config. */
    static String withEcho6(String yaml) {
        return yaml + TestConfig.box("x").services(new TestConfig.Service("echo6", VIP6, 7000).snat(SNAT6)
                .backend("2001:2:0:1::11", 7000).backend("2001:2:0:1::12", 7000).backend("2001:2:0:1::13", 7000))
                .yaml().replaceFirst("(?s).*?services:\n", "");
    }

    /**
     * {@link #withEcho6}, and VRRP over IPv6: the boxes' own addresses are their front IPv6
     * ones, so the IPv6 VIP is the instance's and the IPv4 one moves in the excluded block.
     */
    static String dualStack(String yaml) {
        return withEcho6(yaml.replaceAll("self_address: 198\\.18\\.0\\.(\\d)\n", "self_address: 2001:2::$1\n")
                .replaceAll("peer_address: 198\\.18\\.0\\.(\\d)\n", "peer_address: 2001:2::$1\n"));
    }

    @Test
    void halfIpv4HalfIpv6ConnectionsSurviveAHardKillAndAManualFailover() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tp6", "scripts/lab-pair")) {
            Path key = PairLab.newKey(lab);
            PairLab.startEchoServers(lab);
            Process[][] boxes = PairLab.startPair(lab, key, Ipv6PairFailoverIT::dualStack);
            assertTrue(lab.log("lb1-keepalived.conf").contains("unicast_src_ip 2001:2::1"), "VRRP over IPv6");
            assertTrue(lab.run("lb1", Duration.ofSeconds(10), "ip", "-6", "addr", "show", "dev", "front").contains(VIP6),
                    "keepalived put the IPv6 VIP on the master");

            Process v4 = lab.traffic("client", "clients4.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "40");
            Process v6 = lab.traffic("client", "clients6.log", "echo-clients", VIP6, "7000", "100", "20", "40");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 200, Duration.ofSeconds(20),
                    () -> "the standby holding the 200 flows, IPv6 ones too:\n" + lab.lastLine("lb2.log", "flows="));
            PairLab.awaitInSync(lab, "lb1");

            PairLab.killHard(lab, "lb1", boxes[0]);
            lab.awaitLog("lb2.log", "-> ACTIVE", Duration.ofSeconds(10));
            NamespaceLab.await(() -> {
                try {
                    return lab.run("lb2", Duration.ofSeconds(10), "ip", "-6", "addr", "show", "dev", "front").contains(VIP6);
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(10), () -> "the IPv6 VIP on the new active");

            // The first box returns as a standby of lb2 (lower priority now: it is restarted
            // with 90), pulls the table, and the operator fails over back to it by hand.
            lab.awaitLog("lb2.log", "sync: peer left the group", Duration.ofSeconds(15));
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "front", "up");
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "back", "up");
            PairLab.startBox(lab, "lb1", "lb1-back", 1, 2, 90, key, Ipv6PairFailoverIT::dualStack);
            lab.awaitLog("lb1-back.log", "-> STANDBY", Duration.ofSeconds(30));
            NamespaceLab.await(() -> lab.lastFlows("lb1-back.log") >= 200, Duration.ofSeconds(20),
                    () -> "the returned box holding the 200 flows:\n" + lab.lastLine("lb1-back.log", "flows="));
            PairLab.awaitInSync(lab, "lb2");
            NamespaceLab.Outcome failover = PairLab.tandemctl(lab, "lb2", "failover");
            System.out.println("tandemctl failover on lb2:\n" + failover.output());
            assertEquals(0, failover.exit(), failover.output());
            assertTrue(failover.output().contains("lb2 is STANDBY, lb1 is ACTIVE"), failover.output());

            String neighbours = "client: " + lab.run("client", Duration.ofSeconds(10), "ip", "-6", "neigh") + "\nb1: "
                    + lab.run("b1", Duration.ofSeconds(10), "ip", "-6", "neigh") + "\nlb1 front: "
                    + lab.run("lb1", Duration.ofSeconds(10), "ip", "-br", "link", "show", "front") + "\nlb2 front: "
                    + lab.run("lb2", Duration.ofSeconds(10), "ip", "-br", "link", "show", "front");
            assertSurvived(lab, v4, "clients4.log", 100, "IPv4, hard kill then tandemctl failover", neighbours);
            assertSurvived(lab, v6, "clients6.log", 100, "IPv6, hard kill then tandemctl failover", neighbours);
        }
    }

    static void assertSurvived(NamespaceLab lab, Process clients, String log, int total, String what, String context)
            throws Exception {
        String summary = PairLab.survivors(lab, clients, log, total, what, context, Duration.ofSeconds(90));
        Matcher m = Pattern.compile("longest_stall_ms (\\d+)").matcher(summary);
        assertTrue(m.find(), summary);
        assertTrue(Long.parseLong(m.group(1)) < 3000, "longest stall under 3 s: " + summary);
    }
}
