// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bindwatch.h"

#define BW_SLOTS 64

struct bw_key {
	uint32_t netns;
	uint16_t port;
	uint16_t src_port;
	uint16_t family;
	uint8_t proto;
	uint8_t call;
	int32_t err;
	uint8_t addr[16];
};

struct bw_entry {
	struct bw_key key;
	uint64_t diag_ns; /* 0 = free slot */
	uint64_t pending;
	struct tw_bind_rec last;
};

struct bindwatch {
	uint64_t window_ns;
	bindwatch_collect_fn collect;
	bindwatch_emit_fn emit;
	void *ctx;
	uint64_t walks;
	uint64_t counts[TW_CALL_MAX][2][CAUSE_MAX];
	struct bw_entry slots[BW_SLOTS];
};

struct bindwatch *bindwatch__new(uint64_t window_ns, bindwatch_collect_fn collect,
				 bindwatch_emit_fn emit, void *ctx)
{
	struct bindwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->window_ns = window_ns;
	w->collect = collect;
	w->emit = emit;
	w->ctx = ctx;
	return w;
}

void bindwatch__free(struct bindwatch *w)
{
	free(w);
}

static void key_of(const struct tw_bind_rec *r, struct bw_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = r->hdr.netns;
	k->port = r->port;
	k->src_port = r->src_port;
	k->family = r->family;
	k->proto = r->proto;
	k->call = r->call;
	k->err = r->err;
	memcpy(k->addr, r->addr, 16);
}

/* One holder walk and diagnosis, then the event carrying `repeats` failures. */
static void explain(struct bindwatch *w, const struct tw_bind_rec *r, uint64_t repeats)
{
	struct diag_sock *socks = NULL;
	struct diag_result res;
	struct diag_input in;
	size_t n = 0;

	diag__input_from_rec(r, &in);
	w->walks++;
	if (w->collect && w->collect(w->ctx, r, &socks, &n) == 0) {
		in.socks = socks;
		in.nsocks = n;
	}
	diag__run(&in, &res);
	if (r->call < TW_CALL_MAX)
		w->counts[r->call][r->err == EADDRNOTAVAIL][res.cause] += repeats;
	w->emit(w->ctx, r, &res, repeats);
	free(socks);
}

static void settle(struct bindwatch *w, struct bw_entry *e, uint64_t now_ns)
{
	if (!e->pending)
		return;
	explain(w, &e->last, e->pending);
	e->pending = 0;
	e->diag_ns = now_ns;
}

void bindwatch__add(struct bindwatch *w, const struct tw_bind_rec *r, uint64_t now_ns)
{
	struct bw_entry *e = NULL, *oldest = &w->slots[0];
	struct bw_key k;

	key_of(r, &k);
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *s = &w->slots[i];

		if (s->diag_ns && !memcmp(&s->key, &k, sizeof(k))) {
			e = s;
			break;
		}
		if (s->diag_ns < oldest->diag_ns)
			oldest = s;
	}
	if (!e) {
		/* a new key takes a free slot or the least recently explained one */
		settle(w, oldest, now_ns);
		e = oldest;
		memset(e, 0, sizeof(*e));
		e->key = k;
	}
	if (e->diag_ns && now_ns - e->diag_ns < w->window_ns) {
		e->pending++;
		e->last = *r;
		return;
	}
	settle(w, e, now_ns);
	explain(w, r, 1);
	e->diag_ns = now_ns ? now_ns : 1;
}

void bindwatch__tick(struct bindwatch *w, uint64_t now_ns)
{
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *e = &w->slots[i];

		if (e->pending && now_ns - e->diag_ns >= w->window_ns)
			settle(w, e, now_ns);
	}
}

void bindwatch__flush(struct bindwatch *w)
{
	for (int i = 0; i < BW_SLOTS; i++)
		settle(w, &w->slots[i], w->slots[i].diag_ns);
}

uint64_t bindwatch__walks(const struct bindwatch *w)
{
	return w->walks;
}

uint64_t bindwatch__count(const struct bindwatch *w, int call, int errslot, int cause)
{
	if (call < 0 || call >= TW_CALL_MAX || errslot < 0 || errslot > 1 || cause < 0 ||
	    cause >= CAUSE_MAX)
		return 0;
	return w->counts[call][errslot][cause];
}
