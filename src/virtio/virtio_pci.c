#include "virtio/virtio_pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/guest_mem_log.h"
#include "core/log.h"
#include "core/state.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device id: modern-only (§4.1.2.1) */

#define ISR_QUEUE  0x1
#define ISR_CONFIG 0x2

static uint32_t class_of(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK: return 0x018000;   /* mass storage, other */
	case VIRTIO_ID_NET: return 0x020000;     /* ethernet */
	case VIRTIO_ID_CONSOLE: return 0x078000; /* communication, other */
	default: return 0x00ff00;                /* unclassified */
	}
}

/* ---- interrupts -------------------------------------------------------- */

/* Raises the interrupt and counts it on c: an MSI-X message sent (or left
 * pending while masked, to be sent on unmask), or INTx asserted. A queue
 * without a vector under MSI-X raises nothing. */
static void raise_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit,
			    struct dev_counters *c)
{
	if (msix_enabled(&vp->msix)) {
		if (vector != VIRTIO_NO_VECTOR && msix_notify(&vp->msix, vector))
			counter_inc(&c->interrupts);
		return;
	}
	vp->isr |= isr_bit;
	pci_dev_set_intx(&vp->pci, true);
	counter_inc(&c->interrupts);
}

static void signal_queue(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_pci *vp = vdev->transport_opaque;
	raise_interrupt(vp, vdev->queues[q].msix_vector, ISR_QUEUE, &vdev->queues[q].counters);
}

static void signal_config(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport_opaque;
	raise_interrupt(vp, vdev->config_vector, ISR_CONFIG, &vp->dev.counters);
}

/* The queue's MSI-X vector's irqfd, when MSI-X is on and the queue has a
 * vector; INTx needs the ISR bit, which only signal_queue sets. A vector
 * rewritten, or MSI-X turned on or off, while the device runs is passed on
 * (virtio_dev_irq_moved), so a vhost backend signals the new target. */
static int queue_irqfd_get(struct virtio_dev *vdev, unsigned q, unsigned *cookie)
{
	struct virtio_pci *vp = vdev->transport_opaque;
	uint16_t v = vdev->queues[q].msix_vector;
	if (v == VIRTIO_NO_VECTOR || !msix_enabled(&vp->msix))
		return -1;
	*cookie = v;
	return msix_direct_get(&vp->msix, v);
}

static void queue_irqfd_put(struct virtio_dev *vdev, unsigned cookie)
{
	struct virtio_pci *vp = vdev->transport_opaque;
	msix_direct_put(&vp->msix, cookie);
}

static const struct virtio_transport_ops transport_ops = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
	.queue_irqfd_get = queue_irqfd_get,
	.queue_irqfd_put = queue_irqfd_put,
};

/* ---- common configuration (§4.1.4.3) ----------------------------------- */

static struct virtio_queue *selected(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;
	return vp->queue_select < vdev->nqueues ? &vdev->queues[vp->queue_select] : NULL;
}

static uint64_t common_read(struct virtio_pci *vp, unsigned off)
{
	struct virtio_dev *vdev = vp->vdev;
	struct virtio_queue *q = selected(vp);
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: return vp->device_feature_select;
	case VIRTIO_PCI_COMMON_DF:
		return vp->device_feature_select < 2
			       ? (uint32_t)(vdev->device_features >> (32 * vp->device_feature_select))
			       : 0;
	case VIRTIO_PCI_COMMON_GFSELECT: return vp->driver_feature_select;
	case VIRTIO_PCI_COMMON_GF:
		return vp->driver_feature_select < 2
			       ? (uint32_t)(vdev->acked_features >> (32 * vp->driver_feature_select))
			       : 0;
	case VIRTIO_PCI_COMMON_MSIX: return vdev->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ: return vdev->nqueues;
	case VIRTIO_PCI_COMMON_STATUS: return vdev->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION: return vdev->config_generation;
	case VIRTIO_PCI_COMMON_Q_SELECT: return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_SIZE: return q ? q->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX: return q ? q->msix_vector : VIRTIO_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE: return q ? q->enabled : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF: return q ? vp->queue_select : 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO: return q ? (uint32_t)q->desc : 0;
	case VIRTIO_PCI_COMMON_Q_DESCHI: return q ? (uint32_t)(q->desc >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: return q ? (uint32_t)q->avail : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILHI: return q ? (uint32_t)(q->avail >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_USEDLO: return q ? (uint32_t)q->used : 0;
	case VIRTIO_PCI_COMMON_Q_USEDHI: return q ? (uint32_t)(q->used >> 32) : 0;
	default: return 0;
	}
}

static void set_half(uint64_t *v, bool high, uint32_t half)
{
	*v = high ? (*v & 0xffffffffULL) | (uint64_t)half << 32
		  : (*v & ~0xffffffffULL) | half;
}

static uint16_t checked_vector(struct virtio_pci *vp, uint32_t v)
{
	/* §4.1.5.1.2: a vector the device cannot use reads back NO_VECTOR. */
	return v < vp->msix.nvec ? (uint16_t)v : VIRTIO_NO_VECTOR;
}

static void common_write(struct virtio_pci *vp, unsigned off, uint32_t val)
{
	struct virtio_dev *vdev = vp->vdev;
	struct virtio_queue *q = selected(vp);
	bool features_open = !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
	/* Queue registers are the driver's only before DRIVER_OK (§4.1.4.3.2),
	 * a queue's size and rings only until it is enabled (the driver
	 * configures them "before enabling the virtqueue"). DRIVER_OK cannot
	 * be cleared but by a reset, so what it validated is what runs. */
	bool queue_open = q && !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK);
	bool ring_open = queue_open && !q->enabled;
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: vp->device_feature_select = val; break;
	case VIRTIO_PCI_COMMON_GFSELECT: vp->driver_feature_select = val; break;
	case VIRTIO_PCI_COMMON_GF:
		if (features_open && vp->driver_feature_select < 2)
			set_half(&vdev->acked_features, vp->driver_feature_select == 1, val);
		break;
	case VIRTIO_PCI_COMMON_MSIX: vdev->config_vector = checked_vector(vp, val); break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_dev_write_status(vdev, (uint8_t)val);
		if (val == 0) {
			vp->isr = 0;
			pci_dev_set_intx(&vp->pci, false);
		}
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT: vp->queue_select = (uint16_t)val; break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* Any power of two up to the maximum (§2.7). */
		if (ring_open && val && val <= q->max_size && !(val & (val - 1)))
			q->size = (uint16_t)val;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (q) {
			uint16_t old = q->msix_vector;
			q->msix_vector = checked_vector(vp, val);
			if (q->msix_vector != old && q->enabled)
				virtio_dev_irq_moved(vdev);
		}
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (queue_open && val == 1)
			q->enabled = true;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (ring_open)
			set_half(&q->desc, off == VIRTIO_PCI_COMMON_Q_DESCHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (ring_open)
			set_half(&q->avail, off == VIRTIO_PCI_COMMON_Q_AVAILHI, val);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (ring_open)
			set_half(&q->used, off == VIRTIO_PCI_COMMON_Q_USEDHI, val);
		break;
	default:
		break; /* read-only or reserved */
	}
}

/* Every common-config field is naturally aligned; an access must hit one
 * field exactly (drivers split 64-bit fields into two dwords). */
static unsigned field_size(unsigned off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return off < 0x38 && !(off & 3) ? 4 : 0;
	}
}

/* ---- BAR0 ---------------------------------------------------------------- */

static void bar0_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	memset(data, 0, len);
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFF) {
		if (field_size((unsigned)offset) == len)
			iobus_store_le(data, len, common_read(vp, (unsigned)offset));
	} else if (offset == VIRTIO_PCI_ISR_OFF) {
		/* Reading the ISR acknowledges it and drops INTx (§4.1.4.5). */
		data[0] = vp->isr;
		vp->isr = 0;
		pci_dev_set_intx(&vp->pci, false);
	} else if (offset >= VIRTIO_PCI_DEVICE_OFF && offset < VIRTIO_PCI_NOTIFY_OFF) {
		unsigned off = (unsigned)(offset - VIRTIO_PCI_DEVICE_OFF);
		if (off < vdev->config_size && len <= vdev->config_size - off && vdev->ops->config_read)
			vdev->ops->config_read(vdev, off, data, len);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void kick(struct virtio_pci *vp, unsigned q)
{
	uint64_t one = 1;
	if (q < vp->vdev->nqueues && vp->vdev->queues[q].kick_fd >= 0) {
		ssize_t r = write(vp->vdev->queues[q].kick_fd, &one, sizeof(one));
		(void)r;
	}
}

static void bar0_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	if (offset >= VIRTIO_PCI_NOTIFY_OFF) {
		/* Only without ioeventfds (or a notify outside them): hand the
		 * kick to the event loop like KVM would. */
		kick(vp, (unsigned)((offset - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULTIPLIER));
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (offset < VIRTIO_PCI_ISR_OFF) {
		if (field_size((unsigned)offset) == len)
			common_write(vp, (unsigned)offset, (uint32_t)iobus_load_le(data, len));
	} else if (offset >= VIRTIO_PCI_DEVICE_OFF) {
		unsigned off = (unsigned)(offset - VIRTIO_PCI_DEVICE_OFF);
		if (off < vdev->config_size && len <= vdev->config_size - off && vdev->ops->config_write)
			vdev->ops->config_write(vdev, off, data, len);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static const struct iobus_ops bar0_ops = {.read = bar0_read, .write = bar0_write};

static void msix_bar_read_op(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	if (!msix_bar_read(&vp->msix, offset, data, len))
		memset(data, 0, len);
}

static void msix_bar_write_op(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct virtio_pci *vp = opaque;
	msix_bar_write(&vp->msix, offset, data, len);
}

static const struct iobus_ops msix_bar_ops = {.read = msix_bar_read_op,
					      .write = msix_bar_write_op};

/* ---- kicks: ioeventfd → event loop → device ----------------------------- */

static int set_ioeventfds(struct virtio_pci *vp, uint64_t base, bool assign)
{
	if (vp->vm_fd < 0)
		return 0;
	for (unsigned q = 0; q < vp->vdev->nqueues; q++) {
		struct kvm_ioeventfd io = {
			.addr = base + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULTIPLIER,
			.len = 2, /* drivers write the 16-bit queue index */
			.fd = vp->vdev->queues[q].kick_fd,
			.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};
		if (ioctl(vp->vm_fd, KVM_IOEVENTFD, &io) < 0 && assign) {
			log_warn("%s: KVM_IOEVENTFD failed; kicks go through the vCPU", vp->vdev->name);
			return -errno;
		}
	}
	return 0;
}

/* Called with the pci_dev lock held: only ioeventfd bookkeeping here. */
static void bar_mapped(struct pci_dev *dev, int bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	if (bar != 0)
		return;
	if (vp->notify_base) {
		set_ioeventfds(vp, vp->notify_base, false);
		vp->notify_base = 0;
	}
	if (mapped && set_ioeventfds(vp, addr + VIRTIO_PCI_NOTIFY_OFF, true) == 0)
		vp->notify_base = addr + VIRTIO_PCI_NOTIFY_OFF;
}

/* §4.1.4.9: the PCI configuration access capability is a window onto
 * BAR0: the driver sets bar/offset/length, then reads or writes
 * pci_cfg_data. Returns the access's BAR offset and length, or false. */
static bool cfg_window(struct virtio_pci *vp, unsigned offset, unsigned len,
		       uint64_t *bar_off, unsigned *bar_len)
{
	unsigned data = (unsigned)vp->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	if (vp->pci_cfg_cap <= 0 || offset != data)
		return false;
	unsigned bar = pci_cfg_get(&vp->pci, (unsigned)vp->pci_cfg_cap +
				   offsetof(struct virtio_pci_cap, bar), 1);
	uint32_t off = pci_cfg_get(&vp->pci, (unsigned)vp->pci_cfg_cap +
				   offsetof(struct virtio_pci_cap, offset), 4);
	uint32_t length = pci_cfg_get(&vp->pci, (unsigned)vp->pci_cfg_cap +
				      offsetof(struct virtio_pci_cap, length), 4);
	/* Only BAR0, naturally aligned 1/2/4-byte accesses inside it. */
	if (bar != 0 || (length != 1 && length != 2 && length != 4) || length > len ||
	    off % length || off >= VIRTIO_PCI_BAR0_SIZE)
		return false;
	*bar_off = off;
	*bar_len = length;
	return true;
}

static void config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	bool msix_was = msix_enabled(&vp->msix);
	msix_config_written(&vp->msix, offset, len);
	if (msix_enabled(&vp->msix) != msix_was) {
		pthread_mutex_lock(&vp->vdev->lock);
		virtio_dev_irq_moved(vp->vdev);
		pthread_mutex_unlock(&vp->vdev->lock);
	}
	uint64_t bar_off;
	unsigned bar_len;
	if (cfg_window(vp, offset, len, &bar_off, &bar_len)) {
		uint8_t data[4];
		unsigned at = (unsigned)vp->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
		for (unsigned i = 0; i < 4; i++)
			data[i] = (uint8_t)pci_cfg_get(dev, at + i, 1);
		bar0_write(vp, bar_off, data, bar_len);
	}
}

static void config_read(struct pci_dev *dev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	uint64_t bar_off;
	unsigned bar_len;
	if (cfg_window(vp, offset, len, &bar_off, &bar_len))
		bar0_read(vp, bar_off, data, bar_len);
}

static const struct pci_dev_ops pci_ops = {
	.config_written = config_written,
	.config_read = config_read,
	.bar_mapped = bar_mapped,
};

/* Every notification reaches iovirt here: through KVM's ioeventfd, or a
 * notify-register write (bar0_write) passed on through the same eventfd.
 * n is how many arrived since the last read; the device's own re-kicks
 * among them are not the driver's. */
static void on_kick(void *opaque, uint32_t events)
{
	struct virtio_pci_kick *k = opaque;
	struct virtio_dev *vdev = k->vp->vdev;
	struct virtio_queue *vq = &vdev->queues[k->q];
	uint64_t n;
	if (read(vq->kick_fd, &n, sizeof(n)) < 0)
		return;
	uint64_t own = __atomic_exchange_n(&vq->rekicks, 0, __ATOMIC_RELAXED);
	if (own > n) /* a re-kick counted, its write not read yet: next time */
		counter_add(&vq->rekicks, own - n);
	counter_add(&vq->counters.kicks, n > own ? n - own : 0);
	pthread_mutex_lock(&vdev->lock);
	if (virtio_queue_ready(vdev, k->q) && vdev->ops->queue_notify)
		vdev->ops->queue_notify(vdev, k->q);
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- capabilities (§4.1.4) ---------------------------------------------- */

static int add_virtio_cap(struct pci_dev *dev, uint8_t type, uint32_t offset, uint32_t length,
			  const void *extra, unsigned extra_len)
{
	uint8_t body[sizeof(struct virtio_pci_notify_cap) - 2] = {0};
	/* struct virtio_pci_cap minus cap_vndr/cap_next. */
	body[0] = (uint8_t)(sizeof(struct virtio_pci_cap) + extra_len); /* cap_len */
	body[1] = type;        /* cfg_type */
	body[2] = 0;           /* bar */
	memcpy(&body[6], &offset, 4);
	memcpy(&body[10], &length, 4);
	if (extra_len)
		memcpy(&body[14], extra, extra_len);
	return pci_dev_add_cap(dev, PCI_CAP_ID_VNDR, body,
			       (unsigned)sizeof(struct virtio_pci_cap) - 2 + extra_len);
}

static const struct device_ops device_ops;

int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev,
		    struct irq_routing *routing, int vm_fd)
{
	memset(&vp->pci, 0, sizeof(vp->pci));
	vp->dev_ops = device_ops;
	vp->dev_ops.kind = vdev->name;
	device_init(&vp->dev, &vp->dev_ops, vdev->name);
	vp->vdev = vdev;
	vp->vm_fd = vm_fd;
	vp->notify_base = 0;
	vp->isr = 0;
	vdev->transport = &transport_ops;
	vdev->transport_opaque = vp;

	struct pci_dev *dev = &vp->pci;
	pci_dev_init(dev, vdev->name, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + vdev->device_id,
		     class_of(vdev->device_id), 1, VIRTIO_PCI_VENDOR, 0x1100);
	dev->ops = &pci_ops;
	dev->opaque = vp;
	int ret = pci_dev_set_bar(dev, 0, PCI_BAR_MEM32, VIRTIO_PCI_BAR0_SIZE, false, &bar0_ops, vp);
	if (ret == 0)
		ret = pci_dev_set_bar(dev, 1, PCI_BAR_MEM32, VIRTIO_PCI_MSIX_BAR_SIZE, false,
				      &msix_bar_ops, vp);
	uint32_t multiplier = VIRTIO_PCI_NOTIFY_MULTIPLIER;
	if (ret == 0)
		ret = add_virtio_cap(dev, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, 0x38, NULL, 0);
	if (ret >= 0)
		ret = add_virtio_cap(dev, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, NULL, 0);
	if (ret >= 0 && vdev->config_size)
		ret = add_virtio_cap(dev, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				     vdev->config_size, NULL, 0);
	if (ret >= 0)
		ret = add_virtio_cap(dev, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				     vdev->nqueues * VIRTIO_PCI_NOTIFY_MULTIPLIER, &multiplier, 4);
	/* One vector per queue plus config when they fit; with more queues
	 * than that, Linux falls back to sharing vectors. */
	unsigned nvec = vdev->nqueues + 1 < MSIX_MAX_VECTORS ? vdev->nqueues + 1 : MSIX_MAX_VECTORS;
	if (ret >= 0) {
		/* §4.1.4.9: bar, offset, length and data are the driver's. */
		ret = vp->pci_cfg_cap = add_virtio_cap(dev, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, "\0\0\0\0", 4);
		if (ret >= 0) {
			unsigned c = (unsigned)ret;
			pci_dev_set_wmask(dev, c + offsetof(struct virtio_pci_cap, bar), 1, 0xff);
			pci_dev_set_wmask(dev, c + offsetof(struct virtio_pci_cap, offset), 4, 0xffffffff);
			pci_dev_set_wmask(dev, c + offsetof(struct virtio_pci_cap, length), 4, 0xffffffff);
			pci_dev_set_wmask(dev, c + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4,
					  0xffffffff);
		}
	}
	if (ret >= 0)
		ret = msix_init(&vp->msix, dev, routing, nvec, 1, 0, 0x800);
	if (ret < 0) {
		log_error("%s: setting up its PCI function failed: %s", vdev->name, strerror(-ret));
		return ret;
	}

	for (unsigned q = 0; q < vdev->nqueues; q++) {
		vp->kicks[q] = (struct virtio_pci_kick){.vp = vp, .q = q};
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0 || loop_add_fd(vdev->loop, fd, EPOLLIN, on_kick, &vp->kicks[q]) < 0) {
			if (fd >= 0)
				close(fd);
			log_error("%s: cannot set up the kick eventfd of queue %u", vdev->name, q);
			return -ENOMEM;
		}
		vdev->queues[q].kick_fd = fd;
	}
	return 0;
}

void virtio_pci_quiesce(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_reset(vdev);
	vp->isr = 0;
	pthread_mutex_unlock(&vdev->lock);
	pci_dev_set_intx(&vp->pci, false);
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;
	pci_dev_unmap_bars(&vp->pci);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		int fd = vdev->queues[q].kick_fd;
		if (fd < 0)
			continue;
		loop_del_fd(vdev->loop, fd);
		close(fd);
		vdev->queues[q].kick_fd = -1;
	}
	msix_destroy(&vp->msix);
	pci_dev_destroy(&vp->pci);
	vdev->transport = NULL;
}

struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev, struct irq_routing *routing,
				     int vm_fd)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		log_error("%s: out of memory for its PCI function", vdev->name);
		return NULL;
	}
	if (virtio_pci_init(vp, vdev, routing, vm_fd) < 0) { /* logged */
		virtio_pci_destroy(vp);
		free(vp);
		return NULL;
	}
	return vp;
}

struct device *virtio_pci_device(struct virtio_pci *vp)
{
	return &vp->dev;
}

/* ---- the device contract (see virtio_pci.h) ------------------------------- */

#define STATE_VERSION 1

static struct virtio_pci *to_vp(struct device *dev)
{
	return container_of(dev, struct virtio_pci, dev);
}

static void vp_reset(struct device *dev)
{
	virtio_pci_quiesce(to_vp(dev));
}

static void vp_counters(struct device *dev, const struct counter_sink *sink)
{
	struct virtio_pci *vp = to_vp(dev);
	/* The PCI function counts the guest's accesses; only read here. */
	__atomic_store_n(&dev->counters.exits, counter_read(&vp->pci.exits), __ATOMIC_RELAXED);
	counters_emit(sink, dev->id, "", &dev->counters);
	for (unsigned q = 0; q < vp->vdev->nqueues; q++) {
		char scope[16];
		snprintf(scope, sizeof(scope), "q%u", q);
		counters_emit(sink, dev->id, scope, &vp->vdev->queues[q].counters);
	}
}

/* The record (see virtio_pci.h); the device is idle. The vdev lock is not
 * held across the PCI parts: config space takes the pci_dev lock first. */
static int save_record(struct virtio_pci *vp, struct state_writer *w)
{
	struct virtio_dev *vdev = vp->vdev;
	state_begin(w, vp->dev_ops.kind, STATE_VERSION);
	pthread_mutex_lock(&vdev->lock);
	struct virtio_selects sel = {.device_feature = vp->device_feature_select,
				     .driver_feature = vp->driver_feature_select,
				     .queue = vp->queue_select};
	virtio_state_save(vdev, &sel, w);
	state_put_u8(w, "isr", vp->isr);
	pthread_mutex_unlock(&vdev->lock);
	pci_dev_save(&vp->pci, w);
	msix_save(&vp->msix, w);
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->save)
		vdev->ops->save(vdev, w);
	pthread_mutex_unlock(&vdev->lock);
	state_end(w);
	return w->error;
}

/* The model's quiesce, nested: a snapshot holds every device for its whole
 * length, and each save inside it quiesces again. */
static int vp_quiesce(struct device *dev)
{
	struct virtio_pci *vp = to_vp(dev);
	struct virtio_dev *vdev = vp->vdev;
	pthread_mutex_lock(&vdev->lock);
	int ret = vp->holds++ == 0 && vdev->ops->quiesce ? vdev->ops->quiesce(vdev) : 0;
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

static void vp_unquiesce(struct device *dev)
{
	struct virtio_pci *vp = to_vp(dev);
	struct virtio_dev *vdev = vp->vdev;
	pthread_mutex_lock(&vdev->lock);
	if (vp->holds && --vp->holds == 0 && vdev->ops->unquiesce)
		vdev->ops->unquiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
}

static int vp_dirty_log(struct device *dev, bool on, char *why, size_t why_len)
{
	struct virtio_dev *vdev = to_vp(dev)->vdev;
	size_t bytes;
	uint64_t *log = on ? guest_mem_log_bitmap(vdev->mem, &bytes) : NULL;
	pthread_mutex_lock(&vdev->lock);
	int ret = vdev->ops->dirty_log ? vdev->ops->dirty_log(vdev, log) : 0;
	pthread_mutex_unlock(&vdev->lock);
	if (ret == -ENOTSUP)
		snprintf(why, why_len, "%s: its vhost-user backend keeps no dirty log of what it "
			 "writes into guest RAM (no LOG_SHMFD): it cannot be migrated", dev->id);
	else if (ret < 0)
		snprintf(why, why_len, "%s: vhost's dirty log: %s", dev->id, strerror(-ret));
	return ret;
}

static void vp_announce(struct device *dev)
{
	struct virtio_dev *vdev = to_vp(dev)->vdev;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->announce)
		vdev->ops->announce(vdev);
	pthread_mutex_unlock(&vdev->lock);
}

/* Popped and not yet pushed: with a backend (a block request), or about
 * to be pushed by the loop. */
static bool vp_busy(struct device *dev)
{
	struct virtio_dev *vdev = to_vp(dev)->vdev;
	unsigned q, inflight;
	pthread_mutex_lock(&vdev->lock);
	bool busy = vdev->ops->busy ? vdev->ops->busy(vdev) : !virtio_dev_idle(vdev, &q, &inflight);
	pthread_mutex_unlock(&vdev->lock);
	return busy;
}

static int vp_save(struct device *dev, struct state_writer *w)
{
	struct virtio_pci *vp = to_vp(dev);
	struct virtio_dev *vdev = vp->vdev;
	unsigned q = 0, inflight = 0;
	int ret = vp_quiesce(dev);
	pthread_mutex_lock(&vdev->lock);
	bool idle = virtio_dev_idle(vdev, &q, &inflight);
	pthread_mutex_unlock(&vdev->lock);
	if (ret == 0 && !idle) {
		log_error("%s: queue %u has %u requests in flight; saving needs them completed "
			  "(the guest stopped, the event loop drained)", dev->id, q, inflight);
		ret = -EBUSY;
	}
	if (ret == 0) {
		ret = save_record(vp, w);
		if (ret < 0)
			log_error("%s: cannot write its state: %s", dev->id, strerror(-ret));
	}
	vp_unquiesce(dev);
	return ret;
}

/* Reads the record: the virtio state (checked, not applied), the ISR, then
 * the PCI function, MSI-X and the model, each applied once it passed;
 * *touched says whether any was. Applies the virtio state last, when all
 * passed. 0, or -EINVAL with the error in r. */
static int load_record(struct virtio_pci *vp, struct state_reader *r, struct virtio_state *s,
		       bool *touched)
{
	struct virtio_dev *vdev = vp->vdev;
	uint8_t isr;
	*touched = false;
	if (state_enter(r, vp->dev_ops.kind, STATE_VERSION, NULL) < 0)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	virtio_state_read(vdev, vp->msix.nvec, r, s);
	pthread_mutex_unlock(&vdev->lock);
	state_get_u8(r, "isr", &isr);
	if (!state_failed(r) && (isr & ~(ISR_QUEUE | ISR_CONFIG)))
		state_invalid(r, "isr", "0x%x has bits the ISR does not have", isr);
	if (state_failed(r) || pci_dev_load(&vp->pci, r) < 0)
		return -EINVAL;
	*touched = true;
	if (msix_load(&vp->msix, r) < 0)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->load)
		vdev->ops->load(vdev, r);
	if (state_leave(r) == 0) {
		vp->isr = isr;
		vp->device_feature_select = s->sel.device_feature;
		vp->driver_feature_select = s->sel.driver_feature;
		vp->queue_select = s->sel.queue;
		virtio_state_apply(vdev, s);
	}
	pthread_mutex_unlock(&vdev->lock);
	return state_failed(r) ? -EINVAL : 0;
}

static int vp_load(struct device *dev, struct state_reader *r)
{
	struct virtio_pci *vp = to_vp(dev);
	struct virtio_dev *vdev = vp->vdev;
	if (vdev->status != 0)
		return state_invalid(r, dev->ops->kind,
				     "loading needs a freshly created device (status is 0x%x)",
				     vdev->status);
	/* What the device is now, to go back to should a part fail after an
	 * earlier one was applied (the PCI and MSI-X loaders apply at once). */
	struct state_writer before;
	state_writer_init(&before);
	struct virtio_state *s = malloc(sizeof(*s));
	if (!s || save_record(vp, &before) < 0) {
		free(s);
		state_writer_free(&before);
		return state_invalid(r, dev->ops->kind, "out of memory");
	}
	bool touched;
	int ret = load_record(vp, r, s, &touched);
	if (ret < 0 && touched) {
		struct state_reader back;
		state_reader_init(&back, before.buf, before.len, dev->id);
		if (load_record(vp, &back, s, &touched) < 0)
			log_error("%s: going back after a refused load failed: %s", dev->id,
				  state_error(&back));
	}
	free(s);
	state_writer_free(&before);
	return ret;
}

static void vp_destroy(struct device *dev)
{
	struct virtio_pci *vp = to_vp(dev);
	struct virtio_dev *vdev = vp->vdev;
	virtio_pci_quiesce(vp);
	virtio_pci_destroy(vp);
	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
	free(vp);
}

static const struct device_ops device_ops = {
	.kind = "virtio", /* each instance's copy names its model */
	.reset = vp_reset,
	.counters = vp_counters,
	.save = vp_save,
	.load = vp_load,
	.busy = vp_busy,
	.quiesce = vp_quiesce,
	.dirty_log = vp_dirty_log,
	.announce = vp_announce,
	.unquiesce = vp_unquiesce,
	.destroy = vp_destroy,
};
