// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "json.h"

#define PUT_ESC(p, c) ((p)[0] = '\\', (p)[1] = (c), (p) + 2)

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not valid UTF-8 */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static char *put_u4(char *p, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	memcpy(p, "\\u00", 4);
	p[4] = hex[c >> 4];
	p[5] = hex[c & 15];
	return p + 6;
}

char *json_escape_p(char *p, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, len;

	*p++ = '"';
	while (i < n && u[i]) {
		unsigned char c = u[i];

		/* printable ASCII needs no escape */
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*p++ = c;
			i++;
			continue;
		}
		switch (c) {
		case '"':
		case '\\':
			*p++ = '\\';
			*p++ = c;
			break;
		case '\n':
			p = PUT_ESC(p, 'n');
			break;
		case '\r':
			p = PUT_ESC(p, 'r');
			break;
		case '\t':
			p = PUT_ESC(p, 't');
			break;
		default:
			len = c < 0x20 || c == 0x7f ? 0 : utf8_seq(u + i, n - i);
			/* a stray byte is shown as the Latin-1 character of that value */
			if (!len) {
				p = put_u4(p, c);
				break;
			}
			memcpy(p, u + i, len);
			p += len;
			i += len;
			continue;
		}
		i++;
	}
	*p++ = '"';
	return p;
}

void json_escape(struct buf *b, const char *s, size_t n)
{
	char *p = buf__room(b, JSON_ESCAPED_MAX(n));

	if (p)
		buf__commit(b, json_escape_p(p, s, n));
}

void jw__init(struct jw *w, struct buf *b)
{
	w->b = b;
	w->depth = 0;
	w->first[0] = true;
}

void jw__init_member(struct jw *w, struct buf *b)
{
	w->b = b;
	w->depth = 1;
	w->first[0] = w->first[1] = false;
}

void jw__key_slow(struct jw *w, const char *key, size_t n, bool comma)
{
	if (comma)
		buf__putc(w->b, ',');
	if (key) {
		buf__putc(w->b, '"');
		buf__put(w->b, key, n);
		buf__put(w->b, "\":", 2);
	}
}

static void jw_open(struct jw *w, const char *key, char c)
{
	jw__key(w, key);
	buf__putc(w->b, c);
	if (w->depth < JW_MAX_DEPTH - 1)
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct jw *w, char c)
{
	buf__putc(w->b, c);
	if (w->depth > 0)
		w->depth--;
}

void jw__obj_open(struct jw *w, const char *key)
{
	jw_open(w, key, '{');
}

void jw__obj_close(struct jw *w)
{
	jw_close(w, '}');
}

void jw__arr_open(struct jw *w, const char *key)
{
	jw_open(w, key, '[');
}

void jw__arr_close(struct jw *w)
{
	jw_close(w, ']');
}

void jw__str(struct jw *w, const char *key, const char *val)
{
	jw__key(w, key);
	json_escape(w->b, val, strlen(val));
}

void jw__strn(struct jw *w, const char *key, const char *val, size_t n)
{
	jw__key(w, key);
	json_escape(w->b, val, strnlen(val, n));
}

void jw__i64(struct jw *w, const char *key, int64_t v)
{
	jw__key(w, key);
	buf__i64(w->b, v);
}

void jw__bool(struct jw *w, const char *key, bool v)
{
	jw__key(w, key);
	buf__puts(w->b, v ? "true" : "false");
}

void jw__null(struct jw *w, const char *key)
{
	jw__key(w, key);
	buf__puts(w->b, "null");
}
