/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TIME_WAIT tracking state shared by timewait.bpf.c, states.bpf.c and iter.bpf.c. */
#ifndef TWSCOPE_TIMEWAIT_BPF_H
#define TWSCOPE_TIMEWAIT_BPF_H

#include "twscope.bpf.h"

#define TW_ARMED_SLOTS 4

/* Live TIME_WAIT sockets keyed by timer address; no preallocation, memory follows the count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct tw_live);
} live SEC(".maps") __weak;

/* A tw armed by tcp_time_wait(), waiting for the FIN_WAIT2/CLOSING -> CLOSE that follows. */
struct tw_armed {
	__u64 timer;
	__u64 ts_ns;
	__u64 expires_in_ns;
	struct tw_tuple t;
	__u32 netns;
	__u8 substate;
	__u8 reuseaddr;
	__u8 reuseport;
	__u8 side;
	__u8 counted;
	__u8 pad[7];
};

/* A few slots, because local_bh_enable() in tcp_time_wait() may run softirqs in between. */
struct tw_armed_ring {
	struct tw_armed slot[TW_ARMED_SLOTS];
	__u32 head;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_armed_ring);
} armed SEC(".maps") __weak;

enum port_field {
	PORT_ENTER,
	PORT_SEED,
	PORT_EXPIRED,
	PORT_KILLED,
	PORT_OVERFLOW,
	PORT_BIND_ERR,
};

static __always_inline struct tw_armed *armed_take(const struct tw_tuple *t, __u32 netns)
{
	__u32 zero = 0;
	struct tw_armed_ring *ring = bpf_map_lookup_elem(&armed, &zero);
	const __u64 *y = (const __u64 *)t;

	if (!ring)
		return NULL;
#pragma unroll
	for (int i = 0; i < TW_ARMED_SLOTS; i++) {
		struct tw_armed *a = &ring->slot[i];
		const __u64 *x = (const __u64 *)&a->t;

		if (a->timer && a->netns == netns && x[0] == y[0] && x[1] == y[1] &&
		    x[2] == y[2] && x[3] == y[3] && x[4] == y[4])
			return a;
	}
	return NULL;
}

static __always_inline struct tw_armed *armed_slot(void)
{
	__u32 zero = 0;
	struct tw_armed_ring *ring = bpf_map_lookup_elem(&armed, &zero);

	if (!ring)
		return NULL;
	return &ring->slot[ring->head++ & (TW_ARMED_SLOTS - 1)];
}

static __always_inline bool port_has_listener(__u32 netns, __u16 port)
{
	struct tw_listen_key lk = { .netns = netns, .port = port };

	return bpf_map_lookup_elem(&listen_ports, &lk) != NULL;
}

/*
 * side local: the local port is served here (has or had a listener), or, when no listener was
 * seen, a fixed port talking to an ephemeral one; side remote: keyed by the destination.
 */
static __always_inline void port_key_for(struct tw_port_key *k, const struct tw_tuple *t,
					 __u32 netns, const struct net *net)
{
	__u16 lo, hi;
	bool local = port_has_listener(netns, t->sport);

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

/* Reads what the tw carries: tuple, netns, substate and the reuse bits copied from its socket. */
static __always_inline void tw_read(const struct inet_timewait_sock *tw, struct tw_tuple *t,
				    __u32 *netns, __u8 *substate, __u8 *reuse, __u8 *reuseport)
{
	const struct sock_common *skc = &tw->__tw_common;

	tuple_from_skc(t, skc);
	*netns = sk_netns(skc);
	*substate = BPF_CORE_READ(tw, tw_substate);
	*reuse = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuse) != 0;
	*reuseport = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuseport);
}

#endif
