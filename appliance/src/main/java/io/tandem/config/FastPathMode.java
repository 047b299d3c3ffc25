package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/**
 * {@code dataplane.fast_path}: whether flows are created and forwarded inside the kernel by the
 * BPF program, the engine deciding the policy it applies (see docs/architecture.md, "The fast
 * path"). The default is {@link #AUTO}.
 */
public enum FastPathMode {
    /** The default: used where the kernel, libbpf and the process's capabilities allow it; the log says which and why not. */
    AUTO,
    /** Required: a start that cannot load or attach it exits 3 with the reason. */
    ON,
    /** Every packet through TUN, as before the fast path. */
    OFF;

    /** From the config: {@code auto}, {@code on} or {@code off} — YAML 1.1 reads a bare on/off as a boolean, taken as such. */
    @JsonCreator
    public static FastPathMode of(Object value) {
        if (value instanceof Boolean b) {
            return b ? ON : OFF;
        }
        String s = String.valueOf(value).toLowerCase(Locale.ROOT);
        return switch (s) {
            case "auto" -> AUTO;
            case "on", "true" -> ON;
            case "off", "false" -> OFF;
            default -> throw new IllegalArgumentException("'" + value + "' is not auto, on or off");
        };
    }

    @JsonValue
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
