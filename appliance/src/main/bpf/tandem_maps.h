/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map and every struct the program shares with tandemd, in one place. tandemd reads this
 * object's BTF at load and checks each struct's size and each field's offset against what its
 * Java side writes and reads (BpfLayout): a field moved here and not there is a refused start,
 * never a misread map.
 *
 * Two kinds of map:
 *   - the flows (tandem_flows4, tandem_flows6): two entries a flow, one per direction, keyed by
 *     the tuple as a packet of that direction arrives. Pinned, so the kernel goes on forwarding
 *     while tandemd restarts. Preallocated hash maps, never LRU: an LRU that evicts one half of a
 *     NAT pair breaks the flow (Cilium #29305, #37747); expiry is the engine's, from last_seen_ns.
 *   - the policy the engine decided (tandem_config, tandem_services, tandem_maglev,
 *     tandem_backends): written by tandemd off the hot path, read by the program to create flows.
 *     Not pinned: a restarted tandemd publishes its own before it attaches.
 */
#ifndef TANDEM_MAPS_H
#define TANDEM_MAPS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define TCP_FIN 0x01 /* the TCP flags byte's bits */
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* flow4_nat.flags and flow6_nat.flags */
#define NAT_REPORT_ACK 0x01   /* the engine asks for this direction's next ACK (the handshake's last) */
#define NAT_SEQ_KNOWN 0x02    /* seq_end holds where this direction's sequence stands */
#define NAT_FIN_SEEN 0x04     /* this direction's FIN went through here */
#define NAT_AWAIT_SYNACK 0x08 /* the backend's direction: only its SYN-ACK may go fast yet */
#define NAT_CLAIM 0x10        /* a reply tuple held for a flow the engine forwards itself: its packets go to the engine */
#define NO_WINDOW_SCALE 15    /* a SYN or SYN-ACK that offers none */

/* A flow's tuple as a packet of it arrives (network byte order). */
struct flow4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* What was decided for that direction, and what the program saw of it. */
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
	__type(key, struct flow4_key);
	__type(value, struct flow4_nat);
} tandem_flows4 SEC(".maps");

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
	__type(key, struct flow6_key);
	__type(value, struct flow6_nat);
} tandem_flows6 SEC(".maps");

/*
 * The layout of what is pinned, stamped by tandemd beside the maps (LAYOUT_VERSION in
 * FastPathProgram): version 1, flows4 values of 40 bytes; 2, the structs above in maps
 * allocated as they fill; 3, the same structs in preallocated maps, entries the program
 * itself creates among them. The program does not read it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tandem_layout SEC(".maps");

/* What tandemd tells the program about the box: written once at start. */
struct fp_config {
	__u32 front_ifindex; /* a flow's reply direction leaves by it */
	__u32 back_ifindex;  /* its original direction leaves by it */
	__u16 snat_first;    /* conntrack.snat_ports, host order */
	__u16 snat_last;
	__u32 create;        /* 1: the program creates flows (tandemd has published its policy and reads the reports) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_config);
} tandem_config SEC(".maps");

/* A service, by the address and port a client sends to (vip[0] alone for IPv4). */
struct service_key {
	__be32 vip[4];
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* 4 or 6 */
};

#define SVC_CREATE 0x01         /* the program may create this service's flows (else their first packet goes to the engine) */
#define SVC_HASH_CLIENT 0x02    /* hash_key: client-address (else the five-tuple) */

struct service {
	__u32 id;          /* its Maglev table's key in tandem_maglev */
	__u32 maglev_size; /* that table's slots */
	__u32 flags;       /* SVC_* */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct service_key);
	__type(value, struct service);
} tandem_services SEC(".maps");

/*
 * A service's Maglev table (NSDI'16 §3.4), built by the engine (MaglevTable) and swapped in
 * whole: the program never sees a half-written table. Each slot names a backend by its SNAT
 * port pool's id (tandem_backends), NO_BACKEND for none.
 */
#define NO_BACKEND 0xFFFFFFFF

struct maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65537);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__array(values, struct maglev_table);
} tandem_maglev SEC(".maps");

/*
 * A backend as a flow to it is rewritten, by its SNAT port pool's id (SnatPortPools: one per
 * SNAT address, backend address, backend port and protocol, never reused while tandemd runs).
 */
struct backend {
	__be32 addr[4]; /* addr[0] alone for IPv4 */
	__be32 snat[4];
	__be16 port;
	__u8 family;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct backend);
} tandem_backends SEC(".maps");

/*
 * A report to the engine: a TCP segment forwarded here that moves a flow's state (EV_SEGMENT),
 * or a flow the program created (EV_CREATED, EV_REOPENED: its first packet's tuple, the backend's
 * pool and the SNAT port claimed; for TCP the SYN's sequence number, window and window scale).
 */
#define EV_SEGMENT 0
#define EV_CREATED 1
#define EV_REOPENED 2 /* created in place of a finished flow of the same tuple, whose entries the program removed */

struct fp_event {
	__u8 family;       /* 4 or 6 */
	__u8 tcp_flags;
	__u16 window;      /* host order, as sent (unscaled) */
	__u32 seq;         /* host order */
	__u8 window_scale; /* a SYN's or SYN-ACK's window scale option, NO_WINDOW_SCALE if none */
	__u8 kind;         /* EV_* */
	__u16 snat_port;   /* EV_CREATED: host order */
	__u32 pool;        /* EV_CREATED: the backend's pool id */
	union {
		struct flow4_key key4;
		struct flow6_key key6;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* 4 MiB: 65,000 reports of 56 bytes (and 8 of header) */
} tandem_events SEC(".maps");

/* Why packets went on to the slow path, and what the program did: per CPU, no contention. */
enum fp_counter {
	FP_FORWARDED,
	FP_NO_ENTRY,     /* no entry, and not a flow the program may create */
	FP_TCP_FLAGS,
	FP_NOT_SIMPLE,   /* IP options, a fragment, TTL <= 1, not TCP or UDP, truncated */
	FP_TOO_BIG,
	FP_REPORTED,     /* forwarded, and reported to the engine */
	FP_RING_FULL,    /* to be reported, but the ring was full: passed on */
	FP_MALFORMED,    /* a bad IPv4 header checksum or length, a TCP data offset below 5 or past the packet, IPv6 UDP without checksum */
	FP_NOT_FOR_US,   /* a frame not addressed to this host, or one that came in by the interface its entry leaves by */
	FP_CREATED,      /* flows the program created */
	FP_ENGINE_POLICY, /* a new flow of a service whose policy only the engine applies (or before tandemd published it) */
	FP_NO_BACKEND,   /* a new flow, and the service's table names no backend: the engine drops it */
	FP_SNAT_BUSY,    /* no free SNAT port found in SNAT_TRIES tries: passed to the engine */
	FP_TABLE_FULL,   /* the flow map had no room: passed to the engine, which refuses it */
	FP_CLAIMED,      /* a packet of a reply tuple the engine holds (NAT_CLAIM): passed to it */
	FP_COUNTERS
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} tandem_counters SEC(".maps");

#endif
