// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "event.h"
#include "holders.h"
#include "netns.h"

static void to_sock(const struct tw_holder_rec *h, struct diag_sock *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->laddr, h->t.saddr, 16);
	memcpy(s->raddr, h->t.daddr, 16);
	s->lport = h->t.sport;
	s->rport = h->t.dport;
	s->family = h->t.family;
	s->proto = h->proto;
	s->state = h->state;
	s->reuseaddr = h->reuseaddr;
	s->reuseport = h->reuseport;
	s->v6only = h->v6only;
	s->substate = h->substate;
	s->bound_dev = h->bound_dev;
	s->uid = h->uid;
	s->expires_in_ms = h->expires_in_ms;
	s->ino = h->ino;
}

/* Runs the socket iterator inside the record's netns: iter/tcp only sees the caller's netns. */
static int walk_sockets(struct loader *l, const struct tw_bind_rec *r, void **data, size_t *len)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = netns__open(r->hdr.netns, r->proc.pid), ret;

	if (self < 0 || target < 0) {
		ret = self < 0 ? -errno : target;
		goto cleanup;
	}
	if (setns(target, CLONE_NEWNET)) {
		ret = -errno;
		goto cleanup;
	}
	ret = loader__iter(l, r->proto == IPPROTO_UDP ? LOADER_ITER_UDP : LOADER_ITER_TCP, data,
			   len);
	if (setns(self, CLONE_NEWNET) && !ret)
		ret = -errno;
cleanup:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return ret;
}

/* Appends the holder records of an iterator buffer, skipping sockets already listed. */
static int add_holders(const void *buf, size_t len, struct diag_sock **res, size_t *count,
		       size_t *cap)
{
	for (size_t off = 0; off + sizeof(struct tw_hdr) <= len;) {
		const struct tw_hdr *h = (const void *)((const char *)buf + off);
		int type = event__validate(h, len - off);
		bool dup = false;

		if (type < 0)
			break;
		off += h->size;
		if (type != TW_REC_HOLDER)
			continue;
		/* only sockets with a file (an inode) can come from both walks */
		for (size_t i = 0; ((const struct tw_holder_rec *)h)->ino && i < *count && !dup;
		     i++)
			dup = (*res)[i].ino == ((const struct tw_holder_rec *)h)->ino;
		if (dup)
			continue;
		if (*count == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct diag_sock *p = realloc(*res, ncap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			*res = p;
			*cap = ncap;
		}
		to_sock((const struct tw_holder_rec *)h, &(*res)[(*count)++]);
	}
	return 0;
}

static void add_owners(const void *buf, size_t len, struct diag_sock *res, size_t count)
{
	for (size_t off = 0; off + sizeof(struct tw_hdr) <= len;) {
		const struct tw_hdr *h = (const void *)((const char *)buf + off);
		const struct tw_owner_rec *o = (const void *)h;
		int type = event__validate(h, len - off);

		if (type < 0)
			break;
		off += h->size;
		if (type != TW_REC_OWNER || !o->ino)
			continue;
		for (size_t i = 0; i < count; i++) {
			if (res[i].ino != o->ino || res[i].pid)
				continue;
			res[i].pid = o->pid;
			memcpy(res[i].comm, o->comm, sizeof(res[i].comm));
		}
	}
}

int holders__collect(struct loader *l, const struct tw_bind_rec *r, struct diag_sock **out,
		     size_t *n)
{
	struct tw_iter_args *a = loader__iter_args(l);
	void *socks = NULL, *files = NULL;
	size_t slen = 0, flen = 0, count = 0, cap = 0;
	struct diag_sock *res = NULL;
	int ret;

	*out = NULL;
	*n = 0;
	memset(a, 0, sizeof(*a));
	a->netns = r->hdr.netns;
	a->proto = r->proto;
	if (r->call == TW_CALL_CONNECT) {
		a->port = r->src_port;
		a->dport = r->port;
		a->dfamily = r->family;
		memcpy(a->daddr, r->addr, 16);
	} else {
		a->port = r->port;
	}
	ret = walk_sockets(l, r, &socks, &slen);
	if (!ret)
		ret = add_holders(socks, slen, &res, &count, &cap);
	/* iter/task_file walks every task: owners, and bound-only TCP sockets no table lists */
	if (!ret && loader__iter(l, LOADER_ITER_TASK_FILE, &files, &flen) == 0) {
		ret = add_holders(files, flen, &res, &count, &cap);
		add_owners(files, flen, res, count);
	}
	if (ret)
		goto cleanup;
	*out = res;
	*n = count;
	res = NULL;
cleanup:
	memset(a, 0, sizeof(*a));
	free(socks);
	free(files);
	free(res);
	return ret;
}
