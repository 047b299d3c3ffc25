package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.time.Duration;
import java.util.List;

/**
 * How tandemd checks a service's backends (keepalived's TCP_CHECK and HTTP_GET are the
 * model): every {@code interval}, a check that must succeed within {@code timeout}; a backend
 * goes down after {@code fall} failures in a row and up again after {@code rise} successes.
 * {@code port} defaults to the backend's; {@code path} and {@code expect_status} are for
 * http and https (whose certificate is not verified: backends' are rarely public).
 */
public record HealthCheckConfig(Type type, Integer port, String path, Integer expectStatus, Duration interval,
                                Duration timeout, Integer rise, Integer fall) {
    public enum Type {
        @JsonProperty("tcp") TCP,
        @JsonProperty("http") HTTP,
        @JsonProperty("https") HTTPS
    }

    public HealthCheckConfig {
        type = type == null ? Type.TCP : type;
        path = path == null ? "/" : path;
        expectStatus = expectStatus == null ? 200 : expectStatus;
        interval = interval == null ? Duration.ofSeconds(2) : interval;
        timeout = timeout == null ? Duration.ofSeconds(1) : timeout;
        rise = rise == null ? 2 : rise;
        fall = fall == null ? 3 : fall;
    }

    void validate(String path, List<String> errors) {
        if (port != null) {
            ConfigChecks.port(port, path + ".port", errors);
        }
        if (!this.path.startsWith("/") || this.path.chars().anyMatch(c -> c <= ' ' || c == 127)) {
            errors.add(path + ".path: '" + this.path + "' is not an absolute request path without spaces");
        }
        if (expectStatus < 100 || expectStatus > 599) {
            errors.add(path + ".expect_status: " + expectStatus + " is not an HTTP status (100-599)");
        }
        ConfigChecks.positive(interval, path + ".interval", errors);
        ConfigChecks.positive(timeout, path + ".timeout", errors);
        if (timeout.compareTo(interval) > 0) {
            errors.add(path + ".timeout: " + timeout.toMillis() + " ms is longer than the interval (" + interval.toMillis() + " ms)");
        }
        for (Object[] count : new Object[][] {{"rise", rise}, {"fall", fall}}) {
            int n = (Integer) count[1];
            if (n < 1 || n > 100) {
                errors.add(path + "." + count[0] + ": " + n + " is not within 1-100");
            }
        }
    }
}
