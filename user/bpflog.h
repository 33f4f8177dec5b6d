/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Why a BPF load or attach failed, from libbpf's and the verifier's log. */
#ifndef TWSCOPE_BPFLOG_H
#define TWSCOPE_BPFLOG_H

#include <stddef.h>

/*
 * The first line of the log that says why: a failed relocation or extern, else the verifier's
 * verdict (the last line of a program's load log before its statistics), else the first
 * specific warning, with the feature missing ("; missing: ..."): known_missing when the caller's
 * own probes know it, else what the line shows. The program's name is kept: it says what
 * failed. Empty when neither the log nor the caller says anything specific.
 */
void bpflog__reason(const char *log, size_t loglen, const char *known_missing, char *out,
		    size_t len);

#endif
