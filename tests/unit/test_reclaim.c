// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reclaiming counter slots: dead namespaces, idle ports, the two steps and what delays them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "reclaim.h"
#include "rows.h"

#define OTHER_COOKIE 5000u

static struct port_row slot_row(uint32_t slot, uint64_t cookie, uint16_t port, int64_t tw,
				uint64_t entered)
{
	struct port_row r = local_row(port, tw, entered);

	r.key.netns_cookie = cookie;
	r.slot = slot;
	return r;
}

static void live(struct reclaim *r, const uint64_t *cookies, size_t n)
{
	struct tw_netns_id ids[8] = {};

	for (size_t i = 0; i < n; i++)
		ids[i].cookie = cookies[i];
	assert_int_equal(reclaim__set_live(r, ids, n, true), 0);
}

/* Runs a plan and has the "kernel" do it: every request succeeds. */
static size_t step(struct reclaim *r, uint64_t now, struct port_row *rows, size_t n,
		   struct tw_retire_req *req)
{
	size_t nreq = reclaim__plan(r, now, rows, n, NULL, 0, req, 16);

	for (size_t i = 0; i < nreq; i++)
		req[i].result = 1;
	reclaim__done(r, now, req, nreq);
	return nreq;
}

/* A dead namespace's slot: unmapped at once, freed an interval later; the live one stays. */
static void test_dead_namespace_two_steps(void **state)
{
	struct reclaim *r = reclaim__new(0);
	struct port_row rows[2] = { slot_row(3, NETNS_COOKIE, 80, 0, 5),
				    slot_row(4, OTHER_COOKIE, 80, 0, 5) };
	struct tw_retire_req req[16];
	uint64_t both[] = { NETNS_COOKIE, OTHER_COOKIE }, one[] = { OTHER_COOKIE };
	struct reclaim_ns done[4];

	live(r, both, 2);
	assert_int_equal(step(r, 10, rows, 2, req), 0);
	live(r, one, 1);
	assert_false(reclaim__alive(r, NETNS_COOKIE));
	assert_int_equal(step(r, 11, rows, 2, req), 1);
	assert_int_equal(req[0].op, TW_RETIRE_UNMAP);
	assert_int_equal(req[0].slot, 3);
	/* not finished while its slot is there */
	assert_int_equal(reclaim__finished(r, done, 4), 0);
	assert_int_equal(step(r, 12, rows, 2, req), 1);
	assert_int_equal(req[0].op, TW_RETIRE_FREE);
	assert_int_equal(req[0].slot, 3);
	assert_int_equal(reclaim__stats(r)->slots_freed, 1);
	/* the next sample has no slot of it; its row goes */
	reclaim__row_gone(r, &rows[0].key);
	assert_int_equal(step(r, 13, rows + 1, 1, req), 0);
	assert_int_equal(reclaim__finished(r, done, 4), 1);
	assert_int_equal(done[0].cookie, NETNS_COOKIE);
	assert_int_equal(done[0].inum, NETNS);
	assert_int_equal(done[0].slots_freed, 1);
	assert_int_equal(done[0].rows, 1);
	assert_int_equal(reclaim__stats(r)->netns_exited, 1);
	reclaim__free(r);
}

/* A TIME_WAIT still counted, or a write since the unmap (a program that had the slot), waits. */
static void test_free_waits_for_quiet(void **state)
{
	struct reclaim *r = reclaim__new(0);
	struct port_row rows[1] = { slot_row(7, NETNS_COOKIE, 80, 2, 5) };
	struct tw_retire_req req[16];
	uint64_t none[] = { OTHER_COOKIE };

	live(r, none, 1);
	assert_int_equal(step(r, 1, rows, 1, req), 1); /* unmapped, though TIME_WAITs live */
	assert_int_equal(req[0].op, TW_RETIRE_UNMAP);
	assert_int_equal(step(r, 2, rows, 1, req), 0); /* the teardown has not killed them yet */
	rows[0].val.tw = 0;
	rows[0].val.killed = 2;
	assert_int_equal(step(r, 3, rows, 1, req), 0); /* changed since the last plan */
	assert_int_equal(step(r, 4, rows, 1, req), 1);
	assert_int_equal(req[0].op, TW_RETIRE_FREE);
	reclaim__free(r);
}

/* A listener that took the slot back after the unmap: not freed, tried an interval later. */
static void test_free_retried_when_listener_held_it(void **state)
{
	struct reclaim *r = reclaim__new(0);
	struct port_row rows[1] = { slot_row(7, NETNS_COOKIE, 80, 0, 5) };
	struct tw_retire_req req[16];
	uint64_t none[] = { OTHER_COOKIE };
	size_t n;

	live(r, none, 1);
	step(r, 1, rows, 1, req);
	n = reclaim__plan(r, 2, rows, 1, NULL, 0, req, 16);
	assert_int_equal(n, 1);
	req[0].result = 2;
	reclaim__done(r, 2, req, 1);
	assert_int_equal(reclaim__stats(r)->slots_freed, 0);
	assert_int_equal(reclaim__plan(r, 2, rows, 1, NULL, 0, req, 16), 0);
	assert_int_equal(step(r, 3, rows, 1, req), 1);
	assert_int_equal(req[0].op, TW_RETIRE_FREE);
	assert_int_equal(reclaim__stats(r)->slots_freed, 1);
	reclaim__free(r);
}

/* Idle: no TIME_WAIT and no count for idle_s. A gauge above zero is never idle. */
static void test_idle_ports(void **state)
{
	struct reclaim *r = reclaim__new(30);
	struct port_row rows[2] = { slot_row(1, NETNS_COOKIE, 80, 0, 5),
				    slot_row(2, NETNS_COOKIE, 81, 1, 5) };
	struct tw_retire_req req[16];
	uint64_t me[] = { NETNS_COOKIE };

	live(r, me, 1);
	assert_int_equal(step(r, 100, rows, 2, req), 0);
	rows[0].val.bind_errors = 1; /* a count: idle from here */
	assert_int_equal(step(r, 110, rows, 2, req), 0);
	assert_int_equal(step(r, 139, rows, 2, req), 0);
	assert_int_equal(step(r, 140, rows, 2, req), 1);
	assert_int_equal(req[0].slot, 1);
	assert_int_equal(req[0].op, TW_RETIRE_UNMAP);
	assert_int_equal(step(r, 1000, rows, 2, req), 1);
	assert_int_equal(req[0].op, TW_RETIRE_FREE);
	/* the slot, freed, comes back for another key: a new life */
	rows[0] = slot_row(1, NETNS_COOKIE, 90, 0, 1);
	assert_int_equal(step(r, 1001, rows, 2, req), 0);
	reclaim__free(r);
	/* idle 0: never */
	r = reclaim__new(0);
	live(r, me, 1);
	assert_int_equal(step(r, 1, rows, 1, req), 0);
	assert_int_equal(step(r, 100000, rows, 1, req), 0);
	reclaim__free(r);
}

/* Without a complete walk no namespace is dead. */
static void test_incomplete_walk_kills_nothing(void **state)
{
	struct reclaim *r = reclaim__new(0);
	struct port_row rows[1] = { slot_row(1, NETNS_COOKIE, 80, 0, 5) };
	struct tw_netns_id ids[1] = { { .cookie = OTHER_COOKIE } };
	struct tw_retire_req req[16];

	assert_true(reclaim__alive(r, NETNS_COOKIE));
	assert_int_equal(step(r, 1, rows, 1, req), 0);
	assert_int_equal(reclaim__set_live(r, ids, 1, false), 0);
	assert_true(reclaim__alive(r, NETNS_COOKIE));
	assert_int_equal(step(r, 2, rows, 1, req), 0);
	reclaim__free(r);
}

/* Listener entries of a dead namespace go; a namespace with only those never had rows. */
static void test_listener_entries_of_dead_namespace(void **state)
{
	struct reclaim *r = reclaim__new(0);
	struct tw_retire_req req[16];
	uint64_t listen[] = { NETNS_COOKIE, OTHER_COOKIE }, me[] = { OTHER_COOKIE };
	struct reclaim_ns done[4];
	size_t n;

	live(r, me, 1);
	n = reclaim__plan(r, 1, NULL, 0, listen, 2, req, 16);
	assert_int_equal(n, 1);
	assert_int_equal(req[0].op, TW_RETIRE_LISTEN);
	assert_int_equal(req[0].key.netns_cookie, NETNS_COOKIE);
	req[0].result = 3;
	reclaim__done(r, 1, req, 1);
	assert_int_equal(reclaim__finished(r, done, 4), 0);
	assert_int_equal(reclaim__plan(r, 2, NULL, 0, listen + 1, 1, req, 16), 0);
	assert_int_equal(reclaim__finished(r, done, 4), 1);
	assert_int_equal(done[0].listen_dropped, 3);
	assert_int_equal(done[0].rows, 0);
	reclaim__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dead_namespace_two_steps),
		cmocka_unit_test(test_free_waits_for_quiet),
		cmocka_unit_test(test_free_retried_when_listener_held_it),
		cmocka_unit_test(test_idle_ports),
		cmocka_unit_test(test_incomplete_walk_kills_nothing),
		cmocka_unit_test(test_listener_entries_of_dead_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
