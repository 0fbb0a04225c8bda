/* The driver's side of a split virtqueue (virtio 1.x §2.7) in fake guest
 * RAM: descriptor chains made available, used entries read back. Written
 * little-endian, as a guest would. */
#ifndef IOVIRT_TESTS_DRV_RING_H
#define IOVIRT_TESTS_DRV_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "support/fake_ram.h"
#include "virtio/virtqueue.h"

/* One buffer of a chain; write: the device writes it. */
struct drv_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct drv_ring {
	struct fake_ram *ram;
	uint64_t desc, avail, used; /* guest addresses of the three parts */
	uint16_t size;
	uint16_t next_desc;   /* the next free descriptor */
	uint16_t avail_idx;   /* the driver's avail->idx */
	uint16_t used_seen;   /* used entries consumed */
};

/* Zeroes the three parts and starts the driver's counters over. */
void drv_ring_init(struct drv_ring *r, struct fake_ram *ram, uint16_t size, uint64_t desc,
		uint64_t avail, uint64_t used);

/* Makes one chain of n direct descriptors available; returns its head. */
uint16_t drv_ring_add(struct drv_ring *r, const struct drv_seg *s, unsigned n);

struct virtq_desc *drv_ring_desc(const struct drv_ring *r);
struct virtq_avail *drv_ring_avail(const struct drv_ring *r);
struct virtq_used *drv_ring_used(const struct drv_ring *r);

/* used->idx, read with acquire. */
uint16_t drv_ring_used_idx(const struct drv_ring *r);

/* Whether the device has used entries not consumed yet. */
bool drv_ring_has_used(const struct drv_ring *r);

/* Consumes the next used entry, or returns false if there is none. */
bool drv_ring_pop_used(struct drv_ring *r, uint32_t *id, uint32_t *len);

/* Sets used_event (§2.7.10): interrupt me when used->idx passes v. */
void drv_ring_set_used_event(struct drv_ring *r, uint16_t v);

#endif
