/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's rules for which existing socket blocks a bind, listen or connect, written once for
 * both sides: the BPF snapshot counts and picks holders with them at the failure, and user-space
 * diagnosis explains the captured holders with them. Plain C on __u8..__u64, no libc.
 * Sources: net/ipv4/inet_connection_sock.c (inet_bind_conflict, inet_rcv_saddr_equal,
 * ipv6_rcv_saddr_equal, __inet_bhash2_conflict), net/ipv4/udp.c (udp_lib_lport_inuse),
 * net/ipv4/inet_hashtables.c (__inet_check_established), in 6.1 and 6.12.
 */
#ifndef TWSCOPE_BINDRULES_H
#define TWSCOPE_BINDRULES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define TW_RULE_AF_INET	  2
#define TW_RULE_AF_INET6  10
#define TW_RULE_PROTO_UDP 17
#define TW_RULE_TIME_WAIT 6
#define TW_RULE_LISTEN	  10

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TW_RULE_MAPPED_WORD    0xffff0000u /* bytes 00 00 ff ff of ::ffff:a.b.c.d */
#define TW_RULE_LOOPBACK4_IPV6 0x0600007fu
#else
#define TW_RULE_MAPPED_WORD    0x0000ffffu
#define TW_RULE_LOOPBACK4_IPV6 0x7f000006u
#endif

/* What the rules read of a socket, as the kernel holds it during the check. */
struct tw_bind_view {
	__u8 addr[16]; /* sk_v6_rcv_saddr for AF_INET6; sk_rcv_saddr in the first 4 bytes for
			  AF_INET */
	__u32 rcv4;    /* sk_rcv_saddr (network order): also set for AF_INET6 sockets */
	__u32 bound_dev;
	__u32 uid; /* sk_uid */
	__u16 family;
	__u8 state;
	__u8 reuse; /* skc_reuse */
	__u8 reuseport;
	__u8 v6only; /* sk_ipv6only as applied */
	__u8 pad[2];
};

static __always_inline __u32 tw_rule_word(const __u8 *a, int i)
{
	__u32 w;

	__builtin_memcpy(&w, a + 4 * i, 4);
	return w;
}

static __always_inline int tw_rule_any6(const __u8 *a)
{
	return !(tw_rule_word(a, 0) | tw_rule_word(a, 1) | tw_rule_word(a, 2) | tw_rule_word(a, 3));
}

/* ipv6_addr_v4mapped(): ::ffff:a.b.c.d, ::ffff:0.0.0.0 included. */
static __always_inline int tw_rule_mapped6(const __u8 *a)
{
	return !(tw_rule_word(a, 0) | tw_rule_word(a, 1)) &&
	       tw_rule_word(a, 2) == TW_RULE_MAPPED_WORD;
}

static __always_inline int tw_rule_equal6(const __u8 *a, const __u8 *b)
{
	return tw_rule_word(a, 0) == tw_rule_word(b, 0) &&
	       tw_rule_word(a, 1) == tw_rule_word(b, 1) &&
	       tw_rule_word(a, 2) == tw_rule_word(b, 2) && tw_rule_word(a, 3) == tw_rule_word(b, 3);
}

/* The sk_rcv_saddr __inet6_bind() gives an AF_INET6 socket bound to a. */
static __always_inline __u32 tw_rule_rcv4_of6(const __u8 *a)
{
	if (tw_rule_mapped6(a))
		return tw_rule_word(a, 3);
	return tw_rule_any6(a) ? 0 : TW_RULE_LOOPBACK4_IPV6;
}

/*
 * The view of a socket being bound to addr: __inet6_bind() sets sk_ipv6only for a specific,
 * non-mapped IPv6 address before the check and restores it after a failure.
 */
static __always_inline void tw_rule_view_bind(struct tw_bind_view *v, __u16 family,
					      const __u8 *addr, __u8 v6only)
{
	__builtin_memset(v->addr, 0, 16);
	v->family = family;
	if (family == TW_RULE_AF_INET6) {
		__builtin_memcpy(v->addr, addr, 16);
		v->rcv4 = tw_rule_rcv4_of6(addr);
		v->v6only = v6only || (!tw_rule_any6(addr) && !tw_rule_mapped6(addr));
	} else {
		__builtin_memcpy(v->addr, addr, 4);
		v->rcv4 = tw_rule_word(addr, 0);
		v->v6only = 0;
	}
}

/* ipv4_rcv_saddr_equal() with both wildcards matching. */
static __always_inline int tw_rule_equal4(__u32 a1, __u32 a2, int sk2_v6only)
{
	if (sk2_v6only)
		return 0;
	return a1 == a2 || !a1 || !a2;
}

/* inet_rcv_saddr_equal(sk, sk2, match_wildcard = true). */
static __always_inline int tw_rule_addr_equal(const struct tw_bind_view *sk,
					      const struct tw_bind_view *sk2)
{
	int mapped1, any1, mapped2 = 1, any2 = 0;

	if (sk->family != TW_RULE_AF_INET6)
		return tw_rule_equal4(sk->rcv4, sk2->rcv4, sk2->v6only);
	/* ipv6_rcv_saddr_equal(): an AF_INET sk2 counts as IPV6_ADDR_MAPPED */
	mapped1 = tw_rule_mapped6(sk->addr);
	any1 = tw_rule_any6(sk->addr);
	if (sk2->family == TW_RULE_AF_INET6) {
		mapped2 = tw_rule_mapped6(sk2->addr);
		any2 = tw_rule_any6(sk2->addr);
	}
	if (mapped1 && mapped2)
		return tw_rule_equal4(sk->rcv4, sk2->rcv4, sk2->v6only);
	if (any1 && any2)
		return 1;
	if (any2 && !(sk2->v6only && mapped1))
		return 1;
	if (any1 && !(sk->v6only && mapped2))
		return 1;
	return sk2->family == TW_RULE_AF_INET6 && tw_rule_equal6(sk->addr, sk2->addr);
}

/* inet_use_hash2_on_bind(): a specific address is checked through bhash2. */
static __always_inline int tw_rule_specific(const struct tw_bind_view *sk)
{
	if (sk->family == TW_RULE_AF_INET6 && !tw_rule_mapped6(sk->addr))
		return !tw_rule_any6(sk->addr);
	return sk->rcv4 != 0;
}

/*
 * Whether the kernel compares the two addresses and finds them overlapping. In 6.1 the bhash2
 * lookup of a specific v4-mapped address never reaches an AF_INET6 ::ffff:0.0.0.0 bucket
 * (inet_bind2_bucket_match_addr_any() compares same-family buckets with ipv6_addr_any()).
 */
static __always_inline int tw_rule_addr_overlap(const struct tw_bind_view *sk,
						const struct tw_bind_view *sk2, int rules_61)
{
	if (rules_61 && tw_rule_specific(sk) && sk->family == TW_RULE_AF_INET6 &&
	    sk2->family == TW_RULE_AF_INET6 && tw_rule_mapped6(sk2->addr) && !sk2->rcv4)
		return 0;
	return tw_rule_addr_equal(sk, sk2);
}

static __always_inline int tw_rule_dev_overlap(__u32 a, __u32 b)
{
	return !a || !b || a == b;
}

/*
 * inet_bind_conflict(): relax and reuseport_ok for bind() and listen() of a port; neither for an
 * autobind (inet_csk_find_open_port), where any overlapping socket takes the port.
 */
static __always_inline int tw_rule_tcp(const struct tw_bind_view *sk,
				       const struct tw_bind_view *sk2, int autobind)
{
	if (!tw_rule_dev_overlap(sk->bound_dev, sk2->bound_dev))
		return 0;
	if (autobind)
		return 1;
	if (sk->reuse && sk2->reuse && sk2->state != TW_RULE_LISTEN)
		return 0;
	return !(sk->reuseport && sk2->reuseport &&
		 (sk2->state == TW_RULE_TIME_WAIT || sk->uid == sk2->uid));
}

/* udp_lib_lport_inuse(). */
static __always_inline int tw_rule_udp(const struct tw_bind_view *sk,
				       const struct tw_bind_view *sk2)
{
	if (sk->reuse && sk2->reuse)
		return 0;
	if (!tw_rule_dev_overlap(sk->bound_dev, sk2->bound_dev))
		return 0;
	return !(sk->reuseport && sk2->reuseport && sk->uid == sk2->uid);
}

/* Does sk2 block sk's bind (or listen) of the port they share? */
static __always_inline int tw_rule_bind_conflict(const struct tw_bind_view *sk,
						 const struct tw_bind_view *sk2, int proto,
						 int autobind, int rules_61)
{
	int opts =
		proto == TW_RULE_PROTO_UDP ? tw_rule_udp(sk, sk2) : tw_rule_tcp(sk, sk2, autobind);

	return opts && tw_rule_addr_overlap(sk, sk2, rules_61);
}

/*
 * __inet_check_established(): sk2 has the 4-tuple a connect from a bound port wants. The
 * source address is compared only when the socket had one: an unbound one is the route's pick.
 * A v4-mapped IPv6 peer is the IPv4 address (tcp_v6_connect() hands it to tcp_v4_connect()).
 */
static __always_inline int tw_rule_tuple(__u16 family, const __u8 *saddr, const __u8 *daddr,
					 __u16 dport, __u16 family2, const __u8 *saddr2,
					 const __u8 *daddr2, __u16 dport2, __u8 state2)
{
	int off = 0, off2 = 0;

	if (dport != dport2 || state2 == TW_RULE_LISTEN)
		return 0;
	if (family == TW_RULE_AF_INET6 && tw_rule_mapped6(daddr)) {
		off = 12;
		family = TW_RULE_AF_INET;
	}
	if (family2 == TW_RULE_AF_INET6 && tw_rule_mapped6(daddr2)) {
		off2 = 12;
		family2 = TW_RULE_AF_INET;
	}
	if (family != family2)
		return 0;
	if (family == TW_RULE_AF_INET6)
		return tw_rule_equal6(daddr, daddr2) &&
		       (tw_rule_any6(saddr) || tw_rule_equal6(saddr, saddr2));
	return tw_rule_word(daddr + off, 0) == tw_rule_word(daddr2 + off2, 0) &&
	       (!tw_rule_word(saddr + off, 0) ||
		tw_rule_word(saddr + off, 0) == tw_rule_word(saddr2 + off2, 0));
}

#endif
