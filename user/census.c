// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "census.h"
#include "loader.h"
#include "twscope.skel.h"

#define BATCH 1024
#define CENSUS_MAX_SLICES 2048 /* more than the program takes to reach its step cap */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : BATCH;
	void *q;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	q = realloc(*p, ncap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

/* Reads every entry of a hash map and deletes it, a batch at a time. */
static int drain_map(int fd, void **keys, void **vals, size_t *n, size_t *cap, size_t ksize,
		     size_t vsize)
{
	size_t vcap = *cap;
	__u64 in = 0, out = 0;
	bool first = true;
	int ret;

	*n = 0;
	for (;;) {
		__u32 count = BATCH;

		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		if (grow(keys, cap, *n + BATCH, ksize) || grow(vals, &vcap, *n + BATCH, vsize))
			return -ENOMEM;
		ret = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out,
						      (char *)*keys + *n * ksize,
						      (char *)*vals + *n * vsize, &count, &opts);
		if (ret && errno != ENOENT)
			return -errno;
		*n += count;
		if (ret)
			return 0; /* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
}

int census__run(struct census *c, struct loader *l)
{
	size_t cap;
	uint64_t t0 = mono_ns();
	int ret;

	/* a test run keeps its CPU: the walk goes a slice a run, the CPU given up in between */
	l->skel->bss->census_stats.done = 0;
	l->skel->bss->census_stats.restart = 1;
	for (int i = 0; i < CENSUS_MAX_SLICES && !l->skel->bss->census_stats.done; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts);

		if (bpf_prog_test_run_opts(bpf_program__fd(l->skel->progs.census_run), &opts))
			return -errno;
		sched_yield();
	}
	c->stats = l->skel->bss->census_stats;
	cap = c->cap;
	ret = drain_map(bpf_map__fd(l->skel->maps.census_dests), (void **)&c->keys,
			(void **)&c->uses, &c->n, &cap, sizeof(*c->keys), sizeof(*c->uses));
	c->cap = cap;
	if (ret)
		return ret;
	{
		uint64_t *cookies = NULL;
		struct tw_netns_ports *vals = NULL;
		size_t n = 0, ncap = 0;

		ret = drain_map(bpf_map__fd(l->skel->maps.census_netns), (void **)&cookies,
				(void **)&vals, &n, &ncap, sizeof(*cookies), sizeof(*vals));
		if (!ret && !grow((void **)&c->ns, &c->ns_cap, n ? n : 1, sizeof(*c->ns))) {
			for (size_t i = 0; i < n; i++) {
				c->ns[i].cookie = cookies[i];
				c->ns[i].p = vals[i];
			}
			c->nns = n;
		} else if (!ret) {
			ret = -ENOMEM;
		}
		free(cookies);
		free(vals);
	}
	c->run_ns = mono_ns() - t0;
	return ret;
}

void census__free(struct census *c)
{
	if (!c)
		return;
	free(c->keys);
	free(c->uses);
	free(c->ns);
	memset(c, 0, sizeof(*c));
}
