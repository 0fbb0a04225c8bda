#include "virtio_drv.h"

#include <pthread.h>

void fuzz_virtio_start(struct virtio_dev *vdev, uint64_t features, const struct fuzz_ring *rings,
		       unsigned n)
{
	const uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	virtio_dev_write_status(vdev, s);
	vdev->acked_features = features & vdev->device_features;
	virtio_dev_write_status(vdev, s | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < n && q < vdev->nqueues; q++) {
		vdev->queues[q].size = rings[q].size;
		vdev->queues[q].desc = rings[q].desc;
		vdev->queues[q].avail = rings[q].avail;
		vdev->queues[q].used = rings[q].used;
		vdev->queues[q].enabled = true;
	}
	virtio_dev_write_status(vdev, s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&vdev->lock);
}
