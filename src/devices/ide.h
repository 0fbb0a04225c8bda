/* Emulated Intel PIIX3 IDE controller (82371SB, PCI 8086:7010) with ATA
 * hard disks and an ATAPI CD-ROM, for guests whose stock drivers know no
 * better (Linux ata_piix + sd/sr, SeaBIOS's ATA/ATAPI drivers): both
 * channels in legacy compatibility mode (ports 0x1F0/0x3F6 with ISA IRQ
 * 14, 0x170/0x376 with IRQ 15) and bus-master DMA through BAR4. Disks and
 * the CD-ROM's image are on the shared block backend. */
#ifndef IOVIRT_DEVICES_IDE_H
#define IOVIRT_DEVICES_IDE_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"
#include "bus/irq.h"
#include "bus/pci.h"
#include "core/guest_mem.h"

struct loop;
struct iobus;
struct device;
struct ide_ctrl;

#define IDE_CHANNELS 2
#define IDE_UNITS 2                     /* master, slave */
#define IDE_DRIVES (IDE_CHANNELS * IDE_UNITS)

/* A position on the controller: channel * 2 + unit. */
struct ide_drive_options {
	const char *path;            /* NULL: no drive here */
	bool cdrom;                  /* an ATAPI CD-ROM (always read-only) */
	bool readonly;
	const char *serial;          /* NULL or "": derived from the path */
	enum blk_cache cache;
	enum blk_engine engine;
};

struct ide_options {
	const char *name;            /* "ide0": for messages and the device id */
	struct ide_drive_options drive[IDE_DRIVES]; /* pri master, pri slave, sec master, sec slave */
	struct irq_line irq[IDE_CHANNELS];          /* ISA IRQ 14 and 15 (edge) */
	struct iobus *pio;           /* the legacy ports are claimed here; NULL: not (tests) */
};

/* The legacy ports. */
#define IDE_PRIMARY_CMD 0x1f0
#define IDE_PRIMARY_CTL 0x3f6
#define IDE_SECONDARY_CMD 0x170
#define IDE_SECONDARY_CTL 0x376
#define IDE_IRQ_PRIMARY 14
#define IDE_IRQ_SECONDARY 15
/* The bus-master registers' BAR (16 bytes of I/O). */
#define IDE_BMIDE_BAR 4

/* NULL after one line naming the image (or the port) and the reason. */
struct ide_ctrl *ide_create(const struct ide_options *o, const struct guest_mem *mem,
			    struct loop *loop);
void ide_destroy(struct ide_ctrl *c);

struct pci_dev *ide_pci(struct ide_ctrl *c);
/* The controller as a device (core/device.h): kind "ide", counters per
 * channel ("ch0", "ch1": commands as requests, sectors as bytes, DMA
 * transfers as kicks, interrupts, backend errors, guest errors as
 * rejected), save/load of the whole controller; device_destroy is
 * ide_destroy. */
struct device *ide_device(struct ide_ctrl *c);

#endif
