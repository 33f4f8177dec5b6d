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
/* Continues an object whose opening and first members are in b already. */
void jw__init_member(struct jw *w, struct buf *b);
void jw__key_slow(struct jw *w, const char *key, size_t n, bool comma);

/*
 * Writes the comma and "key": of the next member, for a value the caller appends. Inline, with
 * one bounds check: it runs a dozen times per event, and a literal key's length folds away.
 */
static inline void jw__key(struct jw *w, const char *key)
{
	struct buf *b = w->b;
	size_t n = key ? strlen(key) : 0;
	bool comma = !w->first[w->depth];
	char *d;

	w->first[w->depth] = false;
	/* keys are this program's own identifiers: nothing to escape */
	if (b->len + n + 5 > b->cap || b->err) {
		jw__key_slow(w, key, n, comma);
		return;
	}
	d = b->data + b->len;
	if (comma)
		*d++ = ',';
	if (key) {
		*d++ = '"';
		memcpy(d, key, n);
		d += n;
		*d++ = '"';
		*d++ = ':';
	}
	*d = '\0';
	b->len = d - b->data;
}

void jw__obj_open(struct jw *w, const char *key);
void jw__obj_close(struct jw *w);
void jw__arr_open(struct jw *w, const char *key);
void jw__arr_close(struct jw *w);
void jw__str(struct jw *w, const char *key, const char *val);
/* A string this program made (a name from its tables, a formatted address): printable ASCII
 * without quotes or backslashes, so it is written as is. */
static inline void jw__name(struct jw *w, const char *key, const char *val)
{
	jw__key(w, key);
	buf__putc(w->b, '"');
	buf__puts(w->b, val);
	buf__putc(w->b, '"');
}
/* Like jw__str but for a fixed-size field that may lack a NUL (comm). */
void jw__strn(struct jw *w, const char *key, const char *val, size_t n);
static inline void jw__u64(struct jw *w, const char *key, uint64_t v)
{
	jw__key(w, key);
	buf__u64(w->b, v);
}

void jw__i64(struct jw *w, const char *key, int64_t v);
void jw__bool(struct jw *w, const char *key, bool v);
void jw__null(struct jw *w, const char *key);

/* Appends s as a JSON string literal: quotes, backslash, control bytes and invalid UTF-8 escaped.
 */
void json_escape(struct buf *b, const char *s, size_t n);
/* The same into p, which has room for JSON_ESCAPED_MAX(n) bytes; returns the end. */
#define JSON_ESCAPED_MAX(n) (6 * (n) + 2)
char *json_escape_p(char *p, const char *s, size_t n);

#endif
