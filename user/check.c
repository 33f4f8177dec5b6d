// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include "check.h"
#include "loader.h"
#include "twscope.skel.h"

void check__version(FILE *f)
{
	struct utsname u = {};

	uname(&u);
	fprintf(f, "twscope %s (libbpf %s, kernel %s %s)\n", TWSCOPE_VERSION,
		libbpf_version_string(), u.release, u.machine);
}

static void row(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void row(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("  %-30s ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

static int noop(void *ctx, void *data, size_t len)
{
	return 0;
}

static void features(const struct tw_features *f)
{
	printf("kernel:\n");
	row("BTF (/sys/kernel/btf/vmlinux)", "%s", yes(f->btf));
	row("BTF tracepoints", "%s (inet_sock_set_state, timer_start/cancel/expire_entry)",
	    yes(f->tp_btf));
	row("tracefs", "%s", yes(f->tracefs));
	row("syscall tracepoints", "%s (sys_exit_bind, _listen, _connect, _sendto, _sendmsg)",
	    yes(f->syscall_tps));
	row("kfunc bpf_rdonly_cast (6.2+)", "%s", yes(f->rdonly_cast));
	row("timer_start arguments", "%s",
	    f->bucket_expiry ? "timer, bucket_expiry (6.9+)"
			     : "timer, expires, flags (before 6.9)");
	row("ip_local_port_range", "%s", f->ports_u32 ? "u32 (6.8+)" : "int[2] (before 6.8)");
	row("net.ipv4.tcp_death_row", "%s",
	    f->death_row_ptr ? "a pointer (5.17 to 6.0)" : "embedded");
	row("inet_sock bind flags", "%s", f->inet_flags ? "inet_flags (6.6+)" : "bitfields");
	row("kernel config file", "%s (not needed)", f->config ? "readable" : "none");
	row("/proc/kallsyms addresses", "%s (not needed)", f->kallsyms ? "shown" : "hidden");
}

int check__run(const struct tw_opts *o)
{
	struct tw_features f;
	struct loader l = {};
	struct bpf_program *prog;
	char err[512];
	bool mounted;
	int n = 0, ret;

	check__version(stdout);
	if (loader__features(&f)) {
		printf("verdict: cannot run: this kernel exposes no BTF "
		       "(CONFIG_DEBUG_INFO_BTF=y)\n");
		return 1;
	}
	features(&f);
	ret = loader__preflight(&mounted, err, sizeof(err));
	if (!ret)
		ret = loader__open(&l, o, noop, NULL, err, sizeof(err));
	printf("agent:\n");
	row("TIME_WAIT reads", "%s",
	    (l.skel ? l.direct : f.rdonly_cast) ? "direct loads (bpf_rdonly_cast)"
						: "BPF_CORE_READ (probe reads)");
	row("TIME_WAIT deadline", "%s",
	    f.bucket_expiry ? "timer_start's bucket_expiry"
			    : "from expires and the wheel index in timer->flags");
	row("state and owners", "tp_btf/inet_sock_set_state");
	row("bind, listen, connect errors", "tracepoint/syscalls/sys_exit_*");
	if (ret) {
		loader__free(&l);
		printf("verdict: cannot run: %s\n", err);
		return 1;
	}
	row("tw_timer_handler", "learned from %s", l.learned_from);
	row("HZ", "%u (from a TIME_WAIT's timer: 60 s is 60 * HZ jiffies)",
	    l.skel->bss->tw_learned.hz);
	bpf_object__for_each_program (prog, l.skel->obj)
		n += bpf_program__fd(prog) >= 0;
	row("programs", "%d loaded, the tracepoints attached", n);
	loader__free(&l);
	printf("verdict: twscope runs on this kernel\n");
	return 0;
}
