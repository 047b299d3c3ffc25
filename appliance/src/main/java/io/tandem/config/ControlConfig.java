package io.tandem.config;

import java.util.List;

/**
 * Where tandemd listens for operators: {@code socket}, the Unix socket {@code tandemctl}
 * uses (mutations allowed; only root may connect), and {@code http}, the read-only status
 * page, JSON API and Prometheus metrics ({@code address:port} of either family, {@code [::1]:9180}
 * for IPv6 as RFC 5952 §6 writes it; loopback by default; "off" disables).
 */
public record ControlConfig(String socket, String http) {
    public static final String DEFAULT_SOCKET = "/run/tandem/tandemd.sock";

    public ControlConfig {
        socket = socket == null ? DEFAULT_SOCKET : socket;
        http = http == null ? "127.0.0.1:9180" : http;
    }

    /** tandemd's PID, beside the socket ({@code tandemd.sock} → {@code tandemd.pid}): keepalived's check reads it. */
    public String pidFile() {
        return (socket.endsWith(".sock") ? socket.substring(0, socket.length() - 5) : socket) + ".pid";
    }

    public boolean httpEnabled() {
        return !http.equals("off");
    }

    /** The HTTP listener's address, without brackets (valid only after {@link #validate}). */
    public String httpHost() {
        String host = http.substring(0, http.lastIndexOf(':'));
        return host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    }

    public int httpPort() {
        return Integer.parseInt(http.substring(http.lastIndexOf(':') + 1));
    }

    void validate(String path, List<String> errors) {
        if (!socket.startsWith("/")) {
            errors.add(path + ".socket: '" + socket + "' is not an absolute path");
        }
        if (httpEnabled() && !http.matches("[0-9.]{7,15}:[0-9]{1,5}|\\[[0-9a-fA-F:.]+]:[0-9]{1,5}")) {
            errors.add(path + ".http: '" + http + "' is not address:port (e.g. 127.0.0.1:9180 or [::1]:9180) or 'off'");
        } else if (httpEnabled() && (httpPort() < 1 || httpPort() > 65535)) {
            errors.add(path + ".http: port " + httpPort() + " is not within 1-65535");
        } else if (httpEnabled()) {
            try {
                IpAddress.of(httpHost());
            } catch (IllegalArgumentException e) {
                errors.add(path + ".http: " + e.getMessage());
            }
        }
    }
}
