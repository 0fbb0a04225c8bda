/* MSI-X (PCI 3.0 §6.8.2): the capability, the vector table and the pending
 * bit array that live in one of the device's BARs, and delivery: a vector
 * is a KVM MSI route plus an irqfd, so signalling it is one eventfd write,
 * from any thread, with no vCPU exit. */
#ifndef IOVIRT_BUS_MSIX_H
#define IOVIRT_BUS_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/irq_routing.h"
#include "bus/pci.h"

struct state_reader;
struct state_writer;

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16

struct msix {
	struct pci_dev *dev;
	struct irq_routing *routing;  /* NULL in unit tests: no KVM routes */
	unsigned nvec;
	int cap;                      /* capability offset in config space */
	uint32_t table_off, pba_off;  /* within the BAR */
	uint8_t table[MSIX_MAX_VECTORS * MSIX_ENTRY_SIZE];
	uint64_t pba;                 /* one bit per vector */
	int gsi[MSIX_MAX_VECTORS];
	int eventfd[MSIX_MAX_VECTORS];
	bool enabled, function_masked;
	/* Vectors signalled from outside (a VFIO device writes the eventfds
	 * itself): masking detaches the irqfd instead, so a signal waits in
	 * the eventfd's counter and KVM delivers it when the irqfd returns. */
	bool external;
	bool bound[MSIX_MAX_VECTORS];  /* irqfd attached */
	/* Users of the vector's eventfd outside the VMM (msix_direct_get). */
	uint8_t direct[MSIX_MAX_VECTORS];
	pthread_mutex_t lock;
	uint64_t delivered;           /* statistics */
};

/* Adds the capability to dev (table and PBA at the given offsets of BAR
 * bar), allocates a GSI + irqfd per vector. 0 or -errno. */
int msix_init(struct msix *m, struct pci_dev *dev, struct irq_routing *routing, unsigned nvec,
	      int bar, uint32_t table_off, uint32_t pba_off);
/* For a passed-through device: the capability is already at cap (the
 * caller's copy of the device's config space); its Table Size is set to
 * nvec. Vectors are external (see struct msix). 0 or -errno. */
int msix_init_external(struct msix *m, struct pci_dev *dev, struct irq_routing *routing,
		       unsigned nvec, int cap, uint32_t table_off, uint32_t pba_off);
void msix_destroy(struct msix *m);

/* The table/PBA part of the BAR: true if [off, off+len) is theirs and was
 * handled. Call from the BAR's iobus ops. */
bool msix_bar_read(struct msix *m, uint64_t off, uint8_t *data, unsigned len);
bool msix_bar_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned len);

/* Call from pci_dev_ops.config_written: picks up enable / function mask. */
void msix_config_written(struct msix *m, unsigned offset, unsigned len);

bool msix_enabled(struct msix *m);

/* Signals vector v: delivered now, or left pending while masked. Ignored
 * (false) if MSI-X is off or v is out of range: then use INTx. */
bool msix_notify(struct msix *m, unsigned v);

/* Vector v's eventfd, for a signaller outside the VMM (the kernel's vhost
 * writes it itself: no VMM thread per interrupt). From then on masking
 * unbinds the irqfd, as for external vectors, so a signal while masked
 * waits in the eventfd and is delivered on unmask; the PBA does not show
 * it. -1 when v has no eventfd or is out of range, or the vectors are
 * external already. Pair with msix_direct_put. */
int msix_direct_get(struct msix *m, unsigned v);
void msix_direct_put(struct msix *m, unsigned v);

/* State: one section "msix" v1 with the vector count, the table (address,
 * data, vector control per entry), the PBA, enable and function mask. The
 * load refuses (error naming the field, instance unchanged) a different
 * vector count, reserved control bits or pending bits beyond the vectors;
 * else applies it as guest writes would: the capability's flags, each
 * vector's KVM route and irqfd, pending vectors that are deliverable fire.
 * Call after pci_dev_load. 0 or -EINVAL (save: the writer's error). */
int msix_save(struct msix *m, struct state_writer *w);
int msix_load(struct msix *m, struct state_reader *r);

/* msix_load in two steps (see pci_dev_state_read): read and validate,
 * then apply after pci_dev_state_apply once the whole record is accepted. */
struct msix_state {
	uint8_t table[MSIX_MAX_VECTORS * MSIX_ENTRY_SIZE];
	uint64_t pba;
	bool enabled, masked;
};

int msix_state_read(struct msix *m, struct state_reader *r, struct msix_state *s);
void msix_state_apply(struct msix *m, const struct msix_state *s);

#endif
