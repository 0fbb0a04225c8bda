/* The one guest-physical → host translation: bounds at every edge, overflow,
 * gaps, no spanning of regions, the copy helpers, and the PCI-hole layout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/guest_mem.h"
#include "core/guest_mem_log.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static uint8_t ram_a[8192], ram_b[4096], ram_c[4096];

/* a: [0x10000, 0x12000), b: [0x12000, 0x13000) adjacent to a,
 * c: [0x20000, 0x21000) after a gap. */
static void three_regions(struct guest_mem *mem)
{
	guest_mem_init_empty(mem);
	assert_int_equal(mem->memfd, -1);
	assert_int_equal(guest_mem_add_region(mem, 0x10000, ram_a, sizeof(ram_a)), 0);
	assert_int_equal(guest_mem_add_region(mem, 0x12000, ram_b, sizeof(ram_b)), 0);
	assert_int_equal(guest_mem_add_region(mem, 0x20000, ram_c, sizeof(ram_c)), 0);
	assert_int_equal(mem->nr_regions, 3);
	assert_int_equal(mem->ram_size, sizeof(ram_a) + sizeof(ram_b) + sizeof(ram_c));
}

static void test_ptr_bounds(void **state)
{
	struct guest_mem mem;
	three_regions(&mem);
	assert_ptr_equal(guest_mem_ptr(&mem, 0x10000, 1), ram_a);
	assert_ptr_equal(guest_mem_ptr(&mem, 0x10000, sizeof(ram_a)), ram_a);
	assert_ptr_equal(guest_mem_ptr(&mem, 0x10123, 16), ram_a + 0x123);
	assert_ptr_equal(guest_mem_ptr(&mem, 0x11fff, 1), ram_a + 0x1fff); /* last byte */
	assert_ptr_equal(guest_mem_ptr(&mem, 0x11ff8, 8), ram_a + 0x1ff8); /* ends exactly */
	assert_ptr_equal(guest_mem_ptr(&mem, 0x10010, 0), ram_a + 0x10);   /* empty, inside */
	assert_null(guest_mem_ptr(&mem, 0x11ff9, 8));      /* one byte past a's end */
	assert_null(guest_mem_ptr(&mem, 0x10000, sizeof(ram_a) + 1));
	assert_null(guest_mem_ptr(&mem, 0xffff, 1));       /* just below a */
	assert_null(guest_mem_ptr(&mem, 0xffff, 2));       /* straddles a's start */
	assert_null(guest_mem_ptr(&mem, 0, 0x20000));      /* covers everything from 0 */
	/* One past the end of b (nothing adjacent above): no pointer, even empty. */
	assert_null(guest_mem_ptr(&mem, 0x13000, 1));
	assert_null(guest_mem_ptr(&mem, 0x13000, 0));
	assert_ptr_equal(guest_mem_ptr(&mem, 0x12fff, 1), ram_b + 0xfff);
	assert_ptr_equal(guest_mem_ptr(&mem, 0x12000, 0x1000), ram_b);
	/* Nothing in the gap. */
	assert_null(guest_mem_ptr(&mem, 0x18000, 1));
	assert_null(guest_mem_ptr(&mem, 0x1ffff, 1));
	assert_null(guest_mem_ptr(&mem, 0x1ffff, 2));
	assert_ptr_equal(guest_mem_ptr(&mem, 0x20000, 1), ram_c);
	/* a and b are adjacent, but no access may span them. */
	assert_null(guest_mem_ptr(&mem, 0x11fff, 2));
	assert_null(guest_mem_ptr(&mem, 0x10000, sizeof(ram_a) + sizeof(ram_b)));
	assert_null(guest_mem_ptr(&mem, 0x11000, 0x2000));
}

static void test_ptr_overflow(void **state)
{
	struct guest_mem mem;
	three_regions(&mem);
	/* gpa + len wraps to a small value that lies inside a. */
	assert_null(guest_mem_ptr(&mem, 0x10000, UINT64_MAX));
	assert_null(guest_mem_ptr(&mem, 0x10010, UINT64_MAX - 0xf));
	assert_null(guest_mem_ptr(&mem, 0x10010, UINT64_MAX - 0x8));
	assert_null(guest_mem_ptr(&mem, 0x11fff, (uint64_t)-0x11fff + 0x10001));
	assert_null(guest_mem_ptr(&mem, 0x10000, 1ULL << 63));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX, 1));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX, 0x10001));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX - 0xffff, 0x10010));

	/* A region that would run past 2^64 is refused (the table has room). */
	assert_int_equal(guest_mem_add_region(&mem, UINT64_MAX - 10, ram_c, 4096), -EINVAL);
	assert_int_equal(mem.nr_regions, 3);
	/* A region near the top of the address space. */
	static uint8_t top[4096];
	uint64_t top_gpa = UINT64_MAX - 2 * 4096 + 1;
	assert_int_equal(guest_mem_add_region(&mem, top_gpa, top, sizeof(top)), 0);
	assert_ptr_equal(guest_mem_ptr(&mem, top_gpa + 4095, 1), top + 4095);
	assert_null(guest_mem_ptr(&mem, top_gpa + 4095, 2));
	assert_null(guest_mem_ptr(&mem, top_gpa + 16, UINT64_MAX));
	assert_null(guest_mem_ptr(&mem, top_gpa + 4096, 1));
}

static void test_add_region_rules(void **state)
{
	struct guest_mem mem;
	three_regions(&mem);
	assert_int_equal(guest_mem_add_region(&mem, 0x10000, ram_c, 1), -EEXIST);
	assert_int_equal(guest_mem_add_region(&mem, 0xf000, ram_c, 0x1001), -EEXIST);
	assert_int_equal(guest_mem_add_region(&mem, 0x12fff, ram_c, 0x10), -EEXIST);
	assert_int_equal(guest_mem_add_region(&mem, 0x0, ram_c, 0x100000), -EEXIST);
	assert_int_equal(guest_mem_add_region(&mem, 0x1f000, ram_c, 0x1001), -EEXIST);
	assert_int_equal(guest_mem_add_region(&mem, 0x30000, ram_c, 0), -EINVAL);
	assert_int_equal(mem.nr_regions, 3);
	assert_int_equal(mem.ram_size, 16384);
	/* Touching is not overlapping; then the table is full. */
	assert_int_equal(guest_mem_add_region(&mem, 0x1f000, ram_c, 0x1000), 0);
	assert_int_equal(mem.nr_regions, GUEST_MEM_MAX_REGIONS);
	assert_int_equal(guest_mem_add_region(&mem, 0x40000, ram_c, 0x1000), -EINVAL);
	assert_int_equal(mem.ram_size, 20480);
}

static void test_read_write(void **state)
{
	struct guest_mem mem;
	three_regions(&mem);
	memset(ram_a, 0, sizeof(ram_a));
	const uint8_t msg[5] = {1, 2, 3, 4, 5};
	assert_int_equal(guest_mem_write(&mem, 0x11ffb, msg, sizeof(msg)), 0);
	assert_memory_equal(ram_a + 0x1ffb, msg, sizeof(msg));
	uint8_t back[5] = {0};
	assert_int_equal(guest_mem_read(&mem, 0x11ffb, back, sizeof(back)), 0);
	assert_memory_equal(back, msg, sizeof(msg));

	/* Failures copy nothing. */
	uint8_t canary[8];
	memset(canary, 0xcc, sizeof(canary));
	memset(ram_b, 0, sizeof(ram_b));
	assert_int_equal(guest_mem_write(&mem, 0x11ffc, msg, sizeof(msg)), -EFAULT);
	assert_int_equal(ram_a[0x1ffc], 2); /* still the earlier write */
	assert_int_equal(ram_b[0], 0);
	assert_int_equal(guest_mem_read(&mem, 0x11ffc, canary, 5), -EFAULT);
	assert_int_equal(canary[0], 0xcc);
	assert_int_equal(guest_mem_read(&mem, 0x18000, canary, 1), -EFAULT);
	assert_int_equal(guest_mem_write(&mem, 0x13000, msg, 1), -EFAULT);
	assert_int_equal(guest_mem_read(&mem, UINT64_MAX, canary, 2), -EFAULT);
	assert_int_equal(canary[0], 0xcc);
}

static void test_init_split(void **state)
{
	struct guest_mem mem;
	uint64_t size = 3 * GiB + 512 * MiB;
	int ret = guest_mem_init(&mem, size, GUEST_MEM_SHARED);
	if (ret == -ENOMEM || ret == -ENOSPC) /* a host without the address space */
		skip();
	assert_int_equal(ret, 0);
	assert_true(mem.memfd >= 0);
	assert_int_equal(mem.ram_size, size);
	assert_int_equal(mem.mapping_size, size);
	assert_int_equal(mem.nr_regions, 2);
	assert_int_equal(mem.regions[0].gpa, 0);
	assert_int_equal(mem.regions[0].size, GUEST_MEM_PCI_HOLE_START);
	assert_ptr_equal(mem.regions[0].hva, mem.mapping);
	assert_int_equal(mem.regions[1].gpa, GUEST_MEM_4G);
	assert_int_equal(mem.regions[1].size, size - GUEST_MEM_PCI_HOLE_START);
	assert_ptr_equal(mem.regions[1].hva, (uint8_t *)mem.mapping + GUEST_MEM_PCI_HOLE_START);

	/* The hole is not RAM; both sides of it are, backed contiguously. */
	assert_non_null(guest_mem_ptr(&mem, GUEST_MEM_PCI_HOLE_START - 1, 1));
	assert_null(guest_mem_ptr(&mem, GUEST_MEM_PCI_HOLE_START - 1, 2));
	assert_null(guest_mem_ptr(&mem, GUEST_MEM_PCI_HOLE_START, 1));
	assert_null(guest_mem_ptr(&mem, GUEST_MEM_4G - 1, 1));
	uint32_t v = 0x12345678;
	assert_int_equal(guest_mem_write(&mem, GUEST_MEM_4G, &v, sizeof(v)), 0);
	uint32_t w;
	memcpy(&w, (uint8_t *)mem.mapping + GUEST_MEM_PCI_HOLE_START, sizeof(w));
	assert_int_equal(w, v);
	assert_non_null(guest_mem_ptr(&mem, GUEST_MEM_4G + 512 * MiB - 4, 4));
	assert_null(guest_mem_ptr(&mem, GUEST_MEM_4G + 512 * MiB - 4, 5));

	guest_mem_destroy(&mem);
	assert_int_equal(mem.nr_regions, 0);
	assert_int_equal(mem.memfd, -1);
	assert_null(mem.mapping);
	assert_null(guest_mem_ptr(&mem, 0, 1));
}

static void test_init_small(void **state)
{
	struct guest_mem mem;
	assert_int_equal(guest_mem_init(&mem, 0, GUEST_MEM_ANON), -EINVAL);
	assert_int_equal(mem.nr_regions, 0);
	guest_mem_destroy(&mem); /* harmless on a failed init */

	/* Exactly up to the hole: one region, nothing above 4 GiB. */
	int ret = guest_mem_init(&mem, GUEST_MEM_PCI_HOLE_START, GUEST_MEM_ANON);
	if (ret == -ENOMEM || ret == -ENOSPC)
		skip();
	assert_int_equal(ret, 0);
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(mem.regions[0].size, GUEST_MEM_PCI_HOLE_START);
	assert_null(guest_mem_ptr(&mem, GUEST_MEM_4G, 1));
	guest_mem_destroy(&mem);

	assert_int_equal(guest_mem_init(&mem, 64 * MiB, GUEST_MEM_ANON), 0);
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(mem.ram_size, 64 * MiB);
	uint8_t *p = guest_mem_ptr(&mem, 64 * MiB - 1, 1);
	assert_non_null(p);
	assert_int_equal(*p, 0); /* fresh RAM reads zero */
	assert_null(guest_mem_ptr(&mem, 64 * MiB, 1));
	guest_mem_destroy(&mem);
}

/* RAM starts on a 2 MiB boundary (KVM can then map THP pages whole), for
 * private and shared backings, and every byte of it is usable. */
static void test_init_aligned(void **state)
{
	enum guest_mem_backing kinds[] = {GUEST_MEM_ANON, GUEST_MEM_SHARED};
	for (unsigned k = 0; k < 2; k++) {
		for (int round = 0; round < 4; round++) {
			struct guest_mem mem;
			uint64_t size = 6 * MiB + (uint64_t)round * 4096 * 3;
			assert_int_equal(guest_mem_init(&mem, size, kinds[k]), 0);
			assert_int_equal((uintptr_t)mem.regions[0].hva % (2 * MiB), 0);
			uint8_t *last = guest_mem_ptr(&mem, size - 1, 1);
			assert_non_null(last);
			*last = 0x5a;
			*mem.regions[0].hva = 0xa5;
			guest_mem_destroy(&mem);
		}
	}
}

/* The log of iovirt's own writes (issue 22): off, nothing is marked; on,
 * guest_mem_write and the explicit marks set exactly the pages written
 * (by guest-physical page), hva marks find their region, a take clears
 * the word it returns, and a restart starts clear. */
static void test_dirty_log_marks(void **state)
{
	struct guest_mem mem;
	three_regions(&mem);
	uint8_t b[2] = {1, 2};
	assert_int_equal(guest_mem_write(&mem, 0x10000, b, 2), 0);
	assert_false(guest_mem_logging(&mem));
	assert_int_equal(guest_mem_log_start(&mem), 0);
	assert_true(guest_mem_logging(&mem));
	size_t bytes;
	assert_non_null(guest_mem_log_bitmap(&mem, &bytes));
	assert_int_equal(bytes, 8 * ((0x21 + 63) / 64)); /* up to the last page, 0x20 */
	assert_int_equal(guest_mem_log_take(&mem, 0), 0); /* the write before: not in it */

	assert_int_equal(guest_mem_write(&mem, 0x10ffe, b, 2), 0);  /* page 0x10 */
	assert_int_equal(guest_mem_write(&mem, 0x11fff, b, 2), -EFAULT); /* spans a, b */
	guest_mem_mark_hva(&mem, ram_b + 0xfff, 1);                  /* page 0x12 */
	guest_mem_mark(&mem, 0x20000, 0x1000);                        /* page 0x20 */
	guest_mem_mark_hva(&mem, b, 1);                               /* not RAM */
	assert_int_equal(guest_mem_log_take(&mem, 0),
			 (1ULL << 0x10) | (1ULL << 0x12) | (1ULL << 0x20));
	assert_int_equal(guest_mem_log_take(&mem, 0), 0);
	assert_int_equal(guest_mem_log_take(&mem, 64), 0); /* past the last page */

	guest_mem_mark(&mem, 0x10800, 0x1000); /* straddles pages 0x10 and 0x11 */
	guest_mem_log_stop(&mem);
	guest_mem_mark(&mem, 0x12000, 1);      /* off again: not marked */
	assert_int_equal(guest_mem_log_take(&mem, 0), (1ULL << 0x10) | (1ULL << 0x11));
	guest_mem_mark(&mem, 0x12000, 1);
	assert_int_equal(guest_mem_log_start(&mem), 0);
	assert_int_equal(guest_mem_log_take(&mem, 0), 0);
	guest_mem_log_free(&mem);
	assert_false(guest_mem_logging(&mem));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_dirty_log_marks),
		cmocka_unit_test(test_ptr_overflow),
		cmocka_unit_test(test_add_region_rules),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_init_split),
		cmocka_unit_test(test_init_small),
		cmocka_unit_test(test_init_aligned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
