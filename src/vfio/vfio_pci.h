/* A physical PCI function passed through to the guest with VFIO (I/O
 * models 3 and 4: a PF, a VF or a plain device).
 *
 * The guest talks to the device itself: BARs that VFIO lets us mmap become
 * KVM memslots (no exit per access), the device DMAs into guest RAM through
 * the IOMMU, and its MSI-X vectors are eventfds that VFIO signals and KVM
 * irqfds deliver (no VMM hop). iovirt stays on the control path only:
 *  - configuration space (vfio_pci_config.c): BARs, command register,
 *    interrupt line, the capability chain and MSI-X are virtualized; the
 *    rest of the device's own registers (PCIe, power management, vendor
 *    capabilities) are read from and written to the device;
 *  - the MSI-X table (trapped, so the guest's vectors become KVM routes)
 *    and BAR parts that cannot be mmapped (forwarded with pread/pwrite);
 *  - INTx: a level-triggered irqfd whose resample eventfd unmasks the
 *    device's line in VFIO when the guest EOIs it. */
#ifndef IOVIRT_VFIO_VFIO_PCI_H
#define IOVIRT_VFIO_VFIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/msix.h"
#include "bus/pci.h"
#include "core/device.h"
#include "vfio/pci_sysfs.h"
#include "vfio/vfio.h"

struct vm;

#define VFIO_BAR_MAX_MAPS 4

/* A BAR as the device fd exposes it. */
struct vfio_pci_bar {
	struct vfio_pci *dev;
	int idx;
	uint64_t offset;             /* of the region in the device fd */
	uint64_t size;
	struct {
		uint64_t off, size;      /* within the BAR */
		void *hva;               /* mmapped from the device fd */
		int slot;                /* KVM memslot while mapped, else -1 */
	} maps[VFIO_BAR_MAX_MAPS];
	unsigned nmaps;
};

/* The device contract (core/device.h), kind "vfio-pci":
 *   reset     VFIO_DEVICE_RESET where the device has one (FLR, bus reset)
 *   counters  exits: config space and BAR accesses that reached iovirt
 *             (what is mmapped into the guest takes none); interrupts: the
 *             interrupt routes set up (the interrupts themselves go from
 *             the device to the guest through KVM, never through iovirt)
 *   save/load refused with one line: the function's state is in the
 *             hardware, and VFIO migration (VFIO_DEVICE_FEATURE_MIGRATION)
 *             is not supported by iovirt yet
 *   destroy   vfio_pci_destroy, then (vfio_pci_give_back) its group leaves
 *             the container and the function goes back to its host driver */
struct vfio_pci {
	struct pci_dev pci;
	struct device dev;
	struct vfio_container *container;
	bool give_back;              /* bound to vfio-pci for this run only */
	char bdf[PCI_BDF_LEN];
	char name[32];
	int fd;                      /* the VFIO device */
	struct vm *vm;               /* NULL in unit tests: no memslots, no irqfds */
	uint64_t cfg_offset;         /* the config region in the device fd */
	uint32_t cfg_size;
	/* Per config byte: 1 = iovirt's copy (pci.cfg) is what the guest sees,
	 * 0 = the device's own register. */
	uint8_t emulated[PCI_CFG_SIZE];
	struct vfio_pci_bar bars[PCI_NUM_BARS];
	int msix_cap;                /* 0: no MSI-X */
	int msix_bar;                /* BAR holding the MSI-X table */
	uint64_t msix_table_off, msix_table_size;
	struct msix msix;
	unsigned msix_vectors;       /* VFIO's count (0: MSI-X not usable) */
	int msi_cap;                 /* 0: no MSI offered to the guest */
	unsigned msi_count;          /* VFIO's MSI count */
	int msi_fd, msi_gsi;         /* the one MSI message, -1 until used */
	unsigned intx_count;         /* VFIO INTx IRQs (0 or 1) */
	int intx_fd, resample_fd;    /* -1 when not wired */
	enum vfio_irq_mode { VFIO_IRQ_NONE, VFIO_IRQ_INTX, VFIO_IRQ_MSI, VFIO_IRQ_MSIX } irq_mode;
	bool can_reset;
	bool memslot_warned;    /* a BAR found no memslot: said once for this device */
	pthread_mutex_t irq_lock;    /* interrupt mode switches (vCPU threads) */
};

/* Opens bdf through the container, resets it, builds the guest's view of
 * its config space and BARs, and wires MSI-X. Logs one line and returns
 * NULL on failure. */
struct vfio_pci *vfio_pci_create(const char *bdf, struct vfio_container *c, struct vm *vm);

/* After the function is on the bus (its INTx pin has a GSI): wires INTx. */
int vfio_pci_connect_intx(struct vfio_pci *v);

struct pci_dev *vfio_pci_dev(struct vfio_pci *v);
struct device *vfio_pci_device(struct vfio_pci *v);
/* Sets up v->dev (create does; tests on a hand-made vfio_pci too). */
void vfio_pci_device_init(struct vfio_pci *v);

/* The function was bound to vfio-pci for this run (a VF that --device
 * vfio=PF,vf=N resolved): the contract's destroy hands it back to its host
 * driver once no fd holds it. */
void vfio_pci_give_back(struct vfio_pci *v);

/* Interrupts off, device reset, everything unmapped and closed (the
 * group stays in the container: see the contract's destroy). */
void vfio_pci_destroy(struct vfio_pci *v);

/* ---- configuration space (vfio_pci_config.c) ---- */

/* Fills v->pci from the device's config region (v->fd, v->cfg_offset,
 * v->cfg_size), v->intx_count and the BAR sizes in v->bars[]: the header,
 * BARs declared with bar_ops, the capability chain with only what iovirt
 * supports, v->emulated[], v->msix_cap. 0 or -errno (logged). */
int vfio_pci_config_init(struct vfio_pci *v, const struct pci_dev_ops *ops,
			 const struct iobus_ops *bar_ops);

/* The pci_dev hooks that merge iovirt's copy with the device's registers. */
void vfio_pci_config_read(struct pci_dev *pci, unsigned offset, uint8_t *data, unsigned len);
void vfio_pci_config_write_raw(struct pci_dev *pci, unsigned offset, const uint8_t *data,
			       unsigned len);
void vfio_pci_config_written(struct pci_dev *pci, unsigned offset, unsigned len);

/* ---- interrupts (vfio_pci_irq.c) ---- */

/* VFIO's INTx / MSI / MSI-X counts, before vfio_pci_config_init. */
void vfio_pci_irq_counts(struct vfio_pci *v, unsigned num_irqs);
/* After vfio_pci_config_init: MSI-X vectors (KVM routes + eventfds). */
int vfio_pci_irq_init(struct vfio_pci *v);
/* Called by the config hooks after the guest wrote MSI or MSI-X control
 * (or the MSI message): VFIO and KVM follow the mode the guest chose. */
void vfio_pci_irq_changed(struct vfio_pci *v);
/* MSI capability emulation: the bytes it spans and its write masks. */
void vfio_pci_msi_cap_setup(struct vfio_pci *v, const uint8_t *dev_cfg, unsigned off);
/* The device's MSI capability at off is 10 bytes, 4 more with 64-bit
 * addresses, 10 more with per-vector masking (PCI 3.0 §6.8.1). */
unsigned vfio_pci_msi_cap_len(const uint8_t *dev_cfg, unsigned off);
void vfio_pci_irq_destroy(struct vfio_pci *v);

#endif
