// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tandem's fast path: a tc (tcx or clsact) ingress program on the front and back interfaces.
 * tandemd stays the authority for every flow — it creates it, picks the backend and the SNAT
 * port, tracks its TCP state, times it out and replicates it — and, once a flow is decided
 * (a TCP flow established, a UDP flow a stream), installs its two directions here:
 *
 *     tandem_flows4[tuple as it arrives] = { the tuple to rewrite it to, the interface to leave by }
 *
 * A packet whose tuple is in the map is rewritten here (addresses and ports, with the kernel's
 * checksum helpers, so CHECKSUM_PARTIAL and GSO super-packets stay right), its TTL decremented,
 * and sent out of the other interface with bpf_redirect_neigh (the kernel's FIB and neighbour
 * table: no layer 2 here). Everything else goes on unchanged (TC_ACT_OK) into the kernel and
 * from there, by policy routing, to tandemd over TUN — the slow path:
 *
 *   - no entry (a new flow, a flow not yet decided, one the engine removed);
 *   - TCP segments with SYN (but the SYN-ACK awaited) or RST, and a FIN that does not start
 *     exactly where its side's last segment here ended: the engine judges those against the
 *     window (RFC 5961);
 *   - IP options, fragments, TTL <= 1, protocols other than TCP and UDP (ICMP included);
 *   - a packet larger than the egress MTU allows, a GSO super-packet whose segments would be (the
 *     kernel then says "fragmentation needed");
 *   - what the kernel or the engine would drop: a bad IPv4 header checksum or total length, a TCP
 *     data offset below 5 or past the packet, IPv6 UDP with checksum 0 (RFC 8200 §8.1) — counted
 *     FP_MALFORMED — and a frame not addressed to this host (pkt_type), or one that came in by
 *     the interface its entry leaves by (a client's tuple from the backends' side, or the
 *     reverse) — FP_NOT_FOR_US. The kernel path then drops or routes it as it would anyway.
 *
 * The program writes each entry's last-seen time and packet/byte counts, which tandemd reads
 * back so expiry, the peer's refreshes and the operators' views keep telling the truth.
 *
 * The segments that move a TCP flow's state without needing a judgement — the backend's SYN-ACK
 * (the engine installs a flow when it has decided its SYN, the backend's direction awaiting the
 * SYN-ACK: NAT_AWAIT_SYNACK, whose window scale is reported), the ACK that ends the handshake
 * (asked for with NAT_REPORT_ACK) and a FIN at its exact sequence number — are forwarded here too, and
 * reported to the engine through the tandem_events ring buffer (their tuple and flags), so its
 * state machine, timeouts and replication follow without the packet's two trips through TUN.
 * A report that finds the ring full sends the packet the slow way instead: the engine always
 * learns of the segment one way or the other.
 *
 * Layout: the IPv4 map is keyed by a 16-byte tuple; IPv6 has its own map, tandem_flows6, keyed
 * by a 40-byte one (issue 21), rather than a 40-byte key for every IPv4 flow. IPv6 packets with
 * extension headers go the slow path (the engine walks them); there is no header checksum, and
 * the transport checksum's pseudo-header takes the 128-bit addresses' difference in one step. Modelled on Katran's lib/bpf
 * (packet parsing, csum helpers) and Cilium's bpf/lib (redirect_neigh), written anew.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define TCP_FIN 0x01 /* the TCP flags byte's bits */
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* flow4_nat.flags and flow6_nat.flags */
#define NAT_REPORT_ACK 0x01 /* the engine asks for this direction's next ACK (the handshake's last) */
#define NAT_SEQ_KNOWN 0x02  /* seq_end holds where this direction's sequence stands */
#define NAT_FIN_SEEN 0x04   /* this direction's FIN went through here */
#define NAT_AWAIT_SYNACK 0x08 /* the backend's direction: only its SYN-ACK may go fast yet (the engine installed at the SYN) */
#define NO_WINDOW_SCALE 15    /* a SYN-ACK that offers none */

/* A flow's tuple as a packet of it arrives (network byte order). */
struct flow4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* What the engine decided for that direction, and what the program saw of it. */
struct flow4_nat {
	__be32 saddr;       /* rewritten source address */
	__be32 daddr;       /* rewritten destination address */
	__be16 sport;
	__be16 dport;
	__u32 ifindex;      /* the interface it leaves by */
	__u64 last_seen_ns; /* bpf_ktime_get_ns() of its last packet here */
	__u64 packets;
	__u64 bytes;
	__u32 seq_end;      /* TCP: the sequence number after this direction's last segment here (host order) */
	__u8 flags;         /* NAT_* */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* the loader sets it from conntrack.max_flows before loading */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow4_key);
	__type(value, struct flow4_nat);
} tandem_flows4 SEC(".maps");

/* The same for IPv6 flows: 40-byte key, 80-byte value. */
struct flow6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow6_nat {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u32 ifindex;
	__u64 last_seen_ns;
	__u64 packets;
	__u64 bytes;
	__u32 seq_end;
	__u8 flags;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow6_key);
	__type(value, struct flow6_nat);
} tandem_flows6 SEC(".maps");

/*
 * The layout of what is pinned, stamped by tandemd beside the maps (LAYOUT_VERSION in
 * FastPathProgram): a tandemd adopts pinned maps only in a layout it can prove it understands
 * (this stamp, or an older layout it knows by its value size), and migrates or removes them
 * otherwise. Version 1: flows4 values of 40 bytes (no seq_end, flags), no flows6; version 2:
 * the structs above (flows4 48 bytes, flows6 80). The program does not read it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tandem_layout SEC(".maps");

/* A segment reported to the engine: the tuple as it arrived (key4 for IPv4, key6 for IPv6) and its flags. */
struct fp_event {
	__u8 family;       /* 4 or 6 */
	__u8 tcp_flags;
	__u16 window;      /* host order, as sent (unscaled) */
	__u32 seq;         /* host order */
	__u8 window_scale; /* a SYN-ACK's window scale option, NO_WINDOW_SCALE if none */
	__u8 pad[7];
	union {
		struct flow4_key key4;
		struct flow6_key key6;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* 4 MiB: 65,000 reports of 56 bytes (and 8 of header) */
} tandem_events SEC(".maps");

/* Why packets went on to the slow path, and how many were forwarded here: per CPU, no contention. */
enum fp_counter {
	FP_FORWARDED,
	FP_NO_ENTRY,
	FP_TCP_FLAGS,
	FP_NOT_SIMPLE, /* not IPv4, IP options, a fragment, TTL <= 1, not TCP or UDP, truncated */
	FP_TOO_BIG,
	FP_REPORTED,   /* forwarded, and reported to the engine */
	FP_RING_FULL,  /* to be reported, but the ring was full: passed on */
	FP_MALFORMED,  /* a bad IPv4 header checksum or length, a TCP data offset below 5 or past the packet, IPv6 UDP without checksum */
	FP_NOT_FOR_US, /* a frame not addressed to this host, or one that came in by the interface its entry leaves by */
	FP_COUNTERS
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} tandem_counters SEC(".maps");

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

/* Reports a segment; 0 if the ring had no room (the caller then passes the segment on). */
static __always_inline int report(struct fp_event *event)
{
	if (bpf_ringbuf_output(&tandem_events, event, sizeof(*event), 0) != 0) {
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

/* An IPv6 packet: no extension headers (the engine walks those), hop limit > 1, TCP or UDP. */
static __always_inline int fastpath6(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct flow6_key key = {};
	struct flow6_nat *nat;
	__u32 l4 = sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
	__u32 csum_at, l4_flags, mtu = 0;
	struct tcp_segment seg = {};
	__s64 diff;
	__u8 hop;
	int udp;

	if ((void *)(ip6 + 1) > data_end || ip6->version != 6 || ip6->hop_limit <= 1)
		return pass(FP_NOT_SIMPLE);
	if (bpf_ntohs(ip6->payload_len) > skb->len - sizeof(struct ethhdr) - sizeof(struct ipv6hdr))
		return pass(FP_MALFORMED); /* longer than the packet (a jumbogram's 0 is an extension header's business: not simple) */
	__builtin_memcpy(key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(key.daddr, &ip6->daddr, 16);
	key.proto = ip6->nexthdr;
	if (ip6->nexthdr == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip6 + 1);

		if ((void *)(tcp + 1) > data_end)
			return pass(FP_NOT_SIMPLE);
		if (tcp->doff < 5 || tcp->doff * 4 > bpf_ntohs(ip6->payload_len))
			return pass(FP_MALFORMED);
		seg.flags = ((__u8 *)tcp)[13];
		if ((seg.flags & TCP_RST) || (seg.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			return pass(FP_TCP_FLAGS);
		key.sport = tcp->source;
		key.dport = tcp->dest;
		csum_at = l4 + offsetof(struct tcphdr, check);
		seg.seq = bpf_ntohl(tcp->seq);
		seg.ack = bpf_ntohl(tcp->ack_seq);
		seg.seq_end = seg.seq + bpf_ntohs(ip6->payload_len) - tcp->doff * 4 + (seg.flags & (TCP_FIN | TCP_SYN) ? 1 : 0);
		seg.window = bpf_ntohs(tcp->window);
		seg.options_at = l4 + sizeof(*tcp);
		seg.options_length = tcp->doff * 4 - sizeof(*tcp);
		udp = 0;
	} else if (ip6->nexthdr == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip6 + 1);

		if ((void *)(uh + 1) > data_end)
			return pass(FP_NOT_SIMPLE);
		if (uh->check == 0)
			return pass(FP_MALFORMED); /* mandatory over IPv6: the engine drops it (UDP_ZERO_CHECKSUM) */
		if (bpf_ntohs(uh->len) < sizeof(*uh) || bpf_ntohs(uh->len) > bpf_ntohs(ip6->payload_len))
			return pass(FP_MALFORMED);
		key.sport = uh->source;
		key.dport = uh->dest;
		csum_at = l4 + offsetof(struct udphdr, check);
		udp = 1;
	} else {
		return pass(FP_NOT_SIMPLE);
	}
	nat = bpf_map_lookup_elem(&tandem_flows6, &key);
	if (!nat)
		return pass(FP_NO_ENTRY);
	if (!for_us(skb, nat->ifindex))
		return pass(FP_NOT_FOR_US);
	if (bpf_check_mtu(skb, nat->ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) != BPF_MTU_CHK_RET_SUCCESS)
		return pass(FP_TOO_BIG);
	hop = ip6->hop_limit - 1;
	if (!udp && (nat->flags & NAT_REPORT_ACK) && (seg.flags & TCP_ACK))
		seg.ack_ok = handshake_ack_ok6(nat, key.proto, seg.ack);
	if (!udp && tcp_fast(skb, &nat->flags, &nat->seq_end, &seg, 6, &key, sizeof(key)) < 0)
		return TC_ACT_OK;

	/* Both addresses' difference in one sum (the pseudo-header covers them); the ports on
	 * their own. UDP's checksum is mandatory over IPv6: a result of 0 is sent as 0xFFFF. */
	l4_flags = udp ? BPF_F_MARK_MANGLED_0 : 0;
	diff = bpf_csum_diff(key.saddr, 32, nat->saddr, 32, 0);
	if (diff < 0)
		return pass(FP_NOT_SIMPLE);
	bpf_l4_csum_replace(skb, csum_at, 0, (__u32)diff, l4_flags | BPF_F_PSEUDO_HDR);
	bpf_l4_csum_replace(skb, csum_at, key.sport, nat->sport, l4_flags | sizeof(__be16));
	bpf_l4_csum_replace(skb, csum_at, key.dport, nat->dport, l4_flags | sizeof(__be16));
	bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + offsetof(struct ipv6hdr, saddr), nat->saddr, 32, 0);
	bpf_skb_store_bytes(skb, l4, &nat->sport, sizeof(__be16), 0);
	bpf_skb_store_bytes(skb, l4 + sizeof(__be16), &nat->dport, sizeof(__be16), 0);
	bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + offsetof(struct ipv6hdr, hop_limit), &hop, 1, 0);

	return forwarded(skb, &nat->last_seen_ns, &nat->packets, &nat->bytes, nat->ifindex);
}

SEC("tc")
int tandem_fastpath(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct flow4_key key = {};
	struct flow4_nat *nat;
	__u32 l4 = sizeof(struct ethhdr) + sizeof(struct iphdr);
	__u32 csum_at, l4_flags, mtu = 0;
	__be16 old_ttl_word, new_ttl_word;
	struct tcp_segment seg = {};
	__u8 ttl;
	int udp;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return fastpath6(skb);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return pass(FP_NOT_SIMPLE);
	if (ip->version != 4 || ip->ihl != 5 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) || ip->ttl <= 1)
		return pass(FP_NOT_SIMPLE);
	if (!ipv4_checksum_ok(ip) || bpf_ntohs(ip->tot_len) < sizeof(struct iphdr)
	    || bpf_ntohs(ip->tot_len) > skb->len - sizeof(struct ethhdr))
		return pass(FP_MALFORMED);
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);

		if ((void *)(tcp + 1) > data_end)
			return pass(FP_NOT_SIMPLE);
		if (tcp->doff < 5 || tcp->doff * 4 > bpf_ntohs(ip->tot_len) - sizeof(struct iphdr))
			return pass(FP_MALFORMED);
		seg.flags = ((__u8 *)tcp)[13];
		if ((seg.flags & TCP_RST) || (seg.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			return pass(FP_TCP_FLAGS);
		key.sport = tcp->source;
		key.dport = tcp->dest;
		csum_at = l4 + offsetof(struct tcphdr, check);
		/* Where this side's sequence stands (a SYN or FIN counts one), so the engine can still
		 * judge a RST or FIN (RFC 5961) on a flow whose segments it no longer sees. */
		seg.seq = bpf_ntohl(tcp->seq);
		seg.ack = bpf_ntohl(tcp->ack_seq);
		seg.seq_end = seg.seq + bpf_ntohs(ip->tot_len) - sizeof(struct iphdr) - tcp->doff * 4 + (seg.flags & (TCP_FIN | TCP_SYN) ? 1 : 0);
		seg.window = bpf_ntohs(tcp->window);
		seg.options_at = l4 + sizeof(*tcp);
		seg.options_length = tcp->doff * 4 - sizeof(*tcp);
		udp = 0;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip + 1);

		if ((void *)(uh + 1) > data_end)
			return pass(FP_NOT_SIMPLE);
		if (bpf_ntohs(uh->len) < sizeof(*uh) || bpf_ntohs(uh->len) > bpf_ntohs(ip->tot_len) - sizeof(struct iphdr))
			return pass(FP_MALFORMED);
		key.sport = uh->source;
		key.dport = uh->dest;
		csum_at = l4 + offsetof(struct udphdr, check);
		udp = 1;
	} else {
		return pass(FP_NOT_SIMPLE);
	}
	nat = bpf_map_lookup_elem(&tandem_flows4, &key);
	if (!nat)
		return pass(FP_NO_ENTRY);
	if (!for_us(skb, nat->ifindex))
		return pass(FP_NOT_FOR_US);
	/* GSO super-packets segment by segment: without BPF_MTU_CHK_SEGS the helper lets any GSO packet by. */
	if (bpf_check_mtu(skb, nat->ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) != BPF_MTU_CHK_RET_SUCCESS)
		return pass(FP_TOO_BIG);
	if (!udp && (nat->flags & NAT_REPORT_ACK) && (seg.flags & TCP_ACK))
		seg.ack_ok = handshake_ack_ok4(nat, key.proto, seg.ack);
	if (!udp && tcp_fast(skb, &nat->flags, &nat->seq_end, &seg, 4, &key, sizeof(key)) < 0)
		return TC_ACT_OK;

	ttl = ip->ttl;
	old_ttl_word = bpf_htons((__u16)ttl << 8 | key.proto);
	new_ttl_word = bpf_htons((__u16)(ttl - 1) << 8 | key.proto);

	/* From here on the packet's pointers are stale: every access is by offset. A UDP checksum
	 * of 0 means none (RFC 768) and stays 0; one that comes out 0 is sent as 0xFFFF. */
	l4_flags = udp ? BPF_F_MARK_MANGLED_0 : 0;
	bpf_l4_csum_replace(skb, csum_at, key.saddr, nat->saddr, l4_flags | BPF_F_PSEUDO_HDR | sizeof(__be32));
	bpf_l4_csum_replace(skb, csum_at, key.daddr, nat->daddr, l4_flags | BPF_F_PSEUDO_HDR | sizeof(__be32));
	bpf_l4_csum_replace(skb, csum_at, key.sport, nat->sport, l4_flags | sizeof(__be16));
	bpf_l4_csum_replace(skb, csum_at, key.dport, nat->dport, l4_flags | sizeof(__be16));
	bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, check), key.saddr, nat->saddr, sizeof(__be32));
	bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, check), key.daddr, nat->daddr, sizeof(__be32));
	bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, check), old_ttl_word, new_ttl_word, sizeof(__be16));
	bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, saddr), &nat->saddr, sizeof(__be32), 0);
	bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, daddr), &nat->daddr, sizeof(__be32), 0);
	bpf_skb_store_bytes(skb, l4, &nat->sport, sizeof(__be16), 0);
	bpf_skb_store_bytes(skb, l4 + sizeof(__be16), &nat->dport, sizeof(__be16), 0);
	ttl -= 1;
	bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, ttl), &ttl, 1, 0);

	return forwarded(skb, &nat->last_seen_ns, &nat->packets, &nat->bytes, nat->ifindex);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
