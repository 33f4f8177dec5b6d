/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Names for kernel numbers; every lookup is bounds-checked and never returns NULL. */
#ifndef TWSCOPE_NAMES_H
#define TWSCOPE_NAMES_H

/* TCP state as `ss` prints it ("ESTAB", "TIME-WAIT", ...); "UNKNOWN" when out of range. */
const char *tcp_state_name(int state);
/* tw_substate per the contract: "TIME_WAIT" or "FIN_WAIT2". */
const char *tw_substate_name(int state);
/* "EADDRINUSE", "EADDRNOTAVAIL", ..., or "E<number>" in buf. */
const char *errno_name(int err, char *buf, int len);
const char *call_name(int call);
const char *proto_name(int proto);
const char *side_name(int side);
const char *exit_reason_name(int reason);
const char *family_name(int family);

#endif
