// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "cli.h"
#include "metrics_http.h"

/*
 * Far more clients than a scrape needs; a client that sends nothing for 10 s (a scraper's own
 * default timeout) is dropped. Not less: libmicrohttpd 0.9.75 checks the idle limit before it
 * reads the requests epoll reported, so a thread held up that long drops clients that did send.
 */
#define CONN_LIMIT     2048
#define PER_IP_LIMIT   1024
#define IDLE_TIMEOUT_S 10
#define CONN_MEMORY    16384
#define LOG_INTERVAL_S 60
#define FDS_WANTED     (CONN_LIMIT + 256)

struct metrics_http {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char *text;
	size_t len;
	int fd; /* the listening socket, bound before the daemon starts */
	int family;
	bool started;	  /* start-up failures are the caller's one line, not the library's */
	time_t logged_at; /* libmicrohttpd's messages: one line a minute at most */
	unsigned long suppressed;
};

/* Clients decide what the library complains about: never more than a line a minute. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics_http *m = cls;
	struct timespec now;
	char msg[256];
	size_t n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&m->lock);
	if (!m->started || (m->logged_at && now.tv_sec - m->logged_at < LOG_INTERVAL_S)) {
		m->suppressed += m->started;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strcspn(msg, "\n");
	fprintf(stderr, "twscope: metrics server: %.*s (%lu more in the last minute)\n", (int)n,
		msg, m->suppressed);
	m->logged_at = now.tv_sec;
	m->suppressed = 0;
	pthread_mutex_unlock(&m->lock);
}

/* Room for every connection: the soft limit raised towards the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= FDS_WANTED)
		return;
	r.rlim_cur = r.rlim_max < FDS_WANTED ? r.rlim_max : FDS_WANTED;
	setrlimit(RLIMIT_NOFILE, &r);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct metrics_http *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned int code = MHD_HTTP_OK;
	const char *type = "text/plain; version=0.0.4; charset=utf-8";
	char *body;
	size_t len;

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		body = strdup("only GET\n");
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics")) {
		body = strdup("twscope: metrics are at /metrics\n");
		code = MHD_HTTP_NOT_FOUND;
	} else {
		pthread_mutex_lock(&m->lock);
		body = m->text ? strndup(m->text, m->len) : strdup("");
		pthread_mutex_unlock(&m->lock);
	}
	if (!body)
		return MHD_NO;
	len = strlen(body);
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The listening socket, bound at start so a taken address fails before anything is written. */
static int bind_listener(const char *hostport, int *family, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai = NULL;
	char host[256], port[8];
	int fd = -1, one = 1, rc;
	uint16_t p;

	if (cli__parse_hostport(hostport, host, sizeof(host), &p)) {
		snprintf(err, errlen, "bad --metrics-addr '%s': expected HOST:PORT", hostport);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", p);
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "cannot resolve --metrics-addr host '%s': %s", host,
			 gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
		rc = -errno;
		snprintf(err, errlen, "cannot serve metrics on %s: %s", hostport, strerror(-rc));
		if (fd >= 0)
			close(fd);
		fd = rc;
	}
	*family = ai->ai_family;
	freeaddrinfo(ai);
	return fd;
}

struct metrics_http *metrics_http__bind(const char *hostport, char *err, size_t errlen)
{
	struct metrics_http *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	raise_fd_limit();
	m->fd = bind_listener(hostport, &m->family, err, errlen);
	if (m->fd < 0) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	return m;
}

int metrics_http__serve(struct metrics_http *m)
{
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (m->family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->started = true; /* from now on the library's messages are rate-limited, not dropped */
	/* the logger first: options before it would log through the library's own */
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, m, MHD_OPTION_EXTERNAL_LOGGER,
				mhd_log, m, MHD_OPTION_LISTEN_SOCKET, m->fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_END);
	return m->d ? 0 : -(errno ? errno : ENOMEM);
}

int metrics_http__set(struct metrics_http *m, const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&m->lock);
	free(m->text);
	m->text = copy;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void metrics_http__stop(struct metrics_http *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d); /* closes the listening socket too */
	else if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}
