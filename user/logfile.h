/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The --log file: whole records appended (a record that cannot be written whole is cut off
 * again and counted), reopened on SIGHUP, only ever the agent's own regular file.
 */
#ifndef TWSCOPE_LOGFILE_H
#define TWSCOPE_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logfile;

/* Checks the path and pins its directory, writing nothing; NULL with a one-line reason. */
struct logfile *logfile__new(const char *path, char *err, size_t len);
/* Opens (creating) the file for appending: once start-up can no longer fail. 0 or -errno. */
int logfile__open(struct logfile *f);
/* Appends one record (ending in a newline) whole or not at all; 0 or -errno (the first error
 * is reported, every failed record counted). */
int logfile__write(struct logfile *f, const char *data, size_t len);
/* Reopens the path: after logrotate moved or truncated it. */
int logfile__reopen(struct logfile *f);
/* A failed start: closes and removes the file if this run created it and wrote nothing. */
void logfile__discard(struct logfile *f);
/* True when the directory needs CAP_DAC_OVERRIDE for a reopen. */
bool logfile__needs_override(const struct logfile *f);
/* The directory pinned at start; -1 for NULL. */
int logfile__dirfd(const struct logfile *f);
/* fsyncs and closes; accepts NULL. */
void logfile__close(struct logfile *f);
uint64_t logfile__errors(const struct logfile *f);

#endif
