/* The table loader script: see acpi_loader.h. Entry layout (QEMU
 * hw/acpi/bios-linker-loader.c, SeaBIOS src/fw/romfile_loader.h): a
 * little-endian u32 command, then per command
 *	ALLOCATE:     file[56], u32 align, u8 zone (1 high, 2 F segment)
 *	ADD_POINTER:  dest_file[56], src_file[56], u32 offset, u8 size
 *	ADD_CHECKSUM: file[56], u32 offset, u32 start, u32 length
 * padded to 128 bytes. */
#include "arch/x86/acpi_loader.h"

#include <string.h>

#include "core/byteorder.h"

#define CMD_ALLOCATE 1
#define CMD_ADD_POINTER 2
#define CMD_ADD_CHECKSUM 3
#define ZONE_HIGH 1
#define ZONE_FSEG 2
#define FILE_LEN 56


static uint8_t *entry(uint8_t *script, size_t *len, uint32_t command)
{
	uint8_t *e = script + *len;
	memset(e, 0, ACPI_LOADER_ENTRY_LEN);
	put_le(e, command, 4);
	*len += ACPI_LOADER_ENTRY_LEN;
	return e + 4;
}

static void allocate(uint8_t *script, size_t *len, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *e = entry(script, len, CMD_ALLOCATE);
	strncpy((char *)e, file, FILE_LEN - 1);
	put_le(e + FILE_LEN, align, 4);
	e[FILE_LEN + 4] = zone;
}

/* Which file an offset of the tables belongs to, and its offset there. */
static const char *file_of(uint32_t offset, uint32_t *in_file)
{
	*in_file = offset;
	return offset < ACPI_RSDP_LEN ? ACPI_LOADER_RSDP : ACPI_LOADER_TABLES;
}

size_t acpi_loader_script(const struct acpi_links *links, uint8_t *script)
{
	size_t len = 0;
	/* The tables first: the RSDP points into them. */
	allocate(script, &len, ACPI_LOADER_TABLES, 64, ZONE_HIGH);
	allocate(script, &len, ACPI_LOADER_RSDP, 16, ZONE_FSEG);
	for (unsigned i = 0; i < links->nptr && i < ACPI_LINKS_MAX; i++) {
		uint32_t off;
		const char *dest = file_of(links->ptr[i].offset, &off);
		uint8_t *e = entry(script, &len, CMD_ADD_POINTER);
		strncpy((char *)e, dest, FILE_LEN - 1);
		strncpy((char *)e + FILE_LEN, ACPI_LOADER_TABLES, FILE_LEN - 1);
		put_le(e + 2 * FILE_LEN, off, 4);
		e[2 * FILE_LEN + 4] = links->ptr[i].size;
	}
	/* After every pointer: a checksum covers the final addresses. */
	for (unsigned i = 0; i < links->nsum && i < ACPI_LINKS_MAX; i++) {
		uint32_t off;
		const char *file = file_of(links->sum[i].offset, &off);
		uint8_t *e = entry(script, &len, CMD_ADD_CHECKSUM);
		strncpy((char *)e, file, FILE_LEN - 1);
		put_le(e + FILE_LEN, off, 4);
		put_le(e + FILE_LEN + 4, links->sum[i].start, 4);
		put_le(e + FILE_LEN + 8, links->sum[i].len, 4);
	}
	return len;
}
