/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus text exposition (version 0.0.4): per-port TIME_WAIT gauges and counters for at most
 * `top` ports plus port="other", host totals, bind errors by call/errno and by cause, lost events
 * and the host's TcpExt counters. Pure rendering; the file and HTTP outputs use it.
 */
#ifndef TWSCOPE_PROM_H
#define TWSCOPE_PROM_H

#include <stdint.h>
#include "agg.h"
#include "buf.h"
#include "diag.h"
#include "ports.h"
#include "report.h"

/* The TcpExt counters of /proc/net/netstat used for cross-checking. */
struct tcpext {
	uint64_t tw;
	uint64_t tw_recycled;
	uint64_t tw_killed;
	uint64_t tw_overflow;
	int ok;
};

/*
 * A key that owns a label set, for the life of its namespace: its counters go on from their
 * last values when its row was reclaimed (frozen) and comes back.
 */
struct prom_label {
	struct tw_port_key key;
	struct tw_port_val frozen; /* counters of the key's rows that left the aggregation */
	bool used;
	bool gone; /* no row now: the frozen values are shown */
};

struct prom {
	size_t top;
	struct prom_label *labels; /* top of them */
	struct tw_port_val
		retired; /* counters of the unlabelled rows that left: "other" keeps them */
	size_t *scratch; /* row of each label during a render */
};

struct prom_input {
	struct agg *agg;	   /* rows get their place (agg_series.label) at first sight */
	const struct ports *ports; /* the last census, or NULL */
	const struct totals *totals;
	/* explained failures by call, errno slot and cause */
	uint64_t causes[TW_CALL_MAX][2][CAUSE_MAX];
	struct tcpext tcpext;
	uint64_t log_errors;
};

struct prom *prom__new(size_t top);
/* A row leaves the aggregation: labelled, its values stay (dropped with its dead namespace). */
void prom__retire(struct prom *p, const struct agg_series *s, bool netns_dead);
/* A namespace died and all its state is gone: its labels go too. */
void prom__forget_netns(struct prom *p, uint64_t cookie);
void prom__render(struct prom *p, const struct prom_input *in, struct buf *out);
void prom__free(struct prom *p);
/* Parses the text of /proc/net/netstat; 0 or -EINVAL. */
int tcpext__parse(const char *text, struct tcpext *t);
int tcpext__read(struct tcpext *t);

#endif
