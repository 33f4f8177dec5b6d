// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <linux/capability.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "agg.h"
#include "bpflog.h"
#include "loader.h"
#include "netns.h"
#include "twprobe.h"
#include "twscope.skel.h"

#define TRACEFS "/sys/kernel/tracing"

/* handle_sys_exit serves them all; their order is that of struct loader's exit_links. */
static const char *const syscall_tps[LOADER_EXIT_TPS] = {
	"sys_exit_bind",   "sys_exit_listen",  "sys_exit_connect",
	"sys_exit_sendto", "sys_exit_sendmsg",
};

static const char *const btf_tps[] = {
	"inet_sock_set_state",
	"timer_start",
	"timer_cancel",
	"timer_expire_entry",
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool has_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	const int need[] = { 39 /* CAP_BPF */, 38 /* CAP_PERFMON */, 21 /* CAP_SYS_ADMIN */ };

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(data[need[i] / 32].effective & (1u << (need[i] % 32))))
			return false;
	return true;
}

static bool tracefs_ready(void)
{
	return access(TRACEFS "/events", F_OK) == 0 ||
	       access("/sys/kernel/debug/tracing/events", F_OK) == 0;
}

static uint64_t kallsyms(const char *name)
{
	unsigned long long addr, found = 0;
	char line[512], sym[256], type;
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) == 3 && !strcmp(sym, name)) {
			found = addr;
			break;
		}
	}
	fclose(f);
	return found;
}

int loader__preflight(bool *mounted, char *err, size_t len)
{
	char path[256];
	struct btf *btf;

	*mounted = false;
	if (!has_caps())
		return fail(
			err, len,
			"needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): run it with sudo");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return fail(err, len,
			    "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): "
			    "it needs CONFIG_DEBUG_INFO_BTF=y");
	if (!tracefs_ready()) {
		if (mount("tracefs", TRACEFS, "tracefs", 0, NULL))
			return fail(err, len,
				    "tracefs is not mounted and mounting it on " TRACEFS
				    " failed: %s",
				    strerror(errno));
		*mounted = true;
	}
	for (size_t i = 0; i < sizeof(syscall_tps) / sizeof(syscall_tps[0]); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/syscalls/%s", syscall_tps[i]);
		if (access(path, F_OK)) {
			snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/syscalls/%s",
				 syscall_tps[i]);
			if (access(path, F_OK))
				return fail(err, len,
					    "tracepoint syscalls:%s is missing (kernel "
					    "without CONFIG_FTRACE_SYSCALLS?)",
					    syscall_tps[i]);
		}
	}
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return fail(err, len, "cannot read the kernel's BTF: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(btf_tps) / sizeof(btf_tps[0]); i++) {
		snprintf(path, sizeof(path), "btf_trace_%s", btf_tps[i]);
		if (btf__find_by_name_kind(btf, path, BTF_KIND_TYPEDEF) < 0) {
			btf__free(btf);
			return fail(err, len, "tracepoint %s is missing from this kernel",
				    btf_tps[i]);
		}
	}
	btf__free(btf);
	return 0;
}

/* The type a struct member has in the kernel's BTF (typedefs and qualifiers skipped). */
static const struct btf_type *member_type(const struct btf *btf, const char *type,
					  const char *member)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	const struct btf_member *m;

	if (!t)
		return NULL;
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(btf, m->name_off);

		if (name && !strcmp(name, member)) {
			id = m->type;
			t = btf__type_by_id(btf, id);
			while (t && (btf_is_typedef(t) || btf_is_mod(t)))
				t = btf__type_by_id(btf, t->type);
			return t;
		}
	}
	return NULL;
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* A file with something in it (a config hidden under /dev/null has nothing). */
static bool file_readable(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && read(fd, &c, 1) == 1;

	if (fd >= 0)
		close(fd);
	return ok;
}

int loader__features(struct tw_features *f)
{
	const struct btf_type *t;
	char path[256];
	struct utsname u;
	struct btf *btf;

	memset(f, 0, sizeof(*f));
	f->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	f->tracefs = tracefs_ready();
	f->syscall_tps = true;
	for (size_t i = 0; i < sizeof(syscall_tps) / sizeof(syscall_tps[0]); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/syscalls/%s", syscall_tps[i]);
		f->syscall_tps &= file_exists(path);
	}
	f->kallsyms = kallsyms("tw_timer_handler") != 0;
	if (uname(&u) == 0) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		f->config = file_readable(path) || file_readable("/proc/config.gz");
	}
	btf = f->btf ? btf__load_vmlinux_btf() : NULL;
	if (!btf)
		return f->btf ? -errno : -ENOENT;
	f->tp_btf = true;
	for (size_t i = 0; i < sizeof(btf_tps) / sizeof(btf_tps[0]); i++) {
		snprintf(path, sizeof(path), "btf_trace_%s", btf_tps[i]);
		f->tp_btf &= btf__find_by_name_kind(btf, path, BTF_KIND_TYPEDEF) >= 0;
	}
	f->rdonly_cast = btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) >= 0;
	f->bucket_expiry = member_type(btf, "trace_event_raw_timer_start", "bucket_expiry") != NULL;
	t = member_type(btf, "local_ports", "range");
	f->ports_u32 = t && !btf_is_array(t);
	t = member_type(btf, "netns_ipv4", "tcp_death_row");
	f->death_row_ptr = t && btf_is_ptr(t);
	f->inet_flags = member_type(btf, "inet_sock", "inet_flags") != NULL;
	btf__free(btf);
	return 0;
}

/* Per CPU: the --ringbuf total split over the CPUs, a power of two, at least 256 KiB. */
static size_t ring_size(unsigned int total_kb, int ncpus)
{
	size_t want = (size_t)total_kb * 1024 / ncpus, size = 256 * 1024;

	while (size * 2 <= want)
		size *= 2;
	return size;
}

/*
 * libbpf's and the verifier's log of this run, kept to say why a load failed; shown as it comes
 * with -v (or TWSCOPE_DEBUG set).
 */
static struct {
	char text[64 * 1024];
	size_t len;
	bool verbose;
} blog;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	if (blog.verbose) {
		va_copy(cp, ap);
		vfprintf(stderr, fmt, cp);
		va_end(cp);
	}
	if (level == LIBBPF_DEBUG || blog.len >= sizeof(blog.text) - 1)
		return 0;
	n = vsnprintf(blog.text + blog.len, sizeof(blog.text) - blog.len, fmt, ap);
	if (n > 0)
		blog.len = blog.len + n < sizeof(blog.text) ? blog.len + n : sizeof(blog.text) - 1;
	return 0;
}

void loader__verbose(bool on)
{
	blog.verbose = on || getenv("TWSCOPE_DEBUG");
	libbpf_set_print(libbpf_print);
}

/* A load or attach failure with the log line that says why, in one line. */
static int fail_log(const struct loader *l, char *err, size_t len, const char *what, int ret)
{
	const char *missing = NULL;
	char why[400];

	/* a path forced on a kernel the probes found lacking it */
	if (l->direct && !l->feat.rdonly_cast)
		missing = "the kfunc bpf_rdonly_cast (Linux 6.2+)";
	else if (!l->feat.tp_btf)
		missing = "BTF tracepoints (tp_btf)";
	bpflog__reason(blog.text, blog.len, missing, why, sizeof(why));
	snprintf(err, len, "%s: %s%s%s%s", what, strerror(-ret), why[0] ? " (" : "", why,
		 why[0] ? ")" : "");
	return ret;
}

/*
 * What TIME_WAIT timers are and HZ, from a TIME_WAIT made here while only the timer_start
 * program is attached (nothing else sees the probe's sockets); /proc/kallsyms names the
 * function when the probe cannot run, and HZ then comes from the first TIME_WAIT armed.
 */
static int learn(struct loader *l, char *err, size_t len)
{
	struct tw_learned *t = &l->skel->bss->tw_learned;
	struct bpf_program *prog =
		l->direct ? l->skel->progs.tw_timer_start : l->skel->progs.tw_timer_start_core;
	struct bpf_link **link =
		l->direct ? &l->skel->links.tw_timer_start : &l->skel->links.tw_timer_start_core;
	struct twprobe p;
	int ret;

	*link = bpf_program__attach(prog);
	if (!*link)
		return fail_log(l, err, len, "attaching the BPF programs failed", -errno);
	ret = twprobe__open(&p);
	if (!ret) {
		t->probe_sport = p.sport;
		t->probe_dport = p.dport;
		__atomic_store_n(&t->probe_net, p.net_cookie, __ATOMIC_RELEASE);
		ret = twprobe__time_wait(&p);
	}
	/* the arm happened inside the client's last read; a moment for another CPU's softirq */
	for (int i = 0; !ret && i < 100 && !__atomic_load_n(&t->timer_fn, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	twprobe__close(&p);
	l->learned_from = t->timer_fn ? "a TIME_WAIT made at start" : NULL;
	if (!t->timer_fn && (t->timer_fn = kallsyms("tw_timer_handler")))
		l->learned_from = "/proc/kallsyms";
	if (!t->timer_fn)
		return fail(err, len,
			    "cannot recognise TIME_WAIT timers: the start probe saw no TIME_WAIT "
			    "(%s) and /proc/kallsyms hides tw_timer_handler",
			    ret ? strerror(-ret) : "timed out");
	return 0;
}

int loader__open(struct loader *l, const struct tw_opts *o, ring_buffer_sample_fn fn, void *ctx,
		 char *err, size_t len)
{
	struct tw_config *cfg;
	int ret;

	memset(l, 0, sizeof(*l));
	libbpf_set_print(libbpf_print);
	blog.len = 0;
	ret = loader__features(&l->feat);
	if (ret)
		return fail(err, len, "cannot read the kernel's BTF: %s", strerror(-ret));
	l->direct =
		o->tw_reads == TW_READS_AUTO ? l->feat.rdonly_cast : o->tw_reads == TW_READS_DIRECT;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0)
		return fail(err, len, "cannot count CPUs");
	l->percpu = calloc(l->ncpus, sizeof(uint64_t));
	if (!l->percpu)
		return -ENOMEM;
	l->skel = twscope_bpf__open();
	if (!l->skel)
		return fail(err, len, "cannot open the BPF object: %s", strerror(errno));
	cfg = (struct tw_config *)&l->skel->rodata->cfg;
	cfg->pid = o->pid;
	cfg->netns = o->netns;
	cfg->family = o->family;
	cfg->events = o->events;
	cfg->hooks_only = o->hooks_only;
	cfg->port_filter = o->nports > 0;
	l->ring_bytes = ring_size(o->ringbuf_kb, l->ncpus);
	cfg->wakeup_bytes = l->ring_bytes / 8;
	for (int i = 0; i < o->nports; i++)
		cfg->ports[o->ports[i] >> 6] |= 1ULL << (o->ports[i] & 63);
	l->rings = calloc(l->ncpus, sizeof(int));
	if (!l->rings)
		return -ENOMEM;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		l->rings[cpu] =
			bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, l->ring_bytes, NULL);
		if (l->rings[cpu] < 0) {
			l->rings[cpu] = -1;
			return fail(err, len, "cannot create a %zu KiB ring buffer: %s",
				    l->ring_bytes / 1024, strerror(errno));
		}
		l->nrings++;
	}
	bpf_map__set_inner_map_fd(l->skel->maps.events, l->rings[0]);
	bpf_map__set_max_entries(l->skel->maps.events, l->ncpus);
	bpf_map__set_max_entries(l->skel->maps.live, o->max_tw);
	cfg->live_mask = o->max_tw - 1;
	/* one way to read a new tw: direct loads where the kernel has bpf_rdonly_cast */
	bpf_program__set_autoload(l->skel->progs.tw_timer_start, l->direct);
	bpf_program__set_autoload(l->skel->progs.tw_timer_start_core, !l->direct);
	/* attached by hand, first and alone, for the start probe */
	bpf_program__set_autoattach(l->skel->progs.tw_timer_start, false);
	bpf_program__set_autoattach(l->skel->progs.tw_timer_start_core, false);
	l->skel->rodata->nr_bind = SYS_bind;
	l->skel->rodata->nr_listen = SYS_listen;
	l->skel->rodata->nr_connect = SYS_connect;
	l->skel->rodata->nr_sendto = SYS_sendto;
	l->skel->rodata->nr_sendmsg = SYS_sendmsg;
	/* the flush program runs by test_run only */
	bpf_program__set_autoattach(l->skel->progs.tw_flush, false);
	bpf_program__set_autoattach(l->skel->progs.census_run, false);
	bpf_program__set_autoattach(l->skel->progs.netns_walk, false);
	bpf_program__set_autoattach(l->skel->progs.slots_retire, false);
	bpf_program__set_autoattach(l->skel->progs.iter_tcp, false);
	bpf_program__set_autoattach(l->skel->progs.iter_task_owner, false);
	/* the backup for skipped transitions matters only when they name owners or are events */
	if (!(cfg->events & TW_EV_STATE) && !cfg->pid) {
		bpf_program__set_autoload(l->skel->progs.handle_set_state_nested, false);
		bpf_map__set_max_entries(l->skel->maps.owners, 1); /* unused: 4 MiB saved */
	}
	l->pend_buf = calloc(l->ncpus, (bpf_map__value_size(l->skel->maps.pend) + 7) & ~7u);
	if (!l->pend_buf)
		return -ENOMEM;
	ret = twscope_bpf__load(l->skel);
	if (ret)
		return fail_log(l, err, len, "loading the BPF programs failed", ret);
	ret = learn(l, err, len);
	if (ret)
		return ret;
	ret = twscope_bpf__attach(l->skel);
	if (ret)
		return fail_log(l, err, len, "attaching the BPF programs failed", ret);
	for (int i = 0; i < LOADER_EXIT_TPS; i++) {
		l->exit_links[i] = bpf_program__attach_tracepoint(l->skel->progs.handle_sys_exit,
								  "syscalls", syscall_tps[i]);
		if (!l->exit_links[i])
			return fail(err, len, "attaching to syscalls:%s failed: %s", syscall_tps[i],
				    strerror(errno));
	}
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		uint32_t key = cpu;

		if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.events), &key, &l->rings[cpu], 0))
			return fail(err, len, "cannot install the ring buffers: %s",
				    strerror(errno));
		if (!cpu)
			l->rb = ring_buffer__new(l->rings[0], fn, ctx, NULL);
		else if (l->rb && ring_buffer__add(l->rb, l->rings[cpu], fn, ctx))
			return fail(err, len, "cannot map the ring buffers: %s", strerror(errno));
		if (!l->rb)
			return fail(err, len, "cannot map the ring buffer: %s", strerror(errno));
	}
	l->ctr_len = TW_PORT_SLOTS * sizeof(struct tw_port_val);
	l->keys_len = TW_PORT_SLOTS * sizeof(struct tw_port_key);
	l->ctr = mmap(NULL, l->ctr_len, PROT_READ, MAP_SHARED, bpf_map__fd(l->skel->maps.port_ctr),
		      0);
	l->keys = mmap(NULL, l->keys_len, PROT_READ, MAP_SHARED,
		       bpf_map__fd(l->skel->maps.port_keys), 0);
	if (l->ctr == MAP_FAILED || l->keys == MAP_FAILED) {
		ret = -errno;
		return fail(err, len, "cannot map the port counters: %s", strerror(-ret));
	}
	l->netns_len = TW_NETNS_MAX * sizeof(struct tw_netns_id);
	l->netns_ids = mmap(NULL, l->netns_len, PROT_READ, MAP_SHARED,
			    bpf_map__fd(l->skel->maps.netns_live), 0);
	if (l->netns_ids == MAP_FAILED) {
		ret = -errno;
		return fail(err, len, "cannot map the namespace list: %s", strerror(-ret));
	}
	l->listen_keys =
		calloc(bpf_map__max_entries(l->skel->maps.listen_ports), sizeof(*l->listen_keys));
	l->listen_vals = calloc(bpf_map__max_entries(l->skel->maps.listen_ports),
				bpf_map__value_size(l->skel->maps.listen_ports));
	if (!l->listen_keys || !l->listen_vals)
		return -ENOMEM;
	return 0;
}

int loader__netns(struct loader *l, const struct tw_netns_id **ids, size_t *n, bool *complete)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	const struct tw_netns_walk *w = &l->skel->bss->netns_walk_stats;

	*n = 0;
	*complete = false;
	if (bpf_prog_test_run_opts(bpf_program__fd(l->skel->progs.netns_walk), &opts))
		return -errno;
	*ids = l->netns_ids;
	*n = w->n < TW_NETNS_MAX ? w->n : TW_NETNS_MAX;
	*complete = w->complete;
	return 0;
}

static int by_cookie(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

size_t loader__listen_cookies(struct loader *l, uint64_t *out, size_t max)
{
	int fd = bpf_map__fd(l->skel->maps.listen_ports);
	__u32 cap = bpf_map__max_entries(l->skel->maps.listen_ports), got = 0;
	__u64 in = 0, next = 0;
	bool first = true;
	size_t n = 0, u = 0;

	/* a hash map read in batches of whole buckets: one call, unless it is very full */
	while (got < cap) {
		__u32 count = cap - got;
		int ret;

		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		ret = bpf_map_lookup_batch(
			fd, first ? NULL : &in, &next, l->listen_keys + got,
			(char *)l->listen_vals +
				got * bpf_map__value_size(l->skel->maps.listen_ports),
			&count, &opts);
		if (ret && errno != ENOENT)
			break;
		got += count;
		if (ret)
			break;
		in = next;
		first = false;
	}
	for (__u32 i = 0; i < got && n < max; i++)
		out[n++] = l->listen_keys[i].netns_cookie;
	qsort(out, n, sizeof(*out), by_cookie);
	for (size_t i = 0; i < n; i++)
		if (!u || out[u - 1] != out[i])
			out[u++] = out[i];
	return u;
}

int loader__retire(struct loader *l, struct tw_retire_req *reqs, size_t n)
{
	struct tw_retire_args *a = &l->skel->bss->retire_args;

	for (size_t done = 0; done < n;) {
		size_t k = n - done < TW_RETIRE_BATCH ? n - done : TW_RETIRE_BATCH;

		LIBBPF_OPTS(bpf_test_run_opts, opts);
		memcpy(a->req, reqs + done, k * sizeof(*reqs));
		a->n = k;
		if (bpf_prog_test_run_opts(bpf_program__fd(l->skel->progs.slots_retire), &opts)) {
			a->n = 0;
			return -errno;
		}
		memcpy(reqs + done, a->req, k * sizeof(*reqs));
		a->n = 0;
		done += k;
	}
	return 0;
}

struct tw_iter_args *loader__iter_args(struct loader *l)
{
	return &l->skel->bss->iter_args;
}

int loader__iter(struct loader *l, int which, void **data, size_t *len)
{
	struct bpf_program *prog =
		which == LOADER_ITER_TCP ? l->skel->progs.iter_tcp : l->skel->progs.iter_task_owner;
	struct bpf_link **link = &l->iter_links[which == LOADER_ITER_TCP ? 0 : 1];
	size_t cap = 16384, n = 0;
	char *buf = NULL, *p;
	ssize_t r;
	int fd = -1, ret = 0;

	/* the link is made once and kept: each pass is a new seq file on it */
	if (!*link)
		*link = bpf_program__attach_iter(prog, NULL);
	if (!*link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(*link));
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (n + 4096 > cap) {
			p = realloc(buf, cap * 2);
			if (!p) {
				ret = -ENOMEM;
				goto cleanup;
			}
			buf = p;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		n += r;
	}
	*data = buf;
	*len = n;
	buf = NULL;
cleanup:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static void seed_one(int fd, uint32_t inum, void *arg)
{
	struct loader *l = arg;
	void *data;
	size_t len;

	if (setns(fd, CLONE_NEWNET) == 0 && loader__iter(l, LOADER_ITER_TCP, &data, &len) == 0)
		free(data);
}

int loader__seed(struct loader *l, size_t *nnetns)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), ret = 0;
	struct tw_iter_args *a = loader__iter_args(l);

	if (self < 0)
		return -errno;
	memset(a, 0, sizeof(*a));
	a->want_tw_seed = 1;
	*nnetns = netns__each(seed_one, l);
	a->want_tw_seed = 0;
	if (setns(self, CLONE_NEWNET))
		ret = -errno;
	close(self);
	return ret;
}

void loader__flush(struct loader *l)
{
	int fd = bpf_program__fd(l->skel->progs.tw_flush);
	size_t stride = (bpf_map__value_size(l->skel->maps.pend) + 7) & ~7u;
	uint32_t zero = 0;

	/* one read of every CPU's parking slot; only CPUs with something parked get a run */
	if (bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.pend), &zero, l->pend_buf))
		return;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		uint64_t timer;

		memcpy(&timer, (char *)l->pend_buf + cpu * stride, sizeof(timer));
		if (!timer)
			continue;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .cpu = cpu, .flags = BPF_F_TEST_RUN_ON_CPU);

		bpf_prog_test_run_opts(fd, &opts);
	}
}

static int sum_percpu(struct loader *l, int fd, uint32_t key, uint64_t *out)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(fd, &key, l->percpu))
		return -errno;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		sum += l->percpu[cpu];
	*out = sum;
	return 0;
}

int loader__totals(struct loader *l, uint64_t tot[TW_TOT_MAX], uint64_t binds[TW_BIND_ERR_SLOTS])
{
	int tfd = bpf_map__fd(l->skel->maps.totals), bfd = bpf_map__fd(l->skel->maps.bind_errs);
	int ret;

	for (uint32_t i = 0; i < TW_TOT_MAX; i++)
		if ((ret = sum_percpu(l, tfd, i, &tot[i])))
			return ret;
	for (uint32_t i = 0; i < TW_BIND_ERR_SLOTS; i++)
		if ((ret = sum_percpu(l, bfd, i, &binds[i])))
			return ret;
	return 0;
}

uint64_t loader__missed(struct loader *l)
{
	struct bpf_program *prog;
	uint64_t sum = 0;

	bpf_object__for_each_program (prog, l->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_program__fd(prog) >= 0 &&
		    !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			sum += info.recursion_misses;
	}
	return sum;
}

size_t loader__ports(struct loader *l, struct port_row *rows, size_t max)
{
	uint32_t used = l->skel->bss->port_slots_used;
	size_t n = 0;

	for (uint32_t i = 0; i < TW_PORT_SLOTS && i < used && n < max; i++) {
		/* a slot being keyed right now, or free, has no key */
		if (!l->keys[i].netns_cookie)
			continue;
		memcpy(&rows[n].key, (const void *)&l->keys[i], sizeof(rows[n].key));
		memcpy(&rows[n].val, (const void *)&l->ctr[i], sizeof(rows[n].val));
		rows[n].slot = i;
		rows[n].pad = 0;
		n++;
	}
	return n;
}

void loader__free(struct loader *l)
{
	if (!l)
		return;
	ring_buffer__free(l->rb);
	for (int i = 0; l->rings && i < l->nrings; i++)
		close(l->rings[i]);
	free(l->rings);
	if (l->ctr && l->ctr != MAP_FAILED)
		munmap((void *)l->ctr, l->ctr_len);
	if (l->keys && l->keys != MAP_FAILED)
		munmap((void *)l->keys, l->keys_len);
	if (l->netns_ids && l->netns_ids != MAP_FAILED)
		munmap((void *)l->netns_ids, l->netns_len);
	free(l->listen_keys);
	free(l->listen_vals);
	for (int i = 0; i < 2; i++)
		bpf_link__destroy(l->iter_links[i]);
	for (int i = 0; i < LOADER_EXIT_TPS; i++)
		bpf_link__destroy(l->exit_links[i]);
	twscope_bpf__destroy(l->skel);
	free(l->percpu);
	free(l->pend_buf);
	memset(l, 0, sizeof(*l));
}
