/* The device contract: see device.h. */
#include "core/device.h"

#include <errno.h>
#include <stdio.h>

#include "core/log.h"
#include "core/state.h"

void device_init(struct device *dev, const struct device_ops *ops, const char *id)
{
	dev->ops = ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
}

void device_counters(struct device *dev, const struct counter_sink *sink)
{
	if (dev->ops->counters)
		dev->ops->counters(dev, sink);
	else
		counters_emit(sink, dev->id, "", &dev->counters);
}

int device_save(struct device *dev, struct state_writer *w)
{
	if (!dev->ops->save) {
		log_error("%s: a %s cannot save its state", dev->id, dev->ops->kind);
		return -ENOTSUP;
	}
	return dev->ops->save(dev, w);
}

int device_load(struct device *dev, struct state_reader *r)
{
	if (!dev->ops->load)
		return state_invalid(r, dev->ops->kind, "a %s cannot load state", dev->ops->kind);
	return dev->ops->load(dev, r);
}

int device_save_stateless(struct device *dev, struct state_writer *w)
{
	state_begin(w, dev->ops->kind, 1);
	state_end(w);
	return w->error;
}

int device_load_stateless(struct device *dev, struct state_reader *r)
{
	if (state_enter(r, dev->ops->kind, 1, NULL) < 0)
		return -EINVAL;
	return state_leave(r);
}
