/* i8042 PS/2 keyboard controller (IBM PC/AT "8042" interface, as described
 * by the PS/2 Hardware Interface Technical Reference), with an attached
 * keyboard and mouse that answer commands but never send input. Enough for
 * Linux's i8042/atkbd/psmouse probes and the CPU reset line.
 *
 * Data port 0x60 and command/status port 0x64, each registered with len 1.
 * The IRQ lines (1 and 12) and the power request are driven with the
 * device's lock held: the power callback must not call back into this
 * device (it only flags the VM for reset). */
#ifndef IOVIRT_DEVICES_I8042_H
#define IOVIRT_DEVICES_I8042_H

#include "bus/iobus.h"
#include "bus/irq.h"
#include "core/device.h"
#include "core/power.h"

struct i8042;

/* Returns NULL on allocation failure. */
struct i8042 *i8042_create(struct irq_line kbd_irq, struct irq_line aux_irq,
			   struct power_ctl power);
void i8042_destroy(struct i8042 *k);

/* Its device contract (core/device.h): kind "i8042", id "i8042".
 * Counters: exits (port accesses), interrupts (rising edges of IRQ 1 and
 * 12), bytes_out (bytes the guest read from the output buffer), rejected
 * (unknown controller commands, bytes dropped on a full queue). */
struct device *i8042_device(struct i8042 *k);

extern const struct iobus_ops i8042_data_ops;    /* port 0x60, len 1 */
extern const struct iobus_ops i8042_command_ops; /* port 0x64, len 1 */

#endif
