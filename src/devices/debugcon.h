/* The firmware's debug console: QEMU's isa-debugcon at port 0x402, where
 * SeaBIOS writes its log once a read of the port answered 0xe9. iovirt
 * shows the log with --verbose and watches it for what the firmware says
 * only there, or only on a screen nobody reads: that no device booted. */
#ifndef IOVIRT_DEVICES_DEBUGCON_H
#define IOVIRT_DEVICES_DEBUGCON_H

#include "bus/iobus.h"
#include "core/device.h"

#define DEBUGCON_PORT 0x402
#define DEBUGCON_READBACK 0xe9  /* what SeaBIOS checks for before it writes */
#define DEBUGCON_LINE_MAX 160

/* Called on the writing vCPU thread with each complete line (no newline,
 * non-printable bytes replaced by '.'), longer lines in pieces. */
typedef void (*debugcon_line_fn)(void *opaque, const char *line);

struct debugcon;

struct debugcon *debugcon_create(debugcon_line_fn line, void *opaque);
void debugcon_destroy(struct debugcon *d);

/* kind "debugcon": counters exits (port accesses); no state worth saving
 * beyond an unfinished line, which a snapshot drops. */
struct device *debugcon_device(struct debugcon *d);

extern const struct iobus_ops debugcon_ops; /* opaque = struct debugcon * */

#endif
