// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Failed bind/listen/connect with EADDRINUSE or EADDRNOTAVAIL, from the syscall exit
 * tracepoints. The arguments are read back from the task's saved user registers at exit,
 * so the hot path (every successful connect) costs one comparison and no map update.
 * A failed bind leaves the socket's port at 0: the requested sockaddr is read from user memory.
 */
#include "timewait.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_BIND_ERR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} bind_errs SEC(".maps");

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

static __always_inline void count_bind_error(struct tw_bind_rec *r, bool wanted)
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
		key.netns = r->hdr.netns;
		key.port = r->port;
		key.side = TW_SIDE_REMOTE;
		key.family = r->family;
		__builtin_memcpy(key.addr, r->addr, TW_ADDR_LEN);
	} else {
		local_key(&key, r->hdr.netns, r->port);
	}
	port_count(slot_for(&key), PORT_BIND_ERR);
}

static __always_inline int on_exit(long ret, __u8 call)
{
	struct task_struct *task;
	struct sockaddr_in6_min sa = {};
	struct tw_bind_rec r = {}, *out;
	struct pt_regs *regs;
	const struct sock *sk;
	__u64 uaddr;
	long fd;
	int alen;
	bool wanted;

	if (cfg.hooks_only || (ret != -EADDRINUSE && ret != -EADDRNOTAVAIL))
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	uaddr = PT_REGS_PARM2_CORE_SYSCALL(regs);
	alen = PT_REGS_PARM3_CORE_SYSCALL(regs);
	sk = sock_from_fd(fd);
	if (!sk)
		return 0;
	r.proto = sk_protocol(sk);
	if (r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP)
		return 0;

	r.call = call;
	r.err = -ret;
	r.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r.hdr.netns = sk_netns(&sk->__sk_common);
	r.reuseaddr = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse) != 0;
	r.reuseport = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport);
	r.v6only = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_ipv6only);
	r.bound_dev = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	r.inet_flags = inet_sock_bind_flags(sk);
	{
		const struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);

		net_local_port_range(net, &r.port_lo, &r.port_hi);
		r.tw_reuse = BPF_CORE_READ(net, ipv4.sysctl_tcp_tw_reuse);
	}

	if (call == TW_CALL_LISTEN) {
		/* listen() re-checks the port the socket already holds (inet_csk_listen_start) */
		r.port = BPF_CORE_READ(sk, __sk_common.skc_num);
		sk_bound_addr(sk, r.family, r.addr);
	} else {
		if (alen < 8 || bpf_probe_read_user(&sa, alen < (int)sizeof(sa) ? 8 : sizeof(sa),
						    (void *)uaddr))
			return 0;
		r.port = bpf_ntohs(sa.port);
		if (sa.family == AF_INET6 && alen >= (int)sizeof(sa))
			__builtin_memcpy(r.addr, sa.addr, 16);
		else if (sa.family == AF_INET)
			/* sin_addr sits where flowinfo is */
			__builtin_memcpy(r.addr, &sa.flowinfo, 4);
		if (call == TW_CALL_CONNECT) {
			r.src_port = BPF_CORE_READ(sk, __sk_common.skc_num);
			sk_bound_addr(sk, r.family, r.src_addr);
		}
	}

	wanted = tuple_wanted(r.hdr.netns, r.family, r.port, 0);
	count_bind_error(&r, wanted);
	if (!wanted || !(cfg.events & TW_EV_BIND) || !pid_wanted(bpf_get_current_pid_tgid() >> 32))
		return 0;
	proc_current(&r.proc);
	out = rb_reserve(sizeof(*out));
	if (!out)
		return 0;
	hdr_fill(&r.hdr, TW_REC_BIND_ERR, sizeof(r), r.hdr.netns);
	*out = r;
	rb_submit(out, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int handle_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret, TW_CALL_BIND);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int handle_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret, TW_CALL_LISTEN);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret, TW_CALL_CONNECT);
}
