/* The ACPI fixed-hardware power-management register block the FADT points
 * at (ACPI 6.x 4.8.3): PM1a event block (status + enable), PM1a control
 * block, and the FADT reset register. No PM timer, no GPE blocks.
 *
 * Layout (offsets from ACPI_PM_BASE):
 *	0  PM1_STS  2 bytes, write-1-to-clear     (4.8.3.1.1)
 *	2  PM1_EN   2 bytes                       (4.8.3.1.2)
 *	4  PM1_CNT  2 bytes, SCI_EN reads 1       (4.8.3.2.1)
 *	8  RESET    1 byte, write 1 to reset      (FADT RESET_REG, 4.8.3.6)
 * Other bytes read 0 and ignore writes.
 *
 * The SCI (4.8.3.1, the FADT's SCI_INT: ISA IRQ 9, level, active high)
 * is asserted while a status bit is set whose enable bit is set, and
 * drops when the guest clears the status (write 1 to clear) or the
 * enable. The fixed power button (4.8.2.2.1) is the one event source. */
#ifndef IOVIRT_DEVICES_ACPI_PM_H
#define IOVIRT_DEVICES_ACPI_PM_H

#include <stdint.h>

#include "arch/x86/acpi_pm_regs.h"
#include "bus/iobus.h"
#include "bus/irq.h"
#include "core/device.h"
#include "core/power.h"

struct acpi_pm;

struct acpi_pm *acpi_pm_create(struct power_ctl power);
void acpi_pm_destroy(struct acpi_pm *pm);

/* The SCI line; none until set (the block then raises nothing). Before
 * the guest runs. */
void acpi_pm_set_sci(struct acpi_pm *pm, struct irq_line sci);

/* Its device contract (core/device.h): kind "acpi-pm", id "acpi-pm".
 * Counters: exits (port accesses), interrupts (the SCI raised), requests
 * (power-button presses), rejected (a sleep state other than S5 asked
 * for). */
struct device *acpi_pm_device(struct acpi_pm *pm);

/* Sets PM1 status bits, for event sources (and tests), and raises the SCI
 * if one of them is enabled. Any thread. */
void acpi_pm_set_status(struct acpi_pm *pm, uint16_t bits);

/* A press of the fixed power button (4.8.2.2.1): PWRBTN_STS, and the SCI
 * when the guest enabled PWRBTN_EN (Linux's button driver does). Any
 * thread. */
void acpi_pm_press_power_button(struct acpi_pm *pm);

/* register at ACPI_PM_BASE, len ACPI_PM_LEN, opaque = pm */
extern const struct iobus_ops acpi_pm_ops;

#endif
