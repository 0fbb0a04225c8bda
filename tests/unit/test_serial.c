/* 16550A UART model: register semantics the Linux 8250 driver relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/serial.h"
#include "support/fake_irq.h"

struct ctx {
	struct fake_irq irq;
	struct serial *s;
	uint8_t out[256];
	size_t out_len;
	int drained;
};

static void on_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct ctx *c = opaque;
	for (size_t i = 0; i < len && c->out_len < sizeof(c->out); i++)
		c->out[c->out_len++] = buf[i];
}

static void on_drained(void *opaque)
{
	struct ctx *c = opaque;
	c->drained++;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct irq_line line = fake_irq_line(&c->irq, 4);
	c->s = serial_create(line, on_output, on_drained, c);
	assert_non_null(c->s);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	serial_destroy(c->s);
	free(c);
	return 0;
}

static uint8_t rd(struct ctx *c, unsigned reg)
{
	uint8_t v = 0;
	serial_ops.read(c->s, reg, &v, 1);
	return v;
}

static void wr(struct ctx *c, unsigned reg, uint8_t v)
{
	serial_ops.write(c->s, reg, &v, 1);
}

enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static void test_reset_values(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(rd(c, IER), 0);
	assert_int_equal(rd(c, IIR), 0x01);
	assert_int_equal(rd(c, LCR), 0);
	assert_int_equal(rd(c, MCR), 0);
	assert_int_equal(rd(c, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(c, MSR), 0xb0); /* CTS | DSR | DCD, no deltas */
	assert_false(c->irq.level);
}

static void test_dlab_divisor_and_scratch(void **state)
{
	struct ctx *c = *state;
	wr(c, IER, 0x05);
	wr(c, LCR, 0x83);
	wr(c, 0, 0x01); /* DLL */
	wr(c, 1, 0x02); /* DLM */
	assert_int_equal(rd(c, 0), 0x01);
	assert_int_equal(rd(c, 1), 0x02);
	wr(c, LCR, 0x03);
	assert_int_equal(rd(c, LCR), 0x03);
	assert_int_equal(rd(c, IER), 0x05); /* IER untouched by DLM writes */
	assert_int_equal(c->out_len, 0);    /* DLL write did not transmit */
	/* Only IER bits 0-3 exist (Linux's probe checks this). */
	wr(c, IER, 0xff);
	assert_int_equal(rd(c, IER), 0x0f);
	wr(c, SCR, 0x5a);
	assert_int_equal(rd(c, SCR), 0x5a);
}

static void test_transmit_and_lsr(void **state)
{
	struct ctx *c = *state;
	wr(c, RBR, 'h');
	wr(c, RBR, 'i');
	assert_int_equal(c->out_len, 2);
	assert_memory_equal(c->out, "hi", 2);
	assert_int_equal(rd(c, LSR) & 0x61, 0x60); /* THRE, TEMT, no DR */
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"x", 1), 1);
	assert_int_equal(rd(c, LSR) & 0x61, 0x61);
	assert_int_equal(rd(c, RBR), 'x');
	assert_int_equal(rd(c, LSR) & 0x01, 0);
}

static void test_iir_priorities(void **state)
{
	struct ctx *c = *state;
	wr(c, MCR, 0x08); /* OUT2 */
	wr(c, FCR, 0x01);
	wr(c, IER, 0x0f);
	/* THRE pending since ETBEI was enabled with THR empty. */
	assert_true(c->irq.level);
	/* Overrun + data: line status wins, then data, then THRE. */
	wr(c, MCR, 0x18); /* loopback to produce an overrun */
	for (int i = 0; i < 17; i++)
		wr(c, RBR, 'a');
	wr(c, MCR, 0x08);
	assert_int_equal(rd(c, IIR), 0xc6);
	assert_int_equal(rd(c, LSR) & 0x03, 0x03); /* OE + DR; reading clears OE */
	assert_int_equal(rd(c, IIR), 0xc4);
	for (int i = 0; i < 16; i++)
		rd(c, RBR);
	/* THR was written (loopback) so THRE is pending again. */
	assert_int_equal(rd(c, IIR), 0xc2);
	/* Reading IIR with THRE as the source cleared it; MSR deltas from the
	 * loopback toggling remain. */
	assert_int_equal(rd(c, IIR), 0xc0);
	rd(c, MSR);
	assert_int_equal(rd(c, IIR), 0xc1);
	assert_false(c->irq.level);
}

static void test_thre_clear_on_iir_and_rearm_on_write(void **state)
{
	struct ctx *c = *state;
	wr(c, MCR, 0x08);
	wr(c, IER, 0x02);
	assert_true(c->irq.level);
	assert_int_equal(rd(c, IIR), 0x02);
	assert_false(c->irq.level);
	assert_int_equal(rd(c, IIR), 0x01);
	int rises = c->irq.rises;
	wr(c, RBR, 'z'); /* THR write: cleared, sent, empty again → new edge */
	assert_true(c->irq.level);
	assert_int_equal(c->irq.rises, rises + 1);
	/* Disabling ETBEI drops it; re-enabling raises it again. */
	wr(c, IER, 0x00);
	assert_false(c->irq.level);
	wr(c, IER, 0x02);
	assert_true(c->irq.level);
}

static void test_fifo_fill_and_overrun(void **state)
{
	struct ctx *c = *state;
	wr(c, FCR, 0x07);
	assert_int_equal(rd(c, IIR) & 0xc0, 0xc0);
	uint8_t buf[20];
	for (int i = 0; i < 20; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(serial_receive(c->s, buf, 20), 16);
	assert_int_equal(serial_receive(c->s, buf, 4), 0);
	/* The host never overruns; the loopback path does. */
	wr(c, MCR, 0x10);
	wr(c, RBR, 0xee);
	assert_int_equal(rd(c, LSR) & 0x03, 0x03);
	assert_int_equal(rd(c, LSR) & 0x02, 0);   /* OE cleared by the read */
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(c, RBR), i);  /* the overrun byte was lost */
	assert_int_equal(rd(c, LSR) & 0x01, 0);
	/* FIFO off: IIR bits 6-7 clear, one byte of room. */
	wr(c, MCR, 0x00);
	wr(c, FCR, 0x00);
	assert_int_equal(rd(c, IIR) & 0xc0, 0);
	assert_int_equal(serial_receive(c->s, buf, 3), 1);
}

static void test_fifo_clear(void **state)
{
	struct ctx *c = *state;
	wr(c, FCR, 0x01);
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"abc", 3), 3);
	wr(c, FCR, 0x03); /* clear RX */
	assert_int_equal(rd(c, LSR) & 0x01, 0);
	assert_int_equal(c->drained, 1);
}

static void test_loopback(void **state)
{
	struct ctx *c = *state;
	/* Linux's 8250 probe: MCR = LOOP | 0x0a → MSR high nibble 0x90. */
	wr(c, MCR, 0x1a);
	assert_int_equal(rd(c, MSR) & 0xf0, 0x90);
	wr(c, MCR, 0x1f);
	assert_int_equal(rd(c, MSR), 0xf0 | 0x02); /* DSR rose: DDSR; RI rising is no TERI */
	wr(c, MCR, 0x1b);                          /* OUT1 (RI) falls → TERI */
	assert_int_equal(rd(c, MSR) & 0x0f, 0x04);
	wr(c, RBR, 'L');
	assert_int_equal(c->out_len, 0);           /* looped, not sent */
	assert_int_equal(rd(c, LSR) & 0x01, 0x01);
	assert_int_equal(rd(c, RBR), 'L');
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"h", 1), 0);
	assert_false(c->irq.level);                /* OUT pins inactive in loopback */
	int before = c->drained;
	wr(c, MCR, 0x00);                          /* leaving loopback: host may send */
	assert_int_equal(c->drained, before + 1);
	assert_int_equal(rd(c, MSR) & 0xf0, 0xb0);
	wr(c, RBR, 'o');
	assert_int_equal(c->out_len, 1);
}

static void test_out2_gating(void **state)
{
	struct ctx *c = *state;
	wr(c, IER, 0x01);
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"q", 1), 1);
	assert_false(c->irq.level);
	assert_int_equal(rd(c, IIR), 0x04); /* pending but not wired */
	wr(c, MCR, 0x08);
	assert_true(c->irq.level);
	wr(c, MCR, 0x00);
	assert_false(c->irq.level);
	wr(c, MCR, 0x08);
	assert_true(c->irq.level);
	rd(c, RBR);
	assert_false(c->irq.level);
}

static void test_receive_and_drained(void **state)
{
	struct ctx *c = *state;
	/* Without FIFO: one byte at a time. */
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"ab", 2), 1);
	assert_int_equal(c->drained, 0);
	assert_int_equal(rd(c, RBR), 'a');
	assert_int_equal(c->drained, 1);
	assert_int_equal(serial_receive(c->s, (const uint8_t *)"b", 1), 1);
	wr(c, FCR, 0x01); /* enabling the FIFO resets it */
	assert_int_equal(c->drained, 2);
	uint8_t buf[40];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(serial_receive(c->s, buf, sizeof(buf)), 16);
	for (int i = 0; i < 15; i++)
		rd(c, RBR);
	assert_int_equal(c->drained, 2);
	rd(c, RBR);
	assert_int_equal(c->drained, 3);
	/* Reading an empty RBR does not call it again. */
	rd(c, RBR);
	rd(c, LSR);
	assert_int_equal(c->drained, 3);
}

static void test_hostile_widths(void **state)
{
	struct ctx *c = *state;
	uint8_t big[8];
	memset(big, 0xaa, sizeof(big));
	/* 8-byte access at offset 0 covers all registers; at offset 7 it
	 * spills past the range. Neither may crash. */
	serial_ops.read(c->s, 0, big, 8);
	serial_ops.read(c->s, 7, big, 8);
	assert_int_equal(big[1], 0xff);
	serial_ops.write(c->s, 6, big, 8);
	serial_ops.read(c->s, 1000, big, 4);
	assert_int_equal(big[0], 0xff);
	serial_ops.write(c->s, UINT64_MAX, big, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab_divisor_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_and_lsr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_clear_on_iir_and_rearm_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_fill_and_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out2_gating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_and_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_widths, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
