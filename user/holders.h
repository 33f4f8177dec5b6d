/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The sockets behind a failed bind/listen/connect, found with iter/tcp|udp and iter/task_file. */
#ifndef TWSCOPE_HOLDERS_H
#define TWSCOPE_HOLDERS_H

#include <stddef.h>
#include "diag.h"
#include "loader.h"

/* Fills *out (malloc'd) with the sockets on the record's port in its netns, owners named. */
int holders__collect(struct loader *l, const struct tw_bind_rec *r, struct diag_sock **out,
		     size_t *n);

#endif
