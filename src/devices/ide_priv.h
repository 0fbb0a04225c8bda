/* The IDE controller's state, shared by its parts: ide.c (PCI function,
 * task-file and bus-master registers, interrupts, the loop side, the
 * device contract), ide_xfer.c (data phases: PIO blocks, bus-master DMA
 * through the PRD table, backend steps), ide_ata.c (ATA commands and
 * IDENTIFY), ide_atapi.c (the PACKET command's SCSI/MMC set) and
 * ide_state.c (save/load). Everything runs with ctrl->lock held.
 *
 * References: ATA/ATAPI-6 (T13 1410D) for registers, protocols and
 * commands; Intel 82371SB (PIIX3) datasheet §2.7 for the bus-master
 * registers; SFF-8020i and MMC-3 for ATAPI. */
#ifndef IOVIRT_DEVICES_IDE_PRIV_H
#define IOVIRT_DEVICES_IDE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"
#include "bus/pci.h"
#include "core/device.h"
#include "core/guest_mem.h"
#include "devices/ide.h"

/* Status register (ATA-6 §7.15) */
#define ATA_BSY 0x80
#define ATA_DRDY 0x40
#define ATA_DF 0x20
#define ATA_DSC 0x10
#define ATA_DRQ 0x08
#define ATA_ERR 0x01
/* Error register */
#define ATA_IDNF 0x10
#define ATA_ABRT 0x04
/* Device control register */
#define ATA_HOB 0x80
#define ATA_SRST 0x04
#define ATA_NIEN 0x02
/* Device register */
#define ATA_DEV1 0x10
#define ATA_LBA 0x40
/* ATAPI interrupt reason (the sector count register) */
#define ATAPI_COD 0x01
#define ATAPI_IO 0x02

/* Bus-master registers (PIIX3 §2.7.1-3), per channel at 8 * channel */
#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BM_CMD_START 0x01
#define BM_CMD_READ 0x08      /* bus master writes memory: a device read */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR 0x02
#define BM_ST_INTR 0x04
#define BM_ST_DMA_CAP 0x60    /* drive 0/1 DMA capable: software's bits */
#define PRD_EOT 0x80000000u
#define PRD_REGION 0x10000u   /* a PRD table does not cross a 64 KiB boundary */

#define ATA_SECTOR 512
#define CD_SECTOR 2048
/* The data buffer of a channel: PIO blocks and DMA chunks go through it,
 * so the backend sees aligned requests whatever the guest's buffers. A
 * multiple of the CD sector and of the largest DRQ block. */
#define IDE_BUF_SIZE (128 * 1024)
#define IDE_MAX_MULTIPLE 16   /* sectors per DRQ block, READ/WRITE MULTIPLE */

enum ide_kind { IDE_NONE = 0, IDE_ATA, IDE_ATAPI };

struct ide_unit {
	enum ide_kind kind;
	struct blk_backend *be;
	uint64_t sectors;             /* ATA: 512-byte; ATAPI: 2048-byte */
	bool readonly;
	char serial[21];
	/* The task file as this device latched it (the host's writes reach
	 * both devices of a channel); hob_*: the previous write (48-bit). */
	uint8_t feature, nsector, lbal, lbam, lbah;
	uint8_t hob_feature, hob_nsector, hob_lbal, hob_lbam, hob_lbah;
	uint8_t select, status, error;
	/* Settings the host changed */
	uint8_t multiple;             /* SET MULTIPLE MODE: sectors per block, 0: off */
	uint8_t xfer_mode;            /* SET FEATURES 03h: 0 default, 0x08|n PIO, 0x20|n MWDMA, 0x40|n UDMA */
	bool wcache;                  /* volatile write cache enabled */
	/* ATAPI */
	uint8_t sense_key, asc, ascq;
	bool locked;                  /* PREVENT ALLOW MEDIUM REMOVAL */
};

/* Where a channel's command is. */
enum ide_phase {
	IDE_IDLE = 0,   /* no command (status as the last one left it) */
	IDE_PIO_IN,     /* DRQ: the host reads buf[pos, end) */
	IDE_PIO_OUT,    /* DRQ: the host writes buf[pos, end) */
	IDE_PACKET,     /* DRQ: the host writes the 12-byte CDB into cdb[] */
	IDE_DMA_WAIT,   /* a DMA command waits for the bus master's start bit */
	IDE_STEP,       /* a step for the loop: see enum ide_step */
	IDE_INFLIGHT,   /* a backend request is out */
	IDE_PHASE_MAX,
};

enum ide_step {
	STEP_READ = 0,  /* backend → buf (then PIO blocks or a DMA scatter) */
	STEP_WRITE,     /* buf → backend (DMA: gathered from the PRDs first) */
	STEP_FLUSH,
	STEP_SCATTER,   /* buf (a response) → PRDs, no backend */
	STEP_MAX,
};

/* The data transfer of a channel's command. */
struct ide_xfer {
	uint8_t unit;
	uint8_t cmd;            /* ATA opcode (0xA0 for a packet command) */
	bool write;             /* host → device */
	bool dma;
	bool flush_after;       /* the write cache is off: flush before completing */
	uint8_t step;           /* enum ide_step, in IDE_STEP / IDE_INFLIGHT */
	uint64_t offset;        /* next backend byte */
	uint64_t left;          /* bytes still to move between backend and buf */
	uint32_t len;           /* valid bytes in buf */
	uint32_t pos;           /* next byte for the host (PIO) or the PRDs (DMA) */
	uint32_t end;           /* end of the current DRQ block */
	uint32_t block;         /* DRQ block size (ATA: sectors; ATAPI: byte count limit) */
	/* The bus master's place in the PRD table */
	uint32_t prd_index;     /* next entry to fetch */
	uint32_t prd_addr;      /* current entry: next byte */
	uint32_t prd_left;      /* current entry: bytes left (0: fetch the next) */
	bool prd_eot;           /* current entry is the last */
};

struct ide_channel {
	struct ide_ctrl *c;
	unsigned index;
	struct ide_unit unit[IDE_UNITS];
	uint8_t cur;            /* the selected device */
	uint8_t devctl;
	bool intrq;             /* INTRQ asserted (until status is read or a command) */
	bool line;              /* the level we last drove */
	struct irq_line irq;
	/* Bus master */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	/* The command */
	enum ide_phase phase;
	struct ide_xfer x;
	uint8_t cdb[12];
	bool reset_pending;     /* SRST / DEVICE RESET waits for the backend */
	uint8_t *buf;           /* IDE_BUF_SIZE, page-aligned */
	struct blk_request req;
	struct iovec iov;
	struct dev_counters counters;
};

struct ide_ctrl {
	struct pci_dev pci;     /* first: the bus hands it back */
	struct device dev;
	pthread_mutex_t lock;
	pthread_cond_t idle;    /* a save waits here for the backend */
	const struct guest_mem *mem;
	struct loop *loop;
	struct iobus *pio;
	int kick_fd;            /* steps for the loop */
	char name[16];
	bool closing, quiescing;
	struct ide_channel ch[IDE_CHANNELS];
};

/* ide.c */
/* INTRQ: raise (the command's interrupt; BMIS.INTR too) or drop. */
void ide_irq_raise(struct ide_channel *ch);
void ide_irq_lower(struct ide_channel *ch);
/* Wakes the loop for a channel in IDE_STEP; any thread. */
void ide_kick(struct ide_ctrl *c);
/* The channel's devices back to their state after a reset (signatures,
 * status), the command dropped. */
void ide_channel_reset_devices(struct ide_channel *ch);
/* Wakes a save waiting for the backend (lock held). */
void ide_idle_check(struct ide_ctrl *c);
bool ide_channel_busy(const struct ide_channel *ch);

/* Counters (relaxed atomics: read from any thread) */
static inline void ide_guest_error_count(struct ide_channel *ch)
{
	counter_inc(&ch->counters.rejected);
}

/* ide_xfer.c: the data phases. */
/* Starts handing the host buf[0, len) (a response, x->left == 0) or the
 * backend's data (x->left > 0: a read step first), in DRQ blocks of
 * x->block or by DMA as x->dma says. */
void ide_data_in(struct ide_channel *ch);
/* Starts taking x->left bytes from the host for the backend. */
void ide_data_out(struct ide_channel *ch);
/* A non-data step (flush) for the loop. */
void ide_start_step(struct ide_channel *ch, enum ide_step step);
/* The command ends: status (ERR with error if error != 0), and the
 * interrupt. ATAPI: interrupt reason "status". */
void ide_complete(struct ide_channel *ch, uint8_t error);
/* Data port accesses (1, 2 or 4 bytes). */
void ide_data_read(struct ide_channel *ch, uint8_t *data, unsigned len);
void ide_data_write(struct ide_channel *ch, const uint8_t *data, unsigned len);
/* The bus master's start bit went up (or a DMA command came while it was). */
void ide_dma_start(struct ide_channel *ch);
/* Loop side: runs the channel's step (submits to the backend). */
void ide_run_step(struct ide_channel *ch);

/* ide_ata.c */
void ide_ata_command(struct ide_channel *ch, uint8_t cmd);
/* Signature in the task file (after reset, diagnostics, an aborted
 * IDENTIFY DEVICE on a packet device). */
void ide_set_signature(struct ide_unit *u);
/* ATA string field: space-padded, two characters per word swapped. */
void ide_put_string(uint16_t *words, const char *s, unsigned nwords);
/* Finishes IDENTIFY data: word 255's checksum. */
void ide_identify_checksum(uint16_t *id);

/* ide_atapi.c */
void ide_atapi_identify(struct ide_channel *ch, struct ide_unit *u);
/* CHECK CONDITION: sense key/ASC kept for REQUEST SENSE, the command
 * ends with ERR and the key in the error register. */
void ide_atapi_fail(struct ide_channel *ch, uint8_t key, uint8_t asc);
/* The CDB is in ch->cdb: run it. */
void ide_atapi_packet(struct ide_channel *ch);

/* ide_state.c */
int ide_save(struct device *dev, struct state_writer *w);
int ide_load(struct device *dev, struct state_reader *r);
bool ide_busy(struct device *dev);

#endif
