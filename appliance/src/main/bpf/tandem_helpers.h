/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The program's helpers: counting, reporting, a TCP segment's checks and bookkeeping, the
 * checksum and addressing tests. Included by tandem_fastpath.c after tandem_maps.h.
 */
#ifndef TANDEM_HELPERS_H
#define TANDEM_HELPERS_H

#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "tandem_maps.h"

static __always_inline int pass(__u32 why)
{
	__u64 *count = bpf_map_lookup_elem(&tandem_counters, &why);

	if (count)
		*count += 1;
	return TC_ACT_OK;
}

/*
 * How far past where its side stands a segment may start and still go fast (and move where the
 * side stands): 64 KiB, the least window the engine allows (TcpWindows' MIN_SPAN), so nothing the
 * kernel takes in is outside the window the engine would judge by. A segment further ahead (the
 * sender's segments lost upstream of this box) goes to the engine, which judges it by the real
 * window and, if it counts, moves the entry on.
 */
#define SEQ_SPAN 65535

/*
 * Whether a TCP segment of an installed direction may go fast, and whether the engine must hear
 * of it: a backend's direction awaiting its SYN-ACK lets only that through (a bare ACK of an old
 * connection, or a RST, is for the engine); otherwise SYN and RST never go here; a segment
 * starting more than SEQ_SPAN past where its side stands is for the engine (an off-path sender's
 * guess must not move what the engine trusts); a FIN only at the exact next sequence number of
 * its side; the handshake's ACK, when the engine asked for it, only if it acknowledges the
 * backend's ISN + 1 (ack_ok: checked by the caller against the other direction) — a blind
 * spoofer's ACK goes to the engine, which refuses it. Returns 1 to report, 0 not to, -1 to pass
 * the segment on.
 */
static __always_inline int tcp_verdict(__u8 tcp_flags, __u32 seq, __u8 nat_flags, __u32 seq_end, int ack_ok)
{
	if (nat_flags & NAT_AWAIT_SYNACK)
		return (tcp_flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) == (TCP_SYN | TCP_ACK) ? 1 : -1;
	if (tcp_flags & (TCP_SYN | TCP_RST))
		return -1;
	if ((nat_flags & NAT_SEQ_KNOWN) && (__s32)(seq - seq_end) > SEQ_SPAN)
		return -1;
	if ((nat_flags & NAT_REPORT_ACK) && (tcp_flags & TCP_ACK) && !ack_ok)
		return -1;
	if (tcp_flags & TCP_FIN)
		return (nat_flags & NAT_SEQ_KNOWN) && seq == seq_end ? 1 : -1;
	return (nat_flags & NAT_REPORT_ACK) && (tcp_flags & TCP_ACK) ? 1 : 0;
}

/*
 * Reports a segment; 0 if the ring had no room (the caller then passes the segment on). A
 * function of its own (not inlined): its signature puts struct fp_event in the object's BTF, which
 * tandemd checks against its own reading of the ring at load (BpfLayout).
 */
/*
 * Whether a report wakes the engine's reader: only once WAKEUP_BYTES wait in the ring. The reader
 * polls every millisecond anyway (SegmentReports), so a wake-up per report — an interrupt and
 * two context switches for each of a connection's five reports — buys nothing but CPU.
 */
#define WAKEUP_BYTES (64 * 1024)

static __always_inline __u64 wakeup(void)
{
	return bpf_ringbuf_query(&tandem_events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __noinline int report(struct fp_event *event)
{
	if (bpf_ringbuf_output(&tandem_events, event, sizeof(*event), wakeup()) != 0) {
		pass(FP_RING_FULL);
		return 0;
	}
	pass(FP_REPORTED);
	return 1;
}

/*
 * A TCP direction's bookkeeping once its segment goes fast: where its sequence stands (only ever
 * forward: a retransmission leaves it), its FIN, the report done. A direction whose start was not
 * known learns it from this segment, as the engine does (nf_conntrack_tcp_loose).
 */
static __always_inline void tcp_seen(__u8 *nat_flags, __u32 *seq_field, __u32 seq_end, __u8 tcp_flags)
{
	if (!(*nat_flags & NAT_SEQ_KNOWN) || (__s32)(seq_end - *seq_field) > 0)
		*seq_field = seq_end;
	*nat_flags = (*nat_flags & ~(NAT_REPORT_ACK | NAT_AWAIT_SYNACK)) | NAT_SEQ_KNOWN | (tcp_flags & TCP_FIN ? NAT_FIN_SEEN : 0);
}

/*
 * A SYN-ACK's window scale (RFC 7323 §2.2: kind 3, length 3, at most 14), walking the options
 * at offset opts of the packet — at most 12 of them, within their length (Linux sends 5: MSS,
 * SACK permitted, timestamps, NOP, window scale) — NO_WINDOW_SCALE if none is found or the list
 * is malformed. Each option is read with bpf_skb_load_bytes at its offset: a packet pointer moved
 * by a variable offset would need CAP_PERFMON, which tandemd does not ask for.
 */
static __always_inline __u8 window_scale(struct __sk_buff *skb, __u32 opts, __u32 length)
{
	__u32 at = 0;

	for (int i = 0; i < 12; i++) {
		__u8 option[3];

		if (at >= length || at >= 40)
			break;
		if (bpf_skb_load_bytes(skb, opts + at, option, 1))
			break;
		if (option[0] == 0)
			break;
		if (option[0] == 1) {
			at++;
			continue;
		}
		if (at + 3 > length || bpf_skb_load_bytes(skb, opts + at, option, 3))
			break;
		if (option[1] < 2)
			break;
		if (option[0] == 3 && option[1] == 3)
			return option[2] > 14 ? 14 : option[2];
		at += option[1];
	}
	return NO_WINDOW_SCALE;
}

/* What the program read of a TCP segment. */
struct tcp_segment {
	__u32 seq;
	__u32 ack;
	int ack_ok;         /* the handshake's ACK: it acknowledges the backend's ISN + 1 (handshake_ack_ok) */
	__u32 seq_end;      /* after it: its payload, and one for a SYN or FIN */
	__u16 window;
	__u16 options_at;   /* the options' offset in the packet */
	__u8 options_length;
	__u8 flags;
};

/*
 * The TCP part of sending a segment of an installed direction fast: whether it may go
 * (tcp_verdict), its report if the engine must hear of it (with the key as it arrived, of
 * either family, and a SYN-ACK's window scale: its options are walked only then), and the
 * direction's bookkeeping. 0: it goes; -1: pass the packet on (counted).
 */
static __always_inline int tcp_fast(struct __sk_buff *skb, __u8 *nat_flags, __u32 *nat_seq_end, const struct tcp_segment *seg,
				    __u8 family, const void *key, __u32 key_size)
{
	int verdict = tcp_verdict(seg->flags, seg->seq, *nat_flags, *nat_seq_end, seg->ack_ok);

	if (verdict < 0) {
		pass(FP_TCP_FLAGS);
		return -1;
	}
	if (verdict > 0) {
		struct fp_event event = {.family = family, .tcp_flags = seg->flags, .window = seg->window, .seq = seg->seq,
					 .window_scale = NO_WINDOW_SCALE};

		if (seg->flags & TCP_SYN)
			event.window_scale = window_scale(skb, seg->options_at, seg->options_length);

		__builtin_memcpy(&event.key6, key, key_size);
		if (!report(&event))
			return -1;
	}
	tcp_seen(nat_flags, nat_seq_end, seg->seq_end, seg->flags);
	return 0;
}

/*
 * The handshake's last ACK (the engine asked for it: NAT_REPORT_ACK) must acknowledge the
 * backend's ISN + 1, where the backend's direction stands since its SYN-ACK went through here —
 * as Linux conntrack's tcp_in_window checks the ack. The other direction is found by the tuple
 * this one is rewritten to, turned around. Anything else (that direction not there, or its
 * SYN-ACK not seen here) is the engine's to judge.
 */
static __always_inline int handshake_ack_ok4(const struct flow4_nat *nat, __u8 proto, __u32 ack)
{
	struct flow4_key back = {.saddr = nat->daddr, .daddr = nat->saddr, .sport = nat->dport, .dport = nat->sport, .proto = proto};
	struct flow4_nat *other = bpf_map_lookup_elem(&tandem_flows4, &back);

	return other && (other->flags & NAT_SEQ_KNOWN) && !(other->flags & NAT_AWAIT_SYNACK) && other->seq_end == ack;
}

static __always_inline int handshake_ack_ok6(const struct flow6_nat *nat, __u8 proto, __u32 ack)
{
	struct flow6_key back = {.sport = nat->dport, .dport = nat->sport, .proto = proto};
	struct flow6_nat *other;

	__builtin_memcpy(back.saddr, nat->daddr, 16);
	__builtin_memcpy(back.daddr, nat->saddr, 16);
	other = bpf_map_lookup_elem(&tandem_flows6, &back);
	return other && (other->flags & NAT_SEQ_KNOWN) && !(other->flags & NAT_AWAIT_SYNACK) && other->seq_end == ack;
}

/* Whether an option-less IPv4 header's checksum is right: its ten 16-bit words sum to 0xFFFF (RFC 1071). */
static __always_inline int ipv4_checksum_ok(const struct iphdr *ip)
{
	const __u16 *word = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += word[i];
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return sum == 0xFFFF;
}

/*
 * A frame this program may forward at all: addressed to this host (not broadcast, multicast or
 * another host's: the kernel would not route those) and not come in by the interface the entry
 * sends it out of — the program runs on the front and back interfaces only, so a packet of a
 * direction arrives by the other one.
 */
static __always_inline int for_us(const struct __sk_buff *skb, __u32 egress)
{
	return skb->pkt_type == PACKET_HOST && skb->ingress_ifindex != egress;
}

/* A packet rewritten: its direction's last sight and counts noted, then out. */
static __always_inline int forwarded(struct __sk_buff *skb, __u64 *last_seen_ns, __u64 *packets, __u64 *bytes, __u32 ifindex)
{
	*last_seen_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(packets, 1);
	__sync_fetch_and_add(bytes, skb->len);
	pass(FP_FORWARDED);
	return bpf_redirect_neigh(ifindex, NULL, 0, 0);
}

#endif
