/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-port time series fed once a second from the kernel's exact counters (never from events):
 * the latest cumulative values, the values at the start of the current interval, and a ring of
 * TIME_WAIT gauge samples over the window. Memory: max_series * window_s * 4 bytes for the
 * rings, plus one row per key seen.
 */
#ifndef TWSCOPE_AGG_H
#define TWSCOPE_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twscope.h"

struct port_row {
	struct tw_port_key key;
	struct tw_port_val val;
};

struct agg_series {
	struct tw_port_key key;
	struct tw_port_val val;	 /* latest */
	struct tw_port_val base; /* at the start of the interval */
	uint32_t *ring;		 /* gauge per second, NULL when over max_series */
	uint64_t last_active_s;
};

struct agg {
	unsigned int window_s;
	size_t max_series;
	size_t nrings;
	struct agg_series *rows;
	size_t n, cap;
	uint32_t *index; /* open addressing over rows: row + 1, 0 = empty */
	size_t index_cap;
	uint64_t head_s;  /* second of the latest sample */
	uint64_t first_s; /* second of the first sample */
	uint64_t samples;
};

struct agg *agg__new(unsigned int window_s, size_t max_series);
/* One sample per second: the whole ports map. */
int agg__sample(struct agg *a, uint64_t now_s, const struct port_row *rows, size_t n);
/* Starts a new interval: deltas count from here. */
void agg__mark(struct agg *a);
/* Indexes of rows sorted by activity, most active first; returns the count (<= a->n). */
size_t agg__ranked(const struct agg *a, size_t *idx);
/* Gauge samples of a row, oldest first, up to max (the window); returns the count. */
size_t agg__history(const struct agg *a, const struct agg_series *s, uint32_t *out, size_t max);
/* Seconds of history kept so far, up to the window. */
uint64_t agg__span(const struct agg *a);
size_t agg__memory(const struct agg *a);
void agg__free(struct agg *a);

#endif
