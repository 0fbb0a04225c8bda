/* The e1000 through the device contract (support/e1000_drv.h): save, load
 * into a fresh instance and save again gives the same bytes; a device saved
 * mid-traffic and loaded into a fresh instance sends the frames the guest
 * queued next and receives into the buffers it posted; hostile records
 * (every truncation, every byte corrupted, out-of-range fields) are refused
 * with the field named and the instance unchanged; a device saved while
 * interrupt delays run keeps their time left; the counters count what
 * happened; reset is CTRL.RST's. */
#include <errno.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/device.h"
#include "core/state.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"
#include "support/loop_wait.h"

#define BAR0_GPA 0xfebc0000u
#define BAR1_PORT 0xc000u
#define HALF 300 /* bytes of the offloaded packet gathered before the save */

struct rec {
	uint8_t *buf;
	size_t len;
};

static struct rec save_dev(struct e1000 *e)
{
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(e1000_device(e), &w), 0);
	assert_int_equal(state_writer_finish(&w), 0);
	return (struct rec){w.buf, w.len};
}

/* 0, or -EINVAL with the reader's error in err. */
static int load_dev(struct e1000 *e, const uint8_t *buf, size_t len, char *err, size_t size)
{
	struct state_reader r;
	state_reader_init(&r, buf, len, e1000_device(e)->id);
	int ret = device_load(e1000_device(e), &r);
	if (!ret)
		ret = state_reader_finish(&r);
	snprintf(err, size, "%s", state_error(&r));
	return ret;
}

/* Replaces f's device with a fresh instance on the same RAM and port. */
static void fresh_device(struct e1k_drv *f)
{
	device_destroy(e1000_device(f->e));
	e1k_attach(f, e1k_create(f));
}

static void cfg_write32(struct e1k_drv *f, unsigned off, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	pci_config_write(f->pci, off, b, 4);
}

/* An offloaded TCP frame in f->frame (checksums left to the device); its
 * length. */
static size_t offload_frame(struct e1k_drv *f)
{
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 500, 0x18);
	uint8_t *ip = f->frame + 14;
	uint32_t ph = e1k_sum16(ip + 12, 8, 0) + 6 + (uint32_t)(len - 34);
	e1k_put16(f->frame + 34 + 16, (uint16_t)~e1k_fold(ph));
	return len;
}

/* A device mid-traffic: BARs placed, 7 receive buffers posted and 2 used,
 * 2 frames sent, an offload context loaded and the first HALF bytes of the
 * offloaded frame in f->frame gathered (its EOP descriptor not posted);
 * the filters, the PHY and the EEPROM touched; a TXDW throttled by ITR.
 * Returns the offloaded frame's length. */
static size_t make_busy(struct e1k_drv *f)
{
	cfg_write32(f, PCI_BASE_ADDRESS_0, BAR0_GPA);
	cfg_write32(f, PCI_BASE_ADDRESS_1, BAR1_PORT);
	e1k_wr(f, E1000_IMS, ICR_RXT0 | ICR_TXDW);
	e1k_wr(f, E1000_ITR, 1000); /* 256 us */
	e1k_wr(f, E1000_MTA + 12, 0x00100000);
	e1k_wr(f, E1000_VFTA + 20, 0x8001);
	e1k_wr(f, E1000_RA + 8, 0x11223344);
	e1k_wr(f, E1000_RA + 12, 0x5566 | RAH_AV);
	e1k_wr(f, E1000_MDIC, MDIC_OP_WRITE << MDIC_OP_SHIFT | E1000_PHY_ADDR << MDIC_PHY_SHIFT |
				      PHY_AUTONEG_ADV << MDIC_REG_SHIFT | 0x0061);
	/* Two bits of a microwire command shifted in. */
	e1k_wr(f, E1000_EECD, EECD_CS);
	e1k_wr(f, E1000_EECD, EECD_CS | EECD_DI | EECD_SK);
	e1k_wr(f, E1000_EECD, EECD_CS | EECD_DI);
	e1k_wr(f, E1000_EECD, EECD_CS | EECD_SK);

	e1k_rx_start(f, RCTL_SECRC | RCTL_BAM);
	e1k_tx_start(f);
	for (unsigned i = 0; i < 2; i++) {
		size_t n = e1k_make_tcp(f->frame, e1k_our_mac, 100 + i, 0x10);
		assert_true(e1k_rx(f, f->frame, n));
		n = e1k_make_tcp(f->frame, e1k_peer_mac, 200 + i, 0x10);
		e1k_txd_legacy(f, i, e1k_put_buf(f, f->frame, n), (uint16_t)n,
			       TXD_CMD_EOP | TXD_CMD_RS, 0, 0, 0);
		e1k_tdt(f, i + 1);
	}
	assert_int_equal(f->nsent, 2);
	assert_true(f->irq.level);
	assert_int_not_equal(e1k_rd(f, E1000_ICR), 0); /* the line drops */
	assert_false(f->irq.level);

	size_t len = offload_frame(f);
	struct e1k_ctx c = {.ipcss = 14, .ipcso = 24, .ipcse = 33, .tucss = 34, .tucso = 50,
			    .tucmd = TUCMD_TCP | TUCMD_IP};
	e1k_txd_ctx(f, 2, &c);
	e1k_txd_data(f, 3, e1k_put_buf(f, f->frame, HALF), HALF, 0,
		     TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0);
	e1k_tdt(f, 4); /* TXQE only: not enabled */
	e1k_wr(f, E1000_ICS, ICR_TXDW); /* within ITR's interval: postponed */
	assert_false(f->irq.level);
	assert_int_equal(e1k_stats(f).irqs_throttled, 1);
	return len;
}

static void test_state_round_trip(void **state)
{
	struct e1k_drv *f = *state;
	char err[256];
	make_busy(f);
	struct rec a = save_dev(f->e);
	uint32_t rdh = e1k_rd(f, E1000_RDH), tdh = e1k_rd(f, E1000_TDH);

	fresh_device(f);
	struct rec fresh = save_dev(f->e);
	assert_true(fresh.len != a.len || memcmp(fresh.buf, a.buf, a.len));
	assert_int_equal(load_dev(f->e, a.buf, a.len, err, sizeof(err)), 0);
	struct rec b = save_dev(f->e);
	assert_int_equal(b.len, a.len);
	assert_memory_equal(b.buf, a.buf, a.len);

	/* What the guest reads back. */
	assert_int_equal(e1k_rd(f, E1000_RDH), rdh);
	assert_int_equal(e1k_rd(f, E1000_TDH), tdh);
	assert_int_equal(e1k_rd(f, E1000_MTA + 12), 0x00100000);
	assert_int_equal(e1k_rd(f, E1000_RA + 12), 0x5566 | RAH_AV);
	assert_int_equal(pci_bar_address(f->pci, 0), BAR0_GPA);
	assert_int_equal(pci_bar_address(f->pci, 1), BAR1_PORT);
	e1k_wr(f, E1000_MDIC, MDIC_OP_READ << MDIC_OP_SHIFT | E1000_PHY_ADDR << MDIC_PHY_SHIFT |
				      PHY_AUTONEG_ADV << MDIC_REG_SHIFT);
	assert_int_equal(e1k_rd(f, E1000_MDIC) & MDIC_DATA_MASK, 0x0061);
	free(a.buf);
	free(b.buf);
	free(fresh.buf);
}

static void test_state_mid_traffic(void **state)
{
	struct e1k_drv *f = *state;
	char err[256];
	size_t len = make_busy(f);

	/* The guest posts the rest of the packet and one more frame, but the
	 * device is saved before it moves TDT. */
	e1k_txd_data(f, 4, e1k_put_buf(f, f->frame + HALF, len - HALF), (uint32_t)(len - HALF),
		     TXD_CMD_EOP | TXD_CMD_RS, 0, 0);
	uint8_t small[80];
	size_t n2 = e1k_make_tcp(small, e1k_peer_mac, 80 - 54, 0x10);
	e1k_fix_csums(small, n2);
	e1k_txd_legacy(f, 5, e1k_put_buf(f, small, n2), (uint16_t)n2, TXD_CMD_EOP | TXD_CMD_RS, 0,
		       0, 0);
	struct rec a = save_dev(f->e);
	assert_int_equal(f->nsent, 2);

	fresh_device(f);
	assert_int_equal(load_dev(f->e, a.buf, a.len, err, sizeof(err)), 0);
	assert_false(f->irq.level); /* still waiting for ITR */

	f->now += 1000000; /* ITR's interval has passed */
	e1k_tdt(f, 6);
	assert_int_equal(f->nsent, 4);
	assert_int_equal(f->sent[2].len, len);
	assert_true(e1k_csums_ok(f->sent[2].data, len));
	assert_memory_equal(f->sent[2].data + 54, f->frame + 54, len - 54);
	assert_memory_equal(f->sent[2].data, f->frame, 14);
	assert_int_equal(f->sent[3].len, n2);
	assert_memory_equal(f->sent[3].data, small, n2);
	assert_int_equal(e1k_rd(f, E1000_TDH), 6);
	assert_true(e1k_txd_status(f, 4) & TXD_STAT_DD);
	assert_true(e1k_txd_status(f, 5) & TXD_STAT_DD);
	assert_true(f->irq.level); /* TXDW, throttled before the save */
	assert_true(e1k_rd(f, E1000_ICR) & ICR_TXDW);

	/* The next frame goes into the third posted buffer. */
	size_t n = e1k_make_tcp(f->frame, e1k_our_mac, 300, 0x18);
	e1k_fix_csums(f->frame, n);
	assert_true(e1k_rx(f, f->frame, n));
	struct e1k_rxd d = e1k_rx_desc(f, 2);
	assert_int_equal(d.len, n);
	assert_int_equal(d.status & (RXD_STAT_DD | RXD_STAT_EOP), RXD_STAT_DD | RXD_STAT_EOP);
	assert_int_equal(d.errors, 0);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS + 2 * 2048), f->frame, n);
	assert_int_equal(e1k_rd(f, E1000_RDH), 3);
	assert_true(e1k_rd(f, E1000_ICR) & ICR_RXT0);
	assert_int_equal(e1k_stats(f).rx_frames, 1);
	free(a.buf);
}

/* ---- Hostile records ---- */

/* The value of the first item of that type and name in rec. */
static uint8_t *field_at(const struct rec *rec, uint8_t type, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i + 2 + n <= rec->len; i++)
		if (rec->buf[i] == type && rec->buf[i + 1] == n && !memcmp(rec->buf + i + 2, name, n))
			return rec->buf + i + 2 + n;
	fail_msg("no %s in the record", name);
	return NULL;
}

static struct rec copy_rec(const struct rec *r)
{
	struct rec c = {malloc(r->len + 64), r->len};
	assert_non_null(c.buf);
	memcpy(c.buf, r->buf, r->len);
	return c;
}

/* Marks the bytes of rec that are its structure rather than field values
 * (core/state.h's encoding, walked independently here): item types and
 * names, section versions and flags, byte-string lengths. */
static void mark_structure(const struct rec *rec, bool *mark)
{
	static const size_t fixed[] = {[STATE_U8] = 1, [STATE_U16] = 2, [STATE_U32] = 4,
				       [STATE_U64] = 8, [STATE_BEGIN] = 3, [STATE_END] = 0};
	size_t i = 0;
	while (i < rec->len) {
		unsigned type = rec->buf[i], n = rec->buf[i + 1];
		assert_true(type >= STATE_U8 && type <= STATE_END);
		for (size_t k = 0; k < 2 + n; k++)
			mark[i + k] = true;
		i += 2 + n;
		if (type == STATE_BYTES) {
			uint32_t len = (uint32_t)rec->buf[i] | (uint32_t)rec->buf[i + 1] << 8 |
				       (uint32_t)rec->buf[i + 2] << 16 | (uint32_t)rec->buf[i + 3] << 24;
			memset(mark + i, true, 4);
			i += 4 + len;
		} else {
			/* An optional section under another name is one this
			 * reader does not know: skipped, by design. */
			if (type == STATE_BEGIN && (rec->buf[i + 2] & STATE_OPTIONAL))
				memset(mark + i - n, false, n);
			if (type == STATE_BEGIN)
				memset(mark + i, true, 3);
			i += fixed[type];
		}
	}
	assert_int_equal(i, rec->len);
}

/* Loading bad into f's fresh device fails naming the device and want,
 * and leaves it as it was. */
static void expect_refused(struct e1k_drv *f, const struct rec *bad, const struct rec *before,
			   const char *want)
{
	char err[256];
	assert_int_equal(load_dev(f->e, bad->buf, bad->len, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "e1000: field ", 13), 0);
	if (want && !strstr(err, want))
		fail_msg("\"%s\" does not name %s", err, want);
	struct rec after = save_dev(f->e);
	assert_int_equal(after.len, before->len);
	assert_memory_equal(after.buf, before->buf, before->len);
	free(after.buf);
}

/* One u32 (or with bytes 1, 2, 8: u8, u16, u64) field set to v. */
static void expect_field_refused(struct e1k_drv *f, const struct rec *good,
				 const struct rec *before, uint8_t type, const char *name,
				 uint64_t v, const char *want)
{
	static const unsigned size[] = {[STATE_U8] = 1, [STATE_U16] = 2, [STATE_U32] = 4,
					[STATE_U64] = 8};
	struct rec bad = copy_rec(good);
	uint8_t *p = field_at(&bad, type, name);
	for (unsigned i = 0; i < size[type]; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	expect_refused(f, &bad, before, want);
	free(bad.buf);
}

static void test_state_hostile(void **state)
{
	struct e1k_drv *f = *state;
	char err[256];
	make_busy(f);
	struct rec good = save_dev(f->e);
	fresh_device(f);
	struct rec before = save_dev(f->e);

	/* Every truncation; the shortest miss only the section's end, after
	 * the PCI state loaded: it is undone. */
	for (size_t len = 0; len < good.len; len++) {
		struct rec cut = {good.buf, len};
		expect_refused(f, &cut, &before, NULL);
	}
	assert_int_equal(pci_bar_address(f->pci, 0), 0);

	/* Out of range, reserved, inconsistent. */
	uint32_t rx_n = E1K_RX_N, tx_n = E1K_TX_N;
	expect_field_refused(f, &good, &before, STATE_U32, "RDH", rx_n, "regs.RDH");
	expect_field_refused(f, &good, &before, STATE_U32, "RDT", rx_n + 5, "regs.RDT");
	expect_field_refused(f, &good, &before, STATE_U32, "TDH", tx_n, "regs.TDH");
	expect_field_refused(f, &good, &before, STATE_U32, "RDLEN", rx_n * 16 + 16, "regs.RDLEN");
	expect_field_refused(f, &good, &before, STATE_U32, "RDLEN", 0, "regs.RDLEN");
	expect_field_refused(f, &good, &before, STATE_U32, "RDBAL", 0x10000000, "regs.RDBAL");
	expect_field_refused(f, &good, &before, STATE_U32, "TDBAL",
			     (uint32_t)E1K_RAM_SIZE - tx_n * 16 + 128, "regs.TDBAL");
	expect_field_refused(f, &good, &before, STATE_U32, "RDBAH", 1, "regs.RDBAL");
	expect_field_refused(f, &good, &before, STATE_U32, "CTRL",
			     CTRL_FD | CTRL_SLU | CTRL_SPD_1000 | CTRL_RST, "regs.CTRL");
	expect_field_refused(f, &good, &before, STATE_U32, "STATUS", STATUS_LU, "regs.STATUS");
	expect_field_refused(f, &good, &before, STATE_U32, "ICR", 1u << 31, "regs.ICR");
	expect_field_refused(f, &good, &before, STATE_U32, "IMS", 1u << 5, "regs.IMS");
	expect_field_refused(f, &good, &before, STATE_U32, "TDBAL", 0x2008, "regs.TDBAL");
	expect_field_refused(f, &good, &before, STATE_U32, "ioaddr", 0x20000, "ioaddr");
	expect_field_refused(f, &good, &before, STATE_U32, "eecd", EECD_PRES, "eeprom.eecd");
	expect_field_refused(f, &good, &before, STATE_U8, "in_bits", 10, "eeprom.in_bits");
	expect_field_refused(f, &good, &before, STATE_U16, "in", 0x1F, "eeprom.in");
	expect_field_refused(f, &good, &before, STATE_U8, "reading", 1, "eeprom.reading");
	expect_field_refused(f, &good, &before, STATE_U16, "out_pos", 1024, "eeprom.out_pos");
	expect_field_refused(f, &good, &before, STATE_U32, "paylen", 0x100000, "tx.paylen");
	expect_field_refused(f, &good, &before, STATE_U8, "error", 3, "tx.packet.error");
	expect_field_refused(f, &good, &before, STATE_U8, "legacy", 1, "tx.packet.popts");
	expect_field_refused(f, &good, &before, STATE_U8, "tse", 2, "tx.packet.tse");
	expect_field_refused(f, &good, &before, STATE_U64, "itr_wait_ns", 1ULL << 40,
			     "irq.itr_wait_ns");
	expect_field_refused(f, &good, &before, STATE_U64, "bar0", BAR0_GPA + 0x1000, "pci.bar0");

	/* Bytes fields and sections. */
	struct rec bad = copy_rec(&good);
	field_at(&bad, STATE_BYTES, "mac")[4 + 5] ^= 1;
	expect_refused(f, &bad, &before, "e1000.mac");
	memcpy(bad.buf, good.buf, good.len);
	field_at(&bad, STATE_BYTES, "ra")[4 + 4 + 2] |= 0x04; /* RAH0 bit 18 */
	expect_refused(f, &bad, &before, "e1000.ra");
	memcpy(bad.buf, good.buf, good.len);
	field_at(&bad, STATE_BYTES, "reg")[4 + 2 * PHY_ID1] ^= 1;
	expect_refused(f, &bad, &before, "phy.reg");
	memcpy(bad.buf, good.buf, good.len);
	field_at(&bad, STATE_BYTES, "config")[4 + PCI_VENDOR_ID] ^= 1;
	expect_refused(f, &bad, &before, "pci.vendor");
	memcpy(bad.buf, good.buf, good.len);
	field_at(&bad, STATE_BEGIN, "e1000")[0] = 2;
	expect_refused(f, &bad, &before, "newer");
	memcpy(bad.buf, good.buf, good.len);
	/* INTx up without an enabled cause. */
	*field_at(&bad, STATE_U8, "level") = 1;
	memset(field_at(&bad, STATE_U32, "IMS"), 0, 4);
	expect_refused(f, &bad, &before, "irq.level");

	/* An unknown item before the section's end, after the PCI state
	 * loaded: refused and the PCI state undone. */
	memcpy(bad.buf, good.buf, good.len - 2);
	memcpy(bad.buf + good.len - 2, "\x01\x04junk\x00\x07\x00", 9);
	bad.len = good.len + 7;
	expect_refused(f, &bad, &before, "junk");
	assert_int_equal(pci_bar_address(f->pci, 0), 0);
	assert_int_equal(pci_cfg_get(f->pci, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
	free(bad.buf);

	/* Every byte corrupted: refused as above, or a state the device can
	 * be in (then it saves and loads again); the record's structure (item
	 * heads, section versions and flags, byte-string lengths) always
	 * refused. */
	bool *structure = calloc(good.len, sizeof(bool));
	assert_non_null(structure);
	mark_structure(&good, structure);
	for (size_t i = 0; i < good.len; i++) {
		struct rec c = copy_rec(&good);
		c.buf[i] ^= 0xA5;
		if (load_dev(f->e, c.buf, c.len, err, sizeof(err)) < 0) {
			assert_int_equal(strncmp(err, "e1000: field ", 13), 0);
			struct rec after = save_dev(f->e);
			assert_int_equal(after.len, before.len);
			assert_memory_equal(after.buf, before.buf, before.len);
			free(after.buf);
		} else {
			if (structure[i])
				fail_msg("byte %zu of the record's structure corrupted: accepted", i);
			struct rec again = save_dev(f->e);
			fresh_device(f);
			assert_int_equal(load_dev(f->e, again.buf, again.len, err, sizeof(err)), 0);
			free(again.buf);
			fresh_device(f);
		}
		free(c.buf);
	}
	free(structure);
	free(good.buf);
	free(before.buf);
}

/* ---- Interrupt delays ---- */

static bool irq_up(void *arg)
{
	return ((struct e1k_drv *)arg)->irq.level;
}

/* Lets the loop (the interrupt timer) run a while; the line then. */
static bool settle(struct e1k_drv *f)
{
	loop_run_until(f->loop, irq_up, f, 30);
	return f->irq.level;
}

/* A frame received 40 us into a 100 us RDTR (RADV 300 us), and a packet
 * sent with IDE 10 us into a 200 us TIDV: both causes held. */
static void make_delayed(struct e1k_drv *f)
{
	e1k_rx_start(f, RCTL_SECRC);
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_RXT0 | ICR_TXDW);
	e1k_wr(f, E1000_RDTR, 100);
	e1k_wr(f, E1000_RADV, 300);
	e1k_wr(f, E1000_TIDV, 200);
	size_t n = e1k_make_tcp(f->frame, e1k_our_mac, 100, 0x10);
	assert_true(e1k_rx(f, f->frame, n));
	f->now += 30 * DELAY_UNIT_NS;
	n = e1k_make_tcp(f->frame, e1k_peer_mac, 100, 0x10);
	uint64_t a = e1k_put_buf(f, f->frame, n);
	/* more than E1000_TX_INLINE_DESCS: a round of the loop's, which delays */
	for (unsigned d = 0; d <= E1000_TX_INLINE_DESCS; d++)
		e1k_txd_legacy(f, d, a, (uint16_t)n, TXD_CMD_EOP | TXD_CMD_RS | TXD_CMD_IDE, 0, 0, 0);
	e1k_tdt(f, E1000_TX_INLINE_DESCS + 1);
	f->now += 10 * DELAY_UNIT_NS;
	assert_false(f->irq.level);
}

/* Saved mid-delay, a fresh instance keeps the time left: RXT0 after the
 * rest of RDTR, TXDW after the rest of TIDV; nothing before. */
static void test_state_mid_delay(void **state)
{
	struct e1k_drv *f = *state;
	char err[256];
	make_delayed(f);
	struct rec a = save_dev(f->e);
	fresh_device(f);
	assert_int_equal(load_dev(f->e, a.buf, a.len, err, sizeof(err)), 0);
	struct rec b = save_dev(f->e);
	assert_int_equal(b.len, a.len);
	assert_memory_equal(b.buf, a.buf, a.len);
	assert_false(settle(f));
	f->now += 59 * DELAY_UNIT_NS;
	assert_false(settle(f));
	f->now += 2 * DELAY_UNIT_NS; /* RDTR's 100 since the frame */
	assert_true(settle(f));
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_RXT0 | ICR_TXDW | ICR_TXQE);
	assert_false(f->irq.level); /* TXDW went with that read */
	f->now += 200 * DELAY_UNIT_NS;
	assert_false(settle(f));

	/* Saved with the delays, loaded by a reader that skips them (as an
	 * older iovirt would): the causes are pending, and interrupt now. */
	fresh_device(f);
	struct rec c = copy_rec(&a);
	memcpy(field_at(&c, STATE_BEGIN, "delays") - 6, "delayz", 6);
	assert_int_equal(load_dev(f->e, c.buf, c.len, err, sizeof(err)), 0);
	assert_true(f->irq.level);
	free(c.buf);

	/* Hostile delay records. */
	fresh_device(f);
	struct rec before = save_dev(f->e);
	expect_field_refused(f, &a, &before, STATE_U32, "held", ICR_RXT0 | ICR_LSC, "delays.held");
	expect_field_refused(f, &a, &before, STATE_U64, "rdtr_ns", 0, "delays.rdtr_ns");
	expect_field_refused(f, &a, &before, STATE_U64, "rdtr_ns", 1ULL << 40, "delays.rdtr_ns");
	expect_field_refused(f, &a, &before, STATE_U64, "tidv_ns", 0, "delays.tidv_ns");
	expect_field_refused(f, &a, &before, STATE_U32, "held", ICR_TXDW, "delays.rdtr_ns");
	free(before.buf);
	free(a.buf);
	free(b.buf);
}

/* ---- Counters and reset ---- */

struct counter_tab {
	unsigned n;
	struct {
		char scope[8], name[16];
		uint64_t v;
	} c[32];
};

static void tab_emit(void *opaque, const char *device, const char *scope, const char *name,
		     uint64_t value)
{
	struct counter_tab *t = opaque;
	assert_string_equal(device, "e1000");
	assert_true(t->n < 32);
	snprintf(t->c[t->n].scope, sizeof(t->c[0].scope), "%s", scope);
	snprintf(t->c[t->n].name, sizeof(t->c[0].name), "%s", name);
	t->c[t->n++].v = value;
}

static uint64_t counter(struct e1k_drv *f, const char *scope, const char *name)
{
	struct counter_tab t = {0};
	struct counter_sink sink = {tab_emit, &t};
	device_counters(e1000_device(f->e), &sink);
	assert_int_equal(t.n, 24); /* eight each: the device, rx0, tx0 */
	for (unsigned i = 0; i < t.n; i++)
		if (!strcmp(t.c[i].scope, scope) && !strcmp(t.c[i].name, name))
			return t.c[i].v;
	fail_msg("no counter %s %s", scope, name);
	return 0;
}

static void test_counters(void **state)
{
	struct e1k_drv *f = *state;
	enum { N = 5, K = 100 };
	struct device *dev = e1000_device(f->e);
	assert_string_equal(dev->ops->kind, "e1000");
	assert_string_equal(dev->id, "e1000");

	e1k_rx_start(f, RCTL_SECRC);
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_RXT0 | ICR_TXDW);
	for (unsigned i = 0; i < N; i++) {
		size_t n = e1k_make_tcp(f->frame, e1k_our_mac, K - 54, 0x10);
		assert_int_equal(n, K);
		assert_true(e1k_rx(f, f->frame, n));
		e1k_rd(f, E1000_ICR);
		e1k_txd_legacy(f, i, e1k_put_buf(f, f->frame, n), K, TXD_CMD_EOP | TXD_CMD_RS, 0, 0,
			       0);
		e1k_tdt(f, i + 1);
		e1k_rd(f, E1000_ICR);
	}
	assert_int_equal(counter(f, "rx0", "kicks"), 1);
	assert_int_equal(counter(f, "rx0", "requests"), N);
	assert_int_equal(counter(f, "rx0", "bytes_out"), N * K);
	assert_int_equal(counter(f, "rx0", "bytes_in"), 0);
	assert_int_equal(counter(f, "rx0", "interrupts"), N);
	assert_int_equal(counter(f, "tx0", "kicks"), N + 1); /* and e1k_tx_start's */
	assert_int_equal(counter(f, "tx0", "requests"), N);
	assert_int_equal(counter(f, "tx0", "bytes_in"), N * K);
	assert_int_equal(counter(f, "tx0", "bytes_out"), 0);
	assert_int_equal(counter(f, "tx0", "interrupts"), N);
	assert_int_equal(counter(f, "", "interrupts"), 2 * N);
	assert_int_equal(counter(f, "tx0", "errors") + counter(f, "tx0", "rejected") +
				 counter(f, "rx0", "errors") + counter(f, "rx0", "rejected"),
			 0);

	/* Exits: what reached the PCI function (these tests call the BAR ops
	 * directly, not through the bus). */
	uint8_t b[4];
	assert_int_equal(counter(f, "", "exits"), 0);
	for (unsigned i = 0; i < 3; i++)
		pci_config_read(f->pci, PCI_VENDOR_ID, b, 4);
	assert_int_equal(counter(f, "", "exits"), 3);

	/* Failures and refusals. */
	f->send_ret = -5;
	e1k_txd_legacy(f, N, e1k_put_buf(f, f->frame, 60), 60, TXD_CMD_EOP, 0, 0, 0);
	e1k_txd_raw(f, N + 1, 0, TXD_CMD_DEXT << 24 | 0xFu << 20, 0); /* unknown type */
	e1k_tdt(f, N + 2);
	assert_int_equal(counter(f, "tx0", "errors"), 1);
	assert_int_equal(counter(f, "tx0", "rejected"), 1);
	assert_int_equal(counter(f, "tx0", "requests"), N);
	size_t n = e1k_make_tcp(f->frame, e1k_our_mac, K - 54, 0x10);
	assert_true(e1k_rx(f, f->frame, n));
	assert_true(e1k_rx(f, f->frame, n));
	assert_false(e1k_rx(f, f->frame, n)); /* 7 buffers posted: no more */
	assert_int_equal(counter(f, "rx0", "errors"), 1);
	assert_int_equal(counter(f, "rx0", "requests"), N + 2);
	e1k_wr(f, E1000_RDBAL, 0x10000000); /* outside RAM */
	e1k_wr(f, E1000_RDT, 0);
	assert_true(e1k_rx(f, f->frame, n));
	assert_int_equal(counter(f, "rx0", "rejected"), 1);
	assert_int_equal(counter(f, "rx0", "kicks"), 2);

	/* Reset: the device as after power-on; the counters go on. */
	device_reset(dev);
	assert_int_equal(e1k_rd(f, E1000_RCTL), 0);
	assert_int_equal(e1k_rd(f, E1000_RDBAL), 0);
	assert_int_equal(e1k_rd(f, E1000_TDT), 0);
	assert_int_equal(e1k_rd(f, E1000_IMS), 0);
	assert_int_equal(e1k_rd(f, E1000_CTRL), CTRL_FD | CTRL_SLU | CTRL_SPD_1000);
	assert_false(f->irq.level);
	assert_true(e1k_rx(f, f->frame, n)); /* receiver off: dropped */
	assert_int_equal(counter(f, "rx0", "requests"), N + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_round_trip, e1k_setup, e1k_teardown),
		cmocka_unit_test_setup_teardown(test_state_mid_traffic, e1k_setup, e1k_teardown),
		cmocka_unit_test_setup_teardown(test_state_hostile, e1k_setup, e1k_teardown),
		cmocka_unit_test_setup_teardown(test_state_mid_delay, e1k_setup, e1k_teardown),
		cmocka_unit_test_setup_teardown(test_counters, e1k_setup, e1k_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
