// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "twprobe.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static int lo_up(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		ret = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!ret && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a = {};
	socklen_t len = sizeof(a);

	return getsockname(fd, (struct sockaddr *)&a, &len) ? 0 : ntohs(a.sin_port);
}

/* The connection, made inside the namespace this thread was moved to. */
static int connect_pair(struct twprobe *p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	p->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	p->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->listener < 0 || p->client < 0)
		return -errno;
	if (bind(p->listener, (struct sockaddr *)&a, sizeof(a)) || listen(p->listener, 1) ||
	    getsockname(p->listener, (struct sockaddr *)&a, &len) ||
	    connect(p->client, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	p->server = accept4(p->listener, NULL, NULL, SOCK_CLOEXEC);
	if (p->server < 0)
		return -errno;
	len = sizeof(p->net_cookie);
	if (getsockopt(p->client, SOL_SOCKET, SO_NETNS_COOKIE, &p->net_cookie, &len))
		return -errno;
	p->sport = local_port(p->client);
	p->dport = ntohs(a.sin_port);
	return p->sport && p->net_cookie ? 0 : -EINVAL;
}

int twprobe__open(struct twprobe *p)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), ret;

	memset(p, 0, sizeof(*p));
	p->client = p->server = p->listener = -1;
	if (self < 0)
		return -errno;
	if (unshare(CLONE_NEWNET)) {
		ret = -errno;
		close(self);
		return ret;
	}
	ret = lo_up();
	if (!ret)
		ret = connect_pair(p);
	if (setns(self, CLONE_NEWNET) && !ret)
		ret = -errno;
	close(self);
	return ret;
}

static int read_eof(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 0 ? 0 : n < 0 ? -errno : -EPROTO;
}

int twprobe__time_wait(struct twprobe *p)
{
	int ret;

	/* the client's FIN, the server's EOF and FIN: the client (still open) goes TIME_WAIT */
	if (shutdown(p->client, SHUT_WR))
		return -errno;
	if ((ret = read_eof(p->server)))
		return ret;
	close(p->server);
	p->server = -1;
	return read_eof(p->client);
}

void twprobe__close(struct twprobe *p)
{
	if (p->client > 0)
		close(p->client);
	if (p->server > 0)
		close(p->server);
	if (p->listener > 0)
		close(p->listener);
	p->client = p->server = p->listener = -1;
}
