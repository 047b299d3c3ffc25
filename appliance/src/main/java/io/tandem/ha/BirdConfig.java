package io.tandem.ha;

import io.tandem.config.BgpConfig;
import io.tandem.config.HaMode;
import io.tandem.config.TandemConfig;

/**
 * BIRD 2's configuration for a box in BGP mode, rendered from the tandem config
 * ({@code tandemctl bird-config}). BIRD learns what to announce from tandemd's announce table
 * (kernel protocol with {@code learn}) and tells each upstream router, by eBGP (RFC 4271):
 * <ul>
 *   <li>the routes' kernel protocol number says what they are ({@link RouteAnnouncer}): a VIP or
 *       a SNAT address, of the active or of the standby; the standby's get
 *       {@code standby_prepend} more copies of the local AS in their path (RFC 4271 §9.1.2.2:
 *       the shorter path wins);</li>
 *   <li>a session with {@code announce: vips} carries only VIPs, {@code snat} only SNAT
 *       addresses, {@code all} both;</li>
 *   <li>routes arriving from the routers are not used ({@code import none}): the box routes
 *       by its own static configuration;</li>
 *   <li>with {@code bfd.enabled}, a BFD session (RFC 5880) under every BGP session, so a dead
 *       box's routes go within interval × multiplier instead of the hold time.</li>
 * </ul>
 * An IPv6 neighbour's session carries the IPv6 /128s (a second kernel protocol learns them
 * into {@code tandem6}); an IPv4 one the /32s.
 * When tandemd dies its TUN device goes and the kernel removes the routes through it, so BIRD
 * withdraws the announcements by itself.
 */
public final class BirdConfig {
    private BirdConfig() {
    }

    public static String render(TandemConfig config) {
        if (config.ha() == null || config.ha().mode() != HaMode.BGP) {
            throw new IllegalArgumentException("ha.mode is not bgp: BIRD is only for BGP mode (keepalived-config for VRRP)");
        }
        BgpConfig bgp = config.ha().bgp();
        StringBuilder out = new StringBuilder();
        out.append("# BIRD 2 configuration for tandem box ").append(config.node().name())
                .append(", rendered by 'tandemctl bird-config' from the tandem config: do not edit, re-render.\n")
                .append("log syslog all;\n")
                .append("router id ").append(bgp.effectiveRouterId()).append(";\n\n")
                .append("protocol device {\n  scan time 10;\n}\n\n")
                .append("# tandemd's announce table: one /32 per VIP and SNAT address while tandemd runs and may serve.\n")
                .append("ipv4 table tandem;\n")
                .append("protocol kernel tandem_announce {\n")
                .append("  kernel table ").append(bgp.announceTable()).append(";\n")
                .append("  learn;          # the routes are tandemd's, not BIRD's\n")
                .append("  scan time 2;    # netlink tells BIRD of changes at once; the scan is a backstop\n")
                .append("  ipv4 { table tandem; import all; export none; };\n}\n\n");
        boolean ipv6 = bgp.neighbors().stream().anyMatch(n -> n.address() != null && n.address().ipv6());
        if (ipv6) {
            // BIRD's kernel protocol has one channel: the IPv6 /128s come through a second one on the same table id.
            out.append("# the same for the IPv6 /128s (the kernel keeps them apart by family under the same table id).\n")
                    .append("ipv6 table tandem6;\n")
                    .append("protocol kernel tandem_announce6 {\n")
                    .append("  kernel table ").append(bgp.announceTable()).append(";\n")
                    .append("  learn;\n")
                    .append("  scan time 2;\n")
                    .append("  ipv6 { table tandem6; import all; export none; };\n}\n\n");
        }

        out.append(filter("tandem_vips", RouteAnnouncer.VIP_ACTIVE, RouteAnnouncer.VIP_STANDBY, bgp));
        out.append(filter("tandem_snat", RouteAnnouncer.SNAT_ACTIVE, RouteAnnouncer.SNAT_STANDBY, bgp));
        out.append(filter("tandem_all", -1, -1, bgp));
        if (bgp.bfd().enabled()) {
            long ms = bgp.bfd().interval().toMillis();
            out.append("protocol bfd {\n  interface \"*\" {\n")
                    .append("    min rx interval ").append(ms).append(" ms;\n")
                    .append("    min tx interval ").append(ms).append(" ms;\n")
                    .append("    multiplier ").append(bgp.bfd().multiplier()).append(";\n  };\n}\n\n");
        }
        int i = 0;
        for (BgpConfig.Neighbor n : bgp.neighbors()) {
            String filter = switch (n.announce()) {
                case VIPS -> "tandem_vips";
                case SNAT -> "tandem_snat";
                case ALL -> "tandem_all";
            };
            long holdSeconds = bgp.holdTime().toSeconds();
            out.append("protocol bgp upstream").append(++i).append(" {\n")
                    .append("  local ").append(n.localAddress()).append(" as ").append(bgp.localAs()).append(";\n")
                    .append("  neighbor ").append(n.address()).append(" as ").append(n.as()).append(";\n")
                    .append("  hold time ").append(holdSeconds).append(";\n")
                    .append("  keepalive time ").append(Math.max(1, holdSeconds / 3)).append(";\n")
                    .append("  connect retry time 2;\n")
                    .append(bgp.bfd().enabled() ? "  bfd on;\n" : "")
                    .append(n.password() == null ? "" : "  password \"" + n.password() + "\";\n")
                    .append(n.address().ipv6() ? "  ipv6 { table tandem6;" : "  ipv4 { table tandem;")
                    .append(" import none; export filter ").append(filter).append("; next hop self; };\n}\n\n");

        }
        return out.toString();
    }

    /** Accepts the routes of the two kinds given (-1: every tandem route), prepending the standby's. */
    private static String filter(String name, int active, int standby, BgpConfig bgp) {
        String accepted = active < 0
                ? "krt_source >= " + RouteAnnouncer.VIP_ACTIVE + " && krt_source <= " + RouteAnnouncer.SNAT_STANDBY
                : "krt_source = " + active + " || krt_source = " + standby;
        StringBuilder f = new StringBuilder("filter ").append(name).append(" {\n")
                .append("  if !(").append(accepted).append(") then reject;\n")
                .append("  if krt_source = ").append(RouteAnnouncer.VIP_STANDBY).append(" || krt_source = ")
                .append(RouteAnnouncer.SNAT_STANDBY).append(" then {\n");
        for (int k = 0; k < bgp.standbyPrepend(); k++) {
            f.append("    bgp_path.prepend(").append(bgp.localAs()).append(");\n");
        }
        return f.append("  }\n  accept;\n}\n\n").toString();
    }
}
