/* vhost: a device's virtqueues served outside the event loop
 * (docs/ARCHITECTURE.md "vhost"), by the host kernel (linux/vhost.h,
 * vhost_open) or by a backend process over a UNIX socket (vhost-user,
 * vhost_user_open). Either reads the rings and
 * buffers through the guest RAM table it is given (and bounds-checks every
 * guest address itself), takes the driver's kicks straight from the
 * queues' ioeventfds and signals used buffers on an eventfd per queue.
 *
 * Interrupts: with MSI-X, the kernel writes the queue's vector's irqfd
 * itself (the transport's queue_irqfd_get; masking unbinds the irqfd, so a
 * masked vector holds its signal), no VMM thread per interrupt. Otherwise
 * (INTx, which needs the ISR bit) a call eventfd is read on the event loop,
 * which signals the queue through the transport. A ring error the kernel
 * finds (a bad descriptor) arrives on an error eventfd and marks the device
 * NEEDS_RESET.
 *
 * One struct vhost serves queues first .. first+nq-1 of a virtio_dev (a
 * virtio-net queue pair: receiveq, transmitq). All calls with vdev->lock
 * held, except vhost_open/vhost_close. */
#ifndef IOVIRT_VIRTIO_VHOST_VHOST_H
#define IOVIRT_VIRTIO_VHOST_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VHOST_MAX_RINGS 16

struct vhost;

struct vhost_ring {
	struct vhost *v;
	unsigned index;     /* the kernel's ring index: 0..nq-1 */
	int call_fd;        /* kernel -> loop: used buffers to signal (INTx) */
	int err_fd;         /* kernel -> loop: the ring is broken */
	bool irqfd;         /* the kernel signals the transport's irqfd instead */
	int irqfd_fd;       /* that irqfd (sent again to a reconnected backend) */
	unsigned irqfd_cookie;
	bool started;       /* handed over (a queue the driver did not enable is not) */
};

struct vhost {
	int fd;                       /* /dev/vhost-net, ..., or the vhost-user socket */
	bool user;                    /* vhost-user */
	char path[108];               /* vhost-user: the socket's path */
	bool hup_watched;             /* vhost-user: the loop watches fd for a hang-up */
	bool user_dead;               /* vhost-user: hung up, or out of step: no more calls */
	/* vhost-user: when the exchange under way (or the operation:
	 * vhost_user_begin) must be over, CLOCK_MONOTONIC ns. */
	uint64_t deadline_ns;
	unsigned op_depth;            /* vhost_user_begin calls not yet ended */
	bool no_reply;                /* this operation asks for no REPLY_ACK */
	bool peer_refused;            /* a refused peer was logged (once while away) */
	uint64_t protocol_features;   /* vhost-user: negotiated */
	uint64_t features;            /* what the backend implements (GET_FEATURES):
				       * a device offers no ring feature outside it */
	uint64_t acked;               /* the features the rings run with (vhost_start) */
	/* vhost-user: a backend that hangs up is connected to again every
	 * reconnect_s seconds (0: never), and what it had is replayed. */
	unsigned reconnect_s;
	int reconnect_timer;          /* timerfd while away, else -1 */
	uint64_t reconnects;
	/* vhost-user: the backend's in-flight request log (INFLIGHT_SHMFD),
	 * kept across reconnects so a new backend process resubmits what the
	 * old one had not completed; -1 without one. */
	int inflight_fd;
	uint64_t inflight_size, inflight_offset;
	/* vhost-user: the channel on which the backend sends requests of its
	 * own (BACKEND_REQ), -1 without; a config change it announces (a
	 * resized disk) is passed to config_change (loop thread, lock held). */
	int backend_fd;
	void (*config_change)(struct vhost *v);
	struct virtio_dev *vdev;
	unsigned first, nq;           /* the device's queues this serves */
	struct vhost_ring rings[VHOST_MAX_RINGS];
	bool running;
	uint64_t *log;                /* migration's dirty log (vhost_set_log), or NULL */
	uint64_t relayed;             /* interrupts the loop passed on (INTx) */
};

/* Opens dev (e.g. "/dev/vhost-net"), becomes its owner and reads its
 * features; the eventfds are made and added to vdev's loop. 0, or -errno
 * after one clear line. */
int vhost_open(struct vhost *v, const char *dev, struct virtio_dev *vdev, unsigned first,
	       unsigned nq);
void vhost_close(struct vhost *v);

/* Connects to a vhost-user backend at the UNIX socket path, becomes its
 * owner, reads its features and negotiates the protocol features iovirt
 * uses (MQ, REPLY_ACK, CONFIG, INFLIGHT_SHMFD, BACKEND_REQ). Guest RAM must be a shared
 * memfd (the backend maps it), and the backend's process iovirt's own
 * user's or root's (SO_PEERCRED, on every connection). Should the backend hang up later, it is
 * connected to again every reconnect_s seconds (0: the device needs a
 * reset instead); running rings are handed over again only with the
 * in-flight log (INFLIGHT_SHMFD), without which a new backend cannot know
 * which requests the old one left unfinished. 0, or -errno after one clear
 * line. */
int vhost_user_open(struct vhost *v, const char *path, struct virtio_dev *vdev, unsigned first,
		    unsigned nq, unsigned reconnect_s);
/* How long one exchange with a vhost-user backend (a request and the
 * reply it is owed, every read of it) or one operation (vhost_start,
 * vhost_stop, a reconnection) may take in all, in ms; a backend that is
 * slower counts as gone. Tests shorten it (the fuzzer makes it 0: what
 * has not arrived yet counts as never coming). */
extern unsigned vhost_user_timeout_ms;

/* vhost-user: the backend's queue count (1 without the MQ protocol
 * feature); its device config space (-ENOTSUP without CONFIG). A config
 * write asks for no reply (a vCPU thread must not wait on the backend):
 * 0 once sent; what the backend makes of it is taken on trust. */
int vhost_user_queue_num(struct vhost *v, unsigned *n);
int vhost_user_get_config(struct vhost *v, void *buf, unsigned len);
int vhost_user_set_config(struct vhost *v, unsigned offset, const void *buf, unsigned len);

/* Hands the queues the driver enabled to the backend: features (the
 * driver's, those the backend knows), the guest RAM table, each ring's
 * size, addresses, start index 0, kick (the queue's ioeventfd, which the
 * loop then stops watching) and call/error eventfds. The device-specific backend (VHOST_NET_SET_BACKEND)
 * is the caller's, after this. 0 or -errno (logged). */
int vhost_start(struct vhost *v, uint64_t features);
/* The driver moved the interrupt of a running queue (its MSI-X vector,
 * MSI-X on or off): the backend is told where to signal now. */
void vhost_irq_moved(struct vhost *v);
/* Takes the queues back from the backend (no more ring access by it once
 * this returns) and the loop watches their kicks again. Idempotent. */
void vhost_stop(struct vhost *v);

/* Migration: the kernel marks every page it writes (buffers, used rings)
 * in log (guest_mem_log.h's bitmap: VHOST_SET_LOG_BASE, VHOST_F_LOG_ALL,
 * VHOST_VRING_F_LOG), from now on and in rings started later; NULL stops
 * it. A vhost-user backend maps the log's memfd (LOG_SHMFD); -ENOTSUP for
 * one without. 0 or -errno. */
int vhost_set_log(struct vhost *v, uint64_t *log);

#endif
