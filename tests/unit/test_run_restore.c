/* `iovirt run --restore DIR`'s configuration (src/cmd/run_restore.c): the
 * machine comes from the manifest's options, this run keeps its own
 * process options; options given too must be the snapshot's, word for
 * word, else one line names the first that differs; an edited manifest
 * with --help or --restore in it, or none at all, is refused; a snapshot
 * taken in another directory is restored from there. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/run_restore.h"
#include "core/exit_codes.h"
#include "machine/machine_snapshot.h"
#include "support/capture.h"

#define PARSE(cfg, ...)                                                        \
	({                                                                     \
		char *argv_[] = {"run", __VA_ARGS__, NULL};                    \
		config_parse_run((int)(sizeof(argv_) / sizeof(argv_[0])) - 1,  \
				 argv_, (cfg));                                \
	})

struct fixture {
	char dir[64];
	char cwd[PATH_MAX];
};

/* A snapshot directory whose manifest has these options and cwd. */
static void write_manifest(struct fixture *f, const char *cwd, char **args, unsigned nargs)
{
	struct snap_manifest m;
	memset(&m, 0, sizeof(m));
	m.format = SNAP_MANIFEST_FORMAT;
	snprintf(m.iovirt, sizeof(m.iovirt), "test");
	snprintf(m.created, sizeof(m.created), "2026-12-07T00:00:00Z");
	snprintf(m.cwd, sizeof(m.cwd), "%s", cwd);
	m.args = args;
	m.nargs = nargs;
	m.nmem = 1;
	m.mem[0].size = 64ULL << 20;
	snprintf(m.mem[0].file, sizeof(m.mem[0].file), "mem-x-0.bin");
	m.vcpus = 2;
	snprintf(m.state_file, sizeof(m.state_file), "state-x.bin");
	char path[128], why[256];
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_MANIFEST, f->dir);
	assert_int_equal(snap_manifest_write(path, &m, why, sizeof(why)), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/iovirt-run-restore-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(getcwd(f->cwd, sizeof(f->cwd)));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(chdir(f->cwd), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_MANIFEST, f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *saved[] = {"--kernel", "bz", "--memory", "64M", "--cpus", "2", "--rng"};
#define NSAVED (sizeof(saved) / sizeof(saved[0]))

static void test_machine_from_manifest(void **state)
{
	struct fixture *f = *state;
	write_manifest(f, f->cwd, saved, NSAVED);
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--restore", f->dir, "--api-socket", "/run/x.sock",
			       "--verbose"), 0);
	struct run_restore rr;
	assert_int_equal(run_restore_config(&cfg, &rr), 0);
	assert_string_equal(cfg.kernel, "bz");
	assert_int_equal(cfg.memory, 64ULL << 20);
	assert_int_equal(cfg.cpus, 2);
	assert_true(cfg.rng);
	assert_string_equal(cfg.api_socket, "/run/x.sock"); /* this run's */
	assert_true(cfg.verbose);
	assert_string_equal(cfg.restore, f->dir);
	assert_int_equal(cfg.nargs, NSAVED); /* what a next snapshot records */
	run_restore_free(&rr);
}

static void test_same_options_accepted(void **state)
{
	struct fixture *f = *state;
	write_manifest(f, f->cwd, saved, NSAVED);
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--restore", f->dir, "--kernel", "bz", "--memory", "64M",
			       "--cpus", "2", "--rng"), 0);
	struct run_restore rr;
	assert_int_equal(run_restore_config(&cfg, &rr), 0);
	run_restore_free(&rr);
}

struct call {
	struct vm_config cfg;
	int ret;
};

static void call_restore(void *arg)
{
	struct call *c = arg;
	struct run_restore rr;
	c->ret = run_restore_config(&c->cfg, &rr);
	run_restore_free(&rr);
}

static void test_other_options_refused(void **state)
{
	struct fixture *f = *state;
	write_manifest(f, f->cwd, saved, NSAVED);
	struct call c;
	assert_int_equal(PARSE(&c.cfg, "--restore", f->dir, "--kernel", "bz", "--memory", "128M",
			       "--cpus", "2", "--rng"), 0);
	char *err = capture_stderr(call_restore, &c);
	assert_int_equal(c.ret, IOVIRT_EXIT_USAGE);
	assert_int_equal(count_occurrences(err, "\n"), 1);
	assert_non_null(strstr(err, "'64M'"));
	assert_non_null(strstr(err, "'128M'"));
	free(err);
	/* One word missing at the end is a difference too. */
	assert_int_equal(PARSE(&c.cfg, "--restore", f->dir, "--kernel", "bz", "--memory", "64M",
			       "--cpus", "2"), 0);
	err = capture_stderr(call_restore, &c);
	assert_int_equal(c.ret, IOVIRT_EXIT_USAGE);
	assert_non_null(strstr(err, "'--rng'"));
	free(err);
}

static void test_edited_or_missing_manifest_refused(void **state)
{
	struct fixture *f = *state;
	char *edited[] = {"--kernel", "bz", "--help"};
	write_manifest(f, f->cwd, edited, 3);
	struct call c;
	assert_int_equal(PARSE(&c.cfg, "--restore", f->dir), 0);
	char *err = capture_stderr(call_restore, &c);
	assert_int_equal(c.ret, IOVIRT_EXIT_ERROR);
	assert_int_equal(count_occurrences(err, "\n"), 1);
	assert_non_null(strstr(err, "--help"));
	free(err);
	assert_int_equal(PARSE(&c.cfg, "--restore", "/nonexistent/snapshot"), 0);
	err = capture_stderr(call_restore, &c);
	assert_int_equal(c.ret, IOVIRT_EXIT_ERROR);
	assert_int_equal(count_occurrences(err, "\n"), 1);
	assert_non_null(strstr(err, "/nonexistent/snapshot/manifest.json"));
	free(err);
}

/* Taken in /tmp with relative paths: restored from another directory, the
 * run goes to /tmp, with its own relative paths made absolute first. */
static void test_restored_where_the_snapshot_was_taken(void **state)
{
	struct fixture *f = *state;
	char real_tmp[PATH_MAX];
	assert_non_null(realpath("/tmp", real_tmp));
	write_manifest(f, real_tmp, saved, NSAVED);
	assert_int_equal(chdir("/"), 0);
	struct vm_config cfg;
	/* The snapshot directory relative to /: tmp/iovirt-run-restore-... */
	assert_int_equal(PARSE(&cfg, "--restore", f->dir + 1, "--api-socket", "run/x.sock"), 0);
	struct run_restore rr;
	assert_int_equal(run_restore_config(&cfg, &rr), 0);
	char here[PATH_MAX];
	assert_non_null(getcwd(here, sizeof(here)));
	assert_string_equal(here, real_tmp);
	assert_string_equal(cfg.api_socket, "/run/x.sock");
	assert_int_equal(cfg.restore[0], '/');
	run_restore_free(&rr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_machine_from_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_options_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_options_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edited_or_missing_manifest_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restored_where_the_snapshot_was_taken, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("run --restore", tests, NULL, NULL);
}
