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
#include "tandem_maps.h"
#include "tandem_hash.h"
#include "tandem_helpers.h"
#include "tandem_create.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

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
	__u8 hop, kind = EV_CREATED;
	int udp, created = 0;

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
		if (seg.flags & TCP_RST)
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
	if (nat && !udp && (seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) == TCP_SYN && reopen6(&key, nat)) {
		nat = NULL;
		kind = EV_REOPENED;
	}
	if (!nat) {
		int made;

		if (!udp && (seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) != TCP_SYN)
			return pass(FP_NO_ENTRY);
		made = create6(skb, &key, &seg, udp, kind);
		if (made != FP_CREATED)
			return pass(made);
		pass(FP_CREATED);
		nat = bpf_map_lookup_elem(&tandem_flows6, &key);
		if (!nat)
			return pass(FP_NO_ENTRY);
		created = 1;
	}
	if (nat->flags & NAT_CLAIM)
		return pass(FP_CLAIMED);
	if (!for_us(skb, nat->ifindex))
		return pass(FP_NOT_FOR_US);
	if (bpf_check_mtu(skb, nat->ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) != BPF_MTU_CHK_RET_SUCCESS)
		return pass(FP_TOO_BIG);
	hop = ip6->hop_limit - 1;
	if (!udp && (nat->flags & NAT_REPORT_ACK) && (seg.flags & TCP_ACK))
		seg.ack_ok = handshake_ack_ok6(nat, key.proto, seg.ack);
	if (!udp && !created && tcp_fast(skb, &nat->flags, &nat->seq_end, &seg, 6, &key, sizeof(key)) < 0)
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
	__u8 ttl, kind = EV_CREATED;
	int udp, created = 0;

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
		if (seg.flags & TCP_RST)
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
	if (nat && !udp && (seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) == TCP_SYN && reopen4(&key, nat)) {
		nat = NULL;
		kind = EV_REOPENED;
	}
	if (!nat) {
		int made;

		if (!udp && (seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) != TCP_SYN)
			return pass(FP_NO_ENTRY);
		made = create4(skb, &key, &seg, udp, kind);
		if (made != FP_CREATED)
			return pass(made);
		pass(FP_CREATED);
		nat = bpf_map_lookup_elem(&tandem_flows4, &key);
		if (!nat)
			return pass(FP_NO_ENTRY); /* the engine removed it already: it has the report */
		created = 1;
	}
	if (nat->flags & NAT_CLAIM)
		return pass(FP_CLAIMED);
	if (!for_us(skb, nat->ifindex))
		return pass(FP_NOT_FOR_US);
	/* GSO super-packets segment by segment: without BPF_MTU_CHK_SEGS the helper lets any GSO packet by. */
	if (bpf_check_mtu(skb, nat->ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) != BPF_MTU_CHK_RET_SUCCESS)
		return pass(FP_TOO_BIG);
	if (!udp && (nat->flags & NAT_REPORT_ACK) && (seg.flags & TCP_ACK))
		seg.ack_ok = handshake_ack_ok4(nat, key.proto, seg.ack);
	if (!udp && !created && tcp_fast(skb, &nat->flags, &nat->seq_end, &seg, 4, &key, sizeof(key)) < 0)
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
