/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow hash that picks a new flow's Maglev slot: the same function as the engine's
 * (io.tandem.packet.TupleHash, Service.flowHash, MaglevTable.select), bit for bit, so a flow
 * gets the same backend whichever path creates it and on either box. MaglevHashIT checks the
 * two against each other over generated tuples and weights. The mixer is MurmurHash3's 64-bit
 * finalizer (fmix64). Addresses and ports in host order; an IPv6 address as its two
 * network-order halves read as big-endian 64-bit numbers.
 */
#ifndef TANDEM_HASH_H
#define TANDEM_HASH_H

#include <linux/types.h>

#define FLOW_PROTOCOL_IPV6 0x80 /* io.tandem.packet.FlowProtocol.IPV6: the transport | this for an IPv6 flow */

static __always_inline __u64 fmix64(__u64 k)
{
	k ^= k >> 33;
	k *= 0xFF51AFD7ED558CCDULL;
	k ^= k >> 33;
	k *= 0xC4CEB9FE1A85EC53ULL;
	k ^= k >> 33;
	return k;
}

static __always_inline __u64 ports_hash(__u32 protocol, __u32 sport, __u32 dport)
{
	return fmix64(((__u64)sport << 24 | (__u64)dport << 8 | protocol) + 0x632BE59BD9B4E019ULL);
}

/* TupleHash.of */
static __always_inline __u64 tuple_hash4(__u32 protocol, __u32 src, __u32 dst, __u32 sport, __u32 dport)
{
	return fmix64(((__u64)src << 32 | dst) * 0x9E3779B97F4A7C15ULL ^ ports_hash(protocol, sport, dport));
}

/* TupleHash.ofAddress */
static __always_inline __u64 address_hash4(__u32 src)
{
	return fmix64((__u64)src * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL);
}

/* TupleHash.of6 (protocol with FLOW_PROTOCOL_IPV6) */
static __always_inline __u64 tuple_hash6(__u32 protocol, __u64 src_high, __u64 src_low, __u64 dst_high, __u64 dst_low,
					 __u32 sport, __u32 dport)
{
	__u64 src = fmix64(src_high * 0x9E3779B97F4A7C15ULL ^ src_low);
	__u64 dst = fmix64(dst_high * 0xC2B2AE3D27D4EB4FULL ^ dst_low);

	return fmix64(src * 0x9E3779B97F4A7C15ULL ^ dst ^ ports_hash(protocol, sport, dport));
}

/* TupleHash.ofAddress6 */
static __always_inline __u64 address_hash6(__u64 high, __u64 low)
{
	return fmix64(fmix64(high * 0x9E3779B97F4A7C15ULL ^ low) + 0x2545F4914F6CDD1DULL);
}

/* MaglevTable.select: Lemire's multiply-shift of the hash's high 32 bits onto [0, size). */
static __always_inline __u32 maglev_slot(__u64 hash, __u32 size)
{
	return (__u32)(((hash >> 32) * size) >> 32);
}

#endif
