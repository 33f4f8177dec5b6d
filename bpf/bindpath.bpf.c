// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Failed bind/listen/connect (and the implicit connect of sendto(MSG_FASTOPEN)) with EADDRINUSE
 * or EADDRNOTAVAIL, from the syscall exit tracepoints. The arguments are read back from the
 * task's saved user registers at exit, so a successful call costs one comparison. A failed bind
 * leaves the socket's port at 0: the requested sockaddr is read from user memory. Before the
 * call returns, the holders of the port are taken from the kernel's tables (bindsnap.bpf.h) and
 * sent with the failure as one ring record.
 */
#include "bindsnap.bpf.h"

#define MSG_FASTOPEN 0x20000000

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_BIND_ERR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} bind_errs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_bind_rec);
} bind_build SEC(".maps");

struct sockaddr_in6_min {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u8 addr[16];
};

/* The socket's own bound address in tw_tuple form (IPv4 in the first 4 bytes). */
static __always_inline void sk_bound_addr(const struct sock *sk, __u16 family, __u8 *addr)
{
	if (family == AF_INET6)
		bpf_core_read(addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	else
		bpf_core_read(addr, 4, &sk->__sk_common.skc_rcv_saddr);
}

static __always_inline void count_bind_error(struct tw_bind_rec *r, __u64 cookie, bool wanted)
{
	struct tw_port_key key = {};
	__u32 slot = r->call * 2 + (r->err == EADDRNOTAVAIL);
	__u64 *v = bpf_map_lookup_elem(&bind_errs, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	total_add(TW_TOT_BIND_ERRORS, 1);
	if (!wanted)
		return;
	if (r->call == TW_CALL_CONNECT) {
		key.netns_cookie = cookie;
		key.netns = r->hdr.netns;
		key.port = r->port;
		key.side = TW_SIDE_REMOTE;
		key.family = r->family;
		__builtin_memcpy(key.addr, r->addr, TW_ADDR_LEN);
	} else {
		local_key(&key, cookie, r->hdr.netns, r->port);
	}
	port_count(slot_for(&key), PORT_BIND_ERR);
}

/* The requested address and port of a bind, or the destination of a connect; false if unreadable.
 */
static __always_inline bool read_sockaddr(struct tw_bind_rec *r, __u64 uaddr, int alen)
{
	struct sockaddr_in6_min sa = {};

	if (!uaddr)
		return false;
	/* without the length (sendto's sixth argument), try the IPv6 size, then the IPv4 one */
	if (alen < 0 || alen >= (int)sizeof(sa)) {
		if (bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr) &&
		    bpf_probe_read_user(&sa, 8, (void *)uaddr))
			return false;
	} else if (alen < 8 || bpf_probe_read_user(&sa, 8, (void *)uaddr)) {
		return false;
	}
	r->port = bpf_ntohs(sa.port);
	if (sa.family == AF_INET6 && (alen < 0 || alen >= (int)sizeof(sa)))
		__builtin_memcpy(r->addr, sa.addr, 16);
	else if (sa.family == AF_INET)
		/* sin_addr sits where flowinfo is */
		__builtin_memcpy(r->addr, &sa.flowinfo, 4);
	else
		return false;
	return true;
}

/* The ephemeral range that applied: the netns's, narrowed by the socket's IP_LOCAL_PORT_RANGE. */
static __always_inline void port_range(struct tw_bind_rec *r, const struct sock *sk,
				       const struct net *net)
{
	__u32 own = sock_port_range(sk);
	__u16 lo, hi, own_lo = own & 0xffff, own_hi = own >> 16;

	net_local_port_range(net, &r->sys_lo, &r->sys_hi);
	lo = r->sys_lo;
	hi = r->sys_hi;
	/* inet_sk_get_local_port_range(): each bound applies only inside the netns's range */
	if (own) {
		if (lo <= own_lo && own_lo <= hi)
			lo = own_lo;
		if (lo <= own_hi && own_hi <= hi)
			hi = own_hi;
		if (lo != r->sys_lo || hi != r->sys_hi)
			r->snap_flags |= TW_SNAP_SOCK_RANGE;
	}
	r->port_lo = lo;
	r->port_hi = hi;
}

/* Which walk explains the failure, or -1 when no table is involved. */
static __always_inline int snap_mode_of(const struct tw_bind_rec *r)
{
	if (r->call == TW_CALL_CONNECT) {
		if (r->proto != IPPROTO_TCP)
			return -1;
		return r->src_port ? SNAP_TUPLE : SNAP_CONNECT_RANGE;
	}
	/* a bind to an address this netns does not have is not a conflict */
	if (r->err != EADDRINUSE)
		return -1;
	return r->port ? SNAP_BIND : SNAP_AUTOBIND;
}

/* The failing socket as the rules saw it during the check (tw_rule_view_bind()). */
static __always_inline void req_view(struct snap_scratch *s, const struct sock *sk)
{
	const struct tw_bind_rec *r = &s->out.bind;
	struct tw_bind_view *v = &s->req;

	tw_rule_view_bind(v, r->family, r->addr, r->v6only);
	if (r->call == TW_CALL_LISTEN) {
		/* bound already: what the kernel stored, v6only included */
		v->rcv4 = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		v->v6only = r->v6only;
	}
	v->state = r->call == TW_CALL_LISTEN ? TCP_LISTEN : TCP_CLOSE;
	v->reuse = r->reuseaddr;
	v->reuseport = r->reuseport;
	v->bound_dev = r->bound_dev;
	v->uid = r->sk_uid;
}

static __always_inline void emit(const struct sock *sk, const struct tw_bind_rec *r)
{
	__u32 zero = 0, n;
	struct snap_scratch *s = bpf_map_lookup_elem(&snap, &zero);
	int mode = snap_mode_of(r);

	if (!s)
		return;
	/* a task preempted in its walk on this CPU holds the scratch: send the failure bare */
	if (__sync_val_compare_and_swap(&s->busy, 0, 1) != 0) {
		struct tw_bind_rec *out = rb_reserve(sizeof(*out));

		if (!out)
			return;
		*out = *r;
		out->snap_flags |= TW_SNAP_SKIPPED;
		rb_submit(out, true);
		return;
	}
	s->out.bind = *r;
	if (mode >= 0) {
		req_view(s, sk);
		snap_take(s, sk, mode);
	}
	n = s->out.bind.nholders;
	if (n > TW_SNAP_HOLDERS)
		n = TW_SNAP_HOLDERS;
	s->out.bind.nholders = n;
	s->out.bind.hdr.size = sizeof(struct tw_bind_rec) + n * sizeof(struct tw_holder_rec);
	rb_output(&s->out, sizeof(struct tw_bind_rec) + n * sizeof(struct tw_holder_rec));
	s->busy = 0;
}

enum exit_via { VIA_CALL, VIA_SENDTO, VIA_SENDMSG };

/* The user msghdr's first fields: the destination of sendmsg(). */
struct msghdr_min {
	__u64 name;
	__s32 namelen;
	__s32 pad;
};

static __always_inline int on_exit(long ret, __u8 call, enum exit_via via)
{
	struct task_struct *task;
	__u32 zero = 0;
	struct tw_bind_rec *r;
	struct pt_regs *regs;
	const struct sock *sk;
	const struct net *net;
	__u64 uaddr;
	long fd;
	int alen;
	bool wanted;

	if (cfg.hooks_only)
		return 0;
	/* built in a per-CPU map, not on the stack: 6.1 caps the stack of this program, the walk's
	 * callback and its subprogram at 512 bytes together */
	r = bpf_map_lookup_elem(&bind_build, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (via == VIA_SENDTO) {
		if (!(PT_REGS_PARM4_CORE_SYSCALL(regs) & MSG_FASTOPEN))
			return 0;
		uaddr = PT_REGS_PARM5_CORE_SYSCALL(regs);
		alen = -1;
	} else if (via == VIA_SENDMSG) {
		struct msghdr_min m = {};

		if (!(PT_REGS_PARM3_CORE_SYSCALL(regs) & MSG_FASTOPEN) ||
		    bpf_probe_read_user(&m, sizeof(m), (void *)PT_REGS_PARM2_CORE_SYSCALL(regs)))
			return 0;
		uaddr = m.name;
		alen = m.namelen;
	} else {
		uaddr = PT_REGS_PARM2_CORE_SYSCALL(regs);
		alen = PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	sk = sock_from_fd(fd);
	if (!sk)
		return 0;
	r->proto = sk_protocol(sk);
	if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
		return 0;

	r->call = call;
	r->err = -ret;
	r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->hdr.netns = sk_netns(&sk->__sk_common);
	r->reuseaddr = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse) != 0;
	r->reuseport = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport);
	r->v6only = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_ipv6only);
	r->bound_dev = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	r->sk_uid = BPF_CORE_READ(sk, sk_uid.val);
	r->inet_flags = inet_sock_bind_flags(sk);
	if (via != VIA_CALL)
		r->snap_flags = TW_SNAP_FASTOPEN;
	net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	port_range(r, sk, net);
	r->tw_reuse = BPF_CORE_READ(net, ipv4.sysctl_tcp_tw_reuse);

	if (call == TW_CALL_LISTEN) {
		/* listen() re-checks the port the socket already holds (inet_csk_listen_start) */
		r->port = BPF_CORE_READ(sk, __sk_common.skc_num);
		sk_bound_addr(sk, r->family, r->addr);
	} else {
		if (!read_sockaddr(r, uaddr, alen))
			return 0;
		if (call == TW_CALL_CONNECT) {
			r->src_port = BPF_CORE_READ(sk, __sk_common.skc_num);
			sk_bound_addr(sk, r->family, r->src_addr);
		}
	}

	wanted = tuple_wanted(r->hdr.netns, r->family, r->port, 0);
	count_bind_error(r, net_cookie(net), wanted);
	if (!wanted || !(cfg.events & TW_EV_BIND) || !pid_wanted(bpf_get_current_pid_tgid() >> 32))
		return 0;
	proc_current(&r->proc);
	hdr_fill(&r->hdr, TW_REC_BIND_ERR, sizeof(*r), r->hdr.netns);
	emit(sk, r);
	return 0;
}

/* Syscall numbers of this architecture, set by user space: one program serves the four exits. */
const volatile __u32 nr_bind = 0;
const volatile __u32 nr_listen = 0;
const volatile __u32 nr_connect = 0;
const volatile __u32 nr_sendto = 0;
const volatile __u32 nr_sendmsg = 0;

/* Attached by user space to sys_exit_bind, _listen, _connect, _sendto and _sendmsg. */
SEC("tracepoint")
int handle_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret, id;

	if (ret != -EADDRINUSE && ret != -EADDRNOTAVAIL)
		return 0;
	id = ctx->id;
	if (id == nr_bind)
		return on_exit(ret, TW_CALL_BIND, VIA_CALL);
	if (id == nr_listen)
		return on_exit(ret, TW_CALL_LISTEN, VIA_CALL);
	if (id == nr_connect)
		return on_exit(ret, TW_CALL_CONNECT, VIA_CALL);
	if (id == nr_sendto)
		return on_exit(ret, TW_CALL_CONNECT, VIA_SENDTO);
	if (id == nr_sendmsg)
		return on_exit(ret, TW_CALL_CONNECT, VIA_SENDMSG);
	return 0;
}
