// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "bindrules.h"
#include "diag.h"
#include "names.h"
#include "twscope.h"

/* Kernel TCP_* numbers (include/net/tcp_states.h). */
enum {
	ST_ESTABLISHED = 1,
	ST_SYN_SENT = 2,
	ST_SYN_RECV = 3,
	ST_TIME_WAIT = 6,
	ST_CLOSE = 7,
	ST_LISTEN = 10,
	ST_NEW_SYN_RECV = 12,
};

static const char *const cause_names[CAUSE_MAX] = {
	[CAUSE_TIME_WAIT] = "time_wait",
	[CAUSE_LISTEN] = "listen",
	[CAUSE_BOUND] = "bound",
	[CAUSE_CONNECTED] = "connected",
	[CAUSE_EPHEMERAL_EXHAUSTED] = "ephemeral_exhausted",
	[CAUSE_UNKNOWN] = "unknown",
};

const char *diag__cause_name(enum diag_cause c)
{
	if ((unsigned int)c >= CAUSE_MAX)
		return "unknown";
	return cause_names[c];
}

static bool v6_any(const uint8_t *a)
{
	return tw_rule_any6(a);
}

static uint32_t v4_of(const uint8_t *a)
{
	uint32_t v;

	memcpy(&v, a, 4);
	return v;
}

static bool is_any(uint16_t family, const uint8_t *a)
{
	return family == AF_INET6 ? v6_any(a) : !v4_of(a);
}

/* The rules' view of a holder, as the kernel stored it. */
static void sock_view(const struct diag_sock *s, struct tw_bind_view *v)
{
	memset(v, 0, sizeof(*v));
	v->family = s->family;
	memcpy(v->addr, s->laddr, 16);
	if (s->family == AF_INET6)
		v->rcv4 = s->rcv4 ? s->rcv4 : tw_rule_rcv4_of6(s->laddr);
	else
		v->rcv4 = v4_of(s->laddr);
	v->bound_dev = s->bound_dev;
	v->uid = s->uid;
	v->state = s->state;
	v->reuse = s->reuseaddr;
	v->reuseport = s->reuseport;
	v->v6only = s->family == AF_INET6 && s->v6only;
}

/* The failing socket as the rules saw it during the check. */
static void input_view(const struct diag_input *in, struct tw_bind_view *v)
{
	memset(v, 0, sizeof(*v));
	tw_rule_view_bind(v, in->family, in->addr, in->v6only);
	v->bound_dev = in->bound_dev;
	v->uid = in->uid;
	v->state = in->call == TW_CALL_LISTEN ? ST_LISTEN : ST_CLOSE;
	v->reuse = in->reuseaddr;
	v->reuseport = in->reuseport;
}

static bool in_range(const struct diag_input *in, uint16_t port)
{
	return port >= in->port_lo && port <= in->port_hi;
}

static bool autobind(const struct diag_input *in)
{
	return in->call != TW_CALL_CONNECT && !in->port;
}

/* A connect toward in's destination from this source (port taken from s). */
static bool same_tuple(const struct diag_input *in, const struct diag_sock *s)
{
	return tw_rule_tuple(in->family, in->src_addr, in->addr, in->port, s->family, s->laddr,
			     s->raddr, s->rport, s->state);
}

bool diag__conflicts(const struct diag_input *in, const struct diag_sock *s)
{
	struct tw_bind_view v, v2;

	if (s->proto != in->proto || s->state == ST_NEW_SYN_RECV)
		return false;
	if (in->call == TW_CALL_CONNECT) {
		if (in->src_port)
			return s->lport == in->src_port && same_tuple(in, s);
		/* __inet_hash_connect(): a port of the range that bind() took, or the 4-tuple */
		return in_range(in, s->lport) &&
		       ((s->flags & TW_HOLDER_BIND_PORT) || same_tuple(in, s));
	}
	if (autobind(in) ? !in_range(in, s->lport) : s->lport != in->port)
		return false;
	input_view(in, &v);
	sock_view(s, &v2);
	return tw_rule_bind_conflict(&v, &v2, in->proto, autobind(in),
				     !!(in->snap_flags & TW_SNAP_RULES_61));
}

static enum diag_cause cause_of(const struct diag_sock *s)
{
	if (s->proto == IPPROTO_UDP)
		return CAUSE_BOUND;
	switch (s->state) {
	case ST_LISTEN:
		return CAUSE_LISTEN;
	case ST_TIME_WAIT:
		return CAUSE_TIME_WAIT;
	case ST_CLOSE:
		return CAUSE_BOUND;
	default:
		return CAUSE_CONNECTED;
	}
}

/* Lower ranks win: the cause is the most durable kind of holder. */
static int cause_rank(enum diag_cause c)
{
	switch (c) {
	case CAUSE_LISTEN:
		return 0;
	case CAUSE_BOUND:
		return 1;
	case CAUSE_CONNECTED:
		return 2;
	case CAUSE_TIME_WAIT:
		return 3;
	default:
		return 4;
	}
}

static void add_holder(struct diag_result *r, const struct diag_sock *s)
{
	if (s->state < 16)
		r->by_state[s->state]++;
	if (s->state == ST_TIME_WAIT) {
		r->tw_noreuse += !s->reuseaddr;
		if (s->expires_in_ms > r->tw_last_ms)
			r->tw_last_ms = s->expires_in_ms;
	}
	r->holders_total++;
	if (r->nholders < DIAG_MAX_HOLDERS)
		r->holders[r->nholders++] = s;
}

struct hint {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void hint_add(struct hint *h, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (h->len >= h->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(h->s + h->len, h->cap - h->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		h->len = h->len + n < h->cap ? h->len + n : h->cap;
}

/* Who holds s: "python3 (pid 12)", and whether it is gone; never a guess. */
static void hint_owner(struct hint *h, const struct diag_sock *s)
{
	char comm[17];
	size_t i;

	if (!s->pid) {
		if (s->state == ST_TIME_WAIT)
			hint_add(h, "a TIME_WAIT socket (no process holds one)");
		else if (s->flags & TW_HOLDER_ORPHAN)
			hint_add(h, "a socket no process holds any more (closed, still %s)",
				 tcp_state_name(s->state));
		else if (s->flags & TW_HOLDER_NOT_LOOKED_UP)
			hint_add(h, "a socket whose owner was not looked up (twscope names owners "
				    "at most 20 times a second)");
		else
			hint_add(h,
				 "a socket whose owner could not be named (it was closed, or its "
				 "process exited, before twscope looked)");
		return;
	}
	for (i = 0; i < 16 && s->comm[i]; i++)
		comm[i] = (unsigned char)s->comm[i] >= 0x20 && (unsigned char)s->comm[i] < 0x7f
				  ? s->comm[i]
				  : '?';
	comm[i] = '\0';
	hint_add(h, "%s (pid %u%s)", comm, s->pid, s->owner_exited ? ", which has exited" : "");
}

static void hint_endpoint(struct hint *h, uint16_t family, const uint8_t *a, uint16_t port)
{
	char s[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, s, sizeof(s)))
		snprintf(s, sizeof(s), "?");
	hint_add(h, family == AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
}

static void hint_secs(struct hint *h, int64_t ms)
{
	hint_add(h, "%lld s", (long long)((ms + 999) / 1000));
}

/* Why a wildcard or dual-stack holder overlaps a different-looking address. */
static void hint_overlap(struct hint *h, const struct diag_input *in, const struct diag_sock *s)
{
	if (s->family == AF_INET6 && in->family == AF_INET && v6_any(s->laddr) && !s->v6only)
		hint_add(h, " ([::] without IPV6_V6ONLY also covers IPv4)");
	else if (in->family == AF_INET6 && s->family == AF_INET && v6_any(in->addr) && !in->v6only)
		hint_add(h, " (binding [::] without IPV6_V6ONLY also claims IPv4)");
	else if (memcmp(s->laddr, in->addr, 16) && is_any(s->family, s->laddr))
		hint_add(h, " (a wildcard address covers every address)");
	else if (memcmp(s->laddr, in->addr, 16) && is_any(in->family, in->addr))
		hint_add(h, " (the requested wildcard address overlaps it)");
}

static void hint_time_wait(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	size_t n = r->by_state[ST_TIME_WAIT];

	if (in->reuseaddr && r->tw_noreuse) {
		hint_add(h,
			 "held by %zu TIME_WAIT socket%s of a listener that did not set "
			 "SO_REUSEADDR; set SO_REUSEADDR on the listening socket before bind() "
			 "in the server (old and new)",
			 n, n == 1 ? "" : "s");
	} else if (!in->reuseaddr && r->tw_noreuse) {
		hint_add(h,
			 "held by %zu TIME_WAIT socket%s; set SO_REUSEADDR on the listening socket "
			 "before bind() in the server (old and new: the TIME_WAITs carry the old "
			 "socket's setting)",
			 n, n == 1 ? "" : "s");
	} else {
		hint_add(h,
			 "held by %zu TIME_WAIT socket%s whose listener set SO_REUSEADDR; set "
			 "SO_REUSEADDR on the new socket before bind()",
			 n, n == 1 ? "" : "s");
	}
	if (r->tw_last_ms >= 0) {
		hint_add(h, "; frees in ");
		hint_secs(h, r->tw_last_ms);
	}
}

/* SO_REUSEPORT shares a port only between sockets of one owner: say so rather than suggest it. */
static void hint_reuseport(struct hint *h, const struct diag_input *in, const struct diag_sock *s,
			   const char *what)
{
	if (in->uid != s->uid)
		hint_add(h,
			 "; SO_REUSEPORT cannot help: both sockets must belong to one user, and "
			 "these are uid %u (new) and uid %u (holder)",
			 in->uid, s->uid);
	else
		hint_add(h, "; %s", what);
}

static void hint_listen(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	const struct diag_sock *s = r->holders[0];

	hint_add(h, "listened on by ");
	hint_owner(h, s);
	if (r->holders_total > 1)
		hint_add(h, " and %zu more", r->holders_total - 1);
	hint_overlap(h, in, s);
	if (in->call == TW_CALL_LISTEN && in->reuseaddr && s->reuseaddr)
		hint_add(h, "; SO_REUSEADDR let both bind() but only one socket may listen()");
	else
		hint_add(h, "; stop it or use another port (SO_REUSEADDR does not help against a "
			    "listener)");
	hint_reuseport(h, in, s, "set SO_REUSEPORT on both sockets to share the port");
}

static void hint_bound(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	const struct diag_sock *s = r->holders[0];

	hint_add(h, "bound%s by ", s->proto == IPPROTO_TCP ? " (not listening)" : "");
	hint_owner(h, s);
	if (r->holders_total > 1)
		hint_add(h, " and %zu more", r->holders_total - 1);
	hint_overlap(h, in, s);
	hint_add(h, "; close it, or set SO_REUSEADDR on both sockets");
	hint_reuseport(h, in, s, "SO_REUSEPORT on both also shares the port");
}

static void hint_connected(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	const struct diag_sock *s = r->holders[0];
	bool first = true;

	if (in->call == TW_CALL_CONNECT) {
		hint_add(h, "the 4-tuple from local port %u to ", in->src_port);
		hint_endpoint(h, in->family, in->addr, in->port);
		hint_add(h, " is in use by ");
		hint_owner(h, s);
		hint_add(h,
			 " (%s); let the kernel choose the source port (bind port 0, or "
			 "IP_BIND_ADDRESS_NO_PORT)",
			 tcp_state_name(s->state));
		return;
	}
	hint_add(h, "%zu connection%s still use%s port %u (", r->holders_total,
		 r->holders_total == 1 ? "" : "s", r->holders_total == 1 ? "s" : "", in->port);
	for (int st = 0; st < 16; st++) {
		if (!r->by_state[st] || st == ST_TIME_WAIT || st == ST_LISTEN)
			continue;
		hint_add(h, "%s%s %zu", first ? "" : ", ", tcp_state_name(st), r->by_state[st]);
		first = false;
	}
	hint_add(h, "), first ");
	hint_owner(h, s);
	if (!s->reuseaddr)
		hint_add(h, "; set SO_REUSEADDR on the listening socket (accepted connections "
			    "inherit it) and on the new socket");
	else
		hint_add(h, "; set SO_REUSEADDR on the new socket too");
}

static void hint_range(struct hint *h, const struct diag_input *in)
{
	hint_add(h, "range %u-%u", in->port_lo, in->port_hi);
	if (in->snap_flags & TW_SNAP_SOCK_RANGE)
		hint_add(h,
			 ", the socket's IP_LOCAL_PORT_RANGE within net.ipv4.ip_local_port_range "
			 "%u-%u",
			 in->sys_lo, in->sys_hi);
	if (in->k_ports_reserved)
		hint_add(h, ", %u of them in ip_local_reserved_ports", in->k_ports_reserved);
}

static void hint_ephemeral(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	unsigned int range = in->port_hi >= in->port_lo ? in->port_hi - in->port_lo + 1 : 0;
	bool own = in->snap_flags & TW_SNAP_SOCK_RANGE;

	if (in->call == TW_CALL_CONNECT) {
		hint_add(h, "ephemeral ports exhausted toward ");
		hint_endpoint(h, in->family, in->addr, in->port);
	} else {
		hint_add(h, "no free port for %s(port 0) in the ephemeral range",
			 in->call == TW_CALL_LISTEN ? "listen" : "bind");
	}
	hint_add(h, ": %zu of %u in TIME_WAIT", r->by_state[ST_TIME_WAIT], range);
	if (r->holders_total > r->by_state[ST_TIME_WAIT])
		hint_add(h, ", %zu in other states", r->holders_total - r->by_state[ST_TIME_WAIT]);
	if (in->k_ports_bound)
		hint_add(h,
			 ", %u port%s taken by bind() before connect() (set "
			 "IP_BIND_ADDRESS_NO_PORT there)",
			 in->k_ports_bound, in->k_ports_bound == 1 ? "" : "s");
	hint_add(h, " (");
	hint_range(h, in);
	hint_add(h, "); pool connections, widen %s",
		 own ? "the socket's IP_LOCAL_PORT_RANGE" : "net.ipv4.ip_local_port_range");
	if (in->call == TW_CALL_CONNECT && in->tw_reuse != 1 && r->by_state[ST_TIME_WAIT])
		hint_add(h, " or use net.ipv4.tcp_tw_reuse=1");
	if (in->call == TW_CALL_CONNECT)
		hint_add(h, "; each more source address (bind with IP_BIND_ADDRESS_NO_PORT) adds a "
			    "whole range toward it");
}

/* The kernel counted every conflicting socket: its totals replace those of the captured few. */
static void take_kernel_counts(const struct diag_input *in, struct diag_result *r)
{
	if (!(in->snap_flags & TW_SNAP_TAKEN))
		return;
	r->holders_total = in->k_total;
	for (int i = 0; i < 16; i++)
		r->by_state[i] = in->k_by_state[i];
	r->tw_noreuse = in->k_tw_noreuse;
	r->tw_last_ms = in->k_tw_last_ms;
}

/* The most durable kind among all conflicting sockets, counted or listed. */
static enum diag_cause cause_of_counts(const struct diag_input *in, const struct diag_result *r)
{
	size_t other = 0;

	if (in->proto == IPPROTO_UDP)
		return CAUSE_BOUND;
	if (r->by_state[ST_LISTEN])
		return CAUSE_LISTEN;
	if (r->by_state[ST_CLOSE])
		return CAUSE_BOUND;
	for (int st = 0; st < 16; st++)
		if (st != ST_TIME_WAIT)
			other += r->by_state[st];
	return other ? CAUSE_CONNECTED : CAUSE_TIME_WAIT;
}

static void hint_none(struct hint *h, const struct diag_input *in)
{
	uint16_t port = in->call == TW_CALL_CONNECT ? in->src_port : in->port;

	if ((in->snap_flags & TW_SNAP_BUDGET) && !(in->snap_flags & TW_SNAP_TAKEN)) {
		hint_add(h, "the sockets on port %u were not read: this CPU's budget for reading "
			    "holders (200000 sockets a second) went to the failures before it",
			 port);
	} else if (in->snap_flags & TW_SNAP_SKIPPED) {
		hint_add(h,
			 "the sockets on port %u were not read: another snapshot was being taken "
			 "on this CPU",
			 port);
	} else if (in->snap_flags & TW_SNAP_TAKEN) {
		hint_add(h,
			 "the kernel refused port %u, but of the %u socket%s on it in this network "
			 "namespace none conflicts by the rules twscope applies",
			 port, in->k_on_port, in->k_on_port == 1 ? "" : "s");
	} else {
		hint_add(h,
			 "no socket on port %u conflicts any more: the holder closed before it "
			 "could be inspected, or lives in another network namespace",
			 port);
	}
}

/* bind() EADDRNOTAVAIL: inet_bind_conflict is not involved, the address is not usable here. */
static void hint_not_local(struct hint *h, const struct diag_input *in)
{
	bool v6 = in->family == AF_INET6;

	hint_add(h, "no interface in this network namespace has the address ");
	hint_endpoint(h, in->family, in->addr, in->port);
	if (v6)
		hint_add(h, "%s, or it is still tentative (duplicate address detection)",
			 in->bound_dev ? " on the interface the socket is bound or scoped to" : "");
	hint_add(h, "; bind to a local address or the wildcard");
	if (!(in->inet_flags & 3))
		hint_add(h, ", or allow it with %s or net.%s.ip_nonlocal_bind=1",
			 v6 ? "IPV6_FREEBIND" : "IP_FREEBIND", v6 ? "ipv6" : "ipv4");
}

/* The walk found ports of the range free: the range did not run out (TW_SNAP_TAKEN only). */
static bool range_full(const struct diag_input *in)
{
	uint32_t range = in->port_hi >= in->port_lo ? in->port_hi - in->port_lo + 1u : 0;

	if (!(in->snap_flags & TW_SNAP_TAKEN) || (in->snap_flags & TW_SNAP_PARTIAL))
		return true;
	/* sockets come and go during the walk: a few free ports still mean exhaustion */
	return (uint64_t)(in->k_ports_busy + in->k_ports_reserved) * 10 >= (uint64_t)range * 9;
}

static void hint_no_route(struct hint *h, const struct diag_input *in)
{
	uint32_t range = in->port_hi >= in->port_lo ? in->port_hi - in->port_lo + 1u : 0;

	if (in->call == TW_CALL_CONNECT) {
		hint_add(h, "connect() to ");
		hint_endpoint(h, in->family, in->addr, in->port);
		hint_add(h,
			 " found no source address or route (the ephemeral ports are not the "
			 "reason: %u of %u busy)",
			 in->k_ports_busy, range);
	} else {
		hint_add(h,
			 "%s(port 0) found no free port although %u of %u looked free when "
			 "twscope read them (they were taken and released meanwhile)",
			 in->call == TW_CALL_LISTEN ? "listen" : "bind", range - in->k_ports_busy,
			 range);
	}
}

void diag__run(const struct diag_input *in, struct diag_result *out)
{
	struct hint h = { .s = out->hint, .cap = sizeof(out->hint) };
	bool exhausted = autobind(in) ||
			 (in->call == TW_CALL_CONNECT && !in->src_port && in->err == EADDRNOTAVAIL);
	int best = 5;

	memset(out, 0, sizeof(*out));
	out->cause = CAUSE_UNKNOWN;
	out->tw_last_ms = -1;
	if (in->call != TW_CALL_CONNECT && in->err == EADDRNOTAVAIL) {
		hint_not_local(&h, in);
		return;
	}
	/* Two passes so the listed holders start with those of the chosen cause. */
	for (size_t i = 0; i < in->nsocks; i++)
		if (diag__conflicts(in, &in->socks[i]) &&
		    cause_rank(cause_of(&in->socks[i])) < best)
			best = cause_rank(cause_of(&in->socks[i]));
	for (int rank = best; rank < 4; rank++)
		for (size_t i = 0; i < in->nsocks; i++)
			if (diag__conflicts(in, &in->socks[i]) &&
			    cause_rank(cause_of(&in->socks[i])) == rank)
				add_holder(out, &in->socks[i]);
	take_kernel_counts(in, out);
	if (exhausted && !range_full(in)) {
		hint_no_route(&h, in);
		return;
	}
	if (exhausted) {
		out->cause = CAUSE_EPHEMERAL_EXHAUSTED;
		hint_ephemeral(&h, in, out);
		return;
	}
	if (!out->holders_total || !out->nholders) {
		hint_none(&h, in);
		return;
	}
	out->cause = cause_of_counts(in, out);
	switch (out->cause) {
	case CAUSE_TIME_WAIT:
		hint_time_wait(&h, in, out);
		break;
	case CAUSE_LISTEN:
		hint_listen(&h, in, out);
		break;
	case CAUSE_BOUND:
		hint_bound(&h, in, out);
		break;
	default:
		hint_connected(&h, in, out);
		break;
	}
	if (in->snap_flags & TW_SNAP_PARTIAL)
		hint_add(&h, " (the port has more sockets than twscope walks: counts are lower "
			     "bounds)");
}

void diag__input_from_rec(const struct tw_bind_rec *r, struct diag_input *in)
{
	memset(in, 0, sizeof(*in));
	in->call = r->call;
	in->err = r->err;
	in->proto = r->proto;
	in->family = r->family;
	memcpy(in->addr, r->addr, 16);
	in->port = r->port;
	memcpy(in->src_addr, r->src_addr, 16);
	in->src_port = r->src_port;
	in->reuseaddr = r->reuseaddr;
	in->reuseport = r->reuseport;
	in->v6only = r->v6only;
	in->bound_dev = r->bound_dev;
	in->uid = r->sk_uid;
	in->port_lo = r->port_lo;
	in->port_hi = r->port_hi;
	in->sys_lo = r->sys_lo;
	in->sys_hi = r->sys_hi;
	in->tw_reuse = r->tw_reuse;
	in->inet_flags = r->inet_flags;
	in->snap_flags = r->snap_flags;
	in->k_total = r->holders_total;
	memcpy(in->k_by_state, r->by_state, sizeof(in->k_by_state));
	in->k_tw_noreuse = r->tw_noreuse;
	in->k_tw_last_ms = r->tw_last_ms;
	in->k_on_port = r->on_port;
	in->k_ports_busy = r->ports_busy;
	in->k_ports_reserved = r->ports_reserved;
	in->k_ports_bound = r->ports_bound;
}

void diag__sock_from_rec(const struct tw_holder_rec *h, struct diag_sock *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->laddr, h->t.saddr, 16);
	memcpy(s->raddr, h->t.daddr, 16);
	s->lport = h->t.sport;
	s->rport = h->t.dport;
	s->family = h->t.family;
	s->proto = h->proto;
	s->state = h->state;
	s->reuseaddr = h->reuseaddr;
	s->reuseport = h->reuseport;
	s->v6only = h->v6only;
	s->substate = h->substate;
	s->flags = h->flags;
	s->rcv4 = h->rcv4;
	s->bound_dev = h->bound_dev;
	s->uid = h->uid;
	s->expires_in_ms = h->expires_in_ms;
	s->ino = h->ino;
	s->cookie = h->cookie;
	s->pid = h->owner.pid;
	memcpy(s->comm, h->owner.comm, sizeof(s->comm));
	s->owner_exited = h->owner.pid && (h->flags & TW_HOLDER_OWNER_GONE);
}
