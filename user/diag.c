// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

#define LOOPBACK4_IPV6 htonl(0x7f000006)

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
	static const uint8_t zero[16];

	return !memcmp(a, zero, 16);
}

static bool v6_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, prefix, 12);
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

/* The IPv4 view a socket has (sk_rcv_saddr): what __inet6_bind() stores for a v6 socket. */
static uint32_t rcv_saddr4(uint16_t family, const uint8_t *a)
{
	if (family != AF_INET6)
		return v4_of(a);
	if (v6_mapped(a))
		return v4_of(a + 12);
	return v6_any(a) ? 0 : LOOPBACK4_IPV6;
}

/* net/ipv4/inet_connection_sock.c ipv4_rcv_saddr_equal(), wildcards matched on both sides. */
static bool ipv4_equal(uint32_t a1, uint32_t a2, bool sk2_v6only)
{
	if (sk2_v6only)
		return false;
	return a1 == a2 || !a1 || !a2;
}

/* ipv6_rcv_saddr_equal() with match_wildcard on both sides; a NULL a2 is an AF_INET sk2. */
static bool ipv6_equal(const uint8_t *a1, const uint8_t *a2, uint32_t a1_4, uint32_t a2_4,
		       bool v6only1, bool v6only2)
{
	bool mapped1 = v6_mapped(a1), any1 = v6_any(a1);
	bool mapped2 = !a2 || v6_mapped(a2), any2 = a2 && v6_any(a2);

	if (mapped1 && mapped2) {
		if (v6only2)
			return false;
		return a1_4 == a2_4 || !a1_4 || !a2_4;
	}
	if (any1 && any2)
		return true;
	if (any2 && !(v6only2 && mapped1))
		return true;
	if (any1 && !(v6only1 && mapped2))
		return true;
	return a2 && !memcmp(a1, a2, 16);
}

/* inet_rcv_saddr_equal(sk = the new socket, sk2 = s, match_wildcard = true). */
static bool addr_overlap(const struct diag_input *in, const uint8_t *addr,
			 const struct diag_sock *s)
{
	if (in->family == AF_INET6)
		return ipv6_equal(addr, s->family == AF_INET6 ? s->laddr : NULL,
				  rcv_saddr4(in->family, addr), rcv_saddr4(s->family, s->laddr),
				  in->v6only, s->family == AF_INET6 && s->v6only);
	return ipv4_equal(v4_of(addr), rcv_saddr4(s->family, s->laddr),
			  s->family == AF_INET6 && s->v6only);
}

static bool dev_overlap(uint32_t a, uint32_t b)
{
	return !a || !b || a == b;
}

/* inet_bind_conflict() for an explicit port: relax and reuseport_ok are true. */
static bool tcp_conflict(const struct diag_input *in, const struct diag_sock *s)
{
	if (in->reuseaddr && s->reuseaddr && s->state != ST_LISTEN)
		return false;
	if (in->reuseport && s->reuseport && (s->state == ST_TIME_WAIT || in->uid == s->uid))
		return false;
	return true;
}

/* net/ipv4/udp.c udp_lib_lport_inuse(). */
static bool udp_conflict(const struct diag_input *in, const struct diag_sock *s)
{
	if (in->reuseaddr && s->reuseaddr)
		return false;
	return !(in->reuseport && s->reuseport && in->uid == s->uid);
}

bool diag__conflicts(const struct diag_input *in, const struct diag_sock *s)
{
	if (s->proto != in->proto)
		return false;
	if (in->call == TW_CALL_CONNECT) {
		/* a bound source port collides on the whole 4-tuple (__inet_check_established);
		 * an unbound source address is picked by the route, so any local address may */
		return in->src_port && s->lport == in->src_port && s->rport == in->port &&
		       s->family == in->family && !memcmp(s->raddr, in->addr, 16) &&
		       s->state != ST_LISTEN &&
		       (is_any(in->family, in->src_addr) || !memcmp(s->laddr, in->src_addr, 16));
	}
	if (!in->port || s->lport != in->port || s->state == ST_NEW_SYN_RECV)
		return false;
	if (!dev_overlap(in->bound_dev, s->bound_dev) || !addr_overlap(in, in->addr, s))
		return false;
	return in->proto == IPPROTO_UDP ? udp_conflict(in, s) : tcp_conflict(in, s);
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

static void hint_owner(struct hint *h, const struct diag_sock *s)
{
	char comm[17];
	size_t i;

	if (!s->pid) {
		hint_add(h, "a socket no process holds");
		return;
	}
	for (i = 0; i < 16 && s->comm[i]; i++)
		comm[i] = (unsigned char)s->comm[i] >= 0x20 && (unsigned char)s->comm[i] < 0x7f
				  ? s->comm[i]
				  : '?';
	comm[i] = '\0';
	hint_add(h, "%s (pid %u)", comm, s->pid);
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

static void hint_listen(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	const struct diag_sock *s = r->holders[0];

	hint_add(h, "listened on by ");
	hint_owner(h, s);
	if (r->holders_total > 1)
		hint_add(h, " and %zu more", r->holders_total - 1);
	hint_overlap(h, in, s);
	if (in->reuseport && s->reuseport && in->uid != s->uid)
		hint_add(h,
			 "; both set SO_REUSEPORT but the owners differ (uid %u vs %u): run both "
			 "as one user",
			 in->uid, s->uid);
	else if (in->call == TW_CALL_LISTEN && in->reuseaddr && s->reuseaddr)
		hint_add(h, "; SO_REUSEADDR let both bind() but only one socket may listen(): set "
			    "SO_REUSEPORT on both to share the port");
	else
		hint_add(h, "; stop it or use another port (SO_REUSEADDR does not help against a "
			    "listener; SO_REUSEPORT on both sockets of one user shares the port)");
}

static void hint_bound(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	const struct diag_sock *s = r->holders[0];

	hint_add(h, "bound%s by ", s->proto == IPPROTO_TCP ? " (not listening)" : "");
	hint_owner(h, s);
	if (r->holders_total > 1)
		hint_add(h, " and %zu more", r->holders_total - 1);
	hint_overlap(h, in, s);
	hint_add(h, "; close it, or set SO_REUSEADDR on both sockets (or SO_REUSEPORT on both, "
		    "same user)");
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

static void hint_ephemeral(struct hint *h, const struct diag_input *in, const struct diag_result *r)
{
	unsigned int range = in->port_hi >= in->port_lo ? in->port_hi - in->port_lo + 1 : 0;

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
	hint_add(h, " (range %u-%u); pool connections, widen net.ipv4.ip_local_port_range",
		 in->port_lo, in->port_hi);
	if (in->call == TW_CALL_CONNECT && in->tw_reuse != 1)
		hint_add(h, " or use net.ipv4.tcp_tw_reuse=1");
}

void diag__run(const struct diag_input *in, struct diag_result *out)
{
	struct hint h = { .s = out->hint, .cap = sizeof(out->hint) };
	bool autobind = in->call != TW_CALL_CONNECT && !in->port;
	bool exhausted = autobind ||
			 (in->call == TW_CALL_CONNECT && !in->src_port && in->err == EADDRNOTAVAIL);
	int best = 5;

	memset(out, 0, sizeof(*out));
	out->cause = CAUSE_UNKNOWN;
	out->tw_last_ms = -1;
	if (in->call != TW_CALL_CONNECT && in->err == EADDRNOTAVAIL) {
		/* inet_bind_conflict is not involved: the address belongs to no interface */
		hint_add(&h, "no interface in this network namespace has the address ");
		hint_endpoint(&h, in->family, in->addr, in->port);
		hint_add(&h, "; bind to a local address or the wildcard%s",
			 in->inet_flags & 3 ? ""
					    : ", or allow it with IP_FREEBIND or "
					      "net.ipv4.ip_nonlocal_bind=1");
		return;
	}
	if (exhausted) {
		out->cause = CAUSE_EPHEMERAL_EXHAUSTED;
		for (size_t i = 0; i < in->nsocks; i++) {
			const struct diag_sock *s = &in->socks[i];

			if (s->proto == in->proto && s->lport >= in->port_lo &&
			    s->lport <= in->port_hi)
				add_holder(out, s);
		}
		hint_ephemeral(&h, in, out);
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
	if (!out->holders_total) {
		hint_add(&h,
			 "no socket on port %u conflicts any more: the holder closed before it "
			 "could be inspected, or lives in another network namespace",
			 in->port);
		return;
	}
	out->cause = cause_of(out->holders[0]);
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
	in->uid = r->proc.uid;
	in->port_lo = r->port_lo;
	in->port_hi = r->port_hi;
	in->tw_reuse = r->tw_reuse;
	in->inet_flags = r->inet_flags;
}
