/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Diagnosis of a failed bind/listen/connect: given the failing socket and the sockets the kernel
 * snapshot captured, applies the kernel's conflict rules (bindrules.h, shared with the BPF side)
 * and returns the cause, the conflicting holders and a hint; the kernel's exact counts, when
 * present, cover the holders not captured. Pure: no I/O, no BPF.
 */
#ifndef TWSCOPE_DIAG_H
#define TWSCOPE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twscope.h"

#define DIAG_MAX_HOLDERS 16
#define DIAG_HINT_LEN	 512

enum diag_cause {
	CAUSE_TIME_WAIT,
	CAUSE_LISTEN,
	CAUSE_BOUND,
	CAUSE_CONNECTED,
	CAUSE_EPHEMERAL_EXHAUSTED,
	CAUSE_UNKNOWN,
	CAUSE_MAX,
};

/* A socket on the port (holder candidate); owner pid 0 when no process is known to hold it. */
struct diag_sock {
	uint8_t laddr[16];
	uint8_t raddr[16];
	uint16_t lport;
	uint16_t rport;
	uint16_t family;
	uint8_t proto;
	uint8_t state; /* kernel TCP_* number; UDP sockets use TCP_CLOSE (7, "UNCONN") */
	bool reuseaddr;
	bool reuseport;
	bool v6only;
	bool owner_exited; /* pid/comm are who owned it; that process is gone now */
	uint8_t substate;
	uint8_t flags; /* TW_HOLDER_* */
	uint32_t rcv4; /* sk_rcv_saddr of an IPv6 socket, 0 to derive it from laddr */
	uint32_t bound_dev;
	uint32_t uid;
	int64_t expires_in_ms; /* TIME_WAIT only, else -1 */
	uint64_t ino;
	uint64_t cookie;
	uint32_t pid;
	char comm[16];
};

struct diag_input {
	int call;  /* enum tw_call */
	int err;   /* EADDRINUSE or EADDRNOTAVAIL */
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t family;
	uint8_t addr[16]; /* requested address; destination for connect */
	uint16_t port;	  /* requested port; destination for connect; 0 = autobind */
	uint8_t src_addr[16];
	uint16_t src_port; /* connect: the socket's bound source port, 0 = none */
	bool reuseaddr;
	bool reuseport;
	bool v6only;
	uint32_t bound_dev;
	uint32_t uid;	  /* the failing socket's owner (sk_uid) */
	uint16_t port_lo; /* the ephemeral range that applied */
	uint16_t port_hi;
	int tw_reuse;	/* net.ipv4.tcp_tw_reuse */
	int inet_flags; /* bit 0 IP_FREEBIND, bit 1 IP_TRANSPARENT */
	/* what the kernel counted at the failure (snap_flags has TW_SNAP_TAKEN), else 0 */
	int snap_flags;
	uint32_t k_total; /* conflicting sockets */
	uint32_t k_by_state[16];
	uint32_t k_tw_noreuse;
	int64_t k_tw_last_ms;
	uint32_t k_on_port; /* sockets walked */
	uint32_t k_ports_busy;
	uint32_t k_ports_reserved;
	uint32_t k_ports_bound; /* connect: ports of the range bind() took */
	uint16_t sys_lo;	/* net.ipv4.ip_local_port_range */
	uint16_t sys_hi;
	/* the captured holders (a socket the rules clear is not listed) */
	const struct diag_sock *socks;
	size_t nsocks;
};

struct diag_result {
	enum diag_cause cause;
	const struct diag_sock *holders[DIAG_MAX_HOLDERS];
	size_t nholders;      /* listed */
	size_t holders_total; /* conflicting, listed or not */
	size_t by_state[16];  /* conflicting holders per TCP state */
	size_t tw_noreuse;    /* conflicting TIME_WAITs whose socket had no SO_REUSEADDR */
	int64_t tw_last_ms;   /* when the last conflicting TIME_WAIT frees, -1 if none */
	char hint[DIAG_HINT_LEN];
};

/* Does existing socket s block the new one? Mirrors the kernel's rules; exposed for tests. */
bool diag__conflicts(const struct diag_input *in, const struct diag_sock *s);
void diag__run(const struct diag_input *in, struct diag_result *out);
const char *diag__cause_name(enum diag_cause c);
/* The failing socket of a bind record as diagnosis input (socks left empty). */
void diag__input_from_rec(const struct tw_bind_rec *r, struct diag_input *in);
/* A captured holder record as a diagnosis socket (owner from the record, if any). */
void diag__sock_from_rec(const struct tw_holder_rec *h, struct diag_sock *s);

#endif
