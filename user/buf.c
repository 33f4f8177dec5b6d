// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"

void buf__reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf__free(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->err)
		return b->err;
	if (b->len + need + 1 <= b->cap)
		return 0;
	while (cap < b->len + need + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf__reserve(struct buf *b, size_t n)
{
	return buf_grow(b, n);
}

int buf__put_slow(struct buf *b, const void *p, size_t n)
{
	int err = buf_grow(b, n);

	if (err)
		return err;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf__vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, err;

	/* one pass when the room is there, which is nearly always */
	if (!b->err && b->cap - b->len > 1) {
		va_copy(cp, ap);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
		va_end(cp);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < b->cap - b->len) {
			b->len += n;
			return 0;
		}
		b->data[b->len] = '\0';
	} else {
		va_copy(cp, ap);
		n = vsnprintf(NULL, 0, fmt, cp);
		va_end(cp);
		if (n < 0)
			return -EINVAL;
	}
	err = buf_grow(b, n);
	if (err)
		return err;
	vsnprintf(b->data + b->len, n + 1, fmt, ap);
	b->len += n;
	return 0;
}

int buf__u64(struct buf *b, unsigned long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);

	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v);
	return buf__put(b, p, tmp + sizeof(tmp) - p);
}

int buf__i64(struct buf *b, long long v)
{
	if (v < 0) {
		buf__putc(b, '-');
		return buf__u64(b, -(unsigned long long)v);
	}
	return buf__u64(b, v);
}

int buf__fixed(struct buf *b, unsigned long long v, int decimals)
{
	unsigned long long div = 1;
	char frac[24];

	for (int i = 0; i < decimals; i++)
		div *= 10;
	buf__u64(b, v / div);
	if (!decimals)
		return 0;
	buf__putc(b, '.');
	v %= div;
	for (int i = decimals - 1; i >= 0; i--, v /= 10)
		frac[i] = '0' + v % 10;
	return buf__put(b, frac, decimals);
}

int buf__spaces(struct buf *b, size_t n)
{
	static const char sp[] = "                                ";
	int err = 0;

	while (!err && n) {
		size_t k = n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;

		err = buf__put(b, sp, k);
		n -= k;
	}
	return err;
}

int buf__printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = buf__vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

/* Appends text wrapped at cols, every line indented: words longer than a line are cut. */
void buf__wrapped(struct buf *out, const char *text, size_t indent, size_t cols)
{
	size_t room = cols > indent + 20 ? cols - indent : 20;

	while (*text) {
		size_t n = strlen(text), cut = n;

		if (n > room) {
			cut = room;
			while (cut > room / 2 && text[cut] != ' ')
				cut--;
			if (text[cut] != ' ')
				cut = room;
		}
		buf__spaces(out, indent);
		buf__put(out, text, cut);
		buf__putc(out, '\n');
		text += cut;
		while (*text == ' ')
			text++;
	}
}
