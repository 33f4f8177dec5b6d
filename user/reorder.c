// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "reorder.h"
#include "twscope.h"

/* Records live back to back in an arena, 8-byte aligned; the sort moves 16-byte keys only. */
struct arena {
	char *data;
	size_t len, cap;
};

struct key {
	uint64_t ts_ns;
	size_t off;
};

struct reorder {
	struct arena cur, spare;
	struct key *keys, *tmp; /* tmp: keys_cap keys, for merging */
	size_t nkeys, keys_cap;
};

struct reorder *reorder__new(void)
{
	return calloc(1, sizeof(struct reorder));
}

void reorder__free(struct reorder *r)
{
	if (!r)
		return;
	free(r->cur.data);
	free(r->spare.data);
	free(r->keys);
	free(r->tmp);
	free(r);
}

size_t reorder__len(const struct reorder *r)
{
	return r->nkeys;
}

static void *arena_put(struct arena *a, const void *rec, size_t len)
{
	size_t need = (len + 7) & ~(size_t)7;
	void *dst;

	if (a->len + need > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64 * 1024;
		char *p;

		while (cap < a->len + need)
			cap *= 2;
		p = realloc(a->data, cap);
		if (!p)
			return NULL;
		a->data = p;
		a->cap = cap;
	}
	dst = a->data + a->len;
	memcpy(dst, rec, len);
	a->len += need;
	return dst;
}

void *reorder__at(struct reorder *r, size_t off)
{
	return off < r->cur.len ? r->cur.data + off : NULL;
}

void *reorder__add(struct reorder *r, const void *rec, size_t len, size_t *out_off)
{
	size_t off = r->cur.len;
	void *copy;

	if (r->nkeys == r->keys_cap) {
		size_t cap = r->keys_cap ? r->keys_cap * 2 : 1024;
		struct key *k = realloc(r->keys, cap * sizeof(*k)), *t;

		if (!k)
			return NULL;
		r->keys = k;
		t = realloc(r->tmp, cap * sizeof(*t));
		if (!t)
			return NULL;
		r->tmp = t;
		r->keys_cap = cap;
	}
	copy = arena_put(&r->cur, rec, len);
	if (!copy)
		return NULL;
	r->keys[r->nkeys].ts_ns = ((const struct tw_hdr *)rec)->ts_ns;
	r->keys[r->nkeys].off = off;
	r->nkeys++;
	if (out_off)
		*out_off = off;
	return copy;
}

static int by_time(const void *x, const void *y)
{
	const struct key *a = x, *b = y;

	if (a->ts_ns != b->ts_ns)
		return a->ts_ns < b->ts_ns ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off; /* ring order among equals */
}

#define MAX_RUNS 16

/* Merges the sorted runs [a, b) and [b, c) of keys, stable (ring order on ties). */
static void merge(struct key *keys, struct key *tmp, size_t a, size_t b, size_t c)
{
	size_t i = a, j = b, k = 0;

	while (i < b && j < c)
		tmp[k++] = keys[j].ts_ns < keys[i].ts_ns ? keys[j++] : keys[i++];
	while (i < b)
		tmp[k++] = keys[i++];
	memcpy(keys + a, tmp, k * sizeof(*tmp)); /* the rest of [j, c) is in place */
}

/*
 * The keys are what was kept from the last drain, then each ring's records in ring order: a few
 * runs already in time order, merged in linear passes rather than sorted.
 */
static void sort_keys(struct reorder *r)
{
	size_t starts[MAX_RUNS + 1], n = 0;

	starts[n++] = 0;
	for (size_t i = 1; i < r->nkeys; i++) {
		if (r->keys[i].ts_ns >= r->keys[i - 1].ts_ns)
			continue;
		if (n == MAX_RUNS) {
			qsort(r->keys, r->nkeys, sizeof(*r->keys), by_time);
			return;
		}
		starts[n++] = i;
	}
	starts[n] = r->nkeys;
	while (n > 1) {
		size_t m = 0;

		for (size_t i = 0; i < n; i += 2) {
			if (i + 1 < n)
				merge(r->keys, r->tmp, starts[i], starts[i + 1], starts[i + 2]);
			starts[m++] = starts[i];
		}
		starts[m] = r->nkeys;
		n = m;
	}
}

void reorder__drain(struct reorder *r, uint64_t cutoff_ns, reorder_fn fn, void *ctx)
{
	struct arena swap;
	size_t keep = 0;

	sort_keys(r);
	r->spare.len = 0;
	for (size_t i = 0; i < r->nkeys; i++) {
		struct tw_hdr *h = (void *)(r->cur.data + r->keys[i].off);

		if (h->ts_ns <= cutoff_ns) {
			fn(ctx, h);
			continue;
		}
		r->keys[keep].off = r->spare.len;
		r->keys[keep].ts_ns = h->ts_ns;
		if (!arena_put(&r->spare, h, h->size)) {
			fn(ctx, h); /* out of memory: out of order rather than lost */
			continue;
		}
		keep++;
	}
	swap = r->cur;
	r->cur = r->spare;
	r->spare = swap;
	r->nkeys = keep;
}
