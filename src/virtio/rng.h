/* virtio-rng, the entropy device (virtio 1.x §5.4): one request queue whose
 * device-writable buffers the device fills from the host's getrandom(). */
#ifndef IOVIRT_VIRTIO_RNG_H
#define IOVIRT_VIRTIO_RNG_H

#include "virtio/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE 256
#define VIRTIO_RNG_MAX_CHAIN (64 * 1024) /* bytes filled per chain, at most */

/* Embeds the struct virtio_dev the transport binds (virtio_rng_dev). */
struct virtio_rng;

struct virtio_rng *virtio_rng_create(const struct guest_mem *mem, struct loop *loop);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);
void virtio_rng_destroy(struct virtio_rng *r);

#endif
