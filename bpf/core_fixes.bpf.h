/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every kernel-version difference the programs depend on, one accessor each. */
#ifndef TWSCOPE_CORE_FIXES_BPF_H
#define TWSCOPE_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * sk_protocol was an 8-bit bitfield before 5.6 and a __u16 since
 * bf9765145b85 ("sock: Make sk_protocol a 16-bit value").
 */
struct sock___o {
	unsigned int sk_protocol : 8;
} __attribute__((preserve_access_index));

/* Bitfield relocations also fit a plain integer field, so one read covers both layouts. */
static __always_inline __u16 sk_protocol(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED((const struct sock___o *)sk, sk_protocol);
}

/* The same for a BTF pointer (tp_btf argument): a direct load instead of a helper call. */
static __always_inline __u16 sk_protocol_btf(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD((const struct sock___o *)sk, sk_protocol);
}

/*
 * 6.6 moved the inet_sock bitfields into inet->inet_flags (series merged as 569dce3f8e64):
 * 3f7e753206bb freebind, 4bd0623f04ee transparent, ca571e2eb7eb bind_address_no_port.
 */
struct inet_sock___o {
	__u8 freebind : 1;
	__u8 transparent : 1;
	__u8 bind_address_no_port : 1;
};

struct inet_sock___x {
	unsigned long inet_flags;
};

enum {
	INET_FLAGS_FREEBIND___x = 11,
	INET_FLAGS_TRANSPARENT___x = 15,
	INET_FLAGS_BIND_ADDRESS_NO_PORT___x = 18,
};

/* Bit 0 freebind, bit 1 transparent, bit 2 bind_address_no_port. */
static __always_inline __u8 inet_sock_bind_flags(const void *inet)
{
	unsigned long f;

	if (bpf_core_field_exists(struct inet_sock___o, freebind))
		return BPF_CORE_READ_BITFIELD_PROBED((struct inet_sock___o *)inet, freebind) |
		       BPF_CORE_READ_BITFIELD_PROBED((struct inet_sock___o *)inet, transparent)
			       << 1 |
		       BPF_CORE_READ_BITFIELD_PROBED((struct inet_sock___o *)inet,
						     bind_address_no_port)
			       << 2;
	f = BPF_CORE_READ((struct inet_sock___x *)inet, inet_flags);
	return ((f >> INET_FLAGS_FREEBIND___x) & 1) | ((f >> INET_FLAGS_TRANSPARENT___x) & 1) << 1 |
	       ((f >> INET_FLAGS_BIND_ADDRESS_NO_PORT___x) & 1) << 2;
}

/*
 * net.ipv4.ip_local_port_range was `int range[2]` under a seqlock until 6.8, then a u32
 * `high << 16 | low`: d9f28735af87 ("Use READ/WRITE_ONCE() for IP local_port_range.").
 */
struct local_ports___o {
	int range[2];
} __attribute__((preserve_access_index));

struct netns_ipv4___o {
	struct local_ports___o ip_local_ports;
} __attribute__((preserve_access_index));

struct net___o {
	struct netns_ipv4___o ipv4;
} __attribute__((preserve_access_index));

static __always_inline void net_local_port_range(const struct net *net, __u16 *lo, __u16 *hi)
{
	/* a field of an incompatible type "does not exist": the size of the u32 one cannot be asked
	 */
	if (bpf_core_field_exists(((struct net___o *)0)->ipv4.ip_local_ports.range)) {
		const struct net___o *o = (const void *)net;

		*lo = BPF_CORE_READ(o, ipv4.ip_local_ports.range[0]);
		*hi = BPF_CORE_READ(o, ipv4.ip_local_ports.range[1]);
	} else {
		__u32 r = BPF_CORE_READ(net, ipv4.ip_local_ports.range);

		*lo = r & 0xffff;
		*hi = r >> 16;
	}
}

/*
 * net->ipv4.tcp_death_row (tw_refcount, sysctl_max_tw_buckets, and hashinfo from 6.1) was a
 * pointer from fbb8295248e1 ("tcp: allocate tcp_death_row outside of struct netns_ipv4", 5.17)
 * until e9bd0cca09d1 ("tcp: Don't allocate tcp_death_row outside of struct netns_ipv4", 6.1)
 * embedded it again.
 */
struct netns_ipv4___dr_ptr {
	struct inet_timewait_death_row *tcp_death_row;
} __attribute__((preserve_access_index));

struct net___dr_ptr {
	struct netns_ipv4___dr_ptr ipv4;
} __attribute__((preserve_access_index));

static __always_inline const struct inet_timewait_death_row *net_death_row(const struct net *net)
{
	if (bpf_core_field_exists(((struct net___dr_ptr *)0)->ipv4.tcp_death_row))
		return BPF_CORE_READ((const struct net___dr_ptr *)net, ipv4.tcp_death_row);
	return (const void *)((__u64)net + bpf_core_field_offset(net->ipv4.tcp_death_row));
}

/*
 * timer:timer_start was (timer, expires, flags) until dbcdcb62b59d ("tracing/timers: Enhance
 * timer_start tracepoint", 6.9) made it (timer, bucket_expiry); the trace event's record got a
 * bucket_expiry field in the same commit, which is what the probe asks.
 */
struct trace_event_raw_timer_start___new {
	unsigned long bucket_expiry;
} __attribute__((preserve_access_index));

#define TIMER_ARRAYSHIFT___x 22 /* include/linux/timer.h: the wheel index in timer->flags */
#define LVL_CLK_SHIFT___x    3	/* kernel/time/timer.c */
#define LVL_BITS___x	     6

/*
 * When a timer_start's timer really fires (its wheel bucket's deadline, never before expires):
 * the argument since 6.9; before, computed as calc_index() did from the index enqueue_timer()
 * stored in flags: a level's granularity is 8^level jiffies.
 */
static __always_inline unsigned long timer_start_deadline(const unsigned long long *ctx)
{
	unsigned long expires;
	unsigned int lvl, shift;

	if (bpf_core_field_exists(struct trace_event_raw_timer_start___new, bucket_expiry))
		return ctx[1];
	expires = ctx[1];
	lvl = ((unsigned int)ctx[2] >> TIMER_ARRAYSHIFT___x) >> LVL_BITS___x;
	shift = (lvl & 7) * LVL_CLK_SHIFT___x;
	return ((expires >> shift) + 1) << shift;
}

/*
 * The bind hash: until 6.8 every socket and TIME_WAIT of a port hung off tb->owners; the series
 * "tcp: Refactor bhash2 and remove sk_bind2_node" (6.8, "tcp: Unlink sk from bhash.") moved them
 * to the owners of the port's inet_bind2_buckets, listed in tb->bhash2. Both through
 * skc_bind_node.
 */
struct inet_bind_bucket___owners {
	struct hlist_head owners;
} __attribute__((preserve_access_index));

static __always_inline bool bind_bucket_has_owners(void)
{
	return bpf_core_field_exists(struct inet_bind_bucket___owners, owners);
}

static __always_inline __u64 bind_bucket_owners(__u64 tb)
{
	return (__u64)BPF_CORE_READ((struct inet_bind_bucket___owners *)tb, owners.first);
}

/*
 * The UDP hash: sk_prot->h.udp_table until 6.2, NULL for UDP since "udp: Introduce optional
 * per-netns hash table." (6.2), which added net->ipv4.udp_table (udp_get_table_prot()).
 */
static __always_inline const struct udp_table *udp_table_of(const struct sock *sk,
							    const struct net *net)
{
	const struct udp_table *t = BPF_CORE_READ(sk, __sk_common.skc_prot, h.udp_table);

	if (!t && bpf_core_field_exists(net->ipv4.udp_table))
		t = BPF_CORE_READ(net, ipv4.udp_table);
	return t;
}

/*
 * IP_LOCAL_PORT_RANGE (6.3, "inet: Add IP_LOCAL_PORT_RANGE socket option", in Debian's 6.1 too)
 * stored struct { u16 lo, hi; }; 6.8 made it a u32 hi << 16 | lo, read with READ_ONCE(): on a
 * little-endian host the same 4 bytes, lo in the low half. 0 when unset. A field of the other
 * type does not "exist" for CO-RE: each layout is asked by its own flavour.
 */
struct inet_sock___lpr16 {
	struct {
		__u16 lo;
		__u16 hi;
	} local_port_range;
} __attribute__((preserve_access_index));

static __always_inline __u32 sock_port_range(const struct sock *sk)
{
	const struct inet_sock___lpr16 *o = (const void *)sk;
	__u32 r = 0;

	if (bpf_core_field_exists(((struct inet_sock *)sk)->local_port_range))
		bpf_core_read(&r, sizeof(r), &((struct inet_sock *)sk)->local_port_range);
	else if (bpf_core_field_exists(o->local_port_range))
		bpf_core_read(&r, sizeof(r), &o->local_port_range);
	return r;
}

/*
 * A namespace's cookie, never reused (its inode is, at once): a u64 set in setup_net() since
 * 3d368ab87cf6 ("net: initialize net->net_cookie at netns setup", 5.12); before, an atomic64_t
 * made on first use, which no kernel we run has. A BTF pointer reads it with a direct load.
 */
static __always_inline __u64 net_cookie(const struct net *net)
{
	return BPF_CORE_READ(net, net_cookie);
}

#endif
