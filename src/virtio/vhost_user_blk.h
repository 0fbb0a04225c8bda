/* virtio-blk served by a vhost-user backend process (`--disk
 * vhost-user=SOCKET`; e.g. qemu-storage-daemon's vhost-user-blk export):
 * iovirt keeps the PCI transport (config space, MSI-X, the notify
 * ioeventfds) and hands the queues to the backend at DRIVER_OK. The disk's
 * features, capacity, queue count and the rest of its config space are the
 * backend's. */
#ifndef IOVIRT_VIRTIO_VHOST_USER_BLK_H
#define IOVIRT_VIRTIO_VHOST_USER_BLK_H

#include "virtio/virtio.h"

struct vhost_user_blk;

/* Connects to the backend and reads what it offers; NULL after one line.
 * Guest RAM must be a shared memfd. A backend that hangs up later is
 * connected to again every reconnect_s seconds (0: the disk needs a reset
 * instead; see vhost.h). */
struct vhost_user_blk *vhost_user_blk_create(const char *socket_path, unsigned reconnect_s,
					     const struct guest_mem *mem, struct loop *loop);
struct virtio_dev *vhost_user_blk_dev(struct vhost_user_blk *b);
void vhost_user_blk_destroy(struct vhost_user_blk *b);

#endif
