package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.tandem.packet.Ipv4;

/** A service's transport protocol. */
public enum Protocol {
    @JsonProperty("tcp") TCP(Ipv4.PROTO_TCP),
    @JsonProperty("udp") UDP(Ipv4.PROTO_UDP);

    private final int number;

    Protocol(int number) {
        this.number = number;
    }

    /** The IP protocol number. */
    public int number() {
        return number;
    }
}
