// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Coalescing of bind failures: each failure explained from its own snapshot, storms merged only
 * when the caller and the holders are the same, every failure accounted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "bindwatch.h"

#define MS	     1000000ULL
#define ST_LISTEN    10
#define ST_TIME_WAIT 6

struct fake {
	int events;
	uint64_t repeats;
	enum diag_cause last_cause;
	uint32_t last_holder_pid;
	size_t last_nholders;
	int last_reuseaddr;
};

static void fake_emit(void *ctx, const struct tw_snap_rec *r, const struct diag_result *d,
		      uint64_t repeats)
{
	struct fake *f = ctx;

	f->events++;
	f->repeats += repeats;
	f->last_cause = d->cause;
	f->last_nholders = d->nholders;
	f->last_holder_pid = d->nholders ? d->holders[0]->pid : 0;
	f->last_reuseaddr = r->bind.reuseaddr;
}

/* A failed bind of 127.0.0.1:port by pid 100, its snapshot holding one LISTEN of owner. */
static struct tw_snap_rec rec(uint16_t port, uint32_t owner)
{
	struct tw_snap_rec r;
	struct tw_holder_rec *h = &r.holders[0];

	memset(&r, 0, sizeof(r));
	r.bind.hdr.type = TW_REC_BIND_ERR;
	r.bind.hdr.size = sizeof(r.bind) + sizeof(*h);
	r.bind.hdr.netns = 1;
	r.bind.proc.pid = 100;
	r.bind.family = 2;
	r.bind.proto = 6;
	r.bind.err = 98;
	r.bind.port = port;
	r.bind.addr[0] = 127;
	r.bind.addr[3] = 1;
	r.bind.snap_flags = TW_SNAP_TAKEN;
	r.bind.nholders = 1;
	r.bind.holders_total = 1;
	r.bind.by_state[ST_LISTEN] = 1;
	r.bind.tw_last_ms = -1;
	h->hdr.type = TW_REC_HOLDER;
	h->hdr.size = sizeof(*h);
	h->t.family = 2;
	h->t.sport = port;
	h->state = ST_LISTEN;
	h->proto = 6;
	h->expires_in_ms = -1;
	h->owner.pid = owner;
	return r;
}

static void test_storm_is_coalesced(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec r = rec(8080, 7);

	for (int i = 0; i < 5000; i++)
		bindwatch__add(w, &r, 1000 * MS + i * 100);
	assert_int_equal(f.events, BINDWATCH_BURST);
	bindwatch__tick(w, 1500 * MS); /* window still open */
	assert_int_equal(f.events, BINDWATCH_BURST);
	bindwatch__tick(w, 2001 * MS);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	assert_int_equal(f.repeats, 5000);
	assert_int_equal(f.last_cause, CAUSE_LISTEN);
	assert_int_equal(f.last_holder_pid, 7);
	assert_int_equal(bindwatch__count(w, TW_CALL_BIND, 0, CAUSE_LISTEN), 5000);
	bindwatch__free(w);
}

static void test_keys_are_separate(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec a = rec(8080, 7), b = rec(8081, 7);

	b.bind.nholders = 0;
	b.bind.holders_total = 0;
	b.bind.by_state[ST_LISTEN] = 0;
	b.bind.hdr.size = sizeof(b.bind);
	bindwatch__add(w, &a, 1 * MS);
	bindwatch__add(w, &b, 2 * MS);
	bindwatch__add(w, &a, 3 * MS);
	assert_int_equal(f.events, 3);
	/* the snapshot of port 8081 found no holder: nothing conflicts */
	assert_int_equal(bindwatch__count(w, TW_CALL_BIND, 0, CAUSE_UNKNOWN), 1);
	assert_int_equal(bindwatch__count(w, TW_CALL_BIND, 0, CAUSE_LISTEN), 2);
	bindwatch__free(w);
}

/* Each failure is explained with its own snapshot: another holder is another event. */
static void test_other_holders_never_merge(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec a = rec(8080, 7), b = rec(8080, 8);

	for (int i = 0; i < BINDWATCH_BURST; i++)
		bindwatch__add(w, &a, 1 * MS);
	bindwatch__add(w, &b, 2 * MS);
	/* b is not held back behind a's burst, and carries its own holder */
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	assert_int_equal(f.last_holder_pid, 8);
	/* nor does another caller merge with a */
	for (int i = 0; i < 3; i++)
		bindwatch__add(w, &a, 3 * MS);
	a.bind.proc.pid = 101;
	bindwatch__add(w, &a, 4 * MS);
	assert_int_equal(f.events, BINDWATCH_BURST + 2);
	bindwatch__flush(w);
	assert_int_equal(f.repeats, BINDWATCH_BURST + 1 + 3 + 1);
	assert_int_equal(f.last_holder_pid, 7);
	bindwatch__free(w);
}

/* Only the time left of a TIME_WAIT changes between two failures: still one storm. */
static void test_time_left_does_not_split(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec r = rec(8080, 0);

	r.holders[0].state = ST_TIME_WAIT;
	r.bind.by_state[ST_LISTEN] = 0;
	r.bind.by_state[ST_TIME_WAIT] = 1;
	for (int i = 0; i < BINDWATCH_BURST + 5; i++) {
		r.holders[0].expires_in_ms = 60000 - i;
		r.bind.tw_last_ms = 60000 - i;
		bindwatch__add(w, &r, 1 * MS);
	}
	assert_int_equal(f.events, BINDWATCH_BURST);
	assert_int_equal(f.last_cause, CAUSE_TIME_WAIT);
	bindwatch__flush(w);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	bindwatch__free(w);
}

static void test_each_failure_keeps_its_options(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec r = rec(8080, 7);

	bindwatch__add(w, &r, 1 * MS);
	r.bind.reuseaddr = 1;
	bindwatch__add(w, &r, 2 * MS);
	assert_int_equal(f.last_reuseaddr, 1);
	bindwatch__free(w);
}

static void test_flush_reports_held_back(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	struct tw_snap_rec r = rec(8080, 7);

	for (int i = 0; i < BINDWATCH_BURST + 7; i++)
		bindwatch__add(w, &r, 10 * MS);
	bindwatch__flush(w);
	assert_int_equal(f.repeats, BINDWATCH_BURST + 7);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	assert_int_equal(f.last_nholders, 1);
	bindwatch__flush(w);
	assert_int_equal(f.events, BINDWATCH_BURST + 1);
	bindwatch__free(w);
}

/* More keys than slots: evicted keys report what they held back, nothing is lost. */
static void test_eviction_loses_nothing(void **state)
{
	struct fake f = {};
	struct bindwatch *w = bindwatch__new(1000 * MS, fake_emit, &f);
	uint64_t total = 0;

	for (int k = 0; k < 200; k++) {
		struct tw_snap_rec r = rec(9000 + k, 7);

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
		cmocka_unit_test(test_storm_is_coalesced),
		cmocka_unit_test(test_keys_are_separate),
		cmocka_unit_test(test_other_holders_never_merge),
		cmocka_unit_test(test_time_left_does_not_split),
		cmocka_unit_test(test_each_failure_keeps_its_options),
		cmocka_unit_test(test_flush_reports_held_back),
		cmocka_unit_test(test_eviction_loses_nothing),
	};

	return cmocka_run_group_tests_name("bindwatch", tests, NULL, NULL);
}
