package io.tandem.config;

import java.time.Duration;
import java.util.List;

/** Field checks shared by the config records; each adds "path: what is wrong". */
final class ConfigChecks {
    private ConfigChecks() {
    }

    static void required(Object value, String path, List<String> errors) {
        if (value == null) {
            errors.add(path + ": required");
        }
    }

    /** A service's own address (VIP, SNAT address, backend) must be one unicast host. */
    static void unicast(IpAddress address, String path, List<String> errors) {
        String why = address == null ? null : address.notUnicast();
        if (why != null) {
            errors.add(path + ": " + address + " is " + why + "; a service address must be a routable unicast address");
        }
    }

    static void port(Integer port, String path, List<String> errors) {
        if (port == null) {
            errors.add(path + ": required");
        } else if (port < 1 || port > 65535) {
            errors.add(path + ": " + port + " is not a port (1-65535)");
        }
    }

    static void positive(Duration d, String path, List<String> errors) {
        if (d != null && (d.isZero() || d.isNegative())) {
            errors.add(path + ": must be longer than 0");
        }
    }
}
