package io.tandem.config;

import java.time.Duration;
import java.util.List;

/**
 * The pair's VRRP settings, from which tandemd renders keepalived's configuration. Both boxes
 * share {@code virtual_router_id}; each names itself and its peer on the front LAN, both of one
 * family: the VRRP instance is that family (RFC 5798 runs over IPv4 or IPv6), and the VIPs of
 * the other family move with it in keepalived's excluded block.
 * {@code failover_max_lag}: a manual failover or takeover is refused while replication lags more.
 * {@code check_script}: keepalived's liveness check of tandemd (vrrp-scripts/tandemd-alive).
 * With {@code mode: bgp} there is no VRRP: the boxes announce the addresses by BGP
 * ({@link BgpConfig}) and {@code priority} orders them the same way.
 */
public record HaConfig(Integer virtualRouterId, Integer priority, IpAddress selfAddress, IpAddress peerAddress,
                       Duration advertInterval, String interfaceName, String trackFile, String notifyFifo,
                       Duration failoverMaxLag, String checkScript, HaMode mode, BgpConfig bgp) {
    public HaConfig {
        mode = mode == null ? HaMode.VRRP : mode;
        priority = priority == null ? 100 : priority;
        advertInterval = advertInterval == null ? Duration.ofMillis(100) : advertInterval;
        trackFile = trackFile == null ? "/run/tandem/vrrp-priority" : trackFile;
        notifyFifo = notifyFifo == null ? "/run/tandem/keepalived.fifo" : notifyFifo;
        failoverMaxLag = failoverMaxLag == null ? Duration.ofSeconds(1) : failoverMaxLag;
        checkScript = checkScript == null ? "/usr/libexec/tandem/tandemd-alive" : checkScript;
    }

    void validate(String path, List<String> errors, int routeTable) {
        if (priority < 3 || priority > 254) {
            errors.add(path + ".priority: " + priority + " is not within 3-254 (1 and 2 are kept for a held-back and a yielding box)");
        }
        if (failoverMaxLag.isNegative() || failoverMaxLag.isZero()) {
            errors.add(path + ".failover_max_lag: must be positive (the replication lag above which a manual failover is refused)");
        }
        if (mode == HaMode.BGP) {
            if (bgp == null) {
                errors.add(path + ".bgp: required with mode bgp (local_as and the neighbors)");
            } else {
                bgp.validate(path + ".bgp", errors, routeTable);
            }
            return;
        }
        if (bgp != null) {
            errors.add(path + ".bgp: only with mode bgp");
        }
        if (virtualRouterId == null) {
            errors.add(path + ".virtual_router_id: required (1-255, the same on both boxes)");
        } else if (virtualRouterId < 1 || virtualRouterId > 255) {
            errors.add(path + ".virtual_router_id: " + virtualRouterId + " is not within 1-255");
        }
        ConfigChecks.required(selfAddress, path + ".self_address", errors);
        ConfigChecks.required(peerAddress, path + ".peer_address", errors);
        unicastOnTheLan(selfAddress, path + ".self_address", errors);
        unicastOnTheLan(peerAddress, path + ".peer_address", errors);
        if (selfAddress != null && peerAddress != null && selfAddress.ipv6() != peerAddress.ipv6()) {
            errors.add(path + ".peer_address: " + peerAddress + " is " + peerAddress.family() + " and self_address " + selfAddress
                    + " is " + selfAddress.family() + "; the VRRP instance is one family");
        }
        long centiseconds = advertInterval.toMillis() / 10;
        if (advertInterval.toMillis() % 10 != 0 || centiseconds < 1 || centiseconds > 4095) {
            errors.add(path + ".advert_interval: " + advertInterval.toMillis()
                    + " ms is not a VRRPv3 interval (10 ms steps, 10 ms to 40.95 s; RFC 5798 §5.2.7)");
        }
        for (String[] file : new String[][] {{"track_file", trackFile}, {"notify_fifo", notifyFifo}, {"check_script", checkScript}}) {
            if (!file[1].startsWith("/")) {
                errors.add(path + "." + file[0] + ": '" + file[1] + "' is not an absolute path");
            }
        }
    }

    private static void unicastOnTheLan(IpAddress address, String field, List<String> errors) {
        String why = address == null ? null : address.notUnicast();
        if (why != null) {
            errors.add(field + ": " + address + " is " + why + "; VRRP adverts go between the boxes' unicast addresses"
                    + " on the front LAN (for IPv6 a global one: keepalived takes no zone here)");
        }
    }
}
