/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Growable byte buffer used for every rendered line. */
#ifndef TWSCOPE_BUF_H
#define TWSCOPE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	int err; /* sticky -ENOMEM */
};

void buf__reset(struct buf *b);
void buf__free(struct buf *b);
int buf__put_slow(struct buf *b, const void *p, size_t n);

/* Inline while the room is there: the renderers append a few bytes at a time, per event. */
static inline int buf__put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap || b->err)
		return buf__put_slow(b, p, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static inline int buf__putc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap || b->err)
		return buf__put_slow(b, &c, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
}

/*
 * Room for n more bytes, written through the pointer returned and ended with buf__commit(): a
 * whole line with plain stores instead of a call per field. NULL without memory.
 */
int buf__reserve(struct buf *b, size_t n);

static inline char *buf__room(struct buf *b, size_t n)
{
	if ((b->len + n + 1 > b->cap || b->err) && buf__reserve(b, n))
		return NULL;
	return b->data + b->len;
}

/* end: one past the last byte written into the room. */
static inline void buf__commit(struct buf *b, char *end)
{
	b->len = end - b->data;
	b->data[b->len] = '\0';
}

static inline int buf__puts(struct buf *b, const char *s)
{
	return buf__put(b, s, strlen(s));
}
int buf__printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf__vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Decimal without printf: the renderers run once per event. */
int buf__u64(struct buf *b, unsigned long long v);
int buf__i64(struct buf *b, long long v);
/* v / 10^decimals with that many decimals, e.g. (598, 1) -> "59.8". */
int buf__fixed(struct buf *b, unsigned long long v, int decimals);
/* Appends n spaces. */
int buf__spaces(struct buf *b, size_t n);
/* Appends text wrapped at cols, each line indented and ended: words longer than a line are cut. */
void buf__wrapped(struct buf *out, const char *text, size_t indent, size_t cols);

#endif
