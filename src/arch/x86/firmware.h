/* What a PC firmware (SeaBIOS) needs of the machine, apart from fw_cfg's
 * transport: where its image goes, the memory map and the CMOS bytes it
 * reads (docs/ARCHITECTURE.md "Firmware boot").
 *
 * The image sits at the top of the 32-bit space, ending at 4 GiB, where
 * the reset vector (0xFFFFFFF0) is; its last 256 KiB are also copied to
 * end at 1 MiB, RAM here, where the firmware runs in real mode and keeps
 * its data (a PC's shadow RAM, which iovirt leaves always writable). */
#ifndef IOVIRT_ARCH_X86_FIRMWARE_H
#define IOVIRT_ARCH_X86_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "core/guest_mem.h"

#define FIRMWARE_DEFAULT_PATH "/usr/share/seabios/bios-256k.bin"
#define FIRMWARE_MIN_SIZE (64u << 10)
#define FIRMWARE_MAX_SIZE (16u << 20)  /* up to the KVM pages below 0xFF000000 */
#define FIRMWARE_LOW_END 0x100000ULL
/* A PC decodes only the last 128 KiB below 1 MiB at reset; SeaBIOS then
 * copies the rest of its code below that from the flash once it opened
 * the chipset's shadow RAM (PAM), which iovirt does not emulate: so the
 * copy is made here, up to 256 KiB (0xC0000..0xFFFFF). */
#define FIRMWARE_LOW_MAX (256u << 10)

/* The e820 entry as fw_cfg's etc/e820 carries it: packed, little-endian. */
#define FIRMWARE_E820_ENTRY_LEN 20
#define FIRMWARE_E820_MAX 16

/* NULL if size fits, else why not (for "--firmware PATH: why"). */
const char *firmware_size_problem(size_t size);

/* Where an image of size bytes starts. */
static inline uint64_t firmware_rom_gpa(size_t size)
{
	return GUEST_MEM_4G - size;
}

/* Copies the image's last part (FIRMWARE_LOW_MAX at most) to end at 1 MiB.
 * 0, or -EFAULT if RAM does not reach 1 MiB. */
int firmware_load_low(const struct guest_mem *mem, const uint8_t *image, size_t size);

/* etc/e820: every RAM region, then the extra (reserved) ranges and the
 * image itself; the firmware carves out its own areas below 1 MiB. Fills
 * out (FIRMWARE_E820_MAX entries); returns bytes, or -ENOSPC. */
long firmware_e820(const struct guest_mem *mem, const struct boot_e820_extra *extra,
		   unsigned nextra, size_t image_size, uint8_t *out);

/* The CMOS bytes a PC BIOS reads for memory sizes and the CPU count, in
 * QEMU's layout: set(opaque, index, value) for each. */
void firmware_cmos(const struct guest_mem *mem, unsigned ncpus,
		   void (*set)(void *opaque, uint8_t index, uint8_t value), void *opaque);

#endif
