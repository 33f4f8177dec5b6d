/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-port rows for the aggregation, timeline and metrics tests. */
#ifndef TWSCOPE_TEST_ROWS_H
#define TWSCOPE_TEST_ROWS_H

#include <stdint.h>
#include <sys/socket.h>
#include "agg.h"

#define NETNS	     4026531840u
#define NETNS_COOKIE 4096u

/* A served port's row: side local, the gauge at its own peak. */
static inline struct port_row local_row(uint16_t port, int64_t tw, uint64_t entered)
{
	struct port_row r = {};

	r.key.netns_cookie = NETNS_COOKIE;
	r.key.netns = NETNS;
	r.key.port = port;
	r.key.side = TW_SIDE_LOCAL;
	r.key.family = AF_INET;
	r.val.tw = tw;
	r.val.tw_peak = tw > 0 ? (uint64_t)tw : 0;
	r.val.entered = entered;
	return r;
}

#endif
