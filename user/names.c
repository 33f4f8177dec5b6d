// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "names.h"
#include "twscope.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Indexes are the kernel's TCP_* states (include/net/tcp_states.h); names from ss. */
static const char *const tcp_states[] = {
	[1] = "ESTAB",		 [2] = "SYN-SENT",  [3] = "SYN-RECV", [4] = "FIN-WAIT-1",
	[5] = "FIN-WAIT-2",	 [6] = "TIME-WAIT", [7] = "UNCONN",   [8] = "CLOSE-WAIT",
	[9] = "LAST-ACK",	 [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW-SYN-RECV",
	[13] = "BOUND-INACTIVE",
};

const char *tcp_state_name(int state)
{
	if (state < 0 || (unsigned int)state >= ARRAY_SIZE(tcp_states) || !tcp_states[state])
		return "UNKNOWN";
	return tcp_states[state];
}

const char *tw_substate_name(int state)
{
	switch (state) {
	case 5:
		return "FIN_WAIT2";
	case 6:
		return "TIME_WAIT";
	case 11:
		return "CLOSING";
	default:
		return "UNKNOWN";
	}
}

const char *errno_name(int err, char *buf, int len)
{
	switch (err) {
	case EADDRINUSE:
		return "EADDRINUSE";
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	case EACCES:
		return "EACCES";
	case EINVAL:
		return "EINVAL";
	default:
		snprintf(buf, len, "E%d", err);
		return buf;
	}
}

const char *call_name(int call)
{
	switch (call) {
	case TW_CALL_BIND:
		return "bind";
	case TW_CALL_LISTEN:
		return "listen";
	case TW_CALL_CONNECT:
		return "connect";
	default:
		return "unknown";
	}
}

const char *proto_name(int proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	default:
		return "unknown";
	}
}

const char *side_name(int side)
{
	return side == TW_SIDE_REMOTE ? "remote" : "local";
}

const char *exit_reason_name(int reason)
{
	return reason == TW_EXIT_KILLED ? "killed" : "expired";
}

const char *family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "ipv4";
	case AF_INET6:
		return "ipv6";
	default:
		return "unknown";
	}
}
