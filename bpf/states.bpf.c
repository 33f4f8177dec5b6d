// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TCP state transitions, socket owners, and the TIME_WAIT entries seen from the full socket. */
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

static __always_inline bool same_tuple(const struct tw_tuple *a, const struct tw_tuple *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	/* saddr, daddr and the ports/family word: 5 x 8 bytes */
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* tcp_time_wait() failed to allocate a tw: inet_twsk_alloc() found the table full. */
static __always_inline bool tw_table_full(const struct sock *sk)
{
	struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	int refs = BPF_CORE_READ(net, ipv4.tcp_death_row.tw_refcount.refs.counter);
	int max = BPF_CORE_READ(net, ipv4.tcp_death_row.sysctl_max_tw_buckets);

	return refs - 1 >= max;
}

static __always_inline void emit_tw_enter(struct tw_armed *a, const struct tw_proc *owner)
{
	struct tw_enter_rec *r;

	if (!(cfg.events & TW_EV_TW) || !a->counted || !pid_wanted(owner->pid))
		return;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return;
	hdr_fill(&r->hdr, TW_REC_TW_ENTER, sizeof(*r), a->netns);
	r->hdr.ts_ns = a->ts_ns;
	r->t = a->t;
	r->proc = *owner;
	r->expires_in_ns = a->expires_in_ns;
	r->substate = a->substate;
	r->reuseaddr = a->reuseaddr;
	r->reuseport = a->reuseport;
	r->side = a->side;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	bpf_ringbuf_submit(r, rb_flags());
}

static __always_inline void emit_overflow(const struct tw_tuple *t, __u32 netns,
					  const struct tw_proc *owner)
{
	struct tw_overflow_rec *r;

	if (!(cfg.events & TW_EV_TW) || !tuple_wanted(netns, t->family, t->sport, t->dport) ||
	    !pid_wanted(owner->pid))
		return;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return;
	hdr_fill(&r->hdr, TW_REC_TW_OVERFLOW, sizeof(*r), netns);
	r->t = *t;
	r->proc = *owner;
	bpf_ringbuf_submit(r, rb_flags());
}

/* FIN_WAIT2/CLOSING -> CLOSE: the end of tcp_time_wait(), which armed a tw just before. */
static __always_inline void fin_to_close(const struct sock *sk, const struct tw_tuple *t,
					 __u32 netns, const struct tw_proc *owner)
{
	struct tw_armed *a = armed_take(t, netns);
	struct tw_port_key key;

	if (a) {
		struct tw_live *l = bpf_map_lookup_elem(&live, &a->timer);

		if (l)
			l->proc = *owner;
		emit_tw_enter(a, owner);
		a->timer = 0;
		return;
	}
	/* Without a tw the socket was reset or aborted, unless the table was full. */
	if (!tw_table_full(sk))
		return;
	total_add(TW_TOT_TW_OVERFLOW, 1);
	if (tuple_wanted(netns, t->family, t->sport, t->dport)) {
		port_key_for(&key, t, netns, BPF_CORE_READ(sk, __sk_common.skc_net.net));
		port_count(&key, PORT_OVERFLOW);
	}
	emit_overflow(t, netns, owner);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 skp = (__u64)sk;
	struct tw_proc owner = {};
	struct tw_state_rec *r;
	struct tw_tuple t = {};
	struct tw_proc *known;
	__u32 netns;

	if (sk_protocol_btf(sk) != IPPROTO_TCP)
		return 0;

	if (in_owner_context(oldstate, newstate)) {
		proc_current(&owner);
		bpf_map_update_elem(&owners, &skp, &owner, BPF_ANY);
	} else {
		known = bpf_map_lookup_elem(&owners, &skp);
		if (known)
			owner = *known;
	}

	if (newstate == TCP_LISTEN) {
		struct tw_listen_key lk = { .netns = sk_netns(&sk->__sk_common),
					    .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
		__u8 one = 1;

		bpf_map_update_elem(&listen_ports, &lk, &one, BPF_ANY);
	}

	if (newstate == TCP_CLOSE && (oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING)) {
		tuple_from_sk(&t, sk);
		netns = sk_netns(&sk->__sk_common);
		fin_to_close(sk, &t, netns, &owner);
	} else if (cfg.events & TW_EV_STATE) {
		tuple_from_sk(&t, sk);
		netns = sk_netns(&sk->__sk_common);
	} else {
		goto out;
	}

	if (!(cfg.events & TW_EV_STATE))
		goto out;
	total_add(TW_TOT_STATE_EVENTS, 1);
	if (!tuple_wanted(netns, t.family, t.sport, t.dport) || !pid_wanted(owner.pid))
		goto out;
	r = rb_reserve(sizeof(*r));
	if (!r)
		goto out;
	hdr_fill(&r->hdr, TW_REC_STATE, sizeof(*r), netns);
	r->t = t;
	r->proc = owner;
	r->oldstate = oldstate;
	r->newstate = newstate;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	bpf_ringbuf_submit(r, rb_flags());
out:
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&owners, &skp);
	return 0;
}

/* accept() hands a socket created in softirq to its owner: remember who that is. */
static __always_inline int accepted(long ret)
{
	struct tw_proc owner = {};
	struct sock *sk = sock_from_fd(ret);
	__u64 skp = (__u64)sk;

	if (!sk)
		return 0;
	proc_current(&owner);
	bpf_map_update_elem(&owners, &skp, &owner, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
