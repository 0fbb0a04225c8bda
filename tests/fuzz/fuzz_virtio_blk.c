// fuzz-sources: src/virtio/blk.c src/virtio/queue_service.c src/core/state.c src/virtio/virtio.c src/virtio/virtqueue.c src/core/iov.c src/backends/block.c src/backends/block_flush.c src/backends/block_threads.c src/sandbox/sandbox.c src/backends/term.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c tests/fuzz/virtio_drv.c
/* virtio-blk against a hostile driver: the fuzzer's bytes are guest RAM
 * (the split ring of one request queue, its descriptors, indirect tables,
 * headers and buffers) and choose the queue size and negotiated features.
 * The device is kicked against the real block backend on a small temporary
 * image; optionally the driver resets with requests in flight, re-activates
 * the same ring and kicks again, so stale completions race new requests for
 * the request slots. The loop then runs until every backend request is done.
 *
 * The backend runs on its thread-pool engine: the io_uring engine is
 * replaced by a stub below so the fuzzer needs no liburing (and the device
 * model, not the engine, is what is fuzzed).
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of its
 * exact size), no crash or UB, every backend request completes, and the
 * device ends either live or NEEDS_RESET. Set FUZZ_VERBOSE=1 to see the
 * device's log lines (off by default: a broken ring logs every run). */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "virtio/blk.h"
#include "virtio_drv.h"

#define RAM_SIZE 0x10000
#define IMG_SIZE 0x10000
/* Compact, so short inputs reach buffers: no overlap up to queue size 16;
 * larger queues overlap their rings, which a hostile driver may do too. */
#define AVAIL_GPA 0x000
#define USED_GPA 0x080
#define DESC_GPA 0x200

enum {
	F_RESET_IN_FLIGHT = 1 << 0,
	F_EVENT_IDX = 1 << 1,
	F_INDIRECT = 1 << 2,
	F_FLUSH = 1 << 3,
	F_DISCARD = 1 << 4,
	F_WRITE_ZEROES = 1 << 5,
	F_SECOND_KICK = 1 << 6,
};

static struct guest_mem mem;
static struct virtio_blk *blk;
static struct virtio_dev *vdev;

static void nop_signal(struct virtio_dev *d, unsigned q) {}
static void nop_config(struct virtio_dev *d) {}
static const struct virtio_transport_ops transport = {nop_signal, nop_config};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	char path[64];
	fuzz_temp_image("vblk", IMG_SIZE, path, sizeof(path));
	struct loop *loop = fuzz_loop();
	guest_mem_init_empty(&mem);
	struct virtio_blk_options o = {.path = path, .serial = "fuzz",
				       .engine = BLK_ENGINE_THREADS};
	blk = virtio_blk_create(&o, &mem, loop);
	unlink(path); /* the backend keeps it open */
	if (!blk)
		abort();
	vdev = virtio_blk_dev(blk);
	vdev->transport = &transport;
	return 0;
}

static void activate(uint16_t qsize, uint64_t features)
{
	const struct fuzz_ring ring = {qsize, DESC_GPA, AVAIL_GPA, USED_GPA};
	fuzz_virtio_start(vdev, features, &ring, 1);
}

static void kick(void)
{
	pthread_mutex_lock(&vdev->lock);
	if (vdev->live && vdev->queues[0].enabled)
		vdev->ops->queue_notify(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
}

static bool busy(void)
{
	return virtio_blk_inflight(blk) > 0;
}

/* Every accepted backend request completes; a hang is a bug. */
static void drain(void)
{
	fuzz_loop_drain(busy, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint16_t qsize = (uint16_t)(1u << (data[0] % 9)); /* 1 .. 256 */
	uint8_t flags = data[1];
	unsigned cfg_off = data[2], cfg_len = data[3] % 9;
	data += 4;
	size -= 4;

	uint8_t *ram = malloc(RAM_SIZE);
	if (!ram)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();

	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE);
	if (flags & F_EVENT_IDX)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (flags & F_INDIRECT)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (flags & F_FLUSH)
		f |= 1ULL << VIRTIO_BLK_F_FLUSH;
	if (flags & F_DISCARD)
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (flags & F_WRITE_ZEROES)
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;

	activate(qsize, f);
	kick();
	if (flags & F_RESET_IN_FLIGHT) {
		activate(qsize, f); /* resets first: the same ring, popped again */
		kick();
	}
	drain();
	if (flags & F_SECOND_KICK) {
		kick();
		drain();
	}

	uint8_t cfg[8];
	if (cfg_off + cfg_len <= vdev->config_size) {
		pthread_mutex_lock(&vdev->lock);
		vdev->ops->config_read(vdev, cfg_off, cfg, cfg_len);
		pthread_mutex_unlock(&vdev->lock);
	}

	if (!vdev->live && !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		abort();
	/* Nothing may touch RAM once it is gone: reset, then free. */
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
	free(ram);
	return 0;
}
