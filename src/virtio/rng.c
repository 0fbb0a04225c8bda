/* virtio-rng (virtio 1.x §5.4). See rng.h.
 *
 * Requests complete synchronously inside the kick: getrandom() never blocks
 * once the host's pool is initialised, and each chain gets at most
 * VIRTIO_RNG_MAX_CHAIN bytes, each kick at most queue-size chains. */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"

struct virtio_rng {
	struct virtio_dev vdev; /* first: the transport binds it */
	struct virtq_chain chain; /* scratch for virtq_pop */
};

/* Fills up to max bytes of the iovecs from getrandom(); returns the bytes
 * written. */
static uint32_t fill_random(const struct iovec *iov, unsigned n, size_t max)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < max; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len < max - done ? iov[i].iov_len : max - done;
		size_t off = 0;
		while (off < len) {
			ssize_t got = getrandom(p + off, len - off, 0);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				log_guest_event("virtio-rng", "getrandom: %s", strerror(errno));
				return (uint32_t)(done + off);
			}
			off += (size_t)got;
		}
		done += len;
	}
	return (uint32_t)done;
}

/* Lock held (the transport calls queue_notify with it). */
static void rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *r = vdev->opaque;
	struct virtqueue *vq = &vdev->queues[0].vq;

	if (q != 0 || !vdev->live || vq->size == 0)
		return;
	uint16_t used_before = vq->used_idx;
	unsigned budget = vq->size;
	virtq_disable_kicks(vq);
	for (;;) {
		while (budget) {
			int ret = virtq_pop(vq, &r->chain);
			if (ret == 0)
				break;
			if (ret < 0) {
				virtio_dev_set_broken(vdev, vq->error ? vq->error : "bad virtqueue");
				goto out;
			}
			budget--;
			/* §5.4.6: requests are device-writable buffers only. */
			if (r->chain.n_out) {
				virtio_dev_set_broken(vdev, "request with a device-readable buffer");
				goto out;
			}
			uint32_t n = fill_random(r->chain.iov, r->chain.n_in, VIRTIO_RNG_MAX_CHAIN);
			virtq_push(vq, r->chain.head, n);
		}
		if (!virtq_enable_kicks(vq))
			break;
		if (budget == 0) {
			virtio_queue_rekick(vdev, 0);
			break;
		}
		virtq_disable_kicks(vq);
	}
out:
	if (vq->used_idx != used_before)
		virtio_queue_done(vdev, 0);
}

static void rng_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data,
			    unsigned len)
{
	memset(data, 0, len); /* no config space (§5.4.4) */
}

static void rng_config_write(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len)
{
}

static void rng_reset(struct virtio_dev *vdev)
{
	/* Nothing in flight: every request completes within its kick. */
}

static const struct virtio_dev_ops rng_ops = {
	.config_read = rng_config_read,
	.config_write = rng_config_write,
	.reset = rng_reset,
	.queue_notify = rng_queue_notify,
};

struct virtio_rng *virtio_rng_create(const struct guest_mem *mem, struct loop *loop)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("virtio-rng: out of memory");
		return NULL;
	}
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	virtio_dev_init(&r->vdev, "virtio-rng", VIRTIO_ID_RNG, 1, VIRTIO_RNG_QUEUE_SIZE, 0, f,
			&rng_ops, r, mem, loop);
	return r;
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vdev;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_dev_destroy(&r->vdev);
	free(r);
}
