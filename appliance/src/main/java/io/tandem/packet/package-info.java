/**
 * IPv4, TCP, UDP and ICMP headers read and rewritten in place over a Netty {@code ByteBuf},
 * with incremental checksum updates (RFC 1624). Nothing here allocates per packet: a
 * {@link io.tandem.packet.PacketHeaders} is a reusable view owned by one event loop.
 */
package io.tandem.packet;
