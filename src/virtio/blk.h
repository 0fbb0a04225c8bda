/* virtio-blk device model (virtio 1.x §5.2), transport-independent.
 *
 * Requests go to the shared raw-image block backend (backends/block.h)
 * asynchronously and zero-copy: each request's iovecs point into guest RAM.
 * Per-request state comes from a fixed pool per queue (queue-size entries),
 * so a guest cannot make the VMM allocate. Kicks (ops->queue_notify) run on
 * the loop thread with vdev->lock held by the transport; backend completions
 * arrive on the loop thread and take vdev->lock themselves. */
#ifndef IOVIRT_VIRTIO_BLK_H
#define IOVIRT_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"
#include "virtio/virtio.h"

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */

struct virtio_blk_options {
	const char *path;
	bool readonly;
	const char *serial;   /* at most 20 bytes; NULL: none (GET_ID reads zeroes) */
	enum blk_cache cache;
	enum blk_engine engine;
	unsigned num_queues;  /* 0 = 1; at most VIRTIO_MAX_QUEUES */
	bool no_merge;        /* one backend I/O per request (QEMU: request-merging=off) */
};

/* Embeds the struct virtio_dev the transport binds (virtio_blk_dev). Its
 * ops->quiesce (before a save) waits for the requests in flight: call it
 * with vdev->lock held from a thread other than the loop's. */
struct virtio_blk;

/* Opens the image; NULL on error (one line already logged). */
struct virtio_blk *virtio_blk_create(const struct virtio_blk_options *o,
				     const struct guest_mem *mem, struct loop *loop);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
/* Waits for in-flight requests (their results are dropped) and frees. Call
 * from the loop thread or after the loop stopped, without vdev->lock. */
void virtio_blk_destroy(struct virtio_blk *b);

/* Requests handed to the backend whose completion has not run yet (those
 * of a reset generation included). For tests and fuzzers. */
unsigned virtio_blk_inflight(struct virtio_blk *b);
/* Requests that reached the backend inside a merged group (statistics). */
uint64_t virtio_blk_merged(struct virtio_blk *b);

#endif
