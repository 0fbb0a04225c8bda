/* kvm/coalesced_mmio.c: replaying KVM's ring of buffered writes, on a ring
 * page made here (KVM fills the real one; the guest picks the addresses
 * and data within a zone, the kernel the indices). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/kvm.h>

#include "bus/iobus.h"
#include "kvm/coalesced_mmio.h"

#define RING_ENTRIES \
	((uint32_t)((4096 - sizeof(struct kvm_coalesced_mmio_ring)) / sizeof(struct kvm_coalesced_mmio)))
#define BASE 0xd0000000u

struct seen {
	unsigned n;
	uint64_t offset[RING_ENTRIES + 4];
	uint64_t value[RING_ENTRIES + 4];
	unsigned len[RING_ENTRIES + 4];
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct seen *s = opaque;
	if (s->n >= RING_ENTRIES + 4)
		return;
	s->offset[s->n] = offset;
	s->value[s->n] = iobus_load_le(data, len);
	s->len[s->n++] = len;
}

static const struct iobus_ops rec_ops = {.read = rec_read, .write = rec_write};

struct fixture {
	_Alignas(4096) uint8_t page[4096];
	struct kvm_coalesced_mmio_ring *ring;
	struct iobus *mmio, *pio;
	struct seen mmio_seen, pio_seen;
	struct coalesced_mmio c;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	f.ring = (struct kvm_coalesced_mmio_ring *)f.page;
	f.mmio = iobus_create("mmio");
	f.pio = iobus_create("pio");
	assert_int_equal(iobus_register(f.mmio, BASE, 0x20000, &rec_ops, &f.mmio_seen), 0);
	assert_int_equal(iobus_register(f.pio, 0x500, 8, &rec_ops, &f.pio_seen), 0);
	coalesced_mmio_init(&f.c);
	coalesced_mmio_attach(&f.c, -1, f.ring, f.mmio, f.pio);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	coalesced_mmio_destroy(&f->c);
	iobus_destroy(f->mmio);
	iobus_destroy(f->pio);
	return 0;
}

/* What KVM does for a guest write: the entry, then last moves on. */
static void kvm_appends(struct fixture *f, uint64_t addr, uint64_t value, uint32_t len,
			bool pio)
{
	struct kvm_coalesced_mmio *w = &f->ring->coalesced_mmio[f->ring->last];
	w->phys_addr = addr;
	w->len = len;
	w->pio = pio;
	memcpy(w->data, &value, sizeof(w->data));
	f->ring->last = (f->ring->last + 1) % RING_ENTRIES;
}

static void test_replays_in_order(void **state)
{
	struct fixture *f = *state;
	kvm_appends(f, BASE + 0x2818, 7, 4, false);
	kvm_appends(f, BASE + 0x2818, 9, 4, false);
	kvm_appends(f, 0x504, 0xab, 1, true);
	kvm_appends(f, BASE + 0x10, 0x1122334455667788ull, 8, false);
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->ring->first, 4);
	assert_int_equal(f->ring->last, 4);
	assert_int_equal(f->c.writes, 4);
	assert_int_equal(f->mmio_seen.n, 3);
	assert_int_equal(f->mmio_seen.offset[0], 0x2818);
	assert_int_equal(f->mmio_seen.value[0], 7);
	assert_int_equal(f->mmio_seen.value[1], 9);
	assert_int_equal(f->mmio_seen.offset[2], 0x10);
	assert_int_equal(f->mmio_seen.len[2], 8);
	assert_int_equal(f->mmio_seen.value[2], 0x1122334455667788ull);
	assert_int_equal(f->pio_seen.n, 1);
	assert_int_equal(f->pio_seen.offset[0], 4);
	assert_int_equal(f->pio_seen.value[0], 0xab);
	/* An empty ring: nothing more. */
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->c.writes, 4);
}

static void test_wraps_round_the_page(void **state)
{
	struct fixture *f = *state;
	f->ring->first = f->ring->last = RING_ENTRIES - 2;
	for (uint64_t v = 1; v <= 5; v++)
		kvm_appends(f, BASE + 0x2818, v, 4, false);
	assert_int_equal(f->ring->last, 3);
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->ring->first, 3);
	assert_int_equal(f->mmio_seen.n, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(f->mmio_seen.value[i], i + 1);
}

/* A full ring (KVM exits for the next write) is replayed whole. */
static void test_full_ring(void **state)
{
	struct fixture *f = *state;
	for (uint32_t i = 0; i < RING_ENTRIES - 1; i++)
		kvm_appends(f, BASE + 0x2818, i, 4, false);
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->mmio_seen.n, RING_ENTRIES - 1);
	assert_int_equal(f->mmio_seen.value[RING_ENTRIES - 2], RING_ENTRIES - 2);
	assert_int_equal(f->ring->first, f->ring->last);
}

/* What the page holds is not trusted: a length past the data is cut to
 * it, an index outside the ring stops the replay. */
static void test_damaged_ring(void **state)
{
	struct fixture *f = *state;
	kvm_appends(f, BASE + 0x2818, 5, 4000, false);
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->mmio_seen.n, 1);
	assert_int_equal(f->mmio_seen.len[0], 8);

	f->ring->last = RING_ENTRIES + 100;
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->mmio_seen.n, 1);
	f->ring->first = 0xffffffffu;
	f->ring->last = 3;
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->mmio_seen.n, 1);
	/* A write outside every device is counted by the bus, not replayed
	 * anywhere. */
	f->ring->first = f->ring->last = 0;
	kvm_appends(f, 0x1000, 1, 4, false);
	coalesced_mmio_drain(&f->c);
	assert_int_equal(f->mmio_seen.n, 1);
	assert_int_equal(iobus_unclaimed_count(f->mmio), 1);
}

static void test_no_ring_no_zones(void **state)
{
	(void)state;
	struct coalesced_mmio c;
	coalesced_mmio_init(&c);
	assert_int_equal(coalesced_mmio_zone(&c, BASE, 4, true), -ENOTSUP);
	assert_int_equal(coalesced_mmio_zone(NULL, BASE, 4, true), -ENOTSUP);
	coalesced_mmio_drain(&c); /* nothing to do, nothing touched */
	coalesced_mmio_destroy(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replays_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wraps_round_the_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_ring, setup, teardown),
		cmocka_unit_test(test_no_ring_no_zones),
	};
	return cmocka_run_group_tests_name("coalesced mmio", tests, NULL, NULL);
}
