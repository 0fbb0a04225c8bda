/* The ATAPI CD-ROM: IDENTIFY PACKET DEVICE (ATA-6 §8.16) and the SCSI/MMC
 * commands of the PACKET command (SFF-8020i, MMC-3) that Linux's sr and
 * cdrom drivers and SeaBIOS's ATAPI driver send, on a read-only image of
 * 2048-byte sectors: one data track, one session, medium always present.
 *
 * A command's response is built in the channel's buffer and handed to the
 * host by PIO (in blocks of the byte count limit the host put in LBA
 * mid/high) or by DMA (features bit 0); READ(10)/(12) come from the
 * backend the same way. An unknown or malformed command is CHECK
 * CONDITION with its sense (ILLEGAL REQUEST and an ASC) kept for REQUEST
 * SENSE. */
#include <string.h>

#include "core/byteorder.h"
#include "core/log.h"
#include "devices/ide_priv.h"

/* Sense keys and additional sense codes (SPC-3 §4.5.6) */
#define SK_NO_SENSE 0x00
#define SK_ILLEGAL_REQUEST 0x05
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_SAVING_NOT_SUPPORTED 0x39

/* An 80-minute CD; beyond that the medium is a DVD (GET CONFIGURATION's
 * current profile). */
#define CD_MAX_SECTORS (80 * 60 * 75)
#define PROFILE_CD_ROM 0x0008
#define PROFILE_DVD_ROM 0x0010
#define MAX_SPEED_KBS 706





void ide_atapi_identify(struct ide_channel *ch, struct ide_unit *u)
{
	uint16_t *id = (uint16_t *)ch->buf;
	memset(id, 0, ATA_SECTOR);
	/* ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets */
	id[0] = 2 << 14 | 5 << 8 | 1 << 7 | 2 << 5;
	ide_put_string(&id[10], u->serial, 10);
	ide_put_string(&id[23], "1.0", 4);
	ide_put_string(&id[27], "IOVIRT DVD-ROM", 20);
	id[49] = 1 << 9 | 1 << 8;               /* LBA, DMA */
	id[53] = 2 | 4;                          /* words 64-70 and 88 valid */
	id[63] = 0x07;
	if ((u->xfer_mode & 0xf8) == 0x20)
		id[63] |= (uint16_t)(0x100 << (u->xfer_mode & 7));
	id[64] = 0x03;
	id[65] = 0xb4;
	id[66] = 0xb4;
	id[67] = 0x12c;
	id[68] = 0xb4;
	id[71] = 30;
	id[72] = 30;
	id[80] = 0x1e;                           /* ATAPI-1 to 4 */
	id[82] = 1 << 14 | 1 << 4;              /* NOP, PACKET */
	id[83] = 1 << 14;
	id[84] = 1 << 14;
	id[85] = 1 << 14 | 1 << 4;
	id[87] = 1 << 14;
	id[88] = 0x3f;
	if ((u->xfer_mode & 0xf8) == 0x40)
		id[88] |= (uint16_t)(0x100 << (u->xfer_mode & 7));
	id[93] = 1 | 1 << 14 | 1 << 13;
	ide_identify_checksum(id);
	ch->x.len = ATA_SECTOR;
	ch->x.block = ATA_SECTOR;
	ide_data_in(ch);
}

void ide_atapi_fail(struct ide_channel *ch, uint8_t key, uint8_t asc)
{
	struct ide_unit *u = &ch->unit[ch->x.unit];
	u->sense_key = key;
	u->asc = asc;
	u->ascq = 0;
	ide_complete(ch, (uint8_t)(key << 4));
}

/* The response in buf[0, len), cut to the allocation length. */
static void respond(struct ide_channel *ch, uint32_t len, uint32_t alloc)
{
	struct ide_unit *u = &ch->unit[ch->x.unit];
	u->sense_key = u->asc = u->ascq = 0;
	ch->x.len = len < alloc ? len : alloc;
	ide_data_in(ch);
}

static void ok(struct ide_channel *ch)
{
	respond(ch, 0, 0);
}

static void request_sense(struct ide_channel *ch, struct ide_unit *u)
{
	uint8_t *b = ch->buf;
	memset(b, 0, 18);
	b[0] = 0x70;                             /* current, fixed format */
	b[2] = u->sense_key;
	b[7] = 10;
	b[12] = u->asc;
	b[13] = u->ascq;
	respond(ch, 18, ch->cdb[4]);
}

static void inquiry(struct ide_channel *ch)
{
	const uint8_t *cdb = ch->cdb;
	if (cdb[1] & 1) { /* vital product data: none */
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	uint8_t *b = ch->buf;
	memset(b, 0, 36);
	b[0] = 0x05;                             /* CD/DVD device */
	b[1] = 0x80;                             /* removable */
	b[3] = 0x21;                             /* ATAPI, response format 1 */
	b[4] = 31;
	memcpy(b + 8, "IOVIRT  ", 8);
	memcpy(b + 16, "IOVIRT DVD-ROM  ", 16);
	memcpy(b + 32, "1.0 ", 4);
	respond(ch, 36, get_be16(cdb + 3));
}

static void read_capacity(struct ide_channel *ch, struct ide_unit *u)
{
	uint8_t *b = ch->buf;
	put_be32(b, u->sectors ? (uint32_t)(u->sectors - 1) : 0);
	put_be32(b + 4, CD_SECTOR);
	respond(ch, 8, 8);
}

static void read_sectors(struct ide_channel *ch, struct ide_unit *u, uint64_t lba, uint64_t n)
{
	struct ide_xfer *x = &ch->x;
	if (lba > u->sectors || n > u->sectors - lba) {
		ide_guest_error_count(ch);
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	u->sense_key = u->asc = u->ascq = 0;
	x->offset = lba * CD_SECTOR;
	x->left = n * CD_SECTOR;
	x->len = 0;
	ide_data_in(ch);
}

/* MODE SENSE pages: capabilities (2Ah), read error recovery (01h), CD
 * device parameters (0Dh); appended at b, returns the length. */
static uint32_t mode_page(struct ide_unit *u, unsigned page, uint8_t *b)
{
	switch (page) {
	case 0x01:
		memset(b, 0, 12);
		b[0] = 0x01;
		b[1] = 10;
		return 12;
	case 0x0d:
		memset(b, 0, 8);
		b[0] = 0x0d;
		b[1] = 6;
		b[3] = 1;                        /* inactivity timer */
		put_be16(b + 4, 60);             /* S units per M */
		put_be16(b + 6, 75);             /* F units per S */
		return 8;
	case 0x2a:
		memset(b, 0, 28);
		b[0] = 0x2a;
		b[1] = 26;
		b[2] = 0x03;                     /* reads CD-R, CD-RW */
		b[4] = 0x71;                     /* audio play, mode 2 forms, multi-session */
		b[5] = 0x60;                     /* CD-DA accurate */
		b[6] = (uint8_t)(0x29 | (u->locked ? 0x02 : 0)); /* lock, eject, tray */
		put_be16(b + 8, MAX_SPEED_KBS);
		put_be16(b + 10, 2);             /* volume levels */
		put_be16(b + 12, 512);           /* buffer, KiB */
		put_be16(b + 14, MAX_SPEED_KBS);
		return 28;
	default:
		return 0;
	}
}

static void mode_sense(struct ide_channel *ch, struct ide_unit *u, bool ten)
{
	const uint8_t *cdb = ch->cdb;
	unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3f;
	if (pc == 3) {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED);
		return;
	}
	uint8_t *b = ch->buf;
	uint32_t hdr = ten ? 8 : 4, len = hdr;
	memset(b, 0, hdr);
	static const unsigned all[] = {0x01, 0x0d, 0x2a};
	unsigned n = page == 0x3f ? 3 : 1;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = b + len;
		uint32_t plen = mode_page(u, page == 0x3f ? all[i] : page, p);
		if (pc == 1 && plen > 2) /* changeable values: none (each page's body) */
			memset(p + 2, 0, plen - 2);
		len += plen;
	}
	if (len == hdr) {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	if (ten)
		put_be16(b, len - 2);
	else
		b[0] = (uint8_t)(len - 1);
	respond(ch, len, ten ? get_be16(cdb + 7) : cdb[4]);
}

/* GET CONFIGURATION (MMC-3 §6.6): the profile list, Core and Removable
 * Medium features. */
static void get_configuration(struct ide_channel *ch, struct ide_unit *u)
{
	const uint8_t *cdb = ch->cdb;
	unsigned rt = cdb[1] & 3, start = get_be16(cdb + 2);
	bool dvd = u->sectors > CD_MAX_SECTORS;
	uint8_t *b = ch->buf;
	memset(b, 0, 64);
	uint32_t len = 8;
	put_be16(b + 6, dvd ? PROFILE_DVD_ROM : PROFILE_CD_ROM);
	static const unsigned features[] = {0x0000, 0x0001, 0x0003};
	for (unsigned i = 0; i < 3; i++) {
		unsigned f = features[i];
		if (rt == 2 ? f != start : f < start)
			continue;
		uint8_t *d = b + len;
		put_be16(d, f);
		d[2] = 0x03;                     /* persistent, current */
		if (f == 0x0000) {
			d[3] = 8;
			put_be16(d + 4, PROFILE_DVD_ROM);
			d[6] = dvd;
			put_be16(d + 8, PROFILE_CD_ROM);
			d[10] = !dvd;
		} else if (f == 0x0001) {
			d[2] = 0x07;             /* version 1 */
			d[3] = 8;
			put_be32(d + 4, 2);      /* ATAPI */
			d[8] = 1;                /* DBE */
		} else {
			d[3] = 4;
			d[4] = 0x29;             /* tray, eject, lock */
		}
		len += 4u + d[3];
	}
	put_be32(b, len - 4);
	respond(ch, len, get_be16(cdb + 7));
}

/* GET EVENT STATUS NOTIFICATION (MMC-3 §6.8), polled only: the media
 * class says "present", nothing else has events. */
static void event_status(struct ide_channel *ch)
{
	const uint8_t *cdb = ch->cdb;
	if (!(cdb[1] & 1)) {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	uint8_t *b = ch->buf;
	memset(b, 0, 8);
	uint32_t len = 4;
	b[3] = 0x10;                             /* supported: media */
	if (cdb[4] & 0x10) {
		b[2] = 0x04;                     /* media class */
		b[5] = 0x02;                     /* present, tray closed */
		len = 8;
	} else {
		b[2] = 0x80;                     /* no event available */
	}
	put_be16(b, len - 2);
	respond(ch, len, get_be16(cdb + 7));
}

static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
	if (!msf) {
		put_be32(p, lba);
		return;
	}
	uint32_t f = lba + 150;
	p[0] = 0;
	p[1] = (uint8_t)(f / (60 * 75));
	p[2] = (uint8_t)(f / 75 % 60);
	p[3] = (uint8_t)(f % 75);
}

/* READ TOC/PMA/ATIP (MMC-3 §6.26) formats 0 (TOC) and 1 (session info). */
static void read_toc(struct ide_channel *ch, struct ide_unit *u)
{
	const uint8_t *cdb = ch->cdb;
	bool msf = cdb[1] & 2;
	unsigned format = cdb[2] & 0x0f, track = cdb[6];
	if (!format)
		format = cdb[9] >> 6;            /* the SFF-8020i place */
	uint8_t *b = ch->buf;
	uint32_t len = 4, end = u->sectors > UINT32_MAX - 150 ? UINT32_MAX - 150
							      : (uint32_t)u->sectors;
	memset(b, 0, 32);
	b[2] = 1;
	b[3] = 1;
	if (format == 0) {
		if (track > 1 && track != 0xaa) {
			ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		if (track <= 1) {
			b[len + 1] = 0x14;       /* ADR 1, data track */
			b[len + 2] = 1;
			put_addr(b + len + 4, 0, msf);
			len += 8;
		}
		b[len + 1] = 0x16;
		b[len + 2] = 0xaa;               /* lead-out */
		put_addr(b + len + 4, end, msf);
		len += 8;
	} else if (format == 1) {
		b[len + 1] = 0x14;
		b[len + 2] = 1;
		put_addr(b + len + 4, 0, msf);
		len += 8;
	} else {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	put_be16(b, len - 2);
	respond(ch, len, get_be16(cdb + 7));
}

static void disc_info(struct ide_channel *ch)
{
	const uint8_t *cdb = ch->cdb;
	if (cdb[1] & 7) {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	uint8_t *b = ch->buf;
	memset(b, 0, 34);
	put_be16(b, 32);
	b[2] = 0x0e;                             /* complete disc, last session complete */
	b[3] = 1;                                /* first track */
	b[4] = 1;                                /* sessions */
	b[5] = 1;                                /* first track of the last session */
	b[6] = 1;                                /* last track of the last session */
	b[7] = 0x20;                             /* unrestricted use */
	memset(b + 16, 0xff, 8);                 /* no lead-in/lead-out of a blank */
	respond(ch, 34, get_be16(cdb + 7));
}

static void track_info(struct ide_channel *ch, struct ide_unit *u)
{
	const uint8_t *cdb = ch->cdb;
	unsigned type = cdb[1] & 3;
	uint32_t v = get_be32(cdb + 2);
	bool track1 = (type == 0 && v < u->sectors) || (type == 1 && v == 1) ||
		      (type == 2 && v == 1);
	if (!track1) {
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	uint8_t *b = ch->buf;
	memset(b, 0, 36);
	put_be16(b, 34);
	b[2] = 1;                                /* track */
	b[3] = 1;                                /* session */
	b[5] = 0x04;                             /* data, uninterrupted */
	b[6] = 0x01;                             /* mode 1 */
	put_be32(b + 24, u->sectors > UINT32_MAX ? UINT32_MAX : (uint32_t)u->sectors);
	respond(ch, 36, get_be16(cdb + 7));
}

static void mechanism_status(struct ide_channel *ch)
{
	uint8_t *b = ch->buf;
	memset(b, 0, 8);                         /* idle, no changer, no slots */
	respond(ch, 8, get_be16(ch->cdb + 8));
}

void ide_atapi_packet(struct ide_channel *ch)
{
	struct ide_unit *u = &ch->unit[ch->x.unit];
	const uint8_t *cdb = ch->cdb;
	struct ide_xfer *x = &ch->x;
	/* Byte count limit (ATA-6 §9.9): 0 is taken as the largest even
	 * count, an odd one rounded down. */
	x->block &= ~1u;
	if (x->block == 0)
		x->block = 0xfffe;
	switch (cdb[0]) {
	case 0x00: ok(ch); break;                         /* TEST UNIT READY */
	case 0x03: request_sense(ch, u); break;
	case 0x12: inquiry(ch); break;
	case 0x25: read_capacity(ch, u); break;
	case 0x28: read_sectors(ch, u, get_be32(cdb + 2), get_be16(cdb + 7)); break;
	case 0xa8: read_sectors(ch, u, get_be32(cdb + 2), get_be32(cdb + 6)); break;
	case 0x1a: mode_sense(ch, u, false); break;
	case 0x5a: mode_sense(ch, u, true); break;
	case 0x46: get_configuration(ch, u); break;
	case 0x4a: event_status(ch); break;
	case 0x43: read_toc(ch, u); break;
	case 0x51: disc_info(ch); break;
	case 0x52: track_info(ch, u); break;
	case 0x1e: u->locked = cdb[4] & 1; ok(ch); break; /* PREVENT ALLOW MEDIUM REMOVAL */
	case 0x1b: ok(ch); break;                         /* START STOP UNIT: the disc stays */
	case 0xbd: mechanism_status(ch); break;
	case 0xbb: ok(ch); break;                         /* SET CD SPEED */
	default:
		log_guest_event(ch->c->name, "channel %u: ATAPI command 0x%02x not supported",
				ch->index, cdb[0]);
		ide_atapi_fail(ch, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		break;
	}
}
