/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Network namespaces by inode: found through /proc/PID/ns/net and /run/netns, entered by setns. */
#ifndef TWSCOPE_NETNS_H
#define TWSCOPE_NETNS_H

#include <stddef.h>
#include <stdint.h>

/* Inode of the calling thread's network namespace, or 0. */
uint32_t netns__self(void);
/* Opens the namespace with that inode, trying pid_hint first; fd or -errno. */
int netns__open(uint32_t inum, uint32_t pid_hint);
typedef void (*netns_fn)(int fd, uint32_t inum, void *arg);

/* Calls fn once per distinct reachable namespace (fd closed after); returns how many. */
size_t netns__each(netns_fn fn, void *arg);

#endif
