// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ports: headroom per destination, ports bind() took, TIME_WAIT reuse, pressure with hysteresis. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "ports.h"

#define COOKIE 77
#define NETNS  4026531840u

static struct tw_dest_key dest(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct tw_dest_key k = {
		.netns_cookie = COOKIE, .netns = NETNS, .family = 2, .port = port
	};

	k.addr[0] = a;
	k.addr[1] = b;
	k.addr[2] = c;
	k.addr[3] = d;
	return k;
}

static struct netns_ports netns(uint16_t lo, uint16_t hi, uint32_t reserved, uint32_t bound,
				uint8_t tw_reuse)
{
	struct netns_ports n = { .cookie = COOKIE };

	n.p.netns = NETNS;
	n.p.lo = lo;
	n.p.hi = hi;
	n.p.ports_reserved = reserved;
	n.p.ports_bound = bound;
	n.p.tw_reuse = tw_reuse;
	return n;
}

static void test_headroom(void **state)
{
	struct ports *p = ports__new(80);
	struct tw_dest_key k[] = { dest(10, 0, 0, 1, 5432), dest(127, 0, 0, 1, 80) };
	struct tw_dest_use u[] = { { .in_use = 50, .time_wait = 40 }, { .in_use = 10 } };
	struct netns_ports n = netns(40000, 40099, 10, 20, 2);
	const struct dest_row *top[4];

	assert_int_equal(ports__update(p, k, u, 2, &n, 1), 0);
	assert_int_equal(ports__top(p, top, 4), 2);
	/* 100 ports, 10 reserved: 90 available; 50 in use and 20 taken by bind() */
	assert_int_equal(top[0]->ports_in_use, 50);
	assert_int_equal(top[0]->time_wait, 40);
	assert_int_equal(top[0]->ports_available, 90);
	assert_int_equal(top[0]->ports_bound, 20);
	assert_true(top[0]->headroom > 0.2222 && top[0]->headroom < 0.2223);
	/* tcp_tw_reuse=2: loopback destinations only */
	assert_false(top[0]->time_wait_reusable);
	assert_true(top[1]->time_wait_reusable);
	assert_ptr_equal(ports__find(p, COOKIE, 2, k[1].addr, 80), top[1]);
	assert_null(ports__find(p, COOKIE, 2, k[1].addr, 81));
	n = netns(40000, 40099, 10, 20, 1);
	ports__update(p, k, u, 2, &n, 1);
	ports__top(p, top, 4);
	assert_true(top[0]->time_wait_reusable);
	ports__free(p);
}

/* Every port lost: no headroom, not a negative one. */
static void test_headroom_floor(void **state)
{
	struct ports *p = ports__new(80);
	struct tw_dest_key k = dest(10, 0, 0, 1, 5432);
	struct tw_dest_use u = { .in_use = 90 };
	struct netns_ports n = netns(40000, 40099, 0, 50, 0);
	const struct dest_row *top[1];

	ports__update(p, &k, &u, 1, &n, 1);
	ports__top(p, top, 1);
	assert_true(top[0]->headroom == 0.0);
	assert_true(top[0]->high);
	ports__free(p);
}

static void test_pressure_with_hysteresis(void **state)
{
	struct ports *p = ports__new(80);
	struct tw_dest_key k = dest(10, 0, 0, 1, 5432);
	struct tw_dest_use u = {};
	struct netns_ports n = netns(40000, 40099, 0, 0, 0);
	const struct dest_row *c[2];
	static const struct {
		uint32_t in_use;
		int crossed, high;
	} steps[] = {
		{ 79, 0, 0 }, { 80, 1, 1 }, { 95, 0, 1 }, { 75, 0, 1 }, /* within the margin */
		{ 69, 1, 0 }, { 72, 0, 0 }, { 81, 1, 1 },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		u.in_use = steps[i].in_use;
		ports__update(p, &k, &u, 1, &n, 1);
		assert_int_equal(ports__crossed(p, c, 2), steps[i].crossed);
		if (steps[i].crossed)
			assert_int_equal(c[0]->high, steps[i].high);
	}
	/* a destination under pressure that is gone ends its pressure once */
	ports__update(p, NULL, NULL, 0, &n, 1);
	assert_int_equal(ports__crossed(p, c, 2), 1);
	assert_false(c[0]->high);
	ports__update(p, NULL, NULL, 0, &n, 1);
	assert_int_equal(ports__crossed(p, c, 2), 0);
	assert_int_equal(ports__top(p, c, 2), 0);
	ports__free(p);
}

/* Many destinations: the order is by use, ties by key; the index holds across updates. */
static void test_top_order_many(void **state)
{
	static struct tw_dest_key k[3000];
	static struct tw_dest_use u[3000];
	struct ports *p = ports__new(80);
	struct netns_ports n = netns(1024, 65535, 0, 0, 0);
	const struct dest_row *top[5];

	for (int i = 0; i < 3000; i++) {
		k[i] = dest(10, 1, i >> 8, i & 0xff, 443);
		u[i].in_use = i % 1000;
	}
	for (int round = 0; round < 3; round++) {
		assert_int_equal(ports__update(p, k, u, 3000, &n, 1), 0);
		assert_int_equal(ports__top(p, top, 5), 5);
		assert_int_equal(top[0]->ports_in_use, 999);
		assert_int_equal(top[3]->ports_in_use, 998);
	}
	ports__free(p);
}

static void test_free_accepts_null(void **state)
{
	ports__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headroom),
		cmocka_unit_test(test_headroom_floor),
		cmocka_unit_test(test_pressure_with_hysteresis),
		cmocka_unit_test(test_top_order_many),
		cmocka_unit_test(test_free_accepts_null),
	};

	return cmocka_run_group_tests_name("ports", tests, NULL, NULL);
}
