// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* owners: holders named by socket inode, one pass per new inode, exited owners said so. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "owners.h"

#define MS	 1000000ULL
#define GONE_PID 0x3ffffff0u /* above any pid_max: no such process */

struct fake {
	int passes;
	uint64_t asked[TW_ITER_INOS];
	uint32_t nasked;
	/* who holds what: inode -> pid */
	uint64_t ino[4];
	uint32_t pid[4];
};

static int fake_walk(void *ctx, const uint64_t *inos, uint32_t n, void **data, size_t *len)
{
	struct fake *f = ctx;
	struct tw_owner_rec *recs = calloc(4 * TW_ITER_INOS, sizeof(*recs));
	size_t k = 0;

	f->passes++;
	f->nasked = n < TW_ITER_INOS ? n : TW_ITER_INOS;
	memcpy(f->asked, inos, f->nasked * sizeof(*inos));
	for (int p = 0; p < 4; p++) {
		for (uint32_t i = 0; i < n; i++) {
			if (!f->ino[p] || f->ino[p] != inos[i])
				continue;
			recs[k].hdr.type = TW_REC_OWNER;
			recs[k].hdr.size = sizeof(recs[k]);
			recs[k].pid = f->pid[p];
			recs[k].ino = inos[i];
			strcpy(recs[k].comm, "server");
			k++;
		}
	}
	*data = recs;
	*len = k * sizeof(*recs);
	return 0;
}

static struct tw_snap_rec snap(uint32_t n, const uint64_t *inos)
{
	struct tw_snap_rec r;

	memset(&r, 0, sizeof(r));
	r.bind.nholders = n;
	for (uint32_t i = 0; i < n; i++) {
		r.holders[i].state = 7;
		r.holders[i].ino = inos[i];
	}
	return r;
}

static void test_named_by_inode_once(void **state)
{
	struct fake f = { .ino = { 11, 12 }, .pid = { (uint32_t)getpid(), (uint32_t)getpid() } };
	struct owners *o = owners__new(fake_walk, &f);
	uint64_t inos[] = { 11, 12, 13 };
	struct tw_snap_rec r = snap(3, inos);

	owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS);
	assert_int_equal(f.passes, 1);
	assert_int_equal(f.nasked, 3);
	assert_int_equal(r.holders[0].owner.pid, getpid());
	assert_string_equal(r.holders[1].owner.comm, "server");
	assert_int_equal(r.holders[2].owner.pid, 0); /* nobody had 13 */
	owners__mark_gone(o, &r, 100 * MS);
	assert_false(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	/* a storm on the same holders walks no more: named and unnamed alike are remembered */
	for (int i = 0; i < 100; i++) {
		r = snap(3, inos);
		owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 200 * MS + i * MS);
	}
	assert_int_equal(f.passes, 1);
	assert_int_equal(r.holders[1].owner.pid, getpid());
	owners__free(o);
}

/* An owner learned earlier whose process is gone is still named, as exited. */
static void test_exited_owner(void **state)
{
	struct fake f = { .ino = { 21 }, .pid = { GONE_PID } };
	struct owners *o = owners__new(fake_walk, &f);
	uint64_t inos[] = { 21 };
	struct tw_snap_rec r = snap(1, inos);

	owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS);
	assert_int_equal(r.holders[0].owner.pid, GONE_PID);
	/* gone or not is decided when the failure is explained, not when it is named */
	assert_false(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	owners__mark_gone(o, &r, 100 * MS);
	assert_true(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	/* a listener named in the kernel is checked the same way */
	r = snap(1, (uint64_t[]){ 99 });
	r.holders[0].owner.pid = GONE_PID;
	owners__mark_gone(o, &r, 100 * MS);
	assert_true(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	r.holders[0].owner.pid = getpid();
	r.holders[0].flags = 0;
	owners__mark_gone(o, &r, 100 * MS);
	assert_false(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	owners__free(o);
}

/* TIME_WAITs and sockets without a file have no owner to look for. */
static void test_nothing_to_name(void **state)
{
	struct fake f = {};
	struct owners *o = owners__new(fake_walk, &f);
	uint64_t inos[] = { 0, 0 };
	struct tw_snap_rec r = snap(2, inos);

	owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS);
	assert_int_equal(f.passes, 0);
	owners__free(o);
}

/* Passes are rationed: a burst of new inodes does not walk every task each time, and what was
 * not looked up says so instead of being called gone. */
static void test_passes_are_rationed(void **state)
{
	struct fake f = {};
	struct owners *o = owners__new(fake_walk, &f);
	struct tw_snap_rec r;

	for (uint64_t i = 1; i <= 50; i++) {
		r = snap(1, (uint64_t[]){ 1000 + i });
		owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS + i * 1000);
	}
	assert_int_equal(f.passes, 5); /* the burst */
	assert_true(r.holders[0].flags & TW_HOLDER_NOT_LOOKED_UP);
	assert_int_equal(owners__skipped(o), 45);
	/* many failures at once: one pass for all of them */
	{
		struct tw_snap_rec many[40], *ptrs[40];

		for (int i = 0; i < 40; i++) {
			many[i] = snap(1, (uint64_t[]){ 5000 + i });
			ptrs[i] = &many[i];
		}
		owners__name(o, ptrs, 40, 2000 * MS);
		assert_int_equal(f.passes, 6);
		assert_int_equal(f.nasked, 40);
		assert_false(many[39].holders[0].flags & TW_HOLDER_NOT_LOOKED_UP);
	}
	owners__free(o);
}

/* A daemon: the parent listened, then its child took over the socket and the parent exited. */
static void test_listener_held_by_another_now(void **state)
{
	struct fake f = { .ino = { 31 }, .pid = { (uint32_t)getpid() } };
	struct owners *o = owners__new(fake_walk, &f);
	struct tw_snap_rec r = snap(1, (uint64_t[]){ 31 });

	r.holders[0].owner.pid = GONE_PID; /* who called listen() */
	r.holders[0].flags = TW_HOLDER_LISTEN_OWNER;
	owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS);
	assert_int_equal(r.holders[0].owner.pid, getpid());
	assert_false(r.holders[0].flags & TW_HOLDER_LISTEN_OWNER);
	/* nobody has it any more: the listen() caller stays, to be said exited */
	r = snap(1, (uint64_t[]){ 32 });
	r.holders[0].owner.pid = GONE_PID;
	owners__name(o, (struct tw_snap_rec *[]){ &r }, 1, 100 * MS);
	owners__mark_gone(o, &r, 100 * MS);
	assert_int_equal(r.holders[0].owner.pid, GONE_PID);
	assert_true(r.holders[0].flags & TW_HOLDER_OWNER_GONE);
	owners__free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_by_inode_once),
		cmocka_unit_test(test_exited_owner),
		cmocka_unit_test(test_nothing_to_name),
		cmocka_unit_test(test_passes_are_rationed),
		cmocka_unit_test(test_listener_held_by_another_now),
	};

	return cmocka_run_group_tests_name("owners", tests, NULL, NULL);
}
