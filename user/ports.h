/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ephemeral-port headroom per destination, from each interval's census of the bind hash: ports
 * in use toward each destination, the ports the range leaves (reserved ones out), the ports
 * bind() took from every destination, and pressure, with hysteresis, when use crosses a level.
 * Pure: no I/O, no BPF.
 */
#ifndef TWSCOPE_PORTS_H
#define TWSCOPE_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twscope.h"

/* Pressure ends when use falls this many points below the level. */
#define PORTS_HYSTERESIS_PCT 10

struct netns_ports {
	uint64_t cookie;
	struct tw_netns_ports p;
};

struct dest_row {
	struct tw_dest_key key;
	uint32_t ports_in_use;
	uint32_t time_wait;
	uint32_t ports_available; /* the range less reserved ports */
	uint32_t ports_bound; /* of the netns's range, taken by bind(): lost to every destination */
	bool time_wait_reusable; /* tcp_tw_reuse lets connect() take these TIME_WAITs */
	double headroom;	 /* free fraction of ports_available, 0..1 */
	__u64 ino[TW_DEST_SAMPLES];
	uint32_t owned;	      /* sockets toward it with a file: ino[] is a sample of them */
	uint32_t bound_owned; /* the same for the netns's bind()-taken ports */
	bool high;	      /* under pressure */
	bool changed;	      /* crossed the level (either way) in the last update */
	uint32_t seen;	      /* update it was last in */
};

/* A process among the sampled sockets, and how many of the samples it holds. */
struct proc_count {
	struct tw_proc p;
	uint32_t n;
};

/* The processes of n samples (pid 0: none), each once, most samples first; returns how many. */
size_t ports__tally(const struct tw_proc *in, size_t n, struct proc_count *out);

struct ports;

struct ports *ports__new(unsigned int pressure_pct);
/* One census: every destination and namespace seen. Rows not seen again are dropped. */
int ports__update(struct ports *p, const struct tw_dest_key *keys, const struct tw_dest_use *uses,
		  size_t n, const struct netns_ports *ns, size_t nns);
/* The rows of the last update by ports in use, most first; returns how many (<= max). */
size_t ports__top(const struct ports *p, const struct dest_row **out, size_t max);
/* Rows whose pressure level changed in the last update (level: row->high). */
size_t ports__crossed(const struct ports *p, const struct dest_row **out, size_t max);
/* A destination of the last update, or NULL. */
const struct dest_row *ports__find(const struct ports *p, uint64_t netns_cookie, uint16_t family,
				   const uint8_t *addr, uint16_t port);
/* The census that fed the last update ran out of steps or map room: counts are lower bounds. */
void ports__set_incomplete(struct ports *p, bool incomplete);
bool ports__incomplete(const struct ports *p);
/* Destinations the last update keeps (in use, or still under pressure). */
size_t ports__count(const struct ports *p);
/* Namespaces of the last update. */
size_t ports__netns(const struct ports *p, const struct netns_ports **out);
void ports__free(struct ports *p);

#endif
