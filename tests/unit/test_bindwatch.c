// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Coalescing of bind failures: one holder walk per key and window, every failure accounted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "bindwatch.h"

#define MS 1000000ULL

struct fake {
	int walks;
	int events;
	uint64_t repeats;
	enum diag_cause last_cause;
	int last_reuseaddr;
};

/* One LISTEN holder on port 8080. */
static int fake_collect(void *ctx, const struct tw_bind_rec *r, struct diag_sock **out, size_t *n)
{
	struct fake *f = ctx;
	struct diag_sock *s = calloc(1, sizeof(*s));

	f->walks++;
	if (!s)
		return -1;
	s->family = 2;
	s->proto = 6;
	s->state = 10;
	s->lport = 8080;
	s->expires_in_ms = -1;
	*out = s;
	*n = 1;
	return 0;
}

static void fake_emit(void *ctx, const struct tw_bind_rec *r, const struct diag_result *d,
		      uint64_t repeats)
{
	struct fake *f = ctx;

	f->events++;
	f->repeats += repeats;
	f->last_cause = d->cause;
	f->last_reuseaddr = r->reuseaddr;
}

static struct tw_bind_rec rec(uint16_t port)
{
	struct tw_bind_rec r = {};

	r.hdr.type = TW_REC_BIND_ERR;
	r.hdr.size = sizeof(r);
	r.hdr.netns = 1;
	r.family = 2;
	r.proto = 6;
	r.err = 98;
	r.port = port;
	r.addr[0] = 127;
	r.addr[3] = 1;
	return r;
}

static void test_storm_one_walk(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_collect, fake_emit, &f);
	struct tw_bind_rec r = rec(8080);

	for (int i = 0; i < 5000; i++)
		bindwatch__add(w, &r, 1000 * MS + i * 100);
	assert_int_equal(f.walks, 1);
	assert_int_equal(f.events, BINDWATCH_BURST);
	bindwatch__tick(w, 1500 * MS); /* window still open */
	assert_int_equal(f.events, BINDWATCH_BURST);
	bindwatch__tick(w, 2001 * MS);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	assert_int_equal(f.walks, 2);
	assert_int_equal(f.repeats, 5000);
	assert_int_equal(f.last_cause, CAUSE_LISTEN);
	assert_int_equal(bindwatch__count(w, TW_CALL_BIND, 0, CAUSE_LISTEN), 5000);
	assert_int_equal(bindwatch__walks(w), 2);
	bindwatch__free(w);
}

static void test_keys_are_separate(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_collect, fake_emit, &f);
	struct tw_bind_rec a = rec(8080), b = rec(8081);

	bindwatch__add(w, &a, 1 * MS);
	bindwatch__add(w, &b, 2 * MS);
	bindwatch__add(w, &a, 3 * MS);
	assert_int_equal(f.walks, 2);
	assert_int_equal(f.events, 3);
	/* port 8081 has no holder in the fake walk: nothing conflicts */
	assert_int_equal(bindwatch__count(w, TW_CALL_BIND, 0, CAUSE_UNKNOWN), 1);
	bindwatch__free(w);
}

/* A failure inside the window is explained with its own options against the cached holders. */
static void test_each_failure_keeps_its_options(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_collect, fake_emit, &f);
	struct tw_bind_rec r = rec(8080);

	bindwatch__add(w, &r, 1 * MS);
	r.reuseaddr = 1;
	bindwatch__add(w, &r, 2 * MS);
	assert_int_equal(f.walks, 1);
	assert_int_equal(f.last_reuseaddr, 1);
	bindwatch__free(w);
}

static void test_flush_reports_held_back(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_collect, fake_emit, &f);
	struct tw_bind_rec r = rec(8080);

	for (int i = 0; i < BINDWATCH_BURST + 7; i++)
		bindwatch__add(w, &r, 10 * MS);
	bindwatch__flush(w);
	assert_int_equal(f.repeats, BINDWATCH_BURST + 7);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	bindwatch__flush(w);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	bindwatch__free(w);
}

/* More keys than slots: evicted keys report what they held back, nothing is lost. */
static void test_eviction_loses_nothing(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_collect, fake_emit, &f);
	uint64_t total = 0;

	for (int k = 0; k < 200; k++) {
		struct tw_bind_rec r = rec(9000 + k);

		for (int i = 0; i < 12; i++, total++)
			bindwatch__add(w, &r, (k + 1) * MS);
	}
	bindwatch__flush(w);
	assert_int_equal(f.repeats, total);
	bindwatch__free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storm_one_walk),
		cmocka_unit_test(test_keys_are_separate),
		cmocka_unit_test(test_each_failure_keeps_its_options),
		cmocka_unit_test(test_flush_reports_held_back),
		cmocka_unit_test(test_eviction_loses_nothing),
	};

	return cmocka_run_group_tests_name("bindwatch", tests, NULL, NULL);
}
