/* Between vhost.c (rings handed to a vhost backend) and its transports:
 * the kernel's ioctls are in vhost.c, vhost-user's socket in vhost_user.c. */
#ifndef IOVIRT_VHOST_VHOST_PRIV_H
#define IOVIRT_VHOST_VHOST_PRIV_H

#include "vhost/vhost.h"

/* A closed struct vhost for queues first..first+nq-1 of vdev. */
void vhost_init(struct vhost *v, struct virtio_dev *vdev, unsigned first, unsigned nq);
/* With v->fd open: owner, features, the rings' eventfds. 0 or -errno
 * after one line naming what (and closing v). */
int vhost_setup(struct vhost *v, const char *what);
/* A kernel vhost request (VHOST_SET_VRING_NUM, ...; arg as for the ioctl)
 * as a vhost-user message. 0 or -errno. */
int vhost_user_call(struct vhost *v, unsigned long req, void *arg);
/* Stops watching the socket for a hang-up (before it is closed). */
void vhost_user_unwatch(struct vhost *v);

#endif
