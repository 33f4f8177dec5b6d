// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP state transitions (tp_btf/inet_sock_set_state), socket owners, listeners, and the end of
 * tcp_time_wait(): it arms the tw timer (timewait.bpf.c) and then tcp_done() moves the socket
 * FIN_WAIT2/CLOSING -> CLOSE; that close without an arm is a full tw table (an overflow).
 * Every socket on its way to a tw passes -> FIN_WAIT1 here first: its cookie is made then, so
 * each tw carries one (timewait.bpf.c tells a re-arm from a new tw at a reused address by it).
 */
#include "twscope.bpf.h"
#include "timewait.bpf.h"

const volatile struct tw_config cfg = {};

/* Transitions that only happen inside a syscall of the socket's owner (connect, listen, close). */
static __always_inline bool in_owner_context(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_SYN_SENT:
	case TCP_LISTEN:
		return oldstate == TCP_CLOSE;
	case TCP_FIN_WAIT1:
		return oldstate == TCP_ESTABLISHED || oldstate == TCP_SYN_RECV;
	case TCP_LAST_ACK:
		return oldstate == TCP_CLOSE_WAIT;
	case TCP_CLOSE:
		return oldstate == TCP_LISTEN;
	default:
		return false;
	}
}

/*
 * The socket's owner: named by its own syscalls (connect, listen, close), else, for a socket of
 * a port served here (an accepted one), the server's.
 */
static __always_inline const struct tw_proc *owner_of(const struct sock *sk, int oldstate,
						      int newstate, __u64 ns_cookie, __u16 sport)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct owner_slot *o = owner_slot(cookie);
	struct tw_listener *lsn;

	if (!o)
		return NULL;
	if (in_owner_context(oldstate, newstate)) {
		if (o->cookie != cookie || o->owner.pid != bpf_get_current_pid_tgid() >> 32) {
			o->cookie = cookie;
			proc_current(&o->owner);
		}
		return &o->owner;
	}
	if (o->cookie == cookie)
		return &o->owner;
	lsn = port_listener(ns_cookie, sport);
	return lsn ? &lsn->owner : NULL;
}

/* The 4-tuple of a full socket through direct BTF loads. */
static __always_inline void tuple_btf(struct tw_tuple *t, const struct sock *sk)
{
	tuple_direct(t, &sk->__sk_common);
	/* tcp_set_state(TCP_CLOSE) zeroes skc_num before the tracepoint: inet_sport still has it */
	if (!t->sport)
		t->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

/* The tw table is as full as inet_twsk_alloc() refuses it. */
static __always_inline bool tw_table_full(const struct sock *sk)
{
	const struct inet_timewait_death_row *dr = net_death_row(sk->__sk_common.skc_net.net);
	int refs = BPF_CORE_READ(dr, tw_refcount.refs.counter);
	int max = BPF_CORE_READ(dr, sysctl_max_tw_buckets);

	return refs - 1 >= max;
}

/* This CPU armed a tw for the socket just before (timewait.bpf.c recent_arm()). */
static __always_inline bool armed_just_before(__u32 hash)
{
	__u32 zero = 0;
	struct tw_recent *r = bpf_map_lookup_elem(&recent_arms, &zero);

	if (!r)
		return false;
#pragma unroll
	for (int i = 0; i < TW_RECENT_ARMS; i++) {
		if (r->hash[i] == hash) {
			r->hash[i] = 0;
			return true;
		}
	}
	return false;
}

static __always_inline void emit_overflow(const struct tw_tuple *t, __u32 netns,
					  const struct tw_proc *owner)
{
	struct tw_overflow_rec *r;

	if (!(cfg.events & TW_EV_TW) || !pid_wanted(owner->pid))
		return;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return;
	hdr_fill(&r->hdr, TW_REC_TW_OVERFLOW, sizeof(*r), netns);
	r->t = *t;
	r->proc = *owner;
	rb_submit(r, false);
}

/*
 * FIN_WAIT2/CLOSING -> CLOSE: the end of tcp_time_wait(), which armed a tw just before (counted
 * then), or found the tw table full.
 */
static __always_inline void fin_to_close(const struct sock *sk, const struct tw_proc *known)
{
	const struct net *net = sk->__sk_common.skc_net.net;
	struct tw_proc listener = {};
	struct tw_tuple t = {};
	__u32 netns, slot;
	__u8 side;

	/* without a tw the socket was reset or aborted, unless the table was full; the arm first:
	 * the table's count is a line every CPU writes, a miss per connection when read */
	if (armed_just_before(sk->__sk_common.skc_hash) || !tw_table_full(sk))
		return;
	total_add(TW_TOT_TW_OVERFLOW, 1);
	netns = net->ns.inum;
	tuple_btf(&t, sk);
	if (!tuple_wanted(netns, t.family, t.sport, t.dport))
		return;
	slot = tuple_slot(&t, netns, net->net_cookie, net, &side, &listener);
	port_count(slot, PORT_OVERFLOW);
	emit_overflow(&t, netns, known && known->pid ? known : &listener);
}

static __always_inline int set_state(const struct sock *sk, const int oldstate, const int newstate)
{
	const struct tw_proc *known = NULL;
	struct tw_proc none = {};
	struct tw_state_rec *r;
	struct tw_tuple t = {};
	bool tw_close =
		newstate == TCP_CLOSE && (oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING);
	__u64 cookie;
	__u32 netns;

	/* without owners or state events, only listens, active closes and the closes after a tw
	 * arm matter */
	if (!owners_tracked() && newstate != TCP_LISTEN && newstate != TCP_FIN_WAIT1 && !tw_close)
		return 0;
	if (sk_protocol_btf(sk) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_FIN_WAIT1 && !owners_tracked()) {
		bpf_get_socket_cookie((void *)sk); /* made once, then copied into its tw */
		return 0;
	}
	netns = sk->__sk_common.skc_net.net->ns.inum;
	cookie = sk->__sk_common.skc_net.net->net_cookie;
	/* owners cost a lookup per transition: only when events or --pid need them */
	if (owners_tracked()) {
		tuple_btf(&t, sk);
		known = owner_of(sk, oldstate, newstate, cookie, t.sport);
	}

	if (newstate == TCP_LISTEN) {
		struct tw_listen_key lk = { .netns_cookie = cookie,
					    .port = sk->__sk_common.skc_num };
		struct tw_listener *lsn = bpf_map_lookup_elem(&listen_ports, &lk), fresh = {};

		__u64 sk_cookie = bpf_get_socket_cookie((void *)sk);

		/* a port listened on again keeps its counter slot; the owner is the newest */
		if (lsn) {
			proc_current(&lsn->owner);
		} else {
			proc_current(&fresh.owner);
			fresh.slot = TW_NO_SLOT;
			bpf_map_update_elem(&listen_ports, &lk, &fresh, BPF_NOEXIST);
		}
		bpf_map_update_elem(&listen_owner, &sk_cookie, lsn ? &lsn->owner : &fresh.owner, 0);
	} else if (tw_close) {
		fin_to_close(sk, known);
	}

	if (!(cfg.events & TW_EV_STATE))
		return 0;
	total_add(TW_TOT_STATE_EVENTS, 1);
	if (!known)
		known = &none;
	if (!tuple_wanted(netns, t.family, t.sport, t.dport) || !pid_wanted(known->pid))
		return 0;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return 0;
	hdr_fill(&r->hdr, TW_REC_STATE, sizeof(*r), netns);
	r->t = t;
	r->proc = *known;
	r->oldstate = oldstate;
	r->newstate = newstate;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	rb_submit(r, false);
	return 0;
}

/* This CPU is inside handle_set_state. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} in_set_state SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 zero = 0, *busy;

	if (cfg.hooks_only)
		return 0;
	/* the flag is for the second program, loaded only with owner tracking */
	if (!owners_tracked())
		return set_state(sk, oldstate, newstate);
	busy = bpf_map_lookup_elem(&in_set_state, &zero);
	if (!busy)
		return 0;
	*busy = 1;
	set_state(sk, oldstate, newstate);
	*busy = 0;
	return 0;
}

/*
 * The kernel skips a program already running on this CPU (__bpf_trace_run()'s prog->active;
 * Debian's 6.1 has it too): a softirq that interrupts handle_set_state (a hardirq's exit runs
 * them) would lose its transitions. This second attachment handles exactly those; it is loaded
 * only with owner tracking (state events, --pid): without it a skipped transition loses at most
 * an overflow event, and the transitions that name owners or make cookies run in syscalls,
 * never nested.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state_nested, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 zero = 0, *busy;

	if (cfg.hooks_only)
		return 0;
	busy = bpf_map_lookup_elem(&in_set_state, &zero);
	if (busy && *busy)
		set_state(sk, oldstate, newstate);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
