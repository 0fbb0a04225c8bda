/* The virtio-pci modern transport (virtio 1.x §4.1): binds a virtio_dev to a
 * pci_dev. BAR0 holds the common, ISR, device and notify structures; BAR1
 * the MSI-X table. Each queue's notify address is an ioeventfd, so a kick
 * reaches the event loop without a trip through the vCPU thread. */
#ifndef IOVIRT_VIRTIO_VIRTIO_PCI_H
#define IOVIRT_VIRTIO_VIRTIO_PCI_H

#include "bus/msix.h"
#include "bus/pci.h"
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

struct virtio_pci {
	struct pci_dev pci;
	struct msix msix;
	struct virtio_dev *vdev;
	int vm_fd;                 /* for KVM_IOEVENTFD; -1 in tests */
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint8_t isr;
	uint64_t notify_base;      /* where the notify area's ioeventfds sit; 0 = none */
	int pci_cfg_cap;           /* offset of the VIRTIO_PCI_CAP_PCI_CFG window */
	struct virtio_pci_kick kicks[VIRTIO_MAX_QUEUES];
};

/* 0 or -errno (logged). routing may be NULL (tests: no MSI routes). */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev,
		    struct irq_routing *routing, int vm_fd);
/* Resets the device as a driver's status write of 0 would, while the
 * transport is still whole: a device the guest left running (a panic, a
 * signal) stops its backends, and a running vhost hands its irqfds back
 * through the transport. Call on every device before destroying any. */
void virtio_pci_quiesce(struct virtio_pci *vp);
void virtio_pci_destroy(struct virtio_pci *vp);

#endif
