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
	uint64_t walk_ns; /* 0 = free slot; start of the window */
	struct diag_sock *socks;
	size_t nsocks;
	uint32_t shown;	  /* failures reported one by one in this window */
	uint64_t pending; /* failures held back for the summary */
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
	if (!w)
		return;
	for (int i = 0; i < BW_SLOTS; i++)
		free(w->slots[i].socks);
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

/* One holder walk per window: its sockets serve every failure of the key until it closes. */
static void walk(struct bindwatch *w, struct bw_entry *e, const struct tw_bind_rec *r,
		 uint64_t now_ns)
{
	free(e->socks);
	e->socks = NULL;
	e->nsocks = 0;
	w->walks++;
	if (w->collect && w->collect(w->ctx, r, &e->socks, &e->nsocks)) {
		free(e->socks);
		e->socks = NULL;
		e->nsocks = 0;
	}
	e->walk_ns = now_ns ? now_ns : 1;
	e->shown = 0;
}

static void explain(struct bindwatch *w, struct bw_entry *e, const struct tw_bind_rec *r,
		    uint64_t repeats)
{
	struct diag_result res;
	struct diag_input in;

	diag__input_from_rec(r, &in);
	in.socks = e->socks;
	in.nsocks = e->nsocks;
	diag__run(&in, &res);
	if (r->call < TW_CALL_MAX)
		w->counts[r->call][r->err == EADDRNOTAVAIL][res.cause] += repeats;
	w->emit(w->ctx, r, &res, repeats);
}

/* Reports the failures held back in a window, with a fresh walk. */
static void settle(struct bindwatch *w, struct bw_entry *e, uint64_t now_ns)
{
	if (!e->pending)
		return;
	walk(w, e, &e->last, now_ns);
	explain(w, e, &e->last, e->pending);
	e->pending = 0;
}

void bindwatch__add(struct bindwatch *w, const struct tw_bind_rec *r, uint64_t now_ns)
{
	struct bw_entry *e = NULL, *oldest = &w->slots[0];
	struct bw_key k;

	key_of(r, &k);
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *s = &w->slots[i];

		if (s->walk_ns && !memcmp(&s->key, &k, sizeof(k))) {
			e = s;
			break;
		}
		if (s->walk_ns < oldest->walk_ns)
			oldest = s;
	}
	if (!e) {
		/* a new key takes a free slot or the one walked longest ago */
		settle(w, oldest, now_ns);
		e = oldest;
		free(e->socks);
		memset(e, 0, sizeof(*e));
		e->key = k;
	}
	if (!e->walk_ns || now_ns - e->walk_ns >= w->window_ns) {
		/* a summary held back walks afresh: its sockets serve this failure too */
		if (e->pending)
			settle(w, e, now_ns);
		else
			walk(w, e, r, now_ns);
	}
	if (e->shown < BINDWATCH_BURST) {
		e->shown++;
		explain(w, e, r, 1);
		return;
	}
	e->pending++;
	e->last = *r;
}

void bindwatch__tick(struct bindwatch *w, uint64_t now_ns)
{
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *e = &w->slots[i];

		if (e->pending && now_ns - e->walk_ns >= w->window_ns)
			settle(w, e, now_ns);
	}
}

void bindwatch__flush(struct bindwatch *w)
{
	for (int i = 0; i < BW_SLOTS; i++)
		if (w->slots[i].pending) {
			explain(w, &w->slots[i], &w->slots[i].last, w->slots[i].pending);
			w->slots[i].pending = 0;
		}
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
