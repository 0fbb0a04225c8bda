/* pvpanic ISA device (QEMU docs/specs/pvpanic.rst): reading the port gives
 * the supported event bits; writing bit 0 (PANICKED) reports a panic. A
 * write of CRASH_LOADED alone means a crash kernel is about to run, so the
 * VM is left alone and the event is only logged. The only state is the
 * events register, fixed once created: nothing to lock. */
#include "devices/pvpanic.h"

#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/state.h"

#define PVPANIC_SUPPORTED (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic {
	struct device dev;
	uint8_t events; /* what a read of the port says the device supports */
	pvpanic_fn panicked;
	void *opaque;
};

/* One byte wide: further bytes of a wider access read as all-ones. */
static void pvpanic_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct pvpanic *p = opaque;
	counter_inc(&p->dev.counters.exits);
	for (unsigned i = 0; i < len; i++)
		data[i] = (offset + i == 0) ? p->events : 0xff;
}

static void pvpanic_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct pvpanic *p = opaque;
	counter_inc(&p->dev.counters.exits);
	if (len == 0 || offset != 0)
		return;
	uint8_t event = data[0] & p->events;
	if (event)
		counter_inc(&p->dev.counters.requests);
	else
		counter_inc(&p->dev.counters.rejected);
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

/* ---- the device contract (core/device.h) ---- */

#define PVPANIC_STATE_VERSION 1

/* Section "pvpanic": the events register. It never changes, but a guest
 * driver decides from it which events to send, so a record from a device
 * that offered other events is refused rather than silently narrowed. */
static int pvpanic_save(struct device *dev, struct state_writer *w)
{
	struct pvpanic *p = container_of(dev, struct pvpanic, dev);
	state_begin(w, dev->ops->kind, PVPANIC_STATE_VERSION);
	state_put_u8(w, "events", p->events);
	state_end(w);
	return w->error;
}

static int pvpanic_load(struct device *dev, struct state_reader *r)
{
	struct pvpanic *p = container_of(dev, struct pvpanic, dev);
	uint8_t events;
	if (state_enter(r, dev->ops->kind, PVPANIC_STATE_VERSION, NULL) < 0)
		return -EINVAL;
	if (state_get_u8(r, "events", &events) == 0 && events != p->events)
		return state_invalid(r, "events", "0x%02x, this device offers 0x%02x", events,
				     p->events);
	return state_leave(r);
}

static void pvpanic_dev_destroy(struct device *dev)
{
	pvpanic_destroy(container_of(dev, struct pvpanic, dev));
}

/* No reset: nothing the guest can change. */
static const struct device_ops pvpanic_dev_ops = {
	.kind = "pvpanic",
	.save = pvpanic_save,
	.load = pvpanic_load,
	.destroy = pvpanic_dev_destroy,
};

struct pvpanic *pvpanic_create(pvpanic_fn panicked, void *opaque)
{
	struct pvpanic *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	device_init(&p->dev, &pvpanic_dev_ops, "pvpanic");
	p->events = PVPANIC_SUPPORTED;
	p->panicked = panicked;
	p->opaque = opaque;
	return p;
}

void pvpanic_destroy(struct pvpanic *p)
{
	free(p);
}

struct device *pvpanic_device(struct pvpanic *p)
{
	return &p->dev;
}
