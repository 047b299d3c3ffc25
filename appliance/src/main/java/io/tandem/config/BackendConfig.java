package io.tandem.config;

import java.util.List;

/** One backend of a service; weight 0 keeps it configured but sends it no new flows. */
public record BackendConfig(IpAddress address, Integer port, Integer weight) {
    public static final int MAX_WEIGHT = 1000;

    public BackendConfig {
        weight = weight == null ? 1 : weight;
    }

    void validate(String path, List<String> errors) {
        ConfigChecks.required(address, path + ".address", errors);
        ConfigChecks.unicast(address, path + ".address", errors);
        ConfigChecks.port(port, path + ".port", errors);
        if (weight < 0 || weight > MAX_WEIGHT) {
            errors.add(path + ".weight: " + weight + " is not a weight (0-" + MAX_WEIGHT + ")");
        }
    }

    /** The backend's stable identity, which Maglev hashes: {@code address:port}, {@code [address]:port} for IPv6. */
    public String key() {
        return address == null ? "null:" + port : address.withPort(port == null ? 0 : port);
    }
}
