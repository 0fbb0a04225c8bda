/* Between vhost.c (rings handed to a vhost backend) and its transports:
 * the kernel's ioctls are in vhost.c, vhost-user's socket in vhost_user.c. */
#ifndef IOVIRT_VIRTIO_VHOST_VHOST_PRIV_H
#define IOVIRT_VIRTIO_VHOST_VHOST_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "virtio/vhost/vhost.h"

/* A closed struct vhost for queues first..first+nq-1 of vdev. */
void vhost_init(struct vhost *v, struct virtio_dev *vdev, unsigned first, unsigned nq);
/* With v->fd open: owner, features, the rings' eventfds. 0 or -errno
 * after one line naming what (and closing v). */
int vhost_setup(struct vhost *v, const char *what);
/* A kernel vhost request (VHOST_SET_VRING_NUM, ...; arg as for the ioctl)
 * as a vhost-user message. 0 or -errno. */
int vhost_user_call(struct vhost *v, unsigned long req, void *arg);
/* Stops watching the socket for a hang-up and for the backend's return
 * (before the socket is closed). */
void vhost_user_unwatch(struct vhost *v);
/* vhost-user: the backend hung up and is being connected to again; what
 * the rings need goes to it then (vhost_resume). */
bool vhost_user_away(const struct vhost *v);
/* vhost-user with INFLIGHT_SHMFD: gets the backend's in-flight log (once
 * per start of the rings) and hands it to the backend; 0 without one. */
int vhost_user_set_inflight(struct vhost *v);
void vhost_user_drop_inflight(struct vhost *v);
/* vhost-user: whether the backend keeps a dirty log (LOG_SHMFD and
 * VHOST_F_LOG_ALL negotiated), and hands it the guest_mem log's memfd
 * (SET_LOG_BASE). 0 or -errno. */
bool vhost_user_can_log(const struct vhost *v);
int vhost_user_set_log_base(struct vhost *v);
/* vhost-user (no-ops for the kernel's vhost): the requests until the
 * matching vhost_user_end are one operation, which waits on the backend
 * for vhost_user_timeout_ms at most in all (not that long per request);
 * no_reply: its requests ask for no REPLY_ACK (taken on trust), so only
 * the replies a GET request is owed are waited for. Nests. */
void vhost_user_begin(struct vhost *v, bool no_reply);
void vhost_user_end(struct vhost *v);
/* vhost_user_open on fd, a connected non-blocking socket whose peer is
 * trusted (taken; path names it in logs and is where a reconnection
 * goes): how the fuzzer talks to the parser as the backend. */
int vhost_user_open_fd(struct vhost *v, int fd, const char *path, struct virtio_dev *vdev,
		       unsigned first, unsigned nq, unsigned reconnect_s);
/* Who may be handed guest RAM: a backend running as iovirt's own user or
 * as root. */
bool vhost_user_peer_allowed(uid_t peer, uid_t self);
/* The process at the other end of the connected UNIX socket fd
 * (SO_PEERCRED): 0 when vhost_user_peer_allowed, -EPERM when not, or
 * -errno; *peer its uid. */
int vhost_user_check_peer(int fd, uid_t *peer);
/* Sends a reconnected backend the running rings' state, each ring going
 * on from the driver's used index. 0 or -errno. */
int vhost_resume(struct vhost *v);

#endif
