/* `iovirt run` option parsing: sizes with every suffix, defaults, usage
 * errors (2) versus bad values (1), and a full command line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "machine/config.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

static void expect_size(const char *s, uint64_t want)
{
	uint64_t got = 0xdeadbeef;
	int ret = config_parse_size(s, &got);
	if (ret != 0)
		fail_msg("config_parse_size(\"%s\") = %d", s, ret);
	assert_int_equal(got, want);
}

static void expect_bad_size(const char *s)
{
	uint64_t got = 0xdeadbeef;
	int ret = config_parse_size(s, &got);
	if (ret != -EINVAL)
		fail_msg("config_parse_size(\"%s\") = %d, want -EINVAL", s ? s : "(null)", ret);
	assert_int_equal(got, 0xdeadbeef); /* untouched on error */
}

static void test_size_suffixes(void **state)
{
	expect_size("512M", 512 * MiB);
	expect_size("512m", 512 * MiB);
	expect_size("2G", 2 * GiB);
	expect_size("2g", 2 * GiB);
	expect_size("1024", 1024 * MiB); /* bare number: MiB */
	expect_size("0", 0);
	expect_size("65536K", 64 * MiB);
	expect_size("65536k", 64 * MiB);
	expect_size("1T", TiB);
	expect_size("512MiB", 512 * MiB);
	expect_size("512mib", 512 * MiB);
	expect_size("512MB", 512 * MiB);
	expect_size("4GiB", 4 * GiB);
	expect_size("64KiB", 64 * KiB);
	expect_size("4096B", 4096);
	expect_size("4096b", 4096);
	expect_size("007M", 7 * MiB);
}

static void test_size_bad(void **state)
{
	expect_bad_size(NULL);
	expect_bad_size("");
	expect_bad_size("M");
	expect_bad_size("-1");
	expect_bad_size("+1");
	expect_bad_size(" 12");
	expect_bad_size("12X");
	expect_bad_size("12 M");
	expect_bad_size("12M ");
	expect_bad_size("12MiBs");
	expect_bad_size("12Mb2");
	expect_bad_size("12iB");
	expect_bad_size("12BB");
	expect_bad_size("12BiB");
	expect_bad_size("1.5G");
	expect_bad_size("0x10");
	expect_bad_size("99999999999999999999G"); /* strtoull overflows */
	expect_bad_size("99999999999999999999");
}

static void test_size_shift_overflow(void **state)
{
	/* The largest value each suffix can shift without losing bits. */
	expect_size("17179869183G", (UINT64_MAX >> 30) << 30);
	expect_bad_size("17179869184G");
	expect_size("16777215T", (UINT64_MAX >> 40) << 40);
	expect_bad_size("16777216T");
	expect_size("17592186044415", (UINT64_MAX >> 20) << 20);
	expect_bad_size("17592186044416");
	expect_size("18446744073709551615B", UINT64_MAX);
}

/* Runs config_parse_run on a NULL-terminated list after "run". */
#define PARSE(cfg, ...)                                                        \
	({                                                                     \
		char *argv_[] = {"run", __VA_ARGS__, NULL};                    \
		config_parse_run((int)(sizeof(argv_) / sizeof(argv_[0])) - 1,  \
				 argv_, (cfg));                                \
	})

static void test_run_defaults(void **state)
{
	struct vm_config cfg;
	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(PARSE(&cfg, "--kernel", "/boot/vmlinuz"), 0);
	assert_string_equal(cfg.kernel, "/boot/vmlinuz");
	assert_null(cfg.initrd);
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	assert_int_equal(cfg.memory, 512 * MiB);
	assert_int_equal(cfg.cpus, 1);
	assert_false(cfg.hugepages);
	assert_false(cfg.reboot);
	assert_false(cfg.verbose);
	assert_null(cfg.api_socket);
	assert_int_equal(cfg.console_in_fd, STDIN_FILENO);
	assert_int_equal(cfg.console_out_fd, STDOUT_FILENO);
	assert_false(cfg.decompress_in_guest);
	assert_false(cfg.boot_trace);
	assert_false(cfg.i8042); /* direct boot: no keyboard controller to probe */
}

/* The boot options: --kernel-decompress, --i8042 (machine options, kept for
 * a snapshot) and --boot-trace (the process's, not kept). */
static void test_run_boot_options(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--kernel-decompress", "guest", "--i8042",
			       "off", "--boot-trace"), 0);
	assert_true(cfg.decompress_in_guest);
	assert_false(cfg.i8042);
	assert_true(cfg.boot_trace);
	const char *want[] = {"--kernel", "k", "--kernel-decompress", "guest", "--i8042", "off"};
	assert_int_equal(cfg.nargs, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < cfg.nargs; i++)
		assert_string_equal(cfg.args[i], want[i]);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--kernel-decompress=host", "--i8042=on"), 0);
	assert_false(cfg.decompress_in_guest);
	assert_true(cfg.i8042);
	/* A firmware gets the PC's keyboard controller unless told otherwise. */
	assert_int_equal(PARSE(&cfg, "--firmware", "bios", "--disk", "a.img"), 0);
	assert_true(cfg.i8042);
	assert_int_equal(PARSE(&cfg, "--firmware", "bios", "--disk", "a.img", "--i8042", "off"), 0);
	assert_false(cfg.i8042);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--kernel-decompress", "qemu"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--i8042", "yes"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--i8042"), 2);
}

static void test_run_full(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--kernel", "bzImage", "--initrd", "initrd.img",
			       "--cmdline", "console=ttyS0 root=/dev/vda quiet",
			       "--memory", "2G", "--cpus", "4", "--hugepages", "--reboot",
			       "--verbose"), 0);
	assert_string_equal(cfg.kernel, "bzImage");
	assert_string_equal(cfg.initrd, "initrd.img");
	assert_string_equal(cfg.cmdline, "console=ttyS0 root=/dev/vda quiet");
	assert_int_equal(cfg.memory, 2 * GiB);
	assert_int_equal(cfg.cpus, 4);
	assert_true(cfg.hugepages);
	assert_true(cfg.reboot);
	assert_true(cfg.verbose);

	/* "--opt=value" works too, and a later option wins. */
	assert_int_equal(PARSE(&cfg, "--memory=1024", "--kernel=a", "--kernel=b",
			       "--cpus=64"), 0);
	assert_string_equal(cfg.kernel, "b");
	assert_int_equal(cfg.memory, 1024 * MiB);
	assert_int_equal(cfg.cpus, 64);
	assert_false(cfg.verbose); /* nothing carried over from the last parse */
}

static void test_run_cpus(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "0"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "65"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "abc"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "4x"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", ""), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "-1"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "99999999999999999999"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--cpus", "1"), 0);
	assert_int_equal(cfg.cpus, 1);
}

static void test_run_usage_errors(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--memory", "1G"), 2);      /* no --kernel */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--bogus"), 2);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "-z"), 2);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "stray"), 2);
	assert_int_equal(PARSE(&cfg, "--kernel"), 2);            /* missing value */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--reboot=yes"), 2);
	/* And a good parse right after the errors still works. */
	assert_int_equal(PARSE(&cfg, "--kernel", "k"), 0);
	assert_string_equal(cfg.kernel, "k");
}

/* --help prints the usage and returns (the caller exits 0): the parser
 * itself never exits, so the fuzzer can feed it any option. */
static void test_run_help(void **state)
{
	struct vm_config cfg;
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_non_null(freopen("/dev/null", "w", stdout));
	int help = PARSE(&cfg, "--help");
	int help_first = PARSE(&cfg, "--kernel", "k", "--hel", "--bogus");
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(help, CONFIG_HELP);
	assert_int_equal(help_first, CONFIG_HELP);  /* abbreviated; wins over what follows */
}

/* --api-socket takes a path that fits a UNIX socket address (107 bytes
 * and its NUL); anything longer or empty is a bad value (1). */
static void test_run_api_socket(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--api-socket", "/run/iovirt/vm1.sock"), 0);
	assert_string_equal(cfg.api_socket, "/run/iovirt/vm1.sock");
	char longest[108], too_long[109];
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--api-socket", longest), 0);
	assert_int_equal(strlen(cfg.api_socket), 107);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--api-socket", too_long), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--api-socket", ""), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--api-socket"), 2); /* no value */
	assert_int_equal(PARSE(&cfg, "--kernel", "k"), 0);
	assert_null(cfg.api_socket); /* nothing carried over */
}

static void test_run_memory(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "16M"), 1);   /* too small */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "31M"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "0"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "1025K"), 1); /* not whole MiB */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "32769K"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "1025G"), 1); /* too big */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "lots"), 1);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "32M"), 0);
	assert_int_equal(cfg.memory, CONFIG_MIN_MEMORY);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "1T"), 0);
	assert_int_equal(cfg.memory, CONFIG_MAX_MEMORY);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--memory", "65536K"), 0);
	assert_int_equal(cfg.memory, 64 * MiB);
}

/* The machine's options are recorded word for word for a snapshot's
 * manifest; the process's own (--api-socket, --verbose, --counters,
 * --seccomp, --user, --restore, --paused) are not. */
static void test_run_records_machine_args(void **state)
{
	struct vm_config cfg;
	assert_int_equal(PARSE(&cfg, "--verbose", "--kernel", "k", "--memory=512M", "--api-socket",
			       "/s", "--disk", "a.img,if=nvme", "--counters", "--cpus", "2",
			       "--seccomp", "off", "--rng"), 0);
	const char *want[] = {"--kernel", "k", "--memory=512M", "--disk", "a.img,if=nvme",
			      "--cpus", "2", "--rng"};
	assert_int_equal(cfg.nargs, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < cfg.nargs; i++)
		assert_string_equal(cfg.args[i], want[i]);
}

static void test_run_restore_and_paused(void **state)
{
	struct vm_config cfg;
	/* --restore stands in for --kernel; memory= picks the way RAM comes back. */
	assert_int_equal(PARSE(&cfg, "--restore", "/snap/a"), 0);
	assert_string_equal(cfg.restore, "/snap/a");
	assert_false(cfg.restore_map);
	assert_int_equal(cfg.nargs, 0);
	assert_int_equal(PARSE(&cfg, "--restore", "/snap/a,memory=map"), 0);
	assert_string_equal(cfg.restore, "/snap/a");
	assert_true(cfg.restore_map);
	assert_int_equal(PARSE(&cfg, "--restore", "/snap/a,b,memory=read"), 0);
	assert_string_equal(cfg.restore, "/snap/a,b"); /* only the last key is ours */
	assert_false(cfg.restore_map);
	assert_int_equal(PARSE(&cfg, "--restore", "/snap/a,memory=mmap"), 1);
	assert_int_equal(PARSE(&cfg, "--restore", ",memory=map"), 1);
	assert_int_equal(PARSE(&cfg, "--restore", ""), 1);
	assert_int_equal(PARSE(&cfg, "--rng"), 2); /* neither --kernel nor --restore */
	/* --paused needs the API that resumes it. */
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--paused"), 2);
	assert_int_equal(PARSE(&cfg, "--kernel", "k", "--paused", "--api-socket", "/s"), 0);
	assert_true(cfg.paused);
	assert_int_equal(cfg.nargs, 2); /* --kernel k */
	assert_int_equal(PARSE(&cfg, "--kernel", "k"), 0);
	assert_false(cfg.paused);
	assert_null(cfg.restore);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_bad),
		cmocka_unit_test(test_size_shift_overflow),
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_run_full),
		cmocka_unit_test(test_run_boot_options),
		cmocka_unit_test(test_run_cpus),
		cmocka_unit_test(test_run_usage_errors),
		cmocka_unit_test(test_run_memory),
		cmocka_unit_test(test_run_api_socket),
		cmocka_unit_test(test_run_records_machine_args),
		cmocka_unit_test(test_run_restore_and_paused),
		cmocka_unit_test(test_run_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
