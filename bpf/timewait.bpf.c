// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TIME_WAIT lifecycle from the timer tracepoints of tw_timer_handler timers.
 * timer_start: armed (inet_twsk_hashdance_schedule) or re-armed (inet_twsk_reschedule).
 * timer_cancel: detach_timer(), both before a normal expiry and on an early kill
 * (inet_twsk_deschedule_put) or a bucket change in __mod_timer; timer_expire_entry follows
 * only the expiry, timer_start only the re-arm. A cancel takes the tw out of the live table at
 * once (a killed tw's memory, and so its timer's address, may be reused by a new tw on any CPU)
 * and parks it per CPU: the next timer event on that CPU, or the flush program, tells whether it
 * was re-armed (put back), expired or killed. A new tw is read at its arm through
 * bpf_rdonly_cast (direct loads): inet_twsk_alloc() and tcp_time_wait() filled it before.
 */
#include "timewait.bpf.h"

#define NSEC_PER_SEC 1000000000ULL
/* A normal expiry follows its cancel within microseconds; older parked cancels were kills. */
#define EXPIRY_GRACE_S 1

struct tw_pend {
	__u64 timer;
	__u64 ts_jiffies; /* of the cancel: jiffies are a load, the ns clock a helper call */
	__u64 scratch;	  /* a pointer stored and read back is a plain number to the verifier */
	__u8 expiring;	  /* jiffies >= expires at the cancel: the expiry path */
	__u8 tracked;	  /* tw holds the live entry taken out at the cancel */
	__u8 pad[6];
	struct tw_live tw;
};

/* The timer's address as a number, without the helper call of ptr_value(). */
static __always_inline __u64 timer_value(struct tw_pend *p, const struct timer_list *timer)
{
	*(volatile __u64 *)&p->scratch = (__u64)timer;
	return *(volatile __u64 *)&p->scratch;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_pend);
} pend SEC(".maps");

static __always_inline __u64 jiffies_to_ns(__s64 j)
{
	return j > 0 ? j * (NSEC_PER_SEC / kernel_hz()) : 0;
}

static __always_inline bool is_tw_timer(const struct timer_list *timer)
{
	return (__u64)timer->function == cfg.tw_timer_fn;
}

__u32 port_slots_used = 0;

/* Ends the tracked life of a tw taken out of the table: counters, gauge, event. */
static __always_inline void tw_end(struct tw_live *l, __u8 reason)
{
	total_add(reason == TW_EXIT_EXPIRED ? TW_TOT_TW_EXPIRED : TW_TOT_TW_KILLED, 1);
	port_count(l->slot, reason == TW_EXIT_EXPIRED ? PORT_EXPIRED : PORT_KILLED);
	emit_tw_exit(l, reason);
}

/* Takes timer's entry out of the table into the parking slot. */
static __always_inline void take_out(struct tw_pend *p, const struct timer_list *timer, __u64 tp)
{
	struct tw_live *l;
	__u32 at;

	l = live_find(tp, &at);
	p->tracked = l != NULL;
	if (!l) {
		total_add(TW_TOT_TW_UNTRACKED, 1);
		return;
	}
	/* its close, which names the owner, was skipped or lost a race with this end */
	if (enter_claim(l)) {
		struct tw_enter_info info = {};

		tw_info(&info, tw_of_timer(timer), jiffies_to_ns(timer->expires - bpf_jiffies64()));
		enter_send_late(l, &info, NULL);
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

/* A parked cancel of another timer was a kill: nothing re-armed or expired it. Inlined: every
 * timer event on the host runs this, and it must cost a few loads when nothing is parked. */
static __always_inline struct tw_pend *pend_settle(__u64 timer)
{
	__u32 zero = 0;
	struct tw_pend *p;

	if (cfg.hooks_only)
		return NULL;
	p = bpf_map_lookup_elem(&pend, &zero);
	if (p && p->timer && p->timer != timer && !p->expiring)
		pend_end(p, TW_EXIT_KILLED);
	return p;
}

/*
 * A new tw, complete at its arm: tuple, key, counters and, unless the close must name the
 * socket's owner first (owner tracking), its tw_enter. No other CPU can cancel it while this
 * runs: timer_start runs under the timer base lock.
 */
static __always_inline void tw_arm(struct tw_live *l, const struct inet_timewait_sock *tw,
				   __u64 now, const struct tw_enter_info *info, bool tracked)
{
	const struct sock_common *skc = &tw->__tw_common;
	const struct net *net = skc->skc_net.net;
	struct tw_proc owner = {};
	struct tw_tuple t;

	tuple_direct(&t, skc);
	live_set_tuple(l, &t);
	l->netns = net->ns.inum;
	l->enter_jiffies = now;
	l->flags = 0;
	l->pid = 0;
	l->side = TW_SIDE_LOCAL;
	l->wanted = 0;
	l->slot = TW_NO_SLOT;
	if (!tuple_wanted(l->netns, t.family, t.sport, t.dport))
		return;
	l->wanted = TW_LIVE_WANTED;
	l->slot = tuple_slot(&t, l->netns, net, &l->side, &owner);
	l->pid = owner.pid;
	/* not in the table: no end will be seen, so neither a gauge step nor a tw_enter */
	if (!tracked)
		return;
	port_count(l->slot, PORT_ENTER);
	if (owners_tracked()) {
		l->wanted |= TW_LIVE_ENTER_LATER;
		return;
	}
	emit_tw_enter(l, info, &owner);
}

SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	__u64 tp = (__u64)timer;
	struct tw_pend *p = pend_settle(tp);
	const struct inet_timewait_sock *tw;
	struct tw_live *l, spare;
	struct tw_enter_info info = {};
	__u64 now;

	if (!p || !is_tw_timer(timer))
		return 0;
	tp = timer_value(p, timer);
	if (p->timer == tp) {
		/* FIN_WAIT2 -> TIME_WAIT or a retransmitted FIN: the same tw goes back in */
		p->timer = 0;
		total_add(TW_TOT_TW_REARMED, 1);
		if (!p->tracked)
			return 0;
		l = live_insert(tp);
		if (l) {
			__u64 key = l->timer;

			*l = p->tw;
			l->timer = key;
		} else {
			total_add(TW_TOT_TW_MAP_FULL, 1);
			port_count(p->tw.slot, PORT_UNTRACK);
		}
		return 0;
	}
	total_add(TW_TOT_TW_ENTERED, 1);
	tw = tw_of_timer(timer);
	now = bpf_jiffies64();
	l = live_insert(tp);
	if (!l)
		total_add(TW_TOT_TW_MAP_FULL, 1);
	tw_info(&info, tw, jiffies_to_ns(bucket_expiry - now));
	tw_arm(l ? l : &spare, tw, now, &info, l != NULL);
	armed_push(tp, tw->__tw_common.skc_hash, &info, l != NULL);
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tw_timer_cancel, struct timer_list *timer)
{
	struct tw_pend *p = pend_settle((__u64)timer);
	__u64 tp;

	if (!p || !is_tw_timer(timer))
		return 0;
	tp = timer_value(p, timer);
	if (p->timer == tp)
		return 0;
	if (p->timer)
		pend_end(p, TW_EXIT_KILLED);
	p->timer = tp;
	p->ts_jiffies = bpf_jiffies64();
	p->expiring = (__s64)(p->ts_jiffies - timer->expires) >= 0;
	take_out(p, timer, tp);
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(tw_timer_expire, struct timer_list *timer, unsigned long baseclk)
{
	struct tw_pend *p = pend_settle((__u64)timer);
	__u64 tp;

	if (!p || !is_tw_timer(timer))
		return 0;
	tp = timer_value(p, timer);
	if (p->timer != tp) {
		/* no cancel seen: the expiry path always detaches first, so take it out now */
		if (p->timer)
			pend_end(p, TW_EXIT_KILLED);
		p->timer = tp;
		take_out(p, timer, tp);
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
