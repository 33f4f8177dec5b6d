// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* event: record checks, and a bind error rendered as a wrapped paragraph and as JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "bindwatch.h"
#include "event.h"

#define ST_TIME_WAIT 6

static struct tw_snap_rec snap_of(uint32_t nholders)
{
	struct tw_snap_rec r;

	memset(&r, 0, sizeof(r));
	r.bind.hdr.type = TW_REC_BIND_ERR;
	r.bind.hdr.size = sizeof(r.bind) + nholders * sizeof(r.holders[0]);
	r.bind.hdr.netns = 4026531840u;
	r.bind.proc.pid = 4321;
	memcpy(r.bind.proc.comm, "python3", 8);
	r.bind.family = 2;
	r.bind.proto = 6;
	r.bind.err = 98;
	r.bind.port = 8080;
	r.bind.addr[0] = 127;
	r.bind.addr[3] = 1;
	r.bind.call = TW_CALL_BIND;
	r.bind.snap_flags = TW_SNAP_TAKEN;
	r.bind.nholders = nholders;
	r.bind.holders_total = 1000;
	r.bind.on_port = 1000;
	r.bind.by_state[ST_TIME_WAIT] = 1000;
	r.bind.tw_noreuse = 1000;
	r.bind.tw_last_ms = 59500;
	for (uint32_t i = 0; i < nholders; i++) {
		struct tw_holder_rec *h = &r.holders[i];

		h->hdr.type = TW_REC_HOLDER;
		h->hdr.size = sizeof(*h);
		h->t.family = 2;
		h->t.saddr[0] = h->t.daddr[0] = 127;
		h->t.saddr[3] = h->t.daddr[3] = 1;
		h->t.sport = 8080;
		h->t.dport = 40000 + i;
		h->state = ST_TIME_WAIT;
		h->proto = 6;
		h->expires_in_ms = 59500 - i;
	}
	return r;
}

static void test_validate_snapshot(void **state)
{
	struct tw_snap_rec r = snap_of(3);

	assert_int_equal(event__validate(&r, r.bind.hdr.size), TW_REC_BIND_ERR);
	/* cut short */
	assert_int_equal(event__validate(&r, r.bind.hdr.size - 1), -EINVAL);
	/* a size that does not match the holders it claims */
	r.bind.nholders = 2;
	assert_int_equal(event__validate(&r, sizeof(r)), -EINVAL);
	r.bind.nholders = TW_SNAP_HOLDERS + 1;
	r.bind.hdr.size = sizeof(r.bind) + r.bind.nholders * sizeof(r.holders[0]);
	assert_int_equal(event__validate(&r, 65536), -EINVAL);
	/* a holder that is not one */
	r = snap_of(3);
	r.holders[1].hdr.type = TW_REC_STATE;
	assert_int_equal(event__validate(&r, sizeof(r)), -EINVAL);
	r = snap_of(0);
	assert_int_equal(event__validate(&r, sizeof(r.bind)), TW_REC_BIND_ERR);
}

struct out {
	struct render_ctx c;
	struct buf b;
	int json;
};

static void emit(void *ctx, const struct tw_snap_rec *r, const struct diag_result *d,
		 uint64_t repeats)
{
	struct out *o = ctx;

	if (o->json)
		event__json(&o->c, r, d, repeats, &o->b);
	else
		event__text(&o->c, r, d, repeats, &o->b);
}

static void render(struct out *o, const struct tw_snap_rec *r)
{
	struct bindwatch *w = bindwatch__new(1000000000ULL, emit, o);

	bindwatch__add(w, r, 1);
	bindwatch__free(w);
}

/* The explanation wraps at the terminal width; five holders, then how many more. */
static void test_text_paragraph(void **state)
{
	struct tw_snap_rec r = snap_of(TW_SNAP_HOLDERS);
	struct out o = { .c.cols = 72 };
	char *line, *save = NULL;
	int lines = 0, holders = 0, more = 0;

	render(&o, &r);
	assert_non_null(o.b.data);
	for (line = strtok_r(o.b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (lines++ == 0)
			continue; /* the event line keeps its columns */
		if (strlen(line) > 72) {
			print_error("line of %zu columns: \"%s\"\n", strlen(line), line);
			fail();
		}
		holders += strstr(line, "TIME-WAIT 127.0.0.1:8080") != NULL;
		more += strstr(line, "and 995 more") != NULL;
	}
	assert_int_equal(holders, 5);
	assert_int_equal(more, 1);
	assert_true(lines > 7);
	buf__free(&o.b);
}

static void test_json_holder_owner_fields(void **state)
{
	struct tw_snap_rec r = snap_of(2);
	struct out o = { .json = 1 };

	r.bind.by_state[ST_TIME_WAIT] = 0;
	r.bind.by_state[10] = 2;
	r.bind.holders_total = 2;
	for (int i = 0; i < 2; i++) {
		r.holders[i].state = 10;
		r.holders[i].expires_in_ms = -1;
	}
	r.holders[0].owner.pid = 77;
	memcpy(r.holders[0].owner.comm, "old-server", 11);
	r.holders[0].flags = TW_HOLDER_OWNER_GONE;
	r.holders[1].flags = TW_HOLDER_ORPHAN;
	render(&o, &r);
	assert_non_null(
		strstr(o.b.data, "\"pid\":77,\"comm\":\"old-server\",\"owner_exited\":true"));
	assert_non_null(strstr(o.b.data, "\"orphan\":true"));
	assert_non_null(strstr(o.b.data, "which has exited"));
	assert_non_null(strstr(o.b.data, "\"snapshot\":true"));
	buf__free(&o.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_snapshot),
		cmocka_unit_test(test_text_paragraph),
		cmocka_unit_test(test_json_holder_owner_fields),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
