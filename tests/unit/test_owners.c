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
	struct tw_owner_rec *recs = calloc(4, sizeof(*recs));
	size_t k = 0;

	f->passes++;
	f->nasked = n;
	memcpy(f->asked, inos, n * sizeof(*inos));
	for (int p = 0; p < 4; p++) {
		uint32_t found = 0;

		for (uint32_t i = 0; i < n; i++)
			if (f->ino[p] && f->ino[p] == inos[i])
				found |= 1u << i;
		if (!found)
			continue;
		recs[k].hdr.type = TW_REC_OWNER;
		recs[k].hdr.size = sizeof(recs[k]);
		recs[k].pid = f->pid[p];
		recs[k].found = found;
		strcpy(recs[k].comm, "server");
		k++;
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

	owners__name(o, &r, 100 * MS);
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
		owners__name(o, &r, 200 * MS + i * MS);
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

	owners__name(o, &r, 100 * MS);
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

	owners__name(o, &r, 100 * MS);
	assert_int_equal(f.passes, 0);
	owners__free(o);
}

/* Passes are spaced: a burst of new inodes does not walk every task each time. */
static void test_passes_are_spaced(void **state)
{
	struct fake f = {};
	struct owners *o = owners__new(fake_walk, &f);

	for (uint64_t i = 1; i <= 50; i++) {
		struct tw_snap_rec r = snap(1, (uint64_t[]){ 1000 + i });

		owners__name(o, &r, 100 * MS + i * 1000);
	}
	assert_int_equal(f.passes, 1);
	owners__free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_by_inode_once),
		cmocka_unit_test(test_exited_owner),
		cmocka_unit_test(test_nothing_to_name),
		cmocka_unit_test(test_passes_are_spaced),
	};

	return cmocka_run_group_tests_name("owners", tests, NULL, NULL);
}
