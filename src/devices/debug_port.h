/* The guest's boot-progress port: I/O port 0x80, the PC's POST-code port,
 * which Cloud Hypervisor also uses this way. Each byte the guest writes
 * there is a progress code timed into the boot trace (core/boot_trace.h:
 * 0x00-0x1f firmware, 0x20-0x3f boot loader, 0x40-0x5f kernel, 0x60-0x7f
 * user space; the guest image's init writes 0x60 as it starts). Linux on
 * KVM does not use the port for its I/O delay (KVM_FEATURE_NOP_IO_DELAY),
 * so nothing else lands there in a direct kernel boot; a firmware boot runs
 * the kernel's real-mode setup, which does, and has no debug port. */
#ifndef IOVIRT_DEVICES_DEBUG_PORT_H
#define IOVIRT_DEVICES_DEBUG_PORT_H

#include "bus/iobus.h"
#include "core/device.h"

#define DEBUG_PORT 0x80

struct debug_port;

struct debug_port *debug_port_create(void);
void debug_port_destroy(struct debug_port *d);

/* kind "debug-port": counters exits; no state. */
struct device *debug_port_device(struct debug_port *d);

extern const struct iobus_ops debug_port_ops; /* opaque = struct debug_port * */

#endif
