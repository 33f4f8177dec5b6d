// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* diag: the kernel's bind/listen/connect conflict rules, cause choice, holder list and hints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "diag.h"
#include "twscope.h"

/* Kernel TCP_* numbers (include/net/tcp_states.h), spelled out so the test does not share them. */
enum {
	ST_ESTABLISHED = 1,
	ST_SYN_SENT = 2,
	ST_FIN_WAIT1 = 4,
	ST_FIN_WAIT2 = 5,
	ST_TIME_WAIT = 6,
	ST_CLOSE = 7,
	ST_CLOSE_WAIT = 8,
	ST_LAST_ACK = 9,
	ST_LISTEN = 10,
	ST_CLOSING = 11,
	ST_NEW_SYN_RECV = 12,
};

#define PORT	 8080
#define DST_PORT 5432
#define UID	 1000

static uint16_t family_of(const char *text)
{
	return strchr(text, ':') ? AF_INET6 : AF_INET;
}

/* IPv4 lands in the first 4 bytes, which is where diag.h keeps it. */
static void set_addr(const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(family_of(text), text, out), 1);
}

static struct diag_sock sock_at(int proto, const char *addr, uint16_t port, uint8_t state)
{
	struct diag_sock s = {
		.lport = port,
		.family = family_of(addr),
		.proto = proto,
		.state = state,
		.uid = UID,
		.expires_in_ms = -1,
	};

	set_addr(addr, s.laddr);
	return s;
}

static struct diag_sock tcp_sock(const char *addr, uint8_t state)
{
	return sock_at(IPPROTO_TCP, addr, PORT, state);
}

static struct diag_sock udp_sock(const char *addr)
{
	return sock_at(IPPROTO_UDP, addr, PORT, ST_CLOSE);
}

static struct diag_sock owned(struct diag_sock s, uint32_t pid, const char *comm)
{
	s.pid = pid;
	strncpy(s.comm, comm, sizeof(s.comm));
	return s;
}

/* A connection from laddr:lport to addr:DST_PORT, as the connect-side inputs hold them. */
static struct diag_sock conn_sock(const char *laddr, uint16_t lport, const char *raddr,
				  uint8_t state)
{
	struct diag_sock s = sock_at(IPPROTO_TCP, laddr, lport, state);

	set_addr(raddr, s.raddr);
	s.rport = DST_PORT;
	return s;
}

static struct diag_input bind_in(int proto, const char *addr, uint16_t port)
{
	struct diag_input in = {
		.call = TW_CALL_BIND,
		.err = EADDRINUSE,
		.proto = proto,
		.family = family_of(addr),
		.port = port,
		.uid = UID,
		.port_lo = 32768,
		.port_hi = 60999,
	};

	set_addr(addr, in.addr);
	return in;
}

static struct diag_input connect_in(const char *dst, const char *src, uint16_t src_port)
{
	struct diag_input in = bind_in(IPPROTO_TCP, dst, DST_PORT);

	in.call = TW_CALL_CONNECT;
	in.err = EADDRNOTAVAIL;
	set_addr(src, in.src_addr);
	in.src_port = src_port;
	return in;
}

static void run(struct diag_input *in, const struct diag_sock *socks, size_t n,
		struct diag_result *r)
{
	in->socks = socks;
	in->nsocks = n;
	memset(r, 0xa5, sizeof(*r)); /* diag__run must not rely on a zeroed result */
	diag__run(in, r);
}

static void check_hint(const struct diag_result *r, const char *s, bool want, const char *file,
		       int line)
{
	if (!!strstr(r->hint, s) != want) {
		print_error("hint \"%s\" %s \"%s\"\n", r->hint, want ? "lacks" : "contains", s);
		_fail(file, line);
	}
}

#define assert_hint_has(r, s)	check_hint(r, s, true, __FILE__, __LINE__)
#define assert_hint_lacks(r, s) check_hint(r, s, false, __FILE__, __LINE__)

/* ---- the table of DESIGN.md, row by row, over every flag combination and both families ---- */

struct combo {
	bool ra_new, ra_old, rp_new, rp_old, same_uid;
};

/* Written from the kernel's inet_bind_conflict (relax, reuseport_ok), not from diag.c. */
static bool passes_listen(const struct combo *c)
{
	return c->rp_new && c->rp_old && c->same_uid;
}

static bool passes_full(const struct combo *c)
{
	return (c->ra_new && c->ra_old) || (c->rp_new && c->rp_old && c->same_uid);
}

/* ra_old is the TIME_WAIT's tw_reuse; TIME_WAIT skips the uid check. */
static bool passes_time_wait(const struct combo *c)
{
	return (c->ra_new && c->ra_old) || (c->rp_new && c->rp_old);
}

static void check_row(int call, int proto, uint8_t st, enum diag_cause cause,
		      bool (*passes)(const struct combo *))
{
	static const char *const addrs[] = { "127.0.0.1", "::1", "0.0.0.0", "::" };
	size_t hits = 0, misses = 0;

	for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++) {
		for (unsigned int m = 0; m < 32; m++) {
			struct combo c = { m & 1, m & 2, m & 4, m & 8, m & 16 };
			struct diag_input in = bind_in(proto, addrs[a], PORT);
			struct diag_sock s = sock_at(proto, addrs[a], PORT, st);
			struct diag_result r;
			bool want = !passes(&c);

			in.call = call;
			in.reuseaddr = c.ra_new;
			s.reuseaddr = c.ra_old;
			in.reuseport = c.rp_new;
			s.reuseport = c.rp_old;
			s.uid = c.same_uid ? UID : UID + 1;
			if (diag__conflicts(&in, &s) != want) {
				print_error("%s state %u at %s: reuseaddr new %d old %d, reuseport "
					    "new %d old %d, %s uid: conflict %d, kernel says %d\n",
					    proto == IPPROTO_UDP ? "udp" : "tcp", st, addrs[a],
					    c.ra_new, c.ra_old, c.rp_new, c.rp_old,
					    c.same_uid ? "same" : "other", !want, want);
				fail();
			}
			run(&in, &s, 1, &r);
			assert_int_equal(r.cause, want ? cause : CAUSE_UNKNOWN);
			assert_int_equal(r.holders_total, want);
			assert_int_equal(r.nholders, want);
			if (want)
				assert_ptr_equal(r.holders[0], &s);
			want ? hits++ : misses++;
		}
	}
	/* every row has combinations on both sides */
	assert_true(hits > 0 && misses > 0);
}

static void test_tcp_listen_row(void **state)
{
	check_row(TW_CALL_BIND, IPPROTO_TCP, ST_LISTEN, CAUSE_LISTEN, passes_listen);
}

static void test_tcp_bound_row(void **state)
{
	check_row(TW_CALL_BIND, IPPROTO_TCP, ST_CLOSE, CAUSE_BOUND, passes_full);
}

static void test_tcp_connected_row(void **state)
{
	static const uint8_t states[] = { ST_ESTABLISHED, ST_SYN_SENT, ST_FIN_WAIT1, ST_FIN_WAIT2,
					  ST_CLOSE_WAIT,  ST_LAST_ACK, ST_CLOSING };

	for (size_t i = 0; i < sizeof(states); i++)
		check_row(TW_CALL_BIND, IPPROTO_TCP, states[i], CAUSE_CONNECTED, passes_full);
}

static void test_tcp_time_wait_row(void **state)
{
	check_row(TW_CALL_BIND, IPPROTO_TCP, ST_TIME_WAIT, CAUSE_TIME_WAIT, passes_time_wait);
}

/* listen() re-runs the same check: the holder's state decides, not the new socket's. */
static void test_listen_call_rows(void **state)
{
	check_row(TW_CALL_LISTEN, IPPROTO_TCP, ST_LISTEN, CAUSE_LISTEN, passes_listen);
	check_row(TW_CALL_LISTEN, IPPROTO_TCP, ST_CLOSE, CAUSE_BOUND, passes_full);
	check_row(TW_CALL_LISTEN, IPPROTO_TCP, ST_ESTABLISHED, CAUSE_CONNECTED, passes_full);
	check_row(TW_CALL_LISTEN, IPPROTO_TCP, ST_TIME_WAIT, CAUSE_TIME_WAIT, passes_time_wait);
}

/* udp_lib_lport_inuse: both SO_REUSEADDR, or both SO_REUSEPORT of one uid. */
static void test_udp_row(void **state)
{
	check_row(TW_CALL_BIND, IPPROTO_UDP, ST_CLOSE, CAUSE_BOUND, passes_full);
	/* a connected UDP socket is ESTABLISHED in the kernel and still just "bound" */
	check_row(TW_CALL_BIND, IPPROTO_UDP, ST_ESTABLISHED, CAUSE_BOUND, passes_full);
}

/* ---- the same rules as named cases, so a failure reads as the scenario it breaks ---- */

static void test_listen_reuseaddr_never_helps(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock s = owned(tcp_sock("0.0.0.0", ST_LISTEN), 4242, "nginx");
	struct diag_result r;

	in.reuseaddr = true;
	s.reuseaddr = true;
	assert_true(diag__conflicts(&in, &s));
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_int_equal(r.nholders, 1);
	assert_int_equal(r.by_state[ST_LISTEN], 1);
	assert_hint_has(&r, "nginx (pid 4242)");
}

static void test_listen_reuseport_uid(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock s = owned(tcp_sock("0.0.0.0", ST_LISTEN), 4242, "nginx");
	struct diag_result r;

	in.reuseport = true;
	s.reuseport = true;
	assert_false(diag__conflicts(&in, &s));
	s.uid = 0;
	assert_true(diag__conflicts(&in, &s));
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	/* the hint has to explain why SO_REUSEPORT on both did not help, and not suggest it */
	assert_hint_has(&r, "both sockets must belong to one user");
	assert_hint_has(&r, "uid 1000 (new) and uid 0 (holder)");
	assert_hint_lacks(&r, "set SO_REUSEPORT");
	/* nor is it suggested when only one side set it, across users */
	in.reuseport = false;
	run(&in, &s, 1, &r);
	assert_hint_lacks(&r, "set SO_REUSEPORT");
	assert_hint_has(&r, "one user");
	s.state = ST_CLOSE;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_BOUND);
	assert_hint_lacks(&r, "SO_REUSEPORT on both");
	assert_hint_has(&r, "one user");
	s.state = ST_LISTEN;
	in.reuseport = true;
	/* only one side with SO_REUSEPORT never shares */
	s.uid = UID;
	in.reuseport = false;
	assert_true(diag__conflicts(&in, &s));
}

static void test_time_wait_reuse_flag(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock tw = tcp_sock("0.0.0.0", ST_TIME_WAIT);

	in.reuseaddr = true;
	assert_true(diag__conflicts(&in, &tw)); /* the old listener did not set SO_REUSEADDR */
	tw.reuseaddr = true;
	assert_false(diag__conflicts(&in, &tw));
	in.reuseaddr = false;
	assert_true(diag__conflicts(&in, &tw)); /* the tw's flag alone is not enough */
	/* SO_REUSEPORT on both gets through a TIME_WAIT of another uid */
	tw.reuseaddr = false;
	tw.uid = 0;
	in.reuseport = true;
	tw.reuseport = true;
	assert_false(diag__conflicts(&in, &tw));
	tw.reuseport = false;
	assert_true(diag__conflicts(&in, &tw));
}

static void test_bound_and_connected_reuseaddr(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock bound = tcp_sock("0.0.0.0", ST_CLOSE);
	struct diag_sock est = tcp_sock("127.0.0.1", ST_ESTABLISHED);

	in.reuseaddr = true;
	bound.reuseaddr = true;
	est.reuseaddr = true;
	assert_false(diag__conflicts(&in, &bound));
	assert_false(diag__conflicts(&in, &est));
	in.reuseaddr = false;
	assert_true(diag__conflicts(&in, &bound));
	assert_true(diag__conflicts(&in, &est));
	in.reuseport = true;
	bound.reuseport = true;
	est.reuseport = true;
	assert_false(diag__conflicts(&in, &bound));
	assert_false(diag__conflicts(&in, &est));
	bound.uid = est.uid = UID + 1;
	assert_true(diag__conflicts(&in, &bound));
	assert_true(diag__conflicts(&in, &est));
}

/* ---- bound device ---- */

static void test_bound_device(void **state)
{
	static const struct {
		uint32_t new_dev, old_dev;
		bool conflict;
	} cases[] = {
		{ 0, 0, true }, { 0, 3, true }, { 2, 0, true }, { 2, 2, true }, { 2, 3, false },
	};
	static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP };

	for (size_t p = 0; p < 2; p++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct diag_input in = bind_in(protos[p], "0.0.0.0", PORT);
			struct diag_sock s =
				sock_at(protos[p], "0.0.0.0", PORT,
					protos[p] == IPPROTO_TCP ? ST_LISTEN : ST_CLOSE);
			struct diag_result r;

			in.bound_dev = cases[i].new_dev;
			s.bound_dev = cases[i].old_dev;
			if (diag__conflicts(&in, &s) != cases[i].conflict) {
				print_error("proto %d dev %u vs %u\n", protos[p], cases[i].new_dev,
					    cases[i].old_dev);
				fail();
			}
			run(&in, &s, 1, &r);
			assert_int_equal(r.holders_total, cases[i].conflict);
		}
	}
}

/* ---- addresses: specific, wildcard, dual stack, v6only, v4-mapped ---- */

struct addr_case {
	const char *new_addr;
	bool new_v6only;
	const char *old_addr;
	bool old_v6only;
	bool conflict;
};

static const struct addr_case addr_cases[] = {
	/* IPv4 */
	{ "127.0.0.1", false, "127.0.0.1", false, true },
	{ "127.0.0.1", false, "127.0.0.2", false, false },
	{ "0.0.0.0", false, "127.0.0.1", false, true },
	{ "127.0.0.1", false, "0.0.0.0", false, true },
	{ "0.0.0.0", false, "0.0.0.0", false, true },
	/* IPv6, where IPV6_V6ONLY changes nothing */
	{ "::1", false, "::1", false, true },
	{ "::1", false, "2001:db8::1", false, false },
	{ "::", false, "::1", false, true },
	{ "::1", false, "::", false, true },
	{ "::", true, "::1", false, true },
	{ "::1", false, "::", true, true },
	{ "::", true, "::", true, true },
	{ "::", false, "::", true, true },
	/* IPv4 new bind against an IPv6 holder */
	{ "0.0.0.0", false, "::", false, true },
	{ "127.0.0.1", false, "::", false, true },
	{ "0.0.0.0", false, "::", true, false },
	{ "127.0.0.1", false, "::", true, false },
	{ "127.0.0.1", false, "::1", false, false },
	/* IPv6 new bind against an IPv4 holder */
	{ "::", false, "0.0.0.0", false, true },
	{ "::", false, "127.0.0.1", false, true },
	{ "::", true, "0.0.0.0", false, false },
	{ "::", true, "127.0.0.1", false, false },
	{ "::1", false, "0.0.0.0", false, false }, /* 0.0.0.0 covers IPv4 only */
	{ "::1", false, "127.0.0.1", false, false },
	/* v4-mapped addresses are IPv4 */
	{ "::ffff:127.0.0.1", false, "127.0.0.1", false, true },
	{ "::ffff:127.0.0.1", false, "127.0.0.2", false, false },
	{ "::ffff:127.0.0.1", false, "0.0.0.0", false, true },
	{ "127.0.0.1", false, "::ffff:127.0.0.1", false, true },
	{ "127.0.0.2", false, "::ffff:127.0.0.1", false, false },
	{ "::ffff:127.0.0.1", false, "::", false, true },
	{ "::ffff:127.0.0.1", false, "::", true, false },
	{ "::", false, "::ffff:127.0.0.1", false, true },
	{ "::", true, "::ffff:127.0.0.1", false, false },
};

static void check_addr_cases(int proto, uint8_t st)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct diag_input in = bind_in(proto, c->new_addr, PORT);
		struct diag_sock s = sock_at(proto, c->old_addr, PORT, st);
		struct diag_result r;

		in.v6only = c->new_v6only;
		s.v6only = c->old_v6only;
		if (diag__conflicts(&in, &s) != c->conflict) {
			print_error("%s [%s]%s vs holder [%s]%s: conflict %d, kernel says %d\n",
				    proto == IPPROTO_UDP ? "udp" : "tcp", c->new_addr,
				    c->new_v6only ? " v6only" : "", c->old_addr,
				    c->old_v6only ? " v6only" : "", !c->conflict, c->conflict);
			fail();
		}
		run(&in, &s, 1, &r);
		assert_int_equal(r.holders_total, c->conflict);
		assert_int_equal(r.cause,
				 c->conflict ? (proto == IPPROTO_UDP ? CAUSE_BOUND : CAUSE_LISTEN)
					     : CAUSE_UNKNOWN);
	}
}

static void test_addresses_tcp(void **state)
{
	check_addr_cases(IPPROTO_TCP, ST_LISTEN);
}

static void test_addresses_udp(void **state)
{
	check_addr_cases(IPPROTO_UDP, ST_CLOSE);
}

/* The hint says why a holder on another-looking address is in the way. */
static void test_dual_stack_hints(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "127.0.0.1", PORT);
	struct diag_sock s = owned(tcp_sock("::", ST_LISTEN), 10, "sshd");
	struct diag_result r;

	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_hint_has(&r, "IPV6_V6ONLY");
	in = bind_in(IPPROTO_TCP, "::", PORT);
	s = owned(tcp_sock("0.0.0.0", ST_LISTEN), 10, "sshd");
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_hint_has(&r, "IPV6_V6ONLY");
	/* with v6only on the new socket the IPv4 listener is no obstacle */
	in.v6only = true;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_int_equal(r.nholders, 0);
}

/* Sockets on another port, of another protocol, or still a request sock never hold the port. */
static void test_other_port_and_proto(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[] = {
		sock_at(IPPROTO_TCP, "0.0.0.0", PORT + 1, ST_LISTEN),
		sock_at(IPPROTO_UDP, "0.0.0.0", PORT, ST_CLOSE),
		tcp_sock("0.0.0.0", ST_NEW_SYN_RECV), /* request socks are not in the bind hash */
	};
	struct diag_result r;

	assert_false(diag__conflicts(&in, &socks[0]));
	assert_false(diag__conflicts(&in, &socks[1]));
	assert_false(diag__conflicts(&in, &socks[2]));
	run(&in, socks, 3, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	/* and the other way round: a UDP bind does not see the TCP listener */
	in = bind_in(IPPROTO_UDP, "0.0.0.0", PORT);
	socks[1] = sock_at(IPPROTO_TCP, "0.0.0.0", PORT, ST_LISTEN);
	assert_false(diag__conflicts(&in, &socks[1]));
}

/* ---- listen() re-check ---- */

static void test_listen_recheck_second_listener(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	/* the first socket listened; the failing one is still bound (state 7) and is on the port */
	struct diag_sock socks[] = {
		owned(tcp_sock("0.0.0.0", ST_LISTEN), 500, "server"),
		owned(tcp_sock("0.0.0.0", ST_CLOSE), 501, "server"),
	};
	struct diag_result r;

	in.call = TW_CALL_LISTEN;
	in.reuseaddr = socks[0].reuseaddr = socks[1].reuseaddr = true;
	assert_true(diag__conflicts(&in, &socks[0]));
	assert_false(diag__conflicts(&in, &socks[1]));
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_int_equal(r.nholders, 1);
	assert_int_equal(r.holders_total, 1);
	assert_ptr_equal(r.holders[0], &socks[0]);
	assert_hint_has(&r, "server (pid 500)");
	assert_hint_has(&r, "SO_REUSEPORT");
}

static void test_listen_recheck_bound_only_holder(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock s = tcp_sock("0.0.0.0", ST_CLOSE);
	struct diag_result r;

	in.call = TW_CALL_LISTEN;
	in.reuseaddr = s.reuseaddr = true;
	assert_false(diag__conflicts(&in, &s));
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	/* without SO_REUSEADDR on the holder the bound socket does block */
	s.reuseaddr = false;
	assert_true(diag__conflicts(&in, &s));
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_BOUND);
}

/* ---- UDP ---- */

static void test_udp_bound(void **state)
{
	struct diag_input in = bind_in(IPPROTO_UDP, "0.0.0.0", 53);
	struct diag_sock s =
		owned(sock_at(IPPROTO_UDP, "127.0.0.53", 53, ST_CLOSE), 300, "systemd-resolve");
	struct diag_result r;

	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_BOUND);
	assert_int_equal(r.by_state[ST_CLOSE], 1);
	assert_hint_has(&r, "systemd-resolve (pid 300)");
	/* "not listening" is TCP talk */
	assert_hint_lacks(&r, "listening");
	in.reuseaddr = s.reuseaddr = true;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	in.reuseaddr = false;
	in.reuseport = s.reuseport = true;
	assert_false(diag__conflicts(&in, &s));
	s.uid = 0;
	assert_true(diag__conflicts(&in, &s));
	/* a UDP [::] socket without v6only holds IPv4 too */
	s = udp_sock("::");
	in = bind_in(IPPROTO_UDP, "127.0.0.1", PORT);
	assert_true(diag__conflicts(&in, &s));
	s.v6only = true;
	assert_false(diag__conflicts(&in, &s));
}

/* ---- connect ---- */

static void test_connect_ephemeral_exhausted_v4(void **state)
{
	struct diag_input in = connect_in("127.0.0.1", "0.0.0.0", 0);
	struct diag_sock socks[] = {
		conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_TIME_WAIT),
		conn_sock("127.0.0.1", 40001, "127.0.0.1", ST_TIME_WAIT),
		conn_sock("127.0.0.1", 40002, "127.0.0.1", ST_TIME_WAIT),
		conn_sock("127.0.0.1", 40003, "127.0.0.1", ST_ESTABLISHED),
		/* outside the range: a socket that bound its port explicitly */
		conn_sock("127.0.0.1", 50000, "127.0.0.1", ST_TIME_WAIT),
	};
	struct diag_result r;

	in.port_lo = 40000;
	in.port_hi = 40003;
	run(&in, socks, 5, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
	assert_int_equal(r.holders_total, 4);
	assert_int_equal(r.nholders, 4);
	assert_int_equal(r.by_state[ST_TIME_WAIT], 3);
	assert_int_equal(r.by_state[ST_ESTABLISHED], 1);
	for (size_t i = 0; i < r.nholders; i++)
		assert_ptr_not_equal(r.holders[i], &socks[4]);
	assert_hint_has(&r, "ephemeral ports exhausted toward 127.0.0.1:5432");
	assert_hint_has(&r, "3 of 4 in TIME_WAIT");
	assert_hint_has(&r, "40000-40003");
}

static void test_connect_ephemeral_exhausted_v6(void **state)
{
	struct diag_input in = connect_in("::1", "::", 0);
	struct diag_sock socks[] = {
		conn_sock("::1", 32768, "::1", ST_TIME_WAIT),
		conn_sock("::1", 32769, "::1", ST_TIME_WAIT),
	};
	struct diag_result r;

	in.port_lo = 32768;
	in.port_hi = 32769;
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
	assert_int_equal(r.holders_total, 2);
	assert_hint_has(&r, "ephemeral ports exhausted toward [::1]:5432");
	assert_hint_has(&r, "2 of 2 in TIME_WAIT");
}

static void test_connect_bound_src_port_time_wait(void **state)
{
	struct diag_input in = connect_in("127.0.0.1", "127.0.0.1", 40000);
	struct diag_sock socks[] = {
		conn_sock("127.0.0.1", 40001, "127.0.0.1", ST_TIME_WAIT), /* another source port */
		conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_TIME_WAIT), /* the 4-tuple */
		conn_sock("127.0.0.1", 40000, "127.0.0.2", ST_TIME_WAIT), /* another destination */
		conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_TIME_WAIT), /* gets another dport */
	};
	struct diag_result r;

	socks[1].expires_in_ms = 42000;
	socks[3].rport = DST_PORT + 1;
	assert_false(diag__conflicts(&in, &socks[0]));
	assert_true(diag__conflicts(&in, &socks[1]));
	assert_false(diag__conflicts(&in, &socks[2]));
	assert_false(diag__conflicts(&in, &socks[3]));
	run(&in, socks, 4, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_int_equal(r.holders_total, 1);
	assert_ptr_equal(r.holders[0], &socks[1]);
	assert_hint_has(&r, "frees in 42 s");
}

/* tcp_v6_connect() hands a v4-mapped peer to tcp_v4_connect(): the tuple is IPv4's. */
static void test_connect_bound_src_port_v4_mapped(void **state)
{
	struct diag_input in = connect_in("::ffff:127.0.0.1", "::ffff:127.0.0.1", 40000);
	struct diag_input unbound = connect_in("::ffff:127.0.0.1", "::", 40000);
	struct diag_input v4 = connect_in("127.0.0.1", "127.0.0.1", 40000);
	struct diag_sock socks[] = {
		conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_TIME_WAIT),
		conn_sock("::ffff:127.0.0.1", 40000, "::ffff:127.0.0.1", ST_ESTABLISHED),
		conn_sock("127.0.0.1", 40000, "127.0.0.2", ST_TIME_WAIT),
		conn_sock("::1", 40000, "::1", ST_TIME_WAIT),
	};

	assert_true(diag__conflicts(&in, &socks[0]));
	assert_true(diag__conflicts(&unbound, &socks[0]));
	assert_true(diag__conflicts(&in, &socks[1]));
	assert_true(diag__conflicts(&v4, &socks[1]));
	assert_false(diag__conflicts(&in, &socks[2]));
	assert_false(diag__conflicts(&in, &socks[3]));
	assert_false(diag__conflicts(&v4, &socks[3]));
}

static void test_connect_bound_src_port_connected(void **state)
{
	struct diag_input in = connect_in("127.0.0.1", "127.0.0.1", 40000);
	struct diag_sock s =
		owned(conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_ESTABLISHED), 77, "psql");
	struct diag_result r;

	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_CONNECTED);
	assert_hint_has(&r, "40000");
	assert_hint_has(&r, "127.0.0.1:5432");
	assert_hint_has(&r, "psql (pid 77)");
	/* a listener on the source port is not part of any 4-tuple */
	s = conn_sock("127.0.0.1", 40000, "0.0.0.0", ST_LISTEN);
	s.rport = 0;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
}

/*
 * The 4-tuple includes the local address (__inet_check_established matches saddr): a socket
 * bound to 10.0.0.1:40000 does not collide with 10.0.0.2:40000 -> dst. A source bound to the
 * wildcard gets its address from the route, so it may collide with any.
 */
static void test_connect_bound_src_port_local_address(void **state)
{
	struct diag_input in = connect_in("192.0.2.1", "10.0.0.1", 40000);
	struct diag_sock same = conn_sock("10.0.0.1", 40000, "192.0.2.1", ST_TIME_WAIT);
	struct diag_sock other = conn_sock("10.0.0.2", 40000, "192.0.2.1", ST_TIME_WAIT);

	assert_true(diag__conflicts(&in, &same));
	assert_false(diag__conflicts(&in, &other));
	in = connect_in("192.0.2.1", "0.0.0.0", 40000);
	assert_true(diag__conflicts(&in, &other));
}

/* ---- autobind ---- */

static void test_autobind_exhausted(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", 0);
	struct diag_sock socks[] = {
		sock_at(IPPROTO_TCP, "127.0.0.1", 40000, ST_TIME_WAIT),
		sock_at(IPPROTO_TCP, "127.0.0.1", 40001, ST_ESTABLISHED),
	};
	struct diag_result r;

	in.port_lo = 40000;
	in.port_hi = 40001;
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
	assert_int_equal(r.holders_total, 2);
	assert_hint_has(&r, "ephemeral");
	/* listen() on an unbound socket autobinds the same way */
	in.call = TW_CALL_LISTEN;
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
	/* and an explicit port that is in use is not exhaustion */
	in = bind_in(IPPROTO_TCP, "0.0.0.0", 40000);
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
}

/* ---- cause priority, holder list, counts ---- */

static void test_cause_priority(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	/* least durable first, so a cause taken from the first hit would be wrong */
	struct diag_sock socks[] = {
		tcp_sock("127.0.0.1", ST_TIME_WAIT),
		tcp_sock("127.0.0.1", ST_ESTABLISHED),
		tcp_sock("127.0.0.2", ST_CLOSE),
		tcp_sock("127.0.0.3", ST_LISTEN),
		sock_at(IPPROTO_TCP, "127.0.0.3", PORT + 1, ST_LISTEN), /* not on the port */
	};
	static const struct {
		size_t n;
		enum diag_cause cause;
	} steps[] = {
		{ 4, CAUSE_LISTEN },
		{ 3, CAUSE_BOUND },
		{ 2, CAUSE_CONNECTED },
		{ 1, CAUSE_TIME_WAIT },
	};
	struct diag_result r;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct diag_sock in_view[5];
		size_t n = steps[i].n;

		/* the first n holders, and the listener on another port in view at every step */
		memcpy(in_view, socks, n * sizeof(socks[0]));
		in_view[n] = socks[4];
		run(&in, in_view, n + 1, &r);
		assert_int_equal(r.cause, steps[i].cause);
		assert_int_equal(r.holders_total, n);
		assert_int_equal(r.nholders, n);
		/* the chosen cause's holder leads: it is the last one added at this step */
		assert_ptr_equal(r.holders[0], &in_view[n - 1]);
		for (size_t j = 0; j < n; j++) {
			bool listed = false;

			for (size_t k = 0; k < r.nholders; k++)
				listed |= r.holders[k] == &in_view[j];
			assert_true(listed);
		}
	}
	run(&in, socks, 5, &r);
	assert_int_equal(r.by_state[ST_TIME_WAIT], 1);
	assert_int_equal(r.by_state[ST_ESTABLISHED], 1);
	assert_int_equal(r.by_state[ST_CLOSE], 1);
	assert_int_equal(r.by_state[ST_LISTEN], 1);
	assert_int_equal(r.by_state[ST_CLOSE_WAIT], 0);
}

static void test_holders_of_cause_lead(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[] = {
		tcp_sock("127.0.0.1", ST_TIME_WAIT),  tcp_sock("127.0.0.1", ST_LISTEN),
		tcp_sock("127.0.0.1", ST_TIME_WAIT),  tcp_sock("::", ST_LISTEN),
		tcp_sock("127.0.0.1", ST_CLOSE_WAIT),
	};
	struct diag_result r;

	run(&in, socks, 5, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_int_equal(r.holders_total, 5);
	assert_int_equal(r.holders[0]->state, ST_LISTEN);
	assert_int_equal(r.holders[1]->state, ST_LISTEN);
	assert_int_equal(r.by_state[ST_TIME_WAIT], 2);
	assert_int_equal(r.by_state[ST_LISTEN], 2);
	assert_int_equal(r.by_state[ST_CLOSE_WAIT], 1);
}

static void test_connected_counts(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[] = {
		owned(tcp_sock("127.0.0.1", ST_ESTABLISHED), 9, "app"),
		tcp_sock("127.0.0.1", ST_ESTABLISHED),
		tcp_sock("127.0.0.1", ST_CLOSE_WAIT),
		tcp_sock("127.0.0.1", ST_FIN_WAIT1),
		tcp_sock("127.0.0.1", ST_TIME_WAIT),
	};
	struct diag_result r;

	run(&in, socks, 5, &r);
	assert_int_equal(r.cause, CAUSE_CONNECTED);
	assert_int_equal(r.holders_total, 5);
	assert_int_equal(r.by_state[ST_ESTABLISHED], 2);
	assert_int_equal(r.by_state[ST_CLOSE_WAIT], 1);
	assert_int_equal(r.by_state[ST_FIN_WAIT1], 1);
	assert_int_equal(r.by_state[ST_TIME_WAIT], 1);
	assert_int_not_equal(r.holders[0]->state, ST_TIME_WAIT);
	assert_hint_has(&r, "app (pid 9)");
}

static void test_holders_capped(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[DIAG_MAX_HOLDERS + 4];
	struct diag_result r;

	for (size_t i = 0; i < DIAG_MAX_HOLDERS + 4; i++)
		socks[i] = tcp_sock("127.0.0.1", ST_TIME_WAIT);
	run(&in, socks, DIAG_MAX_HOLDERS + 4, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_int_equal(r.nholders, DIAG_MAX_HOLDERS);
	assert_int_equal(r.holders_total, DIAG_MAX_HOLDERS + 4);
	assert_int_equal(r.by_state[ST_TIME_WAIT], DIAG_MAX_HOLDERS + 4);
	assert_hint_has(&r, "held by 20 TIME_WAIT sockets");
}

/* ---- hints ---- */

static void test_time_wait_hint(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[] = {
		tcp_sock("127.0.0.1", ST_TIME_WAIT),
		tcp_sock("127.0.0.1", ST_TIME_WAIT),
	};
	struct diag_result r;

	socks[0].expires_in_ms = 1500;
	socks[1].expires_in_ms = 59001; /* rounds up: the port is not free after 59 s */
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_hint_has(&r, "2 TIME_WAIT sockets");
	assert_hint_has(&r, "SO_REUSEADDR on the listening socket");
	assert_hint_has(&r, "frees in 60 s");
	/* the new socket already had SO_REUSEADDR: still the old listener's flag to fix */
	in.reuseaddr = true;
	socks[1].expires_in_ms = 2000;
	run(&in, socks, 2, &r);
	assert_hint_has(&r, "SO_REUSEADDR on the listening socket");
	assert_hint_has(&r, "frees in 2 s");
	/* the listener did set it, so only the new socket lacks SO_REUSEADDR */
	in.reuseaddr = false;
	socks[0].reuseaddr = socks[1].reuseaddr = true;
	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_hint_has(&r, "SO_REUSEADDR on the new socket");
	assert_hint_lacks(&r, "on the listening socket");
	/* one TIME_WAIT is singular */
	run(&in, socks, 1, &r);
	assert_hint_has(&r, "1 TIME_WAIT socket ");
}

/* The port frees when the last TIME_WAIT goes, listed or not. */
static void test_time_wait_hint_frees_after_last_of_all(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[DIAG_MAX_HOLDERS + 4];
	struct diag_result r;

	for (size_t i = 0; i < DIAG_MAX_HOLDERS + 4; i++) {
		socks[i] = tcp_sock("127.0.0.1", ST_TIME_WAIT);
		socks[i].expires_in_ms = 1000;
	}
	socks[DIAG_MAX_HOLDERS + 3].expires_in_ms = 60000;
	run(&in, socks, DIAG_MAX_HOLDERS + 4, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_hint_has(&r, "frees in 60 s");
}

static void test_listen_hint_more_holders(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock socks[] = {
		owned(tcp_sock("0.0.0.0", ST_LISTEN), 1234, "haproxy"),
		owned(tcp_sock("::", ST_LISTEN), 1234, "haproxy"),
	};
	struct diag_result r;

	run(&in, socks, 2, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_hint_has(&r, "haproxy (pid 1234)");
	assert_hint_has(&r, "1 more");
}

static void test_no_conflict_unknown(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "127.0.0.1", PORT);
	struct diag_sock s = tcp_sock("127.0.0.2", ST_LISTEN);
	struct diag_result r;

	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_int_equal(r.nholders, 0);
	assert_int_equal(r.holders_total, 0);
	assert_hint_has(&r, "no socket on port 8080 conflicts");
	run(&in, NULL, 0, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_hint_has(&r, "no socket");
}

/* bind() with EADDRNOTAVAIL: the address is on no interface, no socket is to blame. */
static void test_bind_nonlocal_address(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "192.0.2.7", PORT);
	struct diag_sock s = tcp_sock("0.0.0.0", ST_LISTEN);
	struct diag_result r;

	in.err = EADDRNOTAVAIL;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_int_equal(r.holders_total, 0);
	assert_hint_has(&r,
			"no interface in this network namespace has the address 192.0.2.7:8080");
	assert_hint_has(&r, "IP_FREEBIND");
	in.inet_flags = 1; /* IP_FREEBIND already set: no point suggesting it */
	run(&in, &s, 1, &r);
	assert_null(strstr(r.hint, "IP_FREEBIND"));
}

static void assert_printable(const char *hint)
{
	assert_true(hint[0] != '\0');
	for (const char *p = hint; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
			print_error("control byte 0x%02x in hint \"%s\"\n", (unsigned char)*p,
				    hint);
			fail();
		}
	}
}

/* A comm is whatever the process wrote with prctl: escape sequences must not reach a terminal. */
static void test_hint_comm_control_bytes(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "0.0.0.0", PORT);
	struct diag_sock s = owned(tcp_sock("0.0.0.0", ST_LISTEN), 66, "ev\x1b[2Jil\n\x7f");
	struct diag_result r;

	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	assert_printable(r.hint);
	assert_hint_has(&r, "(pid 66)");
	/* every hint that names an owner, and a comm with no NUL in its 16 bytes */
	memset(s.comm, '\t', sizeof(s.comm));
	run(&in, &s, 1, &r);
	assert_printable(r.hint);
	s.state = ST_CLOSE;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_BOUND);
	assert_printable(r.hint);
	s.state = ST_ESTABLISHED;
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_CONNECTED);
	assert_printable(r.hint);
	in = connect_in("127.0.0.1", "127.0.0.1", 40000);
	s = owned(conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_ESTABLISHED), 66, "a\rb\x1b");
	run(&in, &s, 1, &r);
	assert_int_equal(r.cause, CAUSE_CONNECTED);
	assert_printable(r.hint);
}

static void test_cause_names(void **state)
{
	assert_string_equal(diag__cause_name(CAUSE_TIME_WAIT), "time_wait");
	assert_string_equal(diag__cause_name(CAUSE_LISTEN), "listen");
	assert_string_equal(diag__cause_name(CAUSE_BOUND), "bound");
	assert_string_equal(diag__cause_name(CAUSE_CONNECTED), "connected");
	assert_string_equal(diag__cause_name(CAUSE_EPHEMERAL_EXHAUSTED), "ephemeral_exhausted");
	assert_string_equal(diag__cause_name(CAUSE_UNKNOWN), "unknown");
	assert_string_equal(diag__cause_name(CAUSE_MAX), "unknown");
	assert_string_equal(diag__cause_name((enum diag_cause) - 1), "unknown");
}

/* The record's fields land in the input unchanged; socks stay empty for the caller to fill. */
static void test_input_from_rec(void **state)
{
	struct tw_bind_rec rec = {
		.proc = { .pid = 7,
			  .uid = 0 }, /* a root caller (sudo) on a socket made by uid 1001 */
		.sk_uid = 1001,
		.err = EADDRNOTAVAIL,
		.bound_dev = 4,
		.port = DST_PORT,
		.src_port = 40000,
		.family = AF_INET6,
		.port_lo = 1024,
		.port_hi = 2047,
		.call = TW_CALL_CONNECT,
		.proto = IPPROTO_TCP,
		.reuseaddr = 1,
		.reuseport = 0,
		.v6only = 1,
		.tw_reuse = 2,
		.snap_flags = TW_SNAP_TAKEN | TW_SNAP_SOCK_RANGE,
		.holders_total = 40,
		.tw_last_ms = 1234,
		.sys_lo = 1000,
		.sys_hi = 3000,
	};
	struct diag_input in;

	rec.by_state[ST_TIME_WAIT] = 40;
	set_addr("2001:db8::1", rec.addr);
	set_addr("2001:db8::2", rec.src_addr);
	memset(&in, 0xa5, sizeof(in));
	diag__input_from_rec(&rec, &in);
	assert_int_equal(in.call, TW_CALL_CONNECT);
	assert_int_equal(in.err, EADDRNOTAVAIL);
	assert_int_equal(in.proto, IPPROTO_TCP);
	assert_int_equal(in.family, AF_INET6);
	assert_memory_equal(in.addr, rec.addr, 16);
	assert_memory_equal(in.src_addr, rec.src_addr, 16);
	assert_int_equal(in.port, DST_PORT);
	assert_int_equal(in.src_port, 40000);
	assert_true(in.reuseaddr);
	assert_false(in.reuseport);
	assert_true(in.v6only);
	assert_int_equal(in.bound_dev, 4);
	/* the kernel compares the socket's owner, not whoever called bind() */
	assert_int_equal(in.uid, 1001);
	assert_int_equal(in.port_lo, 1024);
	assert_int_equal(in.port_hi, 2047);
	assert_int_equal(in.sys_lo, 1000);
	assert_int_equal(in.sys_hi, 3000);
	assert_int_equal(in.tw_reuse, 2);
	assert_int_equal(in.snap_flags, TW_SNAP_TAKEN | TW_SNAP_SOCK_RANGE);
	assert_int_equal(in.k_total, 40);
	assert_int_equal(in.k_by_state[ST_TIME_WAIT], 40);
	assert_int_equal(in.k_tw_last_ms, 1234);
	assert_null(in.socks);
	assert_int_equal(in.nsocks, 0);
}

/* ---- from a kernel snapshot: exact counts beyond the holders captured ---- */

/* 1000 TIME_WAITs counted, 16 captured: the totals, cause and time left are the kernel's. */
static void test_kernel_counts_cover_the_uncaptured(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "127.0.0.1", PORT);
	struct diag_sock socks[DIAG_MAX_HOLDERS];
	struct diag_result r;

	for (size_t i = 0; i < DIAG_MAX_HOLDERS; i++) {
		socks[i] = tcp_sock("127.0.0.1", ST_TIME_WAIT);
		socks[i].expires_in_ms = 1000;
	}
	in.snap_flags = TW_SNAP_TAKEN;
	in.k_total = 1001;
	in.k_by_state[ST_TIME_WAIT] = 1000;
	in.k_by_state[ST_LISTEN] = 1; /* walked, not captured: it still decides the cause */
	in.k_tw_noreuse = 1000;
	in.k_tw_last_ms = 59000;
	run(&in, socks, DIAG_MAX_HOLDERS, &r);
	assert_int_equal(r.holders_total, 1001);
	assert_int_equal(r.nholders, DIAG_MAX_HOLDERS);
	assert_int_equal(r.by_state[ST_TIME_WAIT], 1000);
	assert_int_equal(r.cause, CAUSE_LISTEN);
	in.k_by_state[ST_LISTEN] = 0;
	in.k_total = 1000;
	run(&in, socks, DIAG_MAX_HOLDERS, &r);
	assert_int_equal(r.cause, CAUSE_TIME_WAIT);
	assert_hint_has(&r, "held by 1000 TIME_WAIT sockets");
	assert_hint_has(&r, "frees in 59 s");
	in.snap_flags |= TW_SNAP_PARTIAL;
	run(&in, socks, DIAG_MAX_HOLDERS, &r);
	assert_hint_has(&r, "lower bounds");
}

/* The kernel refused the port, yet nothing it walked conflicts: say exactly that. */
static void test_kernel_refused_no_conflict_found(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "127.0.0.1", PORT);
	struct diag_result r;

	in.snap_flags = TW_SNAP_TAKEN;
	in.k_on_port = 2;
	run(&in, NULL, 0, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_hint_has(&r, "of the 2 sockets on it");
	in.snap_flags = TW_SNAP_SKIPPED;
	run(&in, NULL, 0, &r);
	assert_hint_has(&r, "not read");
}

/* Whose socket it is: named, exited, none (TIME_WAIT, orphan), or not found; never guessed. */
static void test_owner_claims(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "127.0.0.1", PORT);
	struct diag_sock s = owned(tcp_sock("127.0.0.1", ST_LISTEN), 1234, "python3");
	struct diag_result r;

	s.owner_exited = true;
	run(&in, &s, 1, &r);
	assert_hint_has(&r, "python3 (pid 1234, which has exited)");
	s = tcp_sock("127.0.0.1", ST_CLOSE);
	run(&in, &s, 1, &r);
	assert_hint_has(&r, "could not be named");
	assert_hint_lacks(&r, "no process holds");
	s.flags = TW_HOLDER_ORPHAN;
	s.state = ST_FIN_WAIT1;
	run(&in, &s, 1, &r);
	assert_hint_has(&r, "no process holds any more");
}

/* 6.1's bhash2 misses an AF_INET6 ::ffff:0.0.0.0 holder of a specific v4-mapped bind. */
static void test_rules_of_6_1_v4_mapped_any(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "::ffff:127.0.0.1", PORT);
	struct diag_sock s = tcp_sock("::ffff:0.0.0.0", ST_LISTEN);

	assert_true(diag__conflicts(&in, &s));
	in.snap_flags = TW_SNAP_RULES_61;
	assert_false(diag__conflicts(&in, &s));
	/* the same holder as AF_INET 0.0.0.0 is found on 6.1 too */
	s = tcp_sock("0.0.0.0", ST_LISTEN);
	assert_true(diag__conflicts(&in, &s));
}

/* connect() exhaustion: the socket's own IP_LOCAL_PORT_RANGE, ports bind() took, reserved ones. */
static void test_connect_exhausted_own_range(void **state)
{
	struct diag_input in = connect_in("127.0.0.1", "0.0.0.0", 0);
	struct diag_sock socks[] = {
		conn_sock("127.0.0.1", 40000, "127.0.0.1", ST_TIME_WAIT),
		sock_at(IPPROTO_TCP, "0.0.0.0", 40001, ST_CLOSE), /* bind() took it */
		sock_at(IPPROTO_TCP, "0.0.0.0", 40002,
			ST_CLOSE), /* not flagged: connect may share */
	};
	struct diag_result r;

	socks[1].flags = TW_HOLDER_BIND_PORT;
	in.port_lo = 40000;
	in.port_hi = 40002;
	in.sys_lo = 32768;
	in.sys_hi = 60999;
	in.snap_flags = TW_SNAP_TAKEN | TW_SNAP_SOCK_RANGE;
	in.k_total = 2;
	in.k_by_state[ST_TIME_WAIT] = 1;
	in.k_by_state[ST_CLOSE] = 1;
	in.k_ports_bound = 1;
	in.k_ports_reserved = 1;
	in.k_ports_busy = 2;
	run(&in, socks, 3, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
	assert_int_equal(r.nholders, 2);
	assert_hint_has(&r, "the socket's IP_LOCAL_PORT_RANGE within net.ipv4.ip_local_port_range "
			    "32768-60999");
	assert_hint_has(&r, "widen the socket's IP_LOCAL_PORT_RANGE");
	assert_hint_has(&r, "1 port taken by bind() before connect()");
	assert_hint_has(&r, "IP_BIND_ADDRESS_NO_PORT");
	assert_hint_has(&r, "1 of them in ip_local_reserved_ports");
	in.snap_flags = TW_SNAP_TAKEN;
	in.k_by_state[ST_TIME_WAIT] = 0;
	in.k_total = 1;
	run(&in, socks + 1, 2, &r);
	assert_hint_has(&r, "widen net.ipv4.ip_local_port_range");
	/* no TIME_WAIT among them: tcp_tw_reuse would not help */
	assert_hint_lacks(&r, "tcp_tw_reuse");
	assert_hint_has(&r, "source address");
}

/* EADDRNOTAVAIL from connect() with ports free: no route or source address, not exhaustion. */
static void test_connect_not_exhausted(void **state)
{
	struct diag_input in = connect_in("::1", "::", 0);
	struct diag_result r;

	in.port_lo = 32768;
	in.port_hi = 60999;
	in.snap_flags = TW_SNAP_TAKEN;
	in.k_ports_busy = 3;
	run(&in, NULL, 0, &r);
	assert_int_equal(r.cause, CAUSE_UNKNOWN);
	assert_hint_has(&r, "found no source address or route");
	assert_hint_lacks(&r, "widen");
	/* with most of the range busy it is exhaustion, sockets coming and going included */
	in.k_ports_busy = 26000;
	run(&in, NULL, 0, &r);
	assert_int_equal(r.cause, CAUSE_EPHEMERAL_EXHAUSTED);
}

/* bind() EADDRNOTAVAIL names the sysctl of the address's family, and what IPv6 adds. */
static void test_bind_nonlocal_ipv6(void **state)
{
	struct diag_input in = bind_in(IPPROTO_TCP, "2001:db8::7", PORT);
	struct diag_result r;

	in.err = EADDRNOTAVAIL;
	run(&in, NULL, 0, &r);
	assert_hint_has(&r, "net.ipv6.ip_nonlocal_bind=1");
	assert_hint_has(&r, "IPV6_FREEBIND");
	assert_hint_has(&r, "tentative");
	assert_hint_lacks(&r, "net.ipv4");
	in.bound_dev = 3;
	run(&in, NULL, 0, &r);
	assert_hint_has(&r, "on the interface the socket is bound or scoped to");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_nonlocal_address),
		cmocka_unit_test(test_tcp_listen_row),
		cmocka_unit_test(test_tcp_bound_row),
		cmocka_unit_test(test_tcp_connected_row),
		cmocka_unit_test(test_tcp_time_wait_row),
		cmocka_unit_test(test_listen_call_rows),
		cmocka_unit_test(test_udp_row),
		cmocka_unit_test(test_listen_reuseaddr_never_helps),
		cmocka_unit_test(test_listen_reuseport_uid),
		cmocka_unit_test(test_time_wait_reuse_flag),
		cmocka_unit_test(test_bound_and_connected_reuseaddr),
		cmocka_unit_test(test_bound_device),
		cmocka_unit_test(test_addresses_tcp),
		cmocka_unit_test(test_addresses_udp),
		cmocka_unit_test(test_dual_stack_hints),
		cmocka_unit_test(test_other_port_and_proto),
		cmocka_unit_test(test_listen_recheck_second_listener),
		cmocka_unit_test(test_listen_recheck_bound_only_holder),
		cmocka_unit_test(test_udp_bound),
		cmocka_unit_test(test_connect_ephemeral_exhausted_v4),
		cmocka_unit_test(test_connect_ephemeral_exhausted_v6),
		cmocka_unit_test(test_connect_bound_src_port_time_wait),
		cmocka_unit_test(test_connect_bound_src_port_v4_mapped),
		cmocka_unit_test(test_connect_bound_src_port_connected),
		cmocka_unit_test(test_connect_bound_src_port_local_address),
		cmocka_unit_test(test_autobind_exhausted),
		cmocka_unit_test(test_cause_priority),
		cmocka_unit_test(test_holders_of_cause_lead),
		cmocka_unit_test(test_connected_counts),
		cmocka_unit_test(test_holders_capped),
		cmocka_unit_test(test_time_wait_hint),
		cmocka_unit_test(test_time_wait_hint_frees_after_last_of_all),
		cmocka_unit_test(test_listen_hint_more_holders),
		cmocka_unit_test(test_no_conflict_unknown),
		cmocka_unit_test(test_hint_comm_control_bytes),
		cmocka_unit_test(test_cause_names),
		cmocka_unit_test(test_input_from_rec),
		cmocka_unit_test(test_kernel_counts_cover_the_uncaptured),
		cmocka_unit_test(test_kernel_refused_no_conflict_found),
		cmocka_unit_test(test_owner_claims),
		cmocka_unit_test(test_rules_of_6_1_v4_mapped_any),
		cmocka_unit_test(test_connect_exhausted_own_range),
		cmocka_unit_test(test_connect_not_exhausted),
		cmocka_unit_test(test_bind_nonlocal_ipv6),
	};

	return cmocka_run_group_tests_name("diag", tests, NULL, NULL);
}
