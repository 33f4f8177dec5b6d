// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "logfile.h"

struct logfile {
	char *path;
	int fd;
	uint64_t errors;
	int reported; /* errno last reported, so a full disk is said once */
};

static int open_path(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	return fd < 0 ? -errno : fd;
}

struct logfile *logfile__open(const char *path, int *err)
{
	struct logfile *f = calloc(1, sizeof(*f));

	*err = 0;
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->path = strdup(path);
	f->fd = open_path(path);
	if (!f->path || f->fd < 0) {
		*err = f->path ? f->fd : -ENOMEM;
		free(f->path);
		free(f);
		return NULL;
	}
	return f;
}

int logfile__write(struct logfile *f, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;

	if (f->fd < 0 && (f->fd = open_path(f->path)) < 0)
		goto fail;
	while (off < len) {
		n = write(f->fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			goto fail;
		}
		off += n;
	}
	f->reported = 0;
	return 0;
fail : {
	int err = f->fd < 0 ? -f->fd : errno;

	f->errors++;
	if (f->reported != err) {
		fprintf(stderr,
			"twscope: writing %s failed: %s (tracing goes on; failed writes are "
			"counted)\n",
			f->path, strerror(err));
		f->reported = err;
	}
	return -err;
}
}

int logfile__reopen(struct logfile *f)
{
	int fd = open_path(f->path);

	if (fd < 0)
		return fd;
	if (f->fd >= 0) {
		fsync(f->fd);
		close(f->fd);
	}
	f->fd = fd;
	return 0;
}

void logfile__close(struct logfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0) {
		fsync(f->fd);
		close(f->fd);
	}
	free(f->path);
	free(f);
}

uint64_t logfile__errors(const struct logfile *f)
{
	return f ? f->errors : 0;
}
