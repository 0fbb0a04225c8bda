/* The configuration space of a passed-through function: what the guest
 * sees is a merge of iovirt's copy (pci.cfg, for the bytes marked in
 * v->emulated[]) and the device's own registers (the rest).
 *
 * iovirt owns: the whole type-0 header (IDs, command, status, BARs placed
 * by iovirt's host bridge, the expansion ROM -- hidden --, interrupt line
 * and pin), the capability chain's links (capabilities iovirt cannot
 * virtualize are unlinked: everything but power management, PCI Express,
 * MSI, MSI-X and vendor capabilities), the MSI and MSI-X capabilities
 * (interrupts are routed by iovirt), and the extended space (no extended
 * capabilities: AER, SR-IOV, ATS... belong to the host). The bodies of the
 * kept capabilities are the device's: reads and writes go to it. An
 * unlinked capability is hidden, not just unlinked: from its offset up to
 * the next capability it reads 0 and ignores writes (a guest that knows
 * where it sits must not reach it by offset, whatever vfio-pci filters). */
#include "vfio/vfio_pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static int dev_read(struct vfio_pci *v, unsigned off, void *buf, unsigned len)
{
	ssize_t n = pread(v->fd, buf, len, (off_t)(v->cfg_offset + off));
	return n == (ssize_t)len ? 0 : -EIO;
}

static int dev_write(struct vfio_pci *v, unsigned off, const void *buf, unsigned len)
{
	ssize_t n = pwrite(v->fd, buf, len, (off_t)(v->cfg_offset + off));
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Bytes a kept capability occupies (its body is the device's). */
static unsigned cap_length(const struct vfio_pci *v, const uint8_t *cfg, unsigned off,
			   uint8_t id)
{
	if ((id == PCI_CAP_ID_MSIX && !v->msix_vectors) || (id == PCI_CAP_ID_MSI && !v->msi_count))
		return 0; /* VFIO cannot drive it: hidden */
	switch (id) {
	case PCI_CAP_ID_PM:
		return PCI_PM_SIZEOF;
	case PCI_CAP_ID_EXP:
		return PCI_CAP_EXP_ENDPOINT_SIZEOF_V2;
	case PCI_CAP_ID_MSIX:
		return PCI_CAP_MSIX_SIZEOF;
	case PCI_CAP_ID_MSI:
		return vfio_pci_msi_cap_len(cfg, off);
	case PCI_CAP_ID_VNDR:
		return cfg[off + PCI_CAP_FLAGS] >= 3 ? cfg[off + PCI_CAP_FLAGS] : 3;
	default:
		return 0; /* not kept */
	}
}

static void mark(struct vfio_pci *v, unsigned off, unsigned len, uint8_t value)
{
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		v->emulated[off + i] = value;
}

/* Hides each unlinked capability: its bytes become iovirt's, zero and
 * read-only (pci.cfg there is 0, wmask 0), from its offset to the next
 * capability in the device's chain or the end of the legacy space (the
 * extent QEMU assumes too: a capability's length is not always known).
 * Bytes of kept capabilities stay as they are. */
static void hide_dropped(struct vfio_pci *v, const bool *in_chain, const bool *dropped,
			 const bool *claimed)
{
	for (unsigned off = PCI_STD_HEADER_SIZEOF; off < PCI_CFG_LEGACY_SIZE; off++) {
		if (!dropped[off])
			continue;
		for (unsigned i = off; i < PCI_CFG_LEGACY_SIZE && (i == off || !in_chain[i]); i++)
			if (!claimed[i]) {
				v->emulated[i] = 1;
				v->pci.cfg[i] = 0;
			}
	}
}

/* Relinks the chain through the capabilities iovirt keeps. */
static void filter_caps(struct vfio_pci *v, const uint8_t *dev)
{
	uint8_t *cfg = v->pci.cfg;
	unsigned prev_link = PCI_CAPABILITY_LIST;
	cfg[PCI_CAPABILITY_LIST] = 0;
	bool seen[PCI_CFG_LEGACY_SIZE] = {false};
	/* Bytes of the capabilities kept so far: one that overlaps them is
	 * dropped, or its body (copied, or written by the guest) could
	 * overwrite another's link and make the guest's chain loop. */
	bool claimed[PCI_CFG_LEGACY_SIZE] = {false};
	bool dropped[PCI_CFG_LEGACY_SIZE] = {false};
	unsigned off = dev[PCI_STATUS] & PCI_STATUS_CAP_LIST ? dev[PCI_CAPABILITY_LIST] & ~3U : 0;
	/* A chain that loops ends where it comes back. */
	while (off >= PCI_STD_HEADER_SIZEOF && off < PCI_CFG_LEGACY_SIZE && !seen[off]) {
		seen[off] = true;
		uint8_t id = dev[off + PCI_CAP_LIST_ID];
		unsigned next = dev[off + PCI_CAP_LIST_NEXT] & ~3U;
		unsigned len = cap_length(v, dev, off, id);
		bool free_range = len && off + len <= PCI_CFG_LEGACY_SIZE;
		for (unsigned i = 0; free_range && i < len; i++)
			free_range = !claimed[off + i];
		if (free_range) {
			memset(&claimed[off], true, len);
			cfg[prev_link] = (uint8_t)off;
			cfg[off + PCI_CAP_LIST_ID] = id;
			cfg[off + PCI_CAP_LIST_NEXT] = 0;
			prev_link = off + PCI_CAP_LIST_NEXT;
			/* ID and link ours, body the device's. */
			mark(v, off, 2, 1);
			if (id == PCI_CAP_ID_MSIX) {
				memcpy(&cfg[off], &dev[off], len);
				cfg[off + PCI_CAP_LIST_NEXT] = 0;
				mark(v, off, len, 1);
				v->msix_cap = (int)off;
			}
			if (id == PCI_CAP_ID_MSI)
				vfio_pci_msi_cap_setup(v, dev, off);
			if (id == PCI_CAP_ID_EXP)
				v->pci.is_express = true;
		} else {
			dropped[off] = true;
		}
		off = next;
	}
	hide_dropped(v, seen, dropped, claimed);
	uint16_t status = (uint16_t)pci_cfg_get(&v->pci, PCI_STATUS, 2);
	status = cfg[PCI_CAPABILITY_LIST] ? status | PCI_STATUS_CAP_LIST
					  : status & ~PCI_STATUS_CAP_LIST;
	pci_cfg_set(&v->pci, PCI_STATUS, 2, status);
}

/* BAR i's type and flags from the device's BAR register, size from VFIO. */
static int declare_bars(struct vfio_pci *v, const uint8_t *dev, const struct iobus_ops *ops)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &v->bars[i];
		uint32_t reg;
		memcpy(&reg, &dev[PCI_BASE_ADDRESS_0 + 4 * i], 4);
		pci_cfg_set(&v->pci, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4, 0);
		if (!b->size)
			continue;
		enum pci_bar_type type = PCI_BAR_MEM32;
		if (reg & PCI_BASE_ADDRESS_SPACE_IO)
			type = PCI_BAR_IO;
		else if ((reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64)
			type = PCI_BAR_MEM64;
		bool prefetch = !(reg & PCI_BASE_ADDRESS_SPACE_IO) && (reg & PCI_BASE_ADDRESS_MEM_PREFETCH);
		int ret = pci_dev_set_bar(&v->pci, i, type, b->size, prefetch, ops, b);
		if (ret < 0) {
			log_error("%s: BAR%d (%llu bytes, %s) cannot be passed through", v->bdf, i,
				  (unsigned long long)b->size, type == PCI_BAR_IO ? "I/O" : "memory");
			return ret;
		}
		if (type == PCI_BAR_MEM64)
			i++; /* the upper half */
	}
	return 0;
}

int vfio_pci_config_init(struct vfio_pci *v, const struct pci_dev_ops *ops,
			 const struct iobus_ops *bar_ops)
{
	uint8_t dev[PCI_CFG_SIZE];
	unsigned size = v->cfg_size < PCI_CFG_SIZE ? v->cfg_size : PCI_CFG_SIZE;
	memset(dev, 0, sizeof(dev));
	if (size < PCI_CFG_LEGACY_SIZE || dev_read(v, 0, dev, size) < 0) {
		log_error("%s: cannot read its configuration space", v->bdf);
		return -EIO;
	}
	if ((dev[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_NORMAL) {
		log_error("%s: not a type-0 (endpoint) function; bridges cannot be passed through",
			  v->bdf);
		return -EINVAL;
	}
	uint16_t vendor, device, svendor, sid;
	memcpy(&vendor, &dev[PCI_VENDOR_ID], 2);
	memcpy(&device, &dev[PCI_DEVICE_ID], 2);
	memcpy(&svendor, &dev[PCI_SUBSYSTEM_VENDOR_ID], 2);
	memcpy(&sid, &dev[PCI_SUBSYSTEM_ID], 2);
	uint32_t class_code = dev[PCI_CLASS_PROG] | (uint32_t)dev[PCI_CLASS_DEVICE] << 8 |
			      (uint32_t)dev[PCI_CLASS_DEVICE + 1] << 16;
	pci_dev_init(&v->pci, v->name, vendor, device, class_code, dev[PCI_REVISION_ID], svendor, sid);
	v->pci.ops = ops;
	v->pci.opaque = v;

	/* The header is ours (BARs, ROM, command, line...), the rest the
	 * device's unless a capability below says otherwise; extended space
	 * is ours and empty. */
	memset(v->emulated, 1, sizeof(v->emulated));
	mark(v, PCI_STD_HEADER_SIZEOF, PCI_CFG_LEGACY_SIZE - PCI_STD_HEADER_SIZEOF, 0);
	pci_cfg_set(&v->pci, PCI_STATUS, 2,
		    dev[PCI_STATUS] | (uint32_t)dev[PCI_STATUS + 1] << 8);
	pci_cfg_set(&v->pci, PCI_INTERRUPT_PIN, 1, v->intx_count ? dev[PCI_INTERRUPT_PIN] : 0);
	v->pci.cfg[PCI_HEADER_TYPE] = dev[PCI_HEADER_TYPE] & 0x80; /* multi-function bit */
	filter_caps(v, dev);
	return declare_bars(v, dev, bar_ops);
}

/* ---- the pci_dev hooks ---- */

/* The next run of the device's own bytes in [offset + *i, offset + len):
 * moves *i to its start, returns its length (0: none left). */
static unsigned device_run(const struct vfio_pci *v, unsigned offset, unsigned len, unsigned *i)
{
	while (*i < len && v->emulated[offset + *i])
		(*i)++;
	unsigned run = 0;
	while (*i + run < len && !v->emulated[offset + *i + run])
		run++;
	return run;
}

void vfio_pci_config_read(struct pci_dev *pci, unsigned offset, uint8_t *data, unsigned len)
{
	struct vfio_pci *v = pci->opaque;
	for (unsigned i = 0, run; (run = device_run(v, offset, len, &i)) != 0; i += run)
		if (dev_read(v, offset + i, data + i, run) < 0)
			memset(data + i, 0xff, run);
}

void vfio_pci_config_write_raw(struct pci_dev *pci, unsigned offset, const uint8_t *data,
			       unsigned len)
{
	struct vfio_pci *v = pci->opaque;
	for (unsigned i = 0, run; (run = device_run(v, offset, len, &i)) != 0; i += run)
		if (dev_write(v, offset + i, data + i, run) < 0)
			log_guest_error(v->bdf, "config write at 0x%x failed", offset + i);
}

static bool overlaps(unsigned off, unsigned len, unsigned start, unsigned n)
{
	return off < start + n && start < off + len;
}

void vfio_pci_config_written(struct pci_dev *pci, unsigned offset, unsigned len)
{
	struct vfio_pci *v = pci->opaque;
	if (overlaps(offset, len, PCI_COMMAND, 2)) {
		/* Decoding and bus mastering must be on in the device itself
		 * (VFIO virtualizes INTx disable). */
		uint16_t cmd = (uint16_t)pci_cfg_get(pci, PCI_COMMAND, 2);
		if (dev_write(v, PCI_COMMAND, &cmd, 2) < 0)
			log_guest_error(v->bdf, "command register write failed");
	}
	bool msix = v->msix_cap && overlaps(offset, len, (unsigned)v->msix_cap + PCI_MSIX_FLAGS, 2);
	if (msix)
		msix_config_written(&v->msix, offset, len);
	if (msix || (v->msi_cap && overlaps(offset, len, (unsigned)v->msi_cap, 24)))
		vfio_pci_irq_changed(v);
}
