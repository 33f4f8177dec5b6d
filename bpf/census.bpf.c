// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Ephemeral port census: one walk of the whole TCP bind hash, run by user space once an interval
 * (BPF_PROG_TEST_RUN). The bind hash is one table for every network namespace, so no namespace
 * is entered. For each port of a namespace's ephemeral range in use: a port that bind() took
 * (tb->fastreuse or fastreuseport >= 0) is lost to every destination, as __inet_hash_connect()
 * skips it; a port connect() took is counted once per destination of its sockets, TIME_WAITs
 * included. Lock-free and best effort like the snapshot; bounded by bpf_loop steps. A test run
 * keeps its CPU for the whole run, so the walk goes in slices of CENSUS_SLICE steps, resumed
 * from where the last one stopped.
 */
#include "twscope.bpf.h"

#define CENSUS_STEPS   (1 << 23) /* all slices together */
#define CENSUS_SLICE   8192	 /* about a millisecond */
#define TB_SEEN	       8	 /* destinations told apart per port, for distinct ports */
#define CENSUS_DESTS   65536
#define CENSUS_NETNS   4096
#define RESERVED_WORDS 1024 /* 65536 ports */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CENSUS_DESTS);
	__type(key, struct tw_dest_key);
	__type(value, struct tw_dest_use);
} census_dests SEC(".maps");

/* By netns cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CENSUS_NETNS);
	__type(key, __u64);
	__type(value, struct tw_netns_ports);
} census_netns SEC(".maps");

struct tw_census_stats census_stats = {};

/* The copy of the socket being counted: a map value, as the stack is small in a callback. */
struct census_scratch {
	__u8 skc[256];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct census_scratch);
} census_buf SEC(".maps");

enum census_phase { CP_BUCKET, CP_CHAIN, CP_TB2, CP_OWNERS };

/*
 * The walk's position. In a map, not on the stack: before 6.7 the verifier checked a bpf_loop
 * callback once with the caller's stack as it was at the call, and dropped the branches of the
 * phases that were not the first as dead.
 */
struct census_walk {
	__u64 bhash;
	__u64 chain;  /* next node of the bucket's chain */
	__u64 tb2;    /* next node of tb->bhash2 */
	__u64 owner;  /* next node of the owners list */
	__u64 cookie; /* netns of the bucket being walked */
	__u64 steps;  /* of all slices */
	__u32 size;
	__u32 bucket;
	__u32 netns;
	__u32 phase;
	__u32 seen[TB_SEEN]; /* destinations already counted on this port (key hashes) */
	__u32 nseen;
	__u32 pad;
};

/* One walk for the whole host, resumed by any CPU: a plain array, not a per-CPU one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct census_walk);
} census_walks SEC(".maps");

static __always_inline __u64 rd64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

static __always_inline __u64 sock_ino(__u64 skc)
{
	const struct socket *sock = BPF_CORE_READ((const struct sock *)skc, sk_socket);

	return sock ? BPF_CORE_READ(sock, file, f_inode, i_ino) : 0;
}

/* A uniform sample of the sockets seen (reservoir): the owner of most of them shows most. */
static __always_inline void sample(__u64 *slots, __u32 *seen, __u64 skc)
{
	__u32 n = ++*seen, at = n - 1;

	if (n > TW_DEST_SAMPLES) {
		at = bpf_get_prandom_u32() % n;
		if (at >= TW_DEST_SAMPLES)
			return;
	}
	slots[at & (TW_DEST_SAMPLES - 1)] = sock_ino(skc);
}

struct reserved_walk {
	__u64 bitmap;
	__u32 first, last; /* words */
	__u32 lo, hi;
	__u32 n;
	__u32 pad;
};

static long reserved_step(__u32 i, struct reserved_walk *r)
{
	__u32 w = r->first + i;
	__u64 word;

	if (w > r->last)
		return 1;
	word = rd64(r->bitmap + (__u64)w * 8);
	if (w == r->first)
		word &= ~0ULL << (r->lo & 63);
	if (w == r->last && (r->hi & 63) != 63)
		word &= (1ULL << ((r->hi & 63) + 1)) - 1;
	r->n += __builtin_popcountll(word);
	return 0;
}

/* Reserved ports of [lo, hi]: a global function, so that the word loop is verified once. */
__noinline int count_reserved(__u64 bitmap, __u32 lo, __u32 hi)
{
	struct reserved_walk r = { .bitmap = bitmap, .lo = lo, .hi = hi };

	if (!bitmap || lo > hi || hi > 65535)
		return 0;
	r.first = lo / 64;
	r.last = hi / 64;
	bpf_loop(RESERVED_WORDS, reserved_step, &r, 0);
	return r.n;
}

/* The namespace of a bucket: its entry, made the first time it is seen in this run. */
static __always_inline struct tw_netns_ports *netns_of(const struct net *net, __u64 cookie)
{
	struct tw_netns_ports *e = bpf_map_lookup_elem(&census_netns, &cookie), fresh = {};

	if (e)
		return e;
	fresh.netns = BPF_CORE_READ(net, ns.inum);
	net_local_port_range(net, &fresh.lo, &fresh.hi);
	fresh.tw_reuse = BPF_CORE_READ(net, ipv4.sysctl_tcp_tw_reuse);
	fresh.ports_reserved = count_reserved(
		(__u64)BPF_CORE_READ(net, ipv4.sysctl_local_reserved_ports), fresh.lo, fresh.hi);
	if (bpf_map_update_elem(&census_netns, &cookie, &fresh, BPF_NOEXIST)) {
		census_stats.full = 1;
		return NULL;
	}
	return bpf_map_lookup_elem(&census_netns, &cookie);
}

/* A bucket of the chain: skipped, counted as taken by bind(), or its sockets walked. */
static __always_inline void census_bucket(struct census_walk *w)
{
	__u64 node = w->chain, tb = node - bpf_core_field_offset(struct inet_bind_bucket, node);
	const struct inet_bind_bucket *b = (const void *)tb;
	const struct net *net;
	struct tw_netns_ports *ns;
	__u16 port;

	if (!node) {
		w->phase = CP_BUCKET;
		return;
	}
	w->chain = rd64(node);
	net = BPF_CORE_READ(b, ib_net.net);
	port = BPF_CORE_READ(b, port);
	w->cookie = BPF_CORE_READ(net, net_cookie);
	ns = netns_of(net, w->cookie);
	if (!ns || port < ns->lo || port > ns->hi)
		return;
	w->netns = ns->netns;
	if (BPF_CORE_READ(b, fastreuse) >= 0 || BPF_CORE_READ(b, fastreuseport) >= 0) {
		__u64 first;

		ns->ports_bound++;
		if (bind_bucket_has_owners()) {
			first = bind_bucket_owners(tb);
		} else {
			first = (__u64)BPF_CORE_READ(b, bhash2.first);
			first = first ? rd64(first -
					     bpf_core_field_offset(struct inet_bind2_bucket,
								   bhash_node) +
					     bpf_core_field_offset(struct inet_bind2_bucket,
								   owners))
				      : 0;
		}
		if (first)
			sample(ns->bound_ino, &ns->bound_owned,
			       first - bpf_core_field_offset(struct sock_common, skc_bind_node));
		return;
	}
	w->nseen = 0;
	if (bind_bucket_has_owners()) {
		w->owner = bind_bucket_owners(tb);
		w->phase = CP_OWNERS;
	} else {
		w->tb2 = (__u64)BPF_CORE_READ(b, bhash2.first);
		w->phase = CP_TB2;
	}
}

static __always_inline __u32 dest_hash(const struct tw_dest_key *k)
{
	const __u32 *w = (const void *)k;
	__u32 h = 2166136261u;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = (h ^ w[i]) * 16777619u;
	return h;
}

/* A socket of a port connect() took: one more port in use toward its destination. */
__noinline int census_sock(__u32 cpu)
{
	__u32 zero = 0;
	struct census_scratch *s = bpf_map_lookup_elem(&census_buf, &zero);
	struct census_walk *w = bpf_map_lookup_elem(&census_walks, &zero);
	struct tw_dest_key k = {};
	struct tw_dest_use *u, fresh = {};
	const struct sock_common *c;
	__u64 skc;
	__u32 h;

	if (!w)
		return 0;
	skc = w->owner - bpf_core_field_offset(struct sock_common, skc_bind_node);
	if (!s || bpf_probe_read_kernel(s->skc, bpf_core_type_size(struct sock_common),
					(const void *)skc)) {
		w->owner = 0;
		return 0;
	}
	c = (const void *)s->skc;
	w->owner = (__u64)c->skc_bind_node.next;
	census_stats.sockets++;
	k.netns_cookie = w->cookie;
	k.netns = w->netns;
	k.family = c->skc_family;
	k.port = bpf_ntohs(c->skc_dport);
	if (k.family == AF_INET6)
		__builtin_memcpy(k.addr, &c->skc_v6_daddr, 16);
	else
		__builtin_memcpy(k.addr, &c->skc_daddr, 4);
	/* a v4-mapped peer is that IPv4 destination: the same 4-tuples, the same ports */
	if (k.family == AF_INET6 && !(*(__u64 *)k.addr) && *(__u32 *)(k.addr + 8) == bpf_htonl(0xffff)) {
		__builtin_memcpy(k.addr, &c->skc_daddr, 4);
		__builtin_memset(k.addr + 4, 0, 12);
		k.family = AF_INET;
	}
	/* a port counts once per destination, whatever the source addresses toward it */
	h = dest_hash(&k);
	for (int j = 0; j < TB_SEEN; j++)
		if (j < w->nseen && w->seen[j] == h)
			return 0;
	if (w->nseen < TB_SEEN)
		w->seen[w->nseen++ & (TB_SEEN - 1)] = h;
	u = bpf_map_lookup_elem(&census_dests, &k);
	if (!u) {
		if (bpf_map_update_elem(&census_dests, &k, &fresh, BPF_NOEXIST))
			census_stats.full = 1;
		u = bpf_map_lookup_elem(&census_dests, &k);
		if (!u)
			return 0;
	}
	u->in_use++;
	if (c->skc_state == TCP_TIME_WAIT)
		u->time_wait++;
	else
		sample(u->ino, &u->owned, skc);
	return 0;
}

static long census_step(__u32 i, void *ctx)
{
	__u32 zero = 0;
	struct census_walk *w = bpf_map_lookup_elem(&census_walks, &zero);
	__u64 node;

	if (!w)
		return 1;
	switch (w->phase) {
	case CP_BUCKET:
		if (w->bucket >= w->size)
			return 1;
		w->chain = rd64(w->bhash +
				(__u64)w->bucket * bpf_core_type_size(struct inet_bind_hashbucket) +
				bpf_core_field_offset(struct inet_bind_hashbucket, chain));
		w->bucket++;
		census_stats.buckets++;
		w->phase = CP_CHAIN;
		return 0;
	case CP_CHAIN:
		census_bucket(w);
		return 0;
	case CP_TB2:
		if (bind_bucket_has_owners())
			return 1;
		node = w->tb2;
		if (!node) {
			w->phase = CP_CHAIN;
			return 0;
		}
		w->tb2 = rd64(node);
		w->owner = rd64(node - bpf_core_field_offset(struct inet_bind2_bucket, bhash_node) +
				bpf_core_field_offset(struct inet_bind2_bucket, owners));
		w->phase = CP_OWNERS;
		return 0;
	case CP_OWNERS:
		if (!w->owner) {
			w->phase = bind_bucket_has_owners() ? CP_CHAIN : CP_TB2;
			return 0;
		}
		census_sock(0);
		return 0;
	default:
		return 1;
	}
}

/* One slice, run by user space (BPF_PROG_TEST_RUN) until census_stats.done. */
SEC("raw_tp")
int census_run(void *ctx)
{
	__u32 zero = 0;
	struct census_walk *w = bpf_map_lookup_elem(&census_walks, &zero);
	long left, steps;

	if (!w)
		return 0;
	if (census_stats.restart) {
		struct task_struct *task = bpf_get_current_task_btf();
		const struct net *net = BPF_CORE_READ(task, nsproxy, net_ns);
		const struct inet_hashinfo *h = BPF_CORE_READ(net_death_row(net), hashinfo);

		__builtin_memset(&census_stats, 0, sizeof(census_stats));
		__builtin_memset(w, 0, sizeof(*w));
		w->bhash = (__u64)BPF_CORE_READ(h, bhash);
		w->size = BPF_CORE_READ(h, bhash_size);
	}
	if (census_stats.done || !w->bhash) {
		census_stats.done = 1;
		return 0;
	}
	census_stats.slices++;
	left = CENSUS_STEPS - w->steps;
	steps = left < CENSUS_SLICE ? left : CENSUS_SLICE;
	steps = bpf_loop(steps, census_step, NULL, 0);
	w->steps += steps;
	if (steps < CENSUS_SLICE || w->steps >= CENSUS_STEPS) {
		census_stats.done = 1;
		/* stopped by the step cap, not by the callback at the end of the table */
		census_stats.partial = w->bucket < w->size || w->phase != CP_BUCKET;
	}
	return 0;
}
