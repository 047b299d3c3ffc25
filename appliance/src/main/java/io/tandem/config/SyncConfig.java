package io.tandem.config;

import io.tandem.role.Role;
import io.tandem.statesync.SyncKeys;

import java.time.Duration;
import java.util.List;

/**
 * State sync with the peer box. Absent: tandemd runs alone. {@code role} ({@code active} or
 * {@code standby}) is the role of a box without an {@code ha} section; with one, the HA node
 * decides the role from the start (it starts SYNCING). The sync link may run over either family
 * (JGroups takes an IPv6 address as well); both ends of one link are the same family.
 */
public record SyncConfig(IpAddress bindAddress, Integer port, IpAddress peer, Integer peerPort,
                         String keyFile, String keyPassword, Role role, Duration failureTimeout,
                         Duration digestInterval, Duration refreshInterval, Duration remoteHold, Integer queue) {
    public SyncConfig {
        port = port == null ? 7800 : port;
        peerPort = peerPort == null ? port : peerPort;
        keyFile = keyFile == null ? "/etc/tandem/sync.p12" : keyFile;
        role = role == null ? Role.STANDBY : role;
        failureTimeout = failureTimeout == null ? Duration.ofSeconds(3) : failureTimeout;
        digestInterval = digestInterval == null ? Duration.ofSeconds(1) : digestInterval;
        refreshInterval = refreshInterval == null ? Duration.ofSeconds(30) : refreshInterval;
        remoteHold = remoteHold == null ? Duration.ofMinutes(10) : remoteHold;
        queue = queue == null ? 262_144 : queue;
    }

    void validate(String path, List<String> errors) {
        ConfigChecks.required(bindAddress, path + ".bind_address", errors);
        ConfigChecks.required(peer, path + ".peer", errors);
        if (bindAddress != null && peer != null && bindAddress.ipv6() != peer.ipv6()) {
            errors.add(path + ".peer: " + peer + " is " + peer.family() + " and bind_address " + bindAddress + " is "
                    + bindAddress.family() + "; the sync link is one family");
        }
        ConfigChecks.port(port, path + ".port", errors);
        ConfigChecks.port(peerPort, path + ".peer_port", errors);
        if (keyPassword == null || keyPassword.length() < SyncKeys.MIN_PASSWORD) {
            errors.add(path + ".key_password: required, at least " + SyncKeys.MIN_PASSWORD + " characters: the password"
                    + " 'tandemctl keygen' printed for " + keyFile + " (there is no default)");
        }
        ConfigChecks.positive(failureTimeout, path + ".failure_timeout", errors);
        ConfigChecks.positive(digestInterval, path + ".digest_interval", errors);
        ConfigChecks.positive(refreshInterval, path + ".refresh_interval", errors);
        ConfigChecks.positive(remoteHold, path + ".remote_hold", errors);
        if (remoteHold.compareTo(refreshInterval.multipliedBy(2)) < 0) {
            errors.add(path + ".remote_hold: " + remoteHold.toSeconds() + " s must be at least two refresh intervals ("
                    + refreshInterval.multipliedBy(2).toSeconds() + " s), or the standby drops live flows");
        }
        if (queue < 1024 || queue > 16_777_216) {
            errors.add(path + ".queue: " + queue + " is not within 1024-16777216");
        }
    }
}
