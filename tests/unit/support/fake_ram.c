#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/fake_ram.h"

void fake_ram_init(struct fake_ram *ram, uint64_t size, uint64_t alloc_start)
{
	assert_true(size % 4096 == 0);
	ram->host = aligned_alloc(4096, size);
	assert_non_null(ram->host);
	memset(ram->host, 0, size);
	ram->size = size;
	ram->next = alloc_start;
	guest_mem_init_empty(&ram->mem);
	assert_int_equal(guest_mem_add_region(&ram->mem, 0, ram->host, size), 0);
}

void fake_ram_destroy(struct fake_ram *ram)
{
	free(ram->host);
	ram->host = NULL;
}

void *fake_ram_ptr(const struct fake_ram *ram, uint64_t gpa)
{
	return ram->host + gpa;
}

uint64_t fake_ram_alloc(struct fake_ram *ram, size_t len)
{
	uint64_t gpa = ram->next;
	ram->next += (len + 15) & ~15ULL;
	assert_true(ram->next <= ram->size);
	return gpa;
}
