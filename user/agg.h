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
	uint32_t slot;
	uint32_t pad;
};

/*
 * A key's counters are the sum of its slots (a slot being reclaimed and a new one can both hold
 * a key for a while) and of the last values of the slots freed (folded).
 */
struct agg_series {
	struct tw_port_key key;
	struct tw_port_val val;	   /* latest */
	struct tw_port_val base;   /* at the start of the interval */
	struct tw_port_val folded; /* of the key's freed slots */
	struct tw_port_val acc;	   /* being summed by a sample */
	uint32_t *ring;		   /* gauge per second, NULL when over max_series */
	uint64_t last_active_s;
	uint32_t nslots; /* slots of the key in the latest sample; 0: only folded values left */
	int label;	 /* set by the metrics output: its label set, -1 for "other" */
	bool placed;	 /* the metrics output gave it its place */
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
/* One sample per second: the whole ports map, a row per slot (several may share a key). */
int agg__sample(struct agg *a, uint64_t now_s, const struct port_row *rows, size_t n);
/* A slot of key was freed with these last values: they stay in the key's counters. */
/* Adds v's counts into *to, the peak as a maximum, and the gauge only when asked. */
void agg__val_add(struct tw_port_val *to, const struct tw_port_val *v, bool gauge);
void agg__fold(struct agg *a, const struct tw_port_key *key, const struct tw_port_val *val);
typedef void (*agg_prune_fn)(void *ctx, const struct agg_series *s);
/* Drops the rows that have no slot left (their last values were reported), fn told first. */
size_t agg__prune(struct agg *a, agg_prune_fn fn, void *ctx);
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
