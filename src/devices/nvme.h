/* Emulated NVMe controller (NVM Express 1.4, the subset real drivers use):
 * one namespace on a raw image through the shared block backend, admin and
 * I/O queues in guest memory, MSI-X per completion queue with INTx as the
 * fallback, and the Doorbell Buffer Config command (shadow doorbells and
 * event indexes) so a guest rings far fewer MMIO doorbells. */
#ifndef IOVIRT_DEVICES_NVME_H
#define IOVIRT_DEVICES_NVME_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"
#include "bus/pci.h"
#include "core/guest_mem.h"

struct loop;
struct irq_routing;
struct device;
struct nvme_ctrl;

struct nvme_options {
	const char *path;
	bool readonly;               /* the namespace is write protected */
	const char *serial;          /* NULL or "": derived from the path */
	enum blk_cache cache;
	enum blk_engine engine;
	unsigned num_queues;         /* I/O queue pairs offered, 1..63 */
	bool no_shadow_doorbells;    /* hide Doorbell Buffer Config (OACS bit 8) */
	const char *name;            /* "nvme0": for messages */
};

struct nvme_stats {
	uint64_t commands;           /* admin + I/O commands fetched */
	uint64_t io_commands;
	uint64_t doorbells_mmio;     /* doorbell writes that exited to iovirt */
	uint64_t doorbells_kernel;   /* doorbell writes KVM turned into eventfd signals */
	uint64_t interrupts;
	uint64_t guest_errors;       /* commands failed for a guest mistake */
};

/* NULL after logging one line naming the image and the reason. routing
 * may be NULL (no MSI-X delivery: unit tests); vm_fd < 0: no ioeventfds. */
struct nvme_ctrl *nvme_create(const struct nvme_options *o, const struct guest_mem *mem,
			      struct loop *loop, struct irq_routing *routing, int vm_fd);
void nvme_destroy(struct nvme_ctrl *n);

struct pci_dev *nvme_pci(struct nvme_ctrl *n);
/* The controller as a device (core/device.h): kind "nvme", counters per
 * queue pair ("q0" admin, "q1".. I/O), save/load of the whole controller
 * with its PCI function and MSI-X; device_destroy is nvme_destroy. */
struct device *nvme_device(struct nvme_ctrl *n);
void nvme_get_stats(struct nvme_ctrl *n, struct nvme_stats *st);

#endif
