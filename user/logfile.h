/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The --log file: appended records, reopened on SIGHUP, write errors reported once and counted. */
#ifndef TWSCOPE_LOGFILE_H
#define TWSCOPE_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

struct logfile;

/* Opens (creating, appending) path; NULL with -errno in *err when it cannot be written. */
struct logfile *logfile__open(const char *path, int *err);
/* Appends one record and flushes it to the kernel; 0 or -errno (the first error is reported). */
int logfile__write(struct logfile *f, const char *data, size_t len);
/* Reopens the path: after logrotate moved or truncated it. */
int logfile__reopen(struct logfile *f);
/* fsyncs and closes; accepts NULL. */
void logfile__close(struct logfile *f);
uint64_t logfile__errors(const struct logfile *f);

#endif
