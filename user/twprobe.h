/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One TIME_WAIT the agent makes itself at start, on loopback in a private network namespace:
 * its timer names tw_timer_handler and HZ to the BPF side (no /proc/kallsyms, no config file).
 */
#ifndef TWSCOPE_TWPROBE_H
#define TWSCOPE_TWPROBE_H

#include <stdint.h>

struct twprobe {
	uint64_t net_cookie; /* of the private namespace */
	uint16_t sport;	     /* the TIME_WAIT's local port (the side that closes first) */
	uint16_t dport;
	int client, server, listener;
};

/* A connection in a new namespace, not closed yet; the caller's namespace is kept. */
int twprobe__open(struct twprobe *p);
/* Closes the connection client first: the client's socket enters TIME_WAIT before it returns. */
int twprobe__time_wait(struct twprobe *p);
/* Closes what is left (the namespace goes with it). Accepts a zeroed probe. */
void twprobe__close(struct twprobe *p);

#endif
