package io.tandem.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/** How the pair decides which box gets the traffic. */
public enum HaMode {
    /** keepalived VRRP moves the addresses between the boxes on one LAN (RFC 5798). */
    @JsonProperty("vrrp") VRRP,
    /** Both boxes announce the addresses to routers by BGP; the standby's path is longer. */
    @JsonProperty("bgp") BGP
}
