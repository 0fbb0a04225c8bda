/* A PCI function (docs/ARCHITECTURE.md "PCI"): 4 KiB of configuration space with
 * per-byte write masks and write-1-to-clear masks, a capability list builder
 * (standard and extended), and BARs that are claimed on the port-I/O or MMIO
 * bus when the guest programs them and enables decoding. Emulated, virtio and
 * passthrough devices are all pci_devs. */
#ifndef IOVIRT_BUS_PCI_H
#define IOVIRT_BUS_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/iobus.h"
#include "bus/irq.h"

struct state_reader;
struct state_writer;

#define PCI_CFG_SIZE 4096
#define PCI_CFG_LEGACY_SIZE 256
#define PCI_NUM_BARS 6

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,   /* takes this BAR slot and the next */
	PCI_BAR_IO,
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;           /* a power of two */
	bool prefetchable;
	const struct iobus_ops *ops;
	void *opaque;
	bool mapped;             /* currently claimed on a bus */
	uint64_t mapped_addr;
	struct pci_dev *dev;     /* owner: the bus calls pci.c, which counts the exit */
};

struct pci_dev;

/* Hooks a device model may set. */
struct pci_dev_ops {
	/* Before a config write is applied, with the bytes as the guest wrote
	 * them (a passthrough device forwards those it does not emulate). */
	void (*config_write_raw)(struct pci_dev *dev, unsigned offset, const uint8_t *data,
				 unsigned len);
	/* After a config write landed (masks applied): e.g. MSI-X enable. */
	void (*config_written)(struct pci_dev *dev, unsigned offset, unsigned len);
	/* After a config read (without the config lock held): may replace
	 * data for registers that are windows onto something else. */
	void (*config_read)(struct pci_dev *dev, unsigned offset, uint8_t *data, unsigned len);
	/* A BAR was claimed (mapped true) or released at addr. */
	void (*bar_mapped)(struct pci_dev *dev, int bar, uint64_t addr, bool mapped);
};

struct pci_bus_ctx {
	struct iobus *pio;
	struct iobus *mmio;
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	struct pci_bar bars[PCI_NUM_BARS];
	const struct pci_dev_ops *ops;
	void *opaque;
	const char *name;
	uint8_t devfn;
	bool is_express;         /* extended config space is visible */
	struct irq_line intx;    /* set by the host bridge from the slot */
	struct pci_bus_ctx bus;  /* where BARs get claimed */
	uint8_t last_cap;        /* offset of the last standard capability */
	uint16_t cap_free;       /* next free byte for a standard capability */
	uint16_t last_ext_cap;
	uint16_t ext_cap_free;
	pthread_mutex_t lock;    /* config space vs. vCPU threads */
	/* Guest accesses to this function: config space reads and writes and
	 * BAR accesses (counter_inc; the model reports it as "exits"). */
	uint64_t exits;
};

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id);
void pci_dev_destroy(struct pci_dev *dev);

/* Declares BAR idx; ops/opaque serve accesses once the guest maps it. */
int pci_dev_set_bar(struct pci_dev *dev, int idx, enum pci_bar_type type, uint64_t size,
		    bool prefetchable, const struct iobus_ops *ops, void *opaque);

/* Appends a capability; body is everything after the ID and next bytes.
 * Returns the capability's offset, or -ENOSPC. Write masks of the body are
 * zero (read-only) until the caller opens them with pci_dev_set_wmask. */
int pci_dev_add_cap(struct pci_dev *dev, uint8_t id, const void *body, unsigned body_len);
/* Appends a PCIe extended capability (offset >= 0x100); body after the
 * 4-byte header. Returns the offset, or -ENOSPC. */
int pci_dev_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, const void *body,
			unsigned body_len);

void pci_dev_set_wmask(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t mask);
void pci_dev_set_w1cmask(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t mask);

/* Config space accesses from the host bridge (offset + len within 4 KiB). */
void pci_config_read(struct pci_dev *dev, unsigned offset, uint8_t *data, unsigned len);
void pci_config_write(struct pci_dev *dev, unsigned offset, const uint8_t *data, unsigned len);

/* Little-endian config helpers for device models (no masks, no locking). */
uint32_t pci_cfg_get(const struct pci_dev *dev, unsigned offset, unsigned len);
void pci_cfg_set(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t value);

/* Where BAR idx is programmed (0 if unprogrammed). */
uint64_t pci_bar_address(const struct pci_dev *dev, int idx);

/* INTx level (pin A), honouring the command register's INTx disable and
 * reflecting it in the status register. */
void pci_dev_set_intx(struct pci_dev *dev, bool level);

/* Releases every claimed BAR (device removal, reset). */
void pci_dev_unmap_bars(struct pci_dev *dev);

/* Replaces config space [0, len) with cfg as a state load does, then has
 * it take effect as a guest write would: BARs claimed or released per the
 * command register, the INTx line set from the status register's
 * Interrupt Status and Interrupt Disable, and ops->config_written called
 * for the whole range (MSI-X enable). No masks: pci_dev_load validated. */
void pci_dev_restore_config(struct pci_dev *dev, const uint8_t *cfg, unsigned len);

/* State (pci_state.c): one section "pci" v1 with the config space (256
 * bytes, 4 KiB if is_express) and each declared BAR's guest address.
 * Devices call these from their own save/load, inside their own section,
 * before msix_save / msix_load. The load refuses (error naming the field,
 * instance unchanged) a record whose identity (vendor, device, class,
 * header type) or read-only bits differ from this instance's, or whose BAR
 * addresses are misaligned or outside their address space; else applies
 * it through pci_dev_restore_config. 0 or -EINVAL (save: the writer's
 * error). */
int pci_dev_save(struct pci_dev *dev, struct state_writer *w);
int pci_dev_load(struct pci_dev *dev, struct state_reader *r);

/* pci_dev_load in two steps, for a device whose own sections follow: read
 * and validate everything into a pci_state, and apply only when the whole
 * record was accepted (so a refused record leaves nothing half-applied):
 * pci_dev_state_apply, then msix_state_apply, then the model's own. */
struct pci_state {
	uint8_t cfg[PCI_CFG_SIZE];
	unsigned len;
};

int pci_dev_state_read(struct pci_dev *dev, struct state_reader *r, struct pci_state *s);
void pci_dev_state_apply(struct pci_dev *dev, const struct pci_state *s);

#endif
