/* The guest-error log: a guest that repeats an error cannot flood the host's
 * log. LOG_GUEST_BURST lines per call site and device per window, then a
 * count of what was suppressed; devices are limited apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "support/capture.h"

static unsigned long long fake_now;
static unsigned long long fake_clock(void) { return fake_now; }

/* One call site, as a device's error path is. */
static void bad_doorbell(const char *dev, unsigned v)
{
	log_guest_error(dev, "invalid doorbell %u", v);
}

static void flood_one_device(void *arg)
{
	fake_now = 1000;
	for (unsigned i = 0; i < 1000; i++)
		bad_doorbell("nvme0", i);
	/* After the window: one more line, saying how many were held back. */
	fake_now += LOG_GUEST_WINDOW_MS;
	bad_doorbell("nvme0", 5000);
}

static void test_flood_is_limited(void **state)
{
	(void)state;
	log_set_clock(fake_clock);
	char *out = capture_stderr(flood_one_device, NULL);
	assert_int_equal(count_occurrences(out, "guest error: nvme0: invalid doorbell"), LOG_GUEST_BURST + 1);
	assert_int_equal(count_occurrences(out, "more like it suppressed for"), 1);
	char want[96];
	snprintf(want, sizeof(want), "invalid doorbell 5000 (%d more like it suppressed)",
		 1000 - LOG_GUEST_BURST);
	assert_non_null(strstr(out, want));
	free(out);
	log_set_clock(NULL);
}

static void flood_two_devices(void *arg)
{
	fake_now = 1000000;
	for (unsigned i = 0; i < 100; i++) {
		bad_doorbell("nvme-a", i);
		bad_doorbell("nvme-b", i);
	}
}

/* One noisy device does not silence another's first errors. */
static void test_devices_are_limited_apart(void **state)
{
	(void)state;
	log_set_clock(fake_clock);
	char *out = capture_stderr(flood_two_devices, NULL);
	assert_int_equal(count_occurrences(out, "guest error: nvme-a:"), LOG_GUEST_BURST);
	assert_int_equal(count_occurrences(out, "guest error: nvme-b:"), LOG_GUEST_BURST);
	free(out);
	log_set_clock(NULL);
}

static void many_devices(void *arg)
{
	fake_now = 5000000;
	char name[16];
	for (unsigned d = 0; d < 100; d++)
		for (unsigned i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "dev%u", d);
			bad_doorbell(name, i);
		}
}

/* More devices than slots share the last one: still bounded. */
static void test_many_devices_stay_bounded(void **state)
{
	(void)state;
	log_set_clock(fake_clock);
	char *out = capture_stderr(many_devices, NULL);
	int lines = count_occurrences(out, "guest error:");
	assert_true(lines <= LOG_GUEST_DEVS * LOG_GUEST_BURST);
	assert_true(lines >= LOG_GUEST_BURST);
	free(out);
	log_set_clock(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_is_limited),
		cmocka_unit_test(test_devices_are_limited_apart),
		cmocka_unit_test(test_many_devices_stay_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
