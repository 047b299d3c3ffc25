package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/** What Maglev hashes to pick a backend. */
public enum HashKey {
    /** Protocol, addresses and ports: each connection independently. */
    @JsonProperty("five-tuple") FIVE_TUPLE,
    /** The client address alone: all of a client's connections reach one backend. */
    @JsonProperty("client-address") CLIENT_ADDRESS
}
