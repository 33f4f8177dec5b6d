// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus output: TcpExt parsing, families and stable port labels, and the atomic file write. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "prom.h"
#include "rows.h"

/*
 * Abridged from a 6.x kernel: TW is column 11, TCPTimeWaitOverflow far to the right. The TW
 * column added to IpExt is a decoy: only the TcpExt lines may be read.
 */
static const char netstat[] =
	"TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled "
	"RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled "
	"PAWSActive PAWSEstab DelayedACKs ListenOverflows ListenDrops TCPTimeWaitOverflow "
	"TCPReqQFullDrop TCPMigrateReqSuccess\n"
	"TcpExt: 0 0 0 0 0 0 0 0 0 0 30541 17 4 0 0 1340 0 0 123 0 0\n"
	"IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InOctets OutOctets TW\n"
	"IpExt: 0 0 0 0 64463739 124208 999\n"
	"MPTcpExt: MPCapableSYNRX MPCapableSYNTX\n"
	"MPTcpExt: 0 0\n";

static void test_tcpext_parse(void **state)
{
	struct tcpext t;

	assert_int_equal(tcpext__parse(netstat, &t), 0);
	assert_int_equal(t.ok, 1);
	assert_int_equal(t.tw, 30541);
	assert_int_equal(t.tw_recycled, 17);
	assert_int_equal(t.tw_killed, 4);
	assert_int_equal(t.tw_overflow, 123);
}

/* Without every field the cross-check would compare against zeros: refuse instead. */
static void test_tcpext_parse_missing_field(void **state)
{
	const char no_overflow[] = "TcpExt: SyncookiesSent TW TWRecycled TWKilled PAWSActive\n"
				   "TcpExt: 1 2 3 4 5\n"
				   "IpExt: InNoRoutes TCPTimeWaitOverflow\n"
				   "IpExt: 0 7\n";
	const char no_values[] = "TcpExt: TW TWRecycled TWKilled TCPTimeWaitOverflow\n"
				 "IpExt: InNoRoutes\n"
				 "IpExt: 0\n";
	struct tcpext t;

	assert_int_equal(tcpext__parse(no_overflow, &t), -EINVAL);
	assert_int_equal(t.ok, 0);
	assert_int_equal(tcpext__parse(no_values, &t), -EINVAL);
	assert_int_equal(t.ok, 0);
	assert_int_equal(tcpext__parse("", &t), -EINVAL);
	assert_int_equal(t.ok, 0);
	assert_int_equal(tcpext__parse("IpExt: TW\nIpExt: 5\n", &t), -EINVAL);
	assert_int_equal(t.ok, 0);
}

static const char *const port_families[] = {
	"twscope_time_wait_sockets",	   "twscope_time_wait_peak_sockets",
	"twscope_time_wait_entered_total", "twscope_time_wait_expired_total",
	"twscope_time_wait_killed_total",  "twscope_time_wait_overflow_total",
	"twscope_port_bind_errors_total",
};

#define NPORT_FAMILIES (sizeof(port_families) / sizeof(port_families[0]))

static void render(struct prom *p, struct agg *a, const struct totals *t,
		   const struct prom_input *extra, struct buf *b)
{
	struct prom_input in = {};

	if (extra)
		in = *extra;
	in.agg = a;
	in.totals = t;
	buf__reset(b);
	prom__render(p, &in, b);
	buf__putc(b, '\0');
}

/* Value of the sample whose line starts with prefix (name and labels); fails when absent. */
static unsigned long long sample(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);
	unsigned long long v;

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, prefix, len) && l[len] == ' ') {
			assert_int_equal(sscanf(l + len, " %llu", &v), 1);
			return v;
		}
		if (!strchr(l, '\n'))
			break;
	}
	fail_msg("no sample %s", prefix);
	return 0;
}

static bool has_sample(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, prefix, len) && (l[len] == ' ' || l[len] == '{'))
			return true;
		if (!strchr(l, '\n'))
			break;
	}
	return false;
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		n += !strncmp(l, prefix, len);
		if (!strchr(l, '\n'))
			break;
	}
	return n;
}

static const char *label_prefix(char *s, size_t len, const char *family, uint16_t port)
{
	snprintf(s, len,
		 "%s{side=\"local\",port=\"%u\",addr=\"\",family=\"\",netns=\"%u\","
		 "netns_cookie=\"%llu\"}",
		 family, port, NETNS, (unsigned long long)NETNS_COOKIE);
	return s;
}

static const char *other_prefix(char *s, size_t len, const char *family)
{
	snprintf(s, len,
		 "%s{side=\"\",port=\"other\",addr=\"\",family=\"\",netns=\"\",netns_cookie=\"\"}",
		 family);
	return s;
}

/* The sample of a family for local port `port`, or for the "other" row. */
static unsigned long long port_sample(const char *text, const char *family, uint16_t port)
{
	char pre[256];

	return sample(text, label_prefix(pre, sizeof(pre), family, port));
}

static bool port_has_sample(const char *text, const char *family, uint16_t port)
{
	char pre[256];

	return has_sample(text, label_prefix(pre, sizeof(pre), family, port));
}

static unsigned long long other_sample(const char *text, const char *family)
{
	char pre[256];

	return sample(text, other_prefix(pre, sizeof(pre), family));
}

/*
 * Exposition format: each family is one block, "# HELP" and "# TYPE" first, then only its own
 * samples; a family is declared once and a counter's name ends in _total.
 */
static void check_exposition(char *text)
{
	char *save = NULL, cur[128] = "", declared[64][128];
	size_t ndeclared = 0;
	bool help = false;

	assert_int_equal(text[strlen(text) - 1], '\n');
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[128], type[16];

		if (!strncmp(l, "# HELP ", 7)) {
			assert_int_equal(sscanf(l + 7, "%127s", name), 1);
			for (size_t i = 0; i < ndeclared; i++)
				assert_string_not_equal(declared[i], name);
			assert_true(ndeclared < 64);
			strcpy(declared[ndeclared++], name);
			strcpy(cur, name);
			help = true;
			continue;
		}
		if (!strncmp(l, "# TYPE ", 7)) {
			assert_int_equal(sscanf(l + 7, "%127s %15s", name, type), 2);
			assert_true(help);
			assert_string_equal(name, cur);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			if (!strcmp(type, "counter"))
				assert_string_equal(name + strlen(name) - 6, "_total");
			help = false;
			continue;
		}
		assert_int_not_equal(l[0], '#');
		/* a sample belongs to the family declared last, after its HELP and TYPE */
		assert_int_equal(sscanf(l, "%127[^{ ]", name), 1);
		assert_string_equal(name, cur);
		assert_false(help);
	}
}

static void test_render_families(void **state)
{
	struct port_row rows[] = { local_row(80, 3, 10), local_row(443, 5, 20),
				   local_row(8080, 1, 2) };
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct prom_input in = {};
	struct totals t = {};
	struct buf b = {};
	char pre[256];

	agg__sample(a, 1, rows, 3);
	in.tcpext.ok = 1;
	in.tcpext.tw = 5;
	in.causes[TW_CALL_BIND][0][CAUSE_LISTEN] = 2;
	render(p, a, &t, &in, &b);
	for (size_t i = 0; i < NPORT_FAMILIES; i++) {
		snprintf(pre, sizeof(pre), "# TYPE %s ", port_families[i]);
		assert_int_equal(count_lines(b.data, pre), 1);
	}
	assert_non_null(strstr(b.data, "# TYPE twscope_time_wait_sockets gauge\n"));
	assert_non_null(strstr(b.data, "# TYPE twscope_time_wait_entered_total counter\n"));
	assert_non_null(strstr(b.data, "# TYPE twscope_bind_errors_total counter\n"));
	assert_non_null(strstr(b.data, "# TYPE twscope_lost_events_total counter\n"));
	assert_non_null(strstr(b.data, "# TYPE twscope_host_time_wait_sockets gauge\n"));
	assert_non_null(strstr(b.data, "twscope_build_info{version=\"" TWSCOPE_VERSION "\"} 1\n"));
	check_exposition(b.data);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

/* At most top labelled ports per family, then exactly one port="other" sample. */
static void test_render_top_and_other(void **state)
{
	struct port_row rows[6];
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct totals t = {};
	struct buf b = {};
	char pre[256];

	for (int i = 0; i < 6; i++) {
		rows[i] = local_row(9000 + i, 60 - 10 * i, 100 - 10 * i);
		rows[i].val.tw_peak = 70 + i; /* the quietest ports had the highest peaks */
		rows[i].val.expired = i;
		rows[i].val.killed = 1;
		rows[i].val.overflow = 2;
		rows[i].val.bind_errors = 3;
	}
	agg__sample(a, 1, rows, 6);
	render(p, a, &t, NULL, &b);
	for (size_t i = 0; i < NPORT_FAMILIES; i++) {
		snprintf(pre, sizeof(pre), "%s{", port_families[i]);
		assert_int_equal(count_lines(b.data, pre), 2 + 1);
		assert_int_equal(
			count_lines(b.data, other_prefix(pre, sizeof(pre), port_families[i])), 1);
		assert_true(port_has_sample(b.data, port_families[i], 9000));
		assert_true(port_has_sample(b.data, port_families[i], 9001));
	}
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 9000), 100);
	/* the other row sums ports 9002..9005 */
	assert_int_equal(other_sample(b.data, "twscope_time_wait_sockets"), 40 + 30 + 20 + 10);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"),
			 80 + 70 + 60 + 50);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_expired_total"), 2 + 3 + 4 + 5);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_killed_total"), 4);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_overflow_total"), 8);
	assert_int_equal(other_sample(b.data, "twscope_port_bind_errors_total"), 12);
	/* peaks do not add up: the other row shows the largest */
	assert_int_equal(other_sample(b.data, "twscope_time_wait_peak_sockets"), 75);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

/* A labelled port keeps its label when busier ports appear, so its counters never reset. */
static void test_render_labels_are_sticky(void **state)
{
	struct port_row rows[] = { local_row(80, 0, 10), local_row(443, 0, 5),
				   local_row(8080, 0, 1) };
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct totals t = {};
	struct buf b = {};

	agg__sample(a, 1, rows, 3);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 80), 10);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 443), 5);
	assert_false(port_has_sample(b.data, "twscope_time_wait_entered_total", 8080));

	/* 8080 is now by far the busiest, 80 and 443 went quiet */
	agg__mark(a);
	rows[2].val.entered = 1000;
	rows[2].val.tw = 500;
	agg__sample(a, 2, rows, 3);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 80), 10);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 443), 5);
	assert_false(port_has_sample(b.data, "twscope_time_wait_entered_total", 8080));
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 1000);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

/*
 * A port gets its place when it first appears, free label slot or "other", and keeps it: the
 * "other" counters never go down, even when a port in "other" later gets busy.
 */
static void test_render_place_taken_at_first_sight(void **state)
{
	struct port_row rows[] = { local_row(80, 0, 10), local_row(443, 0, 0),
				   local_row(8080, 0, 1) };
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct totals t = {};
	struct buf b = {};

	agg__sample(a, 1, rows, 2);
	render(p, a, &t, NULL, &b);
	/* free slots: both ports seen so far are labelled, idle or not */
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 443), 0);
	agg__sample(a, 2, rows, 3);
	render(p, a, &t, NULL, &b);
	assert_false(port_has_sample(b.data, "twscope_time_wait_entered_total", 8080));
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 1);
	rows[2].val.entered = 900;
	agg__sample(a, 3, rows, 3);
	render(p, a, &t, NULL, &b);
	assert_false(port_has_sample(b.data, "twscope_time_wait_entered_total", 8080));
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 900);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

static void test_render_host_and_bind_errors(void **state)
{
	static const char *const calls[] = { "bind", "listen", "connect" };
	static const char *const errs[] = { "EADDRINUSE", "EADDRNOTAVAIL" };
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct prom_input in = {};
	struct totals t = {};
	struct buf b = {};
	char pre[256];

	t.tw = 11;
	t.tw_entered = 12;
	t.tw_expired = 13;
	t.tw_killed = 14;
	t.tw_overflow = 15;
	t.lost_events = 16;
	for (int i = 0; i < TW_BIND_ERR_SLOTS; i++)
		t.binds[i] = 100 + i;
	in.log_errors = 17;
	render(p, a, &t, &in, &b);
	assert_int_equal(sample(b.data, "twscope_host_time_wait_sockets"), 11);
	assert_int_equal(sample(b.data, "twscope_host_time_wait_entered_total"), 12);
	assert_int_equal(sample(b.data, "twscope_host_time_wait_expired_total"), 13);
	assert_int_equal(sample(b.data, "twscope_host_time_wait_killed_total"), 14);
	assert_int_equal(sample(b.data, "twscope_host_time_wait_overflow_total"), 15);
	assert_int_equal(sample(b.data, "twscope_lost_events_total"), 16);
	assert_int_equal(sample(b.data, "twscope_log_write_errors_total"), 17);
	/* every call x errno pair is present even at zero, so rate() has a series to work on */
	assert_int_equal(count_lines(b.data, "twscope_bind_errors_total{"), 6);
	for (int c = 0; c < 3; c++)
		for (int e = 0; e < 2; e++) {
			snprintf(pre, sizeof(pre),
				 "twscope_bind_errors_total{call=\"%s\",errno=\"%s\"}", calls[c],
				 errs[e]);
			assert_int_equal(sample(b.data, pre), 100 + c * 2 + e);
		}
	/* no port has any activity: only the other samples, at zero */
	assert_int_equal(count_lines(b.data, "twscope_time_wait_sockets{"), 1);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_sockets"), 0);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

static void test_render_causes_only_nonzero(void **state)
{
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct prom_input in = {};
	struct totals t = {};
	struct buf b = {};

	render(p, a, &t, &in, &b);
	assert_int_equal(count_lines(b.data, "twscope_bind_error_causes_total{"), 0);
	in.causes[TW_CALL_CONNECT][1][CAUSE_EPHEMERAL_EXHAUSTED] = 4;
	in.causes[TW_CALL_BIND][0][CAUSE_TIME_WAIT] = 9;
	render(p, a, &t, &in, &b);
	assert_int_equal(count_lines(b.data, "twscope_bind_error_causes_total{"), 2);
	assert_int_equal(sample(b.data, "twscope_bind_error_causes_total{call=\"connect\","
					"errno=\"EADDRNOTAVAIL\",cause=\"ephemeral_exhausted\"}"),
			 4);
	assert_int_equal(sample(b.data, "twscope_bind_error_causes_total{call=\"bind\","
					"errno=\"EADDRINUSE\",cause=\"time_wait\"}"),
			 9);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

/* A failed /proc read must not publish zeros that look like counter resets. */
static void test_render_tcpext_only_when_ok(void **state)
{
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(2);
	struct prom_input in = {};
	struct totals t = {};
	struct buf b = {};

	in.tcpext.tw = 1;
	in.tcpext.tw_killed = 2;
	in.tcpext.tw_recycled = 3;
	in.tcpext.tw_overflow = 4;
	render(p, a, &t, &in, &b);
	assert_null(strstr(b.data, "twscope_tcpext_"));
	in.tcpext.ok = 1;
	render(p, a, &t, &in, &b);
	assert_int_equal(sample(b.data, "twscope_tcpext_tw_total"), 1);
	assert_int_equal(sample(b.data, "twscope_tcpext_tw_killed_total"), 2);
	assert_int_equal(sample(b.data, "twscope_tcpext_tw_recycled_total"), 3);
	assert_int_equal(sample(b.data, "twscope_tcpext_time_wait_overflow_total"), 4);
	check_exposition(b.data);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

static void retire_cb(void *ctx, const struct agg_series *s)
{
	prom__retire(ctx, s, false);
}

static void retire_dead_cb(void *ctx, const struct agg_series *s)
{
	prom__retire(ctx, s, true);
}

/*
 * A labelled port whose row is reclaimed keeps its label and its counts, and goes on from them
 * when it comes back; an unlabelled one's counts stay in "other"; a dead namespace's label goes.
 */
static void test_render_across_reclaim(void **state)
{
	struct port_row rows[] = { local_row(80, 0, 10), local_row(443, 0, 5) };
	struct agg *a = agg__new(60, 16);
	struct prom *p = prom__new(1);
	struct totals t = {};
	struct buf b = {};

	agg__sample(a, 1, rows, 2);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 80), 10);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 5);
	/* both slots freed with their values, rows pruned */
	agg__fold(a, &rows[0].key, &rows[0].val);
	agg__fold(a, &rows[1].key, &rows[1].val);
	agg__sample(a, 2, rows, 0);
	assert_int_equal(agg__prune(a, retire_cb, p), 2);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 80), 10);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_sockets", 80), 0);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 5);
	/* they come back on new slots, counting from 0 */
	rows[0].val.entered = 2;
	rows[1].val.entered = 3;
	agg__sample(a, 3, rows, 2);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 80), 12);
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 8);
	/* the namespace dies: its label goes, a new port takes it */
	agg__fold(a, &rows[0].key, &rows[0].val);
	agg__fold(a, &rows[1].key, &rows[1].val);
	agg__sample(a, 4, rows, 0);
	agg__prune(a, retire_dead_cb, p);
	render(p, a, &t, NULL, &b);
	assert_false(port_has_sample(b.data, "twscope_time_wait_entered_total", 80));
	assert_int_equal(other_sample(b.data, "twscope_time_wait_entered_total"), 8);
	rows[0] = local_row(9090, 0, 1);
	agg__sample(a, 5, rows, 1);
	render(p, a, &t, NULL, &b);
	assert_int_equal(port_sample(b.data, "twscope_time_wait_entered_total", 9090), 1);
	buf__free(&b);
	prom__free(p);
	agg__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_across_reclaim),
		cmocka_unit_test(test_tcpext_parse),
		cmocka_unit_test(test_tcpext_parse_missing_field),
		cmocka_unit_test(test_render_families),
		cmocka_unit_test(test_render_top_and_other),
		cmocka_unit_test(test_render_labels_are_sticky),
		cmocka_unit_test(test_render_place_taken_at_first_sight),
		cmocka_unit_test(test_render_host_and_bind_errors),
		cmocka_unit_test(test_render_causes_only_nonzero),
		cmocka_unit_test(test_render_tcpext_only_when_ok),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
