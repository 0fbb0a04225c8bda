/* See firmware.h. */
#include "arch/x86/firmware.h"

#include <errno.h>
#include <string.h>

#include "core/byteorder.h"

#define E820_RAM 1
#define E820_RESERVED 2

const char *firmware_size_problem(size_t size)
{
	if (size < FIRMWARE_MIN_SIZE)
		return "smaller than 64 KiB: not a firmware image";
	if (size > FIRMWARE_MAX_SIZE)
		return "larger than 16 MiB";
	if (size % (64u << 10))
		return "not a multiple of 64 KiB: not a firmware image";
	return NULL;
}

int firmware_load_low(const struct guest_mem *mem, const uint8_t *image, size_t size)
{
	size_t low = size < FIRMWARE_LOW_MAX ? size : FIRMWARE_LOW_MAX;
	return guest_mem_write(mem, FIRMWARE_LOW_END - low, image + size - low, low);
}


static int add(uint8_t *out, unsigned *n, uint64_t addr, uint64_t size, uint32_t type)
{
	if (*n == FIRMWARE_E820_MAX)
		return -ENOSPC;
	uint8_t *e = out + FIRMWARE_E820_ENTRY_LEN * (*n)++;
	put_le(e, addr, 8);
	put_le(e + 8, size, 8);
	put_le(e + 16, type, 4);
	return 0;
}

long firmware_e820(const struct guest_mem *mem, const struct boot_e820_extra *extra,
		   unsigned nextra, size_t image_size, uint8_t *out)
{
	unsigned n = 0;
	int ret = 0;
	for (unsigned i = 0; i < mem->nr_regions; i++)
		ret |= add(out, &n, mem->regions[i].gpa, mem->regions[i].size, E820_RAM);
	for (unsigned i = 0; i < nextra; i++)
		ret |= add(out, &n, extra[i].addr, extra[i].size, extra[i].type);
	ret |= add(out, &n, firmware_rom_gpa(image_size), image_size, E820_RESERVED);
	return ret ? -ENOSPC : (long)n * FIRMWARE_E820_ENTRY_LEN;
}

/* CMOS indexes (QEMU hw/i386/pc.c, SeaBIOS src/hw/rtc.h). */
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASEMEM_LOW 0x15
#define CMOS_EXTMEM_LOW 0x17      /* and 0x30: KiB above 1 MiB, to 64 MiB */
#define CMOS_EXTMEM_ALT_LOW 0x30
#define CMOS_EXTMEM2_LOW 0x34     /* 64 KiB units above 16 MiB, below 4 GiB */
#define CMOS_HIGHMEM_LOW 0x5b     /* 64 KiB units above 4 GiB, 3 bytes */
#define CMOS_SMP_COUNT 0x5f       /* CPUs - 1 */
#define EQUIPMENT_FPU 0x02

void firmware_cmos(const struct guest_mem *mem, unsigned ncpus,
		   void (*set)(void *opaque, uint8_t index, uint8_t value), void *opaque)
{
	uint64_t low = 0, high = 0;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		if (mem->regions[i].gpa < GUEST_MEM_4G)
			low += mem->regions[i].size;
		else
			high += mem->regions[i].size;
	}
	uint64_t ext = low > (1u << 20) ? (low - (1u << 20)) >> 10 : 0;
	uint64_t ext2 = low > (16u << 20) ? (low - (16u << 20)) >> 16 : 0;
	uint64_t hi = high >> 16;
	if (ext > 0xffff)
		ext = 0xffff;
	if (ext2 > 0xffff)
		ext2 = 0xffff;
	set(opaque, CMOS_EQUIPMENT, EQUIPMENT_FPU);
	set(opaque, CMOS_BASEMEM_LOW, 640 & 0xff);
	set(opaque, CMOS_BASEMEM_LOW + 1, 640 >> 8);
	set(opaque, CMOS_EXTMEM_LOW, (uint8_t)ext);
	set(opaque, CMOS_EXTMEM_LOW + 1, (uint8_t)(ext >> 8));
	set(opaque, CMOS_EXTMEM_ALT_LOW, (uint8_t)ext);
	set(opaque, CMOS_EXTMEM_ALT_LOW + 1, (uint8_t)(ext >> 8));
	set(opaque, CMOS_EXTMEM2_LOW, (uint8_t)ext2);
	set(opaque, CMOS_EXTMEM2_LOW + 1, (uint8_t)(ext2 >> 8));
	for (unsigned i = 0; i < 3; i++)
		set(opaque, (uint8_t)(CMOS_HIGHMEM_LOW + i), (uint8_t)(hi >> (8 * i)));
	set(opaque, CMOS_SMP_COUNT, (uint8_t)(ncpus - 1));
}
