// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* event: record checks, and a bind error rendered as a wrapped paragraph and as JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "bindwatch.h"
#include "event.h"

#define ST_TIME_WAIT 6

static struct tw_snap_rec snap_of(uint32_t nholders)
{
	struct tw_snap_rec r;

	memset(&r, 0, sizeof(r));
	r.bind.hdr.type = TW_REC_BIND_ERR;
	r.bind.hdr.size = sizeof(r.bind) + nholders * sizeof(r.holders[0]);
	r.bind.hdr.netns = 4026531840u;
	r.bind.proc.pid = 4321;
	memcpy(r.bind.proc.comm, "python3", 8);
	r.bind.family = 2;
	r.bind.proto = 6;
	r.bind.err = 98;
	r.bind.port = 8080;
	r.bind.addr[0] = 127;
	r.bind.addr[3] = 1;
	r.bind.call = TW_CALL_BIND;
	r.bind.snap_flags = TW_SNAP_TAKEN;
	r.bind.nholders = nholders;
	r.bind.holders_total = 1000;
	r.bind.on_port = 1000;
	r.bind.by_state[ST_TIME_WAIT] = 1000;
	r.bind.tw_noreuse = 1000;
	r.bind.tw_last_ms = 59500;
	for (uint32_t i = 0; i < nholders; i++) {
		struct tw_holder_rec *h = &r.holders[i];

		h->hdr.type = TW_REC_HOLDER;
		h->hdr.size = sizeof(*h);
		h->t.family = 2;
		h->t.saddr[0] = h->t.daddr[0] = 127;
		h->t.saddr[3] = h->t.daddr[3] = 1;
		h->t.sport = 8080;
		h->t.dport = 40000 + i;
		h->state = ST_TIME_WAIT;
		h->proto = 6;
		h->expires_in_ms = 59500 - i;
	}
	return r;
}

static void test_validate_snapshot(void **state)
{
	struct tw_snap_rec r = snap_of(3);

	assert_int_equal(event__validate(&r, r.bind.hdr.size), TW_REC_BIND_ERR);
	/* cut short */
	assert_int_equal(event__validate(&r, r.bind.hdr.size - 1), -EINVAL);
	/* a size that does not match the holders it claims */
	r.bind.nholders = 2;
	assert_int_equal(event__validate(&r, sizeof(r)), -EINVAL);
	r.bind.nholders = TW_SNAP_HOLDERS + 1;
	r.bind.hdr.size = sizeof(r.bind) + r.bind.nholders * sizeof(r.holders[0]);
	assert_int_equal(event__validate(&r, 65536), -EINVAL);
	/* a holder that is not one */
	r = snap_of(3);
	r.holders[1].hdr.type = TW_REC_STATE;
	assert_int_equal(event__validate(&r, sizeof(r)), -EINVAL);
	r = snap_of(0);
	assert_int_equal(event__validate(&r, sizeof(r.bind)), TW_REC_BIND_ERR);
}

struct out {
	struct render_ctx c;
	struct buf b;
	int json;
};

static void emit(void *ctx, const struct tw_snap_rec *r, const struct diag_result *d,
		 uint64_t repeats)
{
	struct out *o = ctx;

	if (o->json)
		event__json(&o->c, r, d, repeats, &o->b);
	else
		event__text(&o->c, r, d, repeats, &o->b);
}

static void render(struct out *o, const struct tw_snap_rec *r)
{
	struct bindwatch *w = bindwatch__new(1000000000ULL, emit, o);

	bindwatch__add(w, r, 1);
	bindwatch__free(w);
}

/* The explanation wraps at the terminal width; five holders, then how many more. */
static void test_text_paragraph(void **state)
{
	struct tw_snap_rec r = snap_of(TW_SNAP_HOLDERS);
	struct out o = { .c.cols = 72 };
	char *line, *save = NULL;
	int lines = 0, holders = 0, more = 0;

	render(&o, &r);
	assert_non_null(o.b.data);
	for (line = strtok_r(o.b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (lines++ == 0)
			continue; /* the event line keeps its columns */
		if (strlen(line) > 72) {
			print_error("line of %zu columns: \"%s\"\n", strlen(line), line);
			fail();
		}
		holders += strstr(line, "TIME-WAIT 127.0.0.1:8080") != NULL;
		more += strstr(line, "and 995 more") != NULL;
	}
	assert_int_equal(holders, 5);
	assert_int_equal(more, 1);
	assert_true(lines > 7);
	buf__free(&o.b);
}

static void test_json_holder_owner_fields(void **state)
{
	struct tw_snap_rec r = snap_of(2);
	struct out o = { .json = 1 };

	r.bind.by_state[ST_TIME_WAIT] = 0;
	r.bind.by_state[10] = 2;
	r.bind.holders_total = 2;
	for (int i = 0; i < 2; i++) {
		r.holders[i].state = 10;
		r.holders[i].expires_in_ms = -1;
	}
	r.holders[0].owner.pid = 77;
	memcpy(r.holders[0].owner.comm, "old-server", 11);
	r.holders[0].flags = TW_HOLDER_OWNER_GONE;
	r.holders[1].flags = TW_HOLDER_ORPHAN;
	render(&o, &r);
	assert_non_null(
		strstr(o.b.data, "\"pid\":77,\"comm\":\"old-server\",\"owner_exited\":true"));
	assert_non_null(strstr(o.b.data, "\"orphan\":true"));
	assert_non_null(strstr(o.b.data, "which has exited"));
	assert_non_null(strstr(o.b.data, "\"snapshot\":true"));
	buf__free(&o.b);
}

static void tuple4(struct tw_tuple *t, uint16_t sport, uint16_t dport)
{
	memset(t, 0, sizeof(*t));
	t->family = 2;
	t->saddr[0] = t->daddr[0] = 127;
	t->saddr[3] = 1;
	t->daddr[3] = 254;
	t->sport = sport;
	t->dport = dport;
}

typedef void (*render_fn)(struct render_ctx *c, const void *rec, const struct diag_result *d,
			  uint64_t repeats, struct buf *out);

/* The frequent events, one of each kind and their edge cases, through one renderer. */
static void render_frequent(struct out *o, render_fn fn)
{
	struct tw_enter_rec en = { .hdr = { TW_REC_TW_ENTER, sizeof(en), 1, 123456789 } };
	struct tw_exit_rec ex = { .hdr = { TW_REC_TW_EXIT, sizeof(ex), 1, 1000000000 } };
	struct tw_state_rec st = { .hdr = { TW_REC_STATE, sizeof(st), 1, 999999999999 } };
	struct tw_overflow_rec ov = { .hdr = { TW_REC_TW_OVERFLOW, sizeof(ov), 1, 5 } };

	o->c.mono_to_real_ns = 1764626199LL * 1000000000LL;
	setenv("TZ", "UTC", 1);
	tzset();
	tuple4(&en.t, 8080, 65535);
	en.proc.pid = 4294967295u;
	memcpy(en.proc.comm,
	       "a\x01"
	       "b\x80"
	       "cd\"\\efghijklmnop",
	       16);
	en.expires_in_ns = 59949000000ULL;
	en.substate = 6;
	en.reuseaddr = en.reuseport = 1;
	fn(&o->c, &en, NULL, 1, &o->b);
	ex.t.family = 10;
	ex.t.saddr[0] = 0x20;
	ex.t.saddr[1] = 0x01;
	ex.t.saddr[2] = 0x0d;
	ex.t.saddr[3] = 0xb8;
	ex.t.saddr[15] = 1;
	ex.t.daddr[10] = ex.t.daddr[11] = 0xff;
	ex.t.daddr[12] = 10;
	ex.t.daddr[15] = 1;
	ex.t.sport = 1;
	ex.reason = TW_EXIT_KILLED;
	ex.age_ns = 850999999;
	ex.flags = TW_F_SEEDED;
	fn(&o->c, &ex, NULL, 1, &o->b);
	tuple4(&st.t, 0, 9);
	st.proc.pid = 42;
	memcpy(st.proc.comm, "sh", 3);
	st.oldstate = 1;
	st.newstate = 4;
	fn(&o->c, &st, NULL, 1, &o->b);
	st.proc.pid = 0;
	st.oldstate = 200; /* out of the table */
	fn(&o->c, &st, NULL, 1, &o->b);
	tuple4(&ov.t, 80, 40000);
	ov.proc.pid = 7;
	memcpy(ov.proc.comm, "python3", 8);
	fn(&o->c, &ov, NULL, 1, &o->b);
	tuple4(&ex.t, 8080, 65535);
	ex.proc.pid = 9;
	ex.reason = TW_EXIT_EXPIRED;
	ex.age_ns = 749000000000ULL;
	ex.flags = 0;
	fn(&o->c, &ex, NULL, 1, &o->b);
	assert_non_null(o->b.data);
}

/* The terminal lines of the frequent events, byte for byte: they are written by hand. */
static void test_text_lines(void **state)
{
	struct out o = {};
	const char *want =
		"21:56:39.123456  tw_enter    4294967295 a?b?cd\"\\efghijkl "
		"127.0.0.1:8080 > 127.0.0.254:65535  TIME_WAIT local, frees in 59.9 s, reuseaddr, "
		"reuseport\n"
		"21:56:40.000000  tw_exit     -       -                "
		"[2001:db8::1]:1 > [::ffff:10.0.0.1]:0  killed after 850 ms (age estimated)\n"
		"22:13:18.999999  state       42      sh               "
		"127.0.0.1:0 > 127.0.0.254:9  ESTAB -> FIN-WAIT-1\n"
		"22:13:18.999999  state       -       -                "
		"127.0.0.1:0 > 127.0.0.254:9  UNKNOWN -> FIN-WAIT-1\n"
		"21:56:39.000000  tw_overflow 7       python3          "
		"127.0.0.1:80 > 127.0.0.254:40000  no TIME_WAIT: tcp_max_tw_buckets reached\n"
		"21:56:40.000000  tw_exit     9                        "
		"127.0.0.1:8080 > 127.0.0.254:65535  expired after 12.5 min\n";

	render_frequent(&o, event__text);
	assert_string_equal(o.b.data, want);
	buf__free(&o.b);
}

/* Their JSON lines, byte for byte (written by hand too): a comm escaped, a name never. */
static void test_json_lines(void **state)
{
	struct out o = {};
	const char *want =
		"{\"ts\":\"2025-12-01T21:56:39.123456Z\",\"type\":\"tw_enter\",\"netns\":1,\"pid\":"
		"4294967295,\"comm\":\"a\\u0001b\\u0080cd\\\"\\\\efghijkl\",\"family\":\"ipv4\","
		"\"saddr\":\"127.0.0.1\",\"sport\":8080,\"daddr\":\"127.0.0.254\",\"dport\":65535,"
		"\"side\":\"local\",\"substate\":\"TIME_WAIT\",\"expires_in_ms\":59949,"
		"\"reuseaddr\":true,\"reuseport\":true}\n"
		"{\"ts\":\"2025-12-01T21:56:40.000000Z\",\"type\":\"tw_exit\",\"netns\":1,"
		"\"family\":\"ipv6\",\"saddr\":\"2001:db8::1\",\"sport\":1,\"daddr\":\"::ffff:10.0."
		"0.1\",\"dport\":0,\"side\":\"local\",\"reason\":\"killed\",\"age_ms\":850,\"age_"
		"estimated\":true}\n"
		"{\"ts\":\"2025-12-01T22:13:18.999999Z\",\"type\":\"state\",\"netns\":1,\"pid\":42,"
		"\"comm\":\"sh\",\"family\":\"ipv4\",\"saddr\":\"127.0.0.1\",\"sport\":0,\"daddr\":"
		"\"127.0.0.254\",\"dport\":9,\"old\":\"ESTAB\",\"new\":\"FIN-WAIT-1\"}\n"
		"{\"ts\":\"2025-12-01T22:13:18.999999Z\",\"type\":\"state\",\"netns\":1,\"family\":"
		"\"ipv4\",\"saddr\":\"127.0.0.1\",\"sport\":0,\"daddr\":\"127.0.0.254\",\"dport\":"
		"9,\"old\":\"UNKNOWN\",\"new\":\"FIN-WAIT-1\"}\n"
		"{\"ts\":\"2025-12-01T21:56:39.000000Z\",\"type\":\"tw_overflow\",\"netns\":1,"
		"\"pid\":7,\"comm\":\"python3\",\"family\":\"ipv4\",\"saddr\":\"127.0.0.1\","
		"\"sport\":80,\"daddr\":\"127.0.0.254\",\"dport\":40000}\n"
		"{\"ts\":\"2025-12-01T21:56:40.000000Z\",\"type\":\"tw_exit\",\"netns\":1,\"pid\":"
		"9,\"family\":\"ipv4\",\"saddr\":\"127.0.0.1\",\"sport\":8080,\"daddr\":\"127.0.0."
		"254\",\"dport\":65535,\"side\":\"local\",\"reason\":\"expired\",\"age_ms\":749000}"
		"\n";

	render_frequent(&o, event__json);
	assert_string_equal(o.b.data, want);
	buf__free(&o.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_snapshot),
		cmocka_unit_test(test_text_paragraph),
		cmocka_unit_test(test_json_holder_owner_fields),
		cmocka_unit_test(test_text_lines),
		cmocka_unit_test(test_json_lines),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
