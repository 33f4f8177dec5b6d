/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The snapshot of a failed bind/listen/connect, taken in the failing call's context before it
 * returns: the sockets of the kernel's own tables that hold the port (the TCP bind hash, the UDP
 * hash slot) or the ephemeral range, judged by the kernel's rules (bindrules.h), counted exactly
 * and the first TW_SNAP_HOLDERS of them captured, most durable kind first.
 * The walk takes no lock: it is best effort under RCU, each read a probe read that cannot fault,
 * and it is bounded by bpf_loop steps (one list node a step).
 */
#ifndef TWSCOPE_BINDSNAP_BPF_H
#define TWSCOPE_BINDSNAP_BPF_H

#include "timewait.bpf.h"
#include "bindrules.h"

#define SNAP_STEPS_PORT	 (1 << 16)
#define SNAP_STEPS_RANGE (1 << 18)
/*
 * Steps a CPU may spend walking, refilled at SNAP_RATE a second up to SNAP_BURST: a failure
 * costs its caller at most the walk of its port, and a storm of them a few per cent of a CPU
 * (a step is one list node, 100-150 ns), whatever the number of holders.
 */
#define SNAP_RATE  200000
#define SNAP_BURST (1 << 16)
#define SNAP_MIN   16 /* below this a walk would see too little to be worth it */
#define SNAP_NO_RANK	 0xff

enum snap_mode {
	SNAP_BIND,	    /* bind() or listen() of a port */
	SNAP_AUTOBIND,	    /* bind(port 0) or listen() of an unbound socket: the range */
	SNAP_TUPLE,	    /* connect() from a bound port: sockets with its 4-tuple */
	SNAP_CONNECT_RANGE, /* connect() that found no ephemeral port toward its destination */
};

enum snap_phase {
	PH_PORT,   /* next port of the walk */
	PH_CHAIN,  /* next inet_bind_bucket of the port's bhash chain */
	PH_TB2,	   /* 6.8+: next inet_bind2_bucket of the bucket */
	PH_OWNERS, /* next socket of the owners list */
	PH_UDP,	   /* next socket of the UDP hash slot */
};

struct snap_scratch {
	struct tw_snap_rec out; /* the ring record being built */
	__u8 skc[256];		/* copy of the sock_common being judged */
	struct tw_bind_view req;
	__u8 rank[TW_SNAP_HOLDERS];
	__u32 busy;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snap_scratch);
} snap SEC(".maps");

/* The walk's position, the bpf_loop context. Kernel addresses are plain numbers here. */
struct snap_walk {
	__u64 net;
	__u64 self;  /* the failing socket, on the list of its own port after a failed listen() */
	__u64 table; /* bhash, or the UDP hash slots */
	__u64 reserved; /* ip_local_reserved_ports bitmap */
	__u64 chain;	/* next node of the bhash chain */
	__u64 tb2;	/* next node of tb->bhash2 */
	__u64 owner;	/* next node of the owners list or UDP slot */
	__u64 resv_word;
	__u32 resv_idx; /* the bitmap word resv_word holds, +1 (0: none) */
	__u32 mask;
	__u32 mix;
	__u32 port; /* the port being walked */
	__u32 next_port;
	__u32 last_port;
	__u8 phase;
	__u8 mode;
	__u8 proto;
	__u8 rules_61;
	__u8 busy;	 /* the port being walked is held */
	__u8 tb_bind;	 /* its bucket was made by bind(): connect() cannot use the port */
	__u8 port_bound; /* the port being walked has a bucket made by bind() */
	__u8 any_l3mdev; /* the failing socket is bound to a device: its VRF is not known */
	__u8 dst[TW_ADDR_LEN]; /* connect: the destination, and its port */
	__u16 dport;
	__u16 pad2[3];
};

/*
 * The walk's state lives in a map, not on the stack: before 6.7 ("bpf: verify callbacks as if
 * they are called unknown number of times") the verifier checked a bpf_loop callback once, with
 * the caller's stack as it was at the call, and removed the branches of the other phases as
 * dead (6.1 walked nothing). It sees no constants in a map value.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snap_walk);
} snap_walks SEC(".maps");

static __always_inline __u64 rd64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

/* The rules' view of the sock_common copied into s->skc. */
static __always_inline void snap_view(struct tw_bind_view *v, const struct sock_common *c)
{
	__builtin_memset(v, 0, sizeof(*v));
	v->family = c->skc_family;
	v->state = c->skc_state;
	v->reuse = BPF_CORE_READ_BITFIELD(c, skc_reuse);
	v->reuseport = BPF_CORE_READ_BITFIELD(c, skc_reuseport);
	v->v6only = BPF_CORE_READ_BITFIELD(c, skc_ipv6only);
	v->bound_dev = c->skc_bound_dev_if;
	v->rcv4 = c->skc_rcv_saddr;
	if (v->family == AF_INET6)
		__builtin_memcpy(v->addr, &c->skc_v6_rcv_saddr, 16);
	else
		__builtin_memcpy(v->addr, &v->rcv4, 4);
}

/* sk_uid of a full socket (a TIME_WAIT has none). */
static __always_inline __u32 snap_uid(__u64 skc)
{
	return BPF_CORE_READ((struct sock *)skc, sk_uid.val);
}

/* Lower is more durable: the cause is the holder that outlives the others. */
static __always_inline __u8 snap_rank(const struct snap_walk *w, __u8 state)
{
	if (w->mode == SNAP_CONNECT_RANGE || w->mode == SNAP_TUPLE)
		return state == TCP_TIME_WAIT ? 1 : w->tb_bind ? 2 : 0;
	switch (state) {
	case TCP_LISTEN:
		return 0;
	case TCP_CLOSE:
		return 1;
	case TCP_TIME_WAIT:
		return 3;
	default:
		return 2;
	}
}

/* The slot a holder of this rank takes: a free one, or the least durable one when full. */
static __always_inline int snap_slot(struct snap_scratch *s, __u8 rank)
{
	__u32 n = s->out.bind.nholders;
	int worst = -1;
	__u8 wr = rank;

	if (n < TW_SNAP_HOLDERS)
		return n;
	for (int i = 0; i < TW_SNAP_HOLDERS; i++) {
		if (s->rank[i] > wr) {
			wr = s->rank[i];
			worst = i;
		}
	}
	return worst;
}

static __always_inline void snap_fill(struct snap_walk *w, struct snap_scratch *s,
				      struct tw_holder_rec *h, const struct sock_common *c,
				      __u64 skc, const struct tw_bind_view *v)
{
	struct tw_bind_rec *b = &s->out.bind;
	struct tw_proc *owner;
	__u64 sock, left;

	__builtin_memset(h, 0, sizeof(*h));
	h->hdr.type = TW_REC_HOLDER;
	h->hdr.size = sizeof(*h);
	h->hdr.netns = b->hdr.netns;
	h->hdr.ts_ns = b->hdr.ts_ns;
	h->t.family = v->family;
	h->t.sport = c->skc_num;
	h->t.dport = bpf_ntohs(c->skc_dport);
	__builtin_memcpy(h->t.saddr, v->addr, 16);
	if (v->family == AF_INET6)
		__builtin_memcpy(h->t.daddr, &c->skc_v6_daddr, 16);
	else
		*(__u32 *)h->t.daddr = c->skc_daddr;
	h->cookie = c->skc_cookie.counter;
	h->expires_in_ms = -1;
	h->bound_dev = v->bound_dev;
	h->rcv4 = v->rcv4;
	h->state = v->state;
	h->proto = w->proto;
	h->reuseaddr = v->reuse;
	h->reuseport = v->reuseport;
	h->v6only = v->v6only;
	if (w->tb_bind && w->mode == SNAP_CONNECT_RANGE)
		h->flags |= TW_HOLDER_BIND_PORT;
	if (v->state == TCP_TIME_WAIT) {
		const struct inet_timewait_sock *tw = (const void *)skc;

		h->substate = BPF_CORE_READ(tw, tw_substate);
		left = BPF_CORE_READ(tw, tw_timer.expires) - bpf_jiffies64();
		h->expires_in_ms = (__s64)left > 0 ? (__s64)(left * 1000 / kernel_hz()) : 0;
		return;
	}
	h->uid = v->uid;
	sock = (__u64)BPF_CORE_READ((struct sock *)skc, sk_socket);
	if (!sock)
		h->flags |= TW_HOLDER_ORPHAN;
	else
		h->ino = BPF_CORE_READ((struct socket *)sock, file, f_inode, i_ino);
	if (v->state != TCP_LISTEN || !h->cookie)
		return;
	owner = bpf_map_lookup_elem(&listen_owner, &h->cookie);
	if (owner) {
		h->owner = *owner;
		h->flags |= TW_HOLDER_LISTEN_OWNER;
	}
}

static __always_inline bool snap_conflicts(struct snap_walk *w, struct snap_scratch *s,
					   const struct sock_common *c,
					   const struct tw_bind_view *v)
{
	const struct tw_bind_view *req = &s->req;
	const struct tw_bind_rec *b = &s->out.bind;
	__u8 daddr[TW_ADDR_LEN] = {};

	switch (w->mode) {
	case SNAP_BIND:
	case SNAP_AUTOBIND:
		return tw_rule_bind_conflict(req, v, w->proto, w->mode == SNAP_AUTOBIND,
					     w->rules_61);
	default:
		if (w->mode == SNAP_CONNECT_RANGE && w->tb_bind)
			return true;
		if (v->family == AF_INET6)
			__builtin_memcpy(daddr, &c->skc_v6_daddr, 16);
		else
			*(__u32 *)daddr = c->skc_daddr;
		return tw_rule_tuple(b->family, b->src_addr, b->addr, b->port, v->family, v->addr,
				     daddr, bpf_ntohs(c->skc_dport), v->state);
	}
}

/*
 * Judges the socket at skc (list node at node_off inside it): counted when it conflicts, captured
 * when there is room; returns the next node of its list. A global function, verified once: the
 * rules branch a lot, and a static one would be verified on every path of the walk.
 */
__noinline int snap_sock(struct snap_walk *w, __u64 node, __u32 node_off)
{
	__u32 zero = 0;
	struct snap_scratch *s = bpf_map_lookup_elem(&snap, &zero);
	const struct sock_common *c;
	struct tw_bind_rec *b;
	struct tw_bind_view v;
	__u64 skc = node - node_off;
	__u8 rank;
	int slot;

	if (!w)
		return 0;
	if (!s || bpf_probe_read_kernel(s->skc, bpf_core_type_size(struct sock_common),
					(const void *)skc)) {
		w->owner = 0;
		return 0;
	}
	c = (const void *)s->skc;
	b = &s->out.bind;
	w->owner = (__u64)(w->phase == PH_UDP ? c->skc_node.next : c->skc_bind_node.next);
	if (skc == w->self)
		return 0;
	/* udp_lib_lport_inuse(): a UDP slot mixes ports (udp_port_hash) and netns */
	if (w->phase == PH_UDP &&
	    ((__u64)c->skc_net.net != w->net || c->skc_u16hashes[0] != w->port))
		return 0;
	snap_view(&v, c);
	/* the rules compare owners only between two SO_REUSEPORT sockets */
	if (v.state != TCP_TIME_WAIT && s->req.reuseport && v.reuseport)
		v.uid = snap_uid(skc);
	b->on_port++;
	if (!snap_conflicts(w, s, c, &v))
		return 0;
	w->busy = 1;
	b->holders_total++;
	b->by_state[v.state & 15]++;
	if (v.state == TCP_TIME_WAIT) {
		__u64 left = BPF_CORE_READ((struct inet_timewait_sock *)skc, tw_timer.expires) -
			     bpf_jiffies64();
		__s64 ms = (__s64)left > 0 ? (__s64)(left * 1000 / kernel_hz()) : 0;

		b->tw_noreuse += !v.reuse;
		if (ms > b->tw_last_ms)
			b->tw_last_ms = ms;
	}
	rank = snap_rank(w, v.state);
	slot = snap_slot(s, rank);
	if (slot < 0 || slot >= TW_SNAP_HOLDERS)
		return 0;
	if (v.state != TCP_TIME_WAIT && !v.uid)
		v.uid = snap_uid(skc);
	snap_fill(w, s, &s->out.holders[slot], c, skc, &v);
	s->rank[slot] = rank;
	if ((__u32)slot == b->nholders)
		b->nholders++;
	return 0;
}

static __always_inline bool port_reserved(struct snap_walk *w, __u32 port)
{
	__u32 idx = port / 64 + 1;

	if (!w->reserved)
		return false;
	if (w->resv_idx != idx) {
		w->resv_word = rd64(w->reserved + (idx - 1) * 8);
		w->resv_idx = idx;
	}
	return (w->resv_word >> (port % 64)) & 1;
}

/* Starts the next port: its bhash chain, or its UDP slot. */
static __always_inline long snap_port(struct snap_walk *w)
{
	__u32 zero = 0, port, slot;
	struct snap_scratch *s = bpf_map_lookup_elem(&snap, &zero);
	struct tw_bind_rec *b;

	if (!s)
		return 1;
	b = &s->out.bind;
	if (w->busy)
		b->ports_busy++;
	if (w->busy && w->port_bound)
		b->ports_bound++;
	w->busy = 0;
	w->port_bound = 0;
	if (w->next_port > w->last_port)
		return 1;
	port = w->next_port++;
	if (w->mode == SNAP_AUTOBIND || w->mode == SNAP_CONNECT_RANGE) {
		if (port_reserved(w, port)) {
			b->ports_reserved++;
			return 0;
		}
	}
	w->port = port;
	slot = (port + w->mix) & w->mask;
	if (w->proto == IPPROTO_UDP) {
		w->owner = rd64(w->table + (__u64)slot * bpf_core_type_size(struct udp_hslot) +
				bpf_core_field_offset(struct udp_hslot, head));
		w->phase = PH_UDP;
	} else {
		w->chain = rd64(w->table +
				(__u64)slot * bpf_core_type_size(struct inet_bind_hashbucket) +
				bpf_core_field_offset(struct inet_bind_hashbucket, chain));
		w->phase = PH_CHAIN;
	}
	return 0;
}

/* The next bind bucket of the chain that is this netns's and port's. */
static __always_inline void snap_chain(struct snap_walk *w)
{
	__u64 node = w->chain, tb;
	const struct inet_bind_bucket *b;

	if (!node) {
		w->phase = PH_PORT;
		return;
	}
	tb = node - bpf_core_field_offset(struct inet_bind_bucket, node);
	b = (const void *)tb;
	w->chain = rd64(node);
	if ((__u64)BPF_CORE_READ(b, ib_net.net) != w->net || BPF_CORE_READ(b, port) != w->port)
		return;
	/* inet_bind_bucket_match(): a socket bound to no device is in no VRF (l3mdev 0) */
	if (!w->any_l3mdev && BPF_CORE_READ(b, l3mdev))
		return;
	w->tb_bind = BPF_CORE_READ(b, fastreuse) >= 0 || BPF_CORE_READ(b, fastreuseport) >= 0;
	w->port_bound |= w->tb_bind && w->mode == SNAP_CONNECT_RANGE;
	if (bind_bucket_has_owners()) {
		w->owner = bind_bucket_owners(tb);
		w->phase = PH_OWNERS;
	} else {
		w->tb2 = (__u64)BPF_CORE_READ(b, bhash2.first);
		w->phase = PH_TB2;
	}
}

static long snap_step(__u32 i, void *ctx)
{
	__u32 zero = 0;
	struct snap_walk *w = bpf_map_lookup_elem(&snap_walks, &zero);
	__u64 node;

	if (!w)
		return 1;
	switch (w->phase) {
	case PH_PORT:
		return snap_port(w);
	case PH_CHAIN:
		snap_chain(w);
		return 0;
	case PH_TB2:
		if (bind_bucket_has_owners())
			return 1;
		node = w->tb2;
		if (!node) {
			w->phase = PH_CHAIN;
			return 0;
		}
		w->tb2 = rd64(node);
		w->owner = rd64(node - bpf_core_field_offset(struct inet_bind2_bucket, bhash_node) +
				bpf_core_field_offset(struct inet_bind2_bucket, owners));
		w->phase = PH_OWNERS;
		return 0;
	case PH_OWNERS:
		if (!w->owner) {
			w->phase = bind_bucket_has_owners() ? PH_CHAIN : PH_TB2;
			return 0;
		}
		snap_sock(w, w->owner, bpf_core_field_offset(struct sock_common, skc_bind_node));
		return 0;
	case PH_UDP:
		if (!w->owner) {
			w->phase = PH_PORT;
			return 0;
		}
		snap_sock(w, w->owner, bpf_core_field_offset(struct sock_common, skc_node));
		return 0;
	default:
		return 1;
	}
}

/*
 * Walks the port (or range) of the failure in s->out.bind for sk, which failed with it. The
 * record's call, family, port, addr and range fields are set; the counts and holders are filled.
 */
struct snap_tokens {
	__u64 tokens;
	__u64 at_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snap_tokens);
} snap_budgets SEC(".maps");

/* The steps this CPU may walk now (the budget, refilled for the time since it was used). */
static __always_inline long snap_budget(void)
{
	__u32 zero = 0;
	struct snap_tokens *t = bpf_map_lookup_elem(&snap_budgets, &zero);
	__u64 now = bpf_ktime_get_ns(), dt;

	if (!t)
		return 0;
	dt = now - t->at_ns;
	t->tokens = dt >= 1000000000ULL ? SNAP_BURST : t->tokens + dt * SNAP_RATE / 1000000000ULL;
	if (t->tokens > SNAP_BURST)
		t->tokens = SNAP_BURST;
	t->at_ns = now;
	return t->tokens;
}

static __always_inline void snap_spend(long used)
{
	__u32 zero = 0;
	struct snap_tokens *t = bpf_map_lookup_elem(&snap_budgets, &zero);

	if (t)
		t->tokens = (__u64)used < t->tokens ? t->tokens - used : 0;
}

static __always_inline void snap_take(struct snap_scratch *s, const struct sock *sk, __u8 mode)
{
	struct tw_bind_rec *b = &s->out.bind;
	const struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	__u32 zero = 0;
	struct snap_walk *w = bpf_map_lookup_elem(&snap_walks, &zero);
	long steps, budget, used;

	if (!w)
		return;
	__builtin_memset(w, 0, sizeof(*w));
	w->net = (__u64)net;
	w->self = (__u64)sk;
	w->mode = mode;
	w->proto = b->proto;
	w->mix = BPF_CORE_READ(net, hash_mix);
	w->phase = PH_PORT;
	if (mode == SNAP_AUTOBIND || mode == SNAP_CONNECT_RANGE) {
		w->next_port = b->port_lo;
		w->last_port = b->port_hi;
		w->reserved = (__u64)BPF_CORE_READ(net, ipv4.sysctl_local_reserved_ports);
	} else {
		w->next_port = w->last_port = mode == SNAP_TUPLE ? b->src_port : b->port;
	}
	if (b->proto == IPPROTO_UDP) {
		const struct udp_table *t = udp_table_of(sk, net);

		w->table = (__u64)BPF_CORE_READ(t, hash);
		w->mask = BPF_CORE_READ(t, mask);
	} else {
		const struct inet_hashinfo *h = BPF_CORE_READ(net_death_row(net), hashinfo);

		w->table = (__u64)BPF_CORE_READ(h, bhash);
		w->mask = BPF_CORE_READ(h, bhash_size) - 1;
		w->rules_61 = bind_bucket_has_owners();
	}
	if (!w->table)
		return;
	w->any_l3mdev = b->bound_dev != 0;
	steps = mode == SNAP_AUTOBIND || mode == SNAP_CONNECT_RANGE ? SNAP_STEPS_RANGE
								    : SNAP_STEPS_PORT;
	budget = snap_budget();
	if (budget < SNAP_MIN) {
		b->snap_flags |= TW_SNAP_BUDGET;
		return;
	}
	b->tw_last_ms = -1;
	b->snap_flags |= TW_SNAP_TAKEN | (w->rules_61 ? TW_SNAP_RULES_61 : 0);
	if (steps > budget) {
		steps = budget;
		b->snap_flags |= TW_SNAP_BUDGET;
	}
	used = bpf_loop(steps, snap_step, NULL, 0);
	snap_spend(used);
	if (used >= steps)
		b->snap_flags |= TW_SNAP_PARTIAL;
}

#endif
