/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Minimal NDJSON writer: objects and arrays into a struct buf, commas handled. */
#ifndef TWSCOPE_JSON_H
#define TWSCOPE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include "buf.h"

#define JW_MAX_DEPTH 8

struct jw {
	struct buf *b;
	int depth;
	bool first[JW_MAX_DEPTH];
};

void jw__init(struct jw *w, struct buf *b);
/* Writes the comma and "key": of the next member, for a value the caller appends. */
void jw__key(struct jw *w, const char *key);
void jw__obj_open(struct jw *w, const char *key);
void jw__obj_close(struct jw *w);
void jw__arr_open(struct jw *w, const char *key);
void jw__arr_close(struct jw *w);
void jw__str(struct jw *w, const char *key, const char *val);
/* Like jw__str but for a fixed-size field that may lack a NUL (comm). */
void jw__strn(struct jw *w, const char *key, const char *val, size_t n);
void jw__u64(struct jw *w, const char *key, uint64_t v);
void jw__i64(struct jw *w, const char *key, int64_t v);
void jw__bool(struct jw *w, const char *key, bool v);
void jw__null(struct jw *w, const char *key);

/* Appends s as a JSON string literal: quotes, backslash, control bytes and invalid UTF-8 escaped.
 */
void json_escape(struct buf *b, const char *s, size_t n);

#endif
