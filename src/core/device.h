/* The device contract (docs/ARCHITECTURE.md "The device contract"): every
 * device model — the legacy PC devices, NVMe, e1000, each virtio device on
 * its PCI transport, a VFIO function — embeds a struct device and fills a
 * device_ops, and the machine keeps one list of them. Creation from options
 * is the machine's table of device kinds (src/machine/device_table.c); the
 * rest of a device's life goes through these ops:
 *
 *   reset     back to power-on state (the machine reset, or a fresh load)
 *   counters  its counters (core/counters.h), per device and per queue
 *   save      quiesce (complete in-flight requests), then write its record
 *             (core/state.h): one section named after the kind
 *   load      into a freshly created instance, from a record save wrote;
 *             on failure the device is as it was and the reader names the
 *             field; never half-applied
 *   busy      requests it handed to its backends not completed yet: a
 *             pause lets them finish before it answers (optional)
 *   quiesce   stop touching guest RAM until unquiesce, the data paths
 *             outside iovirt included (vhost rings taken back): a snapshot
 *             holds every device so while it saves RAM; nests (optional)
 *   dirty_log while on, have the guest RAM that something outside iovirt
 *             writes for the device (vhost-net) marked in the guest_mem
 *             log (core/guest_mem_log.h); -ENOTSUP for a device whose
 *             writes cannot be seen (a passed-through function, a
 *             vhost-user backend without LOG_SHMFD), which a migration
 *             refuses: turning it
 *             off answers that too, so it is the probe (optional: a device
 *             that writes through iovirt's own models marks as it writes)
 *   announce  after a migration, tell the network where the guest is now
 *             (a NIC: a RARP from its MAC address, as QEMU sends)
 *             (optional)
 *   destroy   stop, free everything, the struct device included
 *
 * The model gets from the struct device to itself with container_of: one
 * way, for every device. */
#ifndef IOVIRT_CORE_DEVICE_H
#define IOVIRT_CORE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/counters.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct device;
struct state_writer;
struct state_reader;

struct device_ops {
	const char *kind;    /* "serial", "nvme", "virtio-blk", "vfio-pci", ... */
	void (*reset)(struct device *dev);
	void (*counters)(struct device *dev, const struct counter_sink *sink);
	/* 0, or -errno after one line (a device that cannot save says why:
	 * a passed-through function's state is in the hardware). */
	int (*save)(struct device *dev, struct state_writer *w);
	/* 0, or -EINVAL with the error in r (state_error). */
	int (*load)(struct device *dev, struct state_reader *r);
	bool (*busy)(struct device *dev);
	/* 0 or -errno (after one line); unquiesce is due either way. */
	int (*quiesce)(struct device *dev);
	void (*unquiesce)(struct device *dev);
	/* 0, or -ENOTSUP (one line in why) / -errno. */
	int (*dirty_log)(struct device *dev, bool on, char *why, size_t why_len);
	void (*announce)(struct device *dev);
	void (*destroy)(struct device *dev);
};

#define DEVICE_ID_MAX 24

struct device {
	const struct device_ops *ops;
	char id[DEVICE_ID_MAX];        /* this instance: "serial0", "nvme1", "virtio-blk0" */
	struct dev_counters counters;  /* the device's own (queues keep theirs) */
};

/* Sets ops and the instance name (truncated to DEVICE_ID_MAX - 1). */
void device_init(struct device *dev, const struct device_ops *ops, const char *id);

static inline void device_reset(struct device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
}

/* The device's counters; a device without a counters op emits its
 * struct device counters. */
void device_counters(struct device *dev, const struct counter_sink *sink);

/* save/load through the ops, -ENOTSUP (with one line) where a kind has
 * none. */
int device_save(struct device *dev, struct state_writer *w);
int device_load(struct device *dev, struct state_reader *r);

/* save/load ops for a device with no state of its own: an empty section,
 * so that a snapshot lists it like any other. */
int device_save_stateless(struct device *dev, struct state_writer *w);
int device_load_stateless(struct device *dev, struct state_reader *r);

static inline bool device_busy(struct device *dev)
{
	return dev->ops->busy && dev->ops->busy(dev);
}

static inline int device_quiesce(struct device *dev)
{
	return dev->ops->quiesce ? dev->ops->quiesce(dev) : 0;
}

static inline void device_unquiesce(struct device *dev)
{
	if (dev->ops->unquiesce)
		dev->ops->unquiesce(dev);
}

static inline int device_dirty_log(struct device *dev, bool on, char *why, size_t why_len)
{
	return dev->ops->dirty_log ? dev->ops->dirty_log(dev, on, why, why_len) : 0;
}

static inline void device_announce(struct device *dev)
{
	if (dev->ops->announce)
		dev->ops->announce(dev);
}

static inline void device_destroy(struct device *dev)
{
	if (dev)
		dev->ops->destroy(dev);
}

#endif
