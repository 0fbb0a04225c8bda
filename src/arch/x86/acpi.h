/* ACPI tables for an x86 PC guest (ACPI 6.x section 5.2): RSDP, XSDT,
 * FADT (+FACS), MADT and a DSDT written with the AML writer in aml.h.
 *
 * The FADT describes a legacy PC that is always in ACPI mode (SMI_CMD 0),
 * not hardware-reduced, whose PM1a event/control blocks and reset register
 * are the acpi_pm device (devices/acpi_pm.h) at cfg->pm_base. */
#ifndef IOVIRT_ARCH_X86_ACPI_H
#define IOVIRT_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The PCI root bridge's resources, described by MCFG and the DSDT. */
struct acpi_pci {
	uint64_t ecam_base;      /* bus 0 only */
	uint16_t io_base, io_size;
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio32_fw_base, mmio32_fw_size; /* a second window (0: none), for a
						  * firmware that places BARs itself */
	uint64_t mmio64_base, mmio64_size;
	unsigned intx_gsi_base, intx_gsi_count; /* _PRT: slot s pin p -> base + (s+p) % count */
};

struct acpi_config {
	unsigned ncpus;          /* 1..64; local APIC ids 0..ncpus-1 */
	uint16_t pm_base;        /* I/O base of the ACPI PM block (acpi_pm device) */
	uint8_t sci_irq;         /* 9 */
	bool no_i8042;           /* no keyboard controller: FADT and DSDT say so */
	const struct acpi_pci *pci; /* NULL: no PCI */
};

#define ACPI_TABLES_GPA 0xE0000ULL  /* tables live in 0xE0000..0xFFFFF */
#define ACPI_TABLES_MAX 0x20000

#define ACPI_MAX_CPUS 64
#define ACPI_LAPIC_ADDR 0xFEE00000u
#define ACPI_IOAPIC_ADDR 0xFEC00000u
#define ACPI_OEM_ID "IOVIRT"     /* 6 bytes */
#define ACPI_CREATOR_ID "IOVT"   /* 4 bytes */
#define ACPI_RSDP_LEN 36
#define ACPI_HEADER_LEN 36
#define ACPI_FADT_LEN 276

/* Builds RSDP (at offset 0 of buf, 16-byte aligned), XSDT, FADT, MADT, DSDT
 * into buf, laid out as if buf sits at guest physical base_gpa. Returns
 * bytes used, or -errno (-ENOSPC if cap too small, -EINVAL bad config,
 * -ENOMEM). base_gpa must be 16-byte aligned and the tables must end below
 * 4 GiB (the FADT's 32-bit DSDT/FACS fields). */
long acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg);

/* Where the tables hold addresses and checksums, as offsets into buf: what
 * a firmware that places the tables itself must fix up (the table loader,
 * arch/x86/acpi_loader.h). */
#define ACPI_LINKS_MAX 32
struct acpi_links {
	struct {
		uint32_t offset;   /* a little-endian address field */
		uint8_t size;      /* 4 or 8 */
	} ptr[ACPI_LINKS_MAX];
	unsigned nptr;
	struct {
		uint32_t offset;   /* the checksum byte */
		uint32_t start, len; /* the bytes it makes sum to zero */
	} sum[ACPI_LINKS_MAX];  /* in the order they must be computed */
	unsigned nsum;
};

/* acpi_build at base 0 (each address field holds its target's offset in
 * buf), listing the fields and checksums in links. */
long acpi_build_linked(uint8_t *buf, size_t cap, const struct acpi_config *cfg,
		       struct acpi_links *links);

/* The byte that makes p[0..len) sum to 0 mod 256 when it is stored in a
 * zeroed checksum field: -(sum of the bytes). */
uint8_t acpi_checksum(const void *p, size_t len);

#endif
