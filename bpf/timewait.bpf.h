/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TIME_WAIT tracking state shared by timewait.bpf.c, states.bpf.c, iter.bpf.c and bindpath. */
#ifndef TWSCOPE_TIMEWAIT_BPF_H
#define TWSCOPE_TIMEWAIT_BPF_H

#include "twscope.bpf.h"

#define TW_ARMED_SLOTS 4
#define TW_LIVE_PROBES 32

/*
 * Live TIME_WAITs: an open-addressing table in an array (sized by user space, a power of two),
 * because a hash map costs hundreds of ns per operation and a tw takes several.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 17);
	__uint(map_flags, BPF_F_MMAPABLE); /* page-aligned values: a slot is one cache line */
	__type(key, __u32);
	__type(value, struct tw_live);
} live SEC(".maps") __weak;

/* Per-port counters by slot; user space maps the array and reads it without syscalls. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TW_PORT_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tw_port_val);
} port_ctr SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_PORT_SLOTS);
	__type(key, struct tw_port_key);
	__type(value, __u32);
} port_slot SEC(".maps") __weak;

/* Slots user space freed, taken first by new keys. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, TW_PORT_SLOTS);
	__type(value, __u32);
} port_free SEC(".maps") __weak;

/* The key of each slot, for user space: written once the slot is the key's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TW_PORT_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tw_port_key);
} port_keys SEC(".maps") __weak;

/* Slots handed out so far (defined in timewait.bpf.c). */
extern __u32 port_slots_used;

/*
 * Owning process by socket cookie (only with --events state or --pid; states.bpf.c names it at
 * the owner's connect, listen and close), direct-mapped: socket storage would allocate, clone
 * into each accepted socket and free, at about a microsecond each per connection. A tw carries
 * its socket's cookie (inet_twsk_alloc() copies it), so its owner is known at its arm.
 */
#define OWNER_SLOTS_SHIFT 17

struct owner_slot {
	__u64 cookie; /* unique per socket, never reused: no stale owner for a new socket */
	struct tw_proc owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << OWNER_SLOTS_SHIFT);
	__type(key, __u32);
	__type(value, struct owner_slot);
} owners SEC(".maps") __weak;

static __always_inline struct owner_slot *owner_slot(__u64 cookie)
{
	__u32 idx = (__u32)((cookie * 0x9E3779B97F4A7C15ULL) >> (64 - OWNER_SLOTS_SHIFT));

	return bpf_map_lookup_elem(&owners, &idx);
}

/*
 * Hashes of the sockets whose tw this CPU armed last: tcp_time_wait() arms the tw, then
 * tcp_done() closes the socket on the same CPU; a close with no arm just before, while the
 * table looks full, is an overflow. A few slots: local_bh_enable() inside tcp_time_wait() may
 * run softirqs that arm and close other sockets in between.
 */
#define TW_RECENT_ARMS 4

struct tw_recent {
	__u32 hash[TW_RECENT_ARMS];
	__u32 next;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_recent);
} recent_arms SEC(".maps") __weak;

/* Socket owners are tracked (states.bpf.c) only when state events or --pid need them. */
static __always_inline bool owners_tracked(void)
{
	return (cfg.events & TW_EV_STATE) || cfg.pid;
}

enum port_field {
	PORT_ENTER,
	PORT_SEED,
	PORT_EXPIRED,
	PORT_KILLED,
	PORT_OVERFLOW,
	PORT_BIND_ERR,
	PORT_UNTRACK, /* still alive, but no longer in the live table: out of the gauge */
};

static __always_inline __u32 live_hash(__u64 timer)
{
	return (__u32)((timer * 0x9E3779B97F4A7C15ULL) >> 32);
}

/* The slot of timer, its index in *at; NULL when not tracked. */
static __always_inline struct tw_live *live_find(__u64 timer, __u32 *at)
{
	__u32 h = live_hash(timer), idx;
	struct tw_live *e;

	for (int i = 0; i < TW_LIVE_PROBES; i++) {
		idx = (h + i) & cfg.live_mask;
		e = bpf_map_lookup_elem(&live, &idx);
		if (!e || e->timer == TW_LIVE_EMPTY)
			return NULL;
		if (e->timer == timer) {
			*at = idx;
			return e;
		}
	}
	return NULL;
}

/* Claims a free slot for timer (compare-and-swap: another CPU may insert at the same time). */
static __always_inline struct tw_live *live_insert(__u64 timer)
{
	__u32 h = live_hash(timer), idx;
	struct tw_live *e;
	__u64 old;

	for (int i = 0; i < TW_LIVE_PROBES; i++) {
		idx = (h + i) & cfg.live_mask;
		e = bpf_map_lookup_elem(&live, &idx);
		if (!e)
			return NULL;
		old = e->timer;
		if ((old == TW_LIVE_EMPTY || old == TW_LIVE_DELETED) &&
		    __sync_val_compare_and_swap(&e->timer, old, timer) == old)
			return e;
	}
	return NULL;
}

/* What the programs learn from the kernel at start (timewait.bpf.c): no config file needed. */
extern struct tw_learned tw_learned;

/*
 * The kernel's HZ, from a TIME_WAIT's timer (TCP_TIMEWAIT_LEN is 60 * HZ jiffies): learned at
 * start from the agent's own probe, else from the first TIME_WAIT armed; Debian's value until.
 */
static __always_inline __u32 kernel_hz(void)
{
	__u32 hz = tw_learned.hz;

	return hz ? hz : 250;
}

/* Milliseconds since a jiffies stamp (32-bit arithmetic: ages below 49 days at HZ=1000). */
static __always_inline __u64 jiffies_age_ns(__u32 stamp)
{
	return (__u64)(__u32)((__u32)bpf_jiffies64() - stamp) * (1000000000ULL / kernel_hz());
}

/* The tuple kept in a live slot, and back. */
static __always_inline void live_set_tuple(struct tw_live *l, const struct tw_tuple *t)
{
	__builtin_memcpy(l->saddr, t->saddr, TW_ADDR_LEN);
	__builtin_memcpy(l->daddr, t->daddr, TW_ADDR_LEN);
	l->sport = t->sport;
	l->dport = t->dport;
	l->v6 = t->family == AF_INET6;
}

static __always_inline void live_get_tuple(const struct tw_live *l, struct tw_tuple *t)
{
	__builtin_memcpy(t->saddr, l->saddr, TW_ADDR_LEN);
	__builtin_memcpy(t->daddr, l->daddr, TW_ADDR_LEN);
	t->sport = l->sport;
	t->dport = l->dport;
	t->family = l->v6 ? AF_INET6 : AF_INET;
	t->pad = 0;
}

/*
 * Frees a slot, as a tombstone: later keys of the probe chain stay reachable. Inserts reuse
 * tombstones, and a lookup stops at its key, so only lookups of absent keys (rare) walk far.
 */
static __always_inline void live_delete(struct tw_live *e)
{
	/* a CPU that finds the next key here before its fields are written reads no counters */
	e->slot = TW_NO_SLOT;
	e->wanted = 0;
	e->timer = TW_LIVE_DELETED;
}

/* What a tw_enter says beyond the live entry. */
struct tw_enter_info {
	__u64 expires_in_ns;
	__u8 substate;
	__u8 reuseaddr;
	__u8 reuseport;
	__u8 pad[5];
};

static __always_inline bool tw_enter_wanted(const struct tw_live *l, const struct tw_proc *owner)
{
	return (cfg.events & TW_EV_TW) && l->wanted && pid_wanted(owner->pid);
}

static __always_inline bool tw_exit_wanted(const struct tw_live *l)
{
	return l->wanted && (cfg.events & TW_EV_TW) && pid_wanted(l->pid);
}

static __always_inline void fill_tw_enter(struct tw_enter_rec *r, const struct tw_live *l,
					  const struct tw_enter_info *e,
					  const struct tw_proc *owner, __u64 ts)
{
	r->hdr.type = TW_REC_TW_ENTER;
	r->hdr.size = sizeof(*r);
	r->hdr.netns = l->netns;
	r->hdr.ts_ns = ts;
	live_get_tuple(l, &r->t);
	r->proc = *owner;
	r->expires_in_ns = e->expires_in_ns;
	r->substate = e->substate;
	r->reuseaddr = e->reuseaddr;
	r->reuseport = e->reuseport;
	r->side = l->side;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
}

static __always_inline void emit_tw_enter(const struct tw_live *l, const struct tw_enter_info *e,
					  const struct tw_proc *owner)
{
	struct tw_enter_rec *r;

	if (!tw_enter_wanted(l, owner))
		return;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return;
	fill_tw_enter(r, l, e, owner, bpf_ktime_get_ns());
	rb_submit(r, false);
}

static __always_inline void fill_tw_exit(struct tw_exit_rec *r, const struct tw_live *l,
					 __u8 reason, __u64 ts)
{
	r->hdr.type = TW_REC_TW_EXIT;
	r->hdr.size = sizeof(*r);
	r->hdr.netns = l->netns;
	r->hdr.ts_ns = ts;
	live_get_tuple(l, &r->t);
	__builtin_memset(&r->proc, 0, sizeof(r->proc));
	r->proc.pid = l->pid;
	r->age_ns = jiffies_age_ns(l->enter_jiffies);
	r->reason = reason;
	r->side = l->side;
	r->flags = l->flags;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
}

static __always_inline void emit_tw_exit(const struct tw_live *l, __u8 reason)
{
	struct tw_exit_rec *r;

	if (!tw_exit_wanted(l))
		return;
	r = rb_reserve(sizeof(*r));
	if (!r)
		return;
	fill_tw_exit(r, l, reason, bpf_ktime_get_ns());
	rb_submit(r, false);
}

/* A kill settled by the arm of the next tw on the CPU, and that arm: one ring record, one clock
 * read. User space reads the records of a ring sample one after the other. */
struct tw_exit_enter {
	struct tw_exit_rec x;
	struct tw_enter_rec e;
};

static __always_inline void emit_exit_enter(const struct tw_live *x, const struct tw_live *e,
					    const struct tw_enter_info *info,
					    const struct tw_proc *owner)
{
	struct tw_exit_enter *r;
	__u64 ts;

	if (!x) {
		if (e)
			emit_tw_enter(e, info, owner);
		return;
	}
	if (!e) {
		emit_tw_exit(x, TW_EXIT_KILLED);
		return;
	}
	r = rb_reserve(sizeof(*r));
	if (!r) {
		total_add(TW_TOT_LOST_EVENTS, 1); /* rb_reserve counted the other */
		return;
	}
	ts = bpf_ktime_get_ns();
	fill_tw_exit(&r->x, x, TW_EXIT_KILLED, ts);
	fill_tw_enter(&r->e, e, info, owner, ts);
	rb_submit_n(r, sizeof(*r), false);
}

/* The listener of a (netns, port) that has or had one, or NULL. */
static __always_inline struct tw_listener *port_listener(__u64 cookie, __u16 port)
{
	struct tw_listen_key lk = { .netns_cookie = cookie, .port = port };

	return bpf_map_lookup_elem(&listen_ports, &lk);
}

/*
 * The counter slot of a key, handed out on first use: one user space freed (zeroed, key
 * cleared) if any, else a never used one; TW_NO_SLOT once all are taken.
 */
static __always_inline __u32 slot_for(const struct tw_port_key *k)
{
	__u32 *s = bpf_map_lookup_elem(&port_slot, k), n;
	bool reused = false;

	if (s)
		return *s;
	if (!bpf_map_pop_elem(&port_free, &n)) {
		reused = true;
	} else {
		if (port_slots_used >= TW_PORT_SLOTS)
			goto full;
		n = __sync_fetch_and_add(&port_slots_used, 1);
	}
	if (n >= TW_PORT_SLOTS)
		goto full;
	if (!bpf_map_update_elem(&port_slot, k, &n, BPF_NOEXIST)) {
		struct tw_port_key *pk = bpf_map_lookup_elem(&port_keys, &n);

		if (pk)
			*pk = *k;
		if (reused)
			total_add(TW_TOT_SLOTS_REUSED, 1);
		return n;
	}
	/* another CPU keyed it first: use its slot, this one goes (back) to the free list */
	bpf_map_push_elem(&port_free, &n, 0);
	s = bpf_map_lookup_elem(&port_slot, k);
	return s ? *s : TW_NO_SLOT;
full:
	total_add(TW_TOT_PORTS_FULL, 1);
	return TW_NO_SLOT;
}

static __always_inline void local_key(struct tw_port_key *k, __u64 cookie, __u32 netns, __u16 port)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->netns_cookie = cookie;
	k->netns = netns;
	k->port = port;
	k->side = TW_SIDE_LOCAL;
}

/*
 * The counter slot of a tw or a socket on its way to one, and its side: local when the local
 * port is served here (has or had a listener), or, with no listener seen, a fixed port talking
 * to an ephemeral one; remote otherwise, keyed by the destination. *owner gets the listener's.
 */
static __always_inline __u32 tuple_slot(const struct tw_tuple *t, __u32 netns, __u64 cookie,
					const struct net *net, __u8 *side, struct tw_proc *owner)
{
	struct tw_listener *lsn = port_listener(cookie, t->sport);
	struct tw_port_key k;
	__u16 lo, hi;

	*side = TW_SIDE_LOCAL;
	if (lsn) {
		if (owner)
			*owner = lsn->owner;
		if (lsn->slot == TW_NO_SLOT) {
			local_key(&k, cookie, netns, t->sport);
			lsn->slot = slot_for(&k);
		}
		return lsn->slot;
	}
	net_local_port_range(net, &lo, &hi);
	if ((t->sport < lo || t->sport > hi) && t->dport >= lo && t->dport <= hi) {
		local_key(&k, cookie, netns, t->sport);
		return slot_for(&k);
	}
	__builtin_memset(&k, 0, sizeof(k));
	k.netns_cookie = cookie;
	k.netns = netns;
	k.port = t->dport;
	k.side = TW_SIDE_REMOTE;
	k.family = t->family;
	__builtin_memcpy(k.addr, t->daddr, TW_ADDR_LEN);
	*side = TW_SIDE_REMOTE;
	return slot_for(&k);
}

static __always_inline void peak_raise(__u64 *peak, __u64 now)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u64 old = *peak;

		if (now <= old || __sync_val_compare_and_swap(peak, old, now) == old)
			return;
	}
}

static __always_inline void port_count(__u32 slot, enum port_field what)
{
	struct tw_port_val *v;
	__s64 now;

	if (slot >= TW_PORT_SLOTS)
		return;
	v = bpf_map_lookup_elem(&port_ctr, &slot);
	if (!v)
		return;
	switch (what) {
	case PORT_ENTER:
	case PORT_SEED:
		now = __sync_add_and_fetch(&v->tw, 1);
		if (what == PORT_ENTER)
			__sync_fetch_and_add(&v->entered, 1);
		if (now > 0)
			peak_raise(&v->tw_peak, now);
		break;
	case PORT_EXPIRED:
		__sync_fetch_and_sub(&v->tw, 1);
		__sync_fetch_and_add(&v->expired, 1);
		break;
	case PORT_KILLED:
		__sync_fetch_and_sub(&v->tw, 1);
		__sync_fetch_and_add(&v->killed, 1);
		break;
	case PORT_UNTRACK:
		__sync_fetch_and_sub(&v->tw, 1);
		break;
	case PORT_OVERFLOW:
		__sync_fetch_and_add(&v->overflow, 1);
		break;
	case PORT_BIND_ERR:
		__sync_fetch_and_add(&v->bind_errors, 1);
		break;
	}
}

#endif
