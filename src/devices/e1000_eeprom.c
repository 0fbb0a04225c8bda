/* The e1000's EEPROM: 64 16-bit words holding the MAC address, the PCI
 * IDs and a checksum (SDM §5), read either by bit-banging the microwire
 * interface through EECD (what Linux's e1000 does on the 82540) or one
 * word at a time through EERD. Writes are not kept: the image is built
 * from the configured MAC at every start.
 *
 * Microwire READ (SDM §5, "EEPROM interface"): with CS high, the driver
 * clocks in (SK rising edges, DI sampled) the 3-bit opcode 110b and a
 * 6-bit word address; the EEPROM then shifts the word out on DO, most
 * significant bit first, one bit per SK cycle, and keeps going into the
 * following words until CS drops. */
#include "devices/e1000_priv.h"

#include <errno.h>
#include <string.h>

#include "core/state.h"

#define MW_OPCODE_READ 0x6 /* 110b */
#define MW_CMD_BITS    9   /* 3 opcode + 6 address bits (64 words, EECD.SIZE 0) */
#define EEPROM_BITS    (EEPROM_WORDS * 16)
#define EECD_PINS      (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ)

/* Word offsets in the image (SDM §5, EEPROM address map). */
#define EE_MAC          0x00 /* 3 words, little-endian byte pairs */
#define EE_LED_CFG      0x04 /* FFFFh: drivers use the default LED setup */
#define EE_INIT_CTRL1   0x0A
#define EE_SUBSYS_ID    0x0B
#define EE_SUBSYS_VEND  0x0C
#define EE_DEVICE_ID    0x0D
#define EE_VENDOR_ID    0x0E
#define EE_INIT_CTRL2   0x0F /* pause bits 13:12 = 0: no flow control */
#define EE_PXE_FIRST    0x30 /* 30h-3Eh: boot agent words, FFFFh = none */
#define EE_CHECKSUM     0x3F

#define INIT_CTRL1_SIGNATURE 0x4000 /* bits 15:14 = 01b: a valid image */

void e1000_eeprom_init(struct e1000_eeprom *ee, const uint8_t mac[6])
{
	uint16_t sum = 0;

	memset(ee, 0, sizeof(*ee));
	for (unsigned i = 0; i < 3; i++)
		ee->data[EE_MAC + i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
	ee->data[EE_LED_CFG] = 0xFFFF;
	ee->data[EE_INIT_CTRL1] = INIT_CTRL1_SIGNATURE;
	ee->data[EE_SUBSYS_ID] = E1000_SUBSYS_ID;
	ee->data[EE_SUBSYS_VEND] = E1000_SUBSYS_VENDOR;
	ee->data[EE_DEVICE_ID] = E1000_DEV_82540EM;
	ee->data[EE_VENDOR_ID] = E1000_VENDOR_INTEL;
	ee->data[EE_INIT_CTRL2] = 0;
	for (unsigned i = EE_PXE_FIRST; i < EE_CHECKSUM; i++)
		ee->data[i] = 0xFFFF;
	for (unsigned i = 0; i < EE_CHECKSUM; i++)
		sum = (uint16_t)(sum + ee->data[i]);
	ee->data[EE_CHECKSUM] = (uint16_t)(EEPROM_SUM - sum);
}

void e1000_eeprom_reset(struct e1000_eeprom *ee)
{
	ee->eecd = 0;
	ee->in = 0;
	ee->in_bits = 0;
	ee->out_pos = 0;
	ee->reading = false;
}

static unsigned out_bit(const struct e1000_eeprom *ee)
{
	unsigned word = ee->out_pos / 16, bit = 15 - ee->out_pos % 16;
	return (ee->data[word] >> bit) & 1;
}

uint32_t e1000_eecd_read(const struct e1000_eeprom *ee)
{
	/* PRES: an EEPROM is fitted; GNT answers REQ at once (no other
	 * master); DO idles high between commands. */
	uint32_t v = ee->eecd | EECD_PRES;
	if (ee->eecd & EECD_REQ)
		v |= EECD_GNT;
	if (!ee->reading || out_bit(ee))
		v |= EECD_DO;
	return v;
}

void e1000_eecd_write(struct e1000_eeprom *ee, uint32_t v)
{
	uint32_t old = ee->eecd;

	ee->eecd = v & EECD_PINS;
	if (!(v & EECD_CS) || !(old & EECD_CS)) {
		/* Deselected, or just selected: a new command starts. */
		ee->in = 0;
		ee->in_bits = 0;
		ee->reading = false;
		if (!(v & EECD_CS))
			return;
	}
	if (!((old ^ v) & EECD_SK))
		return;
	if (!(v & EECD_SK)) {
		/* Falling edge: the next data bit goes out on DO. */
		if (ee->reading)
			ee->out_pos = (ee->out_pos + 1) % EEPROM_BITS;
		return;
	}
	/* Rising edge: sample DI while the command is coming in. */
	if (ee->reading || ee->in_bits >= MW_CMD_BITS)
		return;
	ee->in = (uint16_t)(ee->in << 1 | !!(v & EECD_DI));
	if (++ee->in_bits < MW_CMD_BITS)
		return;
	if (ee->in >> 6 == MW_OPCODE_READ) {
		/* The falling edge after the last address bit (the EEPROM's dummy
		 * zero) moves DO to the word's most significant bit. */
		ee->reading = true;
		ee->out_pos = ((ee->in & 0x3F) * 16 + EEPROM_BITS - 1) % EEPROM_BITS;
	}
	/* Other opcodes (erase/write enable, write, erase) are accepted and
	 * ignored: the image is read-only. */
}

uint32_t e1000_eerd_write(const struct e1000_eeprom *ee, uint32_t v)
{
	/* EERD (SDM §13.4.4): START reads the word at ADDR into DATA and sets
	 * DONE at once; START itself does not stick. */
	if (!(v & EERD_START))
		return v & (0xFFu << EERD_ADDR_SHIFT);
	unsigned addr = (v >> EERD_ADDR_SHIFT) & 0xFF;
	uint16_t data = addr < EEPROM_WORDS ? ee->data[addr] : 0xFFFF;
	return (uint32_t)data << EERD_DATA_SHIFT | addr << EERD_ADDR_SHIFT | EERD_DONE;
}

void e1000_eeprom_save(const struct e1000_eeprom *ee, struct state_writer *w)
{
	state_begin(w, "eeprom", 1);
	state_put_u32(w, "eecd", ee->eecd);
	state_put_u16(w, "in", ee->in);
	state_put_u8(w, "in_bits", (uint8_t)ee->in_bits);
	state_put_u16(w, "out_pos", (uint16_t)ee->out_pos);
	state_put_bool(w, "reading", ee->reading);
	state_end(w);
}

int e1000_eeprom_load(struct e1000_eeprom *staged, struct state_reader *r)
{
	struct e1000_eeprom *ee = staged;
	uint8_t in_bits;
	uint16_t out_pos;

	state_enter(r, "eeprom", 1, NULL);
	state_get_u32(r, "eecd", &ee->eecd);
	state_get_u16(r, "in", &ee->in);
	state_get_u8(r, "in_bits", &in_bits);
	state_get_u16(r, "out_pos", &out_pos);
	state_get_bool(r, "reading", &ee->reading);
	if (state_failed(r))
		return -EINVAL;
	ee->in_bits = in_bits;
	ee->out_pos = out_pos;
	/* What e1000_eecd_write can leave: only the pins software drives, at
	 * most a whole command shifted in, a read only after one. */
	if (ee->eecd & ~EECD_PINS)
		return state_invalid(r, "eecd", "0x%x drives pins software cannot (0x%x)", ee->eecd,
				     EECD_PINS);
	if (ee->in_bits > MW_CMD_BITS)
		return state_invalid(r, "in_bits", "%u is more than a command's %u bits",
				     ee->in_bits, MW_CMD_BITS);
	if (ee->in >> ee->in_bits)
		return state_invalid(r, "in", "0x%x has more than in_bits (%u) bits", ee->in,
				     ee->in_bits);
	if (ee->out_pos >= EEPROM_BITS)
		return state_invalid(r, "out_pos", "%u is beyond the EEPROM's %u bits", ee->out_pos,
				     EEPROM_BITS);
	if (ee->reading && ee->in_bits != MW_CMD_BITS)
		return state_invalid(r, "reading", "a read before its command was shifted in");
	return state_leave(r);
}
