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

#include "core/device.h"
#include "core/log.h"
#include "core/state.h"
#include "virtio/queue_service.h"

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq_chain chain; /* scratch for virtq_pop */
};

static struct virtio_rng *to_rng(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_rng, vdev);
}

/* Fills up to max bytes of the iovecs from getrandom(); returns the bytes
 * written, and sets *failed if getrandom failed before max. */
static uint32_t fill_random(const struct iovec *iov, unsigned n, size_t max, bool *failed)
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
				*failed = true;
				return (uint32_t)(done + off);
			}
			off += (size_t)got;
		}
		done += len;
	}
	return (uint32_t)done;
}

/* One request: every chain completes within the kick. */
static enum qs_verdict rng_chain(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	struct dev_counters *cnt = &vdev->queues[q].counters;

	/* §5.4.6: requests are device-writable buffers only. */
	if (chain->n_out) {
		virtio_dev_set_broken(vdev, "request with a device-readable buffer");
		return QS_BROKEN;
	}
	bool failed = false;
	uint32_t n = fill_random(chain->iov, chain->n_in, VIRTIO_RNG_MAX_CHAIN, &failed);
	virtq_push(&vdev->queues[q].vq, chain->head, n);
	counter_inc(&cnt->requests);
	counter_add(&cnt->bytes_out, n);
	if (failed)
		counter_inc(&cnt->errors);
	return QS_NEXT;
}

static const struct queue_service_ops rng_service = {.handle = rng_chain};

/* Lock held (the transport calls queue_notify with it). */
static void rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	if (q == 0)
		queue_service_run(vdev, 0, &rng_service, &to_rng(vdev)->chain);
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

/* No state of its own beyond the virtio common state: an empty section,
 * so a later version can add fields and an older reader refuses them. */
static void rng_save(struct virtio_dev *vdev, struct state_writer *w)
{
	state_begin(w, "virtio-rng", 1);
	state_end(w);
}

static int rng_load(struct virtio_dev *vdev, struct state_reader *r)
{
	state_enter(r, "virtio-rng", 1, NULL);
	return state_leave(r);
}

static void rng_destroy_op(struct virtio_dev *vdev)
{
	virtio_rng_destroy(to_rng(vdev));
}

static const struct virtio_dev_ops rng_ops = {
	.config_read = rng_config_read,
	.config_write = rng_config_write,
	.reset = rng_reset,
	.queue_notify = rng_queue_notify,
	.save = rng_save,
	.load = rng_load,
	.destroy = rng_destroy_op,
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
			&rng_ops, mem, loop);
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
