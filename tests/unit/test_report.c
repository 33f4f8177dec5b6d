// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Interval outputs: sparkline cells, timeline column alignment, the counts record and totals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "report.h"
#include "rows.h"

#define SPARK_WIDTH 48 /* report.c's sparkline width in the timeline */

static const char *const blocks[] = { " ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
static const char ascii[] = " .:-=+*#%@";

/* Display columns of a UTF-8 string: continuation bytes take no column. */
static size_t utf8_width(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

static struct port_row remote_row(int family, const char *addr, uint16_t port, int64_t tw)
{
	struct port_row r = local_row(port, tw, 0);

	r.key.side = TW_SIDE_REMOTE;
	r.key.family = family;
	assert_int_equal(inet_pton(family, addr, r.key.addr), 1);
	return r;
}

/* Cell levels of a rendered sparkline (0 = space, top = full); returns the cell count. */
static size_t levels(const char *s, bool utf8, int *lv, size_t max)
{
	size_t n = 0;

	while (*s && n < max) {
		int l = -1;

		if (utf8) {
			for (int i = 8; i >= 0 && l < 0; i--)
				if (!strncmp(s, blocks[i], strlen(blocks[i])))
					l = i;
			assert_true(l >= 0);
			s += strlen(blocks[l]);
		} else {
			const char *p = strchr(ascii, *s);

			assert_non_null(p);
			l = p - ascii;
			s++;
		}
		lv[n++] = l;
	}
	assert_int_equal(*s, '\0');
	return n;
}

static const char *spark(struct buf *b, const uint32_t *v, size_t n, size_t width, bool utf8)
{
	buf__reset(b);
	report__sparkline(v, n, width, utf8, b);
	buf__putc(b, '\0');
	return b->data;
}

/* Whatever the sample count, the cell takes exactly width display columns. */
static void test_sparkline_width(void **state)
{
	static const size_t ns[] = { 0, 1, 5, 47, 48, 49, 95, 100, 3600 };
	static const size_t widths[] = { 1, 10, 48 };
	uint32_t *v = calloc(3600, sizeof(*v));
	struct buf b = {};
	int lv[64];

	assert_non_null(v);
	for (size_t i = 0; i < 3600; i++)
		v[i] = i % 7 + 1;
	for (int utf8 = 0; utf8 <= 1; utf8++)
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			for (size_t j = 0; j < sizeof(widths) / sizeof(widths[0]); j++) {
				const char *s = spark(&b, v, ns[i], widths[j], utf8);

				assert_int_equal(utf8_width(s, strlen(s)), widths[j]);
				assert_int_equal(levels(s, utf8, lv, 64), widths[j]);
			}
	free(v);
	buf__free(&b);
}

/* Right-aligned: the newest sample is the last column, padding goes on the left. */
static void test_sparkline_newest_last(void **state)
{
	uint32_t v[100] = {};
	struct buf b = {};
	int lv[48];

	v[99] = 1000;
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		assert_int_equal(levels(spark(&b, v, 100, 48, utf8), utf8, lv, 48), 48);
		for (int i = 0; i < 47; i++)
			assert_int_equal(lv[i], 0);
		assert_int_equal(lv[47], 8 + !utf8);
	}
	/* ten samples in 48 columns: 38 columns of padding, the oldest sample right after them */
	memset(v, 0, sizeof(v));
	v[0] = 900;
	v[9] = 300;
	assert_int_equal(levels(spark(&b, v, 10, 48, false), false, lv, 48), 48);
	assert_int_equal(lv[37], 0);
	assert_int_equal(lv[38], 9);
	assert_true(lv[47] > 0 && lv[47] < 9);
	buf__free(&b);
}

static void test_sparkline_zero_is_space_peak_is_full(void **state)
{
	const uint32_t v[] = { 0, 1000, 0, 500, 1 };
	struct buf b = {};
	int lv[5];

	assert_int_equal(levels(spark(&b, v, 5, 5, true), true, lv, 5), 5);
	assert_int_equal(lv[0], 0);
	assert_int_equal(lv[1], 8);
	assert_int_equal(lv[2], 0);
	assert_true(lv[3] > 0 && lv[3] < 8);
	/* one socket against a peak of 1000 must still show, not vanish into a space */
	assert_true(lv[4] > 0);
	assert_int_equal(levels(spark(&b, v, 5, 5, false), false, lv, 5), 5);
	assert_int_equal(lv[0], 0);
	assert_int_equal(lv[1], 9);
	assert_int_equal(lv[2], 0);
	assert_true(lv[3] > 0 && lv[3] < 9);
	assert_true(lv[4] > 0);
	buf__free(&b);
}

/* The peak is the full cell whatever its size: a port with one TIME_WAIT is not drawn as "▁". */
static void test_sparkline_small_peak_is_full(void **state)
{
	struct buf b = {};

	for (uint32_t peak = 1; peak <= 20; peak++) {
		const uint32_t v[] = { 0, peak };

		assert_string_equal(spark(&b, v, 2, 2, true), " █");
		assert_string_equal(spark(&b, v, 2, 2, false), " @");
	}
	buf__free(&b);
}

static void test_sparkline_monotonic(void **state)
{
	uint32_t v[200];
	struct buf b = {};
	int lv[200];

	for (int i = 0; i < 200; i++)
		v[i] = i + 1;
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		for (size_t width = 10; width <= 200; width += 190) {
			size_t n = levels(spark(&b, v, 200, width, utf8), utf8, lv, 200);

			assert_int_equal(n, width);
			for (size_t i = 1; i < n; i++)
				assert_true(lv[i] >= lv[i - 1]);
			assert_true(lv[0] > 0);
			assert_int_equal(lv[n - 1], 8 + !utf8);
			/* the scale is used, not just its two ends */
			assert_true(lv[n / 2] > lv[0] && lv[n / 2] < lv[n - 1]);
		}
	}
	buf__free(&b);
}

/* More samples than columns: a bucket shows its largest sample, so a spike is not averaged away. */
static void test_sparkline_bucket_max(void **state)
{
	const uint32_t spike[] = { 0, 5, 0, 0, 10, 0, 0, 0 };
	const uint32_t flat[] = { 5, 5, 0, 0, 10, 0, 0, 0 };
	struct buf b = {}, c = {};
	int lv[4];

	for (int utf8 = 0; utf8 <= 1; utf8++) {
		assert_int_equal(levels(spark(&b, spike, 8, 4, utf8), utf8, lv, 4), 4);
		assert_true(lv[0] > 0 && lv[0] < 8 + !utf8);
		assert_int_equal(lv[1], 0);
		assert_int_equal(lv[2], 8 + !utf8);
		assert_int_equal(lv[3], 0);
		assert_string_equal(spark(&b, spike, 8, 4, utf8), spark(&c, flat, 8, 4, utf8));
	}
	buf__free(&b);
	buf__free(&c);
}

/* Splits the text into lines in place; returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	return n;
}

static void host_totals(struct totals *t)
{
	uint64_t tot[TW_TOT_MAX] = {}, binds[TW_BIND_ERR_SLOTS] = {};

	tot[TW_TOT_TW_SEEDED] = 12;
	tot[TW_TOT_TW_ENTERED] = 100;
	tot[TW_TOT_TW_EXPIRED] = 50;
	tot[TW_TOT_TW_KILLED] = 8;
	tot[TW_TOT_TW_MAP_FULL] = 2;
	tot[TW_TOT_TW_OVERFLOW] = 3;
	tot[TW_TOT_BIND_ERRORS] = 7;
	tot[TW_TOT_LOST_EVENTS] = 2;
	totals__from_kernel(t, tot, binds);
}

/* Wide values must not push the sparkline: it starts under its header on every row. */
static void test_timeline_columns(void **state)
{
	struct port_row rows[] = {
		local_row(65535, 999999, 999999),
		remote_row(AF_INET6, "2001:db8:85a3:1234:5678:8a2e:370:7334", 443, 10),
		remote_row(AF_INET, "203.0.113.254", 80, 5),
		remote_row(AF_INET6, "::1", 8443, 2),
		local_row(1, 1, 1),
	};
	struct agg *a = agg__new(60, 16);
	struct totals t;

	rows[0].val.expired = rows[0].val.killed = rows[0].val.bind_errors = 999999;
	for (int i = 0; i < 3; i++)
		agg__sample(a, 100 + i, rows, 5);
	host_totals(&t);
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		struct buf b = {};
		char *lines[16], *h;
		size_t n, col;
		int lv[SPARK_WIDTH];

		report__timeline(a, 10, NULL, &t, NULL, 10, utf8, 0, &b);
		buf__putc(&b, '\0');
		assert_non_null(strstr(b.data, " 65535 "));
		assert_non_null(strstr(b.data, " 999999 "));
		assert_non_null(strstr(b.data, " 203.0.113.254 "));
		/* the long IPv6 address is cut to the 16-column field, the short one is whole */
		assert_non_null(strstr(b.data, " 2001:db8:85a3... "));
		assert_null(strstr(b.data, "2001:db8:85a3:1234"));
		assert_non_null(strstr(b.data, " ::1 "));
		n = split_lines(b.data, lines, 16);
		assert_int_equal(n, 1 + 5 + 1);
		h = strstr(lines[0], "TIME_WAIT, last 3 s");
		assert_non_null(h);
		col = utf8_width(lines[0], h - lines[0]);
		for (size_t i = 1; i <= 5; i++) {
			assert_int_equal(utf8_width(lines[i], strlen(lines[i])), col + SPARK_WIDTH);
			/* the columns before the sparkline are ASCII, so bytes and columns agree */
			assert_int_equal(levels(lines[i] + col, utf8, lv, SPARK_WIDTH),
					 SPARK_WIDTH);
			assert_memory_equal(lines[i] + col - 2, "  ", 2);
		}
		assert_memory_equal(lines[6], "host: ", 6);
		buf__free(&b);
	}
	agg__free(a);
}

/* A terminal of 100 columns or more gets a table that fits: narrower sparkline, no totals. */
static void test_timeline_fits_the_terminal(void **state)
{
	struct port_row rows[] = { local_row(8080, 5, 5),
				   remote_row(AF_INET, "10.0.0.1", 5432, 3) };
	struct agg *a = agg__new(60, 16);
	struct totals t;
	static const size_t widths[] = { 100, 120, 130, 400 };

	for (int i = 0; i < 3; i++)
		agg__sample(a, 100 + i, rows, 2);
	host_totals(&t);
	for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
		struct buf b = {};
		char *lines[16];
		size_t n;

		report__timeline(a, 10, NULL, &t, NULL, 10, true, widths[w], &b);
		buf__putc(&b, '\0');
		n = split_lines(b.data, lines, 16);
		for (size_t i = 0; i < n - 1; i++) /* the host line is text, it may wrap */
			assert_true(utf8_width(lines[i], strlen(lines[i])) <= widths[w]);
		/* the totals go first when the room runs short */
		assert_true((strstr(lines[0], "ENTERED") != NULL) == (widths[w] >= 130));
		buf__free(&b);
	}
	agg__free(a);
}

/* Rows past top are summed into one "other" row that names how many ports it holds. */
static void test_timeline_other_row(void **state)
{
	struct port_row rows[5];
	struct agg *a = agg__new(60, 16);
	struct buf b = {};
	struct totals t;
	char *lines[16], side[16], port[16], peak[16];
	long long tw;
	unsigned long long d_ent, d_exp, d_kill, ent, expd, kill, berr;
	struct report_other other = {};

	for (int i = 0; i < 5; i++)
		rows[i] = local_row(7000 + i, 50 - 10 * i, 2 * (50 - 10 * i));
	agg__sample(a, 1, rows, 5);
	agg__mark(a);
	for (int i = 0; i < 5; i++) {
		rows[i].val.entered++;
		rows[i].val.expired = i;
		rows[i].val.bind_errors = 1;
	}
	agg__sample(a, 2, rows, 5);
	host_totals(&t);
	report__other(a, 2, &other);
	report__timeline(a, 2, &other, &t, NULL, 10, false, 0, &b);
	buf__putc(&b, '\0');
	assert_int_equal(split_lines(b.data, lines, 16), 1 + 2 + 1 + 1);
	assert_non_null(strstr(lines[1], " 7000 "));
	assert_non_null(strstr(lines[2], " 7001 "));
	assert_int_equal(sscanf(lines[3], "%15s %15s %lld %15s %llu %llu %llu %llu %llu %llu %llu",
				side, port, &tw, peak, &d_ent, &d_exp, &d_kill, &ent, &expd, &kill,
				&berr),
			 11);
	assert_string_equal(side, "other");
	assert_string_equal(port, "(3)");
	/* no sparkline, but its counts stay in the header's columns */
	assert_int_equal(strlen(lines[3]), strstr(lines[0], "TIME_WAIT, last") - lines[0]);
	/* ports 7002..7004: gauges 30 + 20 + 10; other counts what they did while unlisted */
	assert_int_equal(tw, 60);
	assert_int_equal(d_ent, 3);
	assert_int_equal(d_exp, 2 + 3 + 4);
	assert_int_equal(ent, 3);
	assert_int_equal(expd, 9);
	assert_int_equal(kill, 0);
	assert_int_equal(berr, 3);
	buf__free(&b);

	/* everything fits: no other row */
	report__timeline(a, 5, NULL, &t, NULL, 10, false, 0, &b);
	buf__putc(&b, '\0');
	assert_null(strstr(b.data, "other"));
	assert_int_equal(split_lines(b.data, lines, 16), 1 + 5 + 1);
	buf__free(&b);
	agg__free(a);
}

static void test_timeline_host_line(void **state)
{
	struct agg *a = agg__new(60, 16);
	struct port_row r = local_row(8080, 1, 1);
	struct buf b = {};
	struct totals t;

	agg__sample(a, 1, &r, 1);
	host_totals(&t);
	report__timeline(a, 10, NULL, &t, NULL, 15, true, 0, &b);
	buf__putc(&b, '\0');
	/* 12 seeded + 100 entered - 2 not tracked - 50 expired - 8 killed */
	assert_non_null(strstr(b.data,
			       "\nhost: 52 in TIME_WAIT, 100 entered, 50 expired, 8 killed, "
			       "3 overflows, 7 bind errors, 2 events lost; every 15 s\n"));
	buf__free(&b);
	agg__free(a);
}

/* Copies the object that starts at the '{' at p into out. */
static const char *object_at(const char *p, char *out, size_t len)
{
	int depth = 0;
	size_t n = 0;

	assert_non_null(p);
	assert_int_equal(*p, '{');
	do {
		depth += *p == '{';
		depth -= *p == '}';
		assert_true(n + 1 < len);
		out[n++] = *p++;
	} while (depth > 0 && *p);
	assert_int_equal(depth, 0);
	out[n] = '\0';
	return out;
}

/* The number after "key": in obj (the first one: nested objects come after the fields). */
static long long num(const char *obj, const char *key)
{
	char pat[64];
	const char *p;
	long long v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(obj, pat);
	if (!p)
		fail_msg("no %s in %s", key, obj);
	assert_int_equal(sscanf(p + strlen(pat), "%lld", &v), 1);
	return v;
}

static void assert_balanced_line(const char *s)
{
	int depth = 0;
	bool in_str = false;

	assert_int_equal(s[0], '{');
	for (const char *p = s; *p; p++) {
		if (in_str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"')
			in_str = true;
		else if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		else if (*p == '\n')
			assert_string_equal(p, "\n");
		assert_true(depth >= 0);
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
}

static void test_counts_json(void **state)
{
	struct port_row rows[4] = {
		local_row(8080, 5, 12),
		remote_row(AF_INET, "10.0.0.2", 443, 7),
		local_row(9000, 1, 3),
		local_row(9001, 0, 4),
	};
	const struct render_ctx rc = { .mono_to_real_ns = 1700000000LL * 1000000000LL };
	struct agg *a = agg__new(60, 16);
	struct buf b = {};
	struct totals t;
	struct report_other other = {};
	char o[1024];
	const char *p;

	rows[0].val.expired = 6;
	rows[0].val.killed = 4;
	rows[0].val.bind_errors = 1;
	rows[1].val.entered = 30;
	rows[2].val.expired = 2;
	rows[3].val.expired = 4;
	rows[3].val.bind_errors = 1;
	agg__sample(a, 1, rows, 4);
	agg__mark(a);
	rows[0].val.tw_peak = 9;
	rows[0].val.entered = 20;
	rows[0].val.expired = 10;
	rows[0].val.killed = 5;
	rows[0].val.overflow = 1;
	rows[0].val.bind_errors = 2;
	rows[2].val.entered += 4;
	rows[3].val.entered += 3;
	rows[3].val.expired += 6;
	rows[3].val.bind_errors += 1;
	agg__sample(a, 2, rows, 4);
	host_totals(&t);
	report__other(a, 2, &other);
	report__counts_json(&rc, 0, 10, a, 2, &other, &t, NULL, &b);
	buf__putc(&b, '\0');

	assert_balanced_line(b.data);
	assert_int_equal(b.data[b.len - 2], '\n');
	assert_non_null(strstr(b.data, "\"ts\":\"2023-11-14T22:13:20.000000Z\""));
	assert_non_null(strstr(b.data, "\"type\":\"counts\""));
	assert_int_equal(num(b.data, "interval_s"), 10);

	object_at(strstr(b.data, "{\"side\":\"local\",\"port\":8080,"), o, sizeof(o));
	assert_int_equal(num(o, "netns"), NETNS);
	assert_int_equal(num(o, "tw"), 5);
	assert_int_equal(num(o, "tw_peak"), 9);
	assert_int_equal(num(o, "tw_entered"), 20);
	assert_int_equal(num(o, "tw_expired"), 10);
	assert_int_equal(num(o, "tw_killed"), 5);
	assert_int_equal(num(o, "tw_overflow"), 1);
	assert_int_equal(num(o, "bind_errors"), 2);
	assert_null(strstr(o, "\"addr\""));
	/* the interval object counts from the mark */
	p = strstr(o, "\"interval\":{");
	assert_non_null(p);
	assert_int_equal(num(p, "tw_entered"), 8);
	assert_int_equal(num(p, "tw_expired"), 4);
	assert_int_equal(num(p, "tw_killed"), 1);
	assert_int_equal(num(p, "bind_errors"), 1);

	object_at(strstr(b.data, "{\"side\":\"remote\",\"port\":443,"), o, sizeof(o));
	assert_non_null(strstr(o, "\"addr\":\"10.0.0.2\""));
	assert_non_null(strstr(o, "\"family\":\"ipv4\""));
	assert_int_equal(num(o, "tw"), 7);
	assert_int_equal(num(o, "tw_entered"), 30);

	/* top 2: ports 9000 and 9001 only appear in "other", with what they did in the interval */
	assert_null(strstr(b.data, "\"port\":9000"));
	assert_null(strstr(b.data, "\"port\":9001"));
	object_at(strstr(b.data, "\"other\":{") + 8, o, sizeof(o));
	assert_int_equal(num(o, "ports"), 2);
	assert_int_equal(num(o, "tw"), 1);
	assert_int_equal(num(o, "tw_entered"), 7);
	assert_int_equal(num(o, "tw_expired"), 6);
	assert_int_equal(num(o, "tw_killed"), 0);
	assert_int_equal(num(o, "bind_errors"), 1);
	p = strstr(o, "\"interval\":{");
	assert_non_null(p);
	assert_int_equal(num(p, "tw_entered"), 7);

	object_at(strstr(b.data, "\"totals\":{") + 9, o, sizeof(o));
	assert_int_equal(num(o, "tw"), 52);
	assert_int_equal(num(o, "tw_entered"), 100);
	assert_int_equal(num(o, "tw_expired"), 50);
	assert_int_equal(num(o, "tw_killed"), 8);
	assert_int_equal(num(o, "tw_overflow"), 3);
	assert_int_equal(num(o, "tw_seeded"), 12);
	assert_int_equal(num(o, "bind_errors"), 7);
	assert_non_null(strstr(b.data, "\"lost_events\":2,\"missed_events\":0}\n"));
	buf__free(&b);

	/* every row fits, and no row was ever unlisted: no "other" object */
	report__counts_json(&rc, 0, 10, a, 4, NULL, &t, NULL, &b);
	buf__putc(&b, '\0');
	assert_balanced_line(b.data);
	assert_null(strstr(b.data, "\"other\""));
	assert_non_null(strstr(b.data, "\"port\":9001,"));
	buf__free(&b);
	agg__free(a);
}

/* Live TIME_WAITs from the kernel totals; inserts that failed were never tracked. */
static void test_totals_from_kernel(void **state)
{
	uint64_t tot[TW_TOT_MAX] = {}, binds[TW_BIND_ERR_SLOTS];
	struct totals t;

	for (int i = 0; i < TW_BIND_ERR_SLOTS; i++)
		binds[i] = 10 + i;
	tot[TW_TOT_TW_SEEDED] = 10;
	tot[TW_TOT_TW_ENTERED] = 100;
	tot[TW_TOT_TW_MAP_FULL] = 2;
	tot[TW_TOT_TW_EXPIRED] = 50;
	tot[TW_TOT_TW_KILLED] = 8;
	tot[TW_TOT_TW_OVERFLOW] = 4;
	tot[TW_TOT_TW_UNTRACKED] = 6;
	tot[TW_TOT_BIND_ERRORS] = 3;
	tot[TW_TOT_LOST_EVENTS] = 9;
	totals__from_kernel(&t, tot, binds);
	assert_int_equal(t.tw, 50);
	assert_int_equal(t.tw_entered, 100);
	assert_int_equal(t.tw_expired, 50);
	assert_int_equal(t.tw_killed, 8);
	assert_int_equal(t.tw_overflow, 4);
	assert_int_equal(t.tw_seeded, 10);
	assert_int_equal(t.tw_untracked, 6);
	assert_int_equal(t.bind_errors, 3);
	assert_int_equal(t.lost_events, 9);
	assert_memory_equal(t.binds, binds, sizeof(binds));
	/* per-CPU counters read at slightly different moments can overshoot: never negative */
	tot[TW_TOT_TW_EXPIRED] = 200;
	totals__from_kernel(&t, tot, binds);
	assert_int_equal(t.tw, 0);
	tot[TW_TOT_TW_EXPIRED] = 50;
	tot[TW_TOT_TW_MAP_FULL] = 52;
	totals__from_kernel(&t, tot, binds);
	assert_int_equal(t.tw, 0);
}

/*
 * The rows past the top change each interval: "other" adds up what unlisted rows did, so it
 * never goes down when a busy row moves into the top (the log showed 19478 -> 19453).
 */
static void test_other_never_goes_down(void **state)
{
	struct port_row rows[3] = { local_row(7001, 0, 0), local_row(7002, 0, 0),
				    local_row(7003, 0, 0) };
	static const int busy[][2] = { { 0, 3 }, { 1, 5 }, { 2, 7 }, { 0, 1 }, { 2, 1 }, { 1, 1 } };
	struct agg *a = agg__new(60, 16);
	struct report_other o = {};
	uint64_t prev = 0, made = 0, seen = 0;

	agg__sample(a, 0, rows, 3);
	agg__mark(a);
	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
		size_t idx[3];

		rows[busy[i][0]].val.bind_errors += busy[i][1];
		made += busy[i][1];
		agg__sample(a, i + 1, rows, 3);
		report__other(a, 1, &o);
		assert_true(o.total.bind_errors >= prev);
		prev = o.total.bind_errors;
		/* every count once: the listed row's interval and other's */
		agg__ranked(a, idx);
		seen += a->rows[idx[0]].val.bind_errors - a->rows[idx[0]].base.bind_errors +
			o.interval.bind_errors;
		assert_int_equal(o.ports, 2);
		agg__mark(a);
	}
	assert_int_equal(seen, made);
	agg__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_never_goes_down),
		cmocka_unit_test(test_sparkline_width),
		cmocka_unit_test(test_sparkline_newest_last),
		cmocka_unit_test(test_sparkline_zero_is_space_peak_is_full),
		cmocka_unit_test(test_sparkline_small_peak_is_full),
		cmocka_unit_test(test_sparkline_monotonic),
		cmocka_unit_test(test_sparkline_bucket_max),
		cmocka_unit_test(test_timeline_columns),
		cmocka_unit_test(test_timeline_fits_the_terminal),
		cmocka_unit_test(test_timeline_other_row),
		cmocka_unit_test(test_timeline_host_line),
		cmocka_unit_test(test_counts_json),
		cmocka_unit_test(test_totals_from_kernel),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
