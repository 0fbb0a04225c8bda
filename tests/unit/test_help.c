/* `iovirt run --help` names every option run's parser takes, every kind of
 * the device table with the option that asks for it, and every sub-option
 * of each kind's key table, so the help cannot fall behind the parser or
 * the table again (merge= and reconnect= once went missing). */
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
#include "machine/device_table.h"

static char *run_help(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_run_usage(f);
	device_kinds_usage(f); /* what main prints after it */
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
	int n = 0;
	for (unsigned i = 0; i < device_nkinds; i++)
		if (device_kinds[i].keys) {
			expect_keys(help, device_kinds[i].option->name, device_kinds[i].keys);
			n++;
		}
	assert_true(n >= 7);
	free(help);
}

/* Each kind has its line: name, the option (and selector) that asks for
 * it, its summary; and the option is one run takes. */
static void test_every_device_kind_is_in_run_help(void **state)
{
	(void)state;
	char *help = run_help();
	for (unsigned i = 0; i < device_nkinds; i++) {
		const struct device_kind *k = &device_kinds[i];
		char line[160];
		snprintf(line, sizeof(line), "  %-15s ", k->name);
		const char *at = strstr(help, line);
		if (!at)
			fail_msg("iovirt run --help does not list the device kind %s", k->name);
		const char *eol = strchr(at, '\n');
		assert_non_null(eol);
		if (!memmem(at, (size_t)(eol - at), k->summary, strlen(k->summary)))
			fail_msg("the help line of %s lacks its summary", k->name);
		if (!k->option)
			continue;
		if (!memmem(at, (size_t)(eol - at), k->option->name, strlen(k->option->name)) ||
		    (k->selector && !memmem(at, (size_t)(eol - at), k->selector, strlen(k->selector))))
			fail_msg("the help line of %s does not say %s %s", k->name, k->option->name,
				 k->selector ? k->selector : "");
		bool taken = false;
		for (const struct option *o = config_run_options(); o->name; o++)
			taken |= !strcmp(o->name, k->option->name + 2);
		if (!taken)
			fail_msg("%s asks for %s, which run does not take", k->name, k->option->name);
	}
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

/* iovirt --help names the commands, the control plane's clients too. */
static void test_commands_in_help(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_usage(f);
	assert_int_equal(fclose(f), 0);
	static const char *const commands[] = {"run", "probe", "sriov", "ctl", "stat"};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char line[16];
		snprintf(line, sizeof(line), "\n  %s ", commands[i]);
		if (!strstr(text, line))
			fail_msg("iovirt --help does not list the command %s", commands[i]);
	}
	assert_non_null(strstr(text, "--api-socket"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_option_is_in_run_help),
		cmocka_unit_test(test_every_sub_option_is_in_run_help),
		cmocka_unit_test(test_every_device_kind_is_in_run_help),
		cmocka_unit_test(test_keys_outside_the_tables_are_refused),
		cmocka_unit_test(test_commands_in_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
