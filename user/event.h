/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Decoding and rendering of ring buffer records, as NDJSON or aligned terminal lines. */
#ifndef TWSCOPE_EVENT_H
#define TWSCOPE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "buf.h"
#include "diag.h"
#include "twscope.h"

#define ADDR_STR_LEN 48

struct time_cache {
	time_t sec;
	size_t len;
	char text[32];
};

#define COMM_CACHE_SLOTS 1024

/* pid -> comm of recent events: a tw_exit carries the owner's pid only. */
struct comm_cache {
	uint32_t pid[COMM_CACHE_SLOTS];
	char comm[COMM_CACHE_SLOTS][TW_COMM_LEN];
};

struct render_ctx {
	int64_t mono_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct time_cache utc;	 /* RFC 3339 seconds of the JSON ts */
	struct time_cache local; /* HH:MM:SS of the terminal lines */
	struct comm_cache comms;
	int cols; /* terminal width for wrapped explanations; below 60 counts as 60 */
};

/* Returns the record type when len fits it, or -EINVAL. */
int event__validate(const void *data, size_t len);

/* Whole NDJSON line (with newline) for a record; bind errors take their diagnosis. */
void event__json(struct render_ctx *c, const void *rec, const struct diag_result *d,
		 uint64_t repeats, struct buf *out);
/* Aligned terminal line(s) with newline; bind errors add an indented cause/hint line. */
void event__text(struct render_ctx *c, const void *rec, const struct diag_result *d,
		 uint64_t repeats, struct buf *out);
void event__text_header(struct buf *out);

/* 2026-11-25T12:36:40.123456Z */
void fmt_rfc3339(int64_t real_ns, char *s, size_t len);
/* "127.0.0.1", "::1"; an IPv4-mapped IPv6 address stays in IPv6 form. */
void fmt_addr(int family, const uint8_t *addr, char *s, size_t len);
int64_t clock_mono_to_real_offset(void);

#endif
