// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Why a load failed: the line picked from libbpf's and the verifier's log, and what it lacks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "bpflog.h"

static void reason(const char *log, char *out, size_t len)
{
	bpflog__reason(log, strlen(log), NULL, out, len);
}

static void test_core_relocation_beats_the_generic_lines(void **state)
{
	char out[512];

	reason("libbpf: prog 'handle_exit_bind': relo #3: kind <byte_sz> (1), spec is ...\n"
	       "libbpf: prog 'handle_exit_bind': BPF program load failed: Invalid argument\n"
	       "libbpf: prog 'handle_exit_bind': -- BEGIN PROG LOAD LOG --\n"
	       "123: <invalid CO-RE relocation>\n"
	       "failed to resolve CO-RE relocation <byte_sz> struct net.ipv4.ip_local_ports.range\n"
	       "processed 120 insns (limit 1000000) max_states_per_insn 0\n"
	       "-- END PROG LOAD LOG --\n"
	       "libbpf: failed to load object 'twscope_bpf'\n"
	       "libbpf: failed to load BPF skeleton 'twscope_bpf': -22\n",
	       out, sizeof(out));
	assert_non_null(strstr(out, "failed to resolve CO-RE relocation <byte_sz> struct net"));
	assert_non_null(strstr(out, "missing: a kernel structure field"));
	assert_null(strstr(out, "skeleton"));
}

static void test_verifier_verdict_is_the_last_log_line(void **state)
{
	char out[512];

	reason("libbpf: prog 'tw_timer_start': BPF program load failed: Invalid argument\n"
	       "libbpf: prog 'tw_timer_start': -- BEGIN PROG LOAD LOG --\n"
	       "0: R1=ctx(off=0,imm=0) R10=fp0\n"
	       "; int BPF_PROG(tw_timer_start, struct timer_list *timer)\n"
	       "41: (85) call bpf_rdonly_cast#0\n"
	       "calling kernel function bpf_rdonly_cast is not allowed\n"
	       "processed 41 insns (limit 1000000) max_states_per_insn 0 total_states 3\n"
	       "-- END PROG LOAD LOG --\n"
	       "libbpf: failed to load BPF skeleton 'twscope_bpf': -22\n",
	       out, sizeof(out));
	assert_string_equal(out,
			    "prog 'tw_timer_start': calling kernel function bpf_rdonly_cast is "
			    "not allowed; missing: the kfunc bpf_rdonly_cast (Linux 6.2+)");
}

static void test_first_failing_program_and_known_missing(void **state)
{
	const char *log = "libbpf: prog 'a': -- BEGIN PROG LOAD LOG --\n"
			  "R1 invalid mem access 'scalar'\n"
			  "processed 9 insns\n"
			  "-- END PROG LOAD LOG --\n"
			  "libbpf: prog 'b': -- BEGIN PROG LOAD LOG --\n"
			  "some other verdict\n"
			  "-- END PROG LOAD LOG --\n";
	char out[512];

	bpflog__reason(log, strlen(log), "the kfunc bpf_rdonly_cast (Linux 6.2+)", out,
		       sizeof(out));
	assert_string_equal(out, "prog 'a': R1 invalid mem access 'scalar'; missing: the kfunc "
				 "bpf_rdonly_cast (Linux 6.2+)");
	bpflog__reason("", 0, "BTF tracepoints", out, sizeof(out));
	assert_string_equal(out, "missing: BTF tracepoints");
}

static void test_extern_not_found(void **state)
{
	char out[512];

	reason("libbpf: extern (func ksym) 'bpf_foo': not found in kernel or module BTFs\n"
	       "libbpf: failed to load object 'twscope_bpf'\n",
	       out, sizeof(out));
	assert_non_null(strstr(out, "'bpf_foo': not found in kernel or module BTFs"));
	assert_non_null(strstr(out, "missing: a kernel symbol in BTF"));
}

static void test_attach_failure_first_specific_line(void **state)
{
	char out[512];

	reason("libbpf: prog 'tw_timer_cancel': failed to attach to raw tracepoint 'timer_cancel': "
	       "Operation not permitted\n"
	       "libbpf: prog 'tw_timer_cancel': failed to auto-attach: -1\n",
	       out, sizeof(out));
	assert_non_null(strstr(out, "failed to attach to raw tracepoint 'timer_cancel'"));
	assert_non_null(strstr(out, "missing: permission"));
}

static void test_nothing_specific_is_empty(void **state)
{
	char out[64] = "x";

	reason("libbpf: failed to load BPF skeleton 'twscope_bpf': -22\n\n", out, sizeof(out));
	assert_string_equal(out, "");
	reason("", out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_long_line_is_cut_not_overrun(void **state)
{
	char log[2048], out[32];

	memset(log, 'a', sizeof(log) - 2);
	log[sizeof(log) - 2] = '\n';
	log[sizeof(log) - 1] = '\0';
	reason(log, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_relocation_beats_the_generic_lines),
		cmocka_unit_test(test_verifier_verdict_is_the_last_log_line),
		cmocka_unit_test(test_first_failing_program_and_known_missing),
		cmocka_unit_test(test_extern_not_found),
		cmocka_unit_test(test_attach_failure_first_specific_line),
		cmocka_unit_test(test_nothing_specific_is_empty),
		cmocka_unit_test(test_long_line_is_cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
