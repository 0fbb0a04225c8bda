/* virtio-rng against fake guest RAM and real split rings (virtio 1.x §5.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/rng.h"

#define RAM_SIZE (1u << 20)
#define DESC_GPA 0x0000
#define AVAIL_GPA 0x4000
#define USED_GPA 0x5000
#define DATA_GPA 0x10000

struct ctx {
	uint8_t *ram;
	struct guest_mem mem;
	struct virtio_rng *rng;
	struct virtio_dev *vdev;
	unsigned queue_signals, config_signals;
	uint16_t qsize, next_desc, avail_idx;
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static void sig_queue(struct virtio_dev *vdev, unsigned q)
{
	((struct ctx *)vdev->transport_opaque)->queue_signals++;
}

static void sig_config(struct virtio_dev *vdev)
{
	((struct ctx *)vdev->transport_opaque)->config_signals++;
}

static const struct virtio_transport_ops fake_ops = {sig_queue, sig_config};

static void *hva(struct ctx *c, uint64_t gpa)
{
	return c->ram + gpa;
}

static void activate(struct ctx *c, uint16_t qsize)
{
	struct virtio_dev *v = c->vdev;
	const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	memset(c->ram, 0, 0x10000);
	c->qsize = qsize;
	c->next_desc = c->avail_idx = 0;
	pthread_mutex_lock(&v->lock);
	virtio_dev_write_status(v, 0);
	virtio_dev_write_status(v, s);
	v->acked_features = v->device_features;
	virtio_dev_write_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK);
	v->queues[0].size = qsize;
	v->queues[0].desc = DESC_GPA;
	v->queues[0].avail = AVAIL_GPA;
	v->queues[0].used = USED_GPA;
	v->queues[0].enabled = true;
	virtio_dev_write_status(v, s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&v->lock);
	assert_true(v->live);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->ram = calloc(1, RAM_SIZE);
	assert_non_null(c->ram);
	guest_mem_init_empty(&c->mem);
	assert_int_equal(guest_mem_add_region(&c->mem, 0, c->ram, RAM_SIZE), 0);
	c->rng = virtio_rng_create(&c->mem, NULL);
	assert_non_null(c->rng);
	c->vdev = virtio_rng_dev(c->rng);
	c->vdev->transport = &fake_ops;
	c->vdev->transport_opaque = c;
	activate(c, 16);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_rng_destroy(c->rng);
	free(c->ram);
	free(c);
	return 0;
}

static uint16_t add_chain(struct ctx *c, const struct buf *b, unsigned n)
{
	struct virtq_desc *d = hva(c, DESC_GPA);
	uint16_t head = (uint16_t)(c->next_desc % c->qsize);
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)(c->next_desc++ % c->qsize);
		d[idx] = (struct virtq_desc){
			.addr = b[i].gpa, .len = b[i].len,
			.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)(c->next_desc % c->qsize)};
	}
	struct virtq_avail *a = hva(c, AVAIL_GPA);
	a->ring[c->avail_idx % c->qsize] = head;
	__atomic_store_n(&a->idx, ++c->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void kick(struct ctx *c)
{
	pthread_mutex_lock(&c->vdev->lock);
	c->vdev->ops->queue_notify(c->vdev, 0);
	pthread_mutex_unlock(&c->vdev->lock);
}

static struct virtq_used *used(struct ctx *c)
{
	return hva(c, USED_GPA);
}

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
	struct buf a[] = {{DATA_GPA, 64, true}, {DATA_GPA + 64, 64, true}};
	uint16_t h1 = add_chain(c, a, 2);
	struct buf b = {DATA_GPA + 0x1000, 256, true};
	uint16_t h2 = add_chain(c, &b, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 2);
	assert_int_equal(used(c)->ring[0].id, h1);
	assert_int_equal(used(c)->ring[0].len, 128);
	assert_int_equal(used(c)->ring[1].id, h2);
	assert_int_equal(used(c)->ring[1].len, 256);
	assert_false(all_zero(hva(c, DATA_GPA), 64));
	assert_false(all_zero(hva(c, DATA_GPA + 64), 64));
	assert_false(all_zero(hva(c, DATA_GPA + 0x1000), 256));
	assert_true(all_zero(hva(c, DATA_GPA + 0x1000 + 256), 256));
	assert_int_equal(c->queue_signals, 1);
}

static void test_bounded_per_chain(void **state)
{
	struct ctx *c = *state;
	struct buf b = {DATA_GPA, 2 * VIRTIO_RNG_MAX_CHAIN, true};
	add_chain(c, &b, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 1);
	assert_int_equal(used(c)->ring[0].len, VIRTIO_RNG_MAX_CHAIN);
	assert_true(all_zero(hva(c, DATA_GPA + VIRTIO_RNG_MAX_CHAIN), VIRTIO_RNG_MAX_CHAIN));
}

static void test_readable_descriptor_breaks_device(void **state)
{
	struct ctx *c = *state;
	struct buf b[] = {{DATA_GPA, 16, false}, {DATA_GPA + 16, 16, true}};
	add_chain(c, b, 2);
	kick(c);
	assert_int_equal(used(c)->idx, 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(c->config_signals, 1);
	/* A reset brings it back. */
	activate(c, 16);
	struct buf w = {DATA_GPA, 16, true};
	add_chain(c, &w, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 1);
}

static void test_bad_ring_breaks_device(void **state)
{
	struct ctx *c = *state;
	struct buf b = {RAM_SIZE - 8, 16, true}; /* crosses the end of RAM */
	add_chain(c, &b, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A full ring, twice: indices wrap and descriptors are reused. */
static void test_full_ring_twice(void **state)
{
	struct ctx *c = *state;
	activate(c, 4);
	struct buf b = {DATA_GPA, 8, true};
	for (int i = 0; i < 4; i++)
		add_chain(c, &b, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 4);
	for (int i = 0; i < 4; i++)
		add_chain(c, &b, 1);
	kick(c);
	assert_int_equal(used(c)->idx, 8);
}

static void test_not_live_ignores_kicks(void **state)
{
	struct ctx *c = *state;
	pthread_mutex_lock(&c->vdev->lock);
	virtio_dev_write_status(c->vdev, 0);
	pthread_mutex_unlock(&c->vdev->lock);
	kick(c); /* queues forgotten: nothing to touch */
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
