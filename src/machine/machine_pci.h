#ifndef IOVIRT_MACHINE_MACHINE_PCI_H
#define IOVIRT_MACHINE_MACHINE_PCI_H

#include "machine/machine.h"

/* The host bridge and the virtio devices of m->cfg; logs and -errno. */
int machine_pci_create(struct machine *m);
void machine_pci_destroy(struct machine *m);
uint64_t machine_mmio64_base(const struct guest_mem *mem);

#endif
