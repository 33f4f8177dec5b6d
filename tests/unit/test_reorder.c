// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* reorder: records of several rings come out in time order, the newest held for the next drain. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "reorder.h"
#include "twscope.h"

struct seen {
	uint64_t ts[64];
	uint16_t size[64];
	int n;
};

static void collect(void *ctx, void *rec)
{
	struct seen *s = ctx;
	const struct tw_hdr *h = rec;

	if (s->n < 64) {
		s->ts[s->n] = h->ts_ns;
		s->size[s->n] = h->size;
	}
	s->n++;
}

/* A record of size bytes (a header and its payload) stamped ts. */
static void add(struct reorder *r, uint64_t ts, uint16_t size)
{
	char buf[512] = {};
	struct tw_hdr *h = (void *)buf;

	h->type = TW_REC_STATE;
	h->size = size;
	h->ts_ns = ts;
	memset(buf + sizeof(*h), (int)(ts & 0xff), size - sizeof(*h));
	assert_non_null(reorder__add(r, buf, size, NULL));
}

static void test_time_order_across_rings(void **state)
{
	struct reorder *r = reorder__new();
	struct seen s = {};

	/* ring 0 then ring 1, each in order, interleaved in time */
	add(r, 10, 96);
	add(r, 30, 336);
	add(r, 50, 88);
	add(r, 20, 96);
	add(r, 40, 40);
	reorder__drain(r, 100, collect, &s);
	assert_int_equal(s.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.ts[i], 10 * (i + 1));
	assert_int_equal(s.size[2], 336);
	assert_int_equal(reorder__len(r), 0);
	reorder__free(r);
}

static void test_newest_wait_for_the_next_drain(void **state)
{
	struct reorder *r = reorder__new();
	struct seen s = {};

	add(r, 5, 96);
	add(r, 50, 200);
	add(r, 7, 96);
	reorder__drain(r, 10, collect, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(reorder__len(r), 1);
	/* a record committed late on another CPU still comes out in its place */
	add(r, 20, 96);
	reorder__drain(r, UINT64_MAX, collect, &s);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ts[2], 20);
	assert_int_equal(s.ts[3], 50);
	assert_int_equal(s.size[3], 200);
	reorder__free(r);
}

/* Equal stamps keep the order they were read in. */
static void test_ties_keep_ring_order(void **state)
{
	struct reorder *r = reorder__new();
	struct seen s = {};

	add(r, 9, 96);
	add(r, 3, 96);
	add(r, 3, 200);
	add(r, 3, 88);
	reorder__drain(r, 100, collect, &s);
	assert_int_equal(s.size[0], 96);
	assert_int_equal(s.size[1], 200);
	assert_int_equal(s.size[2], 88);
	assert_int_equal(s.ts[3], 9);
	reorder__free(r);
}

/* Runs of each ring, merged: time order, and ring order on ties across runs. */
static void check_merged(int runs, int per_run)
{
	struct reorder *r = reorder__new();
	struct seen s = {};
	uint16_t tag = 16;

	assert_true(runs * per_run <= 64);
	/* even runs tie with each other, odd runs too */
	for (int k = 0; k < runs; k++)
		for (int i = 0; i < per_run; i++)
			add(r, (uint64_t)i * 2 + (k % 2), tag++);
	reorder__drain(r, 1000, collect, &s);
	assert_int_equal(s.n, runs * per_run);
	for (int i = 1; i < s.n; i++) {
		assert_true(s.ts[i] >= s.ts[i - 1]);
		if (s.ts[i] == s.ts[i - 1])
			assert_true(s.size[i] > s.size[i - 1]);
	}
	reorder__free(r);
}

static void test_runs_merged(void **state)
{
	check_merged(3, 20);
	check_merged(5, 12);
	check_merged(32, 2); /* more runs than merged: sorted */
	check_merged(1, 40);
}

static void test_free_accepts_null(void **state)
{
	reorder__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_order_across_rings),
		cmocka_unit_test(test_newest_wait_for_the_next_drain),
		cmocka_unit_test(test_ties_keep_ring_order),
		cmocka_unit_test(test_runs_merged),
		cmocka_unit_test(test_free_accepts_null),
	};

	return cmocka_run_group_tests_name("reorder", tests, NULL, NULL);
}
