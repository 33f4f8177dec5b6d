// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "json.h"
#include "names.h"
#include "report.h"

#define SPARK_WIDTH 48

void totals__from_kernel(struct totals *t, const uint64_t tot[TW_TOT_MAX],
			 const uint64_t binds[TW_BIND_ERR_SLOTS])
{
	int64_t live =
		(int64_t)(tot[TW_TOT_TW_SEEDED] + tot[TW_TOT_TW_ENTERED]) -
		(int64_t)(tot[TW_TOT_TW_MAP_FULL] + tot[TW_TOT_TW_EXPIRED] + tot[TW_TOT_TW_KILLED]);

	memset(t, 0, sizeof(*t));
	t->tw = live > 0 ? live : 0;
	t->tw_entered = tot[TW_TOT_TW_ENTERED];
	t->tw_expired = tot[TW_TOT_TW_EXPIRED];
	t->tw_killed = tot[TW_TOT_TW_KILLED];
	t->tw_overflow = tot[TW_TOT_TW_OVERFLOW];
	t->tw_seeded = tot[TW_TOT_TW_SEEDED];
	t->tw_untracked = tot[TW_TOT_TW_UNTRACKED];
	t->tw_table_full = tot[TW_TOT_TW_MAP_FULL];
	t->port_slots_full = tot[TW_TOT_PORTS_FULL];
	t->bind_errors = tot[TW_TOT_BIND_ERRORS];
	t->lost_events = tot[TW_TOT_LOST_EVENTS];
	memcpy(t->binds, binds, sizeof(t->binds));
}

static void json_port(struct jw *w, const struct agg_series *s)
{
	char a[ADDR_STR_LEN];

	jw__obj_open(w, NULL);
	jw__str(w, "side", side_name(s->key.side));
	jw__u64(w, "port", s->key.port);
	jw__u64(w, "netns", s->key.netns);
	jw__u64(w, "netns_cookie", s->key.netns_cookie);
	if (s->key.side == TW_SIDE_REMOTE) {
		jw__str(w, "family", family_name(s->key.family));
		fmt_addr(s->key.family, s->key.addr, a, sizeof(a));
		jw__str(w, "addr", a);
	}
	jw__i64(w, "tw", s->val.tw > 0 ? s->val.tw : 0);
	jw__u64(w, "tw_peak", s->val.tw_peak);
	jw__u64(w, "tw_entered", s->val.entered);
	jw__u64(w, "tw_expired", s->val.expired);
	jw__u64(w, "tw_killed", s->val.killed);
	jw__u64(w, "tw_overflow", s->val.overflow);
	jw__u64(w, "bind_errors", s->val.bind_errors);
	jw__obj_open(w, "interval");
	jw__u64(w, "tw_entered", s->val.entered - s->base.entered);
	jw__u64(w, "tw_expired", s->val.expired - s->base.expired);
	jw__u64(w, "tw_killed", s->val.killed - s->base.killed);
	jw__u64(w, "bind_errors", s->val.bind_errors - s->base.bind_errors);
	jw__obj_close(w);
	jw__obj_close(w);
}

void report__other(const struct agg *a, size_t top, struct report_other *o)
{
	size_t *idx = calloc(a->n ? a->n : 1, sizeof(*idx)), n;

	memset(&o->interval, 0, sizeof(o->interval));
	o->tw = 0;
	o->ports = 0;
	if (!idx)
		return;
	n = agg__ranked(a, idx);
	for (size_t i = top; i < n; i++) {
		const struct agg_series *s = &a->rows[idx[i]];

		o->tw += s->val.tw > 0 ? s->val.tw : 0;
		o->interval.entered += s->val.entered - s->base.entered;
		o->interval.expired += s->val.expired - s->base.expired;
		o->interval.killed += s->val.killed - s->base.killed;
		o->interval.overflow += s->val.overflow - s->base.overflow;
		o->interval.bind_errors += s->val.bind_errors - s->base.bind_errors;
		o->ports++;
	}
	o->total.entered += o->interval.entered;
	o->total.expired += o->interval.expired;
	o->total.killed += o->interval.killed;
	o->total.overflow += o->interval.overflow;
	o->total.bind_errors += o->interval.bind_errors;
	o->shown = o->shown || o->ports;
	free(idx);
}

/* The other row as a series: totals in val, the interval's counts as val - base. */
static void other_series(const struct report_other *o, struct agg_series *s)
{
	memset(s, 0, sizeof(*s));
	s->val = o->total;
	s->val.tw = o->tw;
	s->base.entered = o->total.entered - o->interval.entered;
	s->base.expired = o->total.expired - o->interval.expired;
	s->base.killed = o->total.killed - o->interval.killed;
	s->base.overflow = o->total.overflow - o->interval.overflow;
	s->base.bind_errors = o->total.bind_errors - o->interval.bind_errors;
}

static void json_dest_fields(struct jw *w, const struct dest_row *r)
{
	char a[ADDR_STR_LEN];

	jw__u64(w, "netns", r->key.netns);
	jw__name(w, "family", family_name(r->key.family));
	fmt_addr(r->key.family, r->key.addr, a, sizeof(a));
	jw__name(w, "addr", a);
	jw__u64(w, "port", r->key.port);
	jw__u64(w, "ports_in_use", r->ports_in_use);
	jw__u64(w, "time_wait", r->time_wait);
	jw__u64(w, "ports_available", r->ports_available);
	jw__u64(w, "ports_bound", r->ports_bound);
	jw__bool(w, "time_wait_reusable", r->time_wait_reusable);
	/* three decimals: a thousandth of a range is the finest step that matters */
	jw__key(w, "headroom");
	buf__fixed(w->b, (unsigned long long)(r->headroom * 1000 + 0.5), 3);
}

static void json_destinations(struct jw *w, const struct ports *p, size_t top)
{
	const struct dest_row **rows = calloc(top ? top : 1, sizeof(*rows));
	size_t n = rows ? ports__top(p, rows, top) : 0;

	jw__arr_open(w, "destinations");
	for (size_t i = 0; i < n; i++) {
		jw__obj_open(w, NULL);
		json_dest_fields(w, rows[i]);
		jw__obj_close(w);
	}
	jw__arr_close(w);
	free(rows);
}

void report__counts_json(const struct render_ctx *c, int64_t mono_ns, unsigned int interval_s,
			 const struct agg *a, size_t top, const struct report_other *o,
			 const struct totals *t, const struct ports *p, struct buf *out)
{
	size_t *idx = calloc(a->n ? a->n : 1, sizeof(*idx)), n;
	char ts[64];
	struct jw w;

	if (!idx)
		return;
	n = agg__ranked(a, idx);
	fmt_rfc3339(mono_ns + c->mono_to_real_ns, ts, sizeof(ts));
	jw__init(&w, out);
	jw__obj_open(&w, NULL);
	jw__str(&w, "ts", ts);
	jw__str(&w, "type", "counts");
	jw__u64(&w, "netns", 0);
	jw__u64(&w, "interval_s", interval_s);
	jw__arr_open(&w, "ports");
	for (size_t i = 0; i < n && i < top; i++)
		json_port(&w, &a->rows[idx[i]]);
	jw__arr_close(&w);
	if (o && o->shown) {
		jw__obj_open(&w, "other");
		jw__u64(&w, "ports", o->ports);
		jw__i64(&w, "tw", o->tw);
		jw__u64(&w, "tw_entered", o->total.entered);
		jw__u64(&w, "tw_expired", o->total.expired);
		jw__u64(&w, "tw_killed", o->total.killed);
		jw__u64(&w, "tw_overflow", o->total.overflow);
		jw__u64(&w, "bind_errors", o->total.bind_errors);
		jw__obj_open(&w, "interval");
		jw__u64(&w, "tw_entered", o->interval.entered);
		jw__u64(&w, "tw_expired", o->interval.expired);
		jw__u64(&w, "tw_killed", o->interval.killed);
		jw__u64(&w, "bind_errors", o->interval.bind_errors);
		jw__obj_close(&w);
		jw__obj_close(&w);
	}
	jw__obj_open(&w, "totals");
	jw__u64(&w, "tw", t->tw);
	jw__u64(&w, "tw_entered", t->tw_entered);
	jw__u64(&w, "tw_expired", t->tw_expired);
	jw__u64(&w, "tw_killed", t->tw_killed);
	jw__u64(&w, "tw_overflow", t->tw_overflow);
	jw__u64(&w, "tw_seeded", t->tw_seeded);
	jw__u64(&w, "bind_errors", t->bind_errors);
	jw__u64(&w, "tw_untracked", t->tw_untracked);
	jw__u64(&w, "tw_table_full", t->tw_table_full);
	jw__u64(&w, "port_slots_full", t->port_slots_full);
	jw__u64(&w, "port_slots_used", t->port_slots_used);
	jw__u64(&w, "port_slots_freed", t->port_slots_freed);
	jw__u64(&w, "netns_exited", t->netns_exited);
	jw__obj_close(&w);
	if (p) {
		json_destinations(&w, p, top);
		if (ports__incomplete(p))
			jw__bool(&w, "destinations_incomplete", true);
	}
	jw__u64(&w, "lost_events", t->lost_events);
	jw__u64(&w, "missed_events", t->missed_events);
	jw__obj_close(&w);
	buf__putc(out, '\n');
	free(idx);
}

void report__sparkline(const uint32_t *v, size_t n, size_t width, bool utf8, struct buf *out)
{
	static const char *const blocks[] = { " ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	static const char ascii[] = " .:-=+*#%@";
	uint32_t peak = 0, bucket_max;
	size_t per, start = 0, cells;

	for (size_t i = 0; i < n; i++)
		if (v[i] > peak)
			peak = v[i];
	/* an idle history (a port with only bind errors) is all blanks */
	if (!peak)
		peak = 1;
	per = n > width ? (n + width - 1) / width : 1;
	cells = n ? (n + per - 1) / per : 0;
	/* right-align: the newest sample is always the last column */
	for (size_t i = cells; i < width; i++)
		buf__putc(out, ' ');
	for (size_t c = 0; c < cells; c++, start += per) {
		bucket_max = 0;
		for (size_t i = start; i < start + per && i < n; i++)
			if (v[i] > bucket_max)
				bucket_max = v[i];
		/* ceil(v * levels / peak): the peak is always the full cell, any v > 0 shows */
		if (utf8) {
			size_t lvl = (size_t)(((uint64_t)bucket_max * 8 + peak - 1) / peak);

			buf__puts(out, blocks[lvl > 8 ? 8 : lvl]);
		} else {
			size_t lvl = (size_t)(((uint64_t)bucket_max * 9 + peak - 1) / peak);

			buf__putc(out, ascii[lvl > 9 ? 9 : lvl]);
		}
	}
}

static void span_name(unsigned int secs, char *s, size_t len)
{
	if (secs < 120)
		snprintf(s, len, "%u s", secs);
	else if (secs < 7200)
		snprintf(s, len, "%u min", secs / 60);
	else
		snprintf(s, len, "%u h", secs / 3600);
}

/* Columns: side, port, address, gauge now/peak, interval and total counts, ports in use toward a
 * destination of the range's, sparkline. A narrow terminal drops the three totals. */
#define TL_FMT	      "%-7s%6s %-16s%8s%8s%8s%8s%8s%9s%9s%9s%8s%12s  "
#define TL_FMT_NARROW "%-7s%6s %-16s%8s%8s%8s%8s%8s%.0s%.0s%.0s%8s%12s  "
#define TL_WIDE	      119
#define TL_NARROW     92
#define SPARK_MIN     8

static void tl_row(struct buf *out, bool narrow, const char *side, const char *port,
		   const char *addr, int64_t tw, const char *peak, const struct agg_series *s,
		   const char *use)
{
	char c[9][24];

	snprintf(c[0], sizeof(c[0]), "%lld", (long long)tw);
	snprintf(c[1], sizeof(c[1]), "%s", peak);
	snprintf(c[2], sizeof(c[2]), "%llu",
		 (unsigned long long)(s->val.entered - s->base.entered));
	snprintf(c[3], sizeof(c[3]), "%llu",
		 (unsigned long long)(s->val.expired - s->base.expired));
	snprintf(c[4], sizeof(c[4]), "%llu", (unsigned long long)(s->val.killed - s->base.killed));
	snprintf(c[5], sizeof(c[5]), "%llu", (unsigned long long)s->val.entered);
	snprintf(c[6], sizeof(c[6]), "%llu", (unsigned long long)s->val.expired);
	snprintf(c[7], sizeof(c[7]), "%llu", (unsigned long long)s->val.killed);
	snprintf(c[8], sizeof(c[8]), "%llu", (unsigned long long)s->val.bind_errors);
	buf__printf(out, narrow ? TL_FMT_NARROW : TL_FMT, side, port, addr, c[0], c[1], c[2], c[3],
		    c[4], c[5], c[6], c[7], c[8], use);
}

/* The destinations with the most ephemeral ports in use, a line each, under the table. */
static void tl_destinations(const struct ports *p, struct buf *out)
{
	const struct dest_row *rows[5];
	size_t n = p ? ports__top(p, rows, 5) : 0;
	char a[ADDR_STR_LEN];

	for (size_t i = 0; i < n; i++) {
		fmt_addr(rows[i]->key.family, rows[i]->key.addr, a, sizeof(a));
		buf__printf(out, i ? "           " : "ephemeral: ");
		buf__printf(out, rows[i]->key.family == 10 ? "[%s]:%u" : "%s:%u", a,
			    rows[i]->key.port);
		buf__printf(out, " %u/%u used (%u TIME_WAIT", rows[i]->ports_in_use,
			    rows[i]->ports_available, rows[i]->time_wait);
		if (rows[i]->ports_bound)
			buf__printf(out, ", %u taken by bind()", rows[i]->ports_bound);
		buf__printf(out, "), headroom %.0f%%%s\n", rows[i]->headroom * 100,
			    rows[i]->high ? ", pressure HIGH" : "");
	}
}

/* "85/100": ports in use toward a destination of those its range leaves, or "-". */
static void use_cell(const struct ports *p, const struct tw_port_key *k, char *s, size_t len)
{
	const struct dest_row *r =
		p && k->side == TW_SIDE_REMOTE
			? ports__find(p, k->netns_cookie, k->family, k->addr, k->port)
			: NULL;

	if (r)
		snprintf(s, len, "%u/%u", r->ports_in_use, r->ports_available);
	else
		snprintf(s, len, "-");
}

void report__timeline(const struct agg *a, size_t top, const struct report_other *o,
		      const struct totals *t, const struct ports *p, unsigned int interval_s,
		      bool utf8, size_t cols, struct buf *out)
{
	bool narrow = cols && cols < TL_WIDE + SPARK_MIN;
	size_t fixed = narrow ? TL_NARROW : TL_WIDE;
	size_t spark = !cols			    ? SPARK_WIDTH
		       : cols > fixed + SPARK_WIDTH ? SPARK_WIDTH
		       : cols > fixed + SPARK_MIN   ? cols - fixed
						    : SPARK_MIN;
	char use[24];
	size_t *idx = calloc(a->n ? a->n : 1, sizeof(*idx)), n;
	uint32_t *hist = calloc(a->window_s, sizeof(uint32_t));
	struct agg_series other;
	char span[32], head[48], port[8], peak[24], addr[ADDR_STR_LEN + 4];

	if (!idx || !hist)
		goto cleanup;
	n = agg__ranked(a, idx);
	span_name((unsigned int)agg__span(a), span, sizeof(span));
	snprintf(head, sizeof(head), "TIME_WAIT, last %s", span);
	buf__printf(out, narrow ? TL_FMT_NARROW "%.*s\n" : TL_FMT "%.*s\n", "SIDE", "PORT",
		    "ADDRESS", "TW", "PEAK", "+TW/i", "EXP/i", "KILL/i", "ENTERED", "EXPIRED",
		    "KILLED", "BINDERR", "PORTS USED", (int)spark, head);
	for (size_t i = 0; i < n && i < top; i++) {
		const struct agg_series *s = &a->rows[idx[i]];
		size_t h;

		snprintf(port, sizeof(port), "%u", s->key.port);
		snprintf(peak, sizeof(peak), "%llu", (unsigned long long)s->val.tw_peak);
		if (s->key.side == TW_SIDE_REMOTE)
			fmt_addr(s->key.family, s->key.addr, addr, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), "*");
		if (strlen(addr) > 16)
			memcpy(addr + 13, "...", 4);
		use_cell(p, &s->key, use, sizeof(use));
		tl_row(out, narrow, side_name(s->key.side), port, addr,
		       s->val.tw > 0 ? s->val.tw : 0, peak, s, use);
		h = agg__history(a, s, hist, a->window_s);
		report__sparkline(hist, h, spark, utf8, out);
		buf__putc(out, '\n');
	}
	if (o && o->shown) {
		char label[16];
		size_t rest = o->ports;

		other_series(o, &other);
		/* the port column holds 6 characters */
		snprintf(label, sizeof(label), rest < 10000 ? "(%zu)" : "%zu",
			 rest < 999999 ? rest : 999999);
		tl_row(out, narrow, "other", label, "", other.val.tw, "-", &other, "-");
		buf__putc(out, '\n');
	}
	tl_destinations(p, out);
	buf__printf(out,
		    "host: %llu in TIME_WAIT, %llu entered, %llu expired, %llu killed, "
		    "%llu overflows, %llu bind errors, %llu events lost; every %u s\n",
		    (unsigned long long)t->tw, (unsigned long long)t->tw_entered,
		    (unsigned long long)t->tw_expired, (unsigned long long)t->tw_killed,
		    (unsigned long long)t->tw_overflow, (unsigned long long)t->bind_errors,
		    (unsigned long long)t->lost_events, interval_s);
cleanup:
	free(idx);
	free(hist);
}

/* The terminal's columns of an event of no process: local HH:MM:SS.micro, the event, no pid or
 * comm, as the other event lines. */
static void event_columns(struct buf *out, int64_t real_ns, const char *event)
{
	time_t sec = real_ns / 1000000000LL;
	struct tm tm;
	char hms[16];

	localtime_r(&sec, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	buf__printf(out, "%s.%06lld  %-12s%-8s%-17s", hms,
		    (long long)(real_ns % 1000000000LL / 1000), event, "-", "-");
}

void report__netns_exit(const struct render_ctx *c, int64_t mono_ns, uint32_t inum, uint64_t cookie,
			uint32_t rows, uint32_t slots, uint32_t listen, bool json, struct buf *out)
{
	int64_t real = mono_ns + c->mono_to_real_ns;
	char ts[64];

	if (json) {
		struct jw w;

		fmt_rfc3339(real, ts, sizeof(ts));
		jw__init(&w, out);
		jw__obj_open(&w, NULL);
		jw__str(&w, "ts", ts);
		jw__str(&w, "type", "netns_exit");
		jw__u64(&w, "netns", inum);
		jw__u64(&w, "netns_cookie", cookie);
		jw__u64(&w, "ports", rows);
		jw__u64(&w, "port_slots", slots);
		jw__u64(&w, "listen_ports", listen);
		jw__obj_close(&w);
		buf__putc(out, '\n');
		return;
	}
	event_columns(out, real, "netns_exit");
	buf__printf(out,
		    "netns %u ended: its %u port rows left the outputs, %u counter slots and %u "
		    "listener entries were taken back\n",
		    inum, rows, slots, listen);
}

static void json_procs(struct jw *w, const char *key, const struct proc_count *p, size_t n)
{
	jw__arr_open(w, key);
	for (size_t i = 0; i < n; i++) {
		jw__obj_open(w, NULL);
		jw__u64(w, "pid", p[i].p.pid);
		jw__strn(w, "comm", p[i].p.comm, sizeof(p[i].p.comm));
		jw__u64(w, "sampled", p[i].n);
		jw__obj_close(w);
	}
	jw__arr_close(w);
}

static void text_procs(struct buf *out, const char *lead, const struct proc_count *p, size_t n,
		       uint32_t of)
{
	uint32_t sampled = 0;

	for (size_t i = 0; i < n; i++)
		sampled += p[i].n;
	for (size_t i = 0; i < n; i++) {
		buf__puts(out, i ? ", " : lead);
		for (size_t k = 0; k < sizeof(p[i].p.comm) && p[i].p.comm[k]; k++) {
			unsigned char ch = p[i].p.comm[k];

			buf__putc(out, ch >= 0x20 && ch < 0x7f ? ch : '?');
		}
		buf__printf(out, " (pid %u, %u of %u sampled)", p[i].p.pid, p[i].n, sampled);
	}
	if (n && of > sampled)
		buf__printf(out, " among %u sockets", of);
}

void report__pressure(const struct render_ctx *c, int64_t mono_ns, const struct dest_row *r,
		      const struct proc_count *owners, size_t nowners,
		      const struct proc_count *bound, size_t nbound, bool json, struct buf *out)
{
	struct buf para = {};
	char ts[64], a[ADDR_STR_LEN];

	fmt_rfc3339(mono_ns + c->mono_to_real_ns, ts, sizeof(ts));
	if (json) {
		struct jw w;

		jw__init(&w, out);
		jw__obj_open(&w, NULL);
		jw__str(&w, "ts", ts);
		jw__str(&w, "type", "port_pressure");
		json_dest_fields(&w, r);
		jw__name(&w, "level", r->high ? "high" : "normal");
		json_procs(&w, "owners", owners, nowners);
		jw__u64(&w, "owners_sampled_of", r->owned);
		json_procs(&w, "bound_owners", bound, nbound);
		jw__u64(&w, "bound_owners_sampled_of", r->bound_owned);
		jw__obj_close(&w);
		buf__putc(out, '\n');
		return;
	}
	/* then the details as a paragraph under the event's columns */
	event_columns(out, mono_ns + c->mono_to_real_ns, "ports");
	fmt_addr(r->key.family, r->key.addr, a, sizeof(a));
	buf__printf(out, r->key.family == 10 ? "[%s]:%u" : "%s:%u", a, r->key.port);
	buf__printf(out, " ephemeral ports %u/%u in use: %s\n", r->ports_in_use, r->ports_available,
		    r->high ? "pressure HIGH" : "back to normal");
	buf__printf(&para,
		    "%u in TIME_WAIT%s, %u more of the range taken by bind(); headroom %.0f%%",
		    r->time_wait, r->time_wait_reusable ? " (reusable: tcp_tw_reuse)" : "",
		    r->ports_bound, r->headroom * 100);
	text_procs(&para, "; used by ", owners, nowners, r->owned);
	text_procs(&para,
		   "; bind() ports (before connect() without IP_BIND_ADDRESS_NO_PORT, or "
		   "listening) by ",
		   bound, nbound, r->bound_owned);
	buf__wrapped(out, para.data ? para.data : "", 29, c->cols >= 60 ? (size_t)c->cols : 100);
	buf__free(&para);
}
