// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/perf_event.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "privs.h"

/*
 * The capabilities kept after start, ending in -1. None today: measured on 6.18 with
 * kernel.unprivileged_bpf_disabled=2, reading maps and the mmapped counters, bpf_prog_test_run,
 * bpf_program__attach_iter and bpf_iter_create on programs already loaded need none, and every
 * setns() (the seeding walk) is done before the drop. A walk that entered another netns after
 * start would need CAP_SYS_ADMIN (setns) and CAP_SYS_PTRACE (/proc/PID/ns/net of a process of
 * another user): add such a one here, with the call that needs it.
 */
static const int kept_caps[] = {
	-1,
};

/* The system calls the agent makes after start, by name: the event loop, outputs, HTTP, walks. */
static const char allowed_syscalls[] =
	/* files: the log, the metrics file, /proc */
	"read write writev pread64 lseek close openat newfstatat fstat statx getdents64 fcntl "
	"fsync fdatasync ftruncate renameat renameat2 unlinkat "
	/* memory, time, identity */
	"mmap munmap mremap mprotect madvise brk futex clock_gettime clock_nanosleep nanosleep "
	"gettimeofday sched_yield restart_syscall getpid gettid getuid geteuid getgid getegid "
	"getrandom "
	/* signals, the event loop (epoll, signalfd, timerfd) */
	"rt_sigprocmask rt_sigreturn rt_sigaction tgkill epoll_create1 epoll_wait epoll_pwait "
	"epoll_ctl poll ppoll signalfd4 timerfd_create timerfd_settime "
	/* libmicrohttpd on its bound socket, and its thread (clone for threads only, below) */
	"accept4 accept recvfrom recvmsg sendto sendmsg shutdown setsockopt getsockopt "
	"getsockname getpeername set_robust_list rseq eventfd2 sched_getaffinity "
	"exit exit_group";

/* bpf() commands on objects made at start: no program or map can be made or loaded. */
static const int allowed_bpf_cmds[] = {
	BPF_MAP_LOOKUP_ELEM,
	BPF_MAP_LOOKUP_BATCH,
	BPF_OBJ_GET_INFO_BY_FD,
	BPF_PROG_TEST_RUN,
	BPF_LINK_CREATE,
	BPF_ITER_CREATE,
	/* the census reads and empties its own two maps */
	BPF_MAP_LOOKUP_AND_DELETE_BATCH,
};

/* ioctl() requests allowed: two questions about the terminal, and one at exit */
static const unsigned long allowed_ioctls[] = {
	TCGETS,			/* stdio: is stdout a terminal, at its first write */
	TIOCGWINSZ,		/* the timeline's width */
	PERF_EVENT_IOC_DISABLE, /* detaching the tracepoint links at exit */
};

#define SECCOMP_EXIT_CODE 70

static void sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
			 "twscope: system call %d is not in the seccomp allow-list "
			 "(user/privs.c); stopping\n",
			 si->si_syscall);

	if (n > 0 && write(STDERR_FILENO, msg, n) < 0)
		n = 0;
	_exit(SECCOMP_EXIT_CODE);
}

static int fail(char *err, size_t len, int ret, const char *what)
{
	snprintf(err, len, "dropping privileges failed: %s: %s", what, strerror(-ret));
	return ret;
}

static int drop_caps(bool dac_override, char *err, size_t len)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	uint64_t keep = 0;

	for (size_t i = 0; kept_caps[i] >= 0; i++)
		keep |= 1ULL << kept_caps[i];
	/* only for an output directory root cannot write by its own permission bits */
	if (dac_override)
		keep |= 1ULL << CAP_DAC_OVERRIDE;
	/* the bounding set first: dropping it needs CAP_SETPCAP, which goes next */
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno == EINVAL)
			break; /* past the kernel's last capability */
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return fail(err, len, -errno, "ambient capabilities");
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &h, d))
		return fail(err, len, -errno, "capset");
	return 0;
}

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define LL_ACCESS_NET_ALL 3ULL /* bind and connect TCP (ABI 4) */
#define LL_SCOPE_ALL	  3ULL /* abstract unix sockets and signals (ABI 6) */
#define LL_FS_READ	  (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_FS_OUTPUT                                                                \
	(LL_FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)

/* The landlock_ruleset_attr of newer kernels than the installed header knows. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

static int add_beneath(int ruleset, int dirfd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = dirfd };

	return syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) ? -errno
											   : 0;
}

static int add_path(int ruleset, const char *path, uint64_t access)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	ret = add_beneath(ruleset, fd, access);
	close(fd);
	return ret;
}

/*
 * Landlock: files are read only under /proc, written only in the output directories, never
 * executed; no new TCP bind or connect, no signal or abstract socket outside the agent. A kernel
 * without Landlock keeps the other layers. (A domain may not ptrace-access processes outside
 * it: a walk that opened another process's /proc/PID/ns/net after start could not be.)
 */
static int sandbox_files(const struct privs_opts *o, char *err, size_t len)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof(attr.handled_access_fs);
	int abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	int ruleset, ret = 0;

	if (abi < 1)
		return 0;
	attr.handled_access_fs = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 4) {
		attr.handled_access_net = LL_ACCESS_NET_ALL;
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ALL;
		attr_size = sizeof(attr);
	}
	ruleset = syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0)
		return fail(err, len, -errno, "landlock ruleset");
	ret = add_path(ruleset, "/proc", LL_FS_READ);
	for (size_t i = 0; !ret && i < sizeof(o->write_dirfds) / sizeof(o->write_dirfds[0]); i++)
		if (o->write_dirfds[i] >= 0)
			ret = add_beneath(ruleset, o->write_dirfds[i],
					  LL_FS_OUTPUT & attr.handled_access_fs);
	if (!ret && syscall(SYS_landlock_restrict_self, ruleset, 0))
		ret = -errno;
	close(ruleset);
	return ret ? fail(err, len, ret, "landlock") : 0;
}

static int allow(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	/* a name this architecture does not have is simply not there to allow */
	return nr == __NR_SCMP_ERROR ? 0 : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

static int install_seccomp(char *err, size_t len)
{
	struct sigaction sa = { .sa_sigaction = sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int ret = ctx ? 0 : -ENOMEM;

	/* every thread, should one exist already */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (const char *p = allowed_syscalls; !ret && *p;) {
		size_t n = strcspn(p, " ");
		char name[32];

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		ret = allow(ctx, name);
		p += n + (p[n] == ' ');
	}
	for (size_t i = 0; !ret && i < sizeof(allowed_bpf_cmds) / sizeof(allowed_bpf_cmds[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 1,
				       SCMP_A0(SCMP_CMP_EQ, allowed_bpf_cmds[i]));
	/* threads only; clone3 cannot be filtered by its flags, and glibc falls back to clone */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* libmicrohttpd names its thread */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	for (size_t i = 0; !ret && i < sizeof(allowed_ioctls) / sizeof(allowed_ioctls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i]));
	if (!ret && sigaction(SIGSYS, &sa, NULL))
		ret = -errno;
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret ? fail(err, len, ret, "seccomp") : 0;
}

int privs__drop(const struct privs_opts *o, char *err, size_t len)
{
	int ret;

	/* local time rules are read now, while /etc can still be read */
	tzset();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail(err, len, -errno, "no_new_privs");
	ret = sandbox_files(o, err, len);
	if (!ret)
		ret = drop_caps(o->dac_override, err, len);
	if (!ret)
		ret = install_seccomp(err, len);
	return ret;
}
