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
	if (bpf_core_field_size(net->ipv4.ip_local_ports.range) == sizeof(__u32)) {
		__u32 r = BPF_CORE_READ(net, ipv4.ip_local_ports.range);

		*lo = r & 0xffff;
		*hi = r >> 16;
	} else {
		const struct net___o *o = (const void *)net;

		*lo = BPF_CORE_READ(o, ipv4.ip_local_ports.range[0]);
		*hi = BPF_CORE_READ(o, ipv4.ip_local_ports.range[1]);
	}
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
 * IP_LOCAL_PORT_RANGE (6.3, "inet: Add IP_LOCAL_PORT_RANGE socket option") stored
 * struct { u16 lo, hi; }; 6.8 made it a u32 hi << 16 | lo, read with READ_ONCE(): on a
 * little-endian host the same 4 bytes, lo in the low half. 0 when unset.
 */
static __always_inline __u32 sock_port_range(const struct sock *sk)
{
	__u32 r = 0;

	if (bpf_core_field_exists(((struct inet_sock *)sk)->local_port_range))
		bpf_core_read(&r, sizeof(r), &((struct inet_sock *)sk)->local_port_range);
	return r;
}

#endif
