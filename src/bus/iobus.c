#include "bus/iobus.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct iobus_range {
	uint64_t base;
	uint64_t len;
	const struct iobus_ops *ops;
	void *opaque;
};

/* A sorted array: buses hold tens of ranges, and lookups (every exit) vastly
 * outnumber changes (BAR programming). */
struct iobus {
	const char *name;
	pthread_rwlock_t lock;
	struct iobus_range *ranges;
	size_t nr, cap;
	uint64_t unclaimed;
};

struct iobus *iobus_create(const char *name)
{
	struct iobus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return NULL;
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
	return bus;
}

void iobus_destroy(struct iobus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	free(bus->ranges);
	free(bus);
}

/* Index of the first range whose end lies above addr. */
static size_t lower_bound(const struct iobus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct iobus_range *r = &bus->ranges[mid];
		if (r->base + (r->len - 1) < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   const struct iobus_ops *ops, void *opaque)
{
	if (len == 0 || base + (len - 1) < base || !ops)
		return -EINVAL;
	int ret = 0;
	pthread_rwlock_wrlock(&bus->lock);
	size_t i = lower_bound(bus, base);
	if (i < bus->nr && bus->ranges[i].base <= base + (len - 1)) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct iobus_range *n = realloc(bus->ranges, cap * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct iobus_range){base, len, ops, opaque};
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_unregister(struct iobus *bus, uint64_t base)
{
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&bus->lock);
	size_t i = lower_bound(bus, base);
	if (i < bus->nr && bus->ranges[i].base == base) {
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nr - i - 1) * sizeof(*bus->ranges));
		bus->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* Finds the range holding all of [addr, addr+len); the caller holds the lock. */
static const struct iobus_range *find(const struct iobus *bus, uint64_t addr, unsigned len)
{
	size_t i = lower_bound(bus, addr);
	if (i >= bus->nr)
		return NULL;
	const struct iobus_range *r = &bus->ranges[i];
	if (addr < r->base)
		return NULL;
	uint64_t off = addr - r->base;
	if (len > r->len - off)
		return NULL;
	return r;
}

static bool dispatch(struct iobus *bus, uint64_t addr, uint8_t *rdata,
		     const uint8_t *wdata, unsigned len)
{
	if (len == 0 || len > 8)
		goto unclaimed;
	/* The range is copied out and the device called without the lock: a
	 * device may claim or release ranges from inside an access (a config
	 * write that enables a BAR arrives as a port or MMIO access itself),
	 * and taking the write lock under our own read lock would deadlock.
	 * Devices therefore outlive their ranges: free one only after its
	 * ranges are gone and the vCPUs are stopped (as Firecracker's bus
	 * holds an Arc to the device across the call). */
	pthread_rwlock_rdlock(&bus->lock);
	const struct iobus_range *found = find(bus, addr, len);
	struct iobus_range r = found ? *found : (struct iobus_range){0};
	pthread_rwlock_unlock(&bus->lock);
	if (found) {
		if (rdata && r.ops->read)
			r.ops->read(r.opaque, addr - r.base, rdata, len);
		else if (rdata)
			memset(rdata, 0xff, len);
		else if (r.ops->write)
			r.ops->write(r.opaque, addr - r.base, wdata, len);
		return true;
	}
unclaimed:
	__atomic_add_fetch(&bus->unclaimed, 1, __ATOMIC_RELAXED);
	if (rdata)
		memset(rdata, 0xff, len > 8 ? 8 : len);
	return false;
}

bool iobus_read(struct iobus *bus, uint64_t addr, uint8_t *data, unsigned len)
{
	return dispatch(bus, addr, data, NULL, len);
}

bool iobus_write(struct iobus *bus, uint64_t addr, const uint8_t *data, unsigned len)
{
	return dispatch(bus, addr, NULL, data, len);
}

uint64_t iobus_unclaimed_count(const struct iobus *bus)
{
	return __atomic_load_n(&bus->unclaimed, __ATOMIC_RELAXED);
}
