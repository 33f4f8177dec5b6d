/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `twscope --check` and `--version`: what this kernel offers and which path each part takes. */
#ifndef TWSCOPE_CHECK_H
#define TWSCOPE_CHECK_H

#include <stdio.h>
#include "cli.h"

/* twscope's, libbpf's and the kernel's versions on one line. */
void check__version(FILE *f);
/* Prints the report, loading and attaching the programs as a run would; 0 when they run, or 1. */
int check__run(const struct tw_opts *o);

#endif
