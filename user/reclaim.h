/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * When per-port state goes back to the kernel's free list. A slot goes in two steps, an interval
 * apart: unmapped (no new event finds it), then, once nothing has written it since and no
 * TIME_WAIT counts in it, freed with its last values, which stay in its key's row. A slot is
 * taken back when its namespace died (missing from a complete walk of the kernel's namespaces
 * that began after the slot was read) or when it was idle (no TIME_WAIT, no count) for idle_s.
 * A dead namespace's listener entries go too; it is done when none of its slots, rows or entries
 * is left. Pure: no I/O, no BPF.
 */
#ifndef TWSCOPE_RECLAIM_H
#define TWSCOPE_RECLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agg.h"
#include "twscope.h"

/* A namespace that died, while its state is taken back. */
struct reclaim_ns {
	uint64_t cookie;
	uint32_t inum;
	uint32_t slots_freed;
	uint32_t listen_dropped;
	uint32_t rows; /* rows that left the outputs */
	bool left;     /* slots, rows or listener entries of it were still there at the last plan */
};

struct reclaim_stats {
	uint64_t slots_freed;
	uint64_t slots_unmapped;
	uint64_t netns_exited;
	uint32_t slots_used; /* slots with a key at the last plan */
};

struct reclaim;

struct reclaim *reclaim__new(unsigned int idle_s);
/* The namespaces of a walk; an incomplete walk (or none) declares no namespace dead. */
int reclaim__set_live(struct reclaim *r, const struct tw_netns_id *ids, size_t n, bool complete);
/* False only for a namespace known to have died. */
bool reclaim__alive(const struct reclaim *r, uint64_t cookie);
/*
 * Requests for the slots of the latest sample (rows, read before the walk) and the namespaces
 * of the listener entries (listen_cookies, read before the walk); returns how many (<= max).
 */
size_t reclaim__plan(struct reclaim *r, uint64_t now_s, const struct port_row *rows, size_t n,
		     const uint64_t *listen_cookies, size_t nlisten, struct tw_retire_req *out,
		     size_t max);
/* The kernel did reqs (their results filled in). */
void reclaim__done(struct reclaim *r, uint64_t now_s, const struct tw_retire_req *reqs, size_t n);
/* A row left the outputs: counted to its namespace if it died. */
void reclaim__row_gone(struct reclaim *r, const struct tw_port_key *key);
/* Dead namespaces with nothing left since the last plan, taken out of the list; how many. */
size_t reclaim__finished(struct reclaim *r, struct reclaim_ns *out, size_t max);
const struct reclaim_stats *reclaim__stats(const struct reclaim *r);
void reclaim__free(struct reclaim *r);

#endif
