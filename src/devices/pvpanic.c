/* pvpanic ISA device (QEMU docs/specs/pvpanic.rst): reading the port gives
 * the supported event bits; writing bit 0 (PANICKED) reports a panic. A
 * write of CRASH_LOADED alone means a crash kernel is about to run, so the
 * VM is left alone and the event is only logged. The device has no state to
 * lock. */
#include "devices/pvpanic.h"

#include <stdlib.h>

#include "core/log.h"

#define PVPANIC_SUPPORTED (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic {
	pvpanic_fn panicked;
	void *opaque;
};

struct pvpanic *pvpanic_create(pvpanic_fn panicked, void *opaque)
{
	struct pvpanic *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->panicked = panicked;
	p->opaque = opaque;
	return p;
}

void pvpanic_destroy(struct pvpanic *p)
{
	free(p);
}

/* One byte wide: further bytes of a wider access read as all-ones. */
static void pvpanic_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		data[i] = (offset + i == 0) ? PVPANIC_SUPPORTED : 0xff;
}

static void pvpanic_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct pvpanic *p = opaque;
	if (len == 0 || offset != 0)
		return;
	uint8_t event = data[0] & PVPANIC_SUPPORTED;
	if (event & PVPANIC_PANICKED) {
		log_guest_event("pvpanic", "guest reported a panic (event 0x%02x)", data[0]);
		if (p->panicked)
			p->panicked(p->opaque, event);
	} else if (event & PVPANIC_CRASH_LOADED) {
		log_guest_event("pvpanic", "guest panicked; its crash kernel is taking over");
	}
}

const struct iobus_ops pvpanic_ops = {
	.read = pvpanic_read,
	.write = pvpanic_write,
};
