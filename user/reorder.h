/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Puts the records of the per-CPU rings back in time order: records are copied in as they are
 * consumed, and drained oldest first up to a cutoff, so a record reserved just before on another
 * CPU but not yet committed still comes out in its place.
 */
#ifndef TWSCOPE_REORDER_H
#define TWSCOPE_REORDER_H

#include <stddef.h>
#include <stdint.h>

struct reorder;

typedef void (*reorder_fn)(void *ctx, void *rec);

struct reorder *reorder__new(void);
/*
 * Copies a record (it starts with struct tw_hdr); returns the copy, or NULL when out of memory.
 * *off (if not NULL) finds it again with reorder__at() until the next drain.
 */
void *reorder__add(struct reorder *r, const void *rec, size_t len, size_t *off);
void *reorder__at(struct reorder *r, size_t off);
/* Hands fn every record stamped at or before cutoff_ns, in time order (ring order on ties). */
void reorder__drain(struct reorder *r, uint64_t cutoff_ns, reorder_fn fn, void *ctx);
/* Records held. */
size_t reorder__len(const struct reorder *r);
void reorder__free(struct reorder *r);

#endif
