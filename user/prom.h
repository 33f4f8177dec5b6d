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

struct prom {
	size_t top;
	struct tw_port_key
		*labelled; /* keys that own a label set, kept so counters stay monotonic */
	size_t nlabelled;
	size_t seen_rows; /* agg rows already given their place: a label, or "other" for good */
};

struct prom_input {
	const struct agg *agg;
	const struct ports *ports; /* the last census, or NULL */
	const struct totals *totals;
	/* explained failures by call, errno slot and cause */
	uint64_t causes[TW_CALL_MAX][2][CAUSE_MAX];
	struct tcpext tcpext;
	uint64_t log_errors;
};

struct prom *prom__new(size_t top);
void prom__render(struct prom *p, const struct prom_input *in, struct buf *out);
void prom__free(struct prom *p);
/* Parses the text of /proc/net/netstat; 0 or -EINVAL. */
int tcpext__parse(const char *text, struct tcpext *t);
int tcpext__read(struct tcpext *t);

#endif
