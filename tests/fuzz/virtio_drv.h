/* A virtio driver's bring-up, for the fuzz targets of virtio devices: list
 * tests/fuzz/virtio_drv.c among a target's fuzz-sources. */
#ifndef IOVIRT_TESTS_FUZZ_VIRTIO_DRV_H
#define IOVIRT_TESTS_FUZZ_VIRTIO_DRV_H

#include <stdint.h>

#include "virtio/virtio.h"

/* Where one queue's split ring lies in guest memory, and its size. */
struct fuzz_ring {
	uint16_t size;
	uint64_t desc, avail, used;
};

/* Resets vdev and brings it up as a driver does, under its lock: the status
 * steps, features (what vdev offers of them; FEATURES_OK is refused without
 * VERSION_1), the first n queues on rings[], then DRIVER_OK. */
void fuzz_virtio_start(struct virtio_dev *vdev, uint64_t features, const struct fuzz_ring *rings,
		       unsigned n);

#endif
