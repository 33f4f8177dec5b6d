// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bpflog.h"

/* What a failed load or attach lacks, from the line that says why. */
static const char *missing_feature(const char *line)
{
	if (strstr(line, "bpf_rdonly_cast"))
		return "the kfunc bpf_rdonly_cast (Linux 6.2+)";
	if (strstr(line, "CO-RE relocation") || strstr(line, "relo #"))
		return "a kernel structure field this build expects (a CO-RE relocation)";
	if (strstr(line, "unknown func") || strstr(line, "invalid func"))
		return "a BPF helper or kfunc";
	if (strstr(line, "kernel or module BTFs") || strstr(line, "extern"))
		return "a kernel symbol in BTF";
	if (strstr(line, "CONFIG_") || strstr(line, "kconfig"))
		return "a kernel config value";
	if (strstr(line, "Permission denied") || strstr(line, "Operation not permitted"))
		return "permission (capabilities, lockdown or an LSM)";
	if (strstr(line, "tracepoint") || strstr(line, "attach"))
		return "a tracepoint or attach point";
	return NULL;
}

/* libbpf's own wrap-up lines, which say that something failed but not what. */
static bool generic_line(const char *line)
{
	static const char *const generic[] = {
		"failed to load BPF skeleton", "failed to load object",
		"failed to load program",      "BPF program load failed",
		"-- BEGIN PROG LOAD LOG --",   "-- END PROG LOAD LOG --",
		"failed to auto-attach",       "processed ",
		"verification time",	       "stack depth",
	};

	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (strstr(line, generic[i]))
			return true;
	return !line[strspn(line, " \t")];
}

/* The program a "prog 'NAME': ..." line is about, copied into name; false when none. */
static bool prog_name(const char *line, char *name, size_t len)
{
	const char *p = strstr(line, "prog '"), *end;

	if (!p)
		return false;
	p += 6;
	end = strchr(p, '\'');
	if (!end || (size_t)(end - p) >= len)
		return false;
	memcpy(name, p, end - p);
	name[end - p] = '\0';
	return true;
}

void bpflog__reason(const char *log, size_t loglen, const char *known_missing, char *out,
		    size_t len)
{
	char *save = NULL, *copy = strndup(log, loglen), *line, *first = NULL;
	char *verdict = NULL, *reloc = NULL, prog[64] = "", verdict_prog[64] = "";
	const char *need;
	bool in_log = false;

	out[0] = '\0';
	if (!copy)
		return;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "-- BEGIN PROG LOAD LOG --")) {
			in_log = true;
			prog_name(line, prog, sizeof(prog));
			continue;
		}
		if (strstr(line, "-- END PROG LOAD LOG --")) {
			in_log = false;
			continue;
		}
		if (!reloc && (strstr(line, "failed to resolve CO-RE") ||
			       strstr(line, "not found in kernel")))
			reloc = line;
		if (generic_line(line))
			continue;
		if (in_log && !verdict_prog[0]) {
			verdict = line;
			memcpy(verdict_prog, prog, sizeof(prog));
		} else if (in_log && !strcmp(prog, verdict_prog)) {
			verdict = line; /* the last line of the first program that failed */
		} else if (!in_log && !first) {
			first = line;
		}
	}
	line = reloc ? reloc : verdict ? verdict : first;
	if (line) {
		need = known_missing ? known_missing : missing_feature(line);
		line += strspn(line, " \t");
		snprintf(out, len, "%s%s%s%s%s%s",
			 line == verdict && verdict_prog[0] ? "prog '" : "",
			 line == verdict ? verdict_prog : "",
			 line == verdict && verdict_prog[0] ? "': " : "", line,
			 need ? "; missing: " : "", need ? need : "");
	} else if (known_missing) {
		snprintf(out, len, "missing: %s", known_missing);
	}
	free(copy);
}
