#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "support/drv_ring.h"

void drv_ring_init(struct drv_ring *r, struct fake_ram *ram, uint16_t size, uint64_t desc,
		uint64_t avail, uint64_t used)
{
	*r = (struct drv_ring){.ram = ram, .desc = desc, .avail = avail, .used = used, .size = size};
	memset(drv_ring_desc(r), 0, VIRTQ_DESC_BYTES(size));
	memset(drv_ring_avail(r), 0, VIRTQ_AVAIL_BYTES(size));
	memset(drv_ring_used(r), 0, VIRTQ_USED_BYTES(size));
}

struct virtq_desc *drv_ring_desc(const struct drv_ring *r)
{
	return fake_ram_ptr(r->ram, r->desc);
}

struct virtq_avail *drv_ring_avail(const struct drv_ring *r)
{
	return fake_ram_ptr(r->ram, r->avail);
}

struct virtq_used *drv_ring_used(const struct drv_ring *r)
{
	return fake_ram_ptr(r->ram, r->used);
}

uint16_t drv_ring_add(struct drv_ring *r, const struct drv_seg *s, unsigned n)
{
	struct virtq_desc *desc = drv_ring_desc(r);
	uint16_t head = r->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % r->size);
		desc[idx].addr = htole64(s[i].gpa);
		desc[idx].len = htole32(s[i].len);
		desc[idx].flags = htole16((uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)));
		desc[idx].next = htole16((uint16_t)((idx + 1) % r->size));
	}
	r->next_desc = (uint16_t)((head + n) % r->size);
	struct virtq_avail *av = drv_ring_avail(r);
	av->ring[r->avail_idx % r->size] = htole16(head);
	__atomic_store_n(&av->idx, htole16(++r->avail_idx), __ATOMIC_RELEASE);
	return head;
}

uint16_t drv_ring_used_idx(const struct drv_ring *r)
{
	return le16toh(__atomic_load_n(&drv_ring_used(r)->idx, __ATOMIC_ACQUIRE));
}

bool drv_ring_has_used(const struct drv_ring *r)
{
	return drv_ring_used_idx(r) != r->used_seen;
}

bool drv_ring_pop_used(struct drv_ring *r, uint32_t *id, uint32_t *len)
{
	if (!drv_ring_has_used(r))
		return false;
	const struct virtq_used_elem *e = &drv_ring_used(r)->ring[r->used_seen++ % r->size];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	return true;
}

void drv_ring_set_used_event(struct drv_ring *r, uint16_t v)
{
	drv_ring_avail(r)->ring[r->size] = htole16(v);
}
