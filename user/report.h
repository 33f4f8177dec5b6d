/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Interval outputs: the `counts` record and the terminal timeline table with sparklines. */
#ifndef TWSCOPE_REPORT_H
#define TWSCOPE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include "agg.h"
#include "buf.h"
#include "event.h"
#include "ports.h"

struct totals {
	uint64_t tw;
	uint64_t tw_entered;
	uint64_t tw_expired;
	uint64_t tw_killed;
	uint64_t tw_overflow;
	uint64_t tw_seeded;
	uint64_t tw_untracked;	  /* ends of TIME_WAITs that were not tracked */
	uint64_t tw_table_full;	  /* TIME_WAITs the live table had no room for */
	uint64_t port_slots_full; /* per-port counts lost: all counter slots taken */
	uint64_t bind_errors;
	uint64_t lost_events;
	uint64_t missed_events;	   /* tracepoint runs the kernel skipped (recursion guard) */
	uint64_t port_slots_used;  /* counter slots holding a key now */
	uint64_t port_slots_freed; /* slots taken back (dead namespaces, idle ports) */
	uint64_t netns_exited;	   /* dead namespaces whose state was all taken back */
	uint64_t binds[TW_BIND_ERR_SLOTS];
};

void totals__from_kernel(struct totals *t, const uint64_t tot[TW_TOT_MAX],
			 const uint64_t binds[TW_BIND_ERR_SLOTS]);

/*
 * The rows not among the top of an interval, added up interval by interval: what a row counted
 * while unlisted stays in "other" when it is listed later or reclaimed, so these never go down.
 */
struct report_other {
	struct tw_port_val total;    /* counters (tw, tw_peak unused) */
	struct tw_port_val interval; /* of the last interval */
	int64_t tw;		     /* gauge of the rows not listed now */
	size_t ports;		     /* rows not listed now */
	bool shown;		     /* some row was ever unlisted */
};

/* Once an interval, before it is rendered (and before agg__mark): the unlisted rows' counts. */
void report__other(const struct agg *a, size_t top, struct report_other *o);

/*
 * NDJSON `counts` line: top rows plus an aggregated "other" row, totals, lost events, and with
 * a census (p, may be NULL) the top destinations by ephemeral ports in use.
 */
void report__counts_json(const struct render_ctx *c, int64_t mono_ns, unsigned int interval_s,
			 const struct agg *a, size_t top, const struct report_other *o,
			 const struct totals *t, const struct ports *p, struct buf *out);
/*
 * The timeline table; utf8 selects block characters; remote rows show ports in use of p's, and
 * the most used destinations follow. cols (0: no limit) narrows the table to the terminal.
 */
void report__timeline(const struct agg *a, size_t top, const struct report_other *o,
		      const struct totals *t, const struct ports *p, unsigned int interval_s,
		      bool utf8, size_t cols, struct buf *out);
/* A dead namespace whose rows, slots and listener entries were all taken back. */
void report__netns_exit(const struct render_ctx *c, int64_t mono_ns, uint32_t inum, uint64_t cookie,
			uint32_t rows, uint32_t slots, uint32_t listen, bool json, struct buf *out);
/*
 * A destination's pressure changed: one event, with the owners of a sample of its sockets and
 * of the sockets on ports bind() took, each with its share of the sample.
 */
void report__pressure(const struct render_ctx *c, int64_t mono_ns, const struct dest_row *r,
		      const struct proc_count *owners, size_t nowners,
		      const struct proc_count *bound, size_t nbound, bool json, struct buf *out);
/* width characters summarising v[0..n) (oldest first), max per bucket, scaled to the peak. */
void report__sparkline(const uint32_t *v, size_t n, size_t width, bool utf8, struct buf *out);

#endif
