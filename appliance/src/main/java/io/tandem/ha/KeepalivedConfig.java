package io.tandem.ha;

import io.tandem.config.FastPathMode;
import io.tandem.config.HaConfig;
import io.tandem.config.HaMode;
import io.tandem.config.IpAddress;
import io.tandem.config.ServiceConfig;
import io.tandem.config.TandemConfig;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders keepalived's configuration for this box from the tandem config and the template in
 * {@code vrrp-scripts/keepalived.conf.template}: every VIP on the front interface, every SNAT
 * address on the back, in one VRRP instance so they move together.
 */
public final class KeepalivedConfig {
    /** The track file's value while tandemd is ready to be master; below it, the box steps back. */
    public static final int READY_WEIGHT = 0;
    /** The one VRRP instance the template declares ({@code vrrp_instance tandem}): its notify lines are the ones that count. */
    public static final String INSTANCE = "tandem";
    /** Written while resyncing or unhealthy: the effective priority drops to 1, the lowest. */
    public static final int HOLD_BACK_WEIGHT = -253;
    /** Below -253 keepalived puts the instance into FAULT: it gives up the addresses whatever the peer's state. */
    public static final int FAULT_WEIGHT = -254;
    /** Effective priority of a box that yields to its peer by operator's choice: above a held-back box, below any ready one. */
    public static final int YIELDED_PRIORITY = 2;
    /** The lowest configurable priority: above a yielded box. */
    public static final int MIN_PRIORITY = 3;
    /** keepalived's highest effective priority (255 is kept for an address owner). */
    public static final int MAX_PRIORITY = 254;
    private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([a-z_]+)}");

    private KeepalivedConfig() {
    }

    /** The track-file value that brings a box of this configured priority down to {@link #YIELDED_PRIORITY}. */
    public static int yieldWeight(int priority) {
        return YIELDED_PRIORITY - priority;
    }

    /** The track-file value that raises a box of this configured priority to {@link #MAX_PRIORITY}. */
    public static int takeWeight(int priority) {
        return MAX_PRIORITY - priority;
    }

    /** keepalived.conf for this box; the config must have an {@code ha} section. */
    public static String render(TandemConfig config) throws IOException {
        HaConfig ha = config.ha();
        if (ha == null) {
            throw new IllegalArgumentException("the config has no 'ha' section: add one to run the box in a VRRP pair");
        }
        if (ha.mode() == HaMode.BGP) {
            throw new IllegalArgumentException("ha.mode is bgp: keepalived is not used (tandemctl bird-config renders BIRD's config)");
        }
        String front = ha.interfaceName() != null ? ha.interfaceName() : config.dataplane().frontInterface();
        Set<String> vips = new LinkedHashSet<>();
        Set<String> snats = new LinkedHashSet<>();
        boolean instanceIpv6 = ha.selfAddress().ipv6();
        for (ServiceConfig s : config.services()) {
            String vip = "        " + address(s.vip(), front);
            // The VRRP instance is the family of the boxes' own addresses, and keepalived keeps
            // that one family in virtual_ipaddress ("address family must match VRRP instance"):
            // VIPs of the other family move with the excluded addresses (added and removed with
            // the state, gratuitous ARP or unsolicited neighbour advertisements sent for them),
            // as the SNAT addresses do.
            (s.vip().ipv6() == instanceIpv6 ? vips : snats).add(vip);
            snats.add("        " + address(s.snatAddress(), config.dataplane().backInterface()));
        }
        Map<String, String> values = Map.ofEntries(
                Map.entry("node_name", config.node().name()),
                Map.entry("notify_fifo", ha.notifyFifo()),
                Map.entry("track_file", ha.trackFile()),
                Map.entry("check_script", ha.checkScript()),
                Map.entry("pid_file", config.control().pidFile()),
                Map.entry("control_socket", config.control().socket()),
                // The check's grace for a short restart holds only where the fast path carries the flows.
                Map.entry("fast_path_pin", config.dataplane().fastPath() == FastPathMode.OFF ? "-"
                        : config.dataplane().fastPathMapPin()),
                // A box starts held back: tandemd lifts the hold once its table is in sync.
                Map.entry("track_file_initial", Integer.toString(HOLD_BACK_WEIGHT)),
                Map.entry("interface", front),
                Map.entry("back_interface", config.dataplane().backInterface()),
                Map.entry("virtual_router_id", Integer.toString(ha.virtualRouterId())),
                Map.entry("priority", Integer.toString(ha.priority())),
                Map.entry("advert_interval", advert(ha)),
                Map.entry("self_address", ha.selfAddress().toString()),
                Map.entry("peer_address", ha.peerAddress().toString()),
                Map.entry("vips", String.join("\n", vips)),
                Map.entry("snat_addresses", String.join("\n", snats)));
        Matcher m = PLACEHOLDER.matcher(template());
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = values.get(m.group(1));
            if (value == null) {
                throw new IllegalStateException("keepalived.conf.template: no value for ${" + m.group(1) + "}");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** keepalived takes seconds with up to two decimals for VRRPv3 (centiseconds on the wire). */
    private static String advert(HaConfig ha) {
        long centis = ha.advertInterval().toMillis() / 10;
        return String.format(Locale.ROOT, "%d.%02d", centis / 100, centis % 100);
    }

    private static String template() throws IOException {
        try (InputStream in = KeepalivedConfig.class.getResourceAsStream("keepalived.conf.template")) {
            if (in == null) {
                throw new IOException("keepalived.conf.template is missing from the build");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * One address line. An IPv6 one is deprecated at once ({@code preferred_lft 0}, RFC 4862
     * §5.5.4): the kernel then never picks it as the source of the box's own packets (RFC 6724
     * rule 3) — a health check sent from the SNAT address would have its answer steered into
     * the engine as if it were a reply to a flow. (IPv4 has no such choice: a /32 added beside
     * the subnet's address is secondary.)
     */
    private static String address(IpAddress address, String device) {
        return RouteAnnouncer.host(address) + " dev " + device + (address.ipv6() ? " preferred_lft 0" : "");
    }
}
