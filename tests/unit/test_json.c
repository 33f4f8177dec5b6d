// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON escaping (a comm can hold any byte), the writer's commas, and name lookups' bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "json.h"
#include "names.h"

static const char *esc(struct buf *b, const char *s, size_t n)
{
	buf__reset(b);
	json_escape(b, s, n);
	return b->data;
}

static void test_escape_specials(void **state)
{
	struct buf b = {};

	assert_string_equal(esc(&b, "a\"b", 3), "\"a\\\"b\"");
	assert_string_equal(esc(&b, "a\\b", 3), "\"a\\\\b\"");
	assert_string_equal(esc(&b, "\n\r\t", 3), "\"\\n\\r\\t\"");
	assert_string_equal(esc(&b, "plain", 5), "\"plain\"");
	buf__free(&b);
}

/* Every byte below 0x20 comes out escaped, never raw. */
static void test_escape_every_control_byte(void **state)
{
	struct buf b = {};
	char in[2] = {}, want[16];

	for (int c = 1; c < 0x20; c++) {
		in[0] = c;
		esc(&b, in, 1);
		for (size_t i = 0; i < b.len; i++)
			assert_true((unsigned char)b.data[i] >= 0x20);
		if (c == '\n' || c == '\r' || c == '\t')
			continue;
		snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		assert_string_equal(b.data, want);
	}
	esc(&b, "\x7f", 1);
	assert_string_equal(b.data, "\"\\u007f\"");
	buf__free(&b);
}

static void test_escape_utf8(void **state)
{
	struct buf b = {};

	/* valid UTF-8 passes through */
	assert_string_equal(esc(&b, "caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
	/* a stray continuation byte and a truncated sequence are escaped */
	assert_string_equal(esc(&b, "a\x80", 2), "\"a\\u0080\"");
	assert_string_equal(esc(&b, "\xe2\x82", 2), "\"\\u00e2\\u0082\"");
	/* an overlong encoding of '/' is not valid UTF-8 */
	assert_string_equal(esc(&b, "\xc0\xaf", 2), "\"\\u00c0\\u00af\"");
	buf__free(&b);
}

static void test_escape_stops_at_nul_and_len(void **state)
{
	struct buf b = {};
	const char comm[16] = "0123456789abcdef"; /* no NUL: a full comm */

	assert_string_equal(esc(&b, "ab\0cd", 5), "\"ab\"");
	assert_string_equal(esc(&b, comm, 16), "\"0123456789abcdef\"");
	assert_string_equal(esc(&b, "abc", 2), "\"ab\"");
	buf__free(&b);
}

static void test_writer(void **state)
{
	struct buf b = {};
	struct jw w;

	jw__init(&w, &b);
	jw__obj_open(&w, NULL);
	jw__str(&w, "type", "x");
	jw__u64(&w, "n", 18446744073709551615ULL);
	jw__i64(&w, "neg", -5);
	jw__bool(&w, "t", true);
	jw__arr_open(&w, "list");
	jw__u64(&w, NULL, 1);
	jw__u64(&w, NULL, 2);
	jw__obj_open(&w, NULL);
	jw__null(&w, "z");
	jw__obj_close(&w);
	jw__arr_close(&w);
	jw__strn(&w, "comm", "ab\x01", 3);
	jw__obj_close(&w);
	assert_string_equal(b.data,
			    "{\"type\":\"x\",\"n\":18446744073709551615,\"neg\":-5,\"t\":true,"
			    "\"list\":[1,2,{\"z\":null}],\"comm\":\"ab\\u0001\"}");
	buf__free(&b);
}

/* Keys and names written in place or through the growing path read the same. */
static void test_writer_across_growth(void **state)
{
	struct buf b = {};
	struct jw w;
	char want[4096] = "{", key[8];
	size_t n = 1;

	jw__init(&w, &b);
	jw__obj_open(&w, NULL);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (i % 2)
			jw__name(&w, key, "127.0.0.1");
		else
			jw__u64(&w, key, i);
		n += snprintf(want + n, sizeof(want) - n,
			      i % 2 ? "%s\"%s\":\"127.0.0.1\"" : "%s\"%s\":%d", i ? "," : "", key,
			      i);
	}
	jw__obj_close(&w);
	snprintf(want + n, sizeof(want) - n, "}");
	assert_int_equal(b.err, 0);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));
	buf__free(&b);
}

static void test_state_names(void **state)
{
	char eb[16];

	assert_string_equal(tcp_state_name(1), "ESTAB");
	assert_string_equal(tcp_state_name(6), "TIME-WAIT");
	assert_string_equal(tcp_state_name(7), "UNCONN");
	assert_string_equal(tcp_state_name(10), "LISTEN");
	assert_string_equal(tcp_state_name(0), "UNKNOWN");
	assert_string_equal(tcp_state_name(-1), "UNKNOWN");
	assert_string_equal(tcp_state_name(14), "UNKNOWN");
	assert_string_equal(tcp_state_name(255), "UNKNOWN");
	assert_string_equal(tcp_state_name(1 << 30), "UNKNOWN");
	assert_string_equal(tw_substate_name(6), "TIME_WAIT");
	assert_string_equal(tw_substate_name(5), "FIN_WAIT2");
	assert_string_equal(tw_substate_name(200), "UNKNOWN");
	assert_string_equal(errno_name(98, eb, sizeof(eb)), "EADDRINUSE");
	assert_string_equal(errno_name(99, eb, sizeof(eb)), "EADDRNOTAVAIL");
	assert_string_equal(errno_name(1234, eb, sizeof(eb)), "E1234");
	assert_string_equal(call_name(7), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_every_control_byte),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_escape_stops_at_nul_and_len),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_writer_across_growth),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
