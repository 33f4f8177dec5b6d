/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An output file named on the command line (--log, --prom), written by a root daemon: its
 * directory is opened once at start, the file itself is never reached through a symlink, and
 * only a regular file of the agent's own user is ever written or replaced.
 */
#ifndef TWSCOPE_OUTFILE_H
#define TWSCOPE_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

struct outfile;

/* Opens the directory of path and checks the target; NULL with a one-line reason in err. */
struct outfile *outfile__new(const char *path, char *err, size_t len);
/* 0 when the target is absent or the agent's own regular file with one link; else -errno
 * with the reason in why. Never opens the target. */
int outfile__check(const struct outfile *f, char *why, size_t len);
/* Replaces the target whole: a new temporary file (O_EXCL|O_NOFOLLOW) in the same directory,
 * fsync, rename; refuses a target that is not the agent's own regular file. 0 or -errno. */
int outfile__replace(const struct outfile *f, const void *data, size_t len);
/* Opens the target read-write for appending (creating it, *created set), checked after the open; an
 * fd or -errno (-EPERM for a target that is not the agent's own regular file). */
int outfile__open_append(struct outfile *f, bool *created);
/* Removes the target if it is still the empty file this run created (a failed start). */
void outfile__discard(const struct outfile *f);
/* True when creating files in the directory needs CAP_DAC_OVERRIDE (not writable by root's own
 * permission bits, e.g. owned by another user). */
bool outfile__dir_needs_override(const struct outfile *f);
const char *outfile__path(const struct outfile *f);
/* The directory pinned at start; -1 for NULL. */
int outfile__dirfd(const struct outfile *f);
void outfile__free(struct outfile *f);

#endif
