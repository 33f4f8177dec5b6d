// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "event.h"
#include "json.h"
#include "names.h"

#define TCP_TIME_WAIT_NUM 6 /* include/net/tcp_states.h */

_Static_assert(sizeof(struct tw_hdr) == 16, "tw_hdr layout");
_Static_assert(sizeof(struct tw_tuple) == 40, "tw_tuple layout");
_Static_assert(sizeof(struct tw_proc) == 24, "tw_proc layout");
_Static_assert(sizeof(struct tw_state_rec) == 88, "tw_state_rec layout");
_Static_assert(sizeof(struct tw_enter_rec) == 96, "tw_enter_rec layout");
_Static_assert(sizeof(struct tw_exit_rec) == 96, "tw_exit_rec layout");
_Static_assert(sizeof(struct tw_overflow_rec) == 80, "tw_overflow_rec layout");
_Static_assert(sizeof(struct tw_bind_rec) == 208, "tw_bind_rec layout");
_Static_assert(sizeof(struct tw_holder_rec) == 128, "tw_holder_rec layout");
_Static_assert(sizeof(struct tw_snap_rec) ==
		       sizeof(struct tw_bind_rec) + TW_SNAP_HOLDERS * sizeof(struct tw_holder_rec),
	       "tw_snap_rec layout: holders follow the bind record without padding");
_Static_assert(sizeof(struct tw_owner_rec) == 48, "tw_owner_rec layout");
_Static_assert(sizeof(struct tw_port_key) == 32, "tw_port_key layout");
_Static_assert(sizeof(struct tw_listen_key) == 16, "tw_listen_key layout");
_Static_assert(sizeof(struct tw_netns_id) == 16, "tw_netns_id layout");
_Static_assert(sizeof(struct tw_retire_req) == 104, "tw_retire_req layout");
_Static_assert(sizeof(struct tw_live) == 64, "tw_live layout: one cache line");
_Static_assert(sizeof(struct tw_port_val) == 56, "tw_port_val layout");

static const size_t rec_size[TW_REC_MAX] = {
	[TW_REC_STATE] = sizeof(struct tw_state_rec),
	[TW_REC_TW_ENTER] = sizeof(struct tw_enter_rec),
	[TW_REC_TW_EXIT] = sizeof(struct tw_exit_rec),
	[TW_REC_TW_OVERFLOW] = sizeof(struct tw_overflow_rec),
	[TW_REC_BIND_ERR] = sizeof(struct tw_bind_rec),
	[TW_REC_HOLDER] = sizeof(struct tw_holder_rec),
	[TW_REC_OWNER] = sizeof(struct tw_owner_rec),
};

/* A bind error carries nholders holder records after it, each a whole record of its own. */
static int validate_snap(const struct tw_bind_rec *r, size_t len)
{
	const struct tw_holder_rec *h = (const void *)(r + 1);

	if (len < sizeof(*r) || r->nholders > TW_SNAP_HOLDERS ||
	    r->hdr.size != sizeof(*r) + r->nholders * sizeof(*h) || len < r->hdr.size)
		return -EINVAL;
	for (uint32_t i = 0; i < r->nholders; i++)
		if (h[i].hdr.type != TW_REC_HOLDER || h[i].hdr.size != sizeof(*h))
			return -EINVAL;
	return TW_REC_BIND_ERR;
}

int event__validate(const void *data, size_t len)
{
	const struct tw_hdr *h = data;

	if (len < sizeof(*h) || h->type == 0 || h->type >= TW_REC_MAX)
		return -EINVAL;
	if (h->type == TW_REC_BIND_ERR)
		return validate_snap(data, len);
	if (h->size != rec_size[h->type] || len < h->size)
		return -EINVAL;
	return h->type;
}

int64_t clock_mono_to_real_offset(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return (r.tv_sec - m.tv_sec) * 1000000000LL + (r.tv_nsec - m.tv_nsec);
}

/* Seconds are formatted once and reused: events arrive by the thousand per second. */
static void time_cached(struct time_cache *tc, time_t sec, bool utc)
{
	struct tm tm;

	if (tc->sec == sec && tc->len)
		return;
	if (utc)
		gmtime_r(&sec, &tm);
	else
		localtime_r(&sec, &tm);
	tc->len = strftime(tc->text, sizeof(tc->text), utc ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
	tc->sec = sec;
}

/*
 * Plain stores into a room taken with buf__room(): the lines of the frequent events are written
 * without a call per field (the agent renders tens of thousands a second under churn).
 */
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/* Digits written from the end in place: a copy loop here became a call to memcpy per number. */
static char *put_dec(char *p, uint64_t v)
{
	size_t n = 1;
	char *e;

	for (uint64_t x = v; x >= 10; x /= 10)
		n++;
	e = p + n;
	do {
		*--e = '0' + v % 10;
		v /= 10;
	} while (v);
	return p + n;
}

#define PAD_MAX 24 /* the widest column: pads of a constant size are stores, not a call */

/* Spaces up to col bytes after start, or min when the field is already that wide. */
static char *put_pad(char *p, const char *start, size_t col, size_t min)
{
	size_t used = p - start, n = col > used ? col - used : min;

	memset(p, ' ', PAD_MAX);
	return p + (n < PAD_MAX ? n : PAD_MAX);
}

static char *put_time_p(char *p, struct time_cache *tc, int64_t real_ns, bool utc)
{
	long usec = (real_ns % 1000000000LL) / 1000;

	time_cached(tc, real_ns / 1000000000LL, utc);
	memcpy(p, tc->text, sizeof(tc->text)); /* the room has it: a constant size, no call */
	p += tc->len;
	*p = '.';
	for (int i = 6; i >= 1; i--, usec /= 10)
		p[i] = '0' + usec % 10;
	p += 7;
	if (utc)
		*p++ = 'Z';
	return p;
}

static void put_time(struct buf *b, struct time_cache *tc, int64_t real_ns, bool utc)
{
	char *p = buf__room(b, sizeof(tc->text) + 8);

	if (p)
		buf__commit(b, put_time_p(p, tc, real_ns, utc));
}

void fmt_rfc3339(int64_t real_ns, char *s, size_t len)
{
	struct time_cache tc = {};
	struct buf b = {};

	put_time(&b, &tc, real_ns, true);
	snprintf(s, len, "%s", b.data ? b.data : "");
	buf__free(&b);
}

/* At most ADDR_STR_LEN - 1 bytes. */
static char *put_addr(char *p, int family, const uint8_t *addr)
{
	/* IPv4 by hand: glibc's inet_ntop goes through sprintf, once per address per event */
	if (family != AF_INET6) {
		for (int i = 0; i < 4; i++) {
			unsigned int v = addr[i];

			if (v >= 100)
				*p++ = '0' + v / 100;
			if (v >= 10)
				*p++ = '0' + v / 10 % 10;
			*p++ = '0' + v % 10;
			if (i < 3)
				*p++ = '.';
		}
		return p;
	}
	if (!inet_ntop(AF_INET6, addr, p, ADDR_STR_LEN))
		return PUT_LIT(p, "?");
	return p + strlen(p);
}

void fmt_addr(int family, const uint8_t *addr, char *s, size_t len)
{
	char a[ADDR_STR_LEN];
	size_t n;

	if (len >= ADDR_STR_LEN) {
		*put_addr(s, family, addr) = '\0';
		return;
	}
	if (!len)
		return;
	n = put_addr(a, family, addr) - a;
	n = n < len - 1 ? n : len - 1;
	memcpy(s, a, n);
	s[n] = '\0';
}

/* v / 10 with one decimal: 598 -> "59.8". */
static char *put_tenths(char *p, uint64_t v)
{
	p = put_dec(p, v / 10);
	*p++ = '.';
	*p++ = '0' + v % 10;
	return p;
}

/* "850 ms", "59.8 s", "12.5 min", rounded to the shown digit. */
static char *put_duration_p(char *p, int64_t ms)
{
	if (ms < 0)
		return PUT_LIT(p, "?");
	if (ms < 1000)
		return PUT_LIT(put_dec(p, ms), " ms");
	if (ms < 600000)
		return PUT_LIT(put_tenths(p, (ms + 50) / 100), " s");
	return PUT_LIT(put_tenths(p, (ms + 3000) / 6000), " min");
}

static void put_duration(struct buf *b, int64_t ms)
{
	char *p = buf__room(b, 32);

	if (p)
		buf__commit(b, put_duration_p(p, ms));
}

/* Learns a pid's comm from a record that has one, or fills it into one that lacks it. */
static const struct tw_proc *proc_named(struct render_ctx *c, const struct tw_proc *p,
					struct tw_proc *tmp)
{
	uint32_t i = p->pid % COMM_CACHE_SLOTS;

	if (!p->pid)
		return p;
	if (p->comm[0]) {
		c->comms.pid[i] = p->pid;
		memcpy(c->comms.comm[i], p->comm, TW_COMM_LEN);
		return p;
	}
	*tmp = *p;
	if (c->comms.pid[i] == p->pid)
		memcpy(tmp->comm, c->comms.comm[i], TW_COMM_LEN);
	return tmp;
}

/* Room for the longest JSON line of a frequent event: two IPv6 endpoints, a comm all escapes. */
#define JSON_ROOM 640

/* The first members of every JSON line: {"ts":...,"type":...,"netns":... */
static char *put_json_common(char *p, struct render_ctx *c, const struct tw_hdr *h,
			     const char *type)
{
	p = PUT_LIT(p, "{\"ts\":\"");
	p = put_time_p(p, &c->utc, h->ts_ns + c->mono_to_real_ns, true);
	p = PUT_LIT(p, "\",\"type\":\"");
	p = put_str(p, type);
	p = PUT_LIT(p, "\",\"netns\":");
	return put_dec(p, h->netns);
}

static char *put_json_proc(char *p, const struct tw_proc *pr)
{
	if (!pr->pid)
		return p;
	p = PUT_LIT(p, ",\"pid\":");
	p = put_dec(p, pr->pid);
	if (!pr->comm[0])
		return p;
	p = PUT_LIT(p, ",\"comm\":");
	return json_escape_p(p, pr->comm, strnlen(pr->comm, sizeof(pr->comm)));
}

static char *put_json_tuple(char *p, const struct tw_tuple *t)
{
	p = PUT_LIT(p, ",\"family\":\"");
	p = put_str(p, family_name(t->family));
	p = PUT_LIT(p, "\",\"saddr\":\"");
	p = put_addr(p, t->family, t->saddr);
	p = PUT_LIT(p, "\",\"sport\":");
	p = put_dec(p, t->sport);
	p = PUT_LIT(p, ",\"daddr\":\"");
	p = put_addr(p, t->family, t->daddr);
	p = PUT_LIT(p, "\",\"dport\":");
	return put_dec(p, t->dport);
}

/* "key":"name" after a comma, for a name from this program's tables (nothing to escape). */
static char *put_json_name(char *p, const char *key_lit, size_t key_len, const char *name)
{
	memcpy(p, key_lit, key_len);
	p = put_str(p + key_len, name);
	*p++ = '"';
	return p;
}

#define JSON_NAME(p, key, name) put_json_name((p), ",\"" key "\":\"", sizeof(key) + 4, (name))
#define JSON_BOOL(p, key, v) \
	((v) ? PUT_LIT((p), ",\"" key "\":true") : PUT_LIT((p), ",\"" key "\":false"))

/* The members every frequent event has: its time, type and namespace, owner and tuple. */
static char *put_json_head(char *p, struct render_ctx *c, const struct tw_hdr *h, const char *type,
			   const struct tw_proc *pr, const struct tw_tuple *t)
{
	struct tw_proc tmp;

	p = put_json_common(p, c, h, type);
	p = put_json_proc(p, proc_named(c, pr, &tmp));
	return put_json_tuple(p, t);
}

/* The frequent events' lines with plain stores into one room, as their terminal lines are. */
static char *put_json_frequent(char *p, struct render_ctx *c, const struct tw_hdr *h)
{
	switch (h->type) {
	case TW_REC_STATE: {
		const struct tw_state_rec *r = (const void *)h;

		p = put_json_head(p, c, h, "state", &r->proc, &r->t);
		p = JSON_NAME(p, "old", tcp_state_name(r->oldstate));
		p = JSON_NAME(p, "new", tcp_state_name(r->newstate));
		break;
	}
	case TW_REC_TW_ENTER: {
		const struct tw_enter_rec *r = (const void *)h;

		p = put_json_head(p, c, h, "tw_enter", &r->proc, &r->t);
		p = JSON_NAME(p, "side", side_name(r->side));
		p = JSON_NAME(p, "substate", tw_substate_name(r->substate));
		p = PUT_LIT(p, ",\"expires_in_ms\":");
		p = put_dec(p, r->expires_in_ns / 1000000);
		p = JSON_BOOL(p, "reuseaddr", r->reuseaddr);
		p = JSON_BOOL(p, "reuseport", r->reuseport);
		break;
	}
	case TW_REC_TW_EXIT: {
		const struct tw_exit_rec *r = (const void *)h;

		p = put_json_head(p, c, h, "tw_exit", &r->proc, &r->t);
		p = JSON_NAME(p, "side", side_name(r->side));
		p = JSON_NAME(p, "reason", exit_reason_name(r->reason));
		p = PUT_LIT(p, ",\"age_ms\":");
		p = put_dec(p, r->age_ns / 1000000);
		if (r->flags & TW_F_SEEDED)
			p = PUT_LIT(p, ",\"age_estimated\":true");
		break;
	}
	case TW_REC_TW_OVERFLOW: {
		const struct tw_overflow_rec *r = (const void *)h;

		p = put_json_head(p, c, h, "tw_overflow", &r->proc, &r->t);
		break;
	}
	default:
		p = put_json_common(p, c, h, "unknown");
		break;
	}
	return PUT_LIT(p, "}\n");
}

static void json_holder(struct jw *w, const struct diag_sock *s)
{
	char a[ADDR_STR_LEN];

	jw__obj_open(w, NULL);
	jw__name(w, "state", tcp_state_name(s->state));
	jw__name(w, "family", family_name(s->family));
	fmt_addr(s->family, s->laddr, a, sizeof(a));
	jw__name(w, "saddr", a);
	jw__u64(w, "sport", s->lport);
	fmt_addr(s->family, s->raddr, a, sizeof(a));
	jw__name(w, "daddr", a);
	jw__u64(w, "dport", s->rport);
	jw__bool(w, "reuseaddr", s->reuseaddr);
	jw__bool(w, "reuseport", s->reuseport);
	if (s->family == AF_INET6)
		jw__bool(w, "v6only", s->v6only);
	if (s->bound_dev)
		jw__u64(w, "bound_dev", s->bound_dev);
	jw__u64(w, "uid", s->uid);
	if (s->pid) {
		jw__u64(w, "pid", s->pid);
		jw__strn(w, "comm", s->comm, sizeof(s->comm));
		if (s->owner_exited)
			jw__bool(w, "owner_exited", true);
	} else if (s->state != TCP_TIME_WAIT_NUM) {
		/* true only when no file refers to it; false when its owner was not found */
		jw__bool(w, "orphan", s->flags & TW_HOLDER_ORPHAN);
		if (s->flags & TW_HOLDER_NOT_LOOKED_UP)
			jw__bool(w, "owner_looked_up", false);
	}
	if (s->flags & TW_HOLDER_BIND_PORT)
		jw__bool(w, "bind_port", true);
	if (s->expires_in_ms >= 0)
		jw__i64(w, "expires_in_ms", s->expires_in_ms);
	if (s->cookie)
		jw__u64(w, "cookie", s->cookie);
	if (s->ino)
		jw__u64(w, "ino", s->ino);
	jw__obj_close(w);
}

static void json_bind(struct jw *w, const struct tw_bind_rec *r, const struct diag_result *d,
		      uint64_t repeats)
{
	char a[ADDR_STR_LEN], eb[16];

	/* the socket's owner, which the kernel compares; the caller's own uid when it differs */
	jw__u64(w, "uid", r->sk_uid);
	if (r->proc.uid != r->sk_uid)
		jw__u64(w, "caller_uid", r->proc.uid);
	jw__name(w, "call", call_name(r->call));
	if (r->snap_flags & TW_SNAP_FASTOPEN)
		jw__bool(w, "fastopen", true);
	jw__name(w, "proto", proto_name(r->proto));
	jw__name(w, "errno", errno_name(r->err, eb, sizeof(eb)));
	jw__name(w, "family", family_name(r->family));
	fmt_addr(r->family, r->addr, a, sizeof(a));
	jw__name(w, "addr", a);
	jw__u64(w, "port", r->port);
	if (r->call == TW_CALL_CONNECT && r->src_port) {
		fmt_addr(r->family, r->src_addr, a, sizeof(a));
		jw__name(w, "src_addr", a);
		jw__u64(w, "src_port", r->src_port);
	}
	jw__bool(w, "reuseaddr", r->reuseaddr);
	jw__bool(w, "reuseport", r->reuseport);
	if (r->family == AF_INET6)
		jw__bool(w, "v6only", r->v6only);
	if (r->bound_dev)
		jw__u64(w, "bound_dev", r->bound_dev);
	jw__name(w, "cause", diag__cause_name(d ? d->cause : CAUSE_UNKNOWN));
	jw__arr_open(w, "holders");
	for (size_t i = 0; d && i < d->nholders; i++)
		json_holder(w, d->holders[i]);
	jw__arr_close(w);
	jw__u64(w, "holders_total", d ? d->holders_total : 0);
	if (r->snap_flags & TW_SNAP_TAKEN)
		jw__u64(w, "sockets_seen", r->on_port);
	jw__bool(w, "snapshot", r->snap_flags & TW_SNAP_TAKEN);
	if (r->snap_flags & TW_SNAP_PARTIAL)
		jw__bool(w, "partial", true);
	if (d && d->cause == CAUSE_EPHEMERAL_EXHAUSTED) {
		jw__u64(w, "range_lo", r->port_lo);
		jw__u64(w, "range_hi", r->port_hi);
		jw__u64(w, "ports_busy", r->ports_busy);
		jw__u64(w, "ports_reserved", r->ports_reserved);
		jw__bool(w, "socket_range", r->snap_flags & TW_SNAP_SOCK_RANGE);
	}
	jw__str(w, "hint", d ? d->hint : "");
	if (repeats > 1)
		jw__u64(w, "repeats", repeats);
}

void event__json(struct render_ctx *c, const void *rec, const struct diag_result *d,
		 uint64_t repeats, struct buf *out)
{
	const struct tw_hdr *h = rec;
	char *p = buf__room(out, JSON_ROOM);
	struct jw w;

	if (!p)
		return;
	if (h->type != TW_REC_BIND_ERR) {
		buf__commit(out, put_json_frequent(p, c, h));
		return;
	}
	p = put_json_common(p, c, h, "bind_error");
	buf__commit(out, put_json_proc(p, &((const struct tw_bind_rec *)rec)->proc));
	jw__init_member(&w, out);
	json_bind(&w, rec, d, repeats);
	jw__obj_close(&w);
	buf__putc(out, '\n');
}

/* Column layout of the terminal stream. */
#define COL_TIME  17
#define COL_EVENT 12
#define COL_PID	  8
#define COL_COMM  17

void event__text_header(struct buf *out)
{
	buf__printf(out, "%-*s%-*s%-*s%-*s%s\n", COL_TIME, "TIME", COL_EVENT, "EVENT", COL_PID,
		    "PID", COL_COMM, "COMM", "DETAILS");
}

/* A comm may hold any byte: show control and non-ASCII bytes as '?' so columns hold. */
static char *put_comm(char *p, const char *comm, size_t n)
{
	for (size_t i = 0; i < n && comm[i]; i++) {
		unsigned char ch = comm[i];

		*p++ = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	return p;
}

static void text_comm(struct buf *out, const char *comm, size_t n)
{
	char *p = buf__room(out, n);

	if (p)
		buf__commit(out, put_comm(p, comm, n));
}

/* Room for the prefix and a tuple of two IPv6 endpoints, and what follows them. */
#define LINE_ROOM 384

static char *put_prefix(char *p, struct render_ctx *c, const struct tw_hdr *h, const char *event,
			const struct tw_proc *pr)
{
	char *start = p;

	p = put_time_p(p, &c->local, h->ts_ns + c->mono_to_real_ns, false);
	p = put_pad(p, start, COL_TIME, 0);
	start = p;
	p = put_str(p, event);
	p = put_pad(p, start, COL_EVENT, 0);
	start = p;
	if (pr && pr->pid)
		p = put_dec(p, pr->pid);
	else
		*p++ = '-';
	p = put_pad(p, start, COL_PID, 1);
	start = p;
	if (pr && pr->pid)
		p = put_comm(p, pr->comm, sizeof(pr->comm));
	else
		*p++ = '-';
	return put_pad(p, start, COL_COMM, 1);
}

static void text_prefix(struct buf *out, struct render_ctx *c, const struct tw_hdr *h,
			const char *event, const struct tw_proc *p)
{
	char *w = buf__room(out, LINE_ROOM);

	if (w)
		buf__commit(out, put_prefix(w, c, h, event, p));
}

static char *put_endpoint(char *p, int family, const uint8_t *addr, uint16_t port)
{
	if (family == AF_INET6) {
		*p++ = '[';
		p = put_addr(p, family, addr);
		p = PUT_LIT(p, "]:");
	} else {
		p = put_addr(p, family, addr);
		*p++ = ':';
	}
	return put_dec(p, port);
}

static void text_endpoint(struct buf *out, int family, const uint8_t *addr, uint16_t port)
{
	char *p = buf__room(out, ADDR_STR_LEN + 8);

	if (p)
		buf__commit(out, put_endpoint(p, family, addr, port));
}

static char *put_tuple(char *p, const struct tw_tuple *t)
{
	p = put_endpoint(p, t->family, t->saddr, t->sport);
	p = PUT_LIT(p, " > ");
	return put_endpoint(p, t->family, t->daddr, t->dport);
}

#define TEXT_INDENT   (COL_TIME + COL_EVENT)
#define TEXT_HOLDERS  5
#define TEXT_MIN_COLS 60

/* "LISTEN 0.0.0.0:8080 python3 (pid 12) reuseaddr", as one line of a holder list. */
static void holder_line(struct buf *b, const struct diag_sock *s)
{
	buf__puts(b, tcp_state_name(s->state));
	buf__putc(b, ' ');
	text_endpoint(b, s->family, s->laddr, s->lport);
	if (s->rport) {
		buf__puts(b, " > ");
		text_endpoint(b, s->family, s->raddr, s->rport);
	}
	buf__puts(b, "  ");
	if (s->pid) {
		text_comm(b, s->comm, sizeof(s->comm));
		buf__printf(b, " (pid %u%s)", s->pid, s->owner_exited ? ", exited" : "");
	} else if (s->state == TCP_TIME_WAIT_NUM || (s->flags & TW_HOLDER_ORPHAN)) {
		buf__puts(b, "no process");
	} else {
		buf__puts(b, s->flags & TW_HOLDER_NOT_LOOKED_UP ? "owner not looked up"
								: "owner not found");
	}
	if (s->reuseaddr)
		buf__puts(b, " reuseaddr");
	if (s->reuseport)
		buf__puts(b, " reuseport");
	if (s->family == AF_INET6 && s->v6only)
		buf__puts(b, " v6only");
	if (s->bound_dev)
		buf__printf(b, " dev %u", s->bound_dev);
	if (s->state != TCP_TIME_WAIT_NUM)
		buf__printf(b, " uid %u", s->uid);
	if (s->flags & TW_HOLDER_BIND_PORT)
		buf__puts(b, " (port taken by bind())");
	if (s->expires_in_ms >= 0) {
		buf__putc(b, ' ');
		put_duration(b, s->expires_in_ms);
		buf__puts(b, " left");
	}
}

static void text_bind(struct buf *out, const struct tw_bind_rec *r, const struct diag_result *d,
		      uint64_t repeats, size_t cols)
{
	struct buf para = {};
	size_t shown = 0;
	char eb[16];

	buf__printf(out, "%s(", call_name(r->call));
	text_endpoint(out, r->family, r->addr, r->port);
	buf__printf(out, ") %s %s", proto_name(r->proto), errno_name(r->err, eb, sizeof(eb)));
	buf__printf(out, " reuseaddr=%d reuseport=%d", r->reuseaddr, r->reuseport);
	if (r->snap_flags & TW_SNAP_FASTOPEN)
		buf__puts(out, " (sendto MSG_FASTOPEN)");
	if (repeats > 1)
		buf__printf(out, " (x%llu)", (unsigned long long)repeats);
	buf__putc(out, '\n');
	buf__printf(&para, "cause: %s; %s", diag__cause_name(d ? d->cause : CAUSE_UNKNOWN),
		    d && d->hint[0] ? d->hint : "no holder found");
	buf__wrapped(out, para.data ? para.data : "", TEXT_INDENT, cols);
	for (size_t i = 0; d && i < d->nholders && i < TEXT_HOLDERS; i++) {
		buf__reset(&para);
		holder_line(&para, d->holders[i]);
		buf__wrapped(out, para.data ? para.data : "", TEXT_INDENT + 2, cols);
		shown++;
	}
	if (shown && d->holders_total > shown) {
		buf__reset(&para);
		buf__printf(&para, "and %zu more", d->holders_total - shown);
		buf__wrapped(out, para.data, TEXT_INDENT + 2, cols);
	}
	buf__free(&para);
}

void event__text(struct render_ctx *c, const void *rec, const struct diag_result *d,
		 uint64_t repeats, struct buf *out)
{
	const struct tw_hdr *h = rec;
	struct tw_proc tmp;

	char *p = NULL;

	if (h->type != TW_REC_BIND_ERR && !(p = buf__room(out, LINE_ROOM)))
		return;
	switch (h->type) {
	case TW_REC_STATE: {
		const struct tw_state_rec *r = rec;

		p = put_prefix(p, c, h, "state", proc_named(c, &r->proc, &tmp));
		p = put_tuple(p, &r->t);
		p = PUT_LIT(p, "  ");
		p = put_str(p, tcp_state_name(r->oldstate));
		p = PUT_LIT(p, " -> ");
		p = put_str(p, tcp_state_name(r->newstate));
		*p++ = '\n';
		break;
	}
	case TW_REC_TW_ENTER: {
		const struct tw_enter_rec *r = rec;

		p = put_prefix(p, c, h, "tw_enter", proc_named(c, &r->proc, &tmp));
		p = put_tuple(p, &r->t);
		p = PUT_LIT(p, "  ");
		p = put_str(p, tw_substate_name(r->substate));
		*p++ = ' ';
		p = put_str(p, side_name(r->side));
		p = PUT_LIT(p, ", frees in ");
		p = put_duration_p(p, r->expires_in_ns / 1000000);
		if (r->reuseaddr)
			p = PUT_LIT(p, ", reuseaddr");
		if (r->reuseport)
			p = PUT_LIT(p, ", reuseport");
		*p++ = '\n';
		break;
	}
	case TW_REC_TW_EXIT: {
		const struct tw_exit_rec *r = rec;

		p = put_prefix(p, c, h, "tw_exit", proc_named(c, &r->proc, &tmp));
		p = put_tuple(p, &r->t);
		p = PUT_LIT(p, "  ");
		p = put_str(p, exit_reason_name(r->reason));
		p = PUT_LIT(p, " after ");
		p = put_duration_p(p, r->age_ns / 1000000);
		if (r->flags & TW_F_SEEDED)
			p = PUT_LIT(p, " (age estimated)");
		*p++ = '\n';
		break;
	}
	case TW_REC_TW_OVERFLOW: {
		const struct tw_overflow_rec *r = rec;

		p = put_prefix(p, c, h, "tw_overflow", proc_named(c, &r->proc, &tmp));
		p = put_tuple(p, &r->t);
		p = PUT_LIT(p, "  no TIME_WAIT: tcp_max_tw_buckets reached\n");
		break;
	}
	case TW_REC_BIND_ERR: {
		const struct tw_bind_rec *r = rec;

		text_prefix(out, c, h, "bind_error", &r->proc);
		text_bind(out, r, d, repeats,
			  c->cols >= TEXT_MIN_COLS ? (size_t)c->cols : TEXT_MIN_COLS);
		return;
	}
	default:
		return;
	}
	buf__commit(out, p);
}
