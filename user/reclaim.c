// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "reclaim.h"

enum slot_state { SLOT_UNSEEN = 0, SLOT_LIVE, SLOT_RETIRING };

struct slot_info {
	uint64_t activity; /* sum of the slot's counters: any count changes it */
	int64_t tw;
	uint64_t changed_s; /* last plan that saw it change */
	uint64_t retired_s; /* when it was unmapped */
	uint8_t state;
	bool changed; /* since the previous plan */
};

struct reclaim {
	unsigned int idle_s;
	struct slot_info *slots; /* TW_PORT_SLOTS */
	uint64_t *live;		 /* sorted cookies of the last complete walk */
	size_t nlive;
	bool known; /* a complete walk was seen: absence means death */
	struct reclaim_ns *dying;
	size_t ndying, dying_cap;
	struct reclaim_stats st;
};

struct reclaim *reclaim__new(unsigned int idle_s)
{
	struct reclaim *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->idle_s = idle_s;
	r->slots = calloc(TW_PORT_SLOTS, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	return r;
}

void reclaim__free(struct reclaim *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r->live);
	free(r->dying);
	free(r);
}

static int by_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

int reclaim__set_live(struct reclaim *r, const struct tw_netns_id *ids, size_t n, bool complete)
{
	uint64_t *live;

	if (!complete) {
		r->known = false;
		return 0;
	}
	live = malloc((n ? n : 1) * sizeof(*live));
	if (!live) {
		r->known = false;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		live[i] = ids[i].cookie;
	qsort(live, n, sizeof(*live), by_u64);
	free(r->live);
	r->live = live;
	r->nlive = n;
	r->known = true;
	return 0;
}

bool reclaim__alive(const struct reclaim *r, uint64_t cookie)
{
	if (!r->known)
		return true;
	return bsearch(&cookie, r->live, r->nlive, sizeof(cookie), by_u64) != NULL;
}

static struct reclaim_ns *dying_of(struct reclaim *r, uint64_t cookie, uint32_t inum, bool add)
{
	struct reclaim_ns *d;

	for (size_t i = 0; i < r->ndying; i++)
		if (r->dying[i].cookie == cookie)
			return &r->dying[i];
	if (!add)
		return NULL;
	if (r->ndying == r->dying_cap) {
		size_t cap = r->dying_cap ? r->dying_cap * 2 : 16;

		d = realloc(r->dying, cap * sizeof(*d));
		if (!d)
			return NULL;
		r->dying = d;
		r->dying_cap = cap;
	}
	d = &r->dying[r->ndying++];
	memset(d, 0, sizeof(*d));
	d->cookie = cookie;
	d->inum = inum;
	return d;
}

static uint64_t activity(const struct tw_port_val *v)
{
	return v->entered + v->expired + v->killed + v->overflow + v->bind_errors;
}

static void req_add(struct tw_retire_req *out, size_t *n, size_t max, uint8_t op,
		    const struct tw_port_key *k, uint32_t slot)
{
	if (*n >= max)
		return;
	memset(&out[*n], 0, sizeof(out[*n]));
	out[*n].op = op;
	out[*n].key = *k;
	out[*n].slot = slot;
	(*n)++;
}

size_t reclaim__plan(struct reclaim *r, uint64_t now_s, const struct port_row *rows, size_t n,
		     const uint64_t *listen_cookies, size_t nlisten, struct tw_retire_req *out,
		     size_t max)
{
	size_t nreq = 0;

	for (size_t i = 0; i < r->ndying; i++)
		r->dying[i].left = false;
	r->st.slots_used = 0;
	for (size_t i = 0; i < n; i++) {
		const struct port_row *row = &rows[i];
		struct slot_info *s;
		bool dead, idle;

		if (row->slot >= TW_PORT_SLOTS || !row->key.netns_cookie)
			continue;
		r->st.slots_used++;
		s = &r->slots[row->slot];
		if (s->state == SLOT_UNSEEN) {
			s->state = SLOT_LIVE;
			s->activity = activity(&row->val);
			s->tw = row->val.tw;
			s->changed_s = now_s;
			s->changed = true;
		} else {
			s->changed = s->activity != activity(&row->val) || s->tw != row->val.tw;
			s->activity = activity(&row->val);
			s->tw = row->val.tw;
			if (s->changed)
				s->changed_s = now_s;
		}
		dead = !reclaim__alive(r, row->key.netns_cookie);
		if (dead) {
			struct reclaim_ns *d =
				dying_of(r, row->key.netns_cookie, row->key.netns, true);

			if (d)
				d->left = true;
		}
		if (s->state == SLOT_LIVE) {
			idle = s->tw <= 0 && r->idle_s && now_s - s->changed_s >= r->idle_s;
			if (dead || idle)
				req_add(out, &nreq, max, TW_RETIRE_UNMAP, &row->key, row->slot);
		} else if (s->state == SLOT_RETIRING) {
			/* an interval after the unmap, with nothing written since: no writer is
			 * left */
			if (s->tw <= 0 && !s->changed && now_s > s->retired_s)
				req_add(out, &nreq, max, TW_RETIRE_FREE, &row->key, row->slot);
		}
	}
	for (size_t i = 0; i < nlisten; i++) {
		struct tw_port_key k = { .netns_cookie = listen_cookies[i] };
		struct reclaim_ns *d;

		if (reclaim__alive(r, listen_cookies[i]))
			continue;
		d = dying_of(r, listen_cookies[i], 0, true);
		if (d)
			d->left = true;
		req_add(out, &nreq, max, TW_RETIRE_LISTEN, &k, TW_NO_SLOT);
	}
	return nreq;
}

void reclaim__done(struct reclaim *r, uint64_t now_s, const struct tw_retire_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct tw_retire_req *q = &reqs[i];
		struct slot_info *s = q->slot < TW_PORT_SLOTS ? &r->slots[q->slot] : NULL;
		struct reclaim_ns *d = dying_of(r, q->key.netns_cookie, 0, false);

		switch (q->op) {
		case TW_RETIRE_UNMAP:
			if (!s)
				break;
			s->state = SLOT_RETIRING;
			s->retired_s = now_s;
			r->st.slots_unmapped++;
			break;
		case TW_RETIRE_FREE:
			if (!s)
				break;
			if (q->result == 1) {
				memset(s, 0, sizeof(*s));
				r->st.slots_freed++;
				if (d)
					d->slots_freed++;
			} else if (q->result == 2) {
				s->retired_s =
					now_s; /* a listener held it again: another interval */
			}
			break;
		case TW_RETIRE_LISTEN:
			if (d)
				d->listen_dropped += q->result;
			break;
		}
	}
}

void reclaim__row_gone(struct reclaim *r, const struct tw_port_key *key)
{
	struct reclaim_ns *d = dying_of(r, key->netns_cookie, 0, false);

	if (d) {
		d->rows++;
		if (!d->inum)
			d->inum = key->netns;
	}
}

size_t reclaim__finished(struct reclaim *r, struct reclaim_ns *out, size_t max)
{
	size_t n = 0, keep = 0;

	for (size_t i = 0; i < r->ndying; i++) {
		if (r->dying[i].left || n >= max) {
			r->dying[keep++] = r->dying[i];
			continue;
		}
		out[n++] = r->dying[i];
		r->st.netns_exited++;
	}
	r->ndying = keep;
	return n;
}

const struct reclaim_stats *reclaim__stats(const struct reclaim *r)
{
	return &r->st;
}
