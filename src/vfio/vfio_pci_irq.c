/* Interrupts of a passed-through function: INTx, MSI or MSI-X, whichever
 * the guest enabled (VFIO allows one at a time). In every mode the device's
 * interrupt is an eventfd that VFIO signals and a KVM irqfd delivers, so
 * no interrupt passes through iovirt:
 *  - INTx: a level-triggered irqfd on the slot's IOAPIC pin, its resample
 *    eventfd given to VFIO as the unmask trigger (the line is masked in
 *    the host at each interrupt and unmasked when the guest EOIs);
 *  - MSI: one message (iovirt offers no multi-message and no per-vector
 *    masking), a KVM MSI route the guest's address/data keep current;
 *  - MSI-X: the msix module's vectors in external mode (its table is
 *    trapped; a masked vector's irqfd is detached). */
#include "vfio/vfio_pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "kvm/vm.h"

static int set_irqs(struct vfio_pci *v, unsigned index, uint32_t action, const int *fds,
		    unsigned count)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, sz);
	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | action;
	set->index = index;
	set->count = count;
	for (unsigned i = 0; i < count; i++)
		((int32_t *)set->data)[i] = fds[i];
	int ret = ioctl(v->fd, VFIO_DEVICE_SET_IRQS, set) < 0 ? -errno : 0;
	free(set);
	return ret;
}

static unsigned irq_count(int fd, unsigned index)
{
	struct vfio_irq_info info = {.argsz = sizeof(info), .index = index};
	return ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0 ? 0 : info.count;
}

void vfio_pci_irq_counts(struct vfio_pci *v, unsigned num_irqs)
{
	v->intx_count = num_irqs > VFIO_PCI_INTX_IRQ_INDEX ? irq_count(v->fd, VFIO_PCI_INTX_IRQ_INDEX) : 0;
	v->msi_count = num_irqs > VFIO_PCI_MSI_IRQ_INDEX ? irq_count(v->fd, VFIO_PCI_MSI_IRQ_INDEX) : 0;
	v->msix_vectors = num_irqs > VFIO_PCI_MSIX_IRQ_INDEX
				  ? irq_count(v->fd, VFIO_PCI_MSIX_IRQ_INDEX) : 0;
}

/* ---- MSI capability (emulated whole) ---- */

static bool msi_64bit(const struct vfio_pci *v)
{
	return pci_cfg_get(&v->pci, (unsigned)v->msi_cap + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_64BIT;
}

unsigned vfio_pci_msi_cap_len(const uint8_t *dev_cfg, unsigned off)
{
	uint16_t flags;
	memcpy(&flags, &dev_cfg[off + PCI_MSI_FLAGS], 2);
	return 10 + (flags & PCI_MSI_FLAGS_64BIT ? 4 : 0) + (flags & PCI_MSI_FLAGS_MASKBIT ? 10 : 0);
}

void vfio_pci_msi_cap_setup(struct vfio_pci *v, const uint8_t *dev_cfg, unsigned off)
{
	unsigned len = vfio_pci_msi_cap_len(dev_cfg, off);
	v->msi_cap = (int)off;
	uint16_t flags;
	memcpy(&flags, &dev_cfg[off + PCI_MSI_FLAGS], 2);
	/* One message, no per-vector masking: the layout without mask bits. */
	flags &= PCI_MSI_FLAGS_64BIT;
	pci_cfg_set(&v->pci, off + PCI_MSI_FLAGS, 2, flags);
	/* The device's own length: the next capability may follow closely. */
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		v->emulated[off + i] = 1;
	pci_dev_set_wmask(&v->pci, off + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
	pci_dev_set_wmask(&v->pci, off + PCI_MSI_ADDRESS_LO, 4, 0xfffffffc);
	if (flags & PCI_MSI_FLAGS_64BIT) {
		pci_dev_set_wmask(&v->pci, off + PCI_MSI_ADDRESS_HI, 4, 0xffffffff);
		pci_dev_set_wmask(&v->pci, off + PCI_MSI_DATA_64, 2, 0xffff);
	} else {
		pci_dev_set_wmask(&v->pci, off + PCI_MSI_DATA_32, 2, 0xffff);
	}
}

/* Points the MSI GSI at the message the guest programmed. */
static void msi_route(struct vfio_pci *v)
{
	unsigned cap = (unsigned)v->msi_cap;
	uint64_t addr = pci_cfg_get(&v->pci, cap + PCI_MSI_ADDRESS_LO, 4);
	uint32_t data;
	if (msi_64bit(v)) {
		addr |= (uint64_t)pci_cfg_get(&v->pci, cap + PCI_MSI_ADDRESS_HI, 4) << 32;
		data = pci_cfg_get(&v->pci, cap + PCI_MSI_DATA_64, 2);
	} else {
		data = pci_cfg_get(&v->pci, cap + PCI_MSI_DATA_32, 2);
	}
	if (irq_routing_set_msi(v->vm->routing, v->msi_gsi, addr, data) < 0)
		log_guest_error(v->bdf, "KVM refused the MSI route");
}

/* ---- modes ---- */

static int mode_index(enum vfio_irq_mode m)
{
	return m == VFIO_IRQ_INTX ? VFIO_PCI_INTX_IRQ_INDEX
	       : m == VFIO_IRQ_MSI ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_MSIX_IRQ_INDEX;
}

static void mode_off(struct vfio_pci *v)
{
	if (v->irq_mode == VFIO_IRQ_NONE)
		return;
	set_irqs(v, (unsigned)mode_index(v->irq_mode), VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
	if (v->irq_mode == VFIO_IRQ_MSI)
		irq_routing_irqfd(v->vm->routing, v->msi_fd, v->msi_gsi, false);
	v->irq_mode = VFIO_IRQ_NONE;
}

static int mode_on(struct vfio_pci *v, enum vfio_irq_mode m)
{
	int ret = 0;
	switch (m) {
	case VFIO_IRQ_INTX:
		ret = set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, &v->intx_fd, 1);
		if (ret == 0)
			ret = set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				       &v->resample_fd, 1);
		break;
	case VFIO_IRQ_MSI:
		/* Each resource on its own: a failed try leaves nothing half-made. */
		if (v->msi_fd < 0)
			v->msi_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->msi_gsi < 0)
			v->msi_gsi = irq_routing_alloc_gsi(v->vm->routing);
		if (v->msi_fd < 0 || v->msi_gsi < 0)
			return -ENOSPC;
		msi_route(v);
		ret = irq_routing_irqfd(v->vm->routing, v->msi_fd, v->msi_gsi, true);
		if (ret == 0)
			ret = set_irqs(v, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, &v->msi_fd, 1);
		if (ret < 0)
			irq_routing_irqfd(v->vm->routing, v->msi_fd, v->msi_gsi, false);
		break;
	case VFIO_IRQ_MSIX:
		ret = set_irqs(v, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
			       v->msix.eventfd, v->msix.nvec);
		break;
	case VFIO_IRQ_NONE:
		break;
	}
	if (ret == 0 && m != VFIO_IRQ_NONE)  /* the routes this mode set up */
		counter_add(&v->dev.counters.interrupts, m == VFIO_IRQ_MSIX ? v->msix.nvec : 1);
	if (ret == 0)
		v->irq_mode = m;
	return ret;
}

/* What the guest asked for: MSI-X over MSI over INTx. */
static enum vfio_irq_mode wanted_mode(struct vfio_pci *v)
{
	if (v->msix_cap && msix_enabled(&v->msix))
		return VFIO_IRQ_MSIX;
	if (v->msi_cap && (pci_cfg_get(&v->pci, (unsigned)v->msi_cap + PCI_MSI_FLAGS, 2) &
			   PCI_MSI_FLAGS_ENABLE))
		return VFIO_IRQ_MSI;
	return v->intx_fd >= 0 ? VFIO_IRQ_INTX : VFIO_IRQ_NONE;
}

void vfio_pci_irq_changed(struct vfio_pci *v)
{
	if (!v->vm)
		return; /* unit tests: no KVM, no VFIO interrupts */
	pthread_mutex_lock(&v->irq_lock);
	enum vfio_irq_mode m = wanted_mode(v);
	if (m == v->irq_mode) {
		if (m == VFIO_IRQ_MSI)
			msi_route(v); /* the guest may have moved the message */
	} else {
		mode_off(v);
		int ret = mode_on(v, m);
		if (ret < 0)
			log_warn("%s: VFIO cannot switch its interrupts to %s: %s", v->bdf,
				 m == VFIO_IRQ_MSIX ? "MSI-X" : m == VFIO_IRQ_MSI ? "MSI" : "INTx",
				 strerror(-ret));
	}
	pthread_mutex_unlock(&v->irq_lock);
}

int vfio_pci_connect_intx(struct vfio_pci *v)
{
	if (!v->intx_count || !pci_cfg_get(&v->pci, PCI_INTERRUPT_PIN, 1) || !v->vm)
		return 0;
	v->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret = v->intx_fd < 0 || v->resample_fd < 0 ? -errno : 0;
	if (ret == 0)
		ret = irq_routing_irqfd_level(v->vm->routing, v->intx_fd, (int)v->pci.intx.gsi,
					      v->resample_fd);
	if (ret < 0) {
		log_error("%s: cannot wire INTx to GSI %u: %s", v->bdf, v->pci.intx.gsi,
			  strerror(-ret));
		if (v->intx_fd >= 0)
			close(v->intx_fd);
		v->intx_fd = -1;
		return ret;
	}
	vfio_pci_irq_changed(v);
	return 0;
}

int vfio_pci_irq_init(struct vfio_pci *v)
{
	if (!v->msix_cap)
		return 0;
	unsigned cap = (unsigned)v->msix_cap;
	uint16_t control = (uint16_t)pci_cfg_get(&v->pci, cap + PCI_MSIX_FLAGS, 2);
	uint32_t table = pci_cfg_get(&v->pci, cap + PCI_MSIX_TABLE, 4);
	uint32_t pba = pci_cfg_get(&v->pci, cap + PCI_MSIX_PBA, 4);
	unsigned nvec = (control & PCI_MSIX_FLAGS_QSIZE) + 1u;
	/* The guest gets what iovirt can route; the device keeps its table. */
	if (nvec > v->msix_vectors)
		nvec = v->msix_vectors;
	if (nvec > MSIX_MAX_VECTORS)
		nvec = MSIX_MAX_VECTORS;
	v->msix_bar = (int)(table & PCI_MSIX_TABLE_BIR);
	v->msix_table_off = table & PCI_MSIX_TABLE_OFFSET;
	v->msix_table_size = (uint64_t)nvec * MSIX_ENTRY_SIZE;
	uint64_t bar_size = v->msix_bar < PCI_NUM_BARS ? v->bars[v->msix_bar].size : 0;
	if (v->msix_table_off + v->msix_table_size > bar_size) {
		log_error("%s: its MSI-X table (BAR%d+0x%llx) is not inside a BAR", v->bdf,
			  v->msix_bar, (unsigned long long)v->msix_table_off);
		return -EINVAL;
	}
	/* A PBA in another BAR stays the device's own (read-only to the guest
	 * there: harmless). Put it past the table BAR's end for the module. */
	uint64_t pba_off = (pba & PCI_MSIX_PBA_BIR) == (unsigned)v->msix_bar
				   ? (pba & PCI_MSIX_PBA_OFFSET) : (bar_size + 7) & ~7ULL;
	int ret = msix_init_external(&v->msix, &v->pci, v->vm ? v->vm->routing : NULL, nvec,
				     v->msix_cap, (uint32_t)v->msix_table_off, (uint32_t)pba_off);
	if (ret < 0) {
		log_error("%s: cannot set up its %u MSI-X vectors", v->bdf, nvec);
		v->msix_cap = 0;
	}
	return ret;
}

void vfio_pci_irq_destroy(struct vfio_pci *v)
{
	pthread_mutex_lock(&v->irq_lock);
	if (v->vm)
		mode_off(v);
	pthread_mutex_unlock(&v->irq_lock);
	if (v->intx_fd >= 0 && v->vm)
		irq_routing_irqfd(v->vm->routing, v->intx_fd, (int)v->pci.intx.gsi, false);
	if (v->msix_cap)
		msix_destroy(&v->msix);
	v->msix_cap = 0;
	if (v->msi_gsi >= 0 && v->vm)
		irq_routing_free_gsi(v->vm->routing, v->msi_gsi);
	int *fds[] = {&v->intx_fd, &v->resample_fd, &v->msi_fd};
	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	v->msi_gsi = -1;
}
