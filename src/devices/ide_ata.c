/* ATA commands of an IDE device (ATA/ATAPI-6 §8), decoded from the task
 * file when the host writes the command register, and IDENTIFY DEVICE's
 * data (§8.15). A hard disk takes the set Linux's libata and SeaBIOS
 * issue; a packet device takes the few ATA commands a packet device must
 * (§6.1: IDENTIFY PACKET DEVICE, PACKET, DEVICE RESET, diagnostics, power
 * and SET FEATURES). Anything else ends with ABRT. */
#include <string.h>

#include "core/log.h"
#include "devices/ide_priv.h"

/* The CHS geometry IDENTIFY reports (the usual translation). */
#define HEADS 16
#define SPT 63
#define MAX_CYLS 16383
#define LBA28_MAX 0x0fffffffULL
#define BAD_LBA UINT64_MAX

void ide_set_signature(struct ide_unit *u)
{
	u->nsector = 1;
	u->lbal = 1;
	u->lbam = u->kind == IDE_ATAPI ? 0x14 : 0;
	u->lbah = u->kind == IDE_ATAPI ? 0xeb : 0;
	u->select &= (uint8_t)~0x0f;
}

void ide_put_string(uint16_t *words, const char *s, unsigned nwords)
{
	size_t len = strlen(s);
	for (unsigned i = 0; i < nwords; i++) {
		uint8_t hi = 2 * i < len ? (uint8_t)s[2 * i] : ' ';
		uint8_t lo = 2 * i + 1 < len ? (uint8_t)s[2 * i + 1] : ' ';
		words[i] = (uint16_t)(hi << 8 | lo);
	}
}

void ide_identify_checksum(uint16_t *id)
{
	uint8_t sum = 0xa5;
	const uint8_t *b = (const uint8_t *)id;
	for (unsigned i = 0; i < 510; i++)
		sum = (uint8_t)(sum + b[i]);
	id[255] = (uint16_t)(0xa5 | (uint8_t)(-sum) << 8);
}

static uint64_t cylinders(const struct ide_unit *u)
{
	uint64_t c = u->sectors / (HEADS * SPT);
	return c > MAX_CYLS ? MAX_CYLS : c;
}

static void identify_device(struct ide_channel *ch, struct ide_unit *u)
{
	uint16_t *id = (uint16_t *)ch->buf;
	memset(id, 0, ATA_SECTOR);
	uint64_t cyls = cylinders(u), lba28 = u->sectors > LBA28_MAX ? LBA28_MAX : u->sectors;
	uint64_t chs = cyls * HEADS * SPT;
	id[0] = 0x0040;                          /* fixed device */
	id[1] = (uint16_t)cyls;
	id[3] = HEADS;
	id[6] = SPT;
	ide_put_string(&id[10], u->serial, 10);
	id[20] = 3;                              /* buffer type */
	id[21] = 512;
	id[22] = 4;
	ide_put_string(&id[23], "1.0", 4);
	ide_put_string(&id[27], "IOVIRT HARDDISK", 20);
	id[47] = 0x8000 | IDE_MAX_MULTIPLE;
	id[49] = 1 << 11 | 1 << 9 | 1 << 8;     /* IORDY, LBA, DMA */
	id[50] = 0x4000;
	id[51] = id[52] = 0x200;                 /* PIO mode 2 timing */
	id[53] = 1 | 2 | 4;                      /* words 54-58, 64-70 and 88 valid */
	id[54] = (uint16_t)cyls;
	id[55] = HEADS;
	id[56] = SPT;
	id[57] = (uint16_t)chs;
	id[58] = (uint16_t)(chs >> 16);
	id[59] = u->multiple ? 0x100 | u->multiple : 0;
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	id[63] = 0x07;                           /* multiword DMA 0-2 */
	if ((u->xfer_mode & 0xf8) == 0x20)
		id[63] |= (uint16_t)(0x100 << (u->xfer_mode & 7));
	id[64] = 0x03;                           /* PIO 3 and 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[80] = 0x7e;                           /* ATA-1 to ATA-6 */
	id[81] = 0x19;
	id[82] = 1 << 14 | 1 << 5 | 1 << 3;     /* NOP, write cache, power management */
	id[83] = 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10; /* FLUSH CACHE (EXT), LBA48 */
	id[84] = 1 << 14;
	id[85] = (uint16_t)(1 << 14 | (u->wcache ? 1 << 5 : 0) | 1 << 3);
	id[86] = 1 << 13 | 1 << 12 | 1 << 10;
	id[87] = 1 << 14;
	id[88] = 0x3f;                           /* UDMA 0-5 */
	if ((u->xfer_mode & 0xf8) == 0x40)
		id[88] |= (uint16_t)(0x100 << (u->xfer_mode & 7));
	id[93] = 1 | 1 << 14 | 1 << 13;          /* 80-conductor cable: UDMA > 2 allowed */
	for (unsigned i = 0; i < 4; i++)
		id[100 + i] = (uint16_t)(u->sectors >> (16 * i));
	ide_identify_checksum(id);
	ch->x.len = ATA_SECTOR;
	ch->x.block = ATA_SECTOR;
	ide_data_in(ch);
}

/* ---- addresses ---- */

static uint64_t lba28(const struct ide_unit *u)
{
	if (u->select & ATA_LBA)
		return (uint64_t)(u->select & 0x0f) << 24 | (uint64_t)u->lbah << 16 |
		       (uint64_t)u->lbam << 8 | u->lbal;
	/* CHS, in the geometry IDENTIFY reports */
	uint64_t cyl = (uint64_t)u->lbah << 8 | u->lbam;
	if (u->lbal == 0 || u->lbal > SPT)
		return BAD_LBA;
	return (cyl * HEADS + (u->select & 0x0f)) * SPT + u->lbal - 1;
}

static uint64_t lba48(const struct ide_unit *u)
{
	return (uint64_t)u->hob_lbah << 40 | (uint64_t)u->hob_lbam << 32 |
	       (uint64_t)u->hob_lbal << 24 | (uint64_t)u->lbah << 16 | (uint64_t)u->lbam << 8 |
	       u->lbal;
}

static uint32_t count(const struct ide_unit *u, bool ext)
{
	if (!ext)
		return u->nsector ? u->nsector : 256;
	uint32_t n = (uint32_t)u->hob_nsector << 8 | u->nsector;
	return n ? n : 65536;
}

/* READ/WRITE SECTORS, MULTIPLE and DMA, 28- or 48-bit. */
static void read_write(struct ide_channel *ch, struct ide_unit *u, bool ext, bool write, bool dma,
		       unsigned per_block)
{
	struct ide_xfer *x = &ch->x;
	uint64_t lba = ext ? lba48(u) : lba28(u), n = count(u, ext);
	if (write && u->readonly) {
		ide_complete(ch, ATA_ABRT);
		return;
	}
	if (lba == BAD_LBA || lba > u->sectors || n > u->sectors - lba) {
		ide_guest_error_count(ch);
		log_guest_error(ch->c->name, "channel %u: %s of %llu sectors at %llu, beyond the "
				"disk's %llu", ch->index, write ? "write" : "read",
				(unsigned long long)n, (unsigned long long)lba,
				(unsigned long long)u->sectors);
		ide_complete(ch, ATA_IDNF);
		return;
	}
	x->write = write;
	x->dma = dma;
	x->offset = lba * ATA_SECTOR;
	x->left = n * ATA_SECTOR;
	x->block = per_block * ATA_SECTOR;
	x->flush_after = write && !u->wcache;
	if (write)
		ide_data_out(ch);
	else
		ide_data_in(ch);
}

static void verify(struct ide_channel *ch, struct ide_unit *u, bool ext)
{
	uint64_t lba = ext ? lba48(u) : lba28(u), n = count(u, ext);
	ide_complete(ch, lba == BAD_LBA || lba > u->sectors || n > u->sectors - lba ? ATA_IDNF : 0);
}

static void native_max(struct ide_channel *ch, struct ide_unit *u, bool ext)
{
	uint64_t max = u->sectors ? u->sectors - 1 : 0;
	if (!ext && max > LBA28_MAX)
		max = LBA28_MAX;
	u->lbal = (uint8_t)max;
	u->lbam = (uint8_t)(max >> 8);
	u->lbah = (uint8_t)(max >> 16);
	if (ext) {
		u->hob_lbal = (uint8_t)(max >> 24);
		u->hob_lbam = (uint8_t)(max >> 32);
		u->hob_lbah = (uint8_t)(max >> 40);
	} else {
		u->select = (uint8_t)((u->select & 0xf0) | ((max >> 24) & 0x0f));
	}
	ide_complete(ch, 0);
}

/* SET FEATURES (§8.37): transfer mode, write cache, and the look-ahead
 * and revert switches, which change nothing here. */
static void set_features(struct ide_channel *ch, struct ide_unit *u)
{
	uint8_t mode = u->nsector;
	switch (u->feature) {
	case 0x03:
		if (mode <= 0x01 || (mode >= 0x08 && mode <= 0x0c) ||
		    (mode >= 0x20 && mode <= 0x22) || (mode >= 0x40 && mode <= 0x45)) {
			u->xfer_mode = mode;
			ide_complete(ch, 0);
			return;
		}
		break;
	case 0x02:
	case 0x82:
		if (u->kind == IDE_ATA) {
			u->wcache = u->feature == 0x02;
			ide_complete(ch, 0);
			return;
		}
		break;
	case 0x55: case 0xaa: case 0x66: case 0xcc:
		ide_complete(ch, 0);
		return;
	default:
		break;
	}
	ide_complete(ch, ATA_ABRT);
}

/* EXECUTE DEVICE DIAGNOSTIC (§8.11): both devices show their signature,
 * the error register says they passed. */
static void diagnostic(struct ide_channel *ch)
{
	for (unsigned i = 0; i < IDE_UNITS; i++) {
		struct ide_unit *u = &ch->unit[i];
		ide_set_signature(u);
		u->error = 0x01;
		u->status = u->kind == IDE_ATA ? ATA_DRDY | ATA_DSC : 0;
	}
	ch->phase = IDE_IDLE;
	ide_irq_raise(ch);
}

/* The commands a packet device takes (§6.1). */
static void atapi_command(struct ide_channel *ch, struct ide_unit *u, uint8_t cmd)
{
	switch (cmd) {
	case 0xa1: /* IDENTIFY PACKET DEVICE */
		ide_atapi_identify(ch, u);
		return;
	case 0xa0: /* PACKET */
		ch->x.dma = u->feature & 1;
		ch->x.block = (uint32_t)u->lbah << 8 | u->lbam;
		ch->x.pos = 0;
		ch->phase = IDE_PACKET;
		u->nsector = ATAPI_COD;
		u->status = ATA_DRDY | ATA_DRQ;
		return; /* the CDB is asked for without an interrupt */
	case 0xec: /* IDENTIFY DEVICE: aborted, showing the packet signature */
		ide_complete(ch, ATA_ABRT);
		ide_set_signature(u);
		u->status = ATA_DRDY | ATA_ERR;
		return;
	case 0x90:
		diagnostic(ch);
		return;
	case 0xef:
		set_features(ch, u);
		return;
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: /* power: always active */
		ide_complete(ch, 0);
		return;
	case 0xe5: /* CHECK POWER MODE */
		ide_complete(ch, 0);
		u->nsector = 0xff;
		return;
	default:
		ide_complete(ch, ATA_ABRT);
		return;
	}
}

void ide_ata_command(struct ide_channel *ch, uint8_t cmd)
{
	struct ide_xfer *x = &ch->x;
	struct ide_unit *u = &ch->unit[ch->cur];
	/* The bus master's place in its table survives: the host may start
	 * it before or after the command. */
	struct ide_xfer keep = *x;
	memset(x, 0, sizeof(*x));
	x->prd_index = keep.prd_index;
	x->prd_addr = keep.prd_addr;
	x->prd_left = keep.prd_left;
	x->prd_eot = keep.prd_eot;
	x->unit = ch->cur;
	x->cmd = cmd;
	u->error = 0;
	if (u->kind == IDE_ATAPI) {
		atapi_command(ch, u, cmd);
		return;
	}
	unsigned mult = u->multiple;
	switch (cmd) {
	case 0xec: identify_device(ch, u); break;
	case 0x20: case 0x21: read_write(ch, u, false, false, false, 1); break;
	case 0x24: read_write(ch, u, true, false, false, 1); break;
	case 0x30: case 0x31: read_write(ch, u, false, true, false, 1); break;
	case 0x34: read_write(ch, u, true, true, false, 1); break;
	case 0xc4: case 0x29: case 0xc5: case 0x39:
		if (!mult)
			ide_complete(ch, ATA_ABRT); /* SET MULTIPLE MODE first */
		else
			read_write(ch, u, cmd == 0x29 || cmd == 0x39, cmd == 0xc5 || cmd == 0x39,
				   false, mult);
		break;
	case 0xc8: case 0xc9: read_write(ch, u, false, false, true, 1); break;
	case 0x25: read_write(ch, u, true, false, true, 1); break;
	case 0xca: case 0xcb: read_write(ch, u, false, true, true, 1); break;
	case 0x35: read_write(ch, u, true, true, true, 1); break;
	case 0x40: case 0x41: verify(ch, u, false); break;
	case 0x42: verify(ch, u, true); break;
	case 0xe7: case 0xea: /* FLUSH CACHE (EXT) */
		ide_start_step(ch, STEP_FLUSH);
		break;
	case 0xc6: /* SET MULTIPLE MODE: a power of two up to IDE_MAX_MULTIPLE, 0 off */
		if (u->nsector > IDE_MAX_MULTIPLE || (u->nsector & (u->nsector - 1))) {
			ide_complete(ch, ATA_ABRT);
		} else {
			u->multiple = u->nsector;
			ide_complete(ch, 0);
		}
		break;
	case 0xef: set_features(ch, u); break;
	case 0x91: ide_complete(ch, 0); break; /* INITIALIZE DEVICE PARAMETERS */
	case 0x90: diagnostic(ch); break;
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: /* STANDBY/IDLE (IMMEDIATE) */
	case 0x94: case 0x95: case 0x96: case 0x97:
	case 0x70: /* SEEK */
		ide_complete(ch, 0);
		break;
	case 0xe5: case 0x98: /* CHECK POWER MODE: active */
		ide_complete(ch, 0);
		u->nsector = 0xff;
		break;
	case 0xf8: native_max(ch, u, false); break;
	case 0x27: native_max(ch, u, true); break;
	default:
		if (cmd >= 0x10 && cmd <= 0x1f) { /* RECALIBRATE */
			ide_complete(ch, 0);
			break;
		}
		/* NOP (00h) is aborted by definition (§8.23); the rest we lack. */
		if (cmd != 0x00 && cmd != 0xa0 && cmd != 0xa1) /* packet commands: a probe */
			log_guest_event(ch->c->name, "channel %u: ATA command 0x%02x not supported",
					ch->index, cmd);
		ide_complete(ch, ATA_ABRT);
		break;
	}
}
