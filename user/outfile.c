// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outfile.h"

#define TMP_TRIES 64

struct outfile {
	char *path; /* as given, for messages */
	char *name; /* the last component, opened relative to dirfd */
	int dirfd;
	ino_t created; /* the file this run created, 0 when none */
};

struct outfile *outfile__new(const char *path, char *err, size_t len)
{
	struct outfile *f = calloc(1, sizeof(*f));
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int ret;

	if (!f || !(f->path = strdup(path))) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	f->dirfd = -1;
	f->name = strdup(slash ? slash + 1 : path);
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!f->name || !dir) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	if (!f->name[0] || !strcmp(f->name, ".") || !strcmp(f->name, "..")) {
		snprintf(err, len, "%s: names a directory, not a file", path);
		goto fail;
	}
	/* pinned now: later renames of the path's directories cannot redirect the writes */
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		snprintf(err, len, "%s: directory %s: %s", path, dir, strerror(errno));
		goto fail;
	}
	ret = outfile__check(f, err, len);
	if (ret)
		goto fail;
	free(dir);
	return f;
fail:
	free(dir);
	outfile__free(f);
	return NULL;
}

static int check_stat(const struct outfile *f, const struct stat *st, char *why, size_t len)
{
	if (S_ISLNK(st->st_mode)) {
		snprintf(why, len, "%s is a symbolic link", f->path);
		return -ELOOP;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, len, "%s exists and is not a regular file", f->path);
		return -EINVAL;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, len, "%s belongs to uid %u, not to the agent's user", f->path,
			 (unsigned int)st->st_uid);
		return -EPERM;
	}
	if (st->st_nlink > 1) {
		snprintf(why, len, "%s has other hard links", f->path);
		return -EMLINK;
	}
	return 0;
}

int outfile__check(const struct outfile *f, char *why, size_t len)
{
	struct stat st;

	if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, len, "%s: %s", f->path, strerror(errno));
		return -errno;
	}
	return check_stat(f, &st, why, len);
}

static int write_all(int fd, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -ENOSPC;
		off += w;
	}
	return 0;
}

/* A fresh name beside the target that no one else can have made: ".NAME.XXXXXX". */
static int open_tmp(const struct outfile *f, char *tmp, size_t len)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];

	for (int i = 0; i < TMP_TRIES; i++) {
		char sfx[sizeof(rnd) + 1];
		int fd;

		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			for (size_t j = 0; j < sizeof(rnd); j++)
				rnd[j] = (unsigned char)(random() >> 8);
		for (size_t j = 0; j < sizeof(rnd); j++)
			sfx[j] = abc[rnd[j] % (sizeof(abc) - 1)];
		sfx[sizeof(rnd)] = '\0';
		if (snprintf(tmp, len, ".%s.%s", f->name, sfx) >= (int)len)
			return -ENAMETOOLONG;
		fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

int outfile__replace(const struct outfile *f, const void *data, size_t len)
{
	char tmp[512], why[256];
	int fd, ret;

	fd = open_tmp(f, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	ret = write_all(fd, data, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	/* checked again at the last moment: what appeared there since start is never replaced */
	if (!ret)
		ret = outfile__check(f, why, sizeof(why));
	if (!ret && renameat(f->dirfd, tmp, f->dirfd, f->name))
		ret = -errno;
	if (ret)
		unlinkat(f->dirfd, tmp, 0);
	else
		fsync(f->dirfd);
	return ret;
}

int outfile__open_append(struct outfile *f, bool *created)
{
	struct stat st;
	char why[256];
	int fd, flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

	*created = false;
	/* what is there must pass before it is opened: opening a device or a fifo can act */
	if (outfile__check(f, why, sizeof(why)))
		return -EPERM;
	fd = openat(f->dirfd, f->name, flags);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(f->dirfd, f->name, flags | O_CREAT | O_EXCL, 0644);
		*created = fd >= 0;
	}
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) || check_stat(f, &st, why, sizeof(why)) ||
	    fcntl(fd, F_SETFL, O_APPEND)) {
		close(fd);
		return -EPERM;
	}
	if (*created)
		f->created = st.st_ino;
	return fd;
}

void outfile__discard(const struct outfile *f)
{
	struct stat st;

	if (!f || !f->created)
		return;
	if (!fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) && st.st_ino == f->created &&
	    S_ISREG(st.st_mode) && st.st_size == 0)
		unlinkat(f->dirfd, f->name, 0);
}

bool outfile__dir_needs_override(const struct outfile *f)
{
	struct stat st;

	if (fstat(f->dirfd, &st))
		return true;
	if (st.st_uid == geteuid())
		return (st.st_mode & (S_IWUSR | S_IXUSR)) != (S_IWUSR | S_IXUSR);
	if (st.st_gid == getegid())
		return (st.st_mode & (S_IWGRP | S_IXGRP)) != (S_IWGRP | S_IXGRP);
	return (st.st_mode & (S_IWOTH | S_IXOTH)) != (S_IWOTH | S_IXOTH);
}

const char *outfile__path(const struct outfile *f)
{
	return f->path;
}

int outfile__dirfd(const struct outfile *f)
{
	return f ? f->dirfd : -1;
}

void outfile__free(struct outfile *f)
{
	if (!f)
		return;
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->path);
	free(f->name);
	free(f);
}
