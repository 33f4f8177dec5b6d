/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the agent may still do once its programs are attached and seeded: a short list of kept
 * capabilities, no_new_privs, a Landlock sandbox and a seccomp allow-list. Called while the agent
 * has one thread:
 * capabilities are per thread, and threads started later inherit all of it.
 */
#ifndef TWSCOPE_PRIVS_H
#define TWSCOPE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

struct privs_opts {
	int write_dirfds[2]; /* directories of --log and --prom (-1 when unused) */
	bool dac_override;   /* one of them is not writable by root's own permission bits */
};

/* Drops everything but the kept set, for good; 0 or -errno with a one-line reason in err. */
int privs__drop(const struct privs_opts *o, char *err, size_t len);

#endif
