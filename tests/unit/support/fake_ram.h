/* Fake guest RAM for device tests: one zeroed host buffer mapped at guest
 * physical 0, and a bump allocator for the driver's buffers in it. */
#ifndef IOVIRT_TESTS_FAKE_RAM_H
#define IOVIRT_TESTS_FAKE_RAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

struct fake_ram {
	struct guest_mem mem;
	uint8_t *host;
	uint64_t size;
	uint64_t next; /* the allocator's next free guest address */
};

/* size bytes (a multiple of 4 KiB), page-aligned; allocations from alloc_start. */
void fake_ram_init(struct fake_ram *ram, uint64_t size, uint64_t alloc_start);
void fake_ram_destroy(struct fake_ram *ram);

/* The host address of guest physical address gpa. */
void *fake_ram_ptr(const struct fake_ram *ram, uint64_t gpa);

/* len bytes (rounded up to 16) from the allocator; asserts they fit. */
uint64_t fake_ram_alloc(struct fake_ram *ram, size_t len);

#endif
