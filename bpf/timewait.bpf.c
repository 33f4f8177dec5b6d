// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TIME_WAIT lifecycle from the timer tracepoints of tw_timer_handler timers.
 * timer_start: armed (tcp_time_wait()) or re-armed (inet_twsk_reschedule()); a new tw is
 * complete at its arm: tuple, counters, owner (by its socket's cookie) and tw_enter.
 * timer_cancel: detach_timer(), both before a normal expiry and on an early kill
 * (inet_twsk_deschedule_put) or a bucket change in __mod_timer; timer_expire_entry follows
 * only the expiry, timer_start only the re-arm, on the same CPU at once. A cancel takes the tw
 * out of the live table (a killed tw's memory, and so its timer's address, may be reused by a
 * new tw on any CPU) and parks it per CPU with its cookie: the next tw timer event on that CPU,
 * or the flush program, tells whether it was re-armed (the same cookie comes back: put back),
 * expired or killed. Other timers cost a compare: under churn the next tw event comes within
 * microseconds, and a kill it settles goes out in one ring record with the new tw's tw_enter.
 * The tw is read at its arm with direct loads through bpf_rdonly_cast (6.2+), or with
 * BPF_CORE_READ where the kernel lacks it: user space loads one of the two programs.
 */
#include "timewait.bpf.h"

#define NSEC_PER_SEC 1000000000ULL
/* A normal expiry follows its cancel within microseconds; older parked cancels were kills. */
#define EXPIRY_GRACE_S	   1
#define TCP_TIMEWAIT_LEN_S 60

/* Kernel 6.2+: a kernel address as a read-only BTF pointer; weak, so 6.1 loads the object. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

__u32 port_slots_used = 0;
struct tw_learned tw_learned = {};

struct tw_pend {
	__u64 timer;
	__u64 cookie;	  /* of the parked tw: a re-arm brings the same one back */
	__u64 ts_jiffies; /* of the cancel: jiffies are a load, the ns clock a helper call */
	__u64 scratch;	  /* a pointer stored and read back is a plain number to the verifier */
	__u8 expiring;	  /* jiffies >= expires at the cancel: the expiry path */
	__u8 tracked;	  /* tw holds the live entry taken out at the cancel */
	__u8 pad[6];
	struct tw_live tw;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_pend);
} pend SEC(".maps");

/* Everything the programs need from a tw, read once at its arm. */
struct tw_view {
	struct tw_tuple t;
	const struct net *net;
	__u64 cookie;
	__u64 net_cookie;
	__u32 netns;
	__u32 hash;
	__u8 substate;
	__u8 reuseaddr;
	__u8 reuseport;
};

/* The timer's address as a number, without the helper call of ptr_value(). */
static __always_inline __u64 timer_value(struct tw_pend *p, const struct timer_list *timer)
{
	*(volatile __u64 *)&p->scratch = (__u64)timer;
	return *(volatile __u64 *)&p->scratch;
}

/* container_of through a scalar: the verifier refuses negative offsets on BTF pointers. */
static __always_inline __u64 tw_addr(__u64 timer)
{
	return timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
}

/* inet_twsk_alloc() and tcp_time_wait() filled all of it before the arm. */
static __always_inline void tw_read(struct tw_view *v, __u64 timer, bool direct)
{
	const struct inet_timewait_sock *tw = (const void *)tw_addr(timer);
	const struct sock_common *skc;

	if (direct) {
		tw = bpf_rdonly_cast(tw, bpf_core_type_id_kernel(struct inet_timewait_sock));
		skc = &tw->__tw_common;
		tuple_direct(&v->t, skc);
		v->net = skc->skc_net.net;
		v->netns = v->net->ns.inum;
		v->net_cookie = v->net->net_cookie;
		v->cookie = skc->skc_cookie.counter;
		v->hash = skc->skc_hash;
		v->substate = tw->tw_substate;
		v->reuseaddr = BPF_CORE_READ_BITFIELD(skc, skc_reuse) != 0;
		v->reuseport = BPF_CORE_READ_BITFIELD(skc, skc_reuseport);
	} else {
		skc = &tw->__tw_common;
		tuple_core(&v->t, skc);
		v->net = BPF_CORE_READ(skc, skc_net.net);
		v->netns = net_inum(v->net);
		v->net_cookie = net_cookie(v->net);
		v->cookie = BPF_CORE_READ(skc, skc_cookie.counter);
		v->hash = BPF_CORE_READ(skc, skc_hash);
		v->substate = BPF_CORE_READ(tw, tw_substate);
		v->reuseaddr = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuse) != 0;
		v->reuseport = BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuseport);
	}
}

/* The socket cookie a tw carries, read where it parks (a helper call, once per tw end). */
static __always_inline __u64 tw_cookie(__u64 timer)
{
	const struct inet_timewait_sock *tw = (const void *)tw_addr(timer);

	return BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
}

static __always_inline __u64 jiffies_to_ns(__s64 j)
{
	return j > 0 ? j * (NSEC_PER_SEC / kernel_hz()) : 0;
}

static __always_inline bool is_tw_timer(const struct timer_list *timer)
{
	__u64 fn = (__u64)timer->function;

	return fn && fn == tw_learned.timer_fn;
}

/* HZ from a TIME_WAIT being armed: tcp_time_wait() asked for jiffies + TCP_TIMEWAIT_LEN. */
static __always_inline void learn_hz(const struct timer_list *timer, __u64 now)
{
	__s64 len = (__s64)(timer->expires - now);

	if (len > 0)
		tw_learned.hz = (len + TCP_TIMEWAIT_LEN_S / 2) / TCP_TIMEWAIT_LEN_S;
}

/* Ends the tracked life of a tw taken out of the table: counters and gauge. */
static __always_inline void tw_count_end(struct tw_live *l, __u8 reason)
{
	total_add(reason == TW_EXIT_EXPIRED ? TW_TOT_TW_EXPIRED : TW_TOT_TW_KILLED, 1);
	port_count(l->slot, reason == TW_EXIT_EXPIRED ? PORT_EXPIRED : PORT_KILLED);
}

/* The same and its event. */
static __always_inline void tw_end(struct tw_live *l, __u8 reason)
{
	tw_count_end(l, reason);
	emit_tw_exit(l, reason);
}

/* The agent's own start probe: its end is nobody's TIME_WAIT. */
static __always_inline bool is_probe_tw(__u64 timer)
{
	const struct inet_timewait_sock *tw = (const void *)tw_addr(timer);

	return tw_learned.probe_net &&
	       BPF_CORE_READ(tw, __tw_common.skc_net.net, net_cookie) == tw_learned.probe_net;
}

/* Parks timer's tw, taking its entry out of the table. */
static __always_inline void park(struct tw_pend *p, const struct timer_list *timer, __u64 tp)
{
	struct tw_live *l;
	__u32 at;

	p->timer = tp;
	p->ts_jiffies = bpf_jiffies64();
	p->expiring = (__s64)(p->ts_jiffies - timer->expires) >= 0;
	p->cookie = tw_cookie(tp);
	l = live_find(tp, &at);
	p->tracked = l != NULL;
	if (!l) {
		if (!is_probe_tw(tp))
			total_add(TW_TOT_TW_UNTRACKED, 1);
		return;
	}
	p->tw = *l;
	live_delete(l);
}

/* The parked tw was not re-armed: it ended. */
static __always_inline void pend_end(struct tw_pend *p, __u8 reason)
{
	p->timer = 0;
	if (p->tracked)
		tw_end(&p->tw, reason);
}

/* The parked kill as it is settled by the arm of the next tw: counted now, its event goes out
 * with the arm's. True when it has an event. */
static __always_inline bool pend_take(struct tw_pend *p)
{
	p->timer = 0;
	if (!p->tracked)
		return false;
	tw_count_end(&p->tw, TW_EXIT_KILLED);
	return tw_exit_wanted(&p->tw);
}

/* This CPU's parking slot, unless the programs only measure the hooks. */
static __always_inline struct tw_pend *pend_get(void)
{
	__u32 zero = 0;

	if (cfg.hooks_only)
		return NULL;
	return bpf_map_lookup_elem(&pend, &zero);
}

/* A parked cancel of another tw timer was a kill: nothing re-armed or expired it. */
static __always_inline void pend_settle(struct tw_pend *p, __u64 timer)
{
	if (p->timer && p->timer != timer && !p->expiring)
		pend_end(p, TW_EXIT_KILLED);
}

/* The same tw armed again (FIN_WAIT2 -> TIME_WAIT, a retransmitted FIN): it goes back in. */
static __always_inline void rearm(struct tw_pend *p, __u64 tp)
{
	struct tw_live *l;
	__u64 key;

	p->timer = 0;
	total_add(TW_TOT_TW_REARMED, 1);
	if (!p->tracked)
		return;
	l = live_insert(tp);
	if (!l) {
		total_add(TW_TOT_TW_MAP_FULL, 1);
		port_count(p->tw.slot, PORT_UNTRACK);
		return;
	}
	key = l->timer;
	*l = p->tw;
	l->timer = key;
}

/* For the overflow test of the close that follows (states.bpf.c). */
static __always_inline void recent_arm(__u32 hash)
{
	__u32 zero = 0;
	struct tw_recent *r = bpf_map_lookup_elem(&recent_arms, &zero);

	if (r)
		r->hash[r->next++ & (TW_RECENT_ARMS - 1)] = hash;
}

/*
 * A new tw: tuple, key, counters and owner; true when it has a tw_enter. The owner is its
 * socket's, by cookie (owner tracking), else its port's server. No other CPU can cancel it while
 * this runs: timer_start runs under the timer base lock.
 */
static __always_inline bool tw_arm(struct tw_live *l, const struct tw_view *v, __u64 now,
				   bool tracked, struct tw_proc *owner)
{
	struct owner_slot *o;

	live_set_tuple(l, &v->t);
	l->netns = v->netns;
	l->enter_jiffies = now;
	l->flags = 0;
	l->pid = 0;
	l->side = TW_SIDE_LOCAL;
	l->wanted = 0;
	l->slot = TW_NO_SLOT;
	if (!tuple_wanted(l->netns, v->t.family, v->t.sport, v->t.dport))
		return false;
	l->wanted = 1;
	l->slot = tuple_slot(&v->t, l->netns, v->net_cookie, v->net, &l->side, owner);
	if (owners_tracked() && v->cookie) {
		o = owner_slot(v->cookie);
		if (o && o->cookie == v->cookie)
			*owner = o->owner;
	}
	l->pid = owner->pid;
	/* not in the table: no end will be seen, so neither a gauge step nor a tw_enter */
	if (!tracked)
		return false;
	port_count(l->slot, PORT_ENTER);
	return tw_enter_wanted(l, owner);
}

/*
 * While the start probe runs (user/twprobe.c), before any tw is known: the probe's TIME_WAIT,
 * told by its netns cookie and ports, names tw_timer_handler and HZ. Any timer comes here then,
 * so its container is read with probe reads, which cannot fault.
 */
static __always_inline void probe_check(struct tw_pend *p, const struct timer_list *timer)
{
	const struct inet_timewait_sock *tw = (const void *)tw_addr(timer_value(p, timer));

	if (BPF_CORE_READ(tw, __tw_common.skc_num) != tw_learned.probe_sport ||
	    bpf_ntohs(BPF_CORE_READ(tw, __tw_common.skc_dport)) != tw_learned.probe_dport ||
	    BPF_CORE_READ(tw, __tw_common.skc_family) != AF_INET ||
	    BPF_CORE_READ(tw, __tw_common.skc_state) != TCP_TIME_WAIT ||
	    BPF_CORE_READ(tw, tw_substate) != TCP_TIME_WAIT ||
	    BPF_CORE_READ(tw, __tw_common.skc_net.net, net_cookie) != tw_learned.probe_net)
		return;
	learn_hz(timer, bpf_jiffies64());
	tw_learned.timer_fn = (__u64)timer->function;
}

static __always_inline int on_start(const unsigned long long *ctx, struct timer_list *timer,
				    bool direct)
{
	struct tw_pend *p = pend_get();
	struct tw_enter_info info = {};
	struct tw_proc owner = {};
	struct tw_live *l, spare;
	struct tw_view v = {};
	bool ended = false, enter;
	__u64 tp, now;

	if (!p)
		return 0;
	if (!is_tw_timer(timer)) {
		if (!tw_learned.timer_fn && tw_learned.probe_net)
			probe_check(p, timer);
		return 0;
	}
	tp = timer_value(p, timer);
	if (p->timer == tp) {
		/* the parked tw's own cookie: a re-arm; another: it was killed, this is a new tw */
		if (tw_cookie(tp) == p->cookie) {
			rearm(p, tp);
			return 0;
		}
		ended = pend_take(p);
	} else if (p->timer && !p->expiring) {
		ended = pend_take(p);
	}
	total_add(TW_TOT_TW_ENTERED, 1);
	now = bpf_jiffies64();
	tw_read(&v, tp, direct);
	if (!tw_learned.hz && v.substate == TCP_TIME_WAIT)
		learn_hz(timer, now);
	recent_arm(v.hash);
	l = live_insert(tp);
	if (!l)
		total_add(TW_TOT_TW_MAP_FULL, 1);
	info.expires_in_ns = jiffies_to_ns(timer_start_deadline(ctx) - now);
	info.substate = v.substate;
	info.reuseaddr = v.reuseaddr;
	info.reuseport = v.reuseport;
	if (!l)
		l = &spare;
	enter = tw_arm(l, &v, now, l != &spare, &owner);
	/* p->tw, the killed tw's entry, stays as it is: nothing parks until this program returns */
	emit_exit_enter(ended ? &p->tw : NULL, enter ? l : NULL, &info, &owner);
	return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start, struct timer_list *timer)
{
	return on_start(ctx, timer, true);
}

/* The same for kernels before 6.2, without bpf_rdonly_cast: every field a helper call. */
SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start_core, struct timer_list *timer)
{
	return on_start(ctx, timer, false);
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tw_timer_cancel, struct timer_list *timer)
{
	struct tw_pend *p = pend_get();

	if (!p || !is_tw_timer(timer))
		return 0;
	/* a parked tw of the same address too: a new tw there, armed on another CPU, ends */
	if (p->timer)
		pend_end(p, TW_EXIT_KILLED);
	park(p, timer, timer_value(p, timer));
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(tw_timer_expire, struct timer_list *timer)
{
	struct tw_pend *p = pend_get();
	__u64 tp;

	if (!p || !is_tw_timer(timer))
		return 0;
	tp = timer_value(p, timer);
	pend_settle(p, tp);
	if (p->timer != tp) {
		/* no cancel seen: the expiry path always detaches first, so take it out now */
		if (p->timer)
			pend_end(p, TW_EXIT_KILLED);
		park(p, timer, tp);
	}
	pend_end(p, TW_EXIT_EXPIRED);
	return 0;
}

/* Run by user space on each CPU (BPF_F_TEST_RUN_ON_CPU) so no kill stays parked for long. */
SEC("raw_tp")
int tw_flush(void *ctx)
{
	__u32 zero = 0;
	struct tw_pend *p = bpf_map_lookup_elem(&pend, &zero);

	if (!p || !p->timer ||
	    (p->expiring && bpf_jiffies64() - p->ts_jiffies <= EXPIRY_GRACE_S * kernel_hz()))
		return 0;
	pend_end(p, TW_EXIT_KILLED);
	return 0;
}
