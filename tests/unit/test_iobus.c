/* Range dispatch: registration rules, offsets handed to devices, unclaimed
 * accesses (all-ones, counted), removal, and ranges at the 64-bit edges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus/iobus.h"

/* A device that records its last access and reads back id:offset. */
struct dev {
	unsigned id;
	unsigned reads, writes;
	uint64_t last_off;
	unsigned last_len;
	uint8_t last_data[8];
};

static void dev_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct dev *d = opaque;
	d->reads++;
	d->last_off = offset;
	d->last_len = len;
	iobus_store_le(data, len, ((uint64_t)d->id << 32) | (uint32_t)offset);
}

static void dev_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct dev *d = opaque;
	d->writes++;
	d->last_off = offset;
	d->last_len = len;
	memcpy(d->last_data, data, len);
}

static const struct iobus_ops dev_ops = {.read = dev_read, .write = dev_write};
static const struct iobus_ops no_ops = {0};

static uint64_t rd(struct iobus *bus, uint64_t addr, unsigned len, bool *hit)
{
	uint8_t data[8];
	memset(data, 0x11, sizeof(data));
	*hit = iobus_read(bus, addr, data, len);
	return iobus_load_le(data, len);
}

static void expect_unclaimed_read(struct iobus *bus, uint64_t addr, unsigned len)
{
	uint64_t before = iobus_unclaimed_count(bus);
	bool hit;
	uint64_t v = rd(bus, addr, len, &hit);
	assert_false(hit);
	assert_int_equal(v, len == 8 ? UINT64_MAX : (1ULL << (8 * len)) - 1);
	assert_int_equal(iobus_unclaimed_count(bus), before + 1);
}

static void test_register_rules(void **state)
{
	struct iobus *bus = iobus_create("test");
	assert_non_null(bus);
	struct dev d = {0};
	assert_int_equal(iobus_register(bus, 0x100, 0x10, &dev_ops, &d), 0);
	/* Overlaps at the start, at the end, inside, around, identical. */
	assert_int_equal(iobus_register(bus, 0xf8, 0x9, &dev_ops, &d), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x10f, 0x1, &dev_ops, &d), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x104, 0x2, &dev_ops, &d), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x0, 0x1000, &dev_ops, &d), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x100, 0x10, &dev_ops, &d), -EEXIST);
	/* Touching ranges are fine on both sides. */
	assert_int_equal(iobus_register(bus, 0xf0, 0x10, &dev_ops, &d), 0);
	assert_int_equal(iobus_register(bus, 0x110, 0x10, &dev_ops, &d), 0);
	/* Empty, wrapping, no ops. */
	assert_int_equal(iobus_register(bus, 0x200, 0, &dev_ops, &d), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX - 3, 5, &dev_ops, &d), -EINVAL);
	assert_int_equal(iobus_register(bus, 2, UINT64_MAX, &dev_ops, &d), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX, 2, &dev_ops, &d), -EINVAL);
	assert_int_equal(iobus_register(bus, 0x200, 4, NULL, &d), -EINVAL);
	/* Unregister needs the exact base. */
	assert_int_equal(iobus_unregister(bus, 0x104), -ENOENT);
	assert_int_equal(iobus_unregister(bus, 0x300), -ENOENT);
	assert_int_equal(iobus_unregister(bus, 0x100), 0);
	assert_int_equal(iobus_unregister(bus, 0x100), -ENOENT);
	/* The freed space can be claimed again. */
	assert_int_equal(iobus_register(bus, 0x104, 4, &dev_ops, &d), 0);
	iobus_destroy(bus);
	iobus_destroy(NULL);
}

static void test_dispatch(void **state)
{
	struct iobus *bus = iobus_create("test");
	struct dev a = {.id = 1}, b = {.id = 2};
	assert_int_equal(iobus_register(bus, 0x3f8, 8, &dev_ops, &a), 0);
	assert_int_equal(iobus_register(bus, 0x400, 0x100, &dev_ops, &b), 0);

	bool hit;
	assert_int_equal(rd(bus, 0x3fd, 1, &hit), 5);
	assert_true(hit);
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.last_off, 5);
	assert_int_equal(a.last_len, 1);
	assert_int_equal(rd(bus, 0x3f8, 8, &hit), (1ULL << 32) | 0);
	assert_true(hit);
	assert_int_equal(rd(bus, 0x4fc, 4, &hit), 0xfc);
	assert_true(hit);
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.last_off, 0xfc);
	assert_int_equal(rd(bus, 0x400, 8, &hit), (2ULL << 32) | 0);
	assert_int_equal(b.reads, 2);

	const uint8_t w[4] = {0xde, 0xad, 0xbe, 0xef};
	assert_true(iobus_write(bus, 0x402, w, 2));
	assert_int_equal(b.writes, 1);
	assert_int_equal(b.last_off, 2);
	assert_int_equal(b.last_len, 2);
	assert_memory_equal(b.last_data, w, 2);
	assert_int_equal(a.writes, 0);
	assert_int_equal(iobus_unclaimed_count(bus), 0);
	iobus_destroy(bus);
}

static void test_unclaimed(void **state)
{
	struct iobus *bus = iobus_create("test");
	struct dev a = {.id = 1}, b = {.id = 2};
	assert_int_equal(iobus_register(bus, 0x3f8, 8, &dev_ops, &a), 0);
	assert_int_equal(iobus_register(bus, 0x400, 8, &dev_ops, &b), 0);

	expect_unclaimed_read(bus, 0x3f7, 1);   /* just below */
	expect_unclaimed_read(bus, 0x3f6, 4);   /* straddles the start */
	expect_unclaimed_read(bus, 0x3fe, 4);   /* straddles the end */
	expect_unclaimed_read(bus, 0x3fc, 8);   /* end of a, into the gap */
	expect_unclaimed_read(bus, 0x3ff, 2);   /* last byte of a and the gap */
	expect_unclaimed_read(bus, 0x406, 4);   /* straddles b's end */
	expect_unclaimed_read(bus, 0x500, 8);   /* above everything */
	assert_int_equal(a.reads + b.reads, 0);

	const uint8_t w[8] = {0};
	assert_false(iobus_write(bus, 0x3fe, w, 4));
	assert_false(iobus_write(bus, 0x0, w, 1));
	assert_int_equal(a.writes + b.writes, 0);
	assert_int_equal(iobus_unclaimed_count(bus), 9);

	/* The last byte of a range is still claimed. */
	bool hit;
	assert_int_equal(rd(bus, 0x3ff, 1, &hit), 7);
	assert_true(hit);
	assert_int_equal(iobus_unclaimed_count(bus), 9);

	/* Gone once unregistered. */
	assert_int_equal(iobus_unregister(bus, 0x3f8), 0);
	expect_unclaimed_read(bus, 0x3ff, 1);
	assert_false(iobus_write(bus, 0x3f8, w, 1));
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.writes, 0);
	assert_int_equal(rd(bus, 0x400, 1, &hit), 0); /* b unaffected */
	assert_true(hit);
	iobus_destroy(bus);
}

static void test_bad_lengths(void **state)
{
	struct iobus *bus = iobus_create("test");
	struct dev a = {.id = 1};
	assert_int_equal(iobus_register(bus, 0, 0x1000, &dev_ops, &a), 0);
	uint8_t data[16];
	memset(data, 0x11, sizeof(data));
	assert_false(iobus_read(bus, 0x10, data, 0));
	assert_int_equal(data[0], 0x11); /* nothing written for len 0 */
	assert_false(iobus_read(bus, 0x10, data, 16));
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(data[8], 0x11); /* never more than 8 bytes */
	assert_false(iobus_write(bus, 0x10, data, 0));
	assert_false(iobus_write(bus, 0x10, data, 9));
	assert_int_equal(a.reads + a.writes, 0);
	assert_int_equal(iobus_unclaimed_count(bus), 4);
	/* Odd sizes within 1..8 reach the device. */
	assert_true(iobus_read(bus, 0x10, data, 3));
	assert_int_equal(a.last_len, 3);
	iobus_destroy(bus);
}

static void test_no_callbacks(void **state)
{
	struct iobus *bus = iobus_create("test");
	assert_int_equal(iobus_register(bus, 0x80, 1, &no_ops, NULL), 0);
	bool hit;
	/* Claimed (not counted) even without handlers; reads are all-ones. */
	assert_int_equal(rd(bus, 0x80, 1, &hit), 0xff);
	assert_true(hit);
	uint8_t v = 0x42;
	assert_true(iobus_write(bus, 0x80, &v, 1));
	assert_int_equal(iobus_unclaimed_count(bus), 0);
	iobus_destroy(bus);
}

static void test_many_ranges(void **state)
{
	enum { N = 200 };
	struct iobus *bus = iobus_create("test");
	static struct dev devs[N];
	unsigned order[N];
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	srand(12345);
	for (unsigned i = N - 1; i > 0; i--) { /* Fisher-Yates */
		unsigned j = (unsigned)rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Range i: [0x1000 * i, +0x800), registered in shuffled order. */
	for (unsigned k = 0; k < N; k++) {
		unsigned i = order[k];
		devs[i] = (struct dev){.id = i};
		assert_int_equal(iobus_register(bus, 0x1000ULL * i, 0x800, &dev_ops, &devs[i]), 0);
	}
	for (unsigned i = 0; i < N; i++) {
		bool hit;
		uint64_t v = rd(bus, 0x1000ULL * i + 0x7fc, 4, &hit);
		assert_true(hit);
		assert_int_equal(v, 0x7fc); /* 4-byte read: offset only */
		assert_int_equal(devs[i].reads, 1);
		assert_int_equal(rd(bus, 0x1000ULL * i, 8, &hit), ((uint64_t)i << 32));
		assert_true(hit);
		expect_unclaimed_read(bus, 0x1000ULL * i + 0x800, 1);
		expect_unclaimed_read(bus, 0x1000ULL * i + 0xfff, 1);
		/* Overlap detection still works deep inside the array. */
		assert_int_equal(iobus_register(bus, 0x1000ULL * i + 0x7ff, 0x802, &dev_ops, NULL),
				 -EEXIST);
	}
	/* Remove the even ones; odd ones still dispatch. */
	for (unsigned i = 0; i < N; i += 2)
		assert_int_equal(iobus_unregister(bus, 0x1000ULL * i), 0);
	for (unsigned i = 0; i < N; i++) {
		bool hit;
		rd(bus, 0x1000ULL * i + 1, 1, &hit);
		assert_int_equal(hit, i % 2 == 1);
	}
	iobus_destroy(bus);
}

static void test_top_of_address_space(void **state)
{
	struct iobus *bus = iobus_create("test");
	struct dev top = {.id = 7}, low = {.id = 8};
	/* Ends exactly at 2^64 - 1: not a wrap. */
	assert_int_equal(iobus_register(bus, UINT64_MAX - 0xf, 0x10, &dev_ops, &top), 0);
	assert_int_equal(iobus_register(bus, 0, 0x10, &dev_ops, &low), 0);
	assert_int_equal(iobus_register(bus, UINT64_MAX, 1, &dev_ops, &top), -EEXIST);
	bool hit;
	assert_int_equal(rd(bus, UINT64_MAX - 7, 8, &hit), (7ULL << 32) | 8);
	assert_true(hit);
	assert_int_equal(rd(bus, UINT64_MAX, 1, &hit), 0xf);
	assert_true(hit);
	/* Accesses that would wrap past 2^64 are unclaimed, not sent to low. */
	expect_unclaimed_read(bus, UINT64_MAX, 2);
	expect_unclaimed_read(bus, UINT64_MAX - 3, 8);
	assert_int_equal(low.reads, 0);
	assert_int_equal(iobus_unregister(bus, UINT64_MAX - 0xf), 0);
	expect_unclaimed_read(bus, UINT64_MAX, 1);
	/* A single-byte range at the very top. */
	assert_int_equal(iobus_register(bus, UINT64_MAX, 1, &dev_ops, &top), 0);
	assert_int_equal(rd(bus, UINT64_MAX, 1, &hit), 0);
	assert_true(hit);
	/* A range covering the whole space minus one byte. */
	struct iobus *all = iobus_create("all");
	assert_int_equal(iobus_register(all, 1, UINT64_MAX, &dev_ops, &low), 0);
	assert_int_equal(rd(all, UINT64_MAX - 7, 8, &hit), (8ULL << 32) | (uint32_t)(UINT64_MAX - 8));
	assert_true(hit);
	expect_unclaimed_read(all, 0, 1);
	iobus_destroy(all);
	iobus_destroy(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_rules),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_no_callbacks),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_top_of_address_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
