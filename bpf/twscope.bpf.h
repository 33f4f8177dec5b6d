/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and helpers shared by all BPF programs; the objects are linked into one skeleton. */
#ifndef TWSCOPE_BPF_H
#define TWSCOPE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "twscope.h"
#include "core_fixes.bpf.h"

#define AF_INET	      2
#define AF_INET6      10
#define IPPROTO_TCP   6
#define IPPROTO_UDP   17
#define EADDRINUSE    98
#define EADDRNOTAVAIL 99

extern const volatile struct tw_config cfg;

/*
 * One ring buffer per CPU, created and sized by user space: a single ring's reserve lock is
 * shared by every CPU and costs more than the event itself under load.
 */
struct rb_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct rb_inner);
} events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_TOT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps") __weak;

/* (netns, port) pairs that have or had a TCP listener, with its owner: their TIME_WAITs are side
 * local, and belong to that server. Keyed by struct tw_listen_key (twscope.h). */
struct tw_listener {
	struct tw_proc owner; /* uid only when seeded at start: no process named yet */
	__u32 slot;	      /* counters of the port's side local, TW_NO_SLOT until needed */
	__u32 pad;
};

/* A plain hash: an LRU lookup writes its reference bit, and each TIME_WAIT looks up here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tw_listen_key);
	__type(value, struct tw_listener);
} listen_ports SEC(".maps") __weak;

/*
 * Who called listen() on a socket, by socket cookie: a bind snapshot names a listening holder
 * from it even when the process is gone. LRU: only listeners long replaced fall out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tw_proc);
} listen_owner SEC(".maps") __weak;

/* Atomic even per CPU: a softirq program can interrupt a process-context one on this CPU. */
static __always_inline void total_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&totals, &idx);

	if (v)
		__sync_fetch_and_add(v, n);
}

/* A pointer as a plain number: the verifier allows no multiply or shift on a pointer register. */
static __always_inline __u64 ptr_value(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

static __always_inline bool port_wanted(__u16 port)
{
	return (cfg.ports[(port >> 6) & (TW_PORT_WORDS - 1)] >> (port & 63)) & 1;
}

/* The in-kernel filters of the contract, applied before any ring buffer reservation. */
static __always_inline bool tuple_wanted(__u32 netns, __u16 family, __u16 sport, __u16 dport)
{
	if (cfg.netns && netns != cfg.netns)
		return false;
	if (cfg.family && family != cfg.family)
		return false;
	if (cfg.port_filter && !port_wanted(sport) && !port_wanted(dport))
		return false;
	return true;
}

static __always_inline bool pid_wanted(__u32 pid)
{
	return !cfg.pid || pid == cfg.pid;
}

static __always_inline __u32 net_inum(const struct net *net)
{
	return BPF_CORE_READ(net, ns.inum);
}

static __always_inline __u64 sk_netns_cookie(const struct sock_common *skc)
{
	return net_cookie(BPF_CORE_READ(skc, skc_net.net));
}

static __always_inline __u32 sk_netns(const struct sock_common *skc)
{
	return net_inum(BPF_CORE_READ(skc, skc_net.net));
}

/*
 * Fills the 4-tuple from sock_common, valid for full, request and TIME_WAIT sockets, through
 * direct loads: skc is a BTF pointer (a tp_btf argument, an iterator's socket, or one cast by
 * bpf_rdonly_cast), a few ns instead of a helper call per field.
 */
static __always_inline void tuple_direct(struct tw_tuple *t, const struct sock_common *skc)
{
	/* IPv4 fills 4 of the 16 address bytes: the rest is part of port keys and records */
	__builtin_memset(t, 0, sizeof(*t));
	t->family = skc->skc_family;
	t->sport = skc->skc_num;
	t->dport = bpf_ntohs(skc->skc_dport);
	if (t->family == AF_INET6) {
		__builtin_memcpy(t->saddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(t->daddr, &skc->skc_v6_daddr, 16);
	} else {
		*(__u32 *)t->saddr = skc->skc_rcv_saddr;
		*(__u32 *)t->daddr = skc->skc_daddr;
	}
}

/* The same through BPF_CORE_READ, for a pointer that is only a number to the verifier. */
static __always_inline void tuple_core(struct tw_tuple *t, const struct sock_common *skc)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = BPF_CORE_READ(skc, skc_family);
	t->sport = BPF_CORE_READ(skc, skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (t->family == AF_INET6) {
		bpf_core_read(t->saddr, 16, &skc->skc_v6_rcv_saddr);
		bpf_core_read(t->daddr, 16, &skc->skc_v6_daddr);
	} else {
		bpf_core_read(t->saddr, 4, &skc->skc_rcv_saddr);
		bpf_core_read(t->daddr, 4, &skc->skc_daddr);
	}
}

static __always_inline void proc_current(struct tw_proc *p)
{
	p->pid = bpf_get_current_pid_tgid() >> 32;
	p->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(p->comm, sizeof(p->comm));
}

static __always_inline void *cpu_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&events, &cpu);
}

static __always_inline void *rb_reserve(__u32 size)
{
	void *ring = cpu_ring(), *r = NULL;

	if (ring)
		r = bpf_ringbuf_reserve(ring, size, 0);
	if (!r)
		total_add(TW_TOT_LOST_EVENTS, 1);
	return r;
}

/* Bytes submitted on this CPU since its last wakeup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rb_quiet SEC(".maps") __weak;

/*
 * Batches wakeups: user space is woken after each wakeup_bytes of records on a CPU, else it
 * polls; urgent records (bind errors: their holders must be walked soon) wake it at once.
 * Counted here because asking the ring (bpf_ringbuf_query) reads its consumer's position, a
 * cache line the other CPU writes. Not atomic: a program interrupting another on this CPU can
 * lose an update, which only moves a wakeup.
 */
static __always_inline void rb_submit_n(void *rec, __u32 size, bool urgent)
{
	__u32 zero = 0;
	__u64 *quiet = bpf_map_lookup_elem(&rb_quiet, &zero);

	if (quiet) {
		*quiet += size;
		if (*quiet >= cfg.wakeup_bytes)
			urgent = true;
		if (urgent)
			*quiet = 0;
	}
	bpf_ringbuf_submit(rec, urgent ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void rb_submit(void *rec, bool urgent)
{
	rb_submit_n(rec, ((struct tw_hdr *)rec)->size, urgent);
}

/* When this CPU last woke user space for a bind error. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rb_woken SEC(".maps") __weak;

#define URGENT_GAP_NS 1000000 /* a forced wakeup costs 9-25 us: at most one a millisecond */

/*
 * Copies a record built elsewhere (a per-CPU scratch) into this CPU's ring. A bind error wakes
 * user space, whose owners lookup wants it soon, but a storm of them no more than once a
 * millisecond per CPU; the rest wait for the next wakeup or the agent's 100 ms tick.
 */
static __always_inline void rb_output(void *rec, __u64 size)
{
	__u32 zero = 0;
	__u64 *woken = bpf_map_lookup_elem(&rb_woken, &zero), now = bpf_ktime_get_ns();
	void *ring = cpu_ring();
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (woken && now - *woken >= URGENT_GAP_NS) {
		*woken = now;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	if (!ring || bpf_ringbuf_output(ring, rec, size, flags))
		total_add(TW_TOT_LOST_EVENTS, 1);
}

static __always_inline void hdr_fill(struct tw_hdr *h, __u16 type, __u16 size, __u32 netns)
{
	h->type = type;
	h->size = size;
	h->netns = netns;
	h->ts_ns = bpf_ktime_get_ns();
}

#define S_IFMT	 00170000
#define S_IFSOCK 0140000

/* The socket behind fd in the current task, or NULL when fd is not a socket. */
static __always_inline struct sock *sock_from_fd(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *file = NULL;
	struct socket *sock;
	unsigned int max;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

#endif
