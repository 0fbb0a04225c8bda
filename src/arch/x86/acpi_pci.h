/* The DSDT's PCI root bridge (PNP0A08): its bus range, I/O and memory
 * windows (_CRS) and the INTx routing table (_PRT). */
#ifndef IOVIRT_ARCH_X86_ACPI_PCI_H
#define IOVIRT_ARCH_X86_ACPI_PCI_H

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"

/* Emits Device (PCI0) into the current scope (\_SB). */
void acpi_pci_root_bridge(struct aml *a, const struct acpi_pci *pci);

#endif
