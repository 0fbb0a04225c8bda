/* i8042 model: what Linux's i8042 probe and reboot path do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/i8042.h"
#include "support/fake_irq.h"

struct ctx {
	struct fake_irq kbd, aux;
	int resets, offs;
	struct i8042 *k;
};

static void fake_power(void *opaque, enum power_request req)
{
	struct ctx *c = opaque;
	if (req == POWER_RESET)
		c->resets++;
	else
		c->offs++;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct irq_line kl = fake_irq_line(&c->kbd, 1);
	struct irq_line al = fake_irq_line(&c->aux, 12);
	struct power_ctl pc = {.request = fake_power, .opaque = c};
	c->k = i8042_create(kl, al, pc);
	assert_non_null(c->k);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	i8042_destroy(c->k);
	free(c);
	return 0;
}

static uint8_t status(struct ctx *c)
{
	uint8_t v = 0;
	i8042_command_ops.read(c->k, 0, &v, 1);
	return v;
}

static uint8_t data(struct ctx *c)
{
	uint8_t v = 0;
	i8042_data_ops.read(c->k, 0, &v, 1);
	return v;
}

static void cmd(struct ctx *c, uint8_t v) { i8042_command_ops.write(c->k, 0, &v, 1); }
static void dat(struct ctx *c, uint8_t v) { i8042_data_ops.write(c->k, 0, &v, 1); }

/* Polls like Linux: OBF must be set, returns the byte. */
static uint8_t expect_byte(struct ctx *c, bool aux)
{
	uint8_t st = status(c);
	assert_true(st & 0x01);
	assert_int_equal(!!(st & 0x20), aux);
	return data(c);
}

static void test_empty_status(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(status(c) & 0x21, 0);
	assert_false(c->kbd.level);
	assert_false(c->aux.level);
}

static void test_self_test_and_interface_tests(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0xaa);
	assert_int_equal(expect_byte(c, false), 0x55);
	assert_true(status(c) & 0x04); /* SYS */
	assert_true(status(c) & 0x08); /* last write was a command */
	cmd(c, 0xab);
	assert_int_equal(expect_byte(c, false), 0x00);
	cmd(c, 0xa9);
	assert_int_equal(expect_byte(c, false), 0x00);
	assert_int_equal(status(c) & 0x01, 0);
}

static void test_command_byte(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0x20);
	uint8_t cb = expect_byte(c, false);
	assert_int_equal(cb & 0x03, 0x03);
	cmd(c, 0x60);
	dat(c, 0x00); /* no interrupts, no translation */
	assert_int_equal(status(c) & 0x08, 0);
	cmd(c, 0x20);
	assert_false(c->kbd.level); /* interrupts off */
	assert_int_equal(expect_byte(c, false), 0x00);
	cmd(c, 0xad);
	cmd(c, 0xa7);
	cmd(c, 0x20);
	assert_int_equal(expect_byte(c, false), 0x30);
	cmd(c, 0xae);
	cmd(c, 0xa8);
	cmd(c, 0x20);
	assert_int_equal(expect_byte(c, false), 0x00);
}

static void test_irq_per_enable_bits(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0x60);
	dat(c, 0x03);
	cmd(c, 0xd2);
	dat(c, 0x11); /* kbd output buffer → IRQ 1 */
	assert_true(c->kbd.level);
	assert_false(c->aux.level);
	assert_int_equal(expect_byte(c, false), 0x11);
	assert_false(c->kbd.level);
	cmd(c, 0xd3);
	dat(c, 0x5a); /* aux loop (Linux's AUX probe) → IRQ 12 */
	assert_true(c->aux.level);
	assert_false(c->kbd.level);
	assert_int_equal(expect_byte(c, true), 0x5a);
	assert_false(c->aux.level);
	cmd(c, 0x60);
	dat(c, 0x01); /* aux interrupt off */
	cmd(c, 0xd3);
	dat(c, 0xa5);
	assert_false(c->aux.level);
	assert_int_equal(expect_byte(c, true), 0xa5);
}

/* Linux takes one byte per interrupt and the ISA lines are edge triggered:
 * a reply of several bytes (GET ID: ACK, 0xab, 0x41) needs an edge for
 * each, or atkbd's probe times out waiting for the ID. */
static void test_edge_per_queued_byte(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0x60);
	dat(c, 0x41); /* kbd interrupt, translation */
	int rises = c->kbd.rises;
	dat(c, 0xf2); /* keyboard: read ID */
	assert_true(c->kbd.level);
	assert_int_equal(expect_byte(c, false), 0xfa);
	assert_true(c->kbd.level);
	assert_int_equal(expect_byte(c, false), 0xab);
	assert_true(c->kbd.level);
	assert_int_equal(expect_byte(c, false), 0x41);
	assert_false(c->kbd.level);
	assert_int_equal(c->kbd.rises - rises, 3);
}

static void test_keyboard_commands(void **state)
{
	struct ctx *c = *state;
	dat(c, 0xff);
	assert_int_equal(expect_byte(c, false), 0xfa);
	assert_int_equal(expect_byte(c, false), 0xaa);
	dat(c, 0xf2);
	assert_int_equal(expect_byte(c, false), 0xfa);
	assert_int_equal(expect_byte(c, false), 0xab);
	assert_int_equal(expect_byte(c, false), 0x41); /* translated */
	dat(c, 0xed);
	assert_int_equal(expect_byte(c, false), 0xfa);
	dat(c, 0x07);
	assert_int_equal(expect_byte(c, false), 0xfa);
	dat(c, 0xee);
	assert_int_equal(expect_byte(c, false), 0xee);
	dat(c, 0x12);
	assert_int_equal(expect_byte(c, false), 0xfe);
}

static void test_mouse_commands(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0xd4);
	dat(c, 0xff);
	assert_int_equal(expect_byte(c, true), 0xfa);
	assert_int_equal(expect_byte(c, true), 0xaa);
	assert_int_equal(expect_byte(c, true), 0x00);
	cmd(c, 0xd4);
	dat(c, 0xf3);
	assert_int_equal(expect_byte(c, true), 0xfa);
	cmd(c, 0xd4);
	dat(c, 200);
	assert_int_equal(expect_byte(c, true), 0xfa);
	cmd(c, 0xd4);
	dat(c, 0xf2);
	assert_int_equal(expect_byte(c, true), 0xfa);
	assert_int_equal(expect_byte(c, true), 0x00);
	cmd(c, 0xd4);
	dat(c, 0xe9);
	assert_int_equal(expect_byte(c, true), 0xfa);
	expect_byte(c, true);
	expect_byte(c, true);
	assert_int_equal(expect_byte(c, true), 200);
}

static void test_reset_pulse(void **state)
{
	struct ctx *c = *state;
	cmd(c, 0xfe);
	assert_int_equal(c->resets, 1);
	cmd(c, 0xff); /* pulses nothing */
	assert_int_equal(c->resets, 1);
	cmd(c, 0xd0);
	assert_int_equal(expect_byte(c, false) & 0x03, 0x03);
	cmd(c, 0xd1);
	dat(c, 0x03); /* reset line stays high */
	assert_int_equal(c->resets, 1);
	cmd(c, 0xd1);
	dat(c, 0x02); /* bit 0 low: CPU reset */
	assert_int_equal(c->resets, 2);
	assert_int_equal(c->offs, 0);
}

static void test_queue_bounded_and_hostile(void **state)
{
	struct ctx *c = *state;
	for (int i = 0; i < 100; i++)
		cmd(c, 0xaa);
	int n = 0;
	while (status(c) & 0x01) {
		assert_int_equal(data(c), 0x55);
		n++;
		assert_true(n <= 100);
	}
	assert_true(n > 0);
	/* Reading an empty buffer is harmless. */
	data(c);
	uint8_t big[8];
	memset(big, 0xab, sizeof(big));
	i8042_data_ops.read(c->k, 0, big, 8);
	assert_int_equal(big[7], 0xff);
	i8042_command_ops.write(c->k, 3, big, 8);
	i8042_data_ops.write(c->k, 0, big, 0);
	for (unsigned v = 0; v < 256; v++) {
		if (v >= 0xf0 || v == 0xd1)
			continue;
		cmd(c, (uint8_t)v);
		dat(c, 0x42);
	}
	assert_int_equal(c->resets, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_test_and_interface_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_per_enable_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_per_queued_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_bounded_and_hostile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
