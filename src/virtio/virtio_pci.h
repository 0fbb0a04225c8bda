/* The virtio-pci modern transport (virtio 1.x §4.1): binds a virtio_dev to a
 * pci_dev. BAR0 holds the common, ISR, device and notify structures; BAR1
 * the MSI-X table. Each queue's notify address is an ioeventfd, so a kick
 * reaches the event loop without a trip through the vCPU thread. */
#ifndef IOVIRT_VIRTIO_VIRTIO_PCI_H
#define IOVIRT_VIRTIO_VIRTIO_PCI_H

#include "bus/msix.h"
#include "bus/pci.h"
#include "core/device.h"
#include "virtio/virtio.h"

/* BAR0 layout. */
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF    0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_BAR0_SIZE  0x4000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000

struct virtio_pci;

/* What a queue's kick eventfd callback needs. */
struct virtio_pci_kick {
	struct virtio_pci *vp;
	unsigned q;
};

/* Every virtio device is one struct device of the kind its model names
 * ("virtio-blk", "vhost-user-blk", ...): the transport implements the
 * contract for all of them (core/device.h):
 *   reset     the virtio reset (as the driver's status write of 0)
 *   counters  the device's (exits: the PCI function's guest accesses;
 *             config interrupts), then each queue's as "q0", "q1", ...
 *             (kicks, interrupts; the model's requests and bytes)
 *   save      section <kind> v1: "virtio" (virtio_state.c), the ISR, "pci",
 *             "msix", then the model's own (vdev->ops->save), between the
 *             model's quiesce and unquiesce (vhost: the rings back from
 *             the kernel or the backend, and handed over again). A device
 *             with requests still in flight refuses with one line.
 *   load      into a freshly created instance: the virtio state is read and
 *             checked first; if anything after it fails, the PCI function,
 *             MSI-X and model go back to what they were; a live device's
 *             queues are made live as DRIVER_OK makes them.
 *   destroy   quiesce, tear down the transport, the model's destroy, free. */
struct virtio_pci {
	struct pci_dev pci;          /* first: pci_dev callbacks cast back */
	struct device dev;
	struct device_ops dev_ops;   /* virtio_pci's, with kind = the model's name */
	struct msix msix;
	struct virtio_dev *vdev;
	int vm_fd;                 /* for KVM_IOEVENTFD; -1 in tests */
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint8_t isr;
	unsigned holds;              /* quiesce nesting (vp_quiesce) */
	uint64_t notify_base;      /* where the notify area's ioeventfds sit; 0 = none */
	int pci_cfg_cap;           /* offset of the VIRTIO_PCI_CAP_PCI_CFG window */
	struct virtio_pci_kick kicks[VIRTIO_MAX_QUEUES];
};

/* 0 or -errno (logged). routing may be NULL (tests: no MSI routes). The
 * device's id is the model's name until the machine names it. */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev,
		    struct irq_routing *routing, int vm_fd);
/* virtio_pci_init on a new allocation: NULL after one line (vdev is left
 * to the caller then). The contract's destroy frees it, and the model. */
struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev, struct irq_routing *routing,
				     int vm_fd);
struct device *virtio_pci_device(struct virtio_pci *vp);
/* Resets the device as a driver's status write of 0 would, while the
 * transport is still whole: a device the guest left running (a panic, a
 * signal) stops its backends, and a running vhost hands its irqfds back
 * through the transport. Call on every device before destroying any. */
void virtio_pci_quiesce(struct virtio_pci *vp);
void virtio_pci_destroy(struct virtio_pci *vp);

#endif
