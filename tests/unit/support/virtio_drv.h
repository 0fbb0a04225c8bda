/* A fake virtio driver for device tests: fake guest RAM, a recording fake
 * transport and the split rings of the device's queues, brought up as
 * virtio 1.x §3.1.1 says. Queue q's rings lie at VIRTIO_DRV_RING_GPA(q)
 * (descriptors; avail at +4 KiB; used at +8 KiB); the driver's buffers are
 * allocated from VIRTIO_DRV_BUF_GPA up. */
#ifndef IOVIRT_TESTS_VIRTIO_DRV_H
#define IOVIRT_TESTS_VIRTIO_DRV_H

#include <stdint.h>

#include "support/drv_ring.h"
#include "support/fake_ram.h"
#include "support/fake_transport.h"
#include "virtio/virtio.h"

#define VIRTIO_DRV_MAX_QUEUES 8
#define VIRTIO_DRV_MAX_QSIZE  256
#define VIRTIO_DRV_RING_GPA(q) (0x4000ULL * (q))
#define VIRTIO_DRV_BUF_GPA    (VIRTIO_DRV_RING_GPA(VIRTIO_DRV_MAX_QUEUES))

struct virtio_drv {
	struct fake_ram ram;
	struct fake_transport tr;
	struct drv_ring vq[VIRTIO_DRV_MAX_QUEUES];
	struct virtio_dev *vdev;
};

void virtio_drv_init(struct virtio_drv *d, uint64_t ram_size);
void virtio_drv_destroy(struct virtio_drv *d);

/* Becomes vdev's transport, sets up nq fresh rings of qsize entries and
 * drives vdev to DRIVER_OK with the features in want that it offers. */
void virtio_drv_start(struct virtio_drv *d, struct virtio_dev *vdev, uint64_t want, unsigned nq,
		      uint16_t qsize);

/* What a driver does to reset vdev: writes 0 to its device status. */
void virtio_drv_reset(struct virtio_dev *vdev);

#endif
