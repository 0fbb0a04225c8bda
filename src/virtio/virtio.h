/* A virtio device, independent of its transport (docs/ARCHITECTURE.md "virtio").
 *
 * A device model fills a virtio_dev (type, features, config space, queues,
 * ops); virtio_pci.c binds it to a pci_dev. The transport owns feature
 * negotiation, the status state machine, queue setup and validation, kicks
 * (ioeventfd → event loop → ops->queue_notify) and interrupts. Queue
 * processing and backend completions run on the event loop thread with
 * vdev->lock held; config-space accesses from vCPU threads take it too. */
#ifndef IOVIRT_VIRTIO_VIRTIO_H
#define IOVIRT_VIRTIO_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/guest_mem.h"
#include "core/loop.h"
#include "virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 64
#define VIRTIO_NO_VECTOR 0xffff

struct virtio_dev;
struct state_writer;
struct state_reader;

struct virtio_queue {
	uint16_t max_size;          /* offered to the driver */
	uint16_t size;              /* chosen by the driver */
	uint16_t msix_vector;
	bool enabled;               /* queue_enable written 1 */
	uint64_t desc, avail, used; /* guest-physical ring addresses */
	struct virtqueue vq;        /* valid once the device is live */
	int kick_fd;                /* eventfd: ioeventfd on the notify address */
	/* This queue's (core/counters.h): kicks the driver made, interrupts
	 * the transport raised, and the model's requests and bytes. */
	struct dev_counters counters;
	/* Self-kicks (virtio_queue_rekick) written to kick_fd and not yet
	 * read: the transport does not count them as the driver's kicks. */
	uint64_t rekicks;
};

struct virtio_dev_ops {
	/* Device config space (virtio 1.x §4.1.4.6); offsets already bounded
	 * by config_size. Called with the lock held. */
	void (*config_read)(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len);
	void (*config_write)(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len);
	/* DRIVER_OK with every enabled queue validated: start working. A
	 * negative return marks the device NEEDS_RESET. */
	int (*activate)(struct virtio_dev *vdev);
	/* The driver reset the device: forget queues and in-flight work
	 * (completions that arrive later must be dropped). */
	void (*reset)(struct virtio_dev *vdev);
	/* The driver kicked queue q (on the loop thread). */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* A live device's queue interrupts moved (a queue's MSI-X vector
	 * rewritten, MSI-X turned on or off): for a device whose queues are
	 * signalled from outside the VMM (vhost). Optional. Lock held. */
	void (*irq_moved)(struct virtio_dev *vdev);
	/* The device contract (core/device.h) through the transport, which
	 * saves the PCI function and the virtio common state itself: the
	 * model's own state (optional; a model without it has none), and
	 * freeing the model once the transport is gone. */
	/* save and load run with the lock held, after the transport's part
	 * (load: the transport validated its part, and applies it only after
	 * the model's load succeeded; a failing load must leave the model as
	 * it was). */
	/* Before a save, with the lock held: complete the requests in flight
	 * (the transport then refuses a queue that still has chains popped
	 * and not pushed). 0, or -errno after one line. Optional: a model
	 * that completes within its kick needs none. */
	int (*quiesce)(struct virtio_dev *vdev);
	/* After the save quiesce prepared (written or failed): the device
	 * runs again (vhost: the rings go back to the kernel or the backend,
	 * from where they stopped). Optional. Lock held. */
	void (*unquiesce)(struct virtio_dev *vdev);
	/* Requests popped and not yet completed (a pause waits for them);
	 * chains the model holds unused, which quiesce gives back, do not
	 * count. Optional: without it, any chain popped and not pushed is
	 * busy. Lock held. */
	bool (*busy)(struct virtio_dev *vdev);
	/* Migration's dirty log for what runs outside iovirt (vhost): log is
	 * the guest_mem log's bitmap, or NULL to stop. 0, or -ENOTSUP (a
	 * vhost-user backend) / -errno. Optional. Lock held. */
	int (*dirty_log)(struct virtio_dev *vdev, uint64_t *log);
	/* After a migration: tell the network where the guest is (a NIC's
	 * RARP). Optional. Lock held. */
	void (*announce)(struct virtio_dev *vdev);
	void (*save)(struct virtio_dev *vdev, struct state_writer *w);
	int (*load)(struct virtio_dev *vdev, struct state_reader *r);
	void (*destroy)(struct virtio_dev *vdev);
};

/* What the transport does for the device. */
struct virtio_transport_ops {
	void (*signal_queue)(struct virtio_dev *vdev, unsigned q);
	void (*signal_config)(struct virtio_dev *vdev);
	/* For a signaller outside the VMM (vhost): an eventfd whose write
	 * interrupts the driver for queue q as signal_queue would (masking
	 * included), and a cookie for the put; -1 when there is none (INTx,
	 * no vector): then signal_queue it is. Optional. Lock held. */
	int (*queue_irqfd_get)(struct virtio_dev *vdev, unsigned q, unsigned *cookie);
	void (*queue_irqfd_put)(struct virtio_dev *vdev, unsigned cookie);
};

struct virtio_dev {
	const char *name;
	uint16_t device_id;          /* VIRTIO_ID_BLOCK, ... */
	uint64_t device_features;    /* device-specific + VIRTIO_F_* the device supports */
	uint64_t acked_features;
	uint8_t status;
	uint8_t config_generation;
	unsigned config_size;
	unsigned nqueues;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
	uint16_t config_vector;
	const struct virtio_dev_ops *ops;
	const struct guest_mem *mem;
	struct loop *loop;
	pthread_mutex_t lock;
	bool live;                   /* DRIVER_OK and not broken */
	bool error_logged;           /* guest errors are logged once per device */
	/* set by the transport */
	const struct virtio_transport_ops *transport;
	void *transport_opaque;
};

void virtio_dev_init(struct virtio_dev *vdev, const char *name, uint16_t device_id,
		     unsigned nqueues, uint16_t queue_size, unsigned config_size,
		     uint64_t device_features, const struct virtio_dev_ops *ops,
		     const struct guest_mem *mem, struct loop *loop);
void virtio_dev_destroy(struct virtio_dev *vdev);

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return vdev->acked_features & (1ULL << bit);
}

/* Queue q may run: the device is live and q was enabled at DRIVER_OK with
 * its rings validated (virtq_init refuses size 0; a reset zeroes vq). */
static inline bool virtio_queue_ready(const struct virtio_dev *vdev, unsigned q)
{
	return q < vdev->nqueues && vdev->live && vdev->queues[q].enabled &&
	       vdev->queues[q].vq.size;
}

/* After pushing used entries on q: interrupt the driver if the ring says
 * so (event idx / NO_INTERRUPT). Lock held. */
void virtio_queue_done(struct virtio_dev *vdev, unsigned q);

/* More work waits than one batch may do (docs/ARCHITECTURE.md "virtio":
 * bounded work per kick): queue q kicks itself, so the event loop comes
 * back to it after other events. Any thread. */
void virtio_queue_rekick(struct virtio_dev *vdev, unsigned q);

/* A guest protocol violation: mark DEVICE_NEEDS_RESET (§2.1.2), stop
 * processing, tell the driver with a config interrupt. Lock held. */
void virtio_dev_set_broken(struct virtio_dev *vdev, const char *why);

/* Config space changed (e.g. link status): bump generation, interrupt. */
void virtio_config_changed(struct virtio_dev *vdev);

/* The transport moved queue interrupts (see ops->irq_moved). Lock held. */
void virtio_dev_irq_moved(struct virtio_dev *vdev);

/* Transport-side state machine, used by virtio_pci.c (and tests). */
void virtio_dev_reset(struct virtio_dev *vdev);
void virtio_dev_write_status(struct virtio_dev *vdev, uint8_t status);

/* ---- state (virtio_state.c; docs/ARCHITECTURE.md "State") ----
 *
 * The common state a transport saves inside its device's record: section
 * "virtio" v1 with the status, negotiated features, config generation and
 * vector, the transport's selectors, and per queue ("q0", "q1", ...) its
 * size, enable, vector, ring addresses and the device's positions in it. */

/* The transport's selector registers (§4.1.4.3), saved with the rest. */
struct virtio_selects {
	uint32_t device_feature, driver_feature;
	uint16_t queue;
};

/* Nothing in flight: every chain popped was pushed back. Else false with
 * the first busy queue and its count. Lock held. */
bool virtio_dev_idle(const struct virtio_dev *vdev, unsigned *q, unsigned *inflight);

/* Writes section "virtio" (the device must be idle). Lock held. */
void virtio_state_save(const struct virtio_dev *vdev, const struct virtio_selects *sel,
		       struct state_writer *w);

/* A "virtio" section read and validated, not yet applied. */
struct virtio_state_queue {
	uint16_t size, msix_vector;
	bool enabled;
	uint64_t desc, avail, used;
	uint16_t last_avail_idx, used_idx, signalled_used;
	bool signalled_used_valid;
};

struct virtio_state {
	bool live;
	uint8_t status, config_generation;
	uint64_t acked_features;
	uint16_t config_vector;
	struct virtio_selects sel;
	struct virtio_state_queue queues[VIRTIO_MAX_QUEUES];
};

/* Reads section "virtio" into *s and checks it against this device (nvec:
 * the transport's interrupt vectors) and guest RAM: 0, or -EINVAL with the
 * field named in r. Changes nothing. Lock held. */
int virtio_state_read(const struct virtio_dev *vdev, unsigned nvec, struct state_reader *r,
		      struct virtio_state *s);

/* Applies what virtio_state_read accepted to a device in its reset state;
 * a live one gets its queues running as DRIVER_OK would (rings validated,
 * the model's activate), and queues with work waiting kick themselves.
 * Lock held. */
void virtio_state_apply(struct virtio_dev *vdev, const struct virtio_state *s);

/* What DRIVER_OK does (virtio.c): validate the enabled queues' rings and
 * start the model; with s, each queue resumes at its saved positions (for
 * virtio_state_apply). Lock held. */
void virtio_dev_activate(struct virtio_dev *vdev, const struct virtio_state *s);

#endif
