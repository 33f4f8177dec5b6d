// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "event.h"
#include "owners.h"

#define OWN_SLOTS   8192 /* remembered inodes, direct-mapped */
#define ALIVE_SLOTS 256	 /* remembered liveness of pids */
#define MS	    1000000ULL
#define KEEP_NS	    (10000 * MS) /* a named inode is looked up again after this */
#define MISS_NS	    (1000 * MS)	 /* an inode no process had is not looked for again before */
#define ALIVE_NS    (100 * MS)
/* Passes over every process's descriptors: at most this many a second, in bursts of a few. */
#define WALKS_PER_S 20
#define WALK_BURST  5

struct own_entry {
	uint64_t ino; /* 0: free */
	uint64_t seen_ns;
	uint32_t pid; /* 0: no process had it */
	char comm[TW_COMM_LEN];
};

struct alive_entry {
	uint32_t pid;
	bool gone;
	uint64_t checked_ns;
};

struct owners {
	owners_walk_fn walk;
	void *ctx;
	uint64_t walks;
	uint64_t skipped; /* holders left unnamed because the pass budget was spent */
	double tokens;
	uint64_t tokens_ns;
	struct own_entry own[OWN_SLOTS];
	struct alive_entry alive[ALIVE_SLOTS];
};

struct owners *owners__new(owners_walk_fn walk, void *ctx)
{
	struct owners *o = calloc(1, sizeof(*o));

	if (o) {
		o->walk = walk;
		o->ctx = ctx;
		o->tokens = WALK_BURST;
	}
	return o;
}

void owners__free(struct owners *o)
{
	free(o);
}

uint64_t owners__walks(const struct owners *o)
{
	return o->walks;
}

uint64_t owners__skipped(const struct owners *o)
{
	return o->skipped;
}

static struct own_entry *slot_of(struct owners *o, uint64_t ino)
{
	return &o->own[(ino * 0x9E3779B97F4A7C15ULL) >> 51 & (OWN_SLOTS - 1)];
}

static const struct own_entry *lookup(struct owners *o, uint64_t ino, uint64_t now_ns)
{
	const struct own_entry *e = slot_of(o, ino);

	if (e->ino != ino || now_ns - e->seen_ns > (e->pid ? KEEP_NS : MISS_NS))
		return NULL;
	return e;
}

static void remember(struct owners *o, uint64_t ino, uint32_t pid, const char *comm,
		     uint64_t now_ns)
{
	struct own_entry *e = slot_of(o, ino);

	e->ino = ino;
	e->pid = pid;
	e->seen_ns = now_ns;
	memset(e->comm, 0, sizeof(e->comm));
	if (comm)
		memcpy(e->comm, comm, sizeof(e->comm));
}

/* A process that has exited has no /proc entry, or is a zombie waiting for its parent. */
static bool pid_gone(struct owners *o, uint32_t pid, uint64_t now_ns)
{
	struct alive_entry *a = &o->alive[pid % ALIVE_SLOTS];
	char path[48], buf[512], *p;
	ssize_t n;
	int fd;

	if (a->pid == pid && now_ns - a->checked_ns < ALIVE_NS)
		return a->gone;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	a->pid = pid;
	a->checked_ns = now_ns;
	a->gone = true;
	if (n > 0) {
		buf[n] = '\0';
		/* "pid (comm) S ...": the comm may hold ')' itself, the state follows the last */
		p = strrchr(buf, ')');
		a->gone = !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
	}
	return a->gone;
}

/* Takes one pass from the budget, refilled at WALKS_PER_S; false when it is spent. */
static bool take_pass(struct owners *o, uint64_t now_ns)
{
	if (o->tokens_ns)
		o->tokens += (double)(now_ns - o->tokens_ns) * WALKS_PER_S / 1e9;
	o->tokens_ns = now_ns;
	if (o->tokens > WALK_BURST)
		o->tokens = WALK_BURST;
	if (o->tokens < 1)
		return false;
	o->tokens -= 1;
	return true;
}

static int by_value(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* One owner pass for the inodes in want (sorted, unique); what it finds and misses is kept. */
static void walk(struct owners *o, const uint64_t *want, uint32_t n, uint64_t now_ns)
{
	void *data = NULL;
	size_t len = 0;

	o->walks++;
	for (uint32_t i = 0; i < n; i++)
		remember(o, want[i], 0, NULL, now_ns);
	if (o->walk(o->ctx, want, n, &data, &len) == 0) {
		for (size_t off = 0; off + sizeof(struct tw_hdr) <= len;) {
			const struct tw_owner_rec *r = (const void *)((const char *)data + off);
			const struct own_entry *e;
			int type = event__validate(r, len - off);

			if (type < 0)
				break;
			off += r->hdr.size;
			if (type != TW_REC_OWNER || !r->pid ||
			    !bsearch(&r->ino, want, n, sizeof(*want), by_value))
				continue;
			/* of a socket shared by pre-forked servers, the lowest pid: the parent */
			e = lookup(o, r->ino, now_ns);
			if (!e || !e->pid || r->pid < e->pid)
				remember(o, r->ino, r->pid, r->comm, now_ns);
		}
	}
	free(data);
}

/* Looks the inodes up in one pass, if any is new and the budget allows; false if skipped. */
static bool look_up(struct owners *o, uint64_t *want, uint32_t n, uint64_t now_ns)
{
	uint32_t k = 0;

	qsort(want, n, sizeof(*want), by_value);
	for (uint32_t i = 0; i < n; i++)
		if (want[i] && (!k || want[i] != want[k - 1]) && !lookup(o, want[i], now_ns))
			want[k++] = want[i];
	if (!k)
		return true;
	if (!take_pass(o, now_ns))
		return false;
	walk(o, want, k, now_ns);
	return true;
}

void owners__lookup(struct owners *o, const uint64_t *inos, uint32_t n, struct tw_proc *out,
		    uint64_t now_ns)
{
	uint64_t want[TW_ITER_INOS];
	uint32_t k = n < TW_ITER_INOS ? n : TW_ITER_INOS;

	memcpy(want, inos, k * sizeof(*want));
	look_up(o, want, k, now_ns);
	for (uint32_t i = 0; i < n; i++) {
		const struct own_entry *e = inos[i] ? lookup(o, inos[i], now_ns) : NULL;

		memset(&out[i], 0, sizeof(out[i]));
		if (e && e->pid) {
			out[i].pid = e->pid;
			memcpy(out[i].comm, e->comm, sizeof(out[i].comm));
		}
	}
}

void owners__name(struct owners *o, struct tw_snap_rec *const *recs, size_t nrecs, uint64_t now_ns)
{
	uint64_t want[TW_ITER_INOS];
	uint32_t n = 0;
	bool looked;

	/* every socket with a file, a listener named by its listen() too: it may have moved on */
	for (size_t r = 0; r < nrecs; r++)
		for (uint32_t i = 0; i < recs[r]->bind.nholders && i < TW_SNAP_HOLDERS; i++)
			if (recs[r]->holders[i].ino && n < TW_ITER_INOS)
				want[n++] = recs[r]->holders[i].ino;
	looked = look_up(o, want, n, now_ns);
	for (size_t r = 0; r < nrecs; r++) {
		for (uint32_t i = 0; i < recs[r]->bind.nholders && i < TW_SNAP_HOLDERS; i++) {
			struct tw_holder_rec *h = &recs[r]->holders[i];
			const struct own_entry *e = h->ino ? lookup(o, h->ino, now_ns) : NULL;

			if (e && e->pid) {
				/* who holds it now: a daemon's child after its parent listened */
				h->owner.pid = e->pid;
				memcpy(h->owner.comm, e->comm, sizeof(h->owner.comm));
				h->flags &= ~TW_HOLDER_LISTEN_OWNER;
			} else if (h->ino && !e && !h->owner.pid) {
				h->flags |= TW_HOLDER_NOT_LOOKED_UP;
				o->skipped += !looked;
			}
		}
	}
}

void owners__mark_gone(struct owners *o, struct tw_snap_rec *rec, uint64_t now_ns)
{
	uint32_t n = rec->bind.nholders < TW_SNAP_HOLDERS ? rec->bind.nholders : TW_SNAP_HOLDERS;

	for (uint32_t i = 0; i < n; i++) {
		struct tw_holder_rec *h = &rec->holders[i];

		if (h->owner.pid && pid_gone(o, h->owner.pid, now_ns))
			h->flags |= TW_HOLDER_OWNER_GONE;
	}
}
