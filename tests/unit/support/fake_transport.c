#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/fake_transport.h"

static void signal_queue(struct virtio_dev *vdev, unsigned q)
{
	struct fake_transport *t = vdev->transport_opaque;
	assert_true(q < FAKE_TRANSPORT_MAX_QUEUES);
	t->signals[q]++;
	t->queue_signals++;
}

static void signal_config(struct virtio_dev *vdev)
{
	struct fake_transport *t = vdev->transport_opaque;
	t->config_signals++;
}

static int queue_irqfd_get(struct virtio_dev *vdev, unsigned q, unsigned *cookie)
{
	struct fake_transport *t = vdev->transport_opaque;
	uint16_t v = vdev->queues[q].msix_vector;
	if (!t->irqfds || v >= FAKE_TRANSPORT_MAX_VECTORS)
		return -1;
	*cookie = v;
	t->irqfd_gets++;
	return t->vector_fd[v];
}

static void queue_irqfd_put(struct virtio_dev *vdev, unsigned cookie)
{
	struct fake_transport *t = vdev->transport_opaque;
	assert_true(cookie < FAKE_TRANSPORT_MAX_VECTORS);
	t->irqfd_puts++;
}

static const struct virtio_transport_ops fake_transport_ops = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
	.queue_irqfd_get = queue_irqfd_get,
	.queue_irqfd_put = queue_irqfd_put,
};

void fake_transport_attach(struct fake_transport *t, struct virtio_dev *vdev)
{
	vdev->transport = &fake_transport_ops;
	vdev->transport_opaque = t;
}

void fake_transport_kick(struct virtio_dev *vdev, unsigned q)
{
	pthread_mutex_lock(&vdev->lock);
	if (virtio_queue_ready(vdev, q))
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

void fake_transport_notify(struct virtio_dev *vdev, unsigned q)
{
	pthread_mutex_lock(&vdev->lock);
	vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}
