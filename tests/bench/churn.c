// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* churn: loopback TCP churn for the bench: unshare -n sh -c 'ip link set lo up; churn -d 2' */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define NSEC	    1000000000ULL
#define BACKLOG	    4096
#define REQ_LEN	    8
#define MAX_THREADS 1024
#define MAX_SERVERS 4
/* -c client: connections the clients may be ahead of the server, well inside the backlog */
#define MAX_UNSERVED 1024
/* Hard errors in a row before a client gives up: one bad connection is noise, 1000 is a bug. */
#define MAX_CONSECUTIVE	 1000
#define DRAIN_TIMEOUT_NS (2 * NSEC)
#define CACHELINE	 64
/* connections a client keeps open at once while waiting for the server's FIN */
#define PIPELINE 16

enum closer { CLOSER_SERVER, CLOSER_CLIENT };

struct opts {
	unsigned int threads;
	double duration;
	bool duration_set;
	unsigned int port;
	enum closer closer;
	uint64_t count; /* 0 = run for duration */
	bool ipv6;
	bool json;
};

/*
 * One per thread, cache-line aligned so the per-connection counter bumps never share a line with
 * another thread's: the hot path then has no contended atomics at all (except the -n ticket).
 */
struct worker {
	_Alignas(CACHELINE) pthread_t tid;
	bool started;
	_Atomic uint64_t done;	    /* client: connections completed */
	_Atomic uint64_t connected; /* client: connect() succeeded */
	_Atomic uint64_t served;    /* server: accepted sockets closed */
	_Atomic uint64_t connect_errors;
	_Atomic uint64_t accept_errors;
	_Atomic uint64_t other_errors;
	uint64_t end_ns; /* client: when it finished its last connection */
};

static struct {
	struct opts o;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int lfd;
	_Atomic bool stop_clients;
	_Atomic bool stop_servers;
	_Atomic uint64_t tickets; /* -n: connections claimed so far */
	_Atomic unsigned int clients_running;
	_Atomic int64_t unserved; /* -c client: connected but not yet closed by the server */
	/* first fatal error, reported by main: 0 or -errno, and which call failed */
	_Atomic int fatal_err;
	const char *_Atomic fatal_what;
} g = { .lfd = -1 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC, .tv_nsec = ns % NSEC };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void inc(_Atomic uint64_t *c)
{
	/* only the owning thread writes; relaxed is enough for main's sum after join */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static bool flag(_Atomic bool *f)
{
	return atomic_load_explicit(f, memory_order_relaxed);
}

static void set_fatal(int err, const char *what)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&g.fatal_err, &zero, err))
		atomic_store(&g.fatal_what, what);
	atomic_store(&g.stop_clients, true);
}

static const char *addr_str(void)
{
	return g.o.ipv6 ? "[::1]" : "127.0.0.1";
}

static int open_listener(void)
{
	int one = 1;
	int fd, ret;

	fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* server-side TIME_WAITs from the previous run must not block the next one's bind */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (bind(fd, (struct sockaddr *)&g.addr, g.addrlen))
		goto fail;
	if (listen(fd, BACKLOG))
		goto fail;
	g.lfd = fd;
	return 0;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

/* Reads until want bytes arrived (0 = until EOF); returns 0 or -errno. */
static int drain_fd(int fd, size_t want)
{
	char buf[64];
	size_t got = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return want && got < want ? -ECONNRESET : 0;
		got += (size_t)n;
		if (want && got >= want)
			return 0;
	}
}

static void *server_main(void *arg)
{
	struct worker *w = arg;
	/*
	 * When the server closes first it must still read the request: closing with unread data
	 * sends RST instead of FIN and no TIME_WAIT would be left behind.
	 */
	size_t want = g.o.closer == CLOSER_SERVER ? REQ_LEN : 0;

	for (;;) {
		int fd = accept4(g.lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			/* main shut the listener down: accept() fails with EINVAL */
			if (flag(&g.stop_servers))
				break;
			if (err == EINTR)
				continue;
			inc(&w->accept_errors);
			if (err == EINVAL || err == EBADF || err == ENOTSOCK) {
				set_fatal(-err, "accept");
				break;
			}
			/* fd or memory exhaustion: back off instead of spinning on the error */
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				sleep_ns(NSEC / 1000);
			continue;
		}
		if (drain_fd(fd, want))
			inc(&w->other_errors);
		close(fd);
		inc(&w->served);
		if (g.o.closer == CLOSER_CLIENT)
			atomic_fetch_sub_explicit(&g.unserved, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Blocking connect that survives EINTR, after which the handshake goes on without us. */
static int do_connect(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err;
	socklen_t len = sizeof(err);

	if (!connect(fd, (struct sockaddr *)&g.addr, g.addrlen))
		return 0;
	if (errno != EINTR)
		return -errno;
	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return -errno;
	return -err;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		/* MSG_NOSIGNAL: a reset peer must be an error count, not a SIGPIPE death */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens one connection and sends the request: the fd, or -errno and *connected says how far. */
static int conn_open(struct worker *w, bool *connected)
{
	static const char req[REQ_LEN] = "churn\r\n";
	int fd, ret;

	*connected = false;
	fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = do_connect(fd);
	if (ret)
		goto fail;
	*connected = true;
	inc(&w->connected);
	/* the server accepts and closes it whatever happens next */
	if (g.o.closer == CLOSER_CLIENT)
		atomic_fetch_add_explicit(&g.unserved, 1, memory_order_relaxed);
	ret = send_all(fd, req, sizeof(req));
	if (ret)
		goto fail;
	return fd;
fail:
	close(fd);
	return ret;
}

struct client {
	struct worker *w;
	int epfd;
	int fds[PIPELINE]; /* -1 = free slot */
	unsigned int inflight;
	uint64_t owed; /* tickets claimed whose connection failed: retried so -n stays exact */
	bool exhausted;
	unsigned int consecutive;
};

/* Takes the right to open one more connection: a retry, a -n ticket, or free in duration mode. */
static bool claim(struct client *c)
{
	if (c->owed) {
		c->owed--;
		return true;
	}
	if (!g.o.count)
		return true;
	if (!c->exhausted && atomic_fetch_add(&g.tickets, 1) < g.o.count)
		return true;
	c->exhausted = true;
	return false;
}

/* Books a failed connection; returns -errno once they are no longer noise. */
static int failed(struct client *c, int err, bool connected)
{
	c->owed++;
	if (!connected) {
		inc(&c->w->connect_errors);
		/*
		 * Out of ephemeral ports (client TIME_WAITs with -c client): some expire or get
		 * reused soon, so wait a little instead of calling it a failure.
		 */
		if (err == -EADDRNOTAVAIL) {
			sleep_ns(NSEC / 1000);
			return 0;
		}
	} else {
		inc(&c->w->other_errors);
	}
	if (++c->consecutive < MAX_CONSECUTIVE)
		return 0;
	set_fatal(err, connected ? "connection" : "connect");
	return err;
}

static void completed(struct client *c)
{
	inc(&c->w->done);
	c->consecutive = 0;
}

/*
 * With the client closing first nothing paces the clients: were they faster than the server the
 * backlog would overflow, SYNs get dropped and connects stall for a 1 s retransmit. Wait a little
 * for the server instead, but only a little, in case a reset connection was never accepted.
 */
static void pace(void)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load_explicit(&g.unserved, memory_order_relaxed) < MAX_UNSERVED ||
		    flag(&g.stop_clients))
			return;
		sleep_ns(NSEC / 20000);
	}
}

/* Opens connections until the pipeline is full or the run is over; 0 or -errno on giving up. */
static int fill(struct client *c)
{
	while (c->inflight < PIPELINE && !flag(&g.stop_clients) && claim(c)) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		bool connected;
		unsigned int slot;
		int fd;

		if (g.o.closer == CLOSER_CLIENT)
			pace();
		fd = conn_open(c->w, &connected);

		if (fd < 0) {
			if (failed(c, fd, connected))
				return fd;
			continue;
		}
		/* client closes first: done right away, the TIME_WAIT stays on this side */
		if (g.o.closer == CLOSER_CLIENT) {
			close(fd);
			completed(c);
			continue;
		}
		for (slot = 0; c->fds[slot] >= 0; slot++)
			;
		ev.data.u32 = slot;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			int err = -errno;

			close(fd);
			if (failed(c, err, true))
				return err;
			continue;
		}
		c->fds[slot] = fd;
		c->inflight++;
	}
	return 0;
}

/* Closes the connections whose server side has closed; 0 or -errno on giving up. */
static int reap(struct client *c)
{
	struct epoll_event evs[PIPELINE];
	char buf[64];
	int n, i;

	n = epoll_wait(c->epfd, evs, PIPELINE, 100);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		unsigned int slot = evs[i].data.u32;
		ssize_t r = recv(c->fds[slot], buf, sizeof(buf), MSG_DONTWAIT);
		int err = r < 0 ? -errno : 0;

		/* data (the server sends none) or a spurious wakeup: keep waiting for the FIN */
		if (r > 0 || err == -EAGAIN || err == -EINTR)
			continue;
		close(c->fds[slot]);
		c->fds[slot] = -1;
		c->inflight--;
		if (!err)
			completed(c);
		else if (failed(c, err, true))
			return err;
	}
	return 0;
}

/*
 * With the server closing first each client keeps a few connections in flight and waits for their
 * FINs in batches: one blocking read per connection would cost two wakeups each and halve the rate.
 */
static void *client_main(void *arg)
{
	struct client c = { .w = arg, .epfd = -1 };
	unsigned int i;
	int ret = 0;

	for (i = 0; i < PIPELINE; i++)
		c.fds[i] = -1;
	if (g.o.closer == CLOSER_SERVER) {
		c.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (c.epfd < 0) {
			ret = -errno;
			set_fatal(ret, "epoll_create1");
		}
	}
	while (!ret && !atomic_load(&g.fatal_err)) {
		ret = fill(&c);
		if (ret)
			break;
		if (!c.inflight) {
			if (flag(&g.stop_clients) || c.exhausted)
				break;
			continue;
		}
		ret = reap(&c);
		if (ret)
			set_fatal(ret, "epoll_wait");
	}
	for (i = 0; i < PIPELINE; i++)
		if (c.fds[i] >= 0)
			close(c.fds[i]);
	if (c.epfd >= 0)
		close(c.epfd);
	c.w->end_ns = now_ns();
	atomic_fetch_sub(&g.clients_running, 1);
	return NULL;
}

static int start(struct worker *w, void *(*fn)(void *))
{
	int ret = pthread_create(&w->tid, NULL, fn, w);

	if (ret)
		return -ret;
	w->started = true;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: churn [OPTIONS]\n"
		"Opens and closes loopback TCP connections as fast as it can, to make TIME_WAITs.\n"
		"\n"
		"  -t, --threads N        client threads (default 2)\n"
		"  -d, --duration SECS    run time, may be fractional (default 5); -n: a limit\n"
		"  -p, --port P           server port (default 9000)\n"
		"  -c, --closer WHO       who closes first: server (default) or client\n"
		"  -n, --count N          stop after exactly N completed connections\n"
		"  -6                     use ::1 instead of 127.0.0.1\n"
		"      --json             print the result as one JSON object\n"
		"  -h, --help             show this help\n"
		"\n"
		"Run it in a fresh netns with lo up: unshare -n sh -c 'ip link set lo up; churn'.\n"
		"With -c client the TIME_WAITs pile up on the client's ephemeral ports, so in\n"
		"the netns first widen the range and allow reuse (else connects fail, counted):\n"
		"  sysctl -w net.ipv4.ip_local_port_range='1024 65000' net.ipv4.tcp_tw_reuse=1\n"
		"Exit: 0 done, 1 setup/run failure or -n not reached, 2 bad usage.\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("churn: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see churn --help)\n", stderr);
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would quietly wrap "-1" */
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_JSON = 256 };
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "closer", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int c;

	*o = (struct opts){ .threads = 2, .duration = 5, .port = 9000, .closer = CLOSER_SERVER };
	opterr = 0; /* our messages, one line each */
	while ((c = getopt_long(argc, argv, ":t:d:p:c:n:6h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_u64(optarg, 1, MAX_THREADS, &v))
				return usage_error("bad --threads '%s': expected 1..1024", optarg);
			o->threads = (unsigned int)v;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			/* a day is plenty and keeps the ns arithmetic far from overflow */
			if (errno || end == optarg || *end || !isfinite(o->duration) ||
			    o->duration <= 0 || o->duration > 86400)
				return usage_error("bad --duration '%s': expected seconds in "
						   "(0, 86400]",
						   optarg);
			o->duration_set = true;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 65535, &v))
				return usage_error("bad --port '%s': expected 1..65535", optarg);
			o->port = (unsigned int)v;
			break;
		case 'c':
			if (!strcmp(optarg, "server"))
				o->closer = CLOSER_SERVER;
			else if (!strcmp(optarg, "client"))
				o->closer = CLOSER_CLIENT;
			else
				return usage_error("bad --closer '%s': expected server or client",
						   optarg);
			break;
		case 'n':
			if (parse_u64(optarg, 1, UINT64_MAX / 2, &v))
				return usage_error("bad --count '%s': expected a positive integer",
						   optarg);
			o->count = v;
			break;
		case '6':
			o->ipv6 = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

static void set_addr(void)
{
	memset(&g.addr, 0, sizeof(g.addr));
	if (g.o.ipv6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&g.addr;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)g.o.port);
		a->sin6_addr = in6addr_loopback;
		g.addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&g.addr;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)g.o.port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		g.addrlen = sizeof(*a);
	}
}

/*
 * Waits for the run to end: the deadline, all -n tickets done, a fatal error or SIGINT/SIGTERM.
 * Returns the signal number that stopped it, or 0.
 */
static int wait_run(uint64_t t0, const sigset_t *sigs)
{
	uint64_t deadline =
		g.o.count && !g.o.duration_set ? UINT64_MAX : t0 + (uint64_t)(g.o.duration * NSEC);

	for (;;) {
		uint64_t now = now_ns(), left;
		struct timespec ts;
		int sig;

		if (now >= deadline || !atomic_load(&g.clients_running) ||
		    atomic_load(&g.fatal_err))
			return 0;
		left = deadline - now;
		/* with -n the end is the clients finishing, so look often; the deadline is exact */
		if (g.o.count && left > NSEC / 100)
			left = NSEC / 100;
		ts.tv_sec = (time_t)(left / NSEC);
		ts.tv_nsec = (long)(left % NSEC);
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig > 0)
			return sig;
	}
}

int main(int argc, char **argv)
{
	struct worker *ws = NULL;
	unsigned int nservers, nw, i;
	uint64_t t0, end, connected = 0, served = 0;
	uint64_t done = 0, cerr = 0, aerr = 0, oerr = 0, errs;
	sigset_t sigs;
	double secs, rate;
	int ret, sig = 0, status = 0;

	if (parse_opts(argc, argv, &g.o))
		return 2;
	set_addr();

	/* workers inherit the mask; main takes the signals synchronously in wait_run() */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ret = open_listener();
	if (ret) {
		fprintf(stderr, "churn: listen on %s:%u: %s%s\n", addr_str(), g.o.port,
			strerror(-ret), ret == -EADDRNOTAVAIL ? " (is lo up in this netns?)" : "");
		return 1;
	}

	/*
	 * One accept loop per four clients: a server that is a bit behind sleeps less and serves
	 * the clients' connections in batches, which beat one per client by a fifth on 2 vCPUs.
	 */
	nservers = (g.o.threads + 3) / 4;
	if (nservers > MAX_SERVERS)
		nservers = MAX_SERVERS;
	nw = nservers + g.o.threads;
	ws = aligned_alloc(CACHELINE, sizeof(*ws) * nw);
	if (!ws) {
		fprintf(stderr, "churn: out of memory\n");
		close(g.lfd);
		return 1;
	}
	memset(ws, 0, sizeof(*ws) * nw);

	for (i = 0; i < nservers && !ret; i++)
		ret = start(&ws[i], server_main);
	t0 = now_ns();
	for (; i < nw && !ret; i++) {
		atomic_fetch_add(&g.clients_running, 1);
		ret = start(&ws[i], client_main);
		if (ret)
			atomic_fetch_sub(&g.clients_running, 1);
	}
	if (ret) {
		fprintf(stderr, "churn: pthread_create: %s\n", strerror(-ret));
		status = 1;
	} else {
		sig = wait_run(t0, &sigs);
	}

	atomic_store(&g.stop_clients, true);
	end = t0;
	for (i = nservers; i < nw; i++) {
		if (!ws[i].started)
			continue;
		pthread_join(ws[i].tid, NULL);
		if (ws[i].end_ns > end)
			end = ws[i].end_ns;
	}

	/*
	 * With -c client the clients do not wait for the server, so accepted-but-unclosed sockets
	 * may remain: closing the listener now would reset them and lose their TIME_WAITs.
	 */
	for (uint64_t t = now_ns(); !status && !atomic_load(&g.fatal_err); sleep_ns(NSEC / 10000)) {
		connected = served = 0;
		for (i = 0; i < nw; i++) {
			connected += get(&ws[i].connected);
			served += get(&ws[i].served);
		}
		if (served >= connected || now_ns() - t > DRAIN_TIMEOUT_NS)
			break;
		end = now_ns();
	}

	atomic_store(&g.stop_servers, true);
	/* wakes every thread blocked in accept() on Linux */
	shutdown(g.lfd, SHUT_RDWR);
	for (i = 0; i < nservers; i++)
		if (ws[i].started)
			pthread_join(ws[i].tid, NULL);
	close(g.lfd);

	for (i = 0; i < nw; i++) {
		done += get(&ws[i].done);
		cerr += get(&ws[i].connect_errors);
		aerr += get(&ws[i].accept_errors);
		oerr += get(&ws[i].other_errors);
	}
	free(ws);
	errs = cerr + aerr + oerr;
	secs = (double)(end - t0) / NSEC;
	rate = secs > 0 ? (double)done / secs : 0;

	if (g.o.json)
		printf("{\"connections\":%llu,\"errors\":%llu,\"connect_errors\":%llu,"
		       "\"accept_errors\":%llu,\"other_errors\":%llu,\"seconds\":%.6f,"
		       "\"rate\":%.1f}\n",
		       (unsigned long long)done, (unsigned long long)errs, (unsigned long long)cerr,
		       (unsigned long long)aerr, (unsigned long long)oerr, secs, rate);
	else
		printf("churn: %llu connections in %.3f s (%.0f/s), %llu errors "
		       "(connect %llu, accept %llu, other %llu)\n",
		       (unsigned long long)done, secs, rate, (unsigned long long)errs,
		       (unsigned long long)cerr, (unsigned long long)aerr,
		       (unsigned long long)oerr);
	fflush(stdout);

	ret = atomic_load(&g.fatal_err);
	if (ret) {
		fprintf(stderr, "churn: %s %s:%u: %s%s\n", atomic_load(&g.fatal_what), addr_str(),
			g.o.port, strerror(-ret),
			ret == -ENETUNREACH ? " (is lo up in this netns?)" : "");
		status = 1;
	} else if (sig) {
		fprintf(stderr, "churn: stopped by %s\n", strsignal(sig));
		status = g.o.count && done < g.o.count ? 1 : status;
	} else if (g.o.count && done < g.o.count) {
		fprintf(stderr, "churn: only %llu of %llu connections within %g s\n",
			(unsigned long long)done, (unsigned long long)g.o.count, g.o.duration);
		status = 1;
	}
	if (served < connected)
		fprintf(stderr, "churn: server closed only %llu of %llu connections\n",
			(unsigned long long)served, (unsigned long long)connected);
	return status;
}
