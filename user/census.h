/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Runs the ephemeral-port census (bpf/census.bpf.c) and collects its counts. */
#ifndef TWSCOPE_CENSUS_H
#define TWSCOPE_CENSUS_H

#include <stddef.h>
#include "ports.h"

struct loader;

struct census {
	struct tw_dest_key *keys;
	struct tw_dest_use *uses;
	size_t n, cap;
	struct netns_ports *ns;
	size_t nns, ns_cap;
	struct tw_census_stats stats;
	uint64_t run_ns; /* wall time of the last run */
};

/* One walk of the bind hash; its maps are read and left empty for the next. 0 or -errno. */
int census__run(struct census *c, struct loader *l);
void census__free(struct census *c);

#endif
