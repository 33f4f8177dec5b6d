// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket table walks, run by user space: the seed pass of iter/tcp adds the TIME_WAITs and
 * listeners that exist at start to the live map, and iter/task names the processes that
 * own the sockets a bind snapshot captured. iter/tcp only sees the netns of the process that
 * creates the iterator.
 */
#include "timewait.bpf.h"

#define TCP_TIMEWAIT_LEN_S 60

struct tw_iter_args iter_args = {};

static __always_inline __s64 jiffies_left_ms(unsigned long expires)
{
	__s64 left = (__s64)(expires - bpf_jiffies64());
	return left > 0 ? (__s64)((__u64)left * 1000 / kernel_hz()) : 0;
}

/* Start-up seeding: one pass sees listeners first (listening hash), then TIME_WAITs. */
static __always_inline void seed(struct sock_common *skc, struct tw_tuple *t, __u32 netns,
				 __u64 cookie, __u32 uid)
{
	struct tcp_timewait_sock *ttw;
	struct inet_timewait_sock *tw;
	struct tw_proc owner = {};
	struct tw_live *l;
	__u64 timer;
	__u32 at;
	__s64 left_ms, life_ms;

	if (skc->skc_state == TCP_LISTEN) {
		struct tw_listen_key lk = { .netns_cookie = cookie, .port = t->sport };
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
	l->slot = tuple_slot(t, netns, cookie, BPF_CORE_READ(skc, skc_net.net), &l->side, &owner);
	l->pid = owner.pid;
	port_count(l->slot, PORT_SEED);
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tw_tuple t;

	if (!skc || !iter_args.want_tw_seed)
		return 0;
	tuple_direct(&t, skc);
	seed(skc, &t, sk_netns(skc), sk_netns_cookie(skc), ctx->uid);
	return 0;
}

#define FD_WALK_MAX (1 << 16) /* descriptors looked at per process */
#define OWNER_HITS  16	      /* wanted sockets one process may be found with */

struct fd_walk {
	__u64 fds; /* the task's fd array */
};

/*
 * The wanted sockets found open in the task being walked (indexes into iter_args.inos). In
 * .bss rather than on the stack: the verifier tracks stack values exactly, and every count of
 * hits would be a state of its own.
 */
__u32 owner_hits[OWNER_HITS] = {};
__u32 owner_nhits = 0;

/* The index of ino in the sorted iter_args.inos, or -1. */
static __always_inline int wanted(__u64 ino)
{
	__u32 lo = 0, hi = iter_args.ninos < TW_ITER_INOS ? iter_args.ninos : TW_ITER_INOS;

	for (int step = 0; step < 9 && lo < hi; step++) {
		__u32 mid = (lo + hi) / 2;
		__u64 v = iter_args.inos[mid & (TW_ITER_INOS - 1)];

		if (v == ino)
			return mid & (TW_ITER_INOS - 1);
		if (v < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* One descriptor: its file is read, never referenced, so a socket closed meanwhile goes. */
static long fd_step(__u32 i, struct fd_walk *w)
{
	struct file *file = NULL;
	struct inode *inode;
	int at;

	if (bpf_probe_read_kernel(&file, sizeof(file), (void *)(w->fds + (__u64)i * 8)) || !file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	at = wanted(BPF_CORE_READ(inode, i_ino));
	if (at < 0)
		return 0;
	if (owner_nhits < OWNER_HITS)
		owner_hits[owner_nhits & (OWNER_HITS - 1)] = at;
	owner_nhits++;
	return 0;
}

/*
 * Names the owners of the socket inodes snapshots captured: a record per process and socket.
 * iter/task_file would hold a reference to each file while it runs, so a socket its owner
 * closes at that moment would live on until the walk moved past it, and could make another
 * process's bind() fail: the descriptors are read here instead, and nothing is held.
 */
SEC("iter/task")
int iter_task_owner(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct tw_owner_rec r = {};
	struct fd_walk w = {};
	__u32 max;

	/* one pass per process: threads share the file table */
	if (!task || task->pid != task->tgid || !iter_args.ninos)
		return 0;
	w.fds = (__u64)BPF_CORE_READ(task, files, fdt, fd);
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (!w.fds)
		return 0;
	owner_nhits = 0;
	bpf_loop(max < FD_WALK_MAX ? max : FD_WALK_MAX, fd_step, &w, 0);
	r.hdr.type = TW_REC_OWNER;
	r.hdr.size = sizeof(r);
	r.pid = task->tgid;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->comm);
	for (int j = 0; j < OWNER_HITS; j++) {
		if (j >= owner_nhits)
			break;
		r.ino = iter_args.inos[owner_hits[j] & (TW_ITER_INOS - 1)];
		bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	}
	return 0;
}
