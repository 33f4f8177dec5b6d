// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket table walks, run on demand by user space: iter/tcp and iter/udp list the sockets on a
 * port (or toward a destination) as tw_holder_rec, iter/task_file names the processes that
 * own them, and the seed pass of iter/tcp adds the TIME_WAITs that exist at start to the live
 * map. iter/tcp and iter/udp only see the netns of the process that creates the iterator.
 */
#include "timewait.bpf.h"

#define TCP_TIMEWAIT_LEN_S 60

struct tw_iter_args iter_args = {};

static __always_inline bool iter_match(const struct tw_tuple *t)
{
	const __u64 *a = (const __u64 *)t->daddr, *b = (const __u64 *)iter_args.daddr;

	if (iter_args.port && t->sport != iter_args.port)
		return false;
	if (iter_args.dport && t->dport != iter_args.dport)
		return false;
	if (iter_args.dfamily && (t->family != iter_args.dfamily || a[0] != b[0] || a[1] != b[1]))
		return false;
	return true;
}

static __always_inline __u64 sock_ino(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline __s64 jiffies_left_ms(unsigned long expires)
{
	__s64 left = (__s64)(expires - bpf_jiffies64());
	return left > 0 ? (__s64)((__u64)left * 1000 / kernel_hz()) : 0;
}

/* Start-up seeding: one pass sees listeners first (listening hash), then TIME_WAITs. */
static __always_inline void seed(struct sock_common *skc, struct tw_tuple *t, __u32 netns,
				 __u32 uid)
{
	struct tcp_timewait_sock *ttw;
	struct inet_timewait_sock *tw;
	struct tw_proc owner = {};
	struct tw_live *l;
	__u64 timer;
	__u32 at;
	__s64 left_ms, life_ms;

	if (skc->skc_state == TCP_LISTEN) {
		struct tw_listen_key lk = { .netns = netns, .port = t->sport };
		struct tw_listener unknown = { .owner.uid = uid, .slot = TW_NO_SLOT };

		/* the owner is named later, when a failure or a TIME_WAIT needs it */
		bpf_map_update_elem(&listen_ports, &lk, &unknown, BPF_NOEXIST);
		return;
	}
	if (skc->skc_state != TCP_TIME_WAIT)
		return;
	ttw = bpf_skc_to_tcp_timewait_sock(skc);
	if (!ttw)
		return;
	tw = &ttw->tw_sk;
	/* an unarmed timer is already expiring: its cancel has been seen or is being missed */
	if (!tw->tw_timer.entry.pprev)
		return;
	timer = ptr_value(&tw->tw_timer);
	if (live_find(timer, &at))
		return; /* tracked already: armed after the programs were attached */
	l = live_insert(timer);
	if (!l)
		return;
	left_ms = jiffies_left_ms(tw->tw_timer.expires);
	life_ms = tw->tw_substate == TCP_TIME_WAIT
			  ? TCP_TIMEWAIT_LEN_S * 1000
			  : (__s64)((__u64)(__u32)BPF_CORE_READ(tw, __tw_common.skc_net.net,
								ipv4.sysctl_tcp_fin_timeout) *
				    1000 / kernel_hz());
	l->enter_jiffies =
		bpf_jiffies64() -
		(life_ms > left_ms ? (__u64)(life_ms - left_ms) * kernel_hz() / 1000 : 0);
	l->flags = TW_F_SEEDED;
	live_set_tuple(l, t);
	l->netns = netns;
	l->pid = 0;
	l->slot = TW_NO_SLOT;
	l->wanted = tuple_wanted(netns, t->family, t->sport, t->dport);
	total_add(TW_TOT_TW_SEEDED, 1);
	if (!l->wanted)
		return;
	l->slot = tuple_slot(t, netns, BPF_CORE_READ(skc, skc_net.net), &l->side, &owner);
	l->pid = owner.pid;
	port_count(l->slot, PORT_SEED);
}

static __always_inline void holder_fill(struct tw_holder_rec *r, struct sock_common *skc, __u32 uid)
{
	r->hdr.type = TW_REC_HOLDER;
	r->hdr.size = sizeof(*r);
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->expires_in_ms = -1;
	r->uid = uid;
	r->bound_dev = BPF_CORE_READ(skc, skc_bound_dev_if);
	r->reuseaddr = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuse) != 0;
	r->reuseport = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuseport);
	r->v6only = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_ipv6only);
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tw_holder_rec r = {};
	struct tcp_timewait_sock *ttw;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tuple_direct(&r.t, skc);
	r.hdr.netns = sk_netns(skc);
	if (iter_args.want_tw_seed) {
		seed(skc, &r.t, r.hdr.netns, ctx->uid);
		return 0;
	}
	if (!iter_match(&r.t) || skc->skc_state == TCP_NEW_SYN_RECV)
		return 0;
	holder_fill(&r, skc, ctx->uid);
	r.state = skc->skc_state;
	r.proto = IPPROTO_TCP;
	if (r.state == TCP_TIME_WAIT) {
		ttw = bpf_skc_to_tcp_timewait_sock(skc);
		if (ttw) {
			r.expires_in_ms = jiffies_left_ms(ttw->tw_sk.tw_timer.expires);
			r.substate = ttw->tw_sk.tw_substate;
		}
	} else {
		tp = bpf_skc_to_tcp_sock(skc);
		if (tp)
			r.ino = sock_ino(&tp->inet_conn.icsk_inet.sk);
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/udp")
int iter_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	struct tw_holder_rec r = {};
	struct sock_common *skc;

	if (!udp)
		return 0;
	skc = &udp->inet.sk.__sk_common;
	tuple_direct(&r.t, skc);
	r.hdr.netns = sk_netns(skc);
	if (!iter_match(&r.t))
		return 0;
	holder_fill(&r, skc, ctx->uid);
	r.state = TCP_CLOSE;
	r.proto = IPPROTO_UDP;
	r.ino = sock_ino(&udp->inet.sk);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/*
 * Names the owners: every socket file whose socket is in the asked netns and on the port. A TCP
 * socket that is only bound (TCP_CLOSE with a port) is in no table iter/tcp walks, so it is
 * reported here as a holder too.
 */
SEC("iter/task_file")
int iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tw_holder_rec h = {};
	struct tw_owner_rec r = {};
	struct socket *sock;
	struct sock *sk;

	if (!task || !file)
		return 0;
	/* one record per process: threads share the file table */
	if (task->pid != task->tgid)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	h.hdr.netns = sk_netns(&sk->__sk_common);
	if (iter_args.netns && h.hdr.netns != iter_args.netns)
		return 0;
	tuple_direct(&h.t, &sk->__sk_common);
	if (!iter_match(&h.t))
		return 0;
	r.hdr.type = TW_REC_OWNER;
	r.hdr.size = sizeof(r);
	r.hdr.netns = h.hdr.netns;
	r.ino = file->f_inode->i_ino;
	r.pid = task->tgid;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->comm);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));

	if (sk->__sk_common.skc_state != TCP_CLOSE || !h.t.sport ||
	    sk_protocol(sk) != IPPROTO_TCP || iter_args.proto != IPPROTO_TCP)
		return 0;
	holder_fill(&h, &sk->__sk_common, BPF_CORE_READ(sk, sk_uid.val));
	h.state = TCP_CLOSE;
	h.proto = IPPROTO_TCP;
	h.ino = r.ino;
	bpf_seq_write(ctx->meta->seq, &h, sizeof(h));
	return 0;
}
