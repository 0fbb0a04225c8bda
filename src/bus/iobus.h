/* Port-I/O and MMIO range dispatch (docs/ARCHITECTURE.md "Buses").
 *
 * A device claims [base, base+len) with an ops table. vCPU exits are
 * dispatched by range lookup; an access that hits nothing reads as all-ones,
 * is otherwise ignored, and is counted. Lookups take a read lock, so ranges
 * can be added or removed while vCPUs run. */
#ifndef IOVIRT_BUS_IOBUS_H
#define IOVIRT_BUS_IOBUS_H

#include <stdbool.h>
#include <stdint.h>

struct iobus_ops {
	/* offset is relative to the range's base; len is 1, 2, 4 or 8; data is
	 * little-endian. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned len);
};

struct iobus;

struct iobus *iobus_create(const char *name);
void iobus_destroy(struct iobus *bus);

/* -EINVAL on an empty or wrapping range, -EEXIST if it overlaps a claimed one. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   const struct iobus_ops *ops, void *opaque);
/* Removes the range starting exactly at base; -ENOENT if there is none. */
int iobus_unregister(struct iobus *bus, uint64_t base);

/* true if a device handled the access; false (data all-ones on read) if not. */
bool iobus_read(struct iobus *bus, uint64_t addr, uint8_t *data, unsigned len);
bool iobus_write(struct iobus *bus, uint64_t addr, const uint8_t *data, unsigned len);

uint64_t iobus_unclaimed_count(const struct iobus *bus);

/* Little-endian helpers for device models. */
static inline uint64_t iobus_load_le(const uint8_t *data, unsigned len)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void iobus_store_le(uint8_t *data, unsigned len, uint64_t v)
{
	for (unsigned i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
