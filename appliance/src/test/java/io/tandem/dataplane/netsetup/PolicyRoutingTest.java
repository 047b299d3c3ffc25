package io.tandem.dataplane.netsetup;

import io.tandem.TestConfig;
import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.Service;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.os.CommandRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The routing's changes against a stand-in for the kernel's rule list, with a failure injected at each step. */
class PolicyRoutingTest {
    @TempDir
    Path procSys;

    /** The kernel's policy rules as `ip rule` keeps them; the {@code failAt}-th "add" fails. */
    private static final class Kernel extends CommandRunner {
        final List<String> rules = new ArrayList<>(List.of("pref 0 lookup local"));
        final List<String> rules6 = new ArrayList<>(List.of("pref 0 lookup local"));
        final List<String> nft = new ArrayList<>();
        final List<String> commands = new ArrayList<>();
        int adds;
        int failAt = -1;

        @Override
        public Result run(List<String> command) {
            String line = String.join(" ", command);
            commands.add(line);
            if (line.startsWith("ip -6 rule ")) {
                String rest = line.substring("ip -6 rule ".length());
                if (rest.startsWith("add ")) {
                    rules6.add(rest.substring(4));
                    return new Result(0, "");
                }
                if (rest.startsWith("del ")) {
                    return new Result(rules6.remove(rest.substring(4)) ? 0 : 2, "");
                }
                return new Result(0, String.join("\n", rules6.stream().filter(r -> r.endsWith(" lookup local"))
                        .map(r -> r.split(" ")[1] + ":\tfrom all lookup local").toList()));
            }
            if (line.startsWith("nft -f ")) {
                try {
                    nft.add(Files.readString(Path.of(command.get(2))));
                } catch (IOException e) {
                    return new Result(1, e.toString());
                }
                return new Result(0, "");
            }
            if (line.startsWith("nft ")) {
                nft.add(line);
                return new Result(0, "");
            }
            if (line.startsWith("ip rule add ")) {
                if (adds++ == failAt) {
                    return new Result(2, "RTNETLINK answers: No buffer space available");
                }
                rules.add(line.substring("ip rule add ".length()));
                return new Result(0, "");
            }
            if (line.startsWith("ip rule del ")) {
                return new Result(rules.remove(line.substring("ip rule del ".length())) ? 0 : 2, "");
            }
            return new Result(0, line.equals("ip rule show") ? "0:\tfrom all lookup local" : "");
        }

        List<String> tandemRules() {
            return rules.stream().filter(r -> r.contains("lookup 100")).sorted().toList();
        }
    }

    private static List<Service> services(TandemConfig config) {
        return ServiceTable.build(config.services(), new SnatPortPools(1024, 65535), MaglevTable.DEFAULT_SIZE).services();
    }

    private static List<String> expected(PolicyRouting routing, List<Service> services) {
        return routing.rulesFor(services).stream().map(r -> String.join(" ", r)).sorted().toList();
    }

    @Test
    void aReloadWhoseRoutingFailsAtAnyStepLeavesTheRulesAsTheyWere() throws Exception {
        TandemConfig one = TestConfig.box("lb1").services(TestConfig.Service.web(2)).parse();
        TandemConfig two = TestConfig.box("lb1").services(new TestConfig.Service("web", "198.18.0.101", 80).backend("198.19.0.11", 8080),
                new TestConfig.Service("dns", "198.18.0.102", 53).protocol("udp").snat("198.19.0.102").backend("198.19.0.21", 5353))
                .parse();
        Files.createDirectories(procSys.resolve("net/ipv4/conf/tandem0"));
        PolicyRouting plan = new PolicyRouting(one.dataplane(), new Kernel(), procSys);
        long newRules = plan.rulesFor(services(two)).stream().filter(r -> !plan.rulesFor(services(one)).contains(r)).count();
        assertEquals(9, newRules, "two new VIPs and one new SNAT address, three protocols each");
        for (int failAt = 0; ; failAt++) {
            Kernel kernel = new Kernel();
            PolicyRouting routing = new PolicyRouting(one.dataplane(), kernel, procSys);
            routing.apply(services(one));
            List<String> before = kernel.tandemRules();
            assertEquals(expected(routing, services(one)), before);
            kernel.failAt = kernel.adds + failAt;
            int at = failAt;
            boolean failed;
            try {
                routing.replaceRules(services(two));
                failed = false;
            } catch (CommandRunner.SetupException e) {
                failed = true;
                assertTrue(e.getMessage().contains("No buffer space"), e.getMessage());
            }
            if (!failed) {
                assertEquals(expected(routing, services(two)), kernel.tandemRules(), "the new rules, once nothing fails");
                assertEquals(newRules, failAt, "a failure was injected at every add before");
                break;
            }
            assertEquals(before, kernel.tandemRules(), "add #" + at + " failed: every rule as it was");
            assertEquals(routing.rulesFor(services(one)), routing.installedRules(), "and the books as they were");
            routing.remove();
            assertEquals(List.of(), kernel.tandemRules(), "the teardown removes exactly what is ours");
        }
    }

    @Test
    void theTunDeviceComesUpWithTheConfiguredQueueLength() throws Exception {
        Files.createDirectories(procSys.resolve("net/ipv4/conf/tandem0"));
        for (String[] setting : new String[][] {{null, "10000"}, {"tun_queue_length: 4096", "4096"}}) {
            TestConfig box = TestConfig.box("lb1").services(TestConfig.Service.web(1));
            TandemConfig config = (setting[0] == null ? box : box.dataplane(setting[0])).parse();
            Kernel kernel = new Kernel();
            PolicyRouting routing = new PolicyRouting(config.dataplane(), kernel, procSys);
            routing.apply(services(config));
            String expected = "ip link set dev tandem0 txqueuelen " + setting[1] + " up";
            assertEquals(expected, kernel.commands.getFirst(), "the link comes up with its queue before any rule");
            assertEquals(expected, routing.describe(services(config)).getFirst());
        }
    }

    @Test
    void aStartThatNeverAppliedTheRoutingRemovesNothing() throws Exception {
        Kernel kernel = new Kernel();
        kernel.rules.add("pref 100 iif front to 198.18.0.100/32 ipproto tcp lookup 100"); // another tandemd's
        PolicyRouting routing = new PolicyRouting(TestConfig.box("lb1").services(TestConfig.Service.web(1)).parse().dataplane(),
                kernel, procSys);
        routing.remove();
        assertEquals(List.of("pref 0 lookup local", "pref 100 iif front to 198.18.0.100/32 ipproto tcp lookup 100"), kernel.rules);
    }

    /**
     * An IPv6 service gets ip -6 rules for TCP and UDP and one fwmark rule per side; ICMPv6 is
     * never steered by protocol (that would take the VIP's neighbour discovery from the kernel),
     * only the echo and error types nft marks. The teardown removes all of it.
     */
    @Test
    void anIpv6ServiceSteersTcpUdpAndTheMarkedIcmpv6AndLeavesNeighbourDiscoveryAlone() throws Exception {
        TandemConfig config = TestConfig.box("lb1").services(TestConfig.Service.web(1),
                new TestConfig.Service("web6", "2001:2::100", 80).snat("2001:2:0:1::100").backend("2001:2:0:1::11", 8080)).parse();
        Files.createDirectories(procSys.resolve("net/ipv6/conf/tandem0"));
        Files.createDirectories(procSys.resolve("net/ipv6/conf/all"));
        Files.createDirectories(procSys.resolve("net/ipv4/conf/tandem0"));
        Kernel kernel = new Kernel();
        PolicyRouting routing = new PolicyRouting(config.dataplane(), kernel, procSys);
        routing.apply(services(config));

        String mark = routing.icmpMark();
        assertEquals(List.of(
                "pref 100 iif front fwmark " + mark + " lookup 100",
                "pref 100 iif front to 2001:2::100/128 ipproto tcp lookup 100",
                "pref 100 iif front to 2001:2::100/128 ipproto udp lookup 100",
                "pref 101 iif back fwmark " + mark + " lookup 100",
                "pref 101 iif back to 2001:2:0:1::100/128 ipproto tcp lookup 100",
                "pref 101 iif back to 2001:2:0:1::100/128 ipproto udp lookup 100",
                "pref 32000 lookup local"), kernel.rules6.stream().sorted().toList(), "and the local table moved behind them");
        assertTrue(kernel.rules6.stream().noneMatch(r -> r.contains("icmp")), "no rule steers ICMPv6 by protocol");
        assertEquals(6, kernel.tandemRules().size(), "the IPv4 service's rules as before");
        assertEquals(1, kernel.nft.size());
        String script = kernel.nft.get(0);
        assertTrue(script.contains("elements = { 2001:2::100, 2001:2:0:1::100 }"), script);
        assertTrue(script.contains("icmpv6 type " + PolicyRouting.ICMPV6_STEERED + " meta mark set " + mark), script);
        assertTrue(!script.contains("nd-neighbor") && !script.contains("nd-router"), "neighbour discovery is not marked: " + script);
        assertEquals("1", Files.readString(procSys.resolve("net/ipv6/conf/tandem0/addr_gen_mode")), "no link-local address on TUN");
        assertEquals("0", Files.readString(procSys.resolve("net/ipv6/conf/tandem0/disable_ipv6")));
        assertEquals("1", Files.readString(procSys.resolve("net/ipv6/conf/all/forwarding")));

        routing.remove();
        assertEquals(List.of("pref 0 lookup local"), kernel.rules6, "every IPv6 rule gone, the local table back at 0");
        assertEquals(List.of(), kernel.tandemRules());
        assertEquals("nft delete table ip6 " + routing.nftTable(), kernel.nft.get(kernel.nft.size() - 1));
    }
}
