package io.tandem.dataplane.netsetup;

import io.tandem.balancer.Service;
import io.tandem.config.DataplaneConfig;
import io.tandem.os.CommandRunner;
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
    private List<List<String>> installedRules = List.of();
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
        for (Service s : services) {
            vips.add(s.vip());
            snats.add(s.snatAddress());
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
        return rules;
    }

    /** The rules installed now, as {@code ip rule} argument lists. */
    List<List<String>> installedRules() {
        return installedRules;
    }

    /** Every command {@link #apply} would run, for {@code tandemctl} to print. */
    public List<String> describe(List<Service> services) {
        List<String> lines = new ArrayList<>();
        for (List<String> rule : rulesFor(services)) {
            lines.add("ip rule add " + String.join(" ", rule));
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
        runner.require(List.of("ip", "link", "set", "dev", tun, "up"));
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
        try {
            runner.run(List.of("ip", "route", "flush", "table", Integer.toString(config.routeTable())));
            restoreLocalTable();
        } catch (CommandRunner.SetupException e) {
            LOG.warn("teardown: {}", e.getMessage());
        }
    }

    /** Moves the local table's rule from priority 0 to 32000, behind our rules, keeping it before main (32766). */
    private void moveLocalTable() throws CommandRunner.SetupException {
        String rules = runner.require(List.of("ip", "rule", "show"));
        if (!rules.contains(LOCAL_TABLE_PRIORITY + ":\tfrom all lookup local")) {
            runner.require(List.of("ip", "rule", "add", "pref", Integer.toString(LOCAL_TABLE_PRIORITY), "lookup", "local"));
        }
        if (hasRule(rules, "0:\tfrom all lookup local")) {
            runner.require(List.of("ip", "rule", "del", "pref", "0", "lookup", "local"));
        }
    }

    private void restoreLocalTable() throws CommandRunner.SetupException {
        String rules = runner.require(List.of("ip", "rule", "show"));
        if (!hasRule(rules, "0:\tfrom all lookup local")) {
            runner.require(List.of("ip", "rule", "add", "pref", "0", "lookup", "local"));
        }
        if (rules.contains(LOCAL_TABLE_PRIORITY + ":\tfrom all lookup local")) {
            runner.run(List.of("ip", "rule", "del", "pref", Integer.toString(LOCAL_TABLE_PRIORITY), "lookup", "local"));
        }
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

    private static List<String> command(String verb, List<String> rule) {
        List<String> command = new ArrayList<>(List.of("ip", "rule", verb));
        command.addAll(rule);
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
