// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unitseccomp: runs a command under the seccomp filter a systemd unit's SystemCallFilter,
 * SystemCallErrorNumber, RestrictAddressFamilies, RestrictNamespaces, MemoryDenyWriteExecute
 * and SystemCallArchitectures=native describe, for tests on hosts where systemd is not PID 1.
 *
 *   unitseccomp -s "read write ..." [-a AF_INET,AF_INET6] [-n net] [-w] [-e EPERM] -- CMD ARGS
 *
 * -s: the allowed system calls (names, already expanded from @groups); everything else fails
 * with -e's errno. -a: socket() families allowed (others fail with EAFNOSUPPORT, as systemd).
 * -n: namespace types unshare(), clone() and setns() may use. -w: MemoryDenyWriteExecute.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

struct name_val {
	const char *name;
	unsigned long val;
};

static const struct name_val namespaces[] = {
	{ "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET },
	{ "mnt", CLONE_NEWNS },	       { "pid", CLONE_NEWPID }, { "user", CLONE_NEWUSER },
	{ "uts", CLONE_NEWUTS },
};

static const struct name_val families[] = {
	{ "AF_UNIX", AF_UNIX },	      { "AF_INET", AF_INET },	  { "AF_INET6", AF_INET6 },
	{ "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
};

static const struct name_val errnos[] = {
	{ "EPERM", EPERM },
	{ "EACCES", EACCES },
	{ "ENOSYS", ENOSYS },
};

#define LOOKUP(table, name, out) lookup(table, sizeof(table) / sizeof(table[0]), name, out)

static int lookup(const struct name_val *t, size_t n, const char *name, unsigned long *out)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].name, name)) {
			*out = t[i].val;
			return 0;
		}
	}
	return -EINVAL;
}

/* systemd allows these whatever the list says: the service could not even exec without them */
static const char *const always[] = { "execve",	   "exit",	   "exit_group",
				      "getrlimit", "rt_sigreturn", "sigreturn" };

static int usage(const char *why)
{
	fprintf(stderr,
		"unitseccomp: %s\nusage: unitseccomp -s SYSCALLS [-a FAMILIES] "
		"[-n NAMESPACES] [-w] [-e ERRNO] -- CMD [ARGS]\n",
		why);
	return 2;
}

static int allow_names(scmp_filter_ctx ctx, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		int nr = seccomp_syscall_resolve_name(t);

		/* a name this architecture lacks is not there to allow (systemd skips it too) */
		if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0))
			return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
		int nr = seccomp_syscall_resolve_name(always[i]);

		if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0))
			return -EINVAL;
	}
	return 0;
}

/* socket() of a family not on the list fails with EAFNOSUPPORT, as under systemd */
static int restrict_families(scmp_filter_ctx ctx, char *list)
{
	char *save = NULL;
	bool ok[AF_MAX] = { false };
	unsigned long af;

	for (char *t = strtok_r(list, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		if (LOOKUP(families, t, &af))
			return -EINVAL;
		ok[af] = true;
	}
	for (af = 0; af < AF_MAX; af++)
		if (!ok[af] && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket),
						1, SCMP_A0(SCMP_CMP_EQ, af)))
			return -EINVAL;
	return 0;
}

/* EPERM for the call when all bits of mask are set in its argument arg */
static int deny_masked(scmp_filter_ctx ctx, int nr, unsigned int arg, uint64_t mask)
{
	struct scmp_arg_cmp cmp = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = mask
	};

	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, cmp);
}

static int restrict_namespaces(scmp_filter_ctx ctx, char *list)
{
	unsigned long allowed = 0, f;
	char *save = NULL;

	for (char *t = strtok_r(list, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		if (LOOKUP(namespaces, t, &f))
			return -EINVAL;
		allowed |= f;
	}
	/* as systemd: setns(fd, 0) could enter any kind, so it goes unless all are allowed */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 1,
			     SCMP_A1(SCMP_CMP_EQ, 0)))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
		f = namespaces[i].val;
		if (allowed & f)
			continue;
		if (deny_masked(ctx, SCMP_SYS(unshare), 0, f) ||
		    deny_masked(ctx, SCMP_SYS(clone), 0, f) ||
		    deny_masked(ctx, SCMP_SYS(setns), 1, f))
			return -EINVAL;
	}
	return 0;
}

/* MemoryDenyWriteExecute: no mapping both writable and executable, none made executable later */
static int deny_write_execute(scmp_filter_ctx ctx)
{
	if (deny_masked(ctx, SCMP_SYS(mmap), 2, PROT_WRITE | PROT_EXEC) ||
	    deny_masked(ctx, SCMP_SYS(mprotect), 2, PROT_EXEC) ||
	    deny_masked(ctx, SCMP_SYS(pkey_mprotect), 2, PROT_EXEC))
		return -EINVAL;
	return 0;
}

/*
 * One filter per setting, as systemd loads them: the kernel applies the strictest answer of all,
 * so an allowed socket() is still refused for a family the second filter does not allow.
 */
static int load(uint32_t def, int (*add)(scmp_filter_ctx, char *), char *arg)
{
	scmp_filter_ctx ctx = seccomp_init(def);
	int ret = ctx ? add(ctx, arg) : -ENOMEM;

	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

static int add_mdwe(scmp_filter_ctx ctx, char *unused)
{
	return deny_write_execute(ctx);
}

int main(int argc, char **argv)
{
	char *syscalls = NULL, *afs = NULL, *nss = NULL;
	bool mdwe = false;
	int err = EPERM, opt, ret;
	unsigned long e;

	while ((opt = getopt(argc, argv, "+s:a:n:we:")) != -1) {
		switch (opt) {
		case 's':
			syscalls = optarg;
			break;
		case 'a':
			afs = optarg;
			break;
		case 'n':
			nss = optarg;
			break;
		case 'w':
			mdwe = true;
			break;
		case 'e':
			if (LOOKUP(errnos, optarg, &e))
				return usage("unknown errno name");
			err = e;
			break;
		default:
			return usage("bad option");
		}
	}
	if (!syscalls || optind >= argc)
		return usage("-s and a command are required");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		fprintf(stderr, "unitseccomp: no_new_privs: %s\n", strerror(errno));
		return 1;
	}
	ret = afs ? load(SCMP_ACT_ALLOW, restrict_families, afs) : 0;
	if (!ret && nss)
		ret = load(SCMP_ACT_ALLOW, restrict_namespaces, nss);
	if (!ret && mdwe)
		ret = load(SCMP_ACT_ALLOW, add_mdwe, NULL);
	/*
	 * The allow-list last: seccomp() itself may not be on it. SystemCallArchitectures=native:
	 * libseccomp's default context holds the native architecture only.
	 */
	if (!ret)
		ret = load(SCMP_ACT_ERRNO(err), allow_names, syscalls);
	if (ret) {
		fprintf(stderr, "unitseccomp: a filter failed (%s): bad -s, -a or -n list?\n",
			strerror(-ret));
		return 1;
	}
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "unitseccomp: %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
