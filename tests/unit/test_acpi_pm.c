/* ACPI PM register block: PM1 status/enable/control semantics, the S5 and
 * reset requests, accesses of every width at every offset, and the SCI
 * the power button raises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/state.h"
#include "devices/acpi_pm.h"
#include "support/fake_irq.h"

struct recorder {
	unsigned off;
	unsigned reset;
};

static void record(void *opaque, enum power_request req)
{
	struct recorder *r = opaque;
	if (req == POWER_OFF)
		r->off++;
	else if (req == POWER_RESET)
		r->reset++;
}

struct fixture {
	struct recorder rec;
	struct fake_irq sci;
	struct acpi_pm *pm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->pm = acpi_pm_create((struct power_ctl){ .request = record, .opaque = &f->rec });
	if (!f->pm) {
		free(f);
		return -1;
	}
	acpi_pm_set_sci(f->pm, fake_irq_line(&f->sci, 9));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	acpi_pm_destroy(f->pm);
	free(f);
	return 0;
}

static uint64_t rd(struct fixture *f, uint64_t off, unsigned len)
{
	uint8_t d[8];
	memset(d, 0xCC, sizeof(d));
	acpi_pm_ops.read(f->pm, off, d, len);
	return iobus_load_le(d, len);
}

static void wr(struct fixture *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t d[8];
	iobus_store_le(d, len, v);
	acpi_pm_ops.write(f->pm, off, d, len);
}

static uint16_t slp(unsigned typ, bool en)
{
	return (uint16_t)((typ << ACPI_PM1_CNT_SLP_TYP_SHIFT) | (en ? ACPI_PM1_CNT_SLP_EN : 0));
}

static void test_sci_en_reads_1(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2) & ACPI_PM1_CNT_SCI_EN, 1);
	wr(f, ACPI_PM1_CNT, 2, 0); /* cannot leave ACPI mode */
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(rd(f, ACPI_PM1_CNT, 1), 1);
	/* SLP_TYP reads back, SLP_EN does not */
	wr(f, ACPI_PM1_CNT, 2, slp(3, false));
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), slp(3, false) | 1);
}

static void test_status_w1c(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
	acpi_pm_set_status(f->pm, ACPI_PM1_STS_WAK | ACPI_PM1_STS_PWRBTN | 1);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0x8101);
	wr(f, ACPI_PM1_STS, 2, 0); /* writing 0s changes nothing */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0x8101);
	wr(f, ACPI_PM1_STS, 2, ACPI_PM1_STS_PWRBTN);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0x8001);
	wr(f, ACPI_PM1_STS + 1, 1, 0x80); /* high byte alone */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0x0001);
	wr(f, ACPI_PM1_STS, 4, 0xFFFF); /* status+enable in one dword */
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
}

static void test_enable(void **state)
{
	struct fixture *f = *state;
	wr(f, ACPI_PM1_EN, 2, 0xFFFF);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), 0x4721); /* implemented bits */
	wr(f, ACPI_PM1_EN, 2, 0x0100);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), 0x0100);
	/* a dword write at 0 clears status and sets enable */
	wr(f, ACPI_PM1_STS, 4, 0x00200000);
	assert_int_equal(rd(f, ACPI_PM1_STS, 4), 0x00200000);
}

static void test_s5_powers_off_once(void **state)
{
	struct fixture *f = *state;
	/* Linux: SLP_TYP first, then SLP_TYP | SLP_EN */
	wr(f, ACPI_PM1_CNT, 2, slp(ACPI_S5_SLP_TYP, false));
	assert_int_equal(f->rec.off, 0);
	wr(f, ACPI_PM1_CNT, 2, slp(ACPI_S5_SLP_TYP, true));
	assert_int_equal(f->rec.off, 1);
	assert_int_equal(f->rec.reset, 0);
	/* the low byte alone does not re-trigger */
	wr(f, ACPI_PM1_CNT, 1, 0x01);
	assert_int_equal(f->rec.off, 1);
	/* the high byte alone does */
	wr(f, ACPI_PM1_CNT + 1, 1, slp(ACPI_S5_SLP_TYP, true) >> 8);
	assert_int_equal(f->rec.off, 2);
	/* a dword write at offset 4 (PM1_CNT + reserved) too */
	wr(f, ACPI_PM1_CNT, 4, slp(ACPI_S5_SLP_TYP, true));
	assert_int_equal(f->rec.off, 3);
}

static void test_other_slp_typ_ignored(void **state)
{
	struct fixture *f = *state;
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_S5_SLP_TYP)
			continue;
		wr(f, ACPI_PM1_CNT, 2, slp(typ, true));
	}
	assert_int_equal(f->rec.off, 0);
	assert_int_equal(f->rec.reset, 0);
	/* S5 type without SLP_EN: nothing */
	wr(f, ACPI_PM1_CNT, 2, slp(ACPI_S5_SLP_TYP, false));
	assert_int_equal(f->rec.off, 0);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	wr(f, ACPI_PM_RESET, 1, 0);
	wr(f, ACPI_PM_RESET, 1, 2);
	assert_int_equal(f->rec.reset, 0);
	wr(f, ACPI_PM_RESET, 1, ACPI_PM_RESET_VALUE);
	assert_int_equal(f->rec.reset, 1);
	assert_int_equal(f->rec.off, 0);
	assert_int_equal(rd(f, ACPI_PM_RESET, 1), 0);
	/* a word write whose low byte is the reset value */
	wr(f, ACPI_PM_RESET, 2, 0x0001);
	assert_int_equal(f->rec.reset, 2);
}

static void test_odd_widths(void **state)
{
	struct fixture *f = *state;
	acpi_pm_set_status(f->pm, 0x8001);
	wr(f, ACPI_PM1_EN, 2, 0x0120);
	wr(f, ACPI_PM1_CNT, 2, slp(2, false));
	/* the whole block, byte by byte and in every width and offset */
	uint8_t want[ACPI_PM_LEN] = { 0x01, 0x80, 0x20, 0x01, 0x01, 0x08 };
	for (unsigned len = 1; len <= 8; len *= 2) {
		for (unsigned off = 0; off + len <= ACPI_PM_LEN; off++) {
			uint64_t v = rd(f, off, len);
			for (unsigned i = 0; i < len; i++)
				assert_int_equal((uint8_t)(v >> (8 * i)), want[off + i]);
		}
	}
	/* a read running past the block: the bytes outside read all-ones */
	assert_int_equal(rd(f, ACPI_PM_LEN - 2, 4), 0xFFFF0000);
	assert_int_equal(rd(f, 100, 2), 0xFFFF);
	/* writes to reserved bytes and past the block change nothing */
	wr(f, 6, 2, 0xFFFF);
	wr(f, 9, 4, 0xFFFFFFFF);
	wr(f, ACPI_PM_LEN - 1, 8, UINT64_MAX);
	wr(f, 1000, 4, 0xFFFFFFFF);
	for (unsigned off = 0; off < ACPI_PM_LEN; off++)
		assert_int_equal(rd(f, off, 1), want[off]);
	assert_int_equal(f->rec.off + f->rec.reset, 0);
	/* a word write straddling EN high byte and CNT low byte */
	wr(f, ACPI_PM1_EN + 1, 2, 0x0000);
	assert_int_equal(rd(f, ACPI_PM1_EN, 2), 0x0020);
	assert_int_equal(rd(f, ACPI_PM1_CNT, 2), slp(2, false) | 1);
	/* a word write straddling CNT high byte and reserved: S5 */
	wr(f, ACPI_PM1_CNT + 1, 2, slp(ACPI_S5_SLP_TYP, true) >> 8);
	assert_int_equal(f->rec.off, 1);
}

/* The button sets PWRBTN_STS whatever PM1_EN says, but the SCI rises only
 * while PWRBTN_EN is set too (4.8.3.1). */
static void test_power_button_raises_sci_when_enabled(void **state)
{
	struct fixture *f = *state;
	acpi_pm_press_power_button(f->pm);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_STS_PWRBTN);
	assert_false(f->sci.level);
	assert_int_equal(f->sci.rises, 0);
	wr(f, ACPI_PM1_EN, 2, ACPI_PM1_EN_PWRBTN); /* the OS enables it: the held event fires */
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 1);
	/* a second press while the first is unhandled: still one level */
	acpi_pm_press_power_button(f->pm);
	assert_true(f->sci.level);
	assert_int_equal(f->sci.rises, 1);
	struct dev_counters *c = &acpi_pm_device(f->pm)->counters;
	assert_int_equal(counter_read(&c->requests), 2);
	assert_int_equal(counter_read(&c->interrupts), 1);
}

/* Level-triggered: the line stays up until the guest writes 1 to the
 * status bit (or clears the enable), and a status bit nobody enabled
 * never raises it. */
static void test_sci_drops_when_status_cleared(void **state)
{
	struct fixture *f = *state;
	wr(f, ACPI_PM1_EN, 2, ACPI_PM1_EN_PWRBTN);
	acpi_pm_set_status(f->pm, ACPI_PM1_STS_WAK); /* not enabled (no WAK_EN) */
	assert_false(f->sci.level);
	acpi_pm_press_power_button(f->pm);
	assert_true(f->sci.level);
	wr(f, ACPI_PM1_STS, 2, ACPI_PM1_STS_WAK); /* clears another bit: still up */
	assert_true(f->sci.level);
	wr(f, ACPI_PM1_STS, 2, ACPI_PM1_STS_PWRBTN);
	assert_false(f->sci.level);
	assert_int_equal(f->sci.falls, 1);
	/* again, and this time the OS masks the enable instead */
	acpi_pm_press_power_button(f->pm);
	assert_true(f->sci.level);
	wr(f, ACPI_PM1_EN, 2, 0);
	assert_false(f->sci.level);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_STS_PWRBTN);
	assert_int_equal(f->sci.rises, 2);
	assert_int_equal(f->sci.falls, 2);
}

/* A reset drops a raised SCI; a loaded record with an enabled event
 * pending raises it, as the saved machine had it. */
static void test_sci_follows_reset_and_load(void **state)
{
	struct fixture *f = *state;
	struct device *dev = acpi_pm_device(f->pm);
	wr(f, ACPI_PM1_EN, 2, ACPI_PM1_EN_PWRBTN);
	acpi_pm_press_power_button(f->pm);
	assert_true(f->sci.level);
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(dev, &w), 0);
	device_reset(dev);
	assert_false(f->sci.level);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), 0);
	struct state_reader r;
	state_reader_init(&r, w.buf, w.len, dev->id);
	assert_int_equal(device_load(dev, &r), 0);
	assert_true(f->sci.level);
	assert_int_equal(rd(f, ACPI_PM1_STS, 2), ACPI_PM1_STS_PWRBTN);
	state_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sci_en_reads_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_w1c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_powers_off_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_slp_typ_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_raises_sci_when_enabled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sci_drops_when_status_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sci_follows_reset_and_load, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
