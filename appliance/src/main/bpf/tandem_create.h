/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow creation in the kernel (DESIGN §3b): a TCP SYN, or a UDP datagram, to a served VIP:port
 * with no entry becomes a flow here, in Cilium's order (lb4_local, snat_v4_new_mapping):
 *
 *   1. the service (tandem_services) and its policy: a service whose policy only the engine
 *      applies (client limits, the wrr scheduler) keeps its new flows on the engine;
 *   2. the backend from the service's Maglev table (tandem_maglev), by the engine's own hash
 *      (tandem_hash.h), so either path and either box picks the same backend;
 *   3. room for the report in the ring, reserved first: a flow the engine would never hear of
 *      is never made (a full ring passes the packet on, counted);
 *   4. the SNAT port claimed by inserting the reply direction's entry with BPF_NOEXIST (the hash
 *      map's bucket lock makes that an atomic claim across CPUs): the client's own port first if
 *      it is in the range (as Linux's NAT and the engine do, so a client's port maps to the same
 *      4-tuple at the backend, RFC 6191), then from a random start, at most SNAT_TRIES ports —
 *      Cilium found more than about 25 futile (PR #37389). The engine claims its own flows'
 *      reply tuples in the same map (NAT_CLAIM), so the map is the one allocator of ports;
 *   5. the original direction's entry (BPF_NOEXIST: a SYN retransmitted on another CPU meanwhile
 *      finds the first one's), the reply's rolled back if that fails;
 *   6. the report submitted (EV_CREATED): the engine takes the flow into its table, replicates
 *      it, times it out, and owns the two entries from then on.
 *
 * Each helper returns FP_CREATED, or the counter the packet is passed on to the engine with.
 */
#ifndef TANDEM_CREATE_H
#define TANDEM_CREATE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "tandem_maps.h"
#include "tandem_hash.h"
#include "tandem_helpers.h"

#define SNAT_TRIES 32
#define EEXIST_ERR 17

/* The service a new flow is for, and its backend; FP_CREATED or why not. */
static __always_inline int pick_backend(const struct service_key *skey, __u64 five_tuple_hash, __u64 client_hash,
					struct backend **out, __u32 *pool_id)
{
	struct service *svc = bpf_map_lookup_elem(&tandem_services, skey);
	void *table;
	__u32 slot, *pool;

	if (!svc)
		return FP_NO_ENTRY; /* not a service: the engine drops it (NO_SERVICE) */
	if (!(svc->flags & SVC_CREATE))
		return FP_ENGINE_POLICY;
	table = bpf_map_lookup_elem(&tandem_maglev, &svc->id);
	if (!table)
		return FP_ENGINE_POLICY;
	slot = maglev_slot(svc->flags & SVC_HASH_CLIENT ? client_hash : five_tuple_hash, svc->maglev_size);
	pool = bpf_map_lookup_elem(table, &slot);
	if (!pool || *pool == NO_BACKEND)
		return FP_NO_BACKEND;
	*pool_id = *pool;
	*out = bpf_map_lookup_elem(&tandem_backends, pool);
	return *out ? FP_CREATED : FP_ENGINE_POLICY;
}

/* The i-th port to try: the client's own first (when in the range), then from a random start. */
static __always_inline __u16 snat_candidate(int i, __u16 client_port, __u32 start, const struct fp_config *cfg)
{
	__u32 size = (__u32)cfg->snat_last - cfg->snat_first + 1;

	if (i == 0 && client_port >= cfg->snat_first && client_port <= cfg->snat_last)
		return client_port;
	return cfg->snat_first + (start + i) % size;
}

/* Whether tandemd has published its policy and reads the reports: then the program creates flows. */
static __always_inline int creating(const struct fp_config *cfg)
{
	return cfg && cfg->create && cfg->snat_first != 0 && cfg->snat_last >= cfg->snat_first;
}

/* A created flow's report, all but its key: the first packet's TCP fields, the backend's pool, the SNAT port. */
static __always_inline void created_event(struct fp_event *event, struct __sk_buff *skb, const struct tcp_segment *seg, int udp,
					  __u8 family, __u8 kind, __u16 port, __u32 pool)
{
	__builtin_memset(event, 0, sizeof(*event));
	event->family = family;
	event->kind = kind;
	event->tcp_flags = seg->flags;
	event->seq = seg->seq;
	event->window = seg->window;
	event->window_scale = udp ? NO_WINDOW_SCALE : window_scale(skb, seg->options_at, seg->options_length);
	event->snat_port = port;
	event->pool = pool;
}

/*
 * Creates an IPv4 flow for a packet with no entry (key: its tuple as it arrived). The original
 * direction's entry is left in the map; the caller looks it up and forwards the packet by it.
 */
static __always_inline int create4(struct __sk_buff *skb, const struct flow4_key *key, const struct tcp_segment *seg, int udp,
				   __u8 kind)
{
	__u32 zero = 0, start, pool = 0;
	struct fp_config *cfg = bpf_map_lookup_elem(&tandem_config, &zero);
	struct service_key skey = {.vip = {key->daddr}, .port = key->dport, .proto = key->proto, .family = 4};
	struct backend *b = NULL;
	struct fp_event *event;
	struct flow4_key reply = {.proto = key->proto};
	struct flow4_nat reply_nat = {.saddr = key->daddr, .daddr = key->saddr, .sport = key->dport, .dport = key->sport};
	struct flow4_nat original = {};
	__u32 src = bpf_ntohl(key->saddr);
	__u16 port = 0;
	int why, rc = -1;

	if (!creating(cfg))
		return FP_ENGINE_POLICY;
	why = pick_backend(&skey, tuple_hash4(key->proto, src, bpf_ntohl(key->daddr), bpf_ntohs(key->sport), bpf_ntohs(key->dport)),
			   address_hash4(src), &b, &pool);
	if (why != FP_CREATED || !b)
		return why;
	if (!for_us(skb, cfg->back_ifindex))
		return FP_NOT_FOR_US;
	event = bpf_ringbuf_reserve(&tandem_events, sizeof(*event), 0);
	if (!event)
		return FP_RING_FULL;

	reply.saddr = b->addr[0];
	reply.daddr = b->snat[0];
	reply.sport = b->port;
	reply_nat.ifindex = cfg->front_ifindex;
	reply_nat.flags = udp ? 0 : NAT_AWAIT_SYNACK;
	start = bpf_get_prandom_u32();
	for (int i = 0; i < SNAT_TRIES; i++) {
		port = snat_candidate(i, bpf_ntohs(key->sport), start, cfg);
		reply.dport = bpf_htons(port);
		rc = bpf_map_update_elem(&tandem_flows4, &reply, &reply_nat, BPF_NOEXIST);
		if (rc != -EEXIST_ERR)
			break;
	}
	if (rc != 0) {
		bpf_ringbuf_discard(event, 0);
		return rc == -EEXIST_ERR ? FP_SNAT_BUSY : FP_TABLE_FULL;
	}
	original.saddr = b->snat[0];
	original.daddr = b->addr[0];
	original.sport = bpf_htons(port);
	original.dport = b->port;
	original.ifindex = cfg->back_ifindex;
	if (!udp) {
		original.seq_end = seg->seq_end;
		original.flags = NAT_SEQ_KNOWN | NAT_REPORT_ACK;
	}
	rc = bpf_map_update_elem(&tandem_flows4, key, &original, BPF_NOEXIST);
	if (rc != 0) {
		bpf_map_delete_elem(&tandem_flows4, &reply);
		bpf_ringbuf_discard(event, 0);
		return rc == -EEXIST_ERR ? FP_TCP_FLAGS : FP_TABLE_FULL; /* another CPU made it a moment ago: the engine follows it */
	}
	created_event(event, skb, seg, udp, 4, kind, port, pool);
	event->key4 = *key;
	bpf_ringbuf_submit(event, wakeup());
	return FP_CREATED;
}

/* An IPv6 address's half (0: high, 1: low) as the engine reads it: big-endian 64 bits. */
static __always_inline __u64 half(const __be32 *a, int which)
{
	return (__u64)bpf_ntohl(a[2 * which]) << 32 | bpf_ntohl(a[2 * which + 1]);
}

/* create4 for an IPv6 packet (key: its tuple as it arrived); the engine's hash over the 128-bit addresses. */
static __always_inline int create6(struct __sk_buff *skb, const struct flow6_key *key, const struct tcp_segment *seg, int udp,
				   __u8 kind)
{
	__u32 zero = 0, start, pool = 0;
	struct fp_config *cfg = bpf_map_lookup_elem(&tandem_config, &zero);
	struct service_key skey = {.port = key->dport, .proto = key->proto, .family = 6};
	struct backend *b = NULL;
	struct fp_event *event;
	struct flow6_key reply = {.proto = key->proto};
	struct flow6_nat reply_nat = {.sport = key->dport, .dport = key->sport};
	struct flow6_nat original = {};
	__u64 src_high = half(key->saddr, 0), src_low = half(key->saddr, 1);
	__u16 port = 0;
	int why, rc = -1;

	if (!creating(cfg))
		return FP_ENGINE_POLICY;
	__builtin_memcpy(skey.vip, key->daddr, 16);
	why = pick_backend(&skey,
			   tuple_hash6(key->proto | FLOW_PROTOCOL_IPV6, src_high, src_low, half(key->daddr, 0), half(key->daddr, 1),
				       bpf_ntohs(key->sport), bpf_ntohs(key->dport)),
			   address_hash6(src_high, src_low), &b, &pool);
	if (why != FP_CREATED || !b)
		return why;
	if (!for_us(skb, cfg->back_ifindex))
		return FP_NOT_FOR_US;
	event = bpf_ringbuf_reserve(&tandem_events, sizeof(*event), 0);
	if (!event)
		return FP_RING_FULL;

	__builtin_memcpy(reply.saddr, b->addr, 16);
	__builtin_memcpy(reply.daddr, b->snat, 16);
	reply.sport = b->port;
	__builtin_memcpy(reply_nat.saddr, key->daddr, 16);
	__builtin_memcpy(reply_nat.daddr, key->saddr, 16);
	reply_nat.ifindex = cfg->front_ifindex;
	reply_nat.flags = udp ? 0 : NAT_AWAIT_SYNACK;
	start = bpf_get_prandom_u32();
	for (int i = 0; i < SNAT_TRIES; i++) {
		port = snat_candidate(i, bpf_ntohs(key->sport), start, cfg);
		reply.dport = bpf_htons(port);
		rc = bpf_map_update_elem(&tandem_flows6, &reply, &reply_nat, BPF_NOEXIST);
		if (rc != -EEXIST_ERR)
			break;
	}
	if (rc != 0) {
		bpf_ringbuf_discard(event, 0);
		return rc == -EEXIST_ERR ? FP_SNAT_BUSY : FP_TABLE_FULL;
	}
	__builtin_memcpy(original.saddr, b->snat, 16);
	__builtin_memcpy(original.daddr, b->addr, 16);
	original.sport = bpf_htons(port);
	original.dport = b->port;
	original.ifindex = cfg->back_ifindex;
	if (!udp) {
		original.seq_end = seg->seq_end;
		original.flags = NAT_SEQ_KNOWN | NAT_REPORT_ACK;
	}
	rc = bpf_map_update_elem(&tandem_flows6, key, &original, BPF_NOEXIST);
	if (rc != 0) {
		bpf_map_delete_elem(&tandem_flows6, &reply);
		bpf_ringbuf_discard(event, 0);
		return rc == -EEXIST_ERR ? FP_TCP_FLAGS : FP_TABLE_FULL;
	}
	created_event(event, skb, seg, udp, 6, kind, port, pool);
	event->key6 = *key;
	bpf_ringbuf_submit(event, wakeup());
	return FP_CREATED;
}

/*
 * A client's new SYN on the tuple of a finished connection (both FINs went through here: the
 * engine holds it in TIME_WAIT) reopens it, as Linux conntrack re-runs NAT for a SYN in
 * TIME_WAIT: the old flow's two entries go, and the caller creates the new flow afresh
 * (EV_REOPENED tells the engine the old one is gone from the kernel). Its SNAT port comes back
 * the same when the client's port is free in the range, so the backend sees the same 4-tuple
 * with the client's newer timestamps (RFC 6191). Returns 1 if it removed the old flow.
 */
static __always_inline int reopen4(const struct flow4_key *key, const struct flow4_nat *nat)
{
	struct flow4_key back = {.saddr = nat->daddr, .daddr = nat->saddr, .sport = nat->dport, .dport = nat->sport, .proto = key->proto};
	struct flow4_nat *other;

	if (!(nat->flags & NAT_FIN_SEEN))
		return 0;
	other = bpf_map_lookup_elem(&tandem_flows4, &back);
	if (!other || !(other->flags & NAT_FIN_SEEN))
		return 0;
	bpf_map_delete_elem(&tandem_flows4, &back);
	bpf_map_delete_elem(&tandem_flows4, key);
	return 1;
}

static __always_inline int reopen6(const struct flow6_key *key, const struct flow6_nat *nat)
{
	struct flow6_key back = {.sport = nat->dport, .dport = nat->sport, .proto = key->proto};
	struct flow6_nat *other;

	if (!(nat->flags & NAT_FIN_SEEN))
		return 0;
	__builtin_memcpy(back.saddr, nat->daddr, 16);
	__builtin_memcpy(back.daddr, nat->saddr, 16);
	other = bpf_map_lookup_elem(&tandem_flows6, &back);
	if (!other || !(other->flags & NAT_FIN_SEEN))
		return 0;
	bpf_map_delete_elem(&tandem_flows6, &back);
	bpf_map_delete_elem(&tandem_flows6, key);
	return 1;
}

#endif
