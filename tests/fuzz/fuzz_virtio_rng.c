// fuzz-sources: src/virtio/rng.c src/virtio/queue_service.c src/core/state.c src/virtio/virtio.c src/virtio/virtqueue.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c tests/fuzz/virtio_drv.c
/* virtio-rng's request path against a hostile driver: the fuzzer's bytes
 * are guest RAM (the split ring of the request queue, its descriptors,
 * indirect tables and buffers) and choose the queue size and negotiated
 * features. The device is kicked until it stops kicking itself (bounded
 * work per kick: a full ring takes several); optionally the driver then
 * resets, brings the same ring up again and kicks once more.
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of
 * its exact size), no crash or UB; the used idx in RAM is the device's (a
 * buffer may overlap the ring, but every fill is followed by its push);
 * the device ends live or NEEDS_RESET; the self-kicks end. */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"
#include "virtio/rng.h"
#include "virtio_drv.h"

#define RAM_SIZE 0x10000
/* Compact, so short inputs reach buffers (as fuzz_virtio_blk lays it). */
#define AVAIL_GPA 0x000
#define USED_GPA 0x080
#define DESC_GPA 0x200

enum {
	F_EVENT_IDX = 1 << 0,
	F_INDIRECT = 1 << 1,
	F_RESET_AND_AGAIN = 1 << 2,
};

static struct guest_mem mem;
static struct virtio_dev *vdev;
static int kick_fd;

static void nop_signal(struct virtio_dev *d, unsigned q) {}
static void nop_config(struct virtio_dev *d) {}
static const struct virtio_transport_ops transport = {nop_signal, nop_config};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	guest_mem_init_empty(&mem);
	struct virtio_rng *r = virtio_rng_create(&mem, NULL);
	kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!r || kick_fd < 0)
		abort();
	vdev = virtio_rng_dev(r);
	vdev->transport = &transport;
	vdev->queues[0].kick_fd = kick_fd; /* where the device kicks itself */
	return 0;
}

static void activate(uint16_t qsize, uint64_t features)
{
	const struct fuzz_ring ring = {qsize, DESC_GPA, AVAIL_GPA, USED_GPA};
	fuzz_virtio_start(vdev, features, &ring, 1);
}

/* A kick, then the device's own kicks until it has none left: at most
 * one per queue's worth of the 64 Ki chains avail idx can announce. */
static void kick(void)
{
	uint64_t n;
	unsigned kicks = 0;
	do {
		if (++kicks > 65536 + 2)
			abort();
		pthread_mutex_lock(&vdev->lock);
		if (virtio_queue_ready(vdev, 0))
			vdev->ops->queue_notify(vdev, 0);
		pthread_mutex_unlock(&vdev->lock);
	} while (read(kick_fd, &n, sizeof(n)) == sizeof(n));
}

static void run(uint8_t *ram, uint16_t qsize, uint64_t f)
{
	/* The driver hands over a used ring whose idx is 0 (§2.7.8). */
	memset(ram + USED_GPA + 2, 0, 2);
	activate(qsize, f);
	kick();
	uint16_t idx;
	memcpy(&idx, ram + USED_GPA + 2, 2);
	if (vdev->live && le16toh(idx) != vdev->queues[0].vq.used_idx)
		abort();
	if (!vdev->live && !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t qsize = (uint16_t)(1u << (data[0] % 9)); /* 1 .. 256 */
	uint8_t flags = data[1];
	data += 2;
	size -= 2;

	uint8_t *ram = malloc(RAM_SIZE);
	if (!ram)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();

	uint64_t f = 1ULL << VIRTIO_F_VERSION_1;
	if (flags & F_EVENT_IDX)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (flags & F_INDIRECT)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	run(ram, qsize, f);
	if (flags & F_RESET_AND_AGAIN)
		run(ram, qsize, f); /* resets first: the same ring, popped again */

	/* Nothing may touch RAM once it is gone: reset, then free. */
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
	free(ram);
	return 0;
}
