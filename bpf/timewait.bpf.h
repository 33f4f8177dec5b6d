/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TIME_WAIT tracking state shared by timewait.bpf.c, states.bpf.c and iter.bpf.c. */
#ifndef TWSCOPE_TIMEWAIT_BPF_H
#define TWSCOPE_TIMEWAIT_BPF_H

#include "twscope.bpf.h"

#define TW_ARMED_SLOTS 4

/* Live TIME_WAIT sockets keyed by timer address; no preallocation, memory follows the count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__uint(map_flags, 0);
	__type(key, __u64);
	__type(value, struct tw_live);
} live SEC(".maps") __weak;

/*
 * A tw armed by tcp_time_wait() (timer_start), waiting for the full socket's FIN_WAIT2/CLOSING
 * -> CLOSE in tcp_done() right after. A per-CPU stack: local_bh_enable() inside
 * tcp_time_wait() may run softirqs that arm and close other sockets in between, properly nested.
 */
struct tw_armed {
	__u64 timer;
	__u64 expires_in_ns;
	__u32 hash; /* sk_hash, copied into the tw by inet_twsk_alloc() */
	__u8 substate;
	__u8 pad[3];
};

struct tw_armed_stack {
	struct tw_armed slot[TW_ARMED_SLOTS];
	__u32 depth;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_armed_stack);
} armed SEC(".maps") __weak;

enum port_field {
	PORT_ENTER,
	PORT_SEED,
	PORT_EXPIRED,
	PORT_KILLED,
	PORT_OVERFLOW,
	PORT_BIND_ERR,
};

static __always_inline void armed_push(__u64 timer, __u32 hash, __u8 substate, __u64 expires_ns)
{
	__u32 zero = 0, i;
	struct tw_armed_stack *st = bpf_map_lookup_elem(&armed, &zero);

	if (!st)
		return;
	/* a full stack only holds entries no close will take any more: reuse the top */
	i = st->depth < TW_ARMED_SLOTS ? st->depth : TW_ARMED_SLOTS - 1;
	st->slot[i].timer = timer;
	st->slot[i].hash = hash;
	st->slot[i].substate = substate;
	st->slot[i].expires_in_ns = expires_ns;
	st->depth = i + 1;
}

/* Takes the entry armed for the socket with this hash, dropping stale ones above it. */
static __always_inline bool armed_pop(__u32 hash, struct tw_armed *out)
{
	__u32 zero = 0;
	struct tw_armed_stack *st = bpf_map_lookup_elem(&armed, &zero);

	if (!st)
		return false;
#pragma unroll
	for (int i = TW_ARMED_SLOTS - 1; i >= 0; i--) {
		if ((__u32)i >= st->depth || st->slot[i].hash != hash || !st->slot[i].timer)
			continue;
		*out = st->slot[i];
		st->slot[i].timer = 0;
		st->depth = i;
		return true;
	}
	return false;
}

/* The listener's owner for a (netns, port) that has or had one, or NULL. */
static __always_inline struct tw_proc *port_listener(__u32 netns, __u16 port)
{
	struct tw_listen_key lk = { .netns = netns, .port = port };

	return bpf_map_lookup_elem(&listen_ports, &lk);
}

/*
 * side local: the local port is served here (has or had a listener), or, when no listener was
 * seen, a fixed port talking to an ephemeral one; side remote: keyed by the destination.
 */
static __always_inline void port_key_for(struct tw_port_key *k, const struct tw_tuple *t,
					 __u32 netns, const struct net *net)
{
	__u16 lo, hi;
	bool local = port_listener(netns, t->sport) != NULL;

	if (!local) {
		net_local_port_range(net, &lo, &hi);
		local = (t->sport < lo || t->sport > hi) && t->dport >= lo && t->dport <= hi;
	}
	__builtin_memset(k, 0, sizeof(*k));
	k->netns = netns;
	k->family = t->family;
	if (local) {
		k->side = TW_SIDE_LOCAL;
		k->port = t->sport;
	} else {
		k->side = TW_SIDE_REMOTE;
		k->port = t->dport;
		__builtin_memcpy(k->addr, t->daddr, TW_ADDR_LEN);
	}
}

static __always_inline struct tw_port_val *port_val(const struct tw_port_key *k)
{
	struct tw_port_val *v = bpf_map_lookup_elem(&ports, k);
	struct tw_port_val zero = {};

	if (v)
		return v;
	bpf_map_update_elem(&ports, k, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&ports, k);
	if (!v)
		total_add(TW_TOT_PORTS_FULL, 1);
	return v;
}

static __always_inline void peak_raise(__u64 *peak, __u64 now)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u64 old = *peak;

		if (now <= old || __sync_val_compare_and_swap(peak, old, now) == old)
			return;
	}
}

static __always_inline void port_count(const struct tw_port_key *k, enum port_field what)
{
	struct tw_port_val *v = port_val(k);
	__s64 now;

	if (!v)
		return;
	switch (what) {
	case PORT_ENTER:
	case PORT_SEED:
		now = __sync_add_and_fetch(&v->tw, 1);
		if (what == PORT_ENTER)
			__sync_fetch_and_add(&v->entered, 1);
		if (now > 0)
			peak_raise(&v->tw_peak, now);
		break;
	case PORT_EXPIRED:
		__sync_fetch_and_sub(&v->tw, 1);
		__sync_fetch_and_add(&v->expired, 1);
		break;
	case PORT_KILLED:
		__sync_fetch_and_sub(&v->tw, 1);
		__sync_fetch_and_add(&v->killed, 1);
		break;
	case PORT_OVERFLOW:
		__sync_fetch_and_add(&v->overflow, 1);
		break;
	case PORT_BIND_ERR:
		__sync_fetch_and_add(&v->bind_errors, 1);
		break;
	}
}

static __always_inline struct inet_timewait_sock *tw_of_timer(const struct timer_list *timer)
{
	/* container_of through a scalar: the verifier refuses negative offsets on BTF pointers */
	return (struct inet_timewait_sock *)((__u64)timer -
					     bpf_core_field_offset(struct inet_timewait_sock,
								   tw_timer));
}

#endif
