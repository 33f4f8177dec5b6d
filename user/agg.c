// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agg.h"

struct agg *agg__new(unsigned int window_s, size_t max_series)
{
	struct agg *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->window_s = window_s ? window_s : 3600;
	a->max_series = max_series;
	return a;
}

void agg__free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->rows[i].ring);
	free(a->rows);
	free(a->index);
	free(a);
}

static uint64_t key_hash(const struct tw_port_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void index_put(struct agg *a, size_t row)
{
	size_t mask = a->index_cap - 1, i = key_hash(&a->rows[row].key) & mask;

	while (a->index[i])
		i = (i + 1) & mask;
	a->index[i] = row + 1;
}

static int index_grow(struct agg *a)
{
	size_t cap = a->index_cap ? a->index_cap * 2 : 256;
	uint32_t *p = calloc(cap, sizeof(*p));

	if (!p)
		return -ENOMEM;
	free(a->index);
	a->index = p;
	a->index_cap = cap;
	for (size_t i = 0; i < a->n; i++)
		index_put(a, i);
	return 0;
}

static struct agg_series *find(struct agg *a, const struct tw_port_key *k)
{
	size_t mask = a->index_cap - 1, i;

	if (!a->index_cap)
		return NULL;
	for (i = key_hash(k) & mask; a->index[i]; i = (i + 1) & mask)
		if (!memcmp(&a->rows[a->index[i] - 1].key, k, sizeof(*k)))
			return &a->rows[a->index[i] - 1];
	return NULL;
}

static struct agg_series *add(struct agg *a, const struct tw_port_key *k)
{
	struct agg_series *s;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct agg_series *p = realloc(a->rows, cap * sizeof(*p));

		if (!p)
			return NULL;
		a->rows = p;
		a->cap = cap;
	}
	if ((a->n + 1) * 2 > a->index_cap && index_grow(a))
		return NULL;
	s = &a->rows[a->n++];
	memset(s, 0, sizeof(*s));
	s->key = *k;
	s->label = -1;
	index_put(a, a->n - 1);
	if (a->nrings < a->max_series) {
		s->ring = calloc(a->window_s, sizeof(uint32_t));
		if (s->ring)
			a->nrings++;
	}
	return s;
}

static bool changed(const struct tw_port_val *x, const struct tw_port_val *y)
{
	return memcmp(x, y, sizeof(*x)) != 0;
}

void agg__val_add(struct tw_port_val *to, const struct tw_port_val *v, bool gauge)
{
	if (gauge)
		to->tw += v->tw;
	to->tw_peak = v->tw_peak > to->tw_peak ? v->tw_peak : to->tw_peak;
	to->entered += v->entered;
	to->expired += v->expired;
	to->killed += v->killed;
	to->overflow += v->overflow;
	to->bind_errors += v->bind_errors;
}

int agg__sample(struct agg *a, uint64_t now_s, const struct port_row *rows, size_t n)
{
	uint64_t gap;

	if (a->samples && now_s < a->head_s)
		now_s = a->head_s; /* the clock is monotonic; never write into the past */
	/* a second sample in the same second overwrites that second's value */
	gap = !a->samples ? 1 : now_s - a->head_s ? now_s - a->head_s : 1;
	if (!a->samples)
		a->first_s = now_s;

	for (size_t i = 0; i < a->n; i++) {
		a->rows[i].acc = a->rows[i].folded;
		a->rows[i].nslots = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct agg_series *s = find(a, &rows[i].key);

		if (!s) {
			s = add(a, &rows[i].key);
			if (!s)
				return -ENOMEM;
			s->last_active_s = now_s;
		}
		agg__val_add(&s->acc, &rows[i].val, true);
		s->nslots++;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct agg_series *s = &a->rows[i];

		if (changed(&s->val, &s->acc) || s->acc.tw > 0)
			s->last_active_s = now_s;
		s->val = s->acc;
	}
	/* fill every second since the last sample, so a late tick leaves no hole */
	if (gap > a->window_s)
		gap = a->window_s;
	for (size_t i = 0; i < a->n; i++) {
		struct agg_series *s = &a->rows[i];
		uint32_t g = s->val.tw > 0 ? (s->val.tw > UINT32_MAX ? UINT32_MAX : s->val.tw) : 0;

		if (!s->ring)
			continue;
		for (uint64_t t = now_s - gap + 1; t <= now_s; t++)
			s->ring[t % a->window_s] = g;
	}
	a->head_s = now_s;
	a->samples++;
	return 0;
}

void agg__fold(struct agg *a, const struct tw_port_key *key, const struct tw_port_val *val)
{
	struct agg_series *s = find(a, key);

	/* a slot is freed with no TIME_WAIT left */
	if (s)
		agg__val_add(&s->folded, val, false);
}

size_t agg__prune(struct agg *a, agg_prune_fn fn, void *ctx)
{
	size_t keep = 0, gone = 0;

	for (size_t i = 0; i < a->n; i++) {
		struct agg_series *s = &a->rows[i];

		if (s->nslots || !a->samples) {
			if (keep != i)
				a->rows[keep] = *s;
			keep++;
			continue;
		}
		if (fn)
			fn(ctx, s);
		if (s->ring)
			a->nrings--;
		free(s->ring);
		gone++;
	}
	a->n = keep;
	if (gone && a->index_cap) {
		memset(a->index, 0, a->index_cap * sizeof(*a->index));
		for (size_t i = 0; i < a->n; i++)
			index_put(a, i);
	}
	/* a table that emptied gives its memory back */
	if (a->cap > 64 && a->n * 4 < a->cap) {
		size_t cap = a->cap / 2;
		struct agg_series *p = realloc(a->rows, cap * sizeof(*p));

		if (p) {
			a->rows = p;
			a->cap = cap;
		}
	}
	return gone;
}

void agg__mark(struct agg *a)
{
	for (size_t i = 0; i < a->n; i++)
		a->rows[i].base = a->rows[i].val;
}

static uint64_t activity(const struct agg_series *s)
{
	uint64_t d = (s->val.entered - s->base.entered) +
		     (s->val.bind_errors - s->base.bind_errors) +
		     (s->val.overflow - s->base.overflow);

	return (s->val.tw > 0 ? (uint64_t)s->val.tw : 0) + d;
}

static const struct agg *sort_agg;

static int by_activity(const void *x, const void *y)
{
	const struct agg_series *a = &sort_agg->rows[*(const size_t *)x];
	const struct agg_series *b = &sort_agg->rows[*(const size_t *)y];
	uint64_t ax = activity(a), bx = activity(b);

	if (ax != bx)
		return ax > bx ? -1 : 1;
	if (a->val.entered != b->val.entered)
		return a->val.entered > b->val.entered ? -1 : 1;
	if (a->last_active_s != b->last_active_s)
		return a->last_active_s > b->last_active_s ? -1 : 1;
	return a->key.port < b->key.port ? -1 : a->key.port > b->key.port;
}

size_t agg__ranked(const struct agg *a, size_t *idx)
{
	for (size_t i = 0; i < a->n; i++)
		idx[i] = i;
	sort_agg = a;
	qsort(idx, a->n, sizeof(*idx), by_activity);
	sort_agg = NULL;
	return a->n;
}

size_t agg__history(const struct agg *a, const struct agg_series *s, uint32_t *out, size_t max)
{
	uint64_t span = a->samples ? a->head_s - a->first_s + 1 : 0;
	size_t n = span < a->window_s ? span : a->window_s;

	if (!s->ring || !a->samples)
		return 0;
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = s->ring[(a->head_s - (n - 1 - i)) % a->window_s];
	return n;
}

uint64_t agg__span(const struct agg *a)
{
	uint64_t span = a->samples ? a->head_s - a->first_s + 1 : 0;

	return span < a->window_s ? span : a->window_s;
}

size_t agg__memory(const struct agg *a)
{
	return sizeof(*a) + a->cap * sizeof(struct agg_series) + a->index_cap * sizeof(uint32_t) +
	       a->nrings * a->window_s * sizeof(uint32_t);
}
