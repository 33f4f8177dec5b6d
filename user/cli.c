// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "cli.h"

enum {
	OPT_PID = 1000,
	OPT_LOG,
	OPT_PROM,
	OPT_METRICS_ADDR,
	OPT_NETNS,
	OPT_TOP,
	OPT_WINDOW,
	OPT_RINGBUF,
	OPT_MAX_TW,
	OPT_HOOKS_ONLY,
	OPT_CHECK,
	OPT_TW_READS,
	OPT_PRESSURE,
	OPT_IDLE,
};

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "NDJSON on stdout, one object per line", 0 },
	{ "port", 'p', "P[,P..]", 0, "only these ports (local or remote), up to 64", 0 },
	{ "pid", OPT_PID, "N", 0, "only sockets owned by this process id", 0 },
	{ NULL, '4', NULL, 0, "only IPv4", 0 },
	{ NULL, '6', NULL, 0, "only IPv6", 0 },
	{ "netns", OPT_NETNS, "INUM", 0,
	  "only this network namespace (inode: ls -L -i /proc/PID/ns/net)", 0 },
	{ "events", 'e', "LIST", 0, "tw,bind,state, all or none (default tw,bind)", 0 },
	{ "interval", 'i', "SECS", 0, "timeline and counts every SECS (default 10)", 0 },
	{ "duration", 'd', "SECS", 0, "stop after SECS", 0 },
	{ "log", OPT_LOG, "FILE", 0, "append counts records to FILE (SIGHUP reopens)", 0 },
	{ "prom", OPT_PROM, "FILE", 0, "write Prometheus textfile-collector metrics to FILE", 0 },
	{ "metrics-addr", OPT_METRICS_ADDR, "HOST:PORT", 0, "serve Prometheus /metrics over HTTP",
	  0 },
	{ "top", OPT_TOP, "N", 0, "timeline and metrics rows before \"other\" (default 20)", 0 },
	{ "window", OPT_WINDOW, "SECS", 0, "timeline history kept per port (default 3600)", 0 },
	{ "idle", OPT_IDLE, "SECS", 0,
	  "a port with no TIME_WAIT and no count for SECS gives its row back (default 600, 0 "
	  "never)",
	  0 },
	{ "pressure", OPT_PRESSURE, "PCT", 0,
	  "port_pressure when a destination uses PCT% of its ephemeral ports (default 80)", 0 },
	{ "ringbuf", OPT_RINGBUF, "KB", 0, "ring buffer size (default 4096, a power of two)", 0 },
	{ "max-tw", OPT_MAX_TW, "N", 0, "TIME_WAIT sockets tracked at once (default 131072)", 0 },
	{ "bench-hooks-only", OPT_HOOKS_ONLY, NULL, OPTION_HIDDEN,
	  "attach every program, but have each return at once (the bench's floor)", 0 },
	{ "check", OPT_CHECK, NULL, 0,
	  "print what this kernel offers and which path each part takes; exit 0 if it runs", 0 },
	{ "verbose", 'v', NULL, 0, "show libbpf's and the verifier's log", 0 },
	{ "tw-reads", OPT_TW_READS, "direct|core", OPTION_HIDDEN,
	  "force how a TIME_WAIT is read (tests): bpf_rdonly_cast or BPF_CORE_READ", 0 },
	{ "help", 'h', NULL, 0, "show this help", 0 },
	{ "version", 'V', NULL, 0, "show the versions of twscope, libbpf and the kernel", 0 },
	{},
};

static const char doc[] =
	"twscope -- TCP TIME_WAIT and \"Address already in use\" explained\v"
	"Examples:\n"
	"  twscope                 TIME_WAIT and bind errors, timeline every 10 s\n"
	"  twscope -j -p 8080      NDJSON for port 8080\n"
	"  twscope -e none -i 5 --log tw.log   counts only, logged every 5 s";

struct parse_state {
	struct tw_opts *o;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parse_state *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return EINVAL;
}

/* Strict decimal: digits only, no sign, no trailing bytes, within [lo, hi]. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli__parse_ports(struct tw_opts *o, const char *arg, char *err, size_t errlen)
{
	char *copy = strdup(arg ? arg : ""), *save = NULL, *tok;
	unsigned long v;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	if (!copy[0]) {
		snprintf(err, errlen, "empty port list");
		ret = -EINVAL;
		goto cleanup;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_uint(tok, 1, 65535, &v)) {
			snprintf(err, errlen, "bad port '%s': expected a number from 1 to 65535",
				 tok);
			ret = -EINVAL;
			goto cleanup;
		}
		if (o->nports >= CLI_MAX_PORTS) {
			snprintf(err, errlen, "too many ports: at most %d", CLI_MAX_PORTS);
			ret = -EINVAL;
			goto cleanup;
		}
		o->ports[o->nports++] = v;
	}
	if (arg[strlen(arg) - 1] == ',' || arg[0] == ',' || strstr(arg, ",,")) {
		snprintf(err, errlen, "bad port list '%s': empty element", arg);
		ret = -EINVAL;
	}
cleanup:
	free(copy);
	return ret;
}

int cli__parse_events(const char *arg, unsigned int *mask, char *err, size_t errlen)
{
	char *copy = strdup(arg ? arg : ""), *save = NULL, *tok;
	unsigned int m = 0;
	int ret = 0, n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		if (!strcmp(tok, "tw"))
			m |= TW_EV_TW;
		else if (!strcmp(tok, "bind"))
			m |= TW_EV_BIND;
		else if (!strcmp(tok, "state"))
			m |= TW_EV_STATE;
		else if (!strcmp(tok, "all"))
			m |= TW_EV_TW | TW_EV_BIND | TW_EV_STATE;
		else if (!strcmp(tok, "none"))
			;
		else {
			snprintf(err, errlen,
				 "bad event '%s': expected tw, bind, state, all or none", tok);
			ret = -EINVAL;
			goto cleanup;
		}
	}
	if (!n) {
		snprintf(err, errlen, "empty event list: expected tw, bind, state, all or none");
		ret = -EINVAL;
		goto cleanup;
	}
	*mask = m;
cleanup:
	free(copy);
	return ret;
}

int cli__parse_hostport(const char *arg, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = arg;
	unsigned long v;
	size_t n;

	if (!arg)
		return -EINVAL;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = arg + 1;
		n = close - h;
		colon = close + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return -EINVAL;
		n = colon - arg;
		if (memchr(arg, ':', n))
			return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	if (n >= hostlen || parse_uint(colon + 1, 1, 65535, &v))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = v;
	return 0;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct tw_opts *o = ps->o;
	unsigned long v;

	switch (key) {
	case 'j':
		o->json = true;
		break;
	case 'p':
		if (cli__parse_ports(o, arg, ps->err, ps->errlen))
			return EINVAL;
		break;
	case OPT_PID:
		if (parse_uint(arg, 1, 4194304, &v))
			return fail(ps, "bad pid '%s': expected a process id from 1 to 4194304",
				    arg);
		o->pid = v;
		break;
	case OPT_NETNS:
		if (parse_uint(arg, 1, UINT32_MAX, &v))
			return fail(ps, "bad netns '%s': expected a namespace inode number", arg);
		o->netns = v;
		break;
	case '4':
	case '6':
		if (o->family)
			return fail(ps, "-4 and -6 are exclusive");
		o->family = key == '4' ? AF_INET : AF_INET6;
		break;
	case 'e':
		if (cli__parse_events(arg, &o->events, ps->err, ps->errlen))
			return EINVAL;
		break;
	case 'i':
		if (parse_uint(arg, 1, 86400, &v))
			return fail(ps, "bad interval '%s': expected seconds from 1 to 86400", arg);
		o->interval_s = v;
		break;
	case 'd':
		if (parse_uint(arg, 1, INT32_MAX, &v))
			return fail(ps, "bad duration '%s': expected a positive number of seconds",
				    arg);
		o->duration_s = v;
		break;
	case OPT_LOG:
		if (!arg[0])
			return fail(ps, "empty --log path");
		o->log_path = arg;
		break;
	case OPT_PROM:
		if (!arg[0])
			return fail(ps, "empty --prom path");
		o->prom_path = arg;
		break;
	case OPT_METRICS_ADDR: {
		char host[256];
		uint16_t port;

		if (cli__parse_hostport(arg, host, sizeof(host), &port))
			return fail(ps, "bad --metrics-addr '%s': expected HOST:PORT", arg);
		o->metrics_addr = arg;
		break;
	}
	case OPT_TOP:
		if (parse_uint(arg, 1, 1000, &v))
			return fail(ps, "bad --top '%s': expected a number from 1 to 1000", arg);
		o->top = v;
		break;
	case OPT_PRESSURE:
		if (parse_uint(arg, 11, 100, &v))
			return fail(ps, "bad --pressure '%s': expected a percentage from 11 to 100",
				    arg);
		o->pressure_pct = v;
		break;
	case OPT_IDLE:
		if (parse_uint(arg, 0, 604800, &v))
			return fail(ps, "bad --idle '%s': expected seconds from 0 to 604800", arg);
		o->idle_s = v;
		break;
	case OPT_WINDOW:
		if (parse_uint(arg, 10, 86400, &v))
			return fail(ps, "bad --window '%s': expected seconds from 10 to 86400",
				    arg);
		o->window_s = v;
		break;
	case OPT_RINGBUF:
		if (parse_uint(arg, 64, 1048576, &v) || (v & (v - 1)))
			return fail(
				ps,
				"bad --ringbuf '%s': expected a power of two from 64 to 1048576 KB",
				arg);
		o->ringbuf_kb = v;
		break;
	case OPT_MAX_TW:
		if (parse_uint(arg, 1024, 1 << 22, &v))
			return fail(ps, "bad --max-tw '%s': expected a number from 1024 to 4194304",
				    arg);
		/* the table is open-addressed: twice the sockets, rounded up to a power of two */
		o->max_tw = 1024;
		while (o->max_tw < 2 * v)
			o->max_tw *= 2;
		break;
	case OPT_HOOKS_ONLY:
		o->hooks_only = true;
		break;
	case OPT_CHECK:
		o->check = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	case OPT_TW_READS:
		if (!strcmp(arg, "direct"))
			o->tw_reads = TW_READS_DIRECT;
		else if (!strcmp(arg, "core"))
			o->tw_reads = TW_READS_CORE;
		else
			return fail(ps, "bad --tw-reads '%s': expected direct or core", arg);
		break;
	case 'h':
		o->help = true;
		break;
	case 'V':
		o->version = true;
		break;
	case ARGP_KEY_ARG:
		return fail(ps, "unexpected argument '%s'", arg);
	case ARGP_KEY_ERROR:
		/* getopt rejected argv[next - 1]; say which one when no message was set */
		if (!ps->err[0]) {
			int i = state->next > 0 ? state->next - 1 : 0;

			if (i < state->argc && state->argv[i])
				fail(ps, "unknown option or missing value: '%s'", state->argv[i]);
			else
				fail(ps, "bad command line");
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };

static void defaults(struct tw_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->events = TW_EV_TW | TW_EV_BIND;
	o->interval_s = 10;
	o->top = 20;
	o->window_s = 3600;
	o->idle_s = 600;
	o->pressure_pct = 80;
	o->ringbuf_kb = 4096;
	o->max_tw = 1 << 18;
}

int cli__parse(struct tw_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	struct parse_state ps = { .o = o, .err = err, .errlen = errlen };
	int ret;

	defaults(o);
	err[0] = '\0';
	ret = argp_parse(&argp, argc, argv,
			 ARGP_NO_EXIT | ARGP_NO_HELP | ARGP_NO_ERRS | ARGP_IN_ORDER, NULL, &ps);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "bad command line");
		return -EINVAL;
	}
	return 0;
}

void cli__usage(struct buf *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	argp_help(&argp, f, ARGP_HELP_STD_HELP & ~ARGP_HELP_BUG_ADDR, "twscope");
	fclose(f);
	buf__put(b, text, len);
	free(text);
}
