// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Output files a root daemon writes: atomic replace, whole records, nothing it does not own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "logfile.h"
#include "outfile.h"

struct tmpdir {
	char dir[64];
};

static char *path_in(const struct tmpdir *t, const char *name)
{
	static char p[4][384];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", t->dir, name);
	return p[i];
}

static int setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/twscope_out.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmpdir *t = *state;
	struct dirent *e;
	DIR *d = opendir(t->dir);

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(path_in(t, e->d_name));
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *s = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(s);
	*len = fread(s, 1, 65535, f);
	fclose(f);
	return s;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void assert_content(const char *path, const char *want)
{
	size_t len;
	char *got = read_all(path, &len);

	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/* Entries of the directory other than . and .. (temporary files would show here). */
static size_t dir_entries(const struct tmpdir *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_replace_atomic(void **state)
{
	const struct tmpdir *t = *state;
	const char one[] = "# HELP x y\n# TYPE x gauge\nx 1\n", two[] = "x 2\n";
	char err[256];
	struct outfile *f = outfile__new(path_in(t, "m.prom"), err, sizeof(err));

	assert_non_null(f);
	assert_int_equal(dir_entries(t), 0); /* checking writes nothing */
	assert_int_equal(outfile__replace(f, one, strlen(one)), 0);
	assert_content(path_in(t, "m.prom"), one);
	assert_int_equal(outfile__replace(f, two, strlen(two)), 0);
	assert_content(path_in(t, "m.prom"), two);
	assert_int_equal(outfile__replace(f, "", 0), 0);
	assert_content(path_in(t, "m.prom"), "");
	assert_int_equal(dir_entries(t), 1);
	outfile__free(f);
}

static void test_replace_ignores_planted_tmp_name(void **state)
{
	const struct tmpdir *t = *state;
	char err[256], planted[160];
	struct outfile *f;

	/* the old fixed name FILE.tmp.PID, as a symlink to a file the agent must not touch */
	write_text(path_in(t, "victim"), "precious\n");
	snprintf(planted, sizeof(planted), "%s.tmp.%d", path_in(t, "m.prom"), getpid());
	assert_int_equal(symlink(path_in(t, "victim"), planted), 0);
	f = outfile__new(path_in(t, "m.prom"), err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(outfile__replace(f, "x 1\n", 4), 0);
	assert_content(path_in(t, "victim"), "precious\n");
	assert_content(path_in(t, "m.prom"), "x 1\n");
	assert_int_equal(dir_entries(t), 3);
	outfile__free(f);
}

static void test_refuses_what_is_not_a_regular_file(void **state)
{
	const struct tmpdir *t = *state;
	struct outfile *f;
	char err[256];
	struct stat st;

	f = outfile__new("/dev/full", err, sizeof(err));
	assert_null(f);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(stat("/dev/full", &st), 0);
	assert_true(S_ISCHR(st.st_mode));

	write_text(path_in(t, "victim"), "precious\n");
	assert_int_equal(symlink(path_in(t, "victim"), path_in(t, "link.prom")), 0);
	assert_null(outfile__new(path_in(t, "link.prom"), err, sizeof(err)));
	assert_non_null(strstr(err, "symbolic link"));

	assert_int_equal(mkfifo(path_in(t, "fifo.log"), 0600), 0);
	assert_null(logfile__new(path_in(t, "fifo.log"), err, sizeof(err)));
	assert_int_equal(mkdir(path_in(t, "sub"), 0700), 0);
	assert_null(outfile__new(path_in(t, "sub"), err, sizeof(err)));
	assert_null(outfile__new(path_in(t, "missing/m.prom"), err, sizeof(err)));
	assert_non_null(strstr(err, "missing"));

	/* what appears after start is refused at the write, and the temporary file removed */
	f = outfile__new(path_in(t, "late.prom"), err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(symlink(path_in(t, "victim"), path_in(t, "late.prom")), 0);
	assert_int_equal(outfile__replace(f, "x 1\n", 4), -ELOOP);
	assert_content(path_in(t, "victim"), "precious\n");
	assert_int_equal(dir_entries(t), 5);
	outfile__free(f);
}

static void test_refuses_a_file_of_another_user(void **state)
{
	const struct tmpdir *t = *state;
	char err[256];
	struct logfile *l;

	if (geteuid() != 0) {
		print_message("skipped: chown to another user needs root\n");
		skip();
	}
	write_text(path_in(t, "theirs.log"), "theirs\n");
	assert_int_equal(chown(path_in(t, "theirs.log"), 65534, 65534), 0);
	assert_null(logfile__new(path_in(t, "theirs.log"), err, sizeof(err)));
	assert_non_null(strstr(err, "uid 65534"));
	/* a hard link to the agent's own file elsewhere is refused too */
	write_text(path_in(t, "own"), "own\n");
	assert_int_equal(link(path_in(t, "own"), path_in(t, "hard.log")), 0);
	l = logfile__new(path_in(t, "hard.log"), err, sizeof(err));
	assert_null(l);
	assert_non_null(strstr(err, "hard links"));
}

static void test_log_rolls_back_a_short_write(void **state)
{
	const struct tmpdir *t = *state;
	struct rlimit old, lim = { 0 };
	char rec[101], err[256], want[1024] = "";
	struct logfile *l = logfile__new(path_in(t, "tw.log"), err, sizeof(err));

	assert_non_null(l);
	assert_int_equal(logfile__open(l), 0);
	memset(rec, 'a', sizeof(rec) - 2);
	rec[sizeof(rec) - 2] = '\n';
	rec[sizeof(rec) - 1] = '\0';
	/* a file size limit makes the write that crosses it short, like a disk that fills */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_cur = 250;
	lim.rlim_max = old.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(logfile__write(l, rec, strlen(rec)), 0);
	assert_int_equal(logfile__write(l, rec, strlen(rec)), 0);
	assert_true(logfile__write(l, rec, strlen(rec)) < 0);
	assert_true(logfile__write(l, rec, strlen(rec)) < 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(logfile__errors(l), 2);
	assert_int_equal(logfile__write(l, rec, strlen(rec)), 0);
	for (int i = 0; i < 3; i++)
		strcat(want, rec);
	assert_content(path_in(t, "tw.log"), want);
	logfile__close(l);
}

static void test_log_starts_a_new_line_after_a_torn_one(void **state)
{
	const struct tmpdir *t = *state;
	char err[256];
	struct logfile *l;

	write_text(path_in(t, "tw.log"), "{\"whole\":1}\n{\"torn");
	l = logfile__new(path_in(t, "tw.log"), err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(logfile__open(l), 0);
	assert_int_equal(logfile__write(l, "{\"next\":2}\n", 11), 0);
	assert_content(path_in(t, "tw.log"), "{\"whole\":1}\n{\"torn\n{\"next\":2}\n");
	logfile__close(l);
}

static void test_log_discard_removes_only_its_own_empty_file(void **state)
{
	const struct tmpdir *t = *state;
	char err[256];
	struct logfile *l;

	l = logfile__new(path_in(t, "new.log"), err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(dir_entries(t), 0);
	assert_int_equal(logfile__open(l), 0);
	assert_int_equal(dir_entries(t), 1);
	logfile__discard(l);
	assert_int_equal(dir_entries(t), 0);
	logfile__close(l);

	write_text(path_in(t, "old.log"), "");
	l = logfile__new(path_in(t, "old.log"), err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(logfile__open(l), 0);
	logfile__discard(l);
	assert_int_equal(dir_entries(t), 1);
	logfile__close(l);
}

static void test_log_reopen_refuses_a_planted_symlink(void **state)
{
	const struct tmpdir *t = *state;
	char err[256];
	struct logfile *l = logfile__new(path_in(t, "tw.log"), err, sizeof(err));

	assert_non_null(l);
	assert_int_equal(logfile__open(l), 0);
	assert_int_equal(logfile__write(l, "1\n", 2), 0);
	assert_int_equal(rename(path_in(t, "tw.log"), path_in(t, "tw.log.1")), 0);
	write_text(path_in(t, "victim"), "precious\n");
	assert_int_equal(symlink(path_in(t, "victim"), path_in(t, "tw.log")), 0);
	assert_int_equal(logfile__reopen(l), -EPERM);
	/* the old file stays in use */
	assert_int_equal(logfile__write(l, "2\n", 2), 0);
	assert_content(path_in(t, "victim"), "precious\n");
	assert_content(path_in(t, "tw.log.1"), "1\n2\n");
	logfile__close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_ignores_planted_tmp_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refuses_what_is_not_a_regular_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refuses_a_file_of_another_user, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_rolls_back_a_short_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_starts_a_new_line_after_a_torn_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_discard_removes_only_its_own_empty_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_reopen_refuses_a_planted_symlink, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("outfile", tests, NULL, NULL);
}
