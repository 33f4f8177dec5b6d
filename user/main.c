// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* twscope: loads the programs, streams events, and reports counts every interval. */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "agg.h"
#include "bindwatch.h"
#include "census.h"
#include "check.h"
#include "cli.h"
#include "event.h"
#include "json.h"
#include "loader.h"
#include "logfile.h"
#include "metrics_http.h"
#include "netns.h"
#include "outfile.h"
#include "owners.h"
#include "ports.h"
#include "privs.h"
#include "prom.h"
#include "reclaim.h"
#include "reorder.h"
#include "report.h"

#define NSEC		1000000000ULL
#define TICK_NS		(100 * 1000000ULL)
#define BIND_WINDOW_NS	NSEC
#define OUT_FLUSH_BYTES (64 * 1024)
#define HOLD_BACK_NS	(2 * 1000000ULL)
#define MAX_PORT_ROWS	TW_PORT_SLOTS
#define MAX_RETIRE	4096 /* requests an interval; the rest wait for the next */
#define MAX_LISTEN_NS	TW_PORT_SLOTS
#define MAX_EXITS	64

struct app {
	struct tw_opts o;
	struct loader l;
	struct render_ctx rc;
	struct buf out;
	struct reorder *ro;
	struct owners *owners;
	size_t *new_binds; /* reorder offsets of the bind errors the last consume brought */
	size_t nnew, new_cap;
	struct census cen;
	struct ports *ports;
	bool census_failed;
	bool census_short; /* the last census hit its step cap or map size */
	struct bindwatch *bw;
	struct agg *agg;
	struct logfile *log;
	struct prom *prom;
	struct outfile *prom_out;
	struct metrics_http *http;
	struct port_row *rows;
	size_t nrows; /* of the last sample */
	struct reclaim *reclaim;
	struct tw_retire_req *reqs;
	uint64_t *listen_ns;
	struct report_other other;
	bool netns_walk_failed;
	bool utf8;
	bool stop;
	bool out_broken;
	bool prom_failed;
	uint64_t next_sec_ns;
	uint64_t next_interval_ns;
	uint64_t deadline_ns;
	uint64_t bad_records;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

__attribute__((format(printf, 1, 2))) static void p_err(const char *fmt, ...)
{
	va_list ap;

	fputs("twscope: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Writes the pending output straight to fd 1 (stdio would copy every byte once more); a closed
 * pipe (| head) ends the run quietly.
 */
static void out_flush(struct app *a)
{
	const char *p = a->out.data;
	size_t left = a->out.len;

	while (!a->out_broken && left) {
		ssize_t n = write(STDOUT_FILENO, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			a->out_broken = true;
			a->stop = true;
			break;
		}
		p += n;
		left -= n;
	}
	buf__reset(&a->out);
}

static void emit_bind(void *ctx, const struct tw_snap_rec *r, const struct diag_result *d,
		      uint64_t repeats)
{
	struct app *a = ctx;

	if (a->o.json)
		event__json(&a->rc, r, d, repeats, &a->out);
	else
		event__text(&a->rc, r, d, repeats, &a->out);
}

/* A record in time order: bind errors are explained (and coalesced), the rest rendered. */
static void dispatch(void *ctx, void *data)
{
	struct app *a = ctx;

	if (((const struct tw_hdr *)data)->type == TW_REC_BIND_ERR) {
		owners__mark_gone(a->owners, data, now_ns());
		bindwatch__add(a->bw, data, now_ns());
	} else if (a->o.json)
		event__json(&a->rc, data, NULL, 1, &a->out);
	else
		event__text(&a->rc, data, NULL, 1, &a->out);
	if (a->out.len > OUT_FLUSH_BYTES)
		out_flush(a);
}

/* The owner pass (iter/task) for these socket inodes. */
static int walk_owners(void *ctx, const uint64_t *inos, uint32_t n, void **data, size_t *len)
{
	struct app *a = ctx;
	struct tw_iter_args *args = loader__iter_args(&a->l);
	int ret;

	memset(args, 0, sizeof(*args));
	n = n < TW_ITER_INOS ? n : TW_ITER_INOS;
	memcpy(args->inos, inos, n * sizeof(*inos));
	args->ninos = n;
	ret = loader__iter(&a->l, LOADER_ITER_OWNERS, data, len);
	memset(args, 0, sizeof(*args));
	return ret;
}

/* A record from a ring: checked, copied for reordering; bind errors noted for naming. */
static int handle_record(struct app *a, void *data)
{
	size_t off;

	if (!reorder__add(a->ro, data, ((const struct tw_hdr *)data)->size, &off)) {
		dispatch(a, data); /* out of memory: in ring order rather than lost */
		return 0;
	}
	if (((const struct tw_hdr *)data)->type != TW_REC_BIND_ERR)
		return 0;
	if (a->nnew == a->new_cap) {
		size_t cap = a->new_cap ? a->new_cap * 2 : 64;
		size_t *p = realloc(a->new_binds, cap * sizeof(*p));

		if (!p)
			return 0; /* not named: its owners stay unnamed, the failure is kept */
		a->new_binds = p;
		a->new_cap = cap;
	}
	a->new_binds[a->nnew++] = off;
	return 0;
}

/* A ring sample: one record, or a tw_exit and the tw_enter whose arm settled it. */
static int handle_event(void *ctx, void *data, size_t len)
{
	struct app *a = ctx;

	while (len) {
		size_t size;

		if (event__validate(data, len) < 0) {
			a->bad_records++;
			return 0;
		}
		size = ((const struct tw_hdr *)data)->size;
		handle_record(a, data);
		data = (char *)data + size;
		len -= size;
	}
	return 0;
}

/*
 * The holders of the failures that just arrived are named at once, in one pass, while the
 * processes that own them are most likely still there.
 */
static void name_new(struct app *a)
{
	struct tw_snap_rec *recs[256];
	size_t n = 0;

	for (size_t i = 0; i < a->nnew; i++) {
		recs[n++] = reorder__at(a->ro, a->new_binds[i]);
		if (n == sizeof(recs) / sizeof(recs[0]) || i + 1 == a->nnew) {
			owners__name(a->owners, recs, n, now_ns());
			n = 0;
		}
	}
	a->nnew = 0;
}

/*
 * Consumes every ring and renders in time order. The newest records wait for the next drain: a
 * record reserved just before on another CPU may not be committed yet.
 */
static void drain(struct app *a, bool all)
{
	ring_buffer__consume(a->l.rb);
	name_new(a);
	reorder__drain(a->ro, all ? UINT64_MAX : now_ns() - HOLD_BACK_NS, dispatch, a);
}

/* Explanations wrap at the terminal's width, which may change while the agent runs. */
static void update_cols(struct app *a)
{
	struct winsize ws;

	if (!a->o.json && isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) &&
	    ws.ws_col)
		a->rc.cols = ws.ws_col;
}

static size_t read_ports(struct app *a)
{
	return loader__ports(&a->l, a->rows, MAX_PORT_ROWS);
}

static void read_totals(struct app *a, struct totals *t)
{
	uint64_t tot[TW_TOT_MAX] = {}, binds[TW_BIND_ERR_SLOTS] = {};

	const struct reclaim_stats *st = reclaim__stats(a->reclaim);

	loader__totals(&a->l, tot, binds);
	totals__from_kernel(t, tot, binds);
	t->missed_events = loader__missed(&a->l);
	t->port_slots_used = st->slots_used;
	t->port_slots_freed = st->slots_freed;
	t->netns_exited = st->netns_exited;
}

static void sample(struct app *a, uint64_t now)
{
	a->nrows = read_ports(a);
	agg__sample(a->agg, now / NSEC, a->rows, a->nrows);
}

/* A row left the aggregation: its values stay in the metrics, or go with its dead namespace. */
static void row_gone(void *ctx, const struct agg_series *s)
{
	struct app *a = ctx;

	reclaim__row_gone(a->reclaim, &s->key);
	prom__retire(a->prom, s, !reclaim__alive(a->reclaim, s->key.netns_cookie));
}

/*
 * After an interval's outputs: rows with no slot left go, then slots and listener entries of
 * dead namespaces and idle ports are taken back (reclaim.h), a step an interval.
 */
static void reclaim_tick(struct app *a, uint64_t now)
{
	struct reclaim_ns done[MAX_EXITS];
	const struct tw_netns_id *ids = NULL;
	size_t nlisten, nids = 0, nreq, ndone;
	bool complete = false;
	int ret;

	agg__prune(a->agg, row_gone, a);
	/* what the walk is compared with is read before it: a namespace made since is not dead */
	nlisten = loader__listen_cookies(&a->l, a->listen_ns, MAX_LISTEN_NS);
	ret = loader__netns(&a->l, &ids, &nids, &complete);
	if (ret && !a->netns_walk_failed)
		p_err("the walk of network namespaces failed: %s (nothing is reclaimed)",
		      strerror(-ret));
	a->netns_walk_failed = ret != 0;
	reclaim__set_live(a->reclaim, ids, nids, !ret && complete);
	nreq = reclaim__plan(a->reclaim, now / NSEC, a->rows, a->nrows, a->listen_ns, nlisten,
			     a->reqs, MAX_RETIRE);
	if (nreq && !loader__retire(&a->l, a->reqs, nreq)) {
		for (size_t i = 0; i < nreq; i++)
			if (a->reqs[i].op == TW_RETIRE_FREE && a->reqs[i].result == 1)
				agg__fold(a->agg, &a->reqs[i].key, &a->reqs[i].val);
		reclaim__done(a->reclaim, now / NSEC, a->reqs, nreq);
	}
	ndone = reclaim__finished(a->reclaim, done, MAX_EXITS);
	for (size_t i = 0; i < ndone; i++) {
		prom__forget_netns(a->prom, done[i].cookie);
		/* only a namespace whose rows were shown: the rest went unseen */
		if (a->o.events && done[i].rows)
			report__netns_exit(&a->rc, now, done[i].inum, done[i].cookie, done[i].rows,
					   done[i].slots_freed, done[i].listen_dropped, a->o.json,
					   &a->out);
	}
}

static void render_metrics(struct app *a, struct buf *out)
{
	struct prom_input in = { .agg = a->agg, .ports = a->ports };
	struct totals t;

	read_totals(a, &t);
	in.totals = &t;
	for (int c = 0; c < TW_CALL_MAX; c++)
		for (int e = 0; e < 2; e++)
			for (int k = 0; k < CAUSE_MAX; k++)
				in.causes[c][e][k] = bindwatch__count(a->bw, c, e, k);
	tcpext__read(&in.tcpext);
	in.log_errors = logfile__errors(a->log);
	prom__render(a->prom, &in, out);
}

/* The HTTP endpoint serves what was rendered at the last sample; the file follows the interval. */
static int publish_metrics(struct app *a, bool file)
{
	struct buf text = {};
	int ret = 0;

	if (!a->http && !(file && a->prom_out))
		return 0;
	render_metrics(a, &text);
	if (a->http)
		metrics_http__set(a->http, text.data, text.len);
	if (file && a->prom_out) {
		ret = outfile__replace(a->prom_out, text.data, text.len);
		if (ret && !a->prom_failed)
			p_err("writing %s failed: %s (will retry every interval)", a->o.prom_path,
			      strerror(-ret));
		a->prom_failed = ret != 0;
	}
	buf__free(&text);
	return ret;
}

/* The destinations the filters let through (netns, family, remote port). */
static size_t census_filter(struct app *a)
{
	size_t keep = 0;

	for (size_t i = 0; i < a->cen.n; i++) {
		const struct tw_dest_key *k = &a->cen.keys[i];
		bool port_ok = !a->o.nports;

		for (int p = 0; p < a->o.nports && !port_ok; p++)
			port_ok = a->o.ports[p] == k->port;
		if ((a->o.netns && k->netns != a->o.netns) ||
		    (a->o.family && k->family != a->o.family) || !port_ok)
			continue;
		a->cen.keys[keep] = *k;
		a->cen.uses[keep++] = a->cen.uses[i];
	}
	a->cen.n = keep;
	/* and the namespaces --netns lets through */
	keep = 0;
	for (size_t i = 0; i < a->cen.nns; i++)
		if (!a->o.netns || a->cen.ns[i].p.netns == a->o.netns)
			a->cen.ns[keep++] = a->cen.ns[i];
	a->cen.nns = keep;
	return a->cen.n;
}

/* Each interval: the ephemeral ports in use per destination, and pressure that changed. */
static void census_tick(struct app *a, uint64_t now)
{
	const struct dest_row **crossed;
	size_t n;
	int ret = census__run(&a->cen, &a->l);

	if (ret) {
		if (!a->census_failed)
			p_err("the ephemeral port census failed: %s", strerror(-ret));
		a->census_failed = true;
		return;
	}
	a->census_failed = false;
	if ((a->cen.stats.partial || a->cen.stats.full) && !a->census_short)
		p_err("the ephemeral port census saw %s: its counts are lower bounds",
		      a->cen.stats.full ? "more destinations than it has room for"
					: "more sockets than it walks");
	a->census_short = a->cen.stats.partial || a->cen.stats.full;
	ports__set_incomplete(a->ports, a->census_short);
	census_filter(a);
	if (ports__update(a->ports, a->cen.keys, a->cen.uses, a->cen.n, a->cen.ns, a->cen.nns))
		return;
	if (!(a->o.events & TW_EV_BIND))
		return;
	crossed = calloc(ports__count(a->ports) + 1, sizeof(*crossed));
	if (!crossed)
		return;
	n = ports__crossed(a->ports, crossed, ports__count(a->ports));
	for (size_t i = 0; i < n; i++) {
		const struct netns_ports *ns;
		size_t nns = ports__netns(a->ports, &ns);
		/* the destination's sampled sockets, then the netns's on bind()-taken ports: one
		 * pass */
		uint64_t inos[2 * TW_DEST_SAMPLES] = {};
		struct tw_proc found[2 * TW_DEST_SAMPLES];
		struct proc_count owners[TW_DEST_SAMPLES], bound[TW_DEST_SAMPLES];
		size_t nowners, nbound;

		for (size_t j = 0; j < TW_DEST_SAMPLES; j++)
			inos[j] = crossed[i]->ino[j];
		for (size_t j = 0; j < nns; j++)
			if (ns[j].cookie == crossed[i]->key.netns_cookie)
				for (size_t m = 0; m < TW_DEST_SAMPLES; m++)
					inos[TW_DEST_SAMPLES + m] = ns[j].p.bound_ino[m];
		owners__lookup(a->owners, inos, 2 * TW_DEST_SAMPLES, found, now);
		nowners = ports__tally(found, TW_DEST_SAMPLES, owners);
		nbound = ports__tally(found + TW_DEST_SAMPLES, TW_DEST_SAMPLES, bound);
		report__pressure(&a->rc, now, crossed[i], owners, nowners, bound, nbound, a->o.json,
				 &a->out);
	}
	free(crossed);
}

/* Every interval and once at exit: counts to stdout (JSON) or the timeline, and to the log. */
static void interval_report(struct app *a, uint64_t now)
{
	struct buf line = {};
	struct totals t;

	census_tick(a, now);
	read_totals(a, &t);
	report__other(a->agg, a->o.top, &a->other);
	if (a->o.json || a->log)
		report__counts_json(&a->rc, now, a->o.interval_s, a->agg, a->o.top, &a->other, &t,
				    a->ports, &line);
	if (a->o.json)
		buf__put(&a->out, line.data, line.len);
	else
		report__timeline(a->agg, a->o.top, &a->other, &t, a->ports, a->o.interval_s,
				 a->utf8, a->rc.cols, &a->out);
	if (a->log && line.len)
		logfile__write(a->log, line.data, line.len);
	publish_metrics(a, true);
	buf__free(&line);
	agg__mark(a->agg);
	reclaim_tick(a, now);
	out_flush(a);
}

static void tick(struct app *a)
{
	uint64_t now = now_ns();

	loader__flush(&a->l);
	update_cols(a);
	drain(a, false);
	bindwatch__tick(a->bw, now);
	if (now >= a->next_sec_ns) {
		sample(a, now);
		publish_metrics(a, false);
		a->next_sec_ns += NSEC * ((now - a->next_sec_ns) / NSEC + 1);
	}
	if (now >= a->next_interval_ns) {
		interval_report(a, now);
		a->next_interval_ns = now + a->o.interval_s * NSEC;
	}
	if (a->deadline_ns && now >= a->deadline_ns)
		a->stop = true;
}

static void ready(struct app *a, size_t nnetns)
{
	struct totals t;
	struct jw w;
	char ts[64];

	read_totals(a, &t);
	if (!a->o.json) {
		fprintf(stderr,
			"twscope %s: tracing%s%s%s%s; %llu TIME_WAIT sockets already open in %zu "
			"network namespaces; Ctrl-C to stop\n",
			TWSCOPE_VERSION, a->o.events & TW_EV_TW ? " TIME_WAIT" : "",
			a->o.events & TW_EV_BIND ? " bind-errors" : "",
			a->o.events & TW_EV_STATE ? " state-changes" : "",
			a->o.events ? "" : " counts only", (unsigned long long)t.tw_seeded, nnetns);
		if (a->o.events)
			event__text_header(&a->out);
		out_flush(a);
		return;
	}
	fmt_rfc3339(now_ns() + a->rc.mono_to_real_ns, ts, sizeof(ts));
	jw__init(&w, &a->out);
	jw__obj_open(&w, NULL);
	jw__str(&w, "ts", ts);
	jw__str(&w, "type", "ready");
	jw__u64(&w, "netns", netns__self());
	jw__u64(&w, "pid", getpid());
	jw__str(&w, "version", TWSCOPE_VERSION);
	jw__arr_open(&w, "events");
	if (a->o.events & TW_EV_TW)
		jw__str(&w, NULL, "tw");
	if (a->o.events & TW_EV_BIND)
		jw__str(&w, NULL, "bind");
	if (a->o.events & TW_EV_STATE)
		jw__str(&w, NULL, "state");
	jw__arr_close(&w);
	jw__u64(&w, "interval_s", a->o.interval_s);
	jw__u64(&w, "tw_seeded", t.tw_seeded);
	jw__u64(&w, "netns_seeded", nnetns);
	jw__obj_close(&w);
	buf__putc(&a->out, '\n');
	out_flush(a);
}

/* COLUMNS when set (a pipe into a pager), else 100. */
static int cols_default(void)
{
	const char *e = getenv("COLUMNS");
	int n = e ? atoi(e) : 0;

	return n > 0 && n < 10000 ? n : 100;
}

static bool want_utf8(void)
{
	const char *cs;

	setlocale(LC_CTYPE, "");
	cs = nl_langinfo(CODESET);
	return isatty(STDOUT_FILENO) && cs && !strcmp(cs, "UTF-8");
}

static int run(struct app *a)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[4];
	struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { 0, TICK_NS } };
	int ep = epoll_create1(EPOLL_CLOEXEC), sfd = -1, tfd = -1, ret = 0;
	struct signalfd_siginfo si;
	sigset_t mask;

	sigprocmask(SIG_BLOCK, NULL, &mask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL)) {
		ret = -errno;
		goto cleanup;
	}
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = ring_buffer__epoll_fd(a->l.rb);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);

	while (!a->stop) {
		int n = epoll_wait(ep, evs, 4, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP && a->log) {
					int r = logfile__reopen(a->log);

					if (r)
						p_err("reopening %s failed: %s", a->o.log_path,
						      strerror(-r));
				} else {
					/* without a log file, SIGHUP is the terminal hanging up */
					a->stop = true;
				}
			} else if (evs[i].data.fd == tfd) {
				uint64_t exp;

				if (read(tfd, &exp, sizeof(exp)) == sizeof(exp))
					tick(a);
			}
		}
		drain(a, false);
		out_flush(a);
	}
cleanup:
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return ret;
}

static void finish(struct app *a)
{
	struct totals t;
	uint64_t now = now_ns();

	loader__flush(&a->l);
	drain(a, true);
	bindwatch__flush(a->bw);
	sample(a, now);
	/* the log and metrics get their last record even when stdout is gone */
	interval_report(a, now);
	out_flush(a);
	read_totals(a, &t);
	if (t.lost_events || a->bad_records)
		p_err("%llu events lost (ring buffer full; counts stay exact)%s",
		      (unsigned long long)t.lost_events,
		      a->bad_records ? ", malformed records" : "");
	if (t.missed_events)
		p_err("%llu tracepoint runs skipped by the kernel (a program busy on that CPU)",
		      (unsigned long long)t.missed_events);
}

/* Once attached and seeded: only what the event loop, the walks and the outputs need. */
static int drop_privileges(struct app *a, char *err, size_t len)
{
	struct privs_opts po = {
		.write_dirfds = { logfile__dirfd(a->log), outfile__dirfd(a->prom_out) },
		.dac_override = logfile__needs_override(a->log) ||
				(a->prom_out && outfile__dir_needs_override(a->prom_out)),
	};

	return privs__drop(&po, err, len);
}

int main(int argc, char **argv)
{
	struct app a = {};
	sigset_t sigs;
	char err[512];
	bool mounted;
	size_t nnetns = 0;
	int ret, code = 1;

	if (cli__parse(&a.o, argc, argv, err, sizeof(err))) {
		p_err("%s (see --help)", err);
		return 2;
	}
	if (a.o.help) {
		cli__usage(&a.out);
		if (a.out.data)
			fputs(a.out.data, stdout);
		buf__free(&a.out);
		return 0;
	}
	if (a.o.version) {
		check__version(stdout);
		return 0;
	}
	loader__verbose(a.o.verbose);
	if (a.o.check)
		return check__run(&a.o);
	signal(SIGPIPE, SIG_IGN);
	/* blocked before any thread starts (libmicrohttpd's), so only the signalfd sees them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* a batch task: its wakeups wait for the next tick instead of preempting the host's work */
	sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 });
	a.utf8 = !a.o.json && want_utf8();
	a.rc.mono_to_real_ns = clock_mono_to_real_offset();
	if (loader__preflight(&mounted, err, sizeof(err))) {
		p_err("%s", err);
		return 1;
	}
	if (mounted)
		p_err("tracefs was not mounted: mounted it on /sys/kernel/tracing");
	/* everything that can fail is checked or bound before the first byte goes to a file */
	if (a.o.log_path && !(a.log = logfile__new(a.o.log_path, err, sizeof(err)))) {
		p_err("refusing the log file: %s", err);
		goto cleanup;
	}
	if (a.o.prom_path && !(a.prom_out = outfile__new(a.o.prom_path, err, sizeof(err)))) {
		p_err("refusing the metrics file: %s", err);
		goto cleanup;
	}
	if (a.o.metrics_addr) {
		a.http = metrics_http__bind(a.o.metrics_addr, err, sizeof(err));
		if (!a.http) {
			p_err("%s", err);
			goto cleanup;
		}
	}
	a.rows = calloc(MAX_PORT_ROWS, sizeof(*a.rows));
	a.agg = agg__new(a.o.window_s, 256);
	a.bw = bindwatch__new(BIND_WINDOW_NS, emit_bind, &a);
	a.ro = reorder__new();
	a.owners = owners__new(walk_owners, &a);
	a.ports = ports__new(a.o.pressure_pct);
	a.prom = prom__new(a.o.top);
	a.reclaim = reclaim__new(a.o.idle_s);
	a.reqs = calloc(MAX_RETIRE, sizeof(*a.reqs));
	a.listen_ns = calloc(MAX_LISTEN_NS, sizeof(*a.listen_ns));
	a.rc.cols = cols_default();
	update_cols(&a);
	if (!a.rows || !a.agg || !a.bw || !a.ro || !a.owners || !a.ports || !a.prom || !a.reclaim ||
	    !a.reqs || !a.listen_ns) {
		p_err("out of memory");
		goto cleanup;
	}
	if (loader__open(&a.l, &a.o, handle_event, &a, err, sizeof(err))) {
		p_err("%s", err);
		goto cleanup;
	}
	ret = loader__seed(&a.l, &nnetns);
	if (ret)
		p_err("seeding existing TIME_WAIT sockets failed: %s", strerror(-ret));
	if (drop_privileges(&a, err, sizeof(err))) {
		p_err("%s", err);
		goto cleanup;
	}
	/* its thread starts after the drop, and inherits it */
	if (a.http && (ret = metrics_http__serve(a.http))) {
		p_err("cannot serve metrics on %s: %s", a.o.metrics_addr, strerror(-ret));
		goto cleanup;
	}
	if (a.log && (ret = logfile__open(a.log))) {
		p_err("cannot write the log file %s: %s", a.o.log_path, strerror(-ret));
		goto cleanup;
	}
	a.next_sec_ns = now_ns();
	sample(&a, a.next_sec_ns);
	agg__mark(a.agg);
	a.next_sec_ns += NSEC;
	a.next_interval_ns = now_ns() + a.o.interval_s * NSEC;
	if (a.o.duration_s)
		a.deadline_ns = now_ns() + a.o.duration_s * NSEC;
	a.prom_failed = true; /* the first failure is a failed start, said below */
	if ((ret = publish_metrics(&a, true))) {
		p_err("cannot write the metrics file %s: %s", a.o.prom_path, strerror(-ret));
		logfile__discard(a.log);
		goto cleanup;
	}
	ready(&a, nnetns);
	ret = run(&a);
	if (ret)
		p_err("event loop failed: %s", strerror(-ret));
	finish(&a);
	code = ret ? 1 : 0;
cleanup:
	metrics_http__stop(a.http);
	loader__free(&a.l);
	prom__free(a.prom);
	reclaim__free(a.reclaim);
	free(a.reqs);
	free(a.listen_ns);
	bindwatch__free(a.bw);
	owners__free(a.owners);
	ports__free(a.ports);
	free(a.new_binds);
	census__free(&a.cen);
	reorder__free(a.ro);
	agg__free(a.agg);
	logfile__close(a.log);
	outfile__free(a.prom_out);
	free(a.rows);
	buf__free(&a.out);
	return code;
}
