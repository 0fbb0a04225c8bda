#include "arch/x86/acpi_pci.h"

#define PCI_SLOTS 32
#define PCI_PINS 4

/* _PRT (ACPI 6.4 §6.2.13): {address 0xSSSSFFFF, pin, source 0, GSI} for
 * every slot and pin; source 0 means "a GSI, no link device". */
static void prt(struct aml *a, const struct acpi_pci *pci)
{
	aml_name(a, "_PRT");
	aml_package_begin(a, (PCI_SLOTS - 1) * PCI_PINS);
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			aml_package_begin(a, 4);
			aml_integer(a, ((uint64_t)slot << 16) | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, pci->intx_gsi_base + (slot + pin) % pci->intx_gsi_count);
			aml_end(a);
		}
	}
	aml_end(a);
}

void acpi_pci_root_bridge(struct aml *a, const struct acpi_pci *pci)
{
	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08"); /* PCI Express root bridge */
	aml_name_eisaid(a, "_CID", "PNP0A03"); /* ... compatible with PCI */
	aml_name_int(a, "_ADR", 0);
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_BBN", 0);

	aml_name(a, "_CRS");
	aml_rt_begin(a);
	aml_rt_word_bus_number(a, 0, 0);
	aml_rt_io(a, 0xcf8, 0xcf8, 1, 8);     /* the config ports themselves */
	aml_rt_word_io(a, 0x0000, 0x0cf7);    /* ISA ports below them */
	aml_rt_word_io(a, 0x0d00, 0xffff);    /* and above: includes the BAR window */
	aml_rt_dword_memory(a, AML_MEM_NONCACHEABLE, true, (uint32_t)pci->mmio32_base,
			    (uint32_t)(pci->mmio32_base + pci->mmio32_size - 1));
	if (pci->mmio32_fw_size)
		aml_rt_dword_memory(a, AML_MEM_NONCACHEABLE, true, (uint32_t)pci->mmio32_fw_base,
				    (uint32_t)(pci->mmio32_fw_base + pci->mmio32_fw_size - 1));
	aml_rt_qword_memory(a, AML_MEM_NONCACHEABLE, true, pci->mmio64_base,
			    pci->mmio64_base + pci->mmio64_size - 1);
	aml_rt_end(a);

	prt(a, pci);
	aml_end(a);
}
