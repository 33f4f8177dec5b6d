// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-port series: the 1 Hz gauge ring, interval base, ranking, the ring cap and the key index. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "agg.h"

#define NETNS 4026531840u

static struct tw_port_key key(uint16_t port)
{
	struct tw_port_key k = {};

	k.netns = NETNS;
	k.port = port;
	k.side = TW_SIDE_LOCAL;
	k.family = AF_INET;
	return k;
}

static struct port_row row(uint16_t port, int64_t tw, uint64_t entered)
{
	struct port_row r = {};

	r.key = key(port);
	r.val.tw = tw;
	r.val.tw_peak = tw > 0 ? (uint64_t)tw : 0;
	r.val.entered = entered;
	return r;
}

/* Looked up by a linear scan so the test does not rely on the index it is checking. */
static struct agg_series *series(struct agg *a, const struct tw_port_key *k)
{
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(&a->rows[i].key, k, sizeof(*k)))
			return &a->rows[i];
	return NULL;
}

static void sample1(struct agg *a, uint64_t now_s, uint16_t port, int64_t tw)
{
	struct port_row r = row(port, tw, 0);

	assert_int_equal(agg__sample(a, now_s, &r, 1), 0);
}

static void test_history_oldest_first(void **state)
{
	struct agg *a = agg__new(60, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[64];

	for (int i = 0; i < 5; i++)
		sample1(a, 1000 + i, 8080, i + 1);
	assert_int_equal(agg__history(a, series(a, &k), h, 64), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(h[i], i + 1);
	/* a short output buffer keeps the newest samples, still oldest first */
	assert_int_equal(agg__history(a, series(a, &k), h, 3), 3);
	assert_int_equal(h[0], 3);
	assert_int_equal(h[1], 4);
	assert_int_equal(h[2], 5);
	agg__free(a);
}

static void test_history_bounded_by_window(void **state)
{
	struct agg *a = agg__new(8, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[64];

	for (int i = 0; i < 20; i++)
		sample1(a, 500 + i, 8080, i + 1);
	/* the ring wrapped twice: only the last 8 seconds are left */
	assert_int_equal(agg__history(a, series(a, &k), h, 64), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(h[i], 13 + i);
	agg__free(a);
}

/* A negative gauge (an exit counted before its enter) must not wrap to 4 billion in the ring. */
static void test_gauge_clamped_at_zero(void **state)
{
	struct agg *a = agg__new(60, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[4];

	sample1(a, 10, 8080, 4);
	sample1(a, 11, 8080, -1);
	assert_int_equal(agg__history(a, series(a, &k), h, 4), 2);
	assert_int_equal(h[0], 4);
	assert_int_equal(h[1], 0);
	agg__free(a);
}

/* A late tick leaves no hole: the seconds it skipped take the value it read. */
static void test_gap_fills_missed_seconds(void **state)
{
	struct agg *a = agg__new(8, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[8];

	for (int i = 1; i <= 8; i++)
		sample1(a, i, 8080, i);
	sample1(a, 12, 8080, 50);
	assert_int_equal(agg__history(a, series(a, &k), h, 8), 8);
	assert_int_equal(h[0], 5);
	assert_int_equal(h[1], 6);
	assert_int_equal(h[2], 7);
	assert_int_equal(h[3], 8);
	for (int i = 4; i < 8; i++)
		assert_int_equal(h[i], 50);
	agg__free(a);
}

/*
 * Before the window is full the history must span the seconds covered, not the number of
 * samples: otherwise a gap hides the oldest real samples behind the filled ones.
 */
static void test_gap_history_spans_seconds(void **state)
{
	struct agg *a = agg__new(60, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[60];

	sample1(a, 100, 8080, 1);
	sample1(a, 105, 8080, 7);
	assert_int_equal(agg__history(a, series(a, &k), h, 60), 6);
	assert_int_equal(h[0], 1);
	for (int i = 1; i < 6; i++)
		assert_int_equal(h[i], 7);
	agg__free(a);
}

/*
 * Two ticks can land in the same second (one late, the next on time): the later value wins and
 * the history does not grow by a second that did not pass.
 */
static void test_same_second_resample(void **state)
{
	struct agg *a = agg__new(60, 8);
	struct tw_port_key k = key(8080);
	uint32_t h[60];

	sample1(a, 10, 8080, 1);
	sample1(a, 11, 8080, 2);
	sample1(a, 11, 8080, 3);
	assert_int_equal(agg__history(a, series(a, &k), h, 60), 2);
	assert_int_equal(h[0], 1);
	assert_int_equal(h[1], 3);
	agg__free(a);
}

static void test_mark_starts_deltas_at_zero(void **state)
{
	struct agg *a = agg__new(60, 8);
	struct port_row r = row(8080, 3, 10), rows[2] = { row(8080, 3, 15), row(9090, 1, 4) };
	struct tw_port_key k = key(8080), k2 = key(9090);
	struct agg_series *s;

	r.val.bind_errors = 2;
	agg__sample(a, 1, &r, 1);
	s = series(a, &k);
	/* before any mark the base is zero: the first interval counts from the start */
	assert_int_equal(s->base.entered, 0);
	agg__mark(a);
	assert_memory_equal(&s->base, &s->val, sizeof(s->base));
	assert_int_equal(s->val.entered - s->base.entered, 0);
	assert_int_equal(s->val.bind_errors - s->base.bind_errors, 0);
	rows[0].val.bind_errors = 3;
	agg__sample(a, 2, rows, 2);
	s = series(a, &k);
	assert_int_equal(s->val.entered - s->base.entered, 5);
	assert_int_equal(s->val.bind_errors - s->base.bind_errors, 1);
	/* a key first seen after the mark did not exist before it: its whole count is new */
	assert_int_equal(series(a, &k2)->base.entered, 0);
	agg__mark(a);
	assert_int_equal(series(a, &k)->base.entered, 15);
	assert_int_equal(series(a, &k2)->base.entered, 4);
	agg__free(a);
}

static void test_ranked_by_activity(void **state)
{
	struct agg *a = agg__new(60, 8);
	/* A has by far the largest total but nothing happened on it since the mark */
	struct port_row first[] = {
		row(1, 0, 100), /* A */
		row(2, 0, 10),	/* B */
		row(3, 5, 5),	/* C */
		row(4, 0, 50),	/* D */
		row(6, 6, 3),	/* F */
	};
	struct port_row second[] = {
		row(1, 0, 100), /* A: activity 0, entered 100 */
		row(2, 2, 14),	/* B: gauge 2 + 4 entered = 6, entered 14 */
		row(3, 5, 5),	/* C: gauge 5 */
		row(4, 0, 50),	/* D: 1 bind error + 2 overflows = 3 */
		row(5, 0, 0),	/* E: activity 0, entered 0 */
		row(6, 6, 3),	/* F: gauge 6 = B's activity, fewer entered */
	};
	const uint16_t want[] = { 2, 6, 3, 4, 1, 5 };
	size_t idx[8];

	agg__sample(a, 1, first, 5);
	agg__mark(a);
	second[3].val.bind_errors = 1;
	second[3].val.overflow = 2;
	agg__sample(a, 2, second, 6);
	assert_int_equal(agg__ranked(a, idx), 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(a->rows[idx[i]].key.port, want[i]);
	agg__free(a);
}

/* Rings cost window_s * 4 bytes each, so only the first max_series keys get one. */
static void test_max_series_rings(void **state)
{
	struct agg *a = agg__new(10, 2);
	struct port_row rows[] = { row(1, 1, 1), row(2, 2, 2), row(3, 3, 3), row(4, 4, 4) };
	uint32_t h[10] = { 77 };
	size_t with_ring = 0;

	agg__sample(a, 1, rows, 4);
	agg__sample(a, 2, rows, 4);
	assert_int_equal(a->n, 4);
	for (size_t i = 0; i < a->n; i++)
		with_ring += a->rows[i].ring != NULL;
	assert_int_equal(with_ring, 2);
	assert_int_equal(a->nrings, 2);
	for (size_t i = 0; i < a->n; i++) {
		if (a->rows[i].ring) {
			assert_int_equal(agg__history(a, &a->rows[i], h, 10), 2);
			assert_int_equal(h[1], a->rows[i].key.port);
			continue;
		}
		h[0] = 77;
		assert_int_equal(agg__history(a, &a->rows[i], h, 10), 0);
		assert_int_equal(h[0], 77);
		/* the counters are still kept for ring-less keys */
		assert_int_equal(a->rows[i].val.entered, a->rows[i].key.port);
	}
	agg__free(a);
}

static struct tw_port_key many_key(int i)
{
	struct tw_port_key k = key(1 + i % 2500);

	/* half the keys share a port with another key and differ only by side and address */
	if (i >= 2500) {
		k.side = TW_SIDE_REMOTE;
		k.addr[0] = 10;
		k.addr[3] = (uint8_t)(i % 251);
	}
	return k;
}

/* 5000 keys go through the hash index: each sample finds its row again, no duplicates. */
static void test_many_keys_found_by_key(void **state)
{
	enum { N = 5000 };
	struct agg *a = agg__new(4, N);
	struct port_row *rows = calloc(N, sizeof(*rows));

	assert_non_null(rows);
	for (int i = 0; i < N; i++) {
		rows[i].key = many_key(i);
		rows[i].val.entered = i;
	}
	assert_int_equal(agg__sample(a, 1, rows, N), 0);
	assert_int_equal(a->n, N);
	/* the second sample comes in reverse order: the row must be found by key, not position */
	for (int i = 0; i < N; i++) {
		rows[i].key = many_key(N - 1 - i);
		rows[i].val.entered = 1000000 + (N - 1 - i);
		rows[i].val.tw = (N - 1 - i) % 7;
	}
	assert_int_equal(agg__sample(a, 2, rows, N), 0);
	assert_int_equal(a->n, N);
	for (int i = 0; i < N; i++) {
		struct tw_port_key k = many_key(i);
		uint32_t h[4];

		assert_memory_equal(&a->rows[i].key, &k, sizeof(k));
		assert_int_equal(a->rows[i].val.entered, 1000000 + i);
		assert_int_equal(agg__history(a, &a->rows[i], h, 4), 2);
		assert_int_equal(h[1], i % 7);
	}
	free(rows);
	agg__free(a);
}

/*
 * agg.h: max_series * window_s * 4 bytes of rings plus one row per key. Rows and the index grow
 * by doubling, so a key costs at most two series slots and four index slots (load <= 1/2).
 */
static size_t memory_bound(const struct agg *a, size_t nkeys)
{
	size_t rows = 2 * nkeys > 64 ? 2 * nkeys : 64, slots = 4 * nkeys > 256 ? 4 * nkeys : 256;

	return sizeof(struct agg) + a->max_series * a->window_s * sizeof(uint32_t) +
	       rows * sizeof(struct agg_series) + slots * sizeof(uint32_t);
}

static void test_memory_grows_and_is_bounded(void **state)
{
	static const size_t steps[] = { 10, 100, 1000, 2000 };
	struct agg *a = agg__new(60, 16);
	struct port_row *rows = calloc(2000, sizeof(*rows));
	size_t prev = agg__memory(a), m;

	assert_non_null(rows);
	for (int i = 0; i < 2000; i++)
		rows[i] = row(1 + i, 1, 1);
	/* growth is by doubling, so compare at sizes far enough apart to cross a step */
	for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
		size_t n = steps[j];

		agg__sample(a, j + 1, rows, n);
		m = agg__memory(a);
		assert_true(m > prev);
		assert_true(m <= memory_bound(a, n));
		/* at least what is really held: the rings and one series per key */
		assert_true(m >= (n < 16 ? n : 16) * 60 * sizeof(uint32_t) +
					 n * sizeof(struct agg_series));
		prev = m;
	}
	assert_int_equal(a->nrings, 16);
	free(rows);
	agg__free(a);
}

/* The rings are what max_series pays for: exactly max_series * window_s * 4 bytes, no more. */
static void test_memory_counts_rings(void **state)
{
	struct agg *with = agg__new(60, 16), *without = agg__new(60, 0);
	struct port_row rows[40];

	for (int i = 0; i < 40; i++)
		rows[i] = row(1 + i, 1, 1);
	agg__sample(with, 1, rows, 10);
	agg__sample(without, 1, rows, 10);
	assert_int_equal(agg__memory(with) - agg__memory(without), 10 * 60 * sizeof(uint32_t));
	agg__sample(with, 2, rows, 40);
	agg__sample(without, 2, rows, 40);
	assert_int_equal(agg__memory(with) - agg__memory(without), 16 * 60 * sizeof(uint32_t));
	agg__free(with);
	agg__free(without);
}

/*
 * A key on two slots (one being reclaimed, a new one) sums them; a freed slot's last values stay
 * in the key's row; a row with no slot left is pruned, its ring given back.
 */
static void test_slots_fold_and_prune(void **state)
{
	struct agg *a = agg__new(60, 1);
	struct port_row rows[3] = { row(80, 2, 10), row(80, 1, 4), row(81, 0, 1) };
	const struct tw_port_key k80 = key(80), k81 = key(81);
	struct agg_series *s;
	struct tw_port_val last;

	rows[0].slot = 1;
	rows[1].slot = 2;
	rows[2].slot = 3;
	rows[0].val.tw_peak = 9;
	assert_int_equal(agg__sample(a, 1, rows, 3), 0);
	assert_int_equal(a->n, 2);
	s = series(a, &k80);
	assert_int_equal(s->nslots, 2);
	assert_int_equal(s->val.tw, 3);
	assert_int_equal(s->val.entered, 14);
	assert_int_equal(s->val.tw_peak, 9);
	/* slot 1 freed with its last values (one more count since the sample) */
	last = rows[0].val;
	last.tw = 0;
	last.entered = 11;
	agg__fold(a, &k80, &last);
	rows[1].val.entered = 5;
	assert_int_equal(agg__sample(a, 2, rows + 1, 2), 0);
	s = series(a, &k80);
	assert_int_equal(s->nslots, 1);
	assert_int_equal(s->val.entered, 16);
	assert_int_equal(s->val.tw, 1);
	assert_int_equal(s->val.tw_peak, 9);
	assert_int_equal(agg__prune(a, NULL, NULL), 0);
	/* 81's slot freed: its row stays until pruned, with its values */
	agg__fold(a, &k81, &rows[2].val);
	assert_int_equal(agg__sample(a, 3, rows + 1, 1), 0);
	s = series(a, &k81);
	assert_int_equal(s->nslots, 0);
	assert_int_equal(s->val.entered, 1);
	assert_int_equal(agg__prune(a, NULL, NULL), 1);
	assert_int_equal(a->n, 1);
	assert_null(series(a, &k81));
	assert_non_null(series(a, &k80));
	/* the index still finds the row that stayed */
	assert_int_equal(agg__sample(a, 4, rows + 1, 1), 0);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->nrings, 1);
	agg__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_fold_and_prune),
		cmocka_unit_test(test_history_oldest_first),
		cmocka_unit_test(test_history_bounded_by_window),
		cmocka_unit_test(test_gauge_clamped_at_zero),
		cmocka_unit_test(test_gap_fills_missed_seconds),
		cmocka_unit_test(test_gap_history_spans_seconds),
		cmocka_unit_test(test_same_second_resample),
		cmocka_unit_test(test_mark_starts_deltas_at_zero),
		cmocka_unit_test(test_ranked_by_activity),
		cmocka_unit_test(test_max_series_rings),
		cmocka_unit_test(test_many_keys_found_by_key),
		cmocka_unit_test(test_memory_grows_and_is_bounded),
		cmocka_unit_test(test_memory_counts_rings),
	};

	return cmocka_run_group_tests_name("agg", tests, NULL, NULL);
}
