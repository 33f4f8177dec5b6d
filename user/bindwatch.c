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
	uint32_t pid;
	uint8_t addr[16];
	uint64_t holders; /* digest of what is printed of the holders */
};

struct bw_entry {
	struct bw_key key;
	uint64_t start_ns; /* 0 = free slot; start of the window */
	uint32_t shown;	   /* failures reported one by one in this window */
	uint64_t pending;  /* failures held back for the summary */
	struct tw_snap_rec last;
};

struct bindwatch {
	uint64_t window_ns;
	bindwatch_emit_fn emit;
	void *ctx;
	uint64_t counts[TW_CALL_MAX][2][CAUSE_MAX];
	struct bw_entry slots[BW_SLOTS];
};

struct bindwatch *bindwatch__new(uint64_t window_ns, bindwatch_emit_fn emit, void *ctx)
{
	struct bindwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->window_ns = window_ns;
	w->emit = emit;
	w->ctx = ctx;
	return w;
}

void bindwatch__free(struct bindwatch *w)
{
	free(w);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* The holders as printed, less what changes by the millisecond (time left). */
static uint64_t holders_digest(const struct tw_snap_rec *r)
{
	uint32_t n = r->bind.nholders < TW_SNAP_HOLDERS ? r->bind.nholders : TW_SNAP_HOLDERS;
	uint64_t h =
		fnv(0xcbf29ce484222325ULL, &r->bind.holders_total, sizeof(r->bind.holders_total));

	h = fnv(h, r->bind.by_state, sizeof(r->bind.by_state));
	h = fnv(h, &r->bind.snap_flags, sizeof(r->bind.snap_flags));
	for (uint32_t i = 0; i < n; i++) {
		const struct tw_holder_rec *x = &r->holders[i];

		h = fnv(h, &x->t, sizeof(x->t));
		h = fnv(h, &x->cookie, sizeof(x->cookie));
		h = fnv(h, &x->ino, sizeof(x->ino));
		h = fnv(h, &x->owner.pid, sizeof(x->owner.pid));
		h = fnv(h, &x->state, 1);
		h = fnv(h, &x->flags, 1);
	}
	return h;
}

static void key_of(const struct tw_snap_rec *s, struct bw_key *k)
{
	const struct tw_bind_rec *r = &s->bind;

	memset(k, 0, sizeof(*k));
	k->netns = r->hdr.netns;
	k->port = r->port;
	k->src_port = r->src_port;
	k->family = r->family;
	k->proto = r->proto;
	k->call = r->call;
	k->err = r->err;
	k->pid = r->proc.pid;
	memcpy(k->addr, r->addr, 16);
	k->holders = holders_digest(s);
}

static void explain(struct bindwatch *w, const struct tw_snap_rec *r, uint64_t repeats)
{
	struct diag_sock socks[TW_SNAP_HOLDERS];
	uint32_t n = r->bind.nholders < TW_SNAP_HOLDERS ? r->bind.nholders : TW_SNAP_HOLDERS;
	struct diag_result res;
	struct diag_input in;

	diag__input_from_rec(&r->bind, &in);
	for (uint32_t i = 0; i < n; i++)
		diag__sock_from_rec(&r->holders[i], &socks[i]);
	in.socks = socks;
	in.nsocks = n;
	diag__run(&in, &res);
	if (r->bind.call < TW_CALL_MAX)
		w->counts[r->bind.call][r->bind.err == EADDRNOTAVAIL][res.cause] += repeats;
	w->emit(w->ctx, r, &res, repeats);
}

static void settle(struct bindwatch *w, struct bw_entry *e)
{
	if (!e->pending)
		return;
	explain(w, &e->last, e->pending);
	e->pending = 0;
}

void bindwatch__add(struct bindwatch *w, const struct tw_snap_rec *r, uint64_t now_ns)
{
	struct bw_entry *e = NULL, *oldest = &w->slots[0];
	struct bw_key k;

	key_of(r, &k);
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *s = &w->slots[i];

		if (s->start_ns && !memcmp(&s->key, &k, sizeof(k))) {
			e = s;
			break;
		}
		if (s->start_ns < oldest->start_ns)
			oldest = s;
	}
	if (!e) {
		/* a new key takes a free slot or the one opened longest ago */
		settle(w, oldest);
		e = oldest;
		memset(e, 0, sizeof(*e));
		e->key = k;
	}
	if (!e->start_ns || now_ns - e->start_ns >= w->window_ns) {
		settle(w, e);
		e->start_ns = now_ns ? now_ns : 1;
		e->shown = 0;
	}
	if (e->shown < BINDWATCH_BURST) {
		e->shown++;
		explain(w, r, 1);
		return;
	}
	e->pending++;
	memcpy(&e->last, r,
	       r->bind.hdr.size < sizeof(e->last) ? r->bind.hdr.size : sizeof(e->last));
}

void bindwatch__tick(struct bindwatch *w, uint64_t now_ns)
{
	for (int i = 0; i < BW_SLOTS; i++) {
		struct bw_entry *e = &w->slots[i];

		if (e->pending && now_ns - e->start_ns >= w->window_ns)
			settle(w, e);
	}
}

void bindwatch__flush(struct bindwatch *w)
{
	for (int i = 0; i < BW_SLOTS; i++)
		settle(w, &w->slots[i]);
}

uint64_t bindwatch__count(const struct bindwatch *w, int call, int errslot, int cause)
{
	if (call < 0 || call >= TW_CALL_MAX || errslot < 0 || errslot > 1 || cause < 0 ||
	    cause >= CAUSE_MAX)
		return 0;
	return w->counts[call][errslot][cause];
}
