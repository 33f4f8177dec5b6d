// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ports.h"

#define AF_INET_NUM  2
#define AF_INET6_NUM 10

struct ports {
	unsigned int high_pct;
	bool incomplete;
	uint32_t gen;
	struct dest_row *rows; /* every destination with a pressure state, seen lately */
	size_t n, cap;
	uint32_t *index; /* open addressing over rows: row + 1, 0 = empty */
	size_t index_cap;
	struct dest_row **sorted;
	size_t nsorted;
	struct netns_ports *ns;
	size_t nns;
};

struct ports *ports__new(unsigned int pressure_pct)
{
	struct ports *p = calloc(1, sizeof(*p));

	if (p)
		p->high_pct = pressure_pct;
	return p;
}

void ports__free(struct ports *p)
{
	if (!p)
		return;
	free(p->rows);
	free(p->index);
	free(p->sorted);
	free(p->ns);
	free(p);
}

static bool loopback(const struct tw_dest_key *k)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (k->family == AF_INET6_NUM)
		return !memcmp(k->addr, lo6, 16) ||
		       (!memcmp(k->addr, mapped, 12) && k->addr[12] == 127);
	return k->addr[0] == 127;
}

static const struct netns_ports *netns_of(const struct ports *p, uint64_t cookie)
{
	for (size_t i = 0; i < p->nns; i++)
		if (p->ns[i].cookie == cookie)
			return &p->ns[i];
	return NULL;
}

static size_t key_hash(const struct tw_dest_key *k)
{
	const unsigned char *b = (const void *)k;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return (size_t)h;
}

/* Room for want rows in the index (twice as many slots), rebuilt from the rows. */
static int index_reserve(struct ports *p, size_t want)
{
	size_t cap = 64;
	uint32_t *idx;

	while (cap < want * 2)
		cap *= 2;
	if (cap <= p->index_cap)
		return 0;
	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	free(p->index);
	p->index = idx;
	p->index_cap = cap;
	for (size_t i = 0; i < p->n; i++) {
		size_t h = key_hash(&p->rows[i].key) & (cap - 1);

		while (p->index[h])
			h = (h + 1) & (cap - 1);
		p->index[h] = i + 1;
	}
	return 0;
}

static struct dest_row *row_of(struct ports *p, const struct tw_dest_key *k)
{
	size_t h = key_hash(k) & (p->index_cap - 1);

	for (; p->index[h]; h = (h + 1) & (p->index_cap - 1))
		if (!memcmp(&p->rows[p->index[h] - 1].key, k, sizeof(*k)))
			return &p->rows[p->index[h] - 1];
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct dest_row *r = realloc(p->rows, cap * sizeof(*r));

		if (!r)
			return NULL;
		p->rows = r;
		p->cap = cap;
	}
	memset(&p->rows[p->n], 0, sizeof(p->rows[0]));
	p->rows[p->n].key = *k;
	p->index[h] = p->n + 1;
	return &p->rows[p->n++];
}

/* The pressure level with hysteresis: high at the level, normal again below it less a margin. */
static void pressure(struct ports *p, struct dest_row *r)
{
	double used = r->ports_available ? 1.0 - r->headroom : 1.0;
	double high = p->high_pct / 100.0;
	double low = high - PORTS_HYSTERESIS_PCT / 100.0;
	bool was = r->high;

	if (!r->high && used >= high)
		r->high = true;
	else if (r->high && used < low)
		r->high = false;
	r->changed = r->high != was;
}

static int by_use(const void *x, const void *y)
{
	const struct dest_row *a = *(const struct dest_row *const *)x;
	const struct dest_row *b = *(const struct dest_row *const *)y;

	if (a->ports_in_use != b->ports_in_use)
		return a->ports_in_use > b->ports_in_use ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

int ports__update(struct ports *p, const struct tw_dest_key *keys, const struct tw_dest_use *uses,
		  size_t n, const struct netns_ports *ns, size_t nns)
{
	struct netns_ports *nsc = nns ? malloc(nns * sizeof(*nsc)) : NULL;
	size_t keep = 0;

	if (nns && !nsc)
		return -ENOMEM;
	if (nns)
		memcpy(nsc, ns, nns * sizeof(*nsc));
	free(p->ns);
	p->ns = nsc;
	p->nns = nns;
	p->gen++;
	if (index_reserve(p, p->n + n))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct netns_ports *np = netns_of(p, keys[i].netns_cookie);
		struct dest_row *r = row_of(p, &keys[i]);
		uint32_t range, avail, lost;

		if (!r)
			return -ENOMEM;
		range = np && np->p.hi >= np->p.lo ? np->p.hi - np->p.lo + 1 : 0;
		avail = np && range > np->p.ports_reserved ? range - np->p.ports_reserved : 0;
		r->ports_in_use = uses[i].in_use;
		r->time_wait = uses[i].time_wait;
		r->ports_available = avail;
		r->ports_bound = np ? np->p.ports_bound : 0;
		r->time_wait_reusable =
			np && (np->p.tw_reuse == 1 || (np->p.tw_reuse == 2 && loopback(&r->key)));
		lost = r->ports_in_use + r->ports_bound;
		r->headroom = avail > lost ? (double)(avail - lost) / avail : 0.0;
		memcpy(r->ino, uses[i].ino, sizeof(r->ino));
		r->owned = uses[i].owned;
		r->bound_owned = np ? np->p.bound_owned : 0;
		r->seen = p->gen;
		pressure(p, r);
	}
	/* a destination no longer in use: gone from the outputs, and from pressure once normal */
	for (size_t i = 0; i < p->n; i++) {
		struct dest_row *r = &p->rows[i];

		if (r->seen != p->gen) {
			if (!r->high)
				continue;
			r->ports_in_use = r->time_wait = 0;
			r->headroom = r->ports_available > r->ports_bound
					      ? (double)(r->ports_available - r->ports_bound) /
							r->ports_available
					      : 0.0;
			r->seen = p->gen;
			pressure(p, r);
		}
		p->rows[keep++] = *r;
	}
	p->n = keep;
	/* rows moved: the index is rebuilt at the next update */
	free(p->index);
	p->index = NULL;
	p->index_cap = 0;
	free(p->sorted);
	p->sorted = p->n ? malloc(p->n * sizeof(*p->sorted)) : NULL;
	if (p->n && !p->sorted)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		p->sorted[i] = &p->rows[i];
	p->nsorted = p->n;
	if (p->nsorted)
		qsort(p->sorted, p->nsorted, sizeof(*p->sorted), by_use);
	return 0;
}

size_t ports__top(const struct ports *p, const struct dest_row **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nsorted && n < max; i++)
		if (p->sorted[i]->ports_in_use)
			out[n++] = p->sorted[i];
	return n;
}

size_t ports__crossed(const struct ports *p, const struct dest_row **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nsorted && n < max; i++)
		if (p->sorted[i]->changed)
			out[n++] = p->sorted[i];
	return n;
}

const struct dest_row *ports__find(const struct ports *p, uint64_t netns_cookie, uint16_t family,
				   const uint8_t *addr, uint16_t port)
{
	size_t alen = family == AF_INET6_NUM ? 16 : 4;

	for (size_t i = 0; i < p->n; i++) {
		const struct dest_row *r = &p->rows[i];

		if (r->key.netns_cookie == netns_cookie && r->key.family == family &&
		    r->key.port == port && !memcmp(r->key.addr, addr, alen))
			return r;
	}
	return NULL;
}

size_t ports__tally(const struct tw_proc *in, size_t n, struct proc_count *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (!in[i].pid)
			continue;
		for (j = 0; j < k && out[j].p.pid != in[i].pid; j++)
			;
		if (j == k)
			out[k++] = (struct proc_count){ .p = in[i] };
		out[j].n++;
	}
	/* insertion sort: a handful of entries */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && out[j].n > out[j - 1].n; j--) {
			struct proc_count t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return k;
}

void ports__set_incomplete(struct ports *p, bool incomplete)
{
	p->incomplete = incomplete;
}

bool ports__incomplete(const struct ports *p)
{
	return p->incomplete;
}

size_t ports__count(const struct ports *p)
{
	return p->nsorted;
}

size_t ports__netns(const struct ports *p, const struct netns_ports **out)
{
	*out = p->ns;
	return p->nns;
}
