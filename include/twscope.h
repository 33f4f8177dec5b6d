/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records and map layouts shared by the BPF programs and user space. */
#ifndef TWSCOPE_H
#define TWSCOPE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TW_COMM_LEN   16
#define TW_ADDR_LEN   16
#define TW_PORT_WORDS 1024 /* 65536-bit port bitmap */

/* Every ring buffer and iterator record starts with struct tw_hdr. */
enum tw_rec_type {
	TW_REC_STATE = 1,
	TW_REC_TW_ENTER = 2,
	TW_REC_TW_EXIT = 3,
	TW_REC_TW_OVERFLOW = 4,
	TW_REC_BIND_ERR = 5,
	TW_REC_HOLDER = 6,
	TW_REC_OWNER = 7,
	TW_REC_MAX = 8,
};

/* --events bits, also applied in the kernel before reserving ring space. */
enum tw_event_mask {
	TW_EV_STATE = 1,
	TW_EV_TW = 2,
	TW_EV_BIND = 4,
};

enum tw_exit_reason {
	TW_EXIT_EXPIRED = 0,
	TW_EXIT_KILLED = 1,
};

enum tw_side {
	TW_SIDE_LOCAL = 0,
	TW_SIDE_REMOTE = 1,
};

enum tw_call {
	TW_CALL_BIND = 0,
	TW_CALL_LISTEN = 1,
	TW_CALL_CONNECT = 2,
	TW_CALL_MAX = 3,
};

/* Flags of tw_exit and of a live TIME_WAIT entry. */
enum tw_flags {
	TW_F_SEEDED = 1, /* found by the start-up iterator pass, age is estimated */
};

/* Indexes of the per-CPU totals array; host-wide and never filtered. */
enum tw_total {
	TW_TOT_TW_ENTERED = 0,
	TW_TOT_TW_EXPIRED,
	TW_TOT_TW_KILLED,
	TW_TOT_TW_OVERFLOW,
	TW_TOT_TW_SEEDED,
	TW_TOT_TW_REARMED,
	TW_TOT_TW_UNTRACKED, /* exits of TIME_WAITs that existed before tracking began */
	TW_TOT_TW_MAP_FULL,  /* live-map insert failures */
	TW_TOT_BIND_ERRORS,
	TW_TOT_LOST_EVENTS, /* ring buffer reservations that failed */
	TW_TOT_STATE_EVENTS,
	TW_TOT_PORTS_FULL,   /* per-port map insert failures */
	TW_TOT_SLOTS_REUSED, /* counter slots taken from the free list (user space freed them) */
	TW_TOT_MAX,
};

/* Bind errors by call and errno: index = call * 2 + (errno == EADDRNOTAVAIL). */
#define TW_BIND_ERR_SLOTS (TW_CALL_MAX * 2)

struct tw_hdr {
	__u16 type;
	__u16 size;
	__u32 netns;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
};

/* Addresses in network order; IPv4 uses the first 4 bytes. Ports in host order. */
struct tw_tuple {
	__u8 saddr[TW_ADDR_LEN];
	__u8 daddr[TW_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 pad;
};

/* pid 0 means no owning process is known. */
struct tw_proc {
	__u32 pid;
	__u32 uid;
	char comm[TW_COMM_LEN];
};

struct tw_state_rec {
	struct tw_hdr hdr;
	struct tw_tuple t;
	struct tw_proc proc;
	__u8 oldstate;
	__u8 newstate;
	__u8 pad[6];
};

struct tw_enter_rec {
	struct tw_hdr hdr;
	struct tw_tuple t;
	struct tw_proc proc;
	__u64 expires_in_ns;
	__u8 substate;
	__u8 reuseaddr;
	__u8 reuseport;
	__u8 side;
	__u8 pad[4];
};

struct tw_exit_rec {
	struct tw_hdr hdr;
	struct tw_tuple t;
	struct tw_proc proc;
	__u64 age_ns;
	__u8 reason;
	__u8 side;
	__u8 flags;
	__u8 pad[5];
};

struct tw_overflow_rec {
	struct tw_hdr hdr;
	struct tw_tuple t;
	struct tw_proc proc;
};

/* At most this many holder records follow a bind error (struct tw_snap_rec). */
#define TW_SNAP_HOLDERS 16

/* tw_bind_rec.snap_flags: how the snapshot of the port's holders was taken. */
enum tw_snap_flags {
	TW_SNAP_TAKEN = 1,	/* the kernel's tables were read in the failing call's context */
	TW_SNAP_PARTIAL = 2,	/* the walk ran out of steps: the counts are lower bounds */
	TW_SNAP_SKIPPED = 4,	/* not taken: a snapshot on this CPU was in progress */
	TW_SNAP_SOCK_RANGE = 8, /* the socket's IP_LOCAL_PORT_RANGE narrowed the ephemeral range */
	TW_SNAP_RULES_61 = 16,	/* the 6.1 bind hash (tb->owners) and its v4-mapped rules */
	TW_SNAP_FASTOPEN = 32,	/* the connect was the implicit one of sendto(MSG_FASTOPEN) */
	TW_SNAP_BUDGET = 64,	/* this CPU's walking budget was spent: not read, or not all */
};

/*
 * A failed bind/listen/connect. The sockets that conflict are counted exactly (by_state) and the
 * first TW_SNAP_HOLDERS of them follow as tw_holder_rec in the same ring record (tw_snap_rec).
 */
struct tw_bind_rec {
	struct tw_hdr hdr; /* size covers the holder records that follow */
	struct tw_proc proc;
	__u8 addr[TW_ADDR_LEN];	    /* requested address (destination for connect) */
	__u8 src_addr[TW_ADDR_LEN]; /* the socket's bound source address, for connect */
	__s32 err;		    /* positive errno */
	__u32 bound_dev;
	__u32 sk_uid;	     /* the failing socket's owner (sk_uid): what the kernel compares */
	__u32 nholders;	     /* holder records that follow, at most TW_SNAP_HOLDERS */
	__u32 holders_total; /* sockets that conflict, exact unless TW_SNAP_PARTIAL */
	__u32 tw_noreuse;    /* conflicting TIME_WAITs whose socket did not set SO_REUSEADDR */
	__u32 by_state[16];  /* conflicting sockets per TCP state; UDP sockets count as TCP_CLOSE */
	__s64 tw_last_ms;    /* when the last conflicting TIME_WAIT frees, -1 if none */
	__u32 on_port;	     /* sockets walked: on the port, or in the range for an autobind */
	__u32 ports_busy;    /* range walks: ports of the range that a conflicting socket holds */
	__u32 ports_reserved; /* range walks: ports of the range in ip_local_reserved_ports */
	__u16 port;	      /* requested port (destination for connect) */
	__u16 src_port;	      /* the socket's bound source port, for connect */
	__u16 family;
	__u16 port_lo; /* the ephemeral range that applied (the socket's own, or the netns's) */
	__u16 port_hi;
	__u16 sys_lo; /* net.ipv4.ip_local_port_range of the netns */
	__u16 sys_hi;
	__u8 call;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 reuseaddr;
	__u8 reuseport;
	__u8 v6only;
	__u8 tw_reuse;	   /* net.ipv4.tcp_tw_reuse of the netns */
	__u8 inet_flags;   /* bit 0 freebind, 1 transparent, 2 bind_address_no_port */
	__u8 snap_flags;   /* enum tw_snap_flags */
	__u32 ports_bound; /* connect range walks: ports of the range taken by bind() */
};

/* tw_holder_rec.flags */
enum tw_holder_flags {
	TW_HOLDER_ORPHAN = 1,	    /* a full socket no file refers to: closed, its state lingers */
	TW_HOLDER_BIND_PORT = 2,    /* its port was taken by bind(): connect() cannot share it */
	TW_HOLDER_LISTEN_OWNER = 4, /* owner is the process that called listen() on this socket */
	TW_HOLDER_OWNER_GONE = 8,   /* set by user space: that owner has exited since */
	TW_HOLDER_NOT_LOOKED_UP = 16, /* set by user space: its owner was not looked for */
};

/* One socket that held the port of a failed call, read from the bind or UDP hash at the failure. */
struct tw_holder_rec {
	struct tw_hdr hdr;
	struct tw_tuple t;    /* saddr is the bound address (sk_rcv_saddr / sk_v6_rcv_saddr) */
	__u64 cookie;	      /* socket cookie, 0 when none was ever given to it */
	__u64 ino;	      /* socket inode, 0 without a file (TIME_WAIT, orphaned) */
	__s64 expires_in_ms;  /* TIME_WAIT only, else -1 */
	struct tw_proc owner; /* pid 0 when the kernel side does not know it */
	__u32 uid;	      /* sk_uid; 0 for a TIME_WAIT */
	__u32 bound_dev;
	__u32 rcv4; /* sk_rcv_saddr: the IPv4 view of an IPv6 socket that the rules compare */
	__u8 state;
	__u8 proto;
	__u8 reuseaddr; /* skc_reuse */
	__u8 reuseport;
	__u8 v6only; /* as the kernel applies it (a specific IPv6 address implies it) */
	__u8 substate;
	__u8 flags; /* enum tw_holder_flags */
	__u8 pad[5];
};

/* The largest ring buffer record: a bind error with its holders. */
struct tw_snap_rec {
	struct tw_bind_rec bind;
	struct tw_holder_rec holders[TW_SNAP_HOLDERS];
};

/* A process that has open one of the socket inodes asked for (iter_args.inos). */
struct tw_owner_rec {
	struct tw_hdr hdr;
	__u64 ino;
	__u32 pid;
	__u32 pad;
	char comm[TW_COMM_LEN];
};

/*
 * Per-port TIME_WAIT and bind error counters: a tw_port_key names a counter slot (hash
 * port_slot), the counters sit in an array (port_ctr) at that slot. Side local is keyed by the
 * port alone (family 0): a dual-stack listener serves both families. A namespace is keyed by
 * its cookie: the kernel reuses a dead namespace's inode at once. Slots user space frees (a dead
 * namespace's, an idle port's) go to a queue (port_free) that new keys take from first.
 */
#define TW_PORT_SLOTS 16384
#define TW_NO_SLOT    0xffffffffu

struct tw_port_key {
	__u64 netns_cookie; /* never reused; 0 marks a slot without a key */
	__u32 netns;	    /* inode, for outputs and --netns */
	__u16 port;
	__u8 side;
	__u8 family;		/* side remote only */
	__u8 addr[TW_ADDR_LEN]; /* remote address for side remote, zero for local */
};

/* A port that has or had a TCP listener (map listen_ports). */
struct tw_listen_key {
	__u64 netns_cookie;
	__u32 port;
	__u32 pad;
};

struct tw_port_val {
	__s64 tw;
	__u64 tw_peak;
	__u64 entered;
	__u64 expired;
	__u64 killed;
	__u64 overflow;
	__u64 bind_errors;
};

/*
 * A TIME_WAIT socket being tracked: one slot of an open-addressing table in an array, found by
 * its timer's address (never printed). Lock-free: a slot is claimed with a compare-and-swap.
 * One cache line per slot (the array is page-aligned): lookups of a big table miss the cache.
 */
#define TW_LIVE_EMPTY	0
#define TW_LIVE_DELETED 1

struct tw_live {
	__u64 timer;	     /* key; TW_LIVE_EMPTY or TW_LIVE_DELETED when free */
	__u32 enter_jiffies; /* low 32 bits of jiffies: clock reads cost ~50 ns in a VM */
	__u32 slot;	     /* per-port counters, or TW_NO_SLOT */
	__u8 saddr[TW_ADDR_LEN];
	__u8 daddr[TW_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u32 netns;
	__u32 pid;  /* owner; the comm comes with the tw_enter event */
	__u8 flags; /* enum tw_flags */
	__u8 side;
	__u8 wanted; /* passed the filters: events are sent */
	__u8 v6;
};

/* Read-only knobs set by user space between open and load. */
struct tw_config {
	__u32 pid;	    /* tgid filter, 0 = any */
	__u32 netns;	    /* netns inode filter, 0 = any */
	__u16 family;	    /* AF_INET, AF_INET6 or 0 = any */
	__u8 events;	    /* enum tw_event_mask */
	__u8 port_filter;   /* ports[] is in use */
	__u32 wakeup_bytes; /* ring buffer data that triggers a wakeup */
	__u32 live_mask;    /* slots of the live table - 1, a power of two - 1 */
	__u8 hooks_only;    /* bench: every program returns at once, to measure the hooks alone */
	__u8 pad[3];
	__u64 ports[TW_PORT_WORDS];
};

/*
 * What the kernel does not say without /proc/kallsyms or a config file, learned at start from a
 * TIME_WAIT the agent makes itself (timer_fn, hz), or from the first one armed (hz). In .bss.
 */
struct tw_learned {
	__u64 timer_fn;	 /* tw_timer_handler: the function of every TIME_WAIT timer */
	__u64 probe_net; /* cookie of the probe's network namespace, 0 when no probe runs */
	__u32 hz;	 /* jiffies per second, 0 until learned */
	__u16 probe_sport;
	__u16 probe_dport;
};

/*
 * The live network namespaces, from one walk of the kernel's net_namespace_list (netns.bpf.c),
 * written to an array: a namespace missing from a complete walk has died.
 */
#define TW_NETNS_MAX 16384

struct tw_netns_id {
	__u64 cookie;
	__u32 inum;
	__u32 pad;
};

struct tw_netns_walk {
	__u32 n;	/* entries written to netns_live */
	__u32 complete; /* the walk came back to where it started: every namespace is listed */
	__u32 steps;
	__u32 pad;
};

/*
 * Counter slots and listener entries user space takes back, one request each, done in the
 * kernel (reclaim.bpf.c): the listener's slot is cleared with a compare-and-swap, never by
 * rewriting an entry a program may be updating.
 */
#define TW_RETIRE_BATCH 256

enum tw_retire_op {
	TW_RETIRE_UNMAP = 1,  /* key -> slot out of port_slot, the listener's reference dropped */
	TW_RETIRE_FREE = 2,   /* an unmapped, idle slot: last values out, zeroed, to port_free */
	TW_RETIRE_LISTEN = 3, /* every listener entry of namespace key.netns_cookie deleted */
};

struct tw_retire_req {
	struct tw_port_key key;
	struct tw_port_val val; /* FREE: the slot's last values */
	__u32 slot;
	/* UNMAP: 1 = the key was the slot's; FREE: 1 = freed, 2 = a listener held it again (retry
	 * later), 0 = not freed; LISTEN: entries deleted */
	__u32 result;
	__u8 op;
	__u8 pad[7];
};

struct tw_retire_args {
	__u32 n;
	__u32 pad;
	struct tw_retire_req req[TW_RETIRE_BATCH];
};

/* Parameters of one iterator pass, written to .bss by user space. */
#define TW_ITER_INOS 256 /* a power of two: a binary search */

struct tw_iter_args {
	__u64 inos[TW_ITER_INOS]; /* iter/task: socket inodes to name owners of, sorted */
	__u32 ninos;
	__u8 want_tw_seed; /* iter/tcp: seed the live TIME_WAIT map */
	__u8 pad[3];
};

/*
 * Ephemeral port use, counted by one walk of the whole bind hash per interval (census.bpf.c):
 * per destination of outgoing connections, and per network namespace.
 */
#define TW_DEST_SAMPLES 8

struct tw_dest_key {
	__u64 netns_cookie; /* never reused, unlike the inode */
	__u32 netns;	    /* inode, for outputs */
	__u16 family;
	__u16 port;		/* remote port */
	__u8 addr[TW_ADDR_LEN]; /* remote address */
};

struct tw_dest_use {
	__u32 in_use;	 /* ports of the ephemeral range in use toward it, TIME_WAITs included */
	__u32 time_wait; /* of those, held by TIME_WAITs */
	__u32 owned;	 /* sockets toward it with a file, of which ino[] is a uniform sample */
	__u32 pad;
	__u64 ino[TW_DEST_SAMPLES]; /* sockets of it, to name their owners; 0 = none */
};

struct tw_netns_ports {
	__u32 netns;
	__u32 ports_bound;    /* ports of the range taken by bind(): connect() cannot share them */
	__u32 ports_reserved; /* of the range, in ip_local_reserved_ports */
	__u16 lo;	      /* net.ipv4.ip_local_port_range */
	__u16 hi;
	__u8 tw_reuse; /* net.ipv4.tcp_tw_reuse */
	__u8 pad[3];
	__u32 bound_owned;		  /* sockets on bind()-taken ports sampled from */
	__u64 bound_ino[TW_DEST_SAMPLES]; /* a uniform sample of sockets on bind()-taken ports */
};

/* What a census did, in its .bss. It runs in slices: user space sets restart, then runs the
 * program until done. */
struct tw_census_stats {
	__u64 buckets;
	__u64 sockets;
	__u32 partial; /* ran out of steps: the counts are lower bounds */
	__u32 full;    /* a map had no room for a destination or a netns */
	__u32 done;
	__u32 restart;
	__u64 slices;
};

#endif
