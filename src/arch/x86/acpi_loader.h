/* QEMU's "BIOS linker/loader" script (fw_cfg file etc/table-loader), the
 * way a firmware that places ACPI tables itself is told where they go: it
 * allocates each file in guest RAM, adds a file's final address to the
 * pointer fields that refer to it, and recomputes the checksums. SeaBIOS
 * runs it (romfile_loader.c); iovirt writes it from acpi_build_linked's
 * list of address fields and checksums.
 *
 * Two files, as QEMU has them: ACPI_LOADER_RSDP (36 bytes, in the BIOS's
 * F segment where an OS scans for it) and ACPI_LOADER_TABLES (everything,
 * in high RAM below 4 GiB). */
#ifndef IOVIRT_ARCH_X86_ACPI_LOADER_H
#define IOVIRT_ARCH_X86_ACPI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi.h"

#define ACPI_LOADER_FILE "etc/table-loader"
#define ACPI_LOADER_RSDP "etc/acpi/rsdp"
#define ACPI_LOADER_TABLES "etc/acpi/tables"

#define ACPI_LOADER_ENTRY_LEN 128
/* Two allocations, then a pointer and a checksum per link at most. */
#define ACPI_LOADER_MAX_LEN (ACPI_LOADER_ENTRY_LEN * (2 + 2 * ACPI_LINKS_MAX))

/* Writes the script for tables built by acpi_build_linked (len bytes, the
 * RSDP at offset 0) into script (ACPI_LOADER_MAX_LEN bytes); returns its
 * length. The RSDP file is the first ACPI_RSDP_LEN bytes of the tables;
 * the tables file is all of them (its copy of the RSDP is never used). */
size_t acpi_loader_script(const struct acpi_links *links, uint8_t *script);

#endif
