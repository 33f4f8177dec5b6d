// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "netns.h"

uint32_t netns__self(void)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		return 0;
	return st.st_ino;
}

static int open_if(const char *path, uint32_t inum)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (uint32_t)st.st_ino != inum) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* Calls fn for each candidate path of a namespace file; stops when fn returns non-zero. */
static void each_ns_path(int (*fn)(const char *path, void *arg), void *arg)
{
	char path[300];
	struct dirent *de;
	DIR *d = opendir("/run/netns");

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
			if (fn(path, arg)) {
				closedir(d);
				return;
			}
		}
		closedir(d);
	}
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (fn(path, arg))
			break;
	}
	closedir(d);
}

struct find_arg {
	uint32_t inum;
	int fd;
};

static int find_one(const char *path, void *arg)
{
	struct find_arg *f = arg;
	struct stat st;

	if (stat(path, &st) || (uint32_t)st.st_ino != f->inum)
		return 0;
	f->fd = open_if(path, f->inum);
	return f->fd >= 0;
}

int netns__open(uint32_t inum, uint32_t pid_hint)
{
	struct find_arg f = { .inum = inum, .fd = -ENOENT };
	char path[64];
	int fd;

	if (pid_hint) {
		snprintf(path, sizeof(path), "/proc/%u/ns/net", pid_hint);
		fd = open_if(path, inum);
		if (fd >= 0)
			return fd;
	}
	each_ns_path(find_one, &f);
	return f.fd;
}

#define NETNS_SEEN_MAX 4096

struct each_arg {
	netns_fn fn;
	void *arg;
	uint32_t seen[NETNS_SEEN_MAX];
	size_t n;
};

/* Opens each namespace once, hands it to the callback, closes it: one fd at a time. */
static int each_one(const char *path, void *arg)
{
	struct each_arg *e = arg;
	struct stat st;
	int fd;

	if (stat(path, &st))
		return 0;
	for (size_t i = 0; i < e->n; i++)
		if (e->seen[i] == (uint32_t)st.st_ino)
			return 0;
	if (e->n == NETNS_SEEN_MAX)
		return 1;
	fd = open_if(path, st.st_ino);
	if (fd < 0)
		return 0;
	e->seen[e->n++] = st.st_ino;
	e->fn(fd, st.st_ino, e->arg);
	close(fd);
	return 0;
}

size_t netns__each(netns_fn fn, void *arg)
{
	struct each_arg *e = calloc(1, sizeof(*e));
	size_t n;

	if (!e)
		return 0;
	e->fn = fn;
	e->arg = arg;
	each_ns_path(each_one, e);
	n = e->n;
	free(e);
	return n;
}
