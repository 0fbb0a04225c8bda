/* `iovirt run --help` names every option run's parser takes and every
 * sub-option of --disk, --net, --console and --device, so the help cannot
 * fall behind the parser again (merge= and reconnect= once went missing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "machine/config.h"
#include "machine/config_devices.h"

static char *run_help(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_run_usage(f);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 0);
	return text;
}

/* Does text hold word, with a boundary before it (start, space, '[', ',',
 * '|') and after it one of the characters in after? */
static bool has_word(const char *text, const char *word, const char *after)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		bool start = p == text || strchr(" [,|\n", p[-1]);
		if (start && p[n] && strchr(after, p[n]))
			return true;
	}
	return false;
}

static void test_every_option_is_in_run_help(void **state)
{
	(void)state;
	char *help = run_help();
	int n = 0;
	for (const struct option *o = config_run_options(); o->name; o++, n++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", o->name);
		if (!has_word(help, flag, o->has_arg == no_argument ? " \n]" : " ="))
			fail_msg("iovirt run --help does not describe %s", flag);
	}
	assert_true(n >= 15);
	free(help);
}

static void expect_keys(const char *help, const char *opt, const struct config_key *keys)
{
	int n = 0;
	for (const struct config_key *k = keys; k->key; k++, n++) {
		char want[64];
		/* A key with a value shows as key=VALUE; a flag as [,key] or "opt key". */
		snprintf(want, sizeof(want), "%s%s", k->key, k->value ? "=" : "");
		if (!has_word(help, want, k->value ? k->value : "] ,[\n"))
			fail_msg("iovirt run --help does not describe %s %s%s", opt, want,
				 k->value ? k->value : "");
	}
	assert_true(n > 0);
}

static void test_every_sub_option_is_in_run_help(void **state)
{
	(void)state;
	char *help = run_help();
	expect_keys(help, "--disk", config_disk_keys);
	expect_keys(help, "--disk", config_vhost_user_disk_keys);
	expect_keys(help, "--net", config_nic_keys);
	expect_keys(help, "--console", config_console_keys);
	expect_keys(help, "--device", config_device_keys);
	free(help);
}

/* The tables are what the parsers accept: a key from outside a table is
 * refused, so a parser cannot take a key the help does not name. */
static void test_keys_outside_the_tables_are_refused(void **state)
{
	(void)state;
	struct disk_config d;
	struct nic_config nic;
	struct console_config c;
	struct vfio_config v;
	assert_int_equal(config_parse_disk("d.img,merge=off", &d), 0);
	assert_true(config_parse_disk("d.img,bogus=1", &d) < 0);
	assert_true(config_parse_disk("d.img,readonly=yes", &d) < 0); /* a flag */
	assert_true(config_parse_disk("d.img,serial", &d) < 0);       /* wants a value */
	assert_int_equal(config_parse_disk("vhost-user=/tmp/s,reconnect=5", &d), 0);
	assert_true(config_parse_nic("user,bogus=1", &nic) < 0);
	assert_true(config_parse_console("virtio,bogus=1", &c) < 0);
	assert_true(config_parse_device("vfio=00:01.0,bogus=1", &v) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_option_is_in_run_help),
		cmocka_unit_test(test_every_sub_option_is_in_run_help),
		cmocka_unit_test(test_keys_outside_the_tables_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
