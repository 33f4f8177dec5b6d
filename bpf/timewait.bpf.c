// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TIME_WAIT lifecycle from the timer tracepoints of tw_timer_handler timers.
 * timer_start: armed (inet_twsk_hashdance_schedule) or re-armed (inet_twsk_reschedule).
 * timer_cancel: detach_timer(), both before a normal expiry and on an early kill
 * (inet_twsk_deschedule_put) or a bucket change in __mod_timer; timer_expire_entry follows
 * only the expiry, timer_start only the re-arm. A cancel is parked per CPU until the next timer
 * event on that CPU, or the flush program, tells which it was: any timer event must settle it,
 * because a killed tw's memory can be reused by a new tw (and timer) on the same CPU. The tuple, key and owner of a
 * new tw are filled in from the full socket (states.bpf.c): reading them here would take a dozen
 * probe reads per TIME_WAIT.
 */
#include "timewait.bpf.h"

#define NSEC_PER_SEC 1000000000ULL
/* A normal expiry follows its cancel within microseconds; older parked cancels were kills. */
#define EXPIRY_GRACE_NS NSEC_PER_SEC

struct tw_pend {
	__u64 timer;
	__u64 ts_ns;
	__u64 scratch; /* a pointer stored and read back is a plain number to the verifier */
	__u8 expiring; /* jiffies >= expires at the cancel: the expiry path */
	__u8 pad[7];
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

/* Ends the tracked life of a tw: counters, gauge, event, then forget it. */
static __noinline void tw_exit(__u64 timer, __u8 reason)
{
	struct tw_exit_rec *r;
	struct tw_live *l;
	__u32 at;

	l = live_find(timer, &at);
	if (!l) {
		total_add(TW_TOT_TW_UNTRACKED, 1);
		return;
	}
	total_add(reason == TW_EXIT_EXPIRED ? TW_TOT_TW_EXPIRED : TW_TOT_TW_KILLED, 1);
	port_count(l->slot, reason == TW_EXIT_EXPIRED ? PORT_EXPIRED : PORT_KILLED);
	if (l->wanted && (cfg.events & TW_EV_TW) && pid_wanted(l->pid)) {
		r = rb_reserve(sizeof(*r));
		if (r) {
			hdr_fill(&r->hdr, TW_REC_TW_EXIT, sizeof(*r), l->netns);
			live_get_tuple(l, &r->t);
			__builtin_memset(&r->proc, 0, sizeof(r->proc));
			r->proc.pid = l->pid;
			r->age_ns = jiffies_age_ns(l->enter_jiffies);
			r->reason = reason;
			r->side = l->side;
			r->flags = l->flags;
			__builtin_memset(r->pad, 0, sizeof(r->pad));
			rb_submit(r, false);
		}
	}
	live_delete(l, at, timer);
}

/* A parked cancel of another timer was a kill: nothing re-armed or expired it. Inlined: every
 * timer event on the host runs this, and it must cost a few loads when nothing is parked. */
static __always_inline struct tw_pend *pend_settle(__u64 timer)
{
	__u32 zero = 0;
	struct tw_pend *p = bpf_map_lookup_elem(&pend, &zero);

	if (p && p->timer && p->timer != timer && !p->expiring) {
		__u64 old = p->timer;

		p->timer = 0;
		tw_exit(old, TW_EXIT_KILLED);
	}
	return p;
}

static __always_inline void pend_park(struct tw_pend *p, const struct timer_list *timer)
{
	if (p->timer) {
		__u64 old = p->timer;

		p->timer = 0;
		tw_exit(old, TW_EXIT_KILLED);
	}
	p->timer = (__u64)timer;
	p->ts_ns = bpf_ktime_get_ns();
	p->expiring = (__s64)(bpf_jiffies64() - timer->expires) >= 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	struct inet_timewait_sock *tw;
	struct tw_live *l;
	__u64 tp = (__u64)timer;
	struct tw_pend *p = pend_settle(tp);

	if (!p || !is_tw_timer(timer))
		return 0;
	if (p->timer == tp) {
		/* FIN_WAIT2 -> TIME_WAIT or a retransmitted FIN: the same tw, not a new one */
		p->timer = 0;
		total_add(TW_TOT_TW_REARMED, 1);
		return 0;
	}
	tp = timer_value(p, timer);
	total_add(TW_TOT_TW_ENTERED, 1);
	/* inserted now so that a kill on another CPU before tcp_done() still finds it */
	l = live_insert(tp);
	if (l) {
		l->enter_jiffies = bpf_jiffies64();
		l->flags = 0;
		l->wanted = 0;
		l->slot = TW_NO_SLOT;
	} else {
		total_add(TW_TOT_TW_MAP_FULL, 1);
	}
	tw = tw_of_timer(timer);
	armed_push(tp, BPF_CORE_READ(tw, __tw_common.skc_hash),
		   jiffies_to_ns(bucket_expiry - bpf_jiffies64()));
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tw_timer_cancel, struct timer_list *timer)
{
	struct tw_pend *p = pend_settle((__u64)timer);

	if (p && p->timer != (__u64)timer && is_tw_timer(timer))
		pend_park(p, timer);
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(tw_timer_expire, struct timer_list *timer, unsigned long baseclk)
{
	struct tw_pend *p = pend_settle((__u64)timer);

	if (!is_tw_timer(timer))
		return 0;
	if (!p)
		return 0;
	if (p->timer == (__u64)timer)
		p->timer = 0;
	tw_exit(timer_value(p, timer), TW_EXIT_EXPIRED);
	return 0;
}

/* Run by user space on each CPU (BPF_F_TEST_RUN_ON_CPU) so no kill stays parked for long. */
SEC("raw_tp")
int tw_flush(void *ctx)
{
	__u32 zero = 0;
	struct tw_pend *p = bpf_map_lookup_elem(&pend, &zero);
	__u64 old;

	if (!p || !p->timer || (p->expiring && bpf_ktime_get_ns() - p->ts_ns <= EXPIRY_GRACE_NS))
		return 0;
	old = p->timer;
	p->timer = 0;
	tw_exit(old, TW_EXIT_KILLED);
	return 0;
}
