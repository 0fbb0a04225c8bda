/* The queue-service sequence every virtio device model runs when a queue
 * has work (docs/ARCHITECTURE.md "virtio"), written once (as Firecracker's
 * pop_or_enable_notification):
 *
 *   disable kicks; pop at most queue-size chains, handing each to the
 *   model; a refused chain marks the device broken (§2.1.2); when the ring
 *   is empty, re-enable kicks and look once more (§2.7.10: a buffer made
 *   available while kicks were off would otherwise never be kicked); when
 *   the budget is spent with work left, the queue kicks itself so other
 *   events run first; the used ring is signalled once for the whole batch.
 *
 * The models differ only through the hooks: blk pops only while it has a
 * free request slot and keeps chains in flight until the backend
 * completes; console TX holds a chain while its output is full; console RX
 * delivers one read per input event. Lock held (vdev->lock), loop thread. */
#ifndef IOVIRT_VIRTIO_QUEUE_SERVICE_H
#define IOVIRT_VIRTIO_QUEUE_SERVICE_H

#include <stdbool.h>

#include "virtio/virtio.h"

/* What the model did with a chain. */
enum qs_verdict {
	QS_NEXT,   /* done with it (pushed, or handed to a backend): pop the next */
	QS_PAUSE,  /* stop popping; the model calls the service again when it can go
		    * on (output full: it holds the chain; one read per event) */
	QS_BROKEN, /* the chain breaks the protocol: the model called
		    * virtio_dev_set_broken with its reason */
};

/* How a run ended. */
enum qs_result {
	QS_IDLE,     /* ring empty, kicks on: the driver's next buffer kicks */
	QS_PAUSED,   /* the model paused, or can_pop refused with work waiting:
		      * kicks stay off until the model runs the service again */
	QS_REKICKED, /* the budget was spent with work left: the queue kicked itself */
	QS_STOPPED,  /* the device is not live (or just broke): nothing done */
};

struct queue_service_ops {
	/* A popped chain (device-readable and -writable parts checked by
	 * virtq_pop). Required. */
	enum qs_verdict (*handle)(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain);
	/* Optional: may one more chain be popped now? No while the ring has
	 * work pauses the queue (blk: every request slot is taken). */
	bool (*can_pop)(struct virtio_dev *vdev, unsigned q);
	/* Optional: first, finish what the last pause held; false: still
	 * cannot (the run stays paused). */
	bool (*resume)(struct virtio_dev *vdev, unsigned q);
	/* Optional: after the pops, before the used ring is signalled (blk
	 * submits the requests it collected for merging). */
	void (*batch_end)(struct virtio_dev *vdev, unsigned q);
};

/* Serves queue q with the model's ops; chain is the model's scratch. A
 * chain the virtqueue refuses, or one the model calls QS_BROKEN, counts as
 * rejected on q's counters; the model counts the rest. */
enum qs_result queue_service_run(struct virtio_dev *vdev, unsigned q,
				 const struct queue_service_ops *ops, struct virtq_chain *chain);

#endif
