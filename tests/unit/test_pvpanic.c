/* pvpanic ISA device: supported-events read and the panic callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pvpanic.h"

struct panics {
	int calls;
	uint8_t last;
};

static void on_panic(void *opaque, uint8_t event)
{
	struct panics *p = opaque;
	p->calls++;
	p->last = event;
}

static void test_read_supported(void **state)
{
	struct pvpanic *pv = pvpanic_create(on_panic, NULL);
	assert_non_null(pv);
	uint8_t v = 0;
	pvpanic_ops.read(pv, 0, &v, 1);
	assert_int_equal(v, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	uint8_t wide[4] = {0};
	pvpanic_ops.read(pv, 0, wide, 4);
	assert_int_equal(wide[0], 0x03);
	assert_int_equal(wide[1], 0xff);
	pvpanic_destroy(pv);
}

static void test_panic_callback(void **state)
{
	struct panics p = {0};
	struct pvpanic *pv = pvpanic_create(on_panic, &p);
	assert_non_null(pv);
	uint8_t v = PVPANIC_CRASH_LOADED; /* kdump takes over: no callback */
	pvpanic_ops.write(pv, 0, &v, 1);
	assert_int_equal(p.calls, 0);
	v = 0;
	pvpanic_ops.write(pv, 0, &v, 1);
	assert_int_equal(p.calls, 0);
	v = 0xff; /* unsupported bits are masked off */
	pvpanic_ops.write(pv, 0, &v, 1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.last, 0x03);
	v = PVPANIC_PANICKED;
	pvpanic_ops.write(pv, 0, &v, 1);
	assert_int_equal(p.calls, 2);
	assert_int_equal(p.last, PVPANIC_PANICKED);
	/* Hostile widths and offsets. */
	uint8_t wide[8];
	memset(wide, 0x01, sizeof(wide));
	pvpanic_ops.write(pv, 5, wide, 8);
	pvpanic_ops.write(pv, 0, wide, 0);
	assert_int_equal(p.calls, 2);
	pvpanic_ops.write(pv, 0, wide, 8);
	assert_int_equal(p.calls, 3);
	pvpanic_destroy(pv);
}

static void test_no_callback(void **state)
{
	struct pvpanic *pv = pvpanic_create(NULL, NULL);
	assert_non_null(pv);
	uint8_t v = PVPANIC_PANICKED;
	pvpanic_ops.write(pv, 0, &v, 1);
	pvpanic_destroy(pv);
	pvpanic_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_supported),
		cmocka_unit_test(test_panic_callback),
		cmocka_unit_test(test_no_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
