/* virtio-rng against fake guest RAM and real split rings (virtio 1.x §5.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/virtio_drv.h"
#include "virtio/rng.h"

#define RAM_SIZE (1u << 20)
#define DATA_GPA VIRTIO_DRV_BUF_GPA /* the test's buffers, placed by hand */

struct ctx {
	struct virtio_drv drv; /* fake RAM, fake transport, the ring */
	struct virtio_rng *rng;
	struct virtio_dev *vdev;
};

static void *hva(struct ctx *c, uint64_t gpa) { return fake_ram_ptr(&c->drv.ram, gpa); }

/* Driver side: reset, then activate with every feature and one queue. */
static void activate(struct ctx *c, uint16_t qsize)
{
	virtio_drv_reset(c->vdev);
	virtio_drv_start(&c->drv, c->vdev, c->vdev->device_features, 1, qsize);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	virtio_drv_init(&c->drv, RAM_SIZE);
	c->rng = virtio_rng_create(&c->drv.ram.mem, NULL);
	assert_non_null(c->rng);
	c->vdev = virtio_rng_dev(c->rng);
	fake_transport_attach(&c->drv.tr, c->vdev);
	activate(c, 16);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_rng_destroy(c->rng);
	virtio_drv_destroy(&c->drv);
	free(c);
	return 0;
}

static struct virtq_used *used(struct ctx *c) { return drv_ring_used(&c->drv.vq[0]); }

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_features_and_config(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(c->vdev->device_id, VIRTIO_ID_RNG);
	assert_int_equal(c->vdev->nqueues, 1);
	assert_int_equal(c->vdev->config_size, 0);
	assert_true(c->vdev->device_features & (1ULL << VIRTIO_F_VERSION_1));
}

static void test_fills_buffers(void **state)
{
	struct ctx *c = *state;
	struct drv_seg a[] = {{DATA_GPA, 64, true}, {DATA_GPA + 64, 64, true}};
	uint16_t h1 = drv_ring_add(&c->drv.vq[0], a, 2);
	struct drv_seg b = {DATA_GPA + 0x1000, 256, true};
	uint16_t h2 = drv_ring_add(&c->drv.vq[0], &b, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 2);
	assert_int_equal(used(c)->ring[0].id, h1);
	assert_int_equal(used(c)->ring[0].len, 128);
	assert_int_equal(used(c)->ring[1].id, h2);
	assert_int_equal(used(c)->ring[1].len, 256);
	assert_false(all_zero(hva(c, DATA_GPA), 64));
	assert_false(all_zero(hva(c, DATA_GPA + 64), 64));
	assert_false(all_zero(hva(c, DATA_GPA + 0x1000), 256));
	assert_true(all_zero(hva(c, DATA_GPA + 0x1000 + 256), 256));
	assert_int_equal(c->drv.tr.queue_signals, 1);
	const struct dev_counters *cnt = &c->vdev->queues[0].counters;
	assert_int_equal(counter_read(&cnt->requests), 2);
	assert_int_equal(counter_read(&cnt->bytes_out), 384);
	assert_int_equal(counter_read(&cnt->errors), 0);
}

static void test_bounded_per_chain(void **state)
{
	struct ctx *c = *state;
	struct drv_seg b = {DATA_GPA, 2 * VIRTIO_RNG_MAX_CHAIN, true};
	drv_ring_add(&c->drv.vq[0], &b, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 1);
	assert_int_equal(used(c)->ring[0].len, VIRTIO_RNG_MAX_CHAIN);
	assert_true(all_zero(hva(c, DATA_GPA + VIRTIO_RNG_MAX_CHAIN), VIRTIO_RNG_MAX_CHAIN));
}

static void test_readable_descriptor_breaks_device(void **state)
{
	struct ctx *c = *state;
	struct drv_seg b[] = {{DATA_GPA, 16, false}, {DATA_GPA + 16, 16, true}};
	drv_ring_add(&c->drv.vq[0], b, 2);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(c->drv.tr.config_signals, 1);
	/* A reset brings it back. */
	activate(c, 16);
	struct drv_seg w = {DATA_GPA, 16, true};
	drv_ring_add(&c->drv.vq[0], &w, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 1);
}

static void test_bad_ring_breaks_device(void **state)
{
	struct ctx *c = *state;
	struct drv_seg b = {RAM_SIZE - 8, 16, true}; /* crosses the end of RAM */
	drv_ring_add(&c->drv.vq[0], &b, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A full ring, twice: indices wrap and descriptors are reused. */
static void test_full_ring_twice(void **state)
{
	struct ctx *c = *state;
	activate(c, 4);
	struct drv_seg b = {DATA_GPA, 8, true};
	for (int i = 0; i < 4; i++)
		drv_ring_add(&c->drv.vq[0], &b, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 4);
	for (int i = 0; i < 4; i++)
		drv_ring_add(&c->drv.vq[0], &b, 1);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used(c)->idx, 8);
}

static void test_not_live_ignores_kicks(void **state)
{
	struct ctx *c = *state;
	virtio_drv_reset(c->vdev);
	fake_transport_notify(c->vdev, 0); /* queues forgotten: nothing to touch */
	assert_int_equal(used(c)->idx, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fills_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_per_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_descriptor_breaks_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_breaks_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_live_ignores_kicks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
