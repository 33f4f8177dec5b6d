// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "names.h"
#include "prom.h"

struct prom *prom__new(size_t top)
{
	struct prom *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->top = top;
	p->labels = calloc(top ? top : 1, sizeof(*p->labels));
	p->scratch = calloc(top ? top : 1, sizeof(*p->scratch));
	if (!p->labels || !p->scratch) {
		prom__free(p);
		return NULL;
	}
	return p;
}

void prom__free(struct prom *p)
{
	if (!p)
		return;
	free(p->labels);
	free(p->scratch);
	free(p);
}

void prom__retire(struct prom *p, const struct agg_series *s, bool netns_dead)
{
	struct prom_label *l;

	if (!s->placed)
		return;
	if (s->label < 0 || (size_t)s->label >= p->top) {
		agg__val_add(&p->retired, &s->val, false);
		return;
	}
	l = &p->labels[s->label];
	if (netns_dead) {
		memset(l, 0, sizeof(*l));
		return;
	}
	agg__val_add(&l->frozen, &s->val, false);
	l->gone = true;
}

void prom__forget_netns(struct prom *p, uint64_t cookie)
{
	for (size_t j = 0; j < p->top; j++)
		if (p->labels[j].used && p->labels[j].gone &&
		    p->labels[j].key.netns_cookie == cookie)
			memset(&p->labels[j], 0, sizeof(p->labels[j]));
}

/*
 * A row gets its place when it first appears: its key's label if the key had one, else a free
 * label (most active first), else "other" for good. Rows never move between the two, so no
 * counter, labelled or "other", goes down.
 */
static void assign_labels(struct prom *p, struct agg *a, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct agg_series *s = &a->rows[idx[i]];
		size_t free_at = p->top;

		if (s->placed)
			continue;
		s->placed = true;
		s->label = -1;
		for (size_t j = 0; j < p->top; j++) {
			if (p->labels[j].used &&
			    !memcmp(&p->labels[j].key, &s->key, sizeof(s->key))) {
				s->label = j;
				p->labels[j].gone = false;
				break;
			}
			if (!p->labels[j].used && free_at == p->top)
				free_at = j;
		}
		if (s->label < 0 && free_at < p->top) {
			memset(&p->labels[free_at], 0, sizeof(p->labels[free_at]));
			p->labels[free_at].key = s->key;
			p->labels[free_at].used = true;
			s->label = free_at;
		}
	}
}

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	buf__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void port_labels(struct buf *b, const struct tw_port_key *k)
{
	char addr[ADDR_STR_LEN] = "";
	bool remote = k->side == TW_SIDE_REMOTE;

	if (remote)
		fmt_addr(k->family, k->addr, addr, sizeof(addr));
	buf__printf(b,
		    "{side=\"%s\",port=\"%u\",addr=\"%s\",family=\"%s\",netns=\"%u\","
		    "netns_cookie=\"%llu\"}",
		    side_name(k->side), k->port, addr, remote ? family_name(k->family) : "",
		    k->netns, (unsigned long long)k->netns_cookie);
}

enum port_metric {
	PM_TW,
	PM_PEAK,
	PM_ENTERED,
	PM_EXPIRED,
	PM_KILLED,
	PM_OVERFLOW,
	PM_BINDERR,
	PM_MAX
};

static const struct {
	const char *name, *type, *help;
} port_metrics[PM_MAX] = {
	[PM_TW] = { "twscope_time_wait_sockets", "gauge",
		    "TIME_WAIT sockets now, per port; side remote is keyed by destination" },
	[PM_PEAK] = { "twscope_time_wait_peak_sockets", "gauge",
		      "Highest TIME_WAIT gauge of the port since the agent started" },
	[PM_ENTERED] = { "twscope_time_wait_entered_total", "counter",
			 "Sockets that entered TIME_WAIT (or its FIN_WAIT2 substate)" },
	[PM_EXPIRED] = { "twscope_time_wait_expired_total", "counter",
			 "TIME_WAIT sockets that lived until their timer expired" },
	[PM_KILLED] = { "twscope_time_wait_killed_total", "counter",
			"TIME_WAIT sockets ended early (reuse, SYN, RST, SOCK_DESTROY, netns "
			"exit)" },
	[PM_OVERFLOW] = { "twscope_time_wait_overflow_total", "counter",
			  "Closes that found the TIME_WAIT table full (tcp_max_tw_buckets)" },
	[PM_BINDERR] = { "twscope_port_bind_errors_total", "counter",
			 "Failed bind/listen (local port) or connect (remote port) per port" },
};

static uint64_t metric_of(const struct tw_port_val *v, enum port_metric m)
{
	switch (m) {
	case PM_TW:
		return v->tw > 0 ? (uint64_t)v->tw : 0;
	case PM_PEAK:
		return v->tw_peak;
	case PM_ENTERED:
		return v->entered;
	case PM_EXPIRED:
		return v->expired;
	case PM_KILLED:
		return v->killed;
	case PM_OVERFLOW:
		return v->overflow;
	default:
		return v->bind_errors;
	}
}

/* A labelled key's value: its reclaimed rows' counters and its row's, the gauge its row's. */
static uint64_t label_metric(const struct prom_label *l, const struct agg_series *s,
			     enum port_metric m)
{
	struct tw_port_val v = l->frozen;

	v.tw = 0;
	if (s) {
		agg__val_add(&v, &s->val, false);
		v.tw = s->val.tw;
	}
	return metric_of(&v, m);
}

static void render_ports(struct prom *p, struct agg *a, struct buf *b)
{
	size_t *idx = calloc(a->n ? a->n : 1, sizeof(*idx)), n, none = (size_t)-1;
	uint64_t other[PM_MAX];

	if (!idx)
		return;
	n = agg__ranked(a, idx);
	assign_labels(p, a, idx, n);
	for (size_t j = 0; j < p->top; j++)
		p->scratch[j] = none;
	for (size_t i = 0; i < a->n; i++)
		if (a->rows[i].label >= 0 && (size_t)a->rows[i].label < p->top)
			p->scratch[a->rows[i].label] = i;
	for (int m = 0; m < PM_MAX; m++) {
		help(b, port_metrics[m].name, port_metrics[m].type, port_metrics[m].help);
		other[m] = metric_of(&p->retired, m);
		if (m == PM_TW)
			other[m] = 0;
		for (size_t i = 0; i < a->n; i++) {
			const struct agg_series *s = &a->rows[i];
			uint64_t v = metric_of(&s->val, m);

			if (s->label >= 0)
				continue;
			/* a peak does not add up: the other row shows the largest */
			if (m == PM_PEAK)
				other[m] = v > other[m] ? v : other[m];
			else
				other[m] += v;
		}
		for (size_t j = 0; j < p->top; j++) {
			const struct prom_label *l = &p->labels[j];

			if (!l->used)
				continue;
			buf__puts(b, port_metrics[m].name);
			port_labels(b, &l->key);
			buf__printf(b, " %llu\n",
				    (unsigned long long)label_metric(
					    l,
					    p->scratch[j] == none ? NULL : &a->rows[p->scratch[j]],
					    m));
		}
		buf__printf(b,
			    "%s{side=\"\",port=\"other\",addr=\"\",family=\"\",netns=\"\","
			    "netns_cookie=\"\"} %llu\n",
			    port_metrics[m].name, (unsigned long long)other[m]);
	}
	free(idx);
}

static void host_counter(struct buf *b, const char *name, const char *type, const char *text,
			 uint64_t v)
{
	help(b, name, type, text);
	buf__printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Ephemeral ports per destination (the top by use: bounded like the port rows) and per netns. */
static void render_ephemeral(const struct ports *ports, size_t top, struct buf *b)
{
	const struct dest_row **rows = calloc(top ? top : 1, sizeof(*rows));
	const struct netns_ports *ns;
	size_t n = rows ? ports__top(ports, rows, top) : 0, nns = ports__netns(ports, &ns);
	static const char *const fams[] = { "ipv4", "ipv6" };
	char a[ADDR_STR_LEN];

	help(b, "twscope_ephemeral_ports_in_use", "gauge",
	     "Ephemeral ports in use toward a destination, TIME_WAITs included");
	for (size_t i = 0; i < n; i++) {
		fmt_addr(rows[i]->key.family, rows[i]->key.addr, a, sizeof(a));
		buf__printf(b,
			    "twscope_ephemeral_ports_in_use{netns=\"%u\",family=\"%s\",addr=\"%s\","
			    "port=\"%u\"} %u\n",
			    rows[i]->key.netns, family_name(rows[i]->key.family), a,
			    rows[i]->key.port, rows[i]->ports_in_use);
	}
	help(b, "twscope_ephemeral_ports_time_wait", "gauge",
	     "Of those, ports held by TIME_WAIT sockets");
	for (size_t i = 0; i < n; i++) {
		fmt_addr(rows[i]->key.family, rows[i]->key.addr, a, sizeof(a));
		buf__printf(
			b,
			"twscope_ephemeral_ports_time_wait{netns=\"%u\",family=\"%s\",addr=\"%s\","
			"port=\"%u\"} %u\n",
			rows[i]->key.netns, family_name(rows[i]->key.family), a, rows[i]->key.port,
			rows[i]->time_wait);
	}
	/* the range is the netns's for both families: net.ipv4.ip_local_port_range */
	help(b, "twscope_ephemeral_ports_available", "gauge",
	     "Ports of the ephemeral range, less ip_local_reserved_ports");
	/* the namespaces of the destinations listed, no more: the series stay bounded by --top */
	for (size_t i = 0; i < nns; i++) {
		bool listed = false;

		for (size_t j = 0; j < n && !listed; j++)
			listed = rows[j]->key.netns_cookie == ns[i].cookie;
		if (!listed)
			continue;
		uint32_t range = ns[i].p.hi >= ns[i].p.lo ? ns[i].p.hi - ns[i].p.lo + 1 : 0;
		uint32_t avail =
			range > ns[i].p.ports_reserved ? range - ns[i].p.ports_reserved : 0;

		for (int f = 0; f < 2; f++)
			buf__printf(b,
				    "twscope_ephemeral_ports_available{netns=\"%u\",family=\"%s\"} "
				    "%u\n",
				    ns[i].p.netns, fams[f], avail);
	}
	help(b, "twscope_ephemeral_ports_bound", "gauge",
	     "Ports of the ephemeral range taken by bind(), lost to every destination");
	for (size_t i = 0; i < nns; i++) {
		bool listed = false;

		for (size_t j = 0; j < n && !listed; j++)
			listed = rows[j]->key.netns_cookie == ns[i].cookie;
		if (listed)
			buf__printf(b, "twscope_ephemeral_ports_bound{netns=\"%u\"} %u\n",
				    ns[i].p.netns, ns[i].p.ports_bound);
	}
	free(rows);
}

void prom__render(struct prom *p, const struct prom_input *in, struct buf *b)
{
	const struct totals *t = in->totals;
	static const char *const errs[2] = { "EADDRINUSE", "EADDRNOTAVAIL" };

	render_ports(p, in->agg, b);
	if (in->ports)
		render_ephemeral(in->ports, p->top, b);
	host_counter(b, "twscope_host_time_wait_sockets", "gauge",
		     "TIME_WAIT sockets now, all ports and namespaces", t->tw);
	host_counter(b, "twscope_host_time_wait_entered_total", "counter",
		     "Sockets that entered TIME_WAIT, all ports and namespaces", t->tw_entered);
	host_counter(b, "twscope_host_time_wait_expired_total", "counter",
		     "TIME_WAIT sockets that expired, all ports and namespaces", t->tw_expired);
	host_counter(b, "twscope_host_time_wait_killed_total", "counter",
		     "TIME_WAIT sockets ended early, all ports and namespaces", t->tw_killed);
	host_counter(b, "twscope_host_time_wait_overflow_total", "counter",
		     "Closes that found the TIME_WAIT table full, all namespaces", t->tw_overflow);
	help(b, "twscope_bind_errors_total", "counter",
	     "Failed bind/listen/connect with EADDRINUSE or EADDRNOTAVAIL, exact");
	for (int c = 0; c < TW_CALL_MAX; c++)
		for (int e = 0; e < 2; e++)
			buf__printf(b, "twscope_bind_errors_total{call=\"%s\",errno=\"%s\"} %llu\n",
				    call_name(c), errs[e], (unsigned long long)t->binds[c * 2 + e]);
	help(b, "twscope_bind_error_causes_total", "counter",
	     "Failures explained by the agent, by cause (failures filtered out or lost are not)");
	for (int c = 0; c < TW_CALL_MAX; c++)
		for (int e = 0; e < 2; e++)
			for (int k = 0; k < CAUSE_MAX; k++)
				if (in->causes[c][e][k])
					buf__printf(b,
						    "twscope_bind_error_causes_total{call=\"%s\","
						    "errno=\"%s\",cause=\"%s\"} %llu\n",
						    call_name(c), errs[e], diag__cause_name(k),
						    (unsigned long long)in->causes[c][e][k]);
	host_counter(b, "twscope_lost_events_total", "counter",
		     "Events dropped because the ring buffer was full; counts stay exact",
		     t->lost_events);
	host_counter(b, "twscope_tw_untracked_total", "counter",
		     "Ends of TIME_WAITs not tracked (open before the start, or no room)",
		     t->tw_untracked);
	host_counter(b, "twscope_tw_table_full_total", "counter",
		     "TIME_WAITs the live table had no room for (raise --max-tw)",
		     t->tw_table_full);
	host_counter(b, "twscope_port_slots_full_total", "counter",
		     "Per-port counts lost because every counter slot is taken",
		     t->port_slots_full);
	host_counter(b, "twscope_missed_events_total", "counter",
		     "Tracepoint runs the kernel skipped because the program was busy on that CPU",
		     t->missed_events);
	host_counter(b, "twscope_log_write_errors_total", "counter",
		     "Failed writes of the --log file", in->log_errors);
	if (in->tcpext.ok) {
		host_counter(b, "twscope_tcpext_tw_total", "counter",
			     "TcpExt TW of the agent's netns: TIME_WAITs that expired normally",
			     in->tcpext.tw);
		host_counter(b, "twscope_tcpext_tw_killed_total", "counter",
			     "TcpExt TWKilled of the agent's netns", in->tcpext.tw_killed);
		host_counter(b, "twscope_tcpext_tw_recycled_total", "counter",
			     "TcpExt TWRecycled of the agent's netns: TIME_WAITs reused by connect",
			     in->tcpext.tw_recycled);
		host_counter(b, "twscope_tcpext_time_wait_overflow_total", "counter",
			     "TcpExt TCPTimeWaitOverflow of the agent's netns",
			     in->tcpext.tw_overflow);
	}
	help(b, "twscope_build_info", "gauge", "Version of the agent");
	buf__printf(b, "twscope_build_info{version=\"%s\"} 1\n", TWSCOPE_VERSION);
}

int tcpext__parse(const char *text, struct tcpext *t)
{
	const char *names = strstr(text, "TcpExt:"), *vals;
	char nbuf[64];
	int got = 0;

	memset(t, 0, sizeof(*t));
	if (!names)
		return -EINVAL;
	vals = strstr(names + 7, "TcpExt:");
	if (!vals)
		return -EINVAL;
	names += 7;
	vals += 7;
	/* the header line names the columns of the values line, in order */
	while (*names && *names != '\n') {
		unsigned long long v;
		int nl = 0, vl = 0;

		if (sscanf(names, " %63s%n", nbuf, &nl) != 1 ||
		    sscanf(vals, " %llu%n", &v, &vl) != 1)
			break;
		names += nl;
		vals += vl;
		if (!strcmp(nbuf, "TW"))
			t->tw = v, got++;
		else if (!strcmp(nbuf, "TWRecycled"))
			t->tw_recycled = v, got++;
		else if (!strcmp(nbuf, "TWKilled"))
			t->tw_killed = v, got++;
		else if (!strcmp(nbuf, "TCPTimeWaitOverflow"))
			t->tw_overflow = v, got++;
	}
	t->ok = got == 4;
	return t->ok ? 0 : -EINVAL;
}

int tcpext__read(struct tcpext *t)
{
	char buf[16384];
	size_t n;
	FILE *f = fopen("/proc/net/netstat", "re");

	memset(t, 0, sizeof(*t));
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return tcpext__parse(buf, t);
}
