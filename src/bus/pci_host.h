/* The PCI host bridge: bus 0 with the bridge at 00.0 and up to 31 devices,
 * configuration access through ports 0xCF8/0xCFC (mechanism #1) and through
 * ECAM (memory-mapped, 4 KiB per function, advertised by the ACPI MCFG
 * table), firmware-style BAR placement in the bridge's windows, and INTx
 * wiring that matches the DSDT's _PRT. */
#ifndef IOVIRT_BUS_PCI_HOST_H
#define IOVIRT_BUS_PCI_HOST_H

#include "bus/pci.h"

/* The guest-physical map of the PCI hole (below 4 GiB) and above it. */
#define PCI_MMIO32_BASE 0xC0000000ULL
#define PCI_MMIO32_SIZE 0x20000000ULL      /* up to the ECAM */
#define PCI_ECAM_BASE   0xE0000000ULL
#define PCI_ECAM_SIZE   0x00100000ULL      /* bus 0 only: 32 devices x 8 functions x 4 KiB */
/* Where a firmware puts BARs when it places them itself (SeaBIOS: down
 * from the IOAPIC), above the ECAM: also a window of the root bridge. */
#define PCI_MMIO32_FW_BASE (PCI_ECAM_BASE + PCI_ECAM_SIZE)
#define PCI_MMIO32_FW_END 0xFEC00000ULL
#define PCI_HOST_IO_BASE     0xC000
#define PCI_HOST_IO_SIZE     0x4000
#define PCI_MMIO64_SIZE (64ULL << 30)
#define PCI_MAX_SLOTS   32
/* INTx: slot s, pin p (0 = INTA) is IOAPIC pin 16 + (s + p) % 8; the
 * DSDT's _PRT says the same. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSI_COUNT 8

struct pci_host {
	struct pci_dev bridge;
	struct pci_dev *slots[PCI_MAX_SLOTS];
	struct pci_bus_ctx bus;
	struct irq_line (*intx_line)(void *opaque, unsigned gsi);
	void *intx_opaque;
	uint32_t config_address;   /* the 0xCF8 register */
	pthread_mutex_t lock;
	uint64_t mmio32_next;
	uint64_t mmio64_base, mmio64_next;
	uint32_t io_next;
};

static inline unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSI_COUNT;
}

/* mmio64_base: where the 64-bit window starts (above guest RAM). Claims
 * 0xCF8/0xCFC and the ECAM on the buses. 0 or -errno. */
int pci_host_init(struct pci_host *host, struct iobus *pio, struct iobus *mmio,
		  uint64_t mmio64_base,
		  struct irq_line (*intx_line)(void *opaque, unsigned gsi), void *intx_opaque);
void pci_host_destroy(struct pci_host *host);

/* Plugs dev into the next free slot and places its BARs as firmware would
 * (decoding stays off until the guest enables it). Returns the slot or
 * -ENOSPC / -ENOMEM (the window is full). */
int pci_host_add(struct pci_host *host, struct pci_dev *dev);

/* The two ways in, exposed for tests. */
extern const struct iobus_ops pci_host_cf8_ops;   /* 0xCF8, 4 bytes */
extern const struct iobus_ops pci_host_cfc_ops;   /* 0xCFC, 4 bytes */
extern const struct iobus_ops pci_host_ecam_ops;  /* PCI_ECAM_BASE */

#endif
