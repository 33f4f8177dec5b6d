/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Names the processes that own the sockets a bind snapshot captured, by socket inode: one
 * iter/task pass over the descriptors for the inodes not seen before, remembered, so a storm on one
 * holder walks once. An owner named earlier whose process is gone is reported as exited, not
 * dropped.
 */
#ifndef TWSCOPE_OWNERS_H
#define TWSCOPE_OWNERS_H

#include <stddef.h>
#include <stdint.h>
#include "twscope.h"

struct owners;

/*
 * Runs one owner pass for these socket inodes (at most TW_ITER_INOS): fills a malloc'd buffer
 * of tw_owner_rec, one per process holding some of them. 0 or -errno.
 */
typedef int (*owners_walk_fn)(void *ctx, const uint64_t *inos, uint32_t n, void **data,
			      size_t *len);

struct owners *owners__new(owners_walk_fn walk, void *ctx);
/* The owners of n socket inodes (0: none asked), in out; pid 0 where none was found. */
void owners__lookup(struct owners *o, const uint64_t *inos, uint32_t n, struct tw_proc *out,
		    uint64_t now_ns);
/*
 * Names the holders of the records that just arrived, in one pass: who holds each socket now
 * (a listener named by its listen() too); a holder left unnamed because passes are rationed
 * is marked TW_HOLDER_NOT_LOOKED_UP.
 */
void owners__name(struct owners *o, struct tw_snap_rec *const *recs, size_t nrecs, uint64_t now_ns);
/* Marks the owners whose process has exited since: call it when the failure is explained. */
void owners__mark_gone(struct owners *o, struct tw_snap_rec *rec, uint64_t now_ns);
/* Owner passes run so far, and holders not looked up because the passes were rationed. */
uint64_t owners__walks(const struct owners *o);
uint64_t owners__skipped(const struct owners *o);
void owners__free(struct owners *o);

#endif
