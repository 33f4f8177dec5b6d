// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TIME_WAIT lifecycle from the timer tracepoints of tw_timer_handler timers.
 * timer_start: armed or re-armed (inet_twsk_hashdance_schedule / inet_twsk_reschedule).
 * timer_cancel: detach_timer(), both before a normal expiry and on an early kill
 * (inet_twsk_deschedule_put) or a bucket change in __mod_timer; timer_expire_entry follows
 * only the expiry, timer_start only the re-arm. The cancel is parked per CPU until the
 * next timer event on that CPU (or the flush program) tells which it was.
 */
#include "timewait.bpf.h"

extern unsigned int CONFIG_HZ __kconfig __weak;

#define NSEC_PER_SEC 1000000000ULL
/* A normal expiry follows its cancel within microseconds; older parked cancels were kills. */
#define EXPIRY_GRACE_NS NSEC_PER_SEC

struct tw_pend {
	__u64 timer;
	__u64 ts_ns;
	struct tw_tuple t;
	__u32 netns;
	__u8 expiring; /* jiffies >= expires at the cancel: the expiry path */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_pend);
} pend SEC(".maps");

static __always_inline __u64 jiffies_to_ns(__s64 j)
{
	__u32 hz = CONFIG_HZ ? CONFIG_HZ : 250;

	return j > 0 ? j * (NSEC_PER_SEC / hz) : 0;
}

static __always_inline bool is_tw_timer(const struct timer_list *timer)
{
	return (__u64)timer->function == cfg.tw_timer_fn;
}

/* Ends the tracked life of the parked tw: counters, gauge, event, then forget it. */
static __noinline void tw_exit(struct tw_pend *p, __u8 reason)
{
	struct tw_exit_rec *r;
	struct tw_live *l;
	__u64 timer = p->timer;

	p->timer = 0;
	l = bpf_map_lookup_elem(&live, &timer);
	if (!l) {
		total_add(TW_TOT_TW_UNTRACKED, 1);
		return;
	}
	total_add(reason == TW_EXIT_EXPIRED ? TW_TOT_TW_EXPIRED : TW_TOT_TW_KILLED, 1);
	if (l->counted) {
		port_count(&l->key, reason == TW_EXIT_EXPIRED ? PORT_EXPIRED : PORT_KILLED);
		if ((cfg.events & TW_EV_TW) && pid_wanted(l->proc.pid)) {
			r = rb_reserve(sizeof(*r));
			if (r) {
				hdr_fill(&r->hdr, TW_REC_TW_EXIT, sizeof(*r), p->netns);
				r->t = p->t;
				r->proc = l->proc;
				r->age_ns = r->hdr.ts_ns - l->enter_ns;
				r->reason = reason;
				r->side = l->key.side;
				r->flags = l->flags;
				__builtin_memset(r->pad, 0, sizeof(r->pad));
				bpf_ringbuf_submit(r, rb_flags());
			}
		}
	}
	bpf_map_delete_elem(&live, &timer);
}

/* Any timer event on this CPU settles a parked cancel of another timer as a kill. */
static __always_inline struct tw_pend *pend_settle(__u64 timer)
{
	__u32 zero = 0;
	struct tw_pend *p = bpf_map_lookup_elem(&pend, &zero);

	if (p && p->timer && p->timer != timer && !p->expiring)
		tw_exit(p, TW_EXIT_KILLED);
	return p;
}

static __always_inline void pend_park(struct tw_pend *p, const struct timer_list *timer)
{
	struct tw_live *l;
	__u8 sub, reuse, reuseport;

	if (p->timer)
		tw_exit(p, TW_EXIT_KILLED);
	p->timer = (__u64)timer;
	p->ts_ns = bpf_ktime_get_ns();
	p->expiring = (__s64)(bpf_jiffies64() - timer->expires) >= 0;
	l = bpf_map_lookup_elem(&live, &p->timer);
	/* the tw may be freed by the time the cancel is settled: copy what the event needs */
	if (l && l->counted && (cfg.events & TW_EV_TW))
		tw_read(tw_of_timer(timer), &p->t, &p->netns, &sub, &reuse, &reuseport);
}

SEC("tp_btf/timer_start")
int BPF_PROG(tw_timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	struct tw_pend *p = pend_settle((__u64)timer);
	__u64 tp = (__u64)timer, now;
	struct tw_live l = {};
	struct tw_armed *a;

	if (!p || !is_tw_timer(timer))
		return 0;
	if (p->timer == tp || bpf_map_lookup_elem(&live, &tp)) {
		/* FIN_WAIT2 -> TIME_WAIT or a retransmitted FIN: the same tw, not a new one */
		if (p->timer == tp)
			p->timer = 0;
		total_add(TW_TOT_TW_REARMED, 1);
		return 0;
	}
	a = armed_slot();
	if (!a)
		return 0;
	now = bpf_ktime_get_ns();
	tw_read(tw_of_timer(timer), &a->t, &a->netns, &a->substate, &a->reuseaddr, &a->reuseport);
	a->timer = tp;
	a->ts_ns = now;
	a->expires_in_ns = jiffies_to_ns(bucket_expiry - bpf_jiffies64());
	a->counted = tuple_wanted(a->netns, a->t.family, a->t.sport, a->t.dport);
	l.enter_ns = now;
	l.counted = a->counted;
	if (a->counted) {
		port_key_for(&l.key, &a->t, a->netns,
			     BPF_CORE_READ(tw_of_timer(timer), __tw_common.skc_net.net));
		a->side = l.key.side;
		port_count(&l.key, PORT_ENTER);
	}
	if (bpf_map_update_elem(&live, &tp, &l, BPF_NOEXIST))
		total_add(TW_TOT_TW_MAP_FULL, 1);
	total_add(TW_TOT_TW_ENTERED, 1);
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(tw_timer_cancel, struct timer_list *timer)
{
	struct tw_pend *p = pend_settle((__u64)timer);

	if (!p || !is_tw_timer(timer))
		return 0;
	if (p->timer != (__u64)timer)
		pend_park(p, timer);
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(tw_timer_expire, struct timer_list *timer, unsigned long baseclk)
{
	struct tw_pend *p = pend_settle((__u64)timer);

	if (!p || !is_tw_timer(timer))
		return 0;
	if (p->timer != (__u64)timer)
		pend_park(p, timer);
	tw_exit(p, TW_EXIT_EXPIRED);
	return 0;
}

/* Run by user space on each CPU (BPF_F_TEST_RUN_ON_CPU) so no kill stays parked for long. */
SEC("raw_tp")
int tw_flush(void *ctx)
{
	__u32 zero = 0;
	struct tw_pend *p = bpf_map_lookup_elem(&pend, &zero);

	if (p && p->timer && (!p->expiring || bpf_ktime_get_ns() - p->ts_ns > EXPIRY_GRACE_NS))
		tw_exit(p, TW_EXIT_KILLED);
	return 0;
}
