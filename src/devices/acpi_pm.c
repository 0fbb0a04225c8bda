/* ACPI PM1 register block and reset register; see acpi_pm.h. Section
 * numbers are ACPI 6.x. */
#include "devices/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/state.h"
#include "devices/legacy_state.h"

/* PM1_STS bits that exist (4.8.3.1.1): TMR, BM, GBL, PWRBTN, SLPBTN, RTC,
 * PCIEXP_WAKE and WAK status. */
#define PM1_STS_MASK 0xc731u
/* PM1_EN bits that exist (4.8.3.1.2): TMR_EN, GBL_EN, PWRBTN_EN,
 * SLPBTN_EN, RTC_EN, PCIEXP_WAKE_DIS. */
#define PM1_EN_MASK 0x4721u
/* PM1_CNT bits that read back (4.8.3.2.1): BM_RLD and SLP_TYP. GBL_RLS and
 * SLP_EN are write-only; SCI_EN is fixed at 1 (always in ACPI mode). */
#define PM1_CNT_MASK (0x0002u | ACPI_PM1_CNT_SLP_TYP_MASK)

struct acpi_pm {
	struct device dev;
	pthread_mutex_t lock;
	struct power_ctl power;
	struct irq_line sci;
	bool sci_level;       /* what the line was last set to */
	uint16_t sts;
	uint16_t en;
	uint16_t cnt;
};

/* 4.8.3.1: the SCI is asserted while an enabled event's status is set.
 * Under the lock, so that level changes reach the line in order. */
static void update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en) != 0;
	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	if (level)
		counter_inc(&pm->dev.counters.interrupts);
	irq_line_set(&pm->sci, level);
}

void acpi_pm_set_sci(struct acpi_pm *pm, struct irq_line sci)
{
	pthread_mutex_lock(&pm->lock);
	pm->sci = sci;
	pm->sci_level = false;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_set_status(struct acpi_pm *pm, uint16_t bits)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= bits;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	counter_inc(&pm->dev.counters.requests);
	acpi_pm_set_status(pm, ACPI_PM1_STS_PWRBTN);
}

/* Byte i of a 16-bit register. */
static uint8_t byte_of(uint16_t v, unsigned i)
{
	return (uint8_t)(v >> (8 * i));
}

static uint16_t with_byte(uint16_t v, unsigned i, uint8_t b)
{
	unsigned shift = 8 * i;
	return (uint16_t)((v & ~(0xFFu << shift)) | ((unsigned)b << shift));
}

static uint8_t read_byte(const struct acpi_pm *pm, uint64_t off)
{
	switch (off) {
	case ACPI_PM1_STS:
	case ACPI_PM1_STS + 1:
		return byte_of(pm->sts, (unsigned)(off - ACPI_PM1_STS));
	case ACPI_PM1_EN:
	case ACPI_PM1_EN + 1:
		return byte_of(pm->en, (unsigned)(off - ACPI_PM1_EN));
	case ACPI_PM1_CNT:
	case ACPI_PM1_CNT + 1:
		return byte_of(pm->cnt | ACPI_PM1_CNT_SCI_EN,
			       (unsigned)(off - ACPI_PM1_CNT));
	default:
		/* reserved bytes and the reset register read 0 */
		return 0;
	}
}

static void acpi_pm_read(void *opaque, uint64_t offset, uint8_t *data,
			 unsigned len)
{
	struct acpi_pm *pm = opaque;
	counter_inc(&pm->dev.counters.exits);
	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < len && i < 8; i++) {
		uint64_t off = offset + i;
		data[i] = off < ACPI_PM_LEN ? read_byte(pm, off) : 0xFF;
	}
	pthread_mutex_unlock(&pm->lock);
}

/* Applies one written byte; returns true if it wrote a PM1_CNT byte. */
static bool write_byte(struct acpi_pm *pm, uint64_t off, uint8_t b,
		       uint16_t *cnt_written, bool *reset)
{
	switch (off) {
	case ACPI_PM1_STS:
	case ACPI_PM1_STS + 1: {
		/* write-1-to-clear, 4.8.3.1.1 */
		unsigned i = (unsigned)(off - ACPI_PM1_STS);
		pm->sts = (uint16_t)(pm->sts & ~((unsigned)b << (8 * i)));
		return false;
	}
	case ACPI_PM1_EN:
	case ACPI_PM1_EN + 1:
		pm->en = with_byte(pm->en, (unsigned)(off - ACPI_PM1_EN), b) &
			 PM1_EN_MASK;
		return false;
	case ACPI_PM1_CNT:
	case ACPI_PM1_CNT + 1: {
		unsigned i = (unsigned)(off - ACPI_PM1_CNT);
		*cnt_written = with_byte(*cnt_written, i, b);
		pm->cnt = with_byte(pm->cnt, i, b) & PM1_CNT_MASK;
		return i == 1; /* SLP_TYP and SLP_EN live in the high byte */
	}
	case ACPI_PM_RESET:
		if (b == ACPI_PM_RESET_VALUE)
			*reset = true;
		return false;
	default:
		return false;
	}
}

static void acpi_pm_write(void *opaque, uint64_t offset, const uint8_t *data,
			  unsigned len)
{
	struct acpi_pm *pm = opaque;
	bool reset = false, cnt_high = false, power_off = false;

	counter_inc(&pm->dev.counters.exits);
	pthread_mutex_lock(&pm->lock);
	/* The written PM1_CNT value, with bytes the access did not cover taken
	 * from the register, so SLP_EN/SLP_TYP are judged on the whole write. */
	uint16_t cnt_written = pm->cnt;
	for (unsigned i = 0; i < len && i < 8; i++) {
		uint64_t o = offset + i;
		if (o < ACPI_PM_LEN && write_byte(pm, o, data[i], &cnt_written, &reset))
			cnt_high = true;
	}
	/* 4.8.3.2.1: writing SLP_EN enters the sleep state in SLP_TYP. Only
	 * S5 (soft off) is supported; other states are ignored. */
	if (cnt_high && (cnt_written & ACPI_PM1_CNT_SLP_EN)) {
		unsigned typ = (cnt_written & ACPI_PM1_CNT_SLP_TYP_MASK) >>
			       ACPI_PM1_CNT_SLP_TYP_SHIFT;
		power_off = typ == ACPI_S5_SLP_TYP;
		if (!power_off)
			counter_inc(&pm->dev.counters.rejected);
	}
	update_sci(pm); /* a status cleared or an enable changed */
	struct power_ctl power = pm->power;
	pthread_mutex_unlock(&pm->lock);

	/* Call out without the lock: the VM core may stop vCPUs that are
	 * waiting on it. */
	if (power_off)
		power_request(&power, POWER_OFF);
	else if (reset)
		power_request(&power, POWER_RESET);
}

const struct iobus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

/* ---- the device contract (core/device.h) ---- */

#define ACPI_PM_STATE_VERSION 1

static void acpi_pm_reset(struct device *dev)
{
	struct acpi_pm *pm = container_of(dev, struct acpi_pm, dev);
	pthread_mutex_lock(&pm->lock);
	pm->sts = pm->en = pm->cnt = 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* Section "acpi-pm": the three PM1 registers as they read back (PM1_CNT
 * without the fixed SCI_EN). Status bits come from event sources, so any
 * may be set; enable and control are checked against the bits that exist. */
static int acpi_pm_save(struct device *dev, struct state_writer *w)
{
	struct acpi_pm *pm = container_of(dev, struct acpi_pm, dev);
	pthread_mutex_lock(&pm->lock);
	state_begin(w, dev->ops->kind, ACPI_PM_STATE_VERSION);
	state_put_u16(w, "pm1_sts", pm->sts);
	state_put_u16(w, "pm1_en", pm->en);
	state_put_u16(w, "pm1_cnt", pm->cnt);
	state_end(w);
	pthread_mutex_unlock(&pm->lock);
	return w->error;
}

static int acpi_pm_load(struct device *dev, struct state_reader *r)
{
	struct acpi_pm *pm = container_of(dev, struct acpi_pm, dev);
	uint16_t sts, en, cnt;
	if (state_enter(r, dev->ops->kind, ACPI_PM_STATE_VERSION, NULL) < 0)
		return -EINVAL;
	legacy_get_reg16(r, "pm1_sts", &sts, PM1_STS_MASK);
	legacy_get_reg16(r, "pm1_en", &en, PM1_EN_MASK);
	legacy_get_reg16(r, "pm1_cnt", &cnt, PM1_CNT_MASK);
	if (state_leave(r) < 0)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->sts = sts;
	pm->en = en;
	pm->cnt = cnt;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static void acpi_pm_dev_destroy(struct device *dev)
{
	acpi_pm_destroy(container_of(dev, struct acpi_pm, dev));
}

static const struct device_ops acpi_pm_dev_ops = {
	.kind = "acpi-pm",
	.reset = acpi_pm_reset,
	.save = acpi_pm_save,
	.load = acpi_pm_load,
	.destroy = acpi_pm_dev_destroy,
};

struct acpi_pm *acpi_pm_create(struct power_ctl power)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	if (pthread_mutex_init(&pm->lock, NULL)) {
		free(pm);
		return NULL;
	}
	device_init(&pm->dev, &acpi_pm_dev_ops, "acpi-pm");
	pm->power = power;
	return pm;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

struct device *acpi_pm_device(struct acpi_pm *pm)
{
	return &pm->dev;
}
