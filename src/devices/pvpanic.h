/* QEMU's pvpanic ISA device (QEMU docs/specs/pvpanic.rst): one I/O port,
 * 0x505, registered with len 1. A read returns the events the device
 * supports; the guest writes an event when it panics.
 *
 * Linux finds it through ACPI: the DSDT needs a device with _HID "QEMU0001"
 * whose _CRS holds IO (Decode16, 0x505, 0x505, 1, 1). */
#ifndef IOVIRT_DEVICES_PVPANIC_H
#define IOVIRT_DEVICES_PVPANIC_H

#include <stdint.h>

#include "bus/iobus.h"
#include "core/device.h"

#define PVPANIC_PORT 0x505
#define PVPANIC_PANICKED 0x01     /* the guest panicked */
#define PVPANIC_CRASH_LOADED 0x02 /* the guest panicked, a kdump kernel takes over */

/* event: the written byte masked to the supported bits; always has
 * PVPANIC_PANICKED. Called on the writing vCPU thread, no lock held. */
typedef void (*pvpanic_fn)(void *opaque, uint8_t event);

struct pvpanic;

/* panicked may be NULL (the panic is then only logged). NULL on failure. */
struct pvpanic *pvpanic_create(pvpanic_fn panicked, void *opaque);
void pvpanic_destroy(struct pvpanic *p);

/* Its device contract (core/device.h): kind "pvpanic", id "pvpanic".
 * Counters: exits (port accesses), requests (events reported), rejected
 * (writes that carry no supported event). */
struct device *pvpanic_device(struct pvpanic *p);

extern const struct iobus_ops pvpanic_ops; /* opaque = struct pvpanic * */

#endif
