/* debug_port: see debug_port.h. */
#include "devices/debug_port.h"

#include <stdlib.h>
#include <string.h>

#include "core/boot_trace.h"
#include "core/log.h"

struct debug_port {
	struct device dev;
};

static void debug_port_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct debug_port *d = opaque;
	(void)offset;
	counter_inc(&d->dev.counters.exits);
	memset(data, 0, len);
}

static void debug_port_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct debug_port *d = opaque;
	counter_inc(&d->dev.counters.exits);
	if (offset != 0 || len == 0)
		return;
	log_debug("debug port: guest code 0x%02x (%s)", data[0],
		  boot_trace_code_source(data[0]));
	boot_trace_guest_code(data[0]);
}

const struct iobus_ops debug_port_ops = {
	.read = debug_port_read,
	.write = debug_port_write,
};

static void debug_port_dev_destroy(struct device *dev)
{
	debug_port_destroy(container_of(dev, struct debug_port, dev));
}

static const struct device_ops debug_port_dev_ops = {
	.kind = "debug-port",
	.save = device_save_stateless,
	.load = device_load_stateless,
	.destroy = debug_port_dev_destroy,
};

struct debug_port *debug_port_create(void)
{
	struct debug_port *d = calloc(1, sizeof(*d));
	if (d)
		device_init(&d->dev, &debug_port_dev_ops, "debug-port");
	return d;
}

void debug_port_destroy(struct debug_port *d)
{
	free(d);
}

struct device *debug_port_device(struct debug_port *d)
{
	return &d->dev;
}
