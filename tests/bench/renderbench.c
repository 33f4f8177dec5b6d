// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's user-space cost per record, apart from the kernel and the host's load: a stream of
 * the frequent records (state, tw_enter, tw_exit) from two rings, reordered and rendered as text
 * and as JSON, timed in CPU time of this thread. Prints one JSON object (bench.py reads it).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "event.h"
#include "reorder.h"

#define RINGS 2
#define POOL  4096 /* connections built once, then cycled: building is not timed */

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

union rec {
	struct tw_hdr hdr;
	struct tw_state_rec st;
	struct tw_enter_rec en;
	struct tw_exit_rec ex;
};

/* A connection's records as --events all sees them: 10 transitions, an arm, a kill. */
static size_t connection(union rec *out, uint64_t ts, uint16_t port)
{
	static const unsigned char states[10][2] = { { 7, 2 }, { 10, 3 }, { 2, 1 }, { 3, 1 },
						     { 1, 4 }, { 1, 8 },  { 4, 5 }, { 8, 9 },
						     { 5, 7 }, { 9, 7 } };
	size_t n = 0;

	for (size_t i = 0; i < 10; i++, n++) {
		struct tw_state_rec *r = &out[n].st;

		memset(r, 0, sizeof(*r));
		r->hdr = (struct tw_hdr){ TW_REC_STATE, sizeof(*r), 4026531840u, ts + n * 1000 };
		r->t.family = 2;
		r->t.saddr[0] = r->t.daddr[0] = 127;
		r->t.saddr[3] = r->t.daddr[3] = 1;
		r->t.sport = i & 1 ? 9000 : port;
		r->t.dport = i & 1 ? port : 9000;
		r->proc.pid = 4242;
		memcpy(r->proc.comm, "churn", 6);
		r->oldstate = states[i][0];
		r->newstate = states[i][1];
	}
	memset(&out[n], 0, sizeof(out[n]));
	out[n].en.hdr =
		(struct tw_hdr){ TW_REC_TW_ENTER, sizeof(out[n].en), 4026531840u, ts + n * 1000 };
	out[n].en.t = out[0].st.t;
	out[n].en.proc = out[0].st.proc;
	out[n].en.expires_in_ns = 60000000000ULL;
	out[n].en.substate = 6;
	n++;
	memset(&out[n], 0, sizeof(out[n]));
	out[n].ex.hdr =
		(struct tw_hdr){ TW_REC_TW_EXIT, sizeof(out[n].ex), 4026531840u, ts + n * 1000 };
	out[n].ex.t = out[0].st.t;
	out[n].ex.proc.pid = 4242;
	out[n].ex.age_ns = 1000000;
	out[n].ex.reason = 1;
	return n + 1;
}

struct sink {
	struct render_ctx rc;
	struct buf out;
	bool json;
	size_t bytes;
};

static void render(void *ctx, void *rec)
{
	struct sink *s = ctx;

	if (s->json)
		event__json(&s->rc, rec, NULL, 1, &s->out);
	else
		event__text(&s->rc, rec, NULL, 1, &s->out);
	if (s->out.len > 65536) {
		s->bytes += s->out.len;
		buf__reset(&s->out);
	}
}

static void nop(void *ctx, void *rec)
{
	(*(size_t *)ctx)++;
}

/*
 * Per record: the reorder alone (records of two rings added and drained with a cutoff that
 * holds the newest 2 ms back, as the agent does), and render alone, text and JSON.
 */
int main(int argc, char **argv)
{
	size_t conns = 200000, per_drain = 400, total = 0, seen = 0;
	static union rec recs[POOL][12];
	static size_t nrecs[POOL];
	struct reorder *ro = reorder__new();
	struct sink s = { .rc.mono_to_real_ns = 1764626199LL * 1000000000LL };
	double t0, reorder_ns, text_ns = 0, json_ns = 0;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (conns = strtoul(optarg, NULL, 10)) == 0) {
			fprintf(stderr, "usage: renderbench [-n CONNECTIONS]\n");
			return 2;
		}
	}
	if (!ro)
		return 1;
	for (size_t i = 0; i < POOL; i++)
		nrecs[i] = connection(recs[i], 0, 32768 + i);
	t0 = cpu_ns();
	for (size_t i = 0; i < conns; i += per_drain) {
		size_t end = i + per_drain < conns ? i + per_drain : conns;

		/* a connection every 25 us, its records split over the rings, each consumed whole
		 */
		for (size_t ring = 0; ring < RINGS; ring++) {
			for (size_t j = i; j < end; j++) {
				union rec *r = recs[j % POOL];

				for (size_t k = ring; k < nrecs[j % POOL]; k += RINGS) {
					r[k].hdr.ts_ns = 1000000000ULL + j * 25000 + k * 1000;
					reorder__add(ro, &r[k], r[k].hdr.size, NULL);
					total++;
				}
			}
		}
		reorder__drain(ro, 1000000000ULL + end * 25000 - 2000000, nop, &seen);
	}
	reorder__drain(ro, UINT64_MAX, nop, &seen);
	reorder_ns = (cpu_ns() - t0) / total;
	for (int json = 0; json < 2; json++) {
		s.json = json;
		t0 = cpu_ns();
		for (size_t i = 0; i < conns; i++)
			for (size_t k = 0; k < nrecs[i % POOL]; k++)
				render(&s, &recs[i % POOL][k]);
		*(json ? &json_ns : &text_ns) = (cpu_ns() - t0) / total;
	}
	printf("{\"records\":%zu,\"reorder_ns\":%.1f,\"text_ns\":%.1f,\"json_ns\":%.1f}\n", total,
	       reorder_ns, text_ns, json_ns);
	reorder__free(ro);
	buf__free(&s.out);
	return seen == total ? 0 : 1;
}
