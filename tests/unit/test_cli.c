// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* CLI parsing: defaults, every option of the contract, and every bad input with its message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "cli.h"

static int parse(struct tw_opts *o, char *err, const char *a0, ...)
{
	char *argv[32] = { "twscope" };
	int argc = 1;
	va_list ap;
	const char *s = a0;

	va_start(ap, a0);
	while (s && argc < 31) {
		argv[argc++] = (char *)s;
		s = va_arg(ap, const char *);
	}
	va_end(ap);
	return cli__parse(o, argc, argv, err, 256);
}

static void test_defaults(void **state)
{
	struct tw_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, NULL), 0);
	assert_false(o.json);
	assert_int_equal(o.nports, 0);
	assert_int_equal(o.events, TW_EV_TW | TW_EV_BIND);
	assert_int_equal(o.interval_s, 10);
	assert_int_equal(o.duration_s, 0);
	assert_int_equal(o.family, 0);
	assert_null(o.log_path);
}

static void test_all_options(void **state)
{
	struct tw_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, "-j", "-p", "80,443", "--port=8080", "--pid", "42", "-6",
			       "-e", "state,tw", "-i", "5", "-d", "7", "--log", "/tmp/x.log",
			       "--prom", "/tmp/x.prom", "--metrics-addr", "127.0.0.1:9100",
			       "--netns", "4026531840", "--top", "5", "--window", "600", "--idle",
			       "0", NULL),
			 0);
	assert_true(o.json);
	assert_int_equal(o.nports, 3);
	assert_int_equal(o.ports[0], 80);
	assert_int_equal(o.ports[1], 443);
	assert_int_equal(o.ports[2], 8080);
	assert_int_equal(o.pid, 42);
	assert_int_equal(o.family, AF_INET6);
	assert_int_equal(o.events, TW_EV_STATE | TW_EV_TW);
	assert_int_equal(o.interval_s, 5);
	assert_int_equal(o.duration_s, 7);
	assert_string_equal(o.log_path, "/tmp/x.log");
	assert_string_equal(o.prom_path, "/tmp/x.prom");
	assert_string_equal(o.metrics_addr, "127.0.0.1:9100");
	assert_int_equal(o.netns, 4026531840u);
	assert_int_equal(o.top, 5);
	assert_int_equal(o.window_s, 600);
	assert_int_equal(o.idle_s, 0);
	assert_int_equal(parse(&o, err, NULL), 0);
	assert_int_equal(o.idle_s, 600);
	assert_int_not_equal(parse(&o, err, "--idle", "x", NULL), 0);
	assert_non_null(strstr(err, "--idle"));
}

static void test_events_lists(void **state)
{
	unsigned int m = 99;
	char err[256];

	assert_int_equal(cli__parse_events("all", &m, err, sizeof(err)), 0);
	assert_int_equal(m, TW_EV_TW | TW_EV_BIND | TW_EV_STATE);
	assert_int_equal(cli__parse_events("none", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 0);
	assert_int_equal(cli__parse_events("bind", &m, err, sizeof(err)), 0);
	assert_int_equal(m, TW_EV_BIND);
	assert_int_not_equal(cli__parse_events("tw,bogus", &m, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "bogus"));
	assert_int_not_equal(cli__parse_events("", &m, err, sizeof(err)), 0);
}

/* Each bad input fails with a message naming the offending text, on one line. */
static void expect_error(const char *want, const char *a0, const char *a1)
{
	struct tw_opts o;
	char err[256];

	assert_int_not_equal(parse(&o, err, a0, a1, NULL), 0);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
}

static void test_bad_ports(void **state)
{
	expect_error("'0'", "-p", "0");
	expect_error("'70000'", "-p", "70000");
	expect_error("'abc'", "-p", "abc");
	expect_error("'-1'", "--port", "-1");
	expect_error("'80x'", "-p", "80x");
	expect_error("empty element", "-p", "80,,90");
	expect_error("empty element", "-p", "80,");
	expect_error("'65536'", "-p", "65536");
}

static void test_bad_flags(void **state)
{
	expect_error("--bogus", "--bogus", NULL);
	expect_error("-x", "-x", NULL);
	expect_error("'-p'", "-p", NULL);
	expect_error("unexpected argument 'extra'", "extra", NULL);
	expect_error("bad pid", "--pid", "12a");
	expect_error("bad pid", "--pid", "0");
	expect_error("bad interval", "-i", "0");
	expect_error("bad duration", "-d", "-5");
	expect_error("bad event", "-e", "tcp");
	expect_error("bad --metrics-addr", "--metrics-addr", "9100");
	expect_error("bad --metrics-addr", "--metrics-addr", "::1:9100");
	expect_error("bad --ringbuf", "--ringbuf", "100");
	expect_error("bad netns", "--netns", "x");
}

static void test_family_exclusive(void **state)
{
	struct tw_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, "-4", NULL), 0);
	assert_int_equal(o.family, AF_INET);
	assert_int_not_equal(parse(&o, err, "-4", "-6", NULL), 0);
	assert_non_null(strstr(err, "exclusive"));
}

static void test_hostport(void **state)
{
	char host[64];
	uint16_t port = 0;

	assert_int_equal(cli__parse_hostport("127.0.0.1:9100", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9100);
	assert_int_equal(cli__parse_hostport("[::1]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(cli__parse_hostport(":9100", host, sizeof(host), &port), 0);
	assert_string_equal(host, "");
	assert_int_not_equal(cli__parse_hostport("host:0", host, sizeof(host), &port), 0);
	assert_int_not_equal(cli__parse_hostport("[::1]9100", host, sizeof(host), &port), 0);
}

static void test_help_version(void **state)
{
	struct tw_opts o;
	struct buf b = {};
	char err[256];

	assert_int_equal(parse(&o, err, "--help", NULL), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, err, "-V", NULL), 0);
	assert_true(o.version);
	cli__usage(&b);
	assert_non_null(b.data);
	assert_non_null(strstr(b.data, "--metrics-addr"));
	assert_non_null(strstr(b.data, "--events"));
	buf__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_events_lists), cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_bad_flags),    cmocka_unit_test(test_family_exclusive),
		cmocka_unit_test(test_hostport),     cmocka_unit_test(test_help_version),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
