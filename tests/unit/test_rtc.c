/* MC146818 RTC model against a fake wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "devices/rtc.h"
#include "support/fake_irq.h"

#define NS 1000000000LL
/* 2026-11-22 13:45:59 UTC, a Sunday. */
#define T0 1795355159LL

struct ctx {
	struct fake_irq irq;
	int64_t now;
	struct rtc *r;
};

static int64_t fake_now(void *opaque)
{
	struct ctx *c = opaque;
	return c->now;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->now = T0 * NS + NS / 2; /* half-way through 13:45:59 */
	struct irq_line line = fake_irq_line(&c->irq, 8);
	struct rtc_clock clock = {.now_ns = fake_now, .opaque = c};
	c->r = rtc_create(line, &clock, NULL);
	assert_non_null(c->r);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	rtc_destroy(c->r);
	free(c);
	return 0;
}

static uint8_t rd(struct ctx *c, uint8_t index)
{
	uint8_t v = 0;
	rtc_ops.write(c->r, 0, &index, 1);
	rtc_ops.read(c->r, 1, &v, 1);
	return v;
}

static void wr(struct ctx *c, uint8_t index, uint8_t v)
{
	rtc_ops.write(c->r, 0, &index, 1);
	rtc_ops.write(c->r, 1, &v, 1);
}

static void advance(struct ctx *c, int64_t ns) { c->now += ns; }

static void test_bcd_and_binary(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(rd(c, 0x0b), 0x02); /* 24 h, BCD */
	assert_int_equal(rd(c, 0x00), 0x59);
	assert_int_equal(rd(c, 0x02), 0x45);
	assert_int_equal(rd(c, 0x04), 0x13);
	assert_int_equal(rd(c, 0x06), 0x01); /* Sunday */
	assert_int_equal(rd(c, 0x07), 0x22);
	assert_int_equal(rd(c, 0x08), 0x11);
	assert_int_equal(rd(c, 0x09), 0x26);
	assert_int_equal(rd(c, 0x32), 0x20);
	wr(c, 0x0b, 0x06); /* binary */
	assert_int_equal(rd(c, 0x00), 59);
	assert_int_equal(rd(c, 0x02), 45);
	assert_int_equal(rd(c, 0x04), 13);
	assert_int_equal(rd(c, 0x07), 22);
	assert_int_equal(rd(c, 0x08), 11);
	assert_int_equal(rd(c, 0x09), 26);
	assert_int_equal(rd(c, 0x32), 20);
	/* The index port's NMI bit is ignored. */
	assert_int_equal(rd(c, 0x80 | 0x04), 13);
	assert_int_equal(rd(c, 0x0d), 0x80);
}

static void test_12h_mode(void **state)
{
	struct ctx *c = *state;
	wr(c, 0x0b, 0x00); /* 12 h, BCD */
	assert_int_equal(rd(c, 0x04), 0x81); /* 1 PM */
	wr(c, 0x0b, 0x04); /* 12 h, binary */
	assert_int_equal(rd(c, 0x04), 0x81);
	/* Midnight is 12 AM, noon 12 PM. */
	advance(c, (10 * 3600 + 14 * 60) * NS + NS / 2 + NS / 4); /* 00:00:00.25 next day */
	assert_int_equal(rd(c, 0x04), 12);
	advance(c, 12 * 3600 * NS);
	assert_int_equal(rd(c, 0x04), 0x80 | 12);
}

static void test_guest_sets_time(void **state)
{
	struct ctx *c = *state;
	wr(c, 0x0b, 0x82); /* SET */
	advance(c, 5 * NS);
	assert_int_equal(rd(c, 0x00), 0x59); /* frozen */
	wr(c, 0x00, 0x05);
	wr(c, 0x02, 0x04);
	wr(c, 0x04, 0x03);
	wr(c, 0x07, 0x02);
	wr(c, 0x08, 0x01);
	wr(c, 0x09, 0x30);
	wr(c, 0x32, 0x20);
	assert_int_equal(rd(c, 0x00), 0x05);
	wr(c, 0x0b, 0x02); /* clear SET: 2030-01-02 03:04:05 from now */
	advance(c, 10 * NS);
	assert_int_equal(rd(c, 0x00), 0x15);
	assert_int_equal(rd(c, 0x02), 0x04);
	assert_int_equal(rd(c, 0x04), 0x03);
	assert_int_equal(rd(c, 0x07), 0x02);
	assert_int_equal(rd(c, 0x08), 0x01);
	assert_int_equal(rd(c, 0x09), 0x30);
	assert_int_equal(rd(c, 0x06), 0x04); /* a Wednesday */
	/* A write while running shifts just that field. */
	wr(c, 0x02, 0x10);
	assert_int_equal(rd(c, 0x02), 0x10);
	assert_int_equal(rd(c, 0x00), 0x15);
	/* 12 h PM written under SET is read back correctly. */
	wr(c, 0x0b, 0x80); /* SET, 12 h BCD */
	wr(c, 0x04, 0x92); /* 12 PM */
	wr(c, 0x0b, 0x00);
	assert_int_equal(rd(c, 0x04), 0x92);
	wr(c, 0x0b, 0x02);
	assert_int_equal(rd(c, 0x04), 0x12);
}

static void test_update_ended(void **state)
{
	struct ctx *c = *state;
	wr(c, 0x0a, 0x20); /* no periodic rate */
	rd(c, 0x0c);
	advance(c, NS);
	rtc_tick(c->r);
	assert_false(c->irq.level);
	assert_int_equal(rd(c, 0x0c), 0x10); /* UF, but UIE off: no IRQF */
	wr(c, 0x0b, 0x12);                   /* UIE */
	advance(c, NS / 4);                  /* .75: no boundary */
	rtc_tick(c->r);
	assert_false(c->irq.level);
	advance(c, NS / 2);                  /* 1.25: crossed */
	rtc_tick(c->r);
	assert_true(c->irq.level);
	assert_int_equal(c->irq.rises, 1);
	assert_int_equal(rd(c, 0x0c), 0x90);
	assert_false(c->irq.level);
	assert_int_equal(rd(c, 0x0c), 0x00);
	/* SET inhibits updates (and clears UIE). */
	wr(c, 0x0b, 0x92);
	assert_int_equal(rd(c, 0x0b), 0x82);
	advance(c, 3 * NS);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c), 0x00);
}

static void test_uip(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(rd(c, 0x0a), 0x26);
	advance(c, NS / 2 - 100000); /* 100 us before the update */
	assert_int_equal(rd(c, 0x0a), 0xa6);
	advance(c, 200000);
	assert_int_equal(rd(c, 0x0a), 0x26);
	wr(c, 0x0a, 0xff); /* UIP is read-only */
	wr(c, 0x0a, 0x26);
	assert_int_equal(rd(c, 0x0a), 0x26);
}

static void test_periodic(void **state)
{
	struct ctx *c = *state;
	wr(c, 0x0a, 0x2f); /* rate 15: 2 Hz, boundaries at .0 and .5 */
	rd(c, 0x0c);
	wr(c, 0x0b, 0x42); /* PIE */
	advance(c, NS / 2 - 1000);
	rtc_tick(c->r);
	assert_false(c->irq.level);
	advance(c, 2000);
	rtc_tick(c->r);
	assert_true(c->irq.level);
	assert_int_equal(rd(c, 0x0c), 0xd0); /* PF, and UF at the whole second */
	assert_false(c->irq.level);
	/* 1024 Hz: 976.5625 us. */
	wr(c, 0x0a, 0x26);
	rd(c, 0x0c);
	int rises = c->irq.rises;
	for (int i = 0; i < 10; i++) {
		advance(c, 976563);
		rtc_tick(c->r);
		assert_int_equal(rd(c, 0x0c), 0xc0);
	}
	assert_int_equal(c->irq.rises, rises + 10);
	/* Rate 0: no periodic flag. */
	wr(c, 0x0a, 0x20);
	rd(c, 0x0c);
	advance(c, 10 * NS / 1000);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c) & 0x40, 0);
}

static void test_alarm(void **state)
{
	struct ctx *c = *state;
	wr(c, 0x0a, 0x20);
	wr(c, 0x01, 0x30); /* 13:46:30 */
	wr(c, 0x03, 0x46);
	wr(c, 0x05, 0x13);
	rd(c, 0x0c);
	wr(c, 0x0b, 0x22); /* AIE */
	advance(c, 30 * NS); /* 13:46:29.5 */
	rtc_tick(c->r);
	assert_false(c->irq.level);
	assert_int_equal(rd(c, 0x0c) & 0x20, 0);
	advance(c, NS); /* 13:46:30.5 */
	rtc_tick(c->r);
	assert_true(c->irq.level);
	assert_int_equal(rd(c, 0x0c), 0xb0); /* IRQF | AF | UF */
	assert_false(c->irq.level);
	/* Don't care in all three: every second. */
	wr(c, 0x01, 0xc0);
	wr(c, 0x03, 0xff);
	wr(c, 0x05, 0xd5);
	advance(c, NS);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c), 0xb0);
	/* Hour and minute don't care, second 00: next at 13:47:00. */
	wr(c, 0x01, 0x00);
	advance(c, 28 * NS); /* 13:46:59.5 */
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c) & 0x20, 0);
	advance(c, NS);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c) & 0x20, 0x20);
	/* A long gap still finds a match. */
	wr(c, 0x01, 0x10);
	wr(c, 0x03, 0x20);
	wr(c, 0x05, 0x04);
	advance(c, 3 * 86400 * NS);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c) & 0x20, 0x20);
	/* An alarm that can never match (invalid BCD) never fires. */
	wr(c, 0x01, 0x7a);
	advance(c, 2 * 86400 * NS);
	rtc_tick(c->r);
	assert_int_equal(rd(c, 0x0c) & 0x20, 0);
}

static void test_nvram(void **state)
{
	struct ctx *c = *state;
	rtc_set_cmos(c->r, 0x34, 0x12);
	rtc_set_cmos(c->r, 0x7f, 0x34);
	rtc_set_cmos(c->r, 0x00, 0x55); /* clock register: refused */
	rtc_set_cmos(c->r, 0xff, 0x55);
	assert_int_equal(rd(c, 0x34), 0x12);
	assert_int_equal(rd(c, 0x7f), 0x34);
	assert_int_equal(rd(c, 0x00), 0x59);
	wr(c, 0x40, 0xab);
	assert_int_equal(rd(c, 0x40), 0xab);
	/* A 16-bit write sets index and data together. */
	uint8_t w[2] = {0x41, 0xcd};
	rtc_ops.write(c->r, 0, w, 2);
	assert_int_equal(rd(c, 0x41), 0xcd);
}

static void test_hostile(void **state)
{
	struct ctx *c = *state;
	uint8_t v;
	wr(c, 0x0b, 0x80);
	for (unsigned i = 0; i < 128; i++)
		wr(c, (uint8_t)i, 0xff);
	wr(c, 0x0b, 0x06);
	for (unsigned i = 0; i < 128; i++)
		wr(c, (uint8_t)i, 0xff);
	wr(c, 0x0b, 0x7e);
	for (int i = 0; i < 5; i++) {
		advance(c, 86400 * NS);
		rtc_tick(c->r);
		v = rd(c, 0x09);
	}
	c->now = 0; /* the host clock stepping back */
	rtc_tick(c->r);
	for (unsigned i = 0; i < 128; i++)
		v = rd(c, (uint8_t)i);
	c->now = INT64_MAX;
	rtc_tick(c->r);
	v = rd(c, 0x00);
	uint8_t big[8];
	memset(big, 0xee, sizeof(big));
	rtc_ops.read(c->r, 0, big, 8);
	assert_int_equal(big[0], 0xff);
	assert_int_equal(big[2], 0xff);
	rtc_ops.write(c->r, 1, big, 8);
	rtc_ops.write(c->r, UINT64_MAX, big, 8);
	rtc_ops.read(c->r, UINT64_MAX, big, 8);
	assert_int_equal(big[1], 0xff);
	(void)v;
}

/* With an event loop: the timerfd is registered and removed cleanly. */
static void test_with_loop(void **state)
{
	struct loop *loop = loop_create();
	assert_non_null(loop);
	struct fake_irq irq = {0};
	struct irq_line line = fake_irq_line(&irq, 8);
	struct rtc *r = rtc_create(line, NULL, loop);
	assert_non_null(r);
	uint8_t w[2] = {0x0b, 0x72}; /* all interrupts: arms the timer */
	rtc_ops.write(r, 0, w, 2);
	rtc_tick(r);
	rtc_destroy(r);
	loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_and_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12h_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sets_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_ended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test(test_with_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
