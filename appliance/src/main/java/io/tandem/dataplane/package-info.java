/**
 * The data plane: the {@link io.tandem.dataplane.PacketProcessor} that turns each packet
 * into a verdict (NAT and forward, reply, or drop with a reason) and its counters. Packet
 * I/O (TUN on Netty event loops) feeds it; the processor itself touches no device.
 */
package io.tandem.dataplane;
