/* debugcon: see debugcon.h. Byte writes collect into a line; the line
 * buffer is bounded, so a guest writing forever costs one call per
 * DEBUGCON_LINE_MAX bytes. */
#include "devices/debugcon.h"

#include <pthread.h>
#include <stdlib.h>


struct debugcon {
	struct device dev;
	debugcon_line_fn line;
	void *opaque;
	pthread_mutex_t lock;
	char buf[DEBUGCON_LINE_MAX + 1];
	unsigned len;
};

static void flush_line(struct debugcon *d)
{
	d->buf[d->len] = 0;
	if (d->line)
		d->line(d->opaque, d->buf);
	d->len = 0;
}

static void debugcon_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct debugcon *d = opaque;
	counter_inc(&d->dev.counters.exits);
	for (unsigned i = 0; i < len; i++)
		data[i] = offset + i == 0 ? DEBUGCON_READBACK : 0xff;
}

static void debugcon_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct debugcon *d = opaque;
	counter_inc(&d->dev.counters.exits);
	if (offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < len && i < 1; i++) { /* the port is one byte wide */
		uint8_t c = data[i];
		if (c == '\n') {
			flush_line(d);
		} else if (c != '\r') {
			d->buf[d->len++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
			if (d->len == DEBUGCON_LINE_MAX)
				flush_line(d);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

const struct iobus_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
};

static void debugcon_dev_destroy(struct device *dev)
{
	debugcon_destroy(container_of(dev, struct debugcon, dev));
}

static const struct device_ops debugcon_dev_ops = {
	.kind = "debugcon",
	/* An unfinished line is dropped by a snapshot. */
	.save = device_save_stateless,
	.load = device_load_stateless,
	.destroy = debugcon_dev_destroy,
};

struct debugcon *debugcon_create(debugcon_line_fn line, void *opaque)
{
	struct debugcon *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	device_init(&d->dev, &debugcon_dev_ops, "debugcon");
	pthread_mutex_init(&d->lock, NULL);
	d->line = line;
	d->opaque = opaque;
	return d;
}

void debugcon_destroy(struct debugcon *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct device *debugcon_device(struct debugcon *d)
{
	return &d->dev;
}
