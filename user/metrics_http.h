/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --metrics-addr: serves the latest Prometheus text on GET /metrics with libmicrohttpd. */
#ifndef TWSCOPE_METRICS_HTTP_H
#define TWSCOPE_METRICS_HTTP_H

#include <stddef.h>

struct metrics_http;

/* Binds and listens on HOST:PORT ("" host = all addresses); NULL with a message in err. */
struct metrics_http *metrics_http__bind(const char *hostport, char *err, size_t errlen);
/* Starts serving (libmicrohttpd's thread) on the bound socket; 0 or -errno. */
int metrics_http__serve(struct metrics_http *m);
/* Replaces the text served from now on. */
int metrics_http__set(struct metrics_http *m, const char *text, size_t len);
void metrics_http__stop(struct metrics_http *m);

#endif
