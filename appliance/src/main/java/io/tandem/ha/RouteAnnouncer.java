package io.tandem.ha;

import io.tandem.config.IpAddress;
import io.tandem.config.ServiceConfig;
import io.tandem.os.CommandRunner;
import io.tandem.role.Role;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * BGP mode: what this box announces, said to BIRD through the kernel. For each VIP and SNAT
 * address tandemd keeps one route in the announce table, through its TUN device:
 * <pre>
 * ip route replace VIP/32  dev TUN table A proto 200 (active) | 201 (standby)
 * ip route replace SNAT/32 dev TUN table A proto 202 (active) | 203 (standby)
 * </pre>
 * (an IPv6 address as {@code ip -6 route replace ADDRESS/128 ...}, in the same table number).
 * BIRD imports the table and exports by protocol number ({@link BirdConfig}): the active's
 * routes as they are, the standby's with a longer AS path; none while the box resyncs or is
 * at fault. A replace changes the protocol in place, so a role change never withdraws in
 * between. No rule looks the table up: it steers nothing, it only says what to announce. When
 * tandemd dies, however hard, its TUN device goes and the kernel removes these routes with it:
 * the announcements end without anyone's help.
 */
public final class RouteAnnouncer {
    public static final int VIP_ACTIVE = 200;
    public static final int VIP_STANDBY = 201;
    public static final int SNAT_ACTIVE = 202;
    public static final int SNAT_STANDBY = 203;
    private static final Logger LOG = LoggerFactory.getLogger(RouteAnnouncer.class);

    /** The addresses to announce now: VIPs and SNAT addresses of the running services. */
    public record Addresses(List<IpAddress> vips, List<IpAddress> snats) {
        /** The VIPs and SNAT addresses of these services, each once, in the config's order. */
        public static Addresses of(List<ServiceConfig> services) {
            Set<IpAddress> vips = new LinkedHashSet<>();
            Set<IpAddress> snats = new LinkedHashSet<>();
            for (ServiceConfig s : services) {
                vips.add(s.vip());
                snats.add(s.snatAddress());
            }
            return new Addresses(List.copyOf(vips), List.copyOf(snats));
        }
    }

    private final String tunName;
    private final int table;
    private final Supplier<Addresses> addresses;
    private final CommandRunner runner;
    private Role announced;
    private Addresses routed = new Addresses(List.of(), List.of());

    public RouteAnnouncer(String tunName, int table, Supplier<Addresses> addresses, CommandRunner runner) {
        this.tunName = tunName;
        this.table = table;
        this.addresses = addresses;
        this.runner = runner;
    }

    /** Makes the announce table say what {@code role} announces; does nothing if it already does. */
    public synchronized void apply(Role role) throws CommandRunner.SetupException {
        Addresses now = addresses.get();
        boolean announce = role == Role.ACTIVE || role == Role.STANDBY;
        if (role == announced && now.equals(routed)) {
            return;
        }
        List<IpAddress> keep = new ArrayList<>();
        if (announce) {
            for (IpAddress vip : now.vips()) {
                replace(vip, role == Role.ACTIVE ? VIP_ACTIVE : VIP_STANDBY);
                keep.add(vip);
            }
            for (IpAddress snat : now.snats()) {
                replace(snat, role == Role.ACTIVE ? SNAT_ACTIVE : SNAT_STANDBY);
                keep.add(snat);
            }
        }
        for (IpAddress gone : union(routed)) {
            if (!keep.contains(gone)) {
                runner.run(ip(gone, "route", "del", host(gone), "table", Integer.toString(table)));
            }
        }
        if (role != announced) {
            LOG.info("bgp: {}", announce ? "announcing as " + role + (role == Role.ACTIVE ? "" : " (longer path)")
                    : "announcing nothing while " + role);
        }
        announced = role;
        routed = announce ? now : new Addresses(List.of(), List.of());
    }

    /** What the table says now: the role announced, or null before the first {@link #apply}. */
    public synchronized Role announced() {
        return announced;
    }

    private void replace(IpAddress address, int proto) throws CommandRunner.SetupException {
        runner.require(ip(address, "route", "replace", host(address), "dev", tunName,
                "table", Integer.toString(table), "proto", Integer.toString(proto)));
    }

    /** {@code ip ARGS}, {@code ip -6 ARGS} for an IPv6 address. */
    private static List<String> ip(IpAddress address, String... args) {
        List<String> command = new ArrayList<>(List.of("ip"));
        if (address.ipv6()) {
            command.add("-6");
        }
        command.addAll(List.of(args));
        return command;
    }

    /** The address as a host route's destination: /32 or /128. */
    public static String host(IpAddress address) {
        return address + (address.ipv6() ? "/128" : "/32");
    }

    private static List<IpAddress> union(Addresses a) {
        List<IpAddress> all = new ArrayList<>(a.vips());
        all.addAll(a.snats());
        return all;
    }
}
