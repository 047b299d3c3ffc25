package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import io.tandem.packet.Ipv4;

/** An IPv4 address in the config, written as a dotted quad. */
public record Ipv4Address(int value) {
    @JsonCreator
    public static Ipv4Address of(String text) {
        return new Ipv4Address(Ipv4.parse(text));
    }

    @JsonValue
    @Override
    public String toString() {
        return Ipv4.format(value);
    }
}
