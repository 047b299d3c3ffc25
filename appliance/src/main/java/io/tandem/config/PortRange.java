package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** A port range written {@code "1024-65535"}. */
public record PortRange(int first, int last) {
    public PortRange {
        if (first < 1 || last > 65535 || first > last) {
            throw new IllegalArgumentException(first + "-" + last + " is not a port range within 1-65535");
        }
    }

    @JsonCreator
    public static PortRange parse(String text) {
        String[] parts = text.trim().split("-", -1);
        try {
            if (parts.length == 2) {
                return new PortRange(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()));
            }
        } catch (NumberFormatException e) {
            // fall through to the message below
        }
        throw new IllegalArgumentException("'" + text + "' is not a port range (first-last, e.g. 1024-65535)");
    }

    @JsonValue
    @Override
    public String toString() {
        return first + "-" + last;
    }
}
