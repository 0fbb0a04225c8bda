/* Firmware boot (--firmware, docs/ARCHITECTURE.md "Firmware boot"): the
 * image mapped read-only at the top of 4 GiB, fw_cfg filled with what
 * SeaBIOS asks of the machine (memory map, CPUs, iovirt's own ACPI tables
 * with the loader script that places them, boot order, serial console),
 * and, at each boot, the image's last 256 KiB copied below 1 MiB; vCPU 0
 * starts at the reset vector, the others wait for the firmware's SIPI. */
#ifndef IOVIRT_MACHINE_MACHINE_FIRMWARE_H
#define IOVIRT_MACHINE_MACHINE_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine;

struct machine_firmware {
	uint8_t *image;   /* the file's bytes, page-aligned (the ROM's memory) */
	size_t size;
	int slot;         /* its read-only memslot; 0: none */
	bool handed_over; /* it jumped to a boot sector (its debug console said) */
};

/* After the devices exist: reads cfg->firmware, maps it and fills fw_cfg.
 * 0, or -errno after one line naming the file or the part. Also for a
 * machine that is restored or migrated in (the ROM is not in RAM). */
int machine_firmware_setup(struct machine *m);

/* A fresh boot: the image's low part into RAM below 1 MiB (a restore
 * brings RAM as it was instead). 0 or -errno after one line. */
int machine_load_firmware(struct machine *m);

void machine_firmware_release(struct machine *m);

#endif
