#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "support/virtio_drv.h"

void virtio_drv_init(struct virtio_drv *d, uint64_t ram_size)
{
	memset(d, 0, sizeof(*d));
	fake_ram_init(&d->ram, ram_size, VIRTIO_DRV_BUF_GPA);
}

void virtio_drv_destroy(struct virtio_drv *d)
{
	fake_ram_destroy(&d->ram);
}

void virtio_drv_start(struct virtio_drv *d, struct virtio_dev *vdev, uint64_t want, unsigned nq,
		      uint16_t qsize)
{
	assert_true(nq <= VIRTIO_DRV_MAX_QUEUES && qsize <= VIRTIO_DRV_MAX_QSIZE);
	d->vdev = vdev;
	fake_transport_attach(&d->tr, vdev);
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdev->acked_features = vdev->device_features & want;
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		struct drv_ring *r = &d->vq[q];
		uint64_t base = VIRTIO_DRV_RING_GPA(q);
		drv_ring_init(r, &d->ram, qsize, base, base + 0x1000, base + 0x2000);
		struct virtio_queue *vq = &vdev->queues[q];
		vq->size = qsize;
		vq->desc = r->desc;
		vq->avail = r->avail;
		vq->used = r->used;
		vq->enabled = true;
	}
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&vdev->lock);
	assert_true(vdev->live);
}

void virtio_drv_reset(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
}
