/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Explains bind/listen/connect failures, each from its own kernel snapshot, and coalesces
 * storms: failures alike in everything that is printed (netns, call, address, port, caller,
 * and holders) share a key; the first BINDWATCH_BURST of a key per window are reported at once,
 * later ones are counted and reported as one event with "repeats" when the window closes.
 * Failures with other holders or another caller never merge.
 */
#ifndef TWSCOPE_BINDWATCH_H
#define TWSCOPE_BINDWATCH_H

#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "twscope.h"

#define BINDWATCH_BURST 10

typedef void (*bindwatch_emit_fn)(void *ctx, const struct tw_snap_rec *r,
				  const struct diag_result *d, uint64_t repeats);

struct bindwatch;

struct bindwatch *bindwatch__new(uint64_t window_ns, bindwatch_emit_fn emit, void *ctx);
void bindwatch__add(struct bindwatch *w, const struct tw_snap_rec *r, uint64_t now_ns);
/* Reports failures held back whose window has closed. */
void bindwatch__tick(struct bindwatch *w, uint64_t now_ns);
/* Reports everything held back (at exit). */
void bindwatch__flush(struct bindwatch *w);
/* Failures reported per call, errno slot (0 EADDRINUSE, 1 EADDRNOTAVAIL) and cause. */
uint64_t bindwatch__count(const struct bindwatch *w, int call, int errslot, int cause);
void bindwatch__free(struct bindwatch *w);

#endif
