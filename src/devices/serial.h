/* 16550A UART (National Semiconductor PC16550D datasheet), as COM1 at
 * 0x3F8 / IRQ 4 on a PC. Register the range with len 8.
 *
 * Threads: the iobus ops run on vCPU threads, serial_receive() on the event
 * loop thread; all state is under the device's own mutex.
 *   - out is called WITH the lock held (it keeps byte order between vCPUs);
 *     it must only write somewhere (a terminal) and never call back into
 *     this device.
 *   - drained is called WITHOUT the lock, on a vCPU thread, after the guest
 *     emptied the RX FIFO (or left loopback / enabled the FIFO after
 *     serial_receive refused bytes): the host should offer its pending
 *     input again with serial_receive().
 *   - the IRQ line is driven with the lock held (irq_line_set only talks to
 *     KVM). */
#ifndef IOVIRT_DEVICES_SERIAL_H
#define IOVIRT_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "bus/iobus.h"
#include "bus/irq.h"
#include "core/device.h"

#define SERIAL_FIFO_SIZE 16

struct serial;

typedef void (*serial_output_fn)(void *opaque, const uint8_t *buf, size_t len);
/* Guest emptied the RX FIFO; called without the lock. */
typedef void (*serial_rx_drained_fn)(void *opaque);

/* out and drained may be NULL. Returns NULL on allocation failure. */
struct serial *serial_create(struct irq_line irq, serial_output_fn out,
			     serial_rx_drained_fn drained, void *opaque);
void serial_destroy(struct serial *s);

/* Its device contract (core/device.h): kind "serial", id "serial0".
 * Counters: exits (port accesses), interrupts (rising edges of the line),
 * bytes_in (guest output passed to out), bytes_out (host input accepted),
 * errors (output dropped: no out), rejected (loopback overrun). */
struct device *serial_device(struct serial *s);

/* opaque = struct serial *; offsets 0..7 (RBR/THR .. SCR). */
extern const struct iobus_ops serial_ops;

/* Host → guest. Returns the bytes accepted: the room in the RX FIFO (16 in
 * FIFO mode, 1 without), 0 in loopback mode (the receiver input is then
 * disconnected). When fewer than len were accepted, drained is called once
 * room appears. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
