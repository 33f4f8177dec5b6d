/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command line of the contract, parsed without side effects so it can be unit-tested. */
#ifndef TWSCOPE_CLI_H
#define TWSCOPE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include "buf.h"
#include "twscope.h"

#define CLI_MAX_PORTS 64

/* How the TIME_WAIT programs read a tw: chosen by a BTF probe, or forced (hidden option). */
enum tw_reads {
	TW_READS_AUTO,
	TW_READS_DIRECT,
	TW_READS_CORE,
};

struct tw_opts {
	bool json;
	bool help;
	bool version;
	bool check;   /* print the kernel's features and the paths the agent takes, then exit */
	bool verbose; /* libbpf's and the verifier's log on stderr */
	enum tw_reads tw_reads;
	uint16_t ports[CLI_MAX_PORTS];
	int nports;
	uint32_t pid;
	uint32_t netns;
	int family;	     /* 0, AF_INET or AF_INET6 */
	unsigned int events; /* enum tw_event_mask */
	unsigned int interval_s;
	unsigned int duration_s; /* 0 = until interrupted */
	const char *log_path;
	const char *prom_path;
	const char *metrics_addr;
	unsigned int top;	   /* timeline rows before "other" */
	unsigned int window_s;	   /* timeline history */
	unsigned int idle_s;	   /* a port idle this long is reclaimed; 0 never */
	unsigned int pressure_pct; /* port_pressure level, percent of a destination's ports */
	unsigned int ringbuf_kb;
	unsigned int max_tw; /* live TIME_WAIT table slots, a power of two */
	bool hooks_only;     /* hidden, for the bench: programs attached but returning at once */
};

/*
 * Returns 0 on success (check help/version), or -EINVAL with a one-line message in err.
 */
int cli__parse(struct tw_opts *o, int argc, char **argv, char *err, size_t errlen);
/* Fills the help text. */
void cli__usage(struct buf *b);
/* Parses a port list "80,443"; 0 or -EINVAL with message. */
int cli__parse_ports(struct tw_opts *o, const char *arg, char *err, size_t errlen);
int cli__parse_events(const char *arg, unsigned int *mask, char *err, size_t errlen);
/* Splits "HOST:PORT" or "[v6]:PORT"; host may be empty (all addresses). */
int cli__parse_hostport(const char *arg, char *host, size_t hostlen, uint16_t *port);

#endif
