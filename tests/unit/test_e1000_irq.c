/* e1000 interrupt moderation against a fake driver (support/e1000_drv.h)
 * and the device's test clock (f->now): the receive delay (RDTR restarted
 * by each frame, RADV capping it, FPD flushing it, 0 turning it off), the
 * transmit delay for descriptors with IDE (TIDV, TADV; RS without IDE at
 * once), ITR spacing what the delays release, and ICR/ICS/IMS as before:
 * the cause is in ICR at once, reading ICR takes a held cause with it,
 * ICS interrupts at once. The timer runs on the test's loop; time passes
 * only when a test moves f->now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"
#include "support/loop_wait.h"

/* Moves the device's clock on by n delay units (1.024 us). */
static void tick(struct e1k_drv *f, unsigned n)
{
	f->now += (int64_t)n * DELAY_UNIT_NS;
}

static bool irq_up(void *arg)
{
	return ((struct e1k_drv *)arg)->irq.level;
}

/* Lets the loop run (the timer fire) for a while; the line as it is then. */
static bool settle(struct e1k_drv *f)
{
	loop_run_until(f->loop, irq_up, f, 30);
	return f->irq.level;
}

static void rx_setup(struct e1k_drv *f, uint32_t rdtr, uint32_t radv)
{
	e1k_rx_start(f, RCTL_SECRC);
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	e1k_wr(f, E1000_RDTR, rdtr);
	e1k_wr(f, E1000_RADV, radv);
}

static void rx_frame(struct e1k_drv *f)
{
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 100, 0x10);
	assert_true(e1k_rx(f, f->frame, len));
}

/* RDTR restarts with each frame: two frames, one interrupt, RDTR after
 * the second; the cause is in ICR before the interrupt. */
static void test_rx_delay_coalesces(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 100, 0);
	rx_frame(f);
	assert_false(f->irq.level);
	tick(f, 60);
	assert_false(settle(f));
	rx_frame(f);
	tick(f, 60); /* 120 after the first, 60 after the second */
	assert_false(settle(f));
	assert_true(e1k_stats(f).irqs_delayed >= 2);
	tick(f, 41);
	assert_true(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 1);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_RXT0);
	assert_false(f->irq.level);
	assert_int_equal(e1k_stats(f).rx_frames, 2);
}

/* RADV runs from the first frame and caps the wait however often frames
 * restart RDTR. */
static void test_radv_caps(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 100, 150);
	rx_frame(f);
	tick(f, 80);
	rx_frame(f);
	tick(f, 60);
	rx_frame(f); /* RDTR now runs to 240 */
	assert_false(settle(f));
	tick(f, 11); /* 151: RADV's */
	assert_true(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 1);
	/* After the interrupt RADV starts again from the next frame. */
	e1k_rd(f, E1000_ICR);
	rx_frame(f);
	tick(f, 99);
	assert_false(settle(f));
	tick(f, 2);
	assert_true(settle(f));
}

/* FPD ends the wait at once and reads back 0; RDTR 0 means no delay and
 * RADV alone does nothing. */
static void test_fpd_and_zero(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 1000, 2000);
	rx_frame(f);
	assert_false(f->irq.level);
	e1k_wr(f, E1000_RDTR, 1000 | RDTR_FPD);
	assert_true(f->irq.level);
	assert_int_equal(e1k_rd(f, E1000_RDTR), 1000);
	e1k_rd(f, E1000_ICR);

	e1k_wr(f, E1000_RDTR, 0);
	rx_frame(f);
	assert_true(f->irq.level); /* at once, RADV notwithstanding */
}

/* The cause is the driver's to see and clear as before: reading ICR takes
 * a held RXT0 with it (no interrupt later), ICS interrupts at once, a
 * masked cause waits for IMS and then for its delay. */
static void test_icr_ics_ims(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 100, 0);
	rx_frame(f);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_RXT0);
	tick(f, 200);
	assert_false(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 0);

	rx_frame(f);
	e1k_wr(f, E1000_ICS, ICR_RXT0);
	assert_true(f->irq.level);
	e1k_rd(f, E1000_ICR);

	e1k_wr(f, E1000_IMC, ICR_RXT0);
	rx_frame(f);
	tick(f, 200);
	assert_false(settle(f)); /* released, but masked */
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	assert_true(f->irq.level);
	e1k_rd(f, E1000_ICR);

	/* A held cause stays held while masked; IMS alone does not end it. */
	e1k_wr(f, E1000_IMC, ICR_RXT0);
	rx_frame(f);
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	assert_false(f->irq.level);
	tick(f, 101);
	assert_true(settle(f));
}

/* ITR spaces what the delays release. */
static void test_itr_bounds_delayed(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 10, 0);
	e1k_wr(f, E1000_ITR, 1000); /* 256 us = 250 delay units */
	rx_frame(f);
	tick(f, 11);
	assert_true(settle(f));
	e1k_rd(f, E1000_ICR);
	rx_frame(f);
	tick(f, 20);
	assert_false(settle(f)); /* RDTR is over, ITR is not */
	assert_true(e1k_stats(f).irqs_throttled >= 1);
	tick(f, 230);
	assert_true(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 2);
}

/* ---- transmit ---- */

/* A round of the loop's: TX_BULK frames, each with cmd, from descriptor
 * TX_BULK * i on, and TDT past them (more than E1000_TX_INLINE_DESCS: the
 * write schedules the round; e1k_tdt runs it). */
#define TX_BULK (E1000_TX_INLINE_DESCS + 1)
static void tx_frame(struct e1k_drv *f, unsigned i, uint8_t cmd)
{
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 50, 0x10);
	uint64_t a = e1k_put_buf(f, f->frame, len);
	unsigned first = TX_BULK * i % E1K_TX_N, tail = (first + TX_BULK) % E1K_TX_N;
	for (unsigned d = 0; d < TX_BULK; d++)
		e1k_txd_legacy(f, (first + d) % E1K_TX_N, a, (uint16_t)len, TXD_CMD_EOP | cmd, 0, 0,
			       0);
	e1k_tdt(f, tail);
	assert_int_equal(e1k_rd(f, E1000_TDH), tail);
}

/* IDE delays TXDW by TIDV (restarted per round, capped by TADV); RS
 * without IDE interrupts at once and ends the delay; TIDV 0 does not
 * delay. */
static void test_tx_delay(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	e1k_wr(f, E1000_TIDV, 100);
	e1k_wr(f, E1000_TADV, 150);
	tx_frame(f, 0, TXD_CMD_RS | TXD_CMD_IDE);
	assert_false(f->irq.level);
	assert_true(e1k_txd_status(f, 0) & TXD_STAT_DD); /* written back at once */
	tick(f, 80);
	tx_frame(f, 1, TXD_CMD_RS | TXD_CMD_IDE);
	tick(f, 60);
	assert_false(settle(f));
	tick(f, 11); /* TADV */
	assert_true(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 1);
	e1k_rd(f, E1000_ICR);

	/* IDE without RS asks for nothing. */
	tx_frame(f, 2, TXD_CMD_IDE);
	tick(f, 500);
	assert_false(settle(f));

	tx_frame(f, 3, TXD_CMD_RS | TXD_CMD_IDE);
	assert_false(f->irq.level);
	tx_frame(f, 4, TXD_CMD_RS);
	assert_true(f->irq.level);
	e1k_rd(f, E1000_ICR);
	tick(f, 500);
	assert_false(settle(f)); /* the delay ended with it */

	e1k_wr(f, E1000_TIDV, 0);
	tx_frame(f, 5, TXD_CMD_RS | TXD_CMD_IDE);
	assert_true(f->irq.level);
	assert_int_equal(e1k_stats(f).irqs, 3);
}

/* A TDT write of a few descriptors (an ACK) is sent on the writing vCPU
 * and interrupts at once, IDE or not: a timer per ACK costs more than the
 * interrupt it might save. */
static void test_tx_inline_no_delay(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	e1k_wr(f, E1000_TIDV, 100);
	e1k_wr(f, E1000_TADV, 150);
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 0, 0x10);
	e1k_txd_legacy(f, 0, e1k_put_buf(f, f->frame, len), (uint16_t)len,
		       TXD_CMD_EOP | TXD_CMD_RS | TXD_CMD_IDE, 0, 0, 0);
	e1k_wr(f, E1000_TDT, 1);
	assert_int_equal(f->nsent, 1);
	assert_true(f->irq.level);
	assert_int_equal(e1k_stats(f).irqs_delayed, 0);
}

/* A reset forgets the delays: nothing fires afterwards. */
static void test_reset_clears(void **state)
{
	struct e1k_drv *f = *state;
	rx_setup(f, 100, 0);
	rx_frame(f);
	e1k_wr(f, E1000_CTRL, e1k_rd(f, E1000_CTRL) | CTRL_RST);
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	tick(f, 200);
	assert_false(settle(f));
	assert_int_equal(e1k_stats(f).irqs, 0);
}

#define T(t) cmocka_unit_test_setup_teardown(t, e1k_setup, e1k_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rx_delay_coalesces),
		T(test_radv_caps),
		T(test_fpd_and_zero),
		T(test_icr_ics_ims),
		T(test_itr_bounds_delayed),
		T(test_tx_delay),
		T(test_tx_inline_no_delay),
		T(test_reset_clears),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
