/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Start-up checks, and the BPF skeleton's open/load/attach, seeding, flushing and reading. */
#ifndef TWSCOPE_LOADER_H
#define TWSCOPE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "twscope.h"

struct twscope_bpf;

struct port_row;

#define LOADER_EXIT_TPS 5 /* syscall exits of bind, listen, connect, sendto, sendmsg */

/* What the kernel offers the agent, from BTF and the file system (twscope --check). */
struct tw_features {
	bool btf;	    /* /sys/kernel/btf/vmlinux */
	bool tp_btf;	    /* the four BTF tracepoints the programs attach to */
	bool tracefs;	    /* mounted (the syscall tracepoints need it) */
	bool syscall_tps;   /* syscalls:sys_exit_bind/listen/connect/sendto/sendmsg */
	bool rdonly_cast;   /* kfunc bpf_rdonly_cast, 6.2+: a tw is read with direct loads */
	bool bucket_expiry; /* timer_start(timer, bucket_expiry), 6.9+; else (expires, flags) */
	bool ports_u32;	    /* ip_local_port_range packed in a u32, 6.8+; else int[2] */
	bool death_row_ptr; /* net->ipv4.tcp_death_row a pointer (5.17 to 6.0) */
	bool inet_flags;    /* inet_sock.inet_flags, 6.6+; else bitfields */
	bool kallsyms;	    /* /proc/kallsyms shows addresses (not needed) */
	bool config;	    /* a kernel config file exists (not needed) */
};

struct loader {
	struct twscope_bpf *skel;
	struct ring_buffer *rb;
	int *rings; /* one ring buffer map per CPU */
	int nrings;
	size_t ring_bytes;
	int ncpus;
	uint64_t *percpu;	       /* scratch for per-CPU lookups */
	void *pend_buf;		       /* every CPU's TIME_WAIT parking slot */
	const struct tw_port_val *ctr; /* the port_ctr array, mapped read-only */
	size_t ctr_len;
	const struct tw_port_key *keys; /* the key of each slot, mapped read-only */
	size_t keys_len;
	const struct tw_netns_id *netns_ids; /* the netns walk's output, mapped read-only */
	size_t netns_len;
	struct tw_listen_key *listen_keys; /* scratch for reading listen_ports */
	void *listen_vals;		   /* struct tw_listener, known to the BPF side only */
	struct bpf_link *iter_links[2];	   /* iter/tcp, iter/task: made on first use */
	struct bpf_link *exit_links[LOADER_EXIT_TPS];
	struct tw_features feat;
	bool direct;		  /* the tw is read with direct loads (else BPF_CORE_READ) */
	const char *learned_from; /* where tw_timer_handler's address came from */
};

/* Root, BTF, tracefs (mounted here when absent: *mounted set), tracepoints; -errno + message. */
int loader__preflight(bool *mounted, char *err, size_t len);
/* Probes what the running kernel offers; 0 or -errno (no BTF). */
int loader__features(struct tw_features *f);
/* libbpf's and the verifier's log on stderr as it comes. */
void loader__verbose(bool on);
int loader__open(struct loader *l, const struct tw_opts *o, ring_buffer_sample_fn fn, void *ctx,
		 char *err, size_t len);
/* Seeds listeners and existing TIME_WAITs of every reachable netns; returns how many netns. */
int loader__seed(struct loader *l, size_t *nnetns);
/* Settles parked TIME_WAIT timer cancels on every CPU. */
void loader__flush(struct loader *l);
/* Host-wide totals (summed over CPUs) and bind errors by call and errno. */
int loader__totals(struct loader *l, uint64_t tot[TW_TOT_MAX], uint64_t binds[TW_BIND_ERR_SLOTS]);
/* Runs of our programs the kernel skipped (it never runs one nested in itself on a CPU): an
 * upper bound of the events lost that way, since the nested set_state program takes most. */
uint64_t loader__missed(struct loader *l);
/* Every per-port counter row, up to max; returns the count. */
size_t loader__ports(struct loader *l, struct port_row *rows, size_t max);
/* The live namespaces, from a walk of the kernel's list; *complete when it saw all. */
int loader__netns(struct loader *l, const struct tw_netns_id **ids, size_t *n, bool *complete);
/* The distinct namespaces of the listener entries, sorted; returns how many (<= max). */
size_t loader__listen_cookies(struct loader *l, uint64_t *out, size_t max);
/* Has the kernel do the requests (reclaim.bpf.c); their results are filled in. 0 or -errno. */
int loader__retire(struct loader *l, struct tw_retire_req *reqs, size_t n);
/* Runs one iterator program; the caller set skel->bss->iter_args. Fills a malloc'd buffer. */
int loader__iter(struct loader *l, int which, void **data, size_t *len);
struct tw_iter_args *loader__iter_args(struct loader *l);
void loader__free(struct loader *l);

enum { LOADER_ITER_TCP, LOADER_ITER_OWNERS };

#endif
