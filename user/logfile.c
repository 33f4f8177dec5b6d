// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "logfile.h"
#include "outfile.h"

struct logfile {
	struct outfile *out;
	int fd;
	bool need_nl; /* the file ends inside a line someone else left: start a new one */
	uint64_t errors;
	int reported; /* errno last reported, so a full disk is said once */
};

struct logfile *logfile__new(const char *path, char *err, size_t len)
{
	struct logfile *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	f->fd = -1;
	f->out = outfile__new(path, err, len);
	if (!f->out) {
		free(f);
		return NULL;
	}
	return f;
}

/* Whether the last byte of the file is a newline (or the file is empty). */
static bool ends_in_newline(int fd)
{
	struct stat st;
	char c;

	if (fstat(fd, &st) || st.st_size == 0)
		return true;
	return pread(fd, &c, 1, st.st_size - 1) != 1 || c == '\n';
}

static int open_fd(struct logfile *f)
{
	bool created;
	int fd = outfile__open_append(f->out, &created);

	if (fd < 0)
		return fd;
	if (f->fd >= 0) {
		fsync(f->fd);
		close(f->fd);
	}
	f->fd = fd;
	f->need_nl = !ends_in_newline(fd);
	return 0;
}

int logfile__open(struct logfile *f)
{
	return open_fd(f);
}

int logfile__reopen(struct logfile *f)
{
	return open_fd(f);
}

/* Cuts off the n bytes of a record that could not be written whole. */
static int roll_back(int fd, size_t n)
{
	struct stat st;

	/* O_APPEND wrote them at the end; a file truncated meanwhile (copytruncate) lost them */
	if (!n || fstat(fd, &st) || (uint64_t)st.st_size < n)
		return 0;
	return ftruncate(fd, st.st_size - n) ? -errno : 0;
}

static int write_record(struct logfile *f, const char *data, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = write(f->fd, data + *done, len - *done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		*done += n;
	}
	return 0;
}

int logfile__write(struct logfile *f, const char *data, size_t len)
{
	size_t done = 0, nl_done = 0;
	int err;

	if (f->fd < 0 && (err = open_fd(f)) < 0)
		goto fail;
	if (f->need_nl) {
		err = write_record(f, "\n", 1, &nl_done);
		if (err)
			goto fail;
		f->need_nl = false;
	}
	err = write_record(f, data, len, &done);
	if (err) {
		roll_back(f->fd, done);
		goto fail;
	}
	f->reported = 0;
	return 0;
fail:
	f->errors++;
	if (f->reported != err) {
		fprintf(stderr,
			"twscope: writing %s failed: %s (tracing goes on; failed records are "
			"counted)\n",
			outfile__path(f->out), strerror(-err));
		f->reported = err;
	}
	return err;
}

void logfile__discard(struct logfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	outfile__discard(f->out);
}

bool logfile__needs_override(const struct logfile *f)
{
	return f && outfile__dir_needs_override(f->out);
}

int logfile__dirfd(const struct logfile *f)
{
	return f ? outfile__dirfd(f->out) : -1;
}

void logfile__close(struct logfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0) {
		fsync(f->fd);
		close(f->fd);
	}
	outfile__free(f->out);
	free(f);
}

uint64_t logfile__errors(const struct logfile *f)
{
	return f ? f->errors : 0;
}
