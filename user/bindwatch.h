/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Explains bind/listen/connect failures, coalesced: per (netns, call, address, port) at most one
 * holder walk per window, whose sockets explain every failure of the window. The first
 * BINDWATCH_BURST failures of a window are reported at once; later ones are counted and reported
 * as one event with "repeats" when the window closes. Holder collection is a callback.
 */
#ifndef TWSCOPE_BINDWATCH_H
#define TWSCOPE_BINDWATCH_H

#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "twscope.h"

#define BINDWATCH_BURST 10

typedef int (*bindwatch_collect_fn)(void *ctx, const struct tw_bind_rec *r, struct diag_sock **out,
				    size_t *n);
typedef void (*bindwatch_emit_fn)(void *ctx, const struct tw_bind_rec *r,
				  const struct diag_result *d, uint64_t repeats);

struct bindwatch;

struct bindwatch *bindwatch__new(uint64_t window_ns, bindwatch_collect_fn collect,
				 bindwatch_emit_fn emit, void *ctx);
void bindwatch__add(struct bindwatch *w, const struct tw_bind_rec *r, uint64_t now_ns);
/* Reports failures held back whose window has closed. */
void bindwatch__tick(struct bindwatch *w, uint64_t now_ns);
/* Reports everything held back (at exit). */
void bindwatch__flush(struct bindwatch *w);
/* Holder walks done so far. */
uint64_t bindwatch__walks(const struct bindwatch *w);
/* Failures reported per call, errno slot (0 EADDRINUSE, 1 EADDRNOTAVAIL) and cause. */
uint64_t bindwatch__count(const struct bindwatch *w, int call, int errslot, int cause);
void bindwatch__free(struct bindwatch *w);

#endif
