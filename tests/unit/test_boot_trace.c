/* The boot trace: phases recorded once and in time order, the guest's
 * debug-port codes, the probe's hold, the printed table, and the debug
 * port device that feeds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/boot_trace.h"
#include "devices/debug_port.h"

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	(void)state;
	boot_trace_start();
	return 0;
}

static void test_phases_once_and_in_order(void **state)
{
	(void)state;
	boot_trace_mark(BOOT_PHASE_OPTIONS);
	pause_us(1000);
	boot_trace_mark(BOOT_PHASE_VM_CREATED);
	pause_us(1000);
	boot_trace_mark(BOOT_PHASE_VCPU_ENTRY);
	struct boot_trace_event ev[BOOT_TRACE_MAX];
	size_t n = boot_trace_events(ev, BOOT_TRACE_MAX);
	assert_int_equal(n, 3);
	double first_vm = ev[1].ms;
	/* A second mark keeps the first time. */
	pause_us(1000);
	boot_trace_mark(BOOT_PHASE_VM_CREATED);
	n = boot_trace_events(ev, BOOT_TRACE_MAX);
	assert_int_equal(n, 3);
	assert_string_equal(ev[0].name, "options");
	assert_string_equal(ev[1].name, "vm-created");
	assert_string_equal(ev[2].name, "vcpu-entry");
	assert_true(ev[1].ms == first_vm);
	assert_true(ev[0].ms <= ev[1].ms && ev[1].ms <= ev[2].ms);
	assert_true(ev[2].ms - ev[0].ms >= 1.9);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ev[i].code, -1);
	/* max bounds the copy. */
	assert_int_equal(boot_trace_events(ev, 2), 2);
	/* An out-of-range phase is ignored. */
	boot_trace_mark(BOOT_PHASE_COUNT);
	boot_trace_mark((enum boot_phase)-1);
	assert_int_equal(boot_trace_events(ev, BOOT_TRACE_MAX), 3);
}

/* Guest codes interleave with phases by time; only the first
 * BOOT_TRACE_CODES are kept, so a guest writing forever costs nothing. */
static void test_guest_codes_bounded(void **state)
{
	(void)state;
	boot_trace_mark(BOOT_PHASE_VCPU_ENTRY);
	pause_us(500);
	boot_trace_guest_code(0x40);
	pause_us(500);
	boot_trace_mark(BOOT_PHASE_GUEST_FIRST_IO); /* later than the code */
	for (int i = 0; i < 1000; i++)
		boot_trace_guest_code((uint8_t)i);
	struct boot_trace_event ev[BOOT_TRACE_MAX];
	size_t n = boot_trace_events(ev, BOOT_TRACE_MAX);
	assert_int_equal(n, 2 + BOOT_TRACE_CODES);
	assert_string_equal(ev[0].name, "vcpu-entry");
	assert_string_equal(ev[1].name, "guest-code");
	assert_int_equal(ev[1].code, 0x40);
	assert_string_equal(ev[2].name, "guest-first-io");
	for (size_t i = 1; i < n; i++)
		assert_true(ev[i - 1].ms <= ev[i].ms);
}

static void test_code_sources(void **state)
{
	(void)state;
	assert_string_equal(boot_trace_code_source(0x00), "firmware");
	assert_string_equal(boot_trace_code_source(0x1f), "firmware");
	assert_string_equal(boot_trace_code_source(0x20), "boot loader");
	assert_string_equal(boot_trace_code_source(0x40), "kernel");
	assert_string_equal(boot_trace_code_source(0x5f), "kernel");
	assert_string_equal(boot_trace_code_source(BOOT_CODE_USERSPACE), "user space");
	assert_string_equal(boot_trace_code_source(0x7f), "user space");
	assert_string_equal(boot_trace_code_source(0xff), "other");
}

/* The /dev/kvm probe's machine must not leave its phases in the run's
 * trace. */
static void test_hold(void **state)
{
	(void)state;
	boot_trace_hold(true);
	boot_trace_mark(BOOT_PHASE_VM_CREATED);
	boot_trace_guest_code(0x60);
	boot_trace_hold(false);
	struct boot_trace_event ev[BOOT_TRACE_MAX];
	assert_int_equal(boot_trace_events(ev, BOOT_TRACE_MAX), 0);
	boot_trace_mark(BOOT_PHASE_VM_CREATED);
	assert_int_equal(boot_trace_events(ev, BOOT_TRACE_MAX), 1);
}

/* One line per event: name, what it is, the time since start and since the
 * event before. */
static void test_print(void **state)
{
	(void)state;
	boot_trace_mark(BOOT_PHASE_KERNEL_LOADED);
	pause_us(2000);
	boot_trace_guest_code(0x60);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	boot_trace_print(f);
	fclose(f);
	char name[32], word[32];
	double at, took, at2, took2;
	assert_int_equal(sscanf(text, "boot-trace: %31s kernel in guest RAM at %lf ms +%lf ms",
				name, &at, &took), 3);
	assert_string_equal(name, "kernel-loaded");
	assert_true(at == took);
	const char *second = strchr(text, '\n');
	assert_non_null(second);
	assert_int_equal(sscanf(second + 1, "boot-trace: %31s user %31s at %lf ms +%lf ms", name,
				word, &at2, &took2), 4);
	assert_string_equal(name, "guest-0x60");
	assert_true(took2 >= 1.9 && at2 - at - took2 < 0.01);
	free(text);
}

static void test_debug_port_device(void **state)
{
	(void)state;
	struct debug_port *d = debug_port_create();
	assert_non_null(d);
	struct device *dev = debug_port_device(d);
	assert_string_equal(dev->ops->kind, "debug-port");
	uint8_t v = 0x42;
	debug_port_ops.write(d, 0, &v, 1);
	v = 0x99;
	debug_port_ops.write(d, 1, &v, 1); /* outside the one-byte port */
	debug_port_ops.write(d, 0, &v, 0);
	uint8_t r[2] = {0xff, 0xff};
	debug_port_ops.read(d, 0, r, 2);
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], 0);
	struct boot_trace_event ev[BOOT_TRACE_MAX];
	assert_int_equal(boot_trace_events(ev, BOOT_TRACE_MAX), 1);
	assert_int_equal(ev[0].code, 0x42);
	assert_int_equal(dev->counters.exits, 4);
	dev->ops->destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_phases_once_and_in_order, setup),
		cmocka_unit_test_setup(test_guest_codes_bounded, setup),
		cmocka_unit_test_setup(test_code_sources, setup),
		cmocka_unit_test_setup(test_hold, setup),
		cmocka_unit_test_setup(test_print, setup),
		cmocka_unit_test_setup(test_debug_port_device, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
