#include "virtio/virtio.h"

#include <string.h>
#include <unistd.h>

#include "core/log.h"

void virtio_dev_init(struct virtio_dev *vdev, const char *name, uint16_t device_id,
		     unsigned nqueues, uint16_t queue_size, unsigned config_size,
		     uint64_t device_features, const struct virtio_dev_ops *ops,
		     const struct guest_mem *mem, struct loop *loop)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->name = name;
	vdev->device_id = device_id;
	vdev->nqueues = nqueues > VIRTIO_MAX_QUEUES ? VIRTIO_MAX_QUEUES : nqueues;
	vdev->config_size = config_size;
	vdev->device_features = device_features;
	vdev->ops = ops;
	vdev->mem = mem;
	vdev->loop = loop;
	vdev->config_vector = VIRTIO_NO_VECTOR;
	pthread_mutex_init(&vdev->lock, NULL);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		vdev->queues[q].max_size = queue_size;
		vdev->queues[q].size = queue_size;
		vdev->queues[q].msix_vector = VIRTIO_NO_VECTOR;
		vdev->queues[q].kick_fd = -1;
	}
}

void virtio_dev_destroy(struct virtio_dev *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
}

void virtio_queue_done(struct virtio_dev *vdev, unsigned q)
{
	if (q >= vdev->nqueues || !vdev->live)
		return;
	if (virtq_should_notify(&vdev->queues[q].vq) && vdev->transport)
		vdev->transport->signal_queue(vdev, q);
}

void virtio_queue_rekick(struct virtio_dev *vdev, unsigned q)
{
	uint64_t one = 1;
	int fd = q < vdev->nqueues ? vdev->queues[q].kick_fd : -1;
	if (fd < 0)
		return;
	/* Counted before the write, so the reader never sees the kick first. */
	counter_inc(&vdev->queues[q].rekicks);
	if (write(fd, &one, sizeof(one)) < 0) {
		__atomic_fetch_sub(&vdev->queues[q].rekicks, 1, __ATOMIC_RELAXED);
		log_debug("%s: cannot re-kick queue %u", vdev->name, q);
	}
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	if (vdev->transport && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		vdev->transport->signal_config(vdev);
}

void virtio_dev_set_broken(struct virtio_dev *vdev, const char *why)
{
	if (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	if (!vdev->error_logged)
		log_guest_error(vdev->name, "%s; device needs reset", why);
	vdev->error_logged = true;
	vdev->live = false;
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (vdev->transport && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		vdev->transport->signal_config(vdev);
}

/* §2.1.1 / §4.1.4.3: writing 0 resets the device. */
void virtio_dev_reset(struct virtio_dev *vdev)
{
	vdev->live = false;
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	vdev->status = 0;
	vdev->acked_features = 0;
	vdev->config_vector = VIRTIO_NO_VECTOR;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		vq->size = vq->max_size;
		vq->msix_vector = VIRTIO_NO_VECTOR;
		vq->enabled = false;
		vq->desc = vq->avail = vq->used = 0;
		memset(&vq->vq, 0, sizeof(vq->vq));
	}
}

/* DRIVER_OK: validate every enabled ring once (size, alignment, inside
 * RAM), as Firecracker does, then let the device run. A state load passes
 * the queues' saved positions in s; DRIVER_OK passes NULL. */
void virtio_dev_activate(struct virtio_dev *vdev, const struct virtio_state *s)
{
	bool event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		if (!vq->enabled)
			continue;
		if (virtq_init(&vq->vq, vdev->mem, vq->size, vq->desc, vq->avail, vq->used,
			       event_idx, indirect) < 0) {
			vdev->status |= VIRTIO_CONFIG_S_DRIVER_OK;
			virtio_dev_set_broken(vdev, "a virtqueue is misaligned, oversized or outside RAM");
			return;
		}
		if (s) {
			const struct virtio_state_queue *sq = &s->queues[q];
			virtq_restore(&vq->vq, sq->last_avail_idx, sq->used_idx, sq->signalled_used,
				      sq->signalled_used_valid);
		}
	}
	vdev->live = true;
	if (vdev->ops->activate && vdev->ops->activate(vdev) < 0) {
		vdev->status |= VIRTIO_CONFIG_S_DRIVER_OK;
		virtio_dev_set_broken(vdev, "the device could not start");
	}
}

void virtio_dev_irq_moved(struct virtio_dev *vdev)
{
	if (vdev->live && vdev->ops->irq_moved)
		vdev->ops->irq_moved(vdev);
}

void virtio_dev_write_status(struct virtio_dev *vdev, uint8_t status)
{
	if (status == 0) {
		virtio_dev_reset(vdev);
		return;
	}
	uint8_t old = vdev->status;
	/* NEEDS_RESET is the device's to set (§2.1.1). */
	status &= (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET;
	/* §2.1.2: the driver MUST NOT clear a status bit; only 0 resets. Such
	 * a write is refused whole, as a refused FEATURES_OK is (the driver
	 * reads back what it had), rather than answered with NEEDS_RESET:
	 * the device is not at fault and keeps running. So DRIVER_OK rises
	 * at most once per reset: activate() runs once, and the queue
	 * registers DRIVER_OK froze stay frozen until the reset. */
	if (old & ~status & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	/* §3.1.1: FEATURES_OK only sticks for a subset of what we offered that
	 * includes VERSION_1 (this is a modern-only device). */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		bool subset = (vdev->acked_features & ~vdev->device_features) == 0;
		bool modern = vdev->acked_features & (1ULL << VIRTIO_F_VERSION_1);
		if (!subset || !modern)
			status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	bool to_driver_ok = (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
			    !(old & VIRTIO_CONFIG_S_DRIVER_OK);
	/* The device keeps NEEDS_RESET until reset. */
	vdev->status = (uint8_t)(status | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	if (to_driver_ok && (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_dev_activate(vdev, NULL);
}
