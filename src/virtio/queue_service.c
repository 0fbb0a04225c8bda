/* The queue-service sequence. See queue_service.h. */
#include "virtio/queue_service.h"

/* Pops and hands chains to the model until the ring is empty (QS_IDLE),
 * the budget is spent, the model pauses or the device breaks. */
static enum qs_result serve(struct virtio_dev *vdev, unsigned q,
			    const struct queue_service_ops *ops, struct virtq_chain *chain,
			    unsigned *budget)
{
	struct virtio_queue *queue = &vdev->queues[q];
	struct virtqueue *vq = &queue->vq;

	while (*budget) {
		if (ops->can_pop && !ops->can_pop(vdev, q))
			return virtq_has_work(vq) ? QS_PAUSED : QS_IDLE;
		int ret = virtq_pop(vq, chain);
		if (ret == 0)
			return QS_IDLE;
		if (ret < 0) {
			counter_inc(&queue->counters.rejected);
			virtio_dev_set_broken(vdev, vq->error ? vq->error : "bad virtqueue");
			return QS_STOPPED;
		}
		(*budget)--;
		switch (ops->handle(vdev, q, chain)) {
		case QS_NEXT:
			break;
		case QS_PAUSE:
			return QS_PAUSED;
		case QS_BROKEN:
			counter_inc(&queue->counters.rejected);
			return QS_STOPPED;
		}
		if (!vdev->live) /* the model's work broke the device */
			return QS_STOPPED;
	}
	return QS_REKICKED;
}

enum qs_result queue_service_run(struct virtio_dev *vdev, unsigned q,
				 const struct queue_service_ops *ops, struct virtq_chain *chain)
{
	if (!virtio_queue_ready(vdev, q))
		return QS_STOPPED;
	struct virtqueue *vq = &vdev->queues[q].vq;
	uint16_t used_before = vq->used_idx;
	unsigned budget = vq->size; /* bounded work per kick */
	enum qs_result res = QS_PAUSED;

	virtq_disable_kicks(vq);
	if (ops->resume && !ops->resume(vdev, q))
		goto out;
	for (;;) {
		res = serve(vdev, q, ops, chain, &budget);
		if (res == QS_PAUSED || res == QS_STOPPED)
			break;
		/* §2.7.10: kicks on, then look again: what the driver made
		 * available while they were off is seen now or kicked later. */
		if (!virtq_enable_kicks(vq)) {
			res = QS_IDLE;
			break;
		}
		if (res == QS_REKICKED) {
			virtio_queue_rekick(vdev, q);
			break;
		}
		virtq_disable_kicks(vq);
	}
out:
	if (ops->batch_end)
		ops->batch_end(vdev, q);
	if (vq->used_idx != used_before)
		virtio_queue_done(vdev, q);
	return res;
}
