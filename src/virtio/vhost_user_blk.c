/* virtio-blk on a vhost-user backend: see vhost_user_blk.h. */
#include "virtio/vhost_user_blk.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/log.h"
#include "virtio/vhost/vhost.h"

#define QUEUE_SIZE 256
/* virtio-blk's config space up to write_zeroes_may_unmap and its padding
 * (what backends of QEMU 7.x know; later fields are zoned-device ones). */
#define CONFIG_LEN (offsetof(struct virtio_blk_config, unused1) + 3)

/* What iovirt's transport supports besides the device's own bits (0-23):
 * no packed ring, no IOMMU platform, no notification data. */
#define TRANSPORT_FEATURES                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))
#define DEVICE_FEATURES ((1ULL << 24) - 1)

struct vhost_user_blk {
	struct virtio_dev vdev;
	struct vhost vhost;
	bool vhost_open;
	union { /* the backend's; bytes past CONFIG_LEN stay zero */
		struct virtio_blk_config blk;
		uint8_t bytes[sizeof(struct virtio_blk_config)];
	} config;
};

static struct vhost_user_blk *to_vub(struct virtio_dev *vdev)
{
	return container_of(vdev, struct vhost_user_blk, vdev);
}

static void vub_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len)
{
	struct vhost_user_blk *b = to_vub(vdev);
	if (offset > CONFIG_LEN || len > CONFIG_LEN - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, b->config.bytes + offset, len);
}

/* The one field a driver may write (§5.2.4: the write-back cache byte,
 * with VIRTIO_BLK_F_CONFIG_WCE) goes to the backend, which applies it; the
 * cached copy follows when it accepted it. Writes elsewhere are ignored, so
 * a guest cannot rewrite what it reads as capacity or limits. */
static void vub_config_write(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len)
{
	struct vhost_user_blk *b = to_vub(vdev);
	if (offset != offsetof(struct virtio_blk_config, wce) || len != 1 ||
	    !virtio_has_feature(vdev, VIRTIO_BLK_F_CONFIG_WCE))
		return;
	if (vhost_user_set_config(&b->vhost, offset, data, len) == 0)
		memcpy(b->config.bytes + offset, data, len);
}

static int vub_activate(struct virtio_dev *vdev)
{
	return vhost_start(&to_vub(vdev)->vhost, vdev->acked_features);
}

static void vub_reset(struct virtio_dev *vdev)
{
	vhost_stop(&to_vub(vdev)->vhost);
}

/* Before a save: the rings come back from the backend (GET_VRING_BASE
 * stops each; vhost_stop waits for the requests it had popped), so the
 * transport saves the positions the backend reached. */
static int vub_quiesce(struct virtio_dev *vdev)
{
	if (vdev->live)
		vhost_stop(&to_vub(vdev)->vhost);
	return 0;
}

/* After the save: the backend takes the rings again from those positions;
 * a kick the loop took meanwhile is passed on (the queues kick themselves). */
static void vub_unquiesce(struct virtio_dev *vdev)
{
	if (!vdev->live)
		return;
	if (vhost_start(&to_vub(vdev)->vhost, vdev->acked_features) < 0) {
		virtio_dev_set_broken(vdev, "the backend did not take the rings back after a save");
		return;
	}
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (vdev->queues[q].enabled)
			virtio_queue_rekick(vdev, q);
}

static void vub_irq_moved(struct virtio_dev *vdev)
{
	vhost_irq_moved(&to_vub(vdev)->vhost);
}

/* The backend announced a config change (a resized image): read the
 * config space again and tell the driver. The queue count stays what the
 * device was created with. Loop thread, lock held. */
static void vub_config_change(struct vhost *v)
{
	struct vhost_user_blk *b = to_vub(v->vdev);
	union {
		struct virtio_blk_config blk;
		uint8_t bytes[sizeof(struct virtio_blk_config)];
	} c;
	memset(&c, 0, sizeof(c));
	if (vhost_user_get_config(v, c.bytes, CONFIG_LEN) < 0) {
		log_error("%s: %s: cannot read the changed config space", v->vdev->name, v->path);
		return;
	}
	c.blk.num_queues = b->config.blk.num_queues;
	if (le64toh(c.blk.capacity) != le64toh(b->config.blk.capacity))
		log_info("%s: %s: capacity now %llu sectors (was %llu)", v->vdev->name, v->path,
			 (unsigned long long)le64toh(c.blk.capacity),
			 (unsigned long long)le64toh(b->config.blk.capacity));
	memcpy(b->config.bytes, c.bytes, CONFIG_LEN);
	virtio_config_changed(v->vdev);
}

static void vub_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	/* A kick before DRIVER_OK (the loop watches the ioeventfds until the
	 * backend takes them): nothing runs before the backend has the ring. */
}

static void vub_destroy(struct virtio_dev *vdev)
{
	vhost_user_blk_destroy(to_vub(vdev));
}

/* The backend writes guest RAM itself: it logs what it writes into the
 * migration's bitmap (LOG_SHMFD), or the device cannot migrate. */
static int vub_dirty_log(struct virtio_dev *vdev, uint64_t *log)
{
	return vhost_set_log(&to_vub(vdev)->vhost, log);
}

static const struct virtio_dev_ops vub_ops = {
	.destroy = vub_destroy,
	.config_read = vub_config_read,
	.config_write = vub_config_write,
	.activate = vub_activate,
	.reset = vub_reset,
	.quiesce = vub_quiesce,
	.unquiesce = vub_unquiesce,
	.dirty_log = vub_dirty_log,
	.irq_moved = vub_irq_moved,
	.queue_notify = vub_queue_notify,
};

/* The queues: as many as the backend serves (its config's num_queues with
 * VIRTIO_BLK_F_MQ), at most what a struct vhost holds. */
static unsigned queue_count(struct vhost_user_blk *b, uint64_t features, unsigned backend_queues)
{
	unsigned n = backend_queues;
	struct virtio_blk_config *c = &b->config.blk;
	if (features & (1ULL << VIRTIO_BLK_F_MQ)) {
		unsigned cfg = le16toh(c->num_queues);
		if (cfg && cfg < n)
			n = cfg;
	} else {
		n = 1;
	}
	if (n > VHOST_MAX_RINGS)
		n = VHOST_MAX_RINGS;
	c->num_queues = htole16((uint16_t)n);
	return n;
}

struct vhost_user_blk *vhost_user_blk_create(const char *socket_path, unsigned reconnect_s,
					     const struct guest_mem *mem, struct loop *loop)
{
	struct vhost_user_blk *b = calloc(1, sizeof(*b));
	if (!b) {
		log_error("vhost-user-blk: out of memory");
		return NULL;
	}
	/* The device (and its lock) first: the connection's hang-up watch
	 * points at it. Queue count and features follow from the backend. */
	virtio_dev_init(&b->vdev, "vhost-user-blk", VIRTIO_ID_BLOCK, VHOST_MAX_RINGS, QUEUE_SIZE,
			CONFIG_LEN, 0, &vub_ops, mem, loop);
	unsigned backend_queues = 1;
	int ret = vhost_user_open(&b->vhost, socket_path, &b->vdev, 0, VHOST_MAX_RINGS, reconnect_s);
	b->vhost_open = ret == 0;
	b->vhost.config_change = vub_config_change;
	if (ret == 0 && (ret = vhost_user_get_config(&b->vhost, b->config.bytes, CONFIG_LEN)) < 0)
		log_error("vhost-user-blk: %s: cannot read the disk's config space%s", socket_path,
			  ret == -ENOTSUP ? " (the backend lacks the CONFIG protocol feature)" : "");
	if (ret == 0 && (ret = vhost_user_queue_num(&b->vhost, &backend_queues)) < 0)
		log_error("vhost-user-blk: %s: GET_QUEUE_NUM failed", socket_path);
	uint64_t features = b->vhost.features;
	if (ret == 0 && !(features & (1ULL << VIRTIO_F_VERSION_1))) {
		log_error("vhost-user-blk: %s: the backend does not offer VIRTIO_F_VERSION_1",
			  socket_path);
		ret = -ENOTSUP;
	}
	if (ret < 0) {
		vhost_user_blk_destroy(b);
		return NULL;
	}
	features &= TRANSPORT_FEATURES | DEVICE_FEATURES;
	unsigned nq = queue_count(b, features, backend_queues);
	if (nq == 1)
		features &= ~(1ULL << VIRTIO_BLK_F_MQ);
	b->vdev.nqueues = nq;
	b->vhost.nq = nq;
	b->vdev.device_features = features;
	log_debug("vhost-user-blk: %s: %llu sectors, %u queue(s), features %#llx", socket_path,
		  (unsigned long long)le64toh(b->config.blk.capacity), nq,
		  (unsigned long long)features);
	return b;
}

struct virtio_dev *vhost_user_blk_dev(struct vhost_user_blk *b)
{
	return &b->vdev;
}

void vhost_user_blk_destroy(struct vhost_user_blk *b)
{
	if (!b)
		return;
	if (b->vhost_open) {
		pthread_mutex_lock(&b->vdev.lock);
		vhost_stop(&b->vhost);
		pthread_mutex_unlock(&b->vdev.lock);
		vhost_close(&b->vhost);
	}
	virtio_dev_destroy(&b->vdev);
	free(b);
}
