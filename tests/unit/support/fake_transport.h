/* A fake virtio transport for device tests: records the interrupts the
 * device asks for, and delivers the driver's kicks as a transport would. */
#ifndef IOVIRT_TESTS_FAKE_TRANSPORT_H
#define IOVIRT_TESTS_FAKE_TRANSPORT_H

#include "virtio/virtio.h"

#define FAKE_TRANSPORT_MAX_QUEUES 8
#define FAKE_TRANSPORT_MAX_VECTORS 4

struct fake_transport {
	int signals[FAKE_TRANSPORT_MAX_QUEUES]; /* per queue */
	unsigned queue_signals;                 /* all queues */
	unsigned config_signals;
	/* With irqfds set, a queue whose msix_vector is v < MAX_VECTORS has
	 * vector_fd[v] as its irqfd (queue_irqfd_get), as MSI-X would;
	 * without, every queue is signalled through signal_queue (INTx). */
	bool irqfds;
	int vector_fd[FAKE_TRANSPORT_MAX_VECTORS];
	unsigned irqfd_gets, irqfd_puts;
};

/* Makes t vdev's transport. */
void fake_transport_attach(struct fake_transport *t, struct virtio_dev *vdev);

/* A notification of queue q, as the transport delivers one: only to a live
 * device's queue that was enabled and validated at DRIVER_OK. */
void fake_transport_kick(struct virtio_dev *vdev, unsigned q);

/* The device's queue_notify for q, whatever the device's state. */
void fake_transport_notify(struct virtio_dev *vdev, unsigned q);

#endif
