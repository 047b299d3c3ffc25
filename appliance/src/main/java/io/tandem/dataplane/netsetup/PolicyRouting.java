package io.tandem.dataplane.netsetup;

import io.tandem.balancer.Service;
import io.tandem.config.DataplaneConfig;
import io.tandem.os.CommandRunner;
import io.tandem.packet.FlowProtocol;
import io.tandem.packet.Ipv4;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * tandemd's share of the box's routing (DESIGN.md §1):
 * <pre>
 * ip link set dev TUN txqueuelen Q up
 * ip rule add pref P   iif FRONT to VIP/32  ipproto tcp|udp|icmp lookup T
 * ip rule add pref P+1 iif BACK  to SNAT/32 ipproto tcp|udp|icmp lookup T
 * ip rule add pref 32000 lookup local; ip rule del pref 0 lookup local
 * ip route replace default dev TUN table T
 * ip route replace blackhole default table T metric 4096
 * sysctl net.ipv4.ip_forward=1, TUN: accept_local=1, rp_filter=0
 * </pre>
 * The {@code ipproto} selector keeps ARP (which consults routing) answering for the VIP:
 * without it the kernel would route the VIP to the TUN device and stop treating it as local.
 * The addresses need not exist yet — keepalived adds them when the box becomes master.
 * The blackhole route is what is left when tandemd crashes (the kernel removes the TUN
 * device and its route): the VIPs' packets are then dropped, never delivered to the box's
 * own stack, which would answer with resets until keepalived moves the addresses (found by
 * PairFailoverIT, which kills tandemd alone: every connection was reset).
 *
 * <p>IPv6 services (RFC 8200) get the same with {@code ip -6}: their VIPs and SNAT addresses as
 * /128s for TCP and UDP, the local table moved behind the rules, a default route and blackhole
 * in the same table, forwarding on, and the TUN device's IPv6 on without an address of its own
 * ({@code addr_gen_mode=1}: no link-local address, so no router solicitations, DAD or MLD
 * reports into the engine). ICMPv6 cannot be selected by type in a rule, and steering all of it
 * would take neighbour discovery from the kernel — including the unicast neighbour
 * solicitations of unreachability detection (RFC 4861 §7.3), which are sent to the VIP itself —
 * so an nftables table ({@link #nftTable}) marks only echo requests and errors to these
 * addresses, and one rule per side steers the marked packets:
 * <pre>
 * ip -6 rule add pref P   iif FRONT to VIP/128  ipproto tcp|udp lookup T
 * ip -6 rule add pref P   iif FRONT fwmark M lookup T     (ICMPv6 echo and errors, marked by nft)
 * </pre>
 *
 * <p>Idempotent: each rule is first deleted by its exact spec (removing only identical,
 * i.e. our own, rules), then added. {@link #remove()} deletes exactly what {@link #apply}
 * added.
 */
public final class PolicyRouting {
    static final int LOCAL_TABLE_PRIORITY = 32000;
    /** Behind the TUN route (metric 0): it only matters once that route is gone. */
    static final int BLACKHOLE_METRIC = 4096;
    private static final Logger LOG = LoggerFactory.getLogger(PolicyRouting.class);
    private static final String[] PROTOCOLS = {"tcp", "udp", "icmp"};

    private final DataplaneConfig config;
    private final CommandRunner runner;
    private final Path procSys;
    private static final String[] PROTOCOLS6 = {"tcp", "udp"};
    /** The ICMPv6 types the engine serves: echo request and the errors it translates (RFC 4443). */
    static final String ICMPV6_STEERED = "{ echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem }";
    private List<List<String>> installedRules = List.of();
    /** Whether the IPv6 base (sysctls, routes, local table, nft table) is in place. */
    private boolean ipv6Applied;
    /** Whether {@link #apply} ran: a start that failed before it must leave the box's routing alone. */
    private boolean applied;

    public PolicyRouting(DataplaneConfig config, CommandRunner runner, Path procSys) {
        this.config = config;
        this.runner = runner;
        this.procSys = procSys;
    }

    /** The rules for these services, as {@code ip rule} argument lists (after "add"/"del"). */
    List<List<String>> rulesFor(List<Service> services) {
        Set<Integer> vips = new LinkedHashSet<>();
        Set<Integer> snats = new LinkedHashSet<>();
        Set<String> vips6 = new LinkedHashSet<>();
        Set<String> snats6 = new LinkedHashSet<>();
        for (Service s : services) {
            if (FlowProtocol.isIpv6(s.protocol())) {
                vips6.add(s.vipIp().toString());
                snats6.add(s.snatIp().toString());
            } else {
                vips.add(s.vip());
                snats.add(s.snatAddress());
            }
        }
        List<List<String>> rules = new ArrayList<>();
        String table = Integer.toString(config.routeTable());
        for (int vip : vips) {
            for (String proto : PROTOCOLS) {
                rules.add(List.of("pref", Integer.toString(config.rulePriority()), "iif", config.frontInterface(),
                        "to", Ipv4.format(vip) + "/32", "ipproto", proto, "lookup", table));
            }
        }
        for (int snat : snats) {
            for (String proto : PROTOCOLS) {
                rules.add(List.of("pref", Integer.toString(config.rulePriority() + 1), "iif", config.backInterface(),
                        "to", Ipv4.format(snat) + "/32", "ipproto", proto, "lookup", table));
            }
        }
        String front = Integer.toString(config.rulePriority());
        String back = Integer.toString(config.rulePriority() + 1);
        for (String vip : vips6) {
            for (String proto : PROTOCOLS6) {
                rules.add(List.of("-6", "pref", front, "iif", config.frontInterface(), "to", vip + "/128", "ipproto", proto,
                        "lookup", table));
            }
        }
        for (String snat : snats6) {
            for (String proto : PROTOCOLS6) {
                rules.add(List.of("-6", "pref", back, "iif", config.backInterface(), "to", snat + "/128", "ipproto", proto,
                        "lookup", table));
            }
        }
        if (!vips6.isEmpty()) {
            rules.add(List.of("-6", "pref", front, "iif", config.frontInterface(), "fwmark", icmpMark(), "lookup", table));
            rules.add(List.of("-6", "pref", back, "iif", config.backInterface(), "fwmark", icmpMark(), "lookup", table));
        }
        return rules;
    }

    /** The mark nft gives the ICMPv6 packets the engine serves: one per route table, so two tandemds never share one. */
    String icmpMark() {
        return "0x" + Integer.toHexString(0x7A000000 | (config.routeTable() & 0xFFFF));
    }

    /** nftables' name for this tandemd's table (one per TUN device). */
    String nftTable() {
        return "tandem_" + config.tunName().replaceAll("[^A-Za-z0-9_]", "_");
    }

    /** The nft script that (re)makes the marking table for these IPv6 addresses. */
    String nftScript(Set<String> addresses6) {
        String name = nftTable();
        return "table ip6 " + name + " {}\n"
                + "delete table ip6 " + name + "\n"
                + "table ip6 " + name + " {\n"
                + "  set served { type ipv6_addr; elements = { " + String.join(", ", addresses6) + " } }\n"
                + "  chain prerouting {\n"
                + "    type filter hook prerouting priority mangle; policy accept;\n"
                + "    ip6 daddr @served icmpv6 type " + ICMPV6_STEERED + " meta mark set " + icmpMark() + "\n"
                + "  }\n"
                + "}\n";
    }

    private static Set<String> addresses6(List<Service> services) {
        Set<String> all = new LinkedHashSet<>();
        for (Service s : services) {
            if (FlowProtocol.isIpv6(s.protocol())) {
                all.add(s.vipIp().toString());
                all.add(s.snatIp().toString());
            }
        }
        return all;
    }

    /** The rules installed now, as {@code ip rule} argument lists. */
    List<List<String>> installedRules() {
        return installedRules;
    }

    /** Every command {@link #apply} would run, for {@code tandemctl} to print. */
    public List<String> describe(List<Service> services) {
        List<String> lines = new ArrayList<>();
        lines.add("ip link set dev " + config.tunName() + " txqueuelen " + config.tunQueueLength() + " up");
        for (List<String> rule : rulesFor(services)) {
            lines.add(String.join(" ", command("add", rule)));
        }
        lines.add("ip rule add pref " + LOCAL_TABLE_PRIORITY + " lookup local; ip rule del pref 0 lookup local");
        lines.add("ip route replace default dev " + config.tunName() + " table " + config.routeTable());
        lines.add("ip route replace blackhole default table " + config.routeTable() + " metric " + BLACKHOLE_METRIC);
        lines.add("sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf." + config.tunName() + ".accept_local=1 net.ipv4.conf."
                + config.tunName() + ".rp_filter=0");
        return lines;
    }

    /** Installs the routing for {@code services}; the TUN device must exist. */
    public void apply(List<Service> services) throws CommandRunner.SetupException {
        String tun = config.tunName();
        applied = true;
        // The queue the kernel fills for the engine to read: its default (500) overflows in bursts.
        runner.require(List.of("ip", "link", "set", "dev", tun, "txqueuelen", Integer.toString(config.tunQueueLength()), "up"));
        writeSysctl("net/ipv4/ip_forward", "1");
        writeSysctl("net/ipv4/conf/" + tun + "/accept_local", "1");
        writeSysctl("net/ipv4/conf/" + tun + "/rp_filter", "0");
        if (Files.exists(procSys.resolve("net/ipv6/conf/" + tun))) {
            writeSysctl("net/ipv6/conf/" + tun + "/disable_ipv6", "1"); // no router solicitations into the engine
        }
        runner.require(List.of("ip", "route", "replace", "default", "dev", tun, "table", Integer.toString(config.routeTable())));
        runner.require(List.of("ip", "route", "replace", "blackhole", "default", "table", Integer.toString(config.routeTable()),
                "metric", Integer.toString(BLACKHOLE_METRIC)));
        moveLocalTable();
        replaceRules(services);
    }

    /**
     * Replaces the installed rules with those for {@code services} (after a reload): new
     * ones are added before old ones are removed, so no packet of a kept address escapes.
     * All or nothing: if adding a rule fails, the rules this call added are deleted again and
     * the routing is as it was. An old rule that will not go is logged and kept in the books,
     * so the teardown tries it again.
     */
    public void replaceRules(List<Service> services) throws CommandRunner.SetupException {
        Set<String> addresses6 = addresses6(services);
        if (!addresses6.isEmpty()) {
            applyIpv6(addresses6);
        }
        List<List<String>> wanted = rulesFor(services);
        List<List<String>> added = new ArrayList<>();
        try {
            for (List<String> rule : wanted) {
                if (!installedRules.contains(rule)) {
                    deleteAll(rule);
                    runner.require(command("add", rule));
                    added.add(rule);
                }
            }
        } catch (CommandRunner.SetupException e) {
            for (List<String> rule : added) {
                try {
                    deleteAll(rule);
                } catch (CommandRunner.SetupException undo) {
                    LOG.warn("undoing a failed routing change: {}", undo.getMessage());
                }
            }
            throw e;
        }
        List<List<String>> kept = new ArrayList<>(wanted);
        for (List<String> rule : installedRules) {
            if (!wanted.contains(rule)) {
                try {
                    deleteAll(rule);
                } catch (CommandRunner.SetupException e) {
                    LOG.warn("policy routing: an old rule stays until the teardown: {}", e.getMessage());
                    kept.add(rule);
                }
            }
        }
        installedRules = List.copyOf(kept);
        LOG.info("policy routing: {} rules into table {} via {}", wanted.size(), config.routeTable(), config.tunName());
    }

    /** Removes what {@link #apply} installed; the local table stays at 32000 only if others rely on it. */
    public void remove() {
        if (!applied) {
            return; // nothing of ours to undo: the table may be another tandemd's
        }
        applied = false;
        for (List<String> rule : installedRules) {
            try {
                deleteAll(rule);
            } catch (CommandRunner.SetupException e) {
                LOG.warn("teardown: {}", e.getMessage());
            }
        }
        installedRules = List.of();
        if (ipv6Applied) {
            ipv6Applied = false;
            try {
                runner.run(List.of("nft", "delete", "table", "ip6", nftTable()));
                runner.run(List.of("ip", "-6", "route", "flush", "table", Integer.toString(config.routeTable())));
                restoreLocalTable("-6");
            } catch (CommandRunner.SetupException e) {
                LOG.warn("teardown: {}", e.getMessage());
            }
        }
        try {
            runner.run(List.of("ip", "route", "flush", "table", Integer.toString(config.routeTable())));
            restoreLocalTable();
        } catch (CommandRunner.SetupException e) {
            LOG.warn("teardown: {}", e.getMessage());
        }
    }

    /**
     * The IPv6 base, once: forwarding, the TUN device's IPv6 without an address, the table's
     * default and blackhole routes, the local table behind the rules; and the nft marking table
     * for these addresses (remade on every call: a reload may change them).
     */
    private void applyIpv6(Set<String> addresses6) throws CommandRunner.SetupException {
        String tun = config.tunName();
        String table = Integer.toString(config.routeTable());
        if (!ipv6Applied) {
            ipv6Applied = true;
            writeSysctl("net/ipv6/conf/" + tun + "/addr_gen_mode", "1");
            writeSysctl("net/ipv6/conf/" + tun + "/accept_ra", "0");
            writeSysctl("net/ipv6/conf/" + tun + "/disable_ipv6", "0");
            writeSysctl("net/ipv6/conf/all/forwarding", "1");
            runner.require(List.of("ip", "-6", "route", "replace", "default", "dev", tun, "table", table));
            runner.require(List.of("ip", "-6", "route", "replace", "blackhole", "default", "table", table,
                    "metric", Integer.toString(BLACKHOLE_METRIC)));
            moveLocalTable("-6");
        }
        Path script = null;
        try {
            script = Files.createTempFile("tandem-nft", ".conf");
            Files.writeString(script, nftScript(addresses6));
            runner.require(List.of("nft", "-f", script.toString()));
        } catch (IOException e) {
            throw new CommandRunner.SetupException("nft script: " + e);
        } finally {
            if (script != null) {
                try {
                    Files.deleteIfExists(script);
                } catch (IOException ignored) {
                    // a temp file left behind
                }
            }
        }
    }

    /** Moves the local table's rule from priority 0 to 32000, behind our rules, keeping it before main (32766). */
    private void moveLocalTable() throws CommandRunner.SetupException {
        moveLocalTable(null);
    }

    /** @param family null for IPv4, "-6" for IPv6 */
    private void moveLocalTable(String family) throws CommandRunner.SetupException {
        String rules = runner.require(ip(family, "rule", "show"));
        if (!rules.contains(LOCAL_TABLE_PRIORITY + ":\tfrom all lookup local")) {
            runner.require(ip(family, "rule", "add", "pref", Integer.toString(LOCAL_TABLE_PRIORITY), "lookup", "local"));
        }
        if (hasRule(rules, "0:\tfrom all lookup local")) {
            runner.require(ip(family, "rule", "del", "pref", "0", "lookup", "local"));
        }
    }

    private void restoreLocalTable() throws CommandRunner.SetupException {
        restoreLocalTable(null);
    }

    private void restoreLocalTable(String family) throws CommandRunner.SetupException {
        String rules = runner.require(ip(family, "rule", "show"));
        if (!hasRule(rules, "0:\tfrom all lookup local")) {
            runner.require(ip(family, "rule", "add", "pref", "0", "lookup", "local"));
        }
        if (rules.contains(LOCAL_TABLE_PRIORITY + ":\tfrom all lookup local")) {
            runner.run(ip(family, "rule", "del", "pref", Integer.toString(LOCAL_TABLE_PRIORITY), "lookup", "local"));
        }
    }

    private static List<String> ip(String family, String... args) {
        List<String> command = new ArrayList<>(List.of("ip"));
        if (family != null) {
            command.add(family);
        }
        command.addAll(List.of(args));
        return command;
    }

    private static boolean hasRule(String rules, String line) {
        return rules.lines().anyMatch(l -> l.strip().equals(line.replace("\t", " ")) || l.equals(line));
    }

    private void deleteAll(List<String> rule) throws CommandRunner.SetupException {
        // A rule added twice exists twice; delete by exact spec until none is left (bounded).
        for (int i = 0; i < 16 && runner.run(command("del", rule)).ok(); i++) {
            // deleted one copy
        }
    }

    /** {@code ip rule VERB ...}, {@code ip -6 rule VERB ...} for a rule that starts with "-6". */
    private static List<String> command(String verb, List<String> rule) {
        boolean v6 = !rule.isEmpty() && rule.get(0).equals("-6");
        List<String> command = new ArrayList<>(v6 ? List.of("ip", "-6", "rule", verb) : List.of("ip", "rule", verb));
        command.addAll(v6 ? rule.subList(1, rule.size()) : rule);
        return command;
    }

    private void writeSysctl(String key, String value) throws CommandRunner.SetupException {
        Path file = procSys.resolve(key);
        try {
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new CommandRunner.SetupException("sysctl " + key.replace('/', '.') + "=" + value + ": " + e);
        }
    }
}
