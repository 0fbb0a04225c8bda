/* The e1000 (82540EM) model's registers against a fake driver
 * (support/e1000_drv.h): PCI identity and BARs, reset values and CTRL.RST
 * through the I/O window, partial accesses, the EEPROM through EERD and
 * by microwire bit-banging (the checksum Linux verifies), the PHY behind
 * MDIC, ICR/ICS/IMS/IMC and the INTx level, ITR throttling; and DHCP over
 * the real user-mode backend (slirp's virtual network only). Receive is
 * test_e1000_rx.c, transmit test_e1000_tx.c. */
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"
#include "support/loop_wait.h"

static void test_pci_identity(void **state)
{
	struct e1k_drv *f = *state;
	assert_int_equal(pci_cfg_get(f->pci, PCI_VENDOR_ID, 2), 0x8086);
	assert_int_equal(pci_cfg_get(f->pci, PCI_DEVICE_ID, 2), 0x100E);
	assert_int_equal(pci_cfg_get(f->pci, PCI_CLASS_PROG, 3), 0x020000);
	assert_int_equal(pci_cfg_get(f->pci, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x8086);
	assert_int_equal(pci_cfg_get(f->pci, PCI_SUBSYSTEM_ID, 2), 0x001E);
	assert_int_equal(pci_cfg_get(f->pci, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(f->pci->bars[0].type, PCI_BAR_MEM32);
	assert_int_equal(f->pci->bars[0].size, 128 * 1024);
	assert_int_equal(f->pci->bars[1].type, PCI_BAR_IO);
	assert_int_equal(f->pci->bars[1].size, 8);
}

static void test_reset_values(void **state)
{
	struct e1k_drv *f = *state;
	uint32_t status = e1k_rd(f, E1000_STATUS);
	assert_true(status & STATUS_LU);
	assert_true(status & STATUS_FD);
	assert_int_equal(status & (3u << 6), STATUS_SPEED_1000);
	assert_true(e1k_rd(f, E1000_CTRL) & CTRL_SLU);
	assert_int_equal(e1k_rd(f, E1000_RA), 0x12005452);
	assert_int_equal(e1k_rd(f, E1000_RA + 4), 0x5634 | RAH_AV);
	assert_int_equal(e1k_rd(f, E1000_RA + 8), 0);
	assert_int_equal(e1k_rd(f, E1000_VET), 0x8100);
	assert_int_equal(e1k_rd(f, E1000_RCTL), 0);
	assert_int_equal(e1k_rd(f, E1000_TCTL), 0);
	assert_int_equal(e1k_rd(f, E1000_ICR), 0);
	assert_int_equal(e1k_rd(f, E1000_IMS), 0);
	assert_int_equal(e1k_rd(f, E1000_MANC), 0);
	assert_int_equal(e1k_rd(f, E1000_WUC), 0);
	assert_true(e1k_rd(f, E1000_EECD) & EECD_PRES);
	assert_int_equal(e1k_rd(f, E1000_EECD) & EECD_SIZE, 0); /* 64 words */
	/* Unknown registers read 0 and ignore writes. */
	e1k_wr(f, 0x1F000, 0xdeadbeef);
	assert_int_equal(e1k_rd(f, 0x1F000), 0);
	/* Plain registers keep their writable bits only. */
	e1k_wr(f, E1000_RDLEN, 0xFFFFFFFF);
	assert_int_equal(e1k_rd(f, E1000_RDLEN), 0x000FFF80);
	e1k_wr(f, E1000_TDBAL, 0x12345678);
	assert_int_equal(e1k_rd(f, E1000_TDBAL), 0x12345670);

	/* CTRL.RST through the I/O window (as Linux issues it) resets the
	 * registers and clears itself. */
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_BAM);
	e1k_wr(f, E1000_RA + 8, 0x11111111);
	e1k_wr(f, E1000_RDLEN, 128);
	e1k_io_wr(f, 0, E1000_CTRL);
	assert_int_equal(e1k_io_rd(f, 0), E1000_CTRL);
	e1k_io_wr(f, 4, e1k_io_rd(f, 4) | CTRL_RST);
	assert_int_equal(e1k_rd(f, E1000_CTRL) & CTRL_RST, 0);
	assert_int_equal(e1k_rd(f, E1000_IMS), 0);
	assert_int_equal(e1k_rd(f, E1000_RCTL), 0);
	assert_int_equal(e1k_rd(f, E1000_RA + 8), 0);
	assert_int_equal(e1k_rd(f, E1000_RDLEN), 0);
	assert_int_equal(e1k_rd(f, E1000_RA + 4), 0x5634 | RAH_AV);
	/* IODATA reads what IOADDR selects. */
	e1k_io_wr(f, 0, E1000_VET);
	assert_int_equal(e1k_io_rd(f, 4), 0x8100);
}

static void test_partial_access(void **state)
{
	struct e1k_drv *f = *state;
	uint8_t b[8];
	e1k_wr(f, E1000_TIPG, 0x00602008);
	/* a 16-bit write to the upper half merges */
	iobus_store_le(b, 2, 0x0a0b);
	f->pci->bars[0].ops->write(f->pci->bars[0].opaque, E1000_TIPG + 2, b, 2);
	assert_int_equal(e1k_rd(f, E1000_TIPG), 0x0a0b2008);
	f->pci->bars[0].ops->read(f->pci->bars[0].opaque, E1000_TIPG + 1, b, 1);
	assert_int_equal(b[0], 0x20);
	/* 64-bit accesses are two dwords */
	iobus_store_le(b, 8, 0x0000000100002000ULL);
	f->pci->bars[0].ops->write(f->pci->bars[0].opaque, E1000_RDBAL, b, 8);
	assert_int_equal(e1k_rd(f, E1000_RDBAL), 0x2000);
	assert_int_equal(e1k_rd(f, E1000_RDBAH), 1);
	/* a byte write of one ICR byte clears only that byte's bits */
	e1k_wr(f, E1000_ICS, ICR_TXDW | ICR_LSC | ICR_MDAC);
	b[0] = ICR_LSC;
	f->pci->bars[0].ops->write(f->pci->bars[0].opaque, E1000_ICR, b, 1);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_TXDW | ICR_MDAC);
	/* beyond the BAR: nothing */
	f->pci->bars[0].ops->read(f->pci->bars[0].opaque, E1000_MMIO_SIZE - 2, b, 4);
}

/* ---- EEPROM ---- */

static uint16_t eerd(struct e1k_drv *f, unsigned addr)
{
	e1k_wr(f, E1000_EERD, EERD_START | addr << EERD_ADDR_SHIFT);
	uint32_t v = e1k_rd(f, E1000_EERD);
	assert_true(v & EERD_DONE);
	assert_int_equal((v >> EERD_ADDR_SHIFT) & 0xFF, addr);
	return (uint16_t)(v >> EERD_DATA_SHIFT);
}

static void test_eeprom_eerd(void **state)
{
	struct e1k_drv *f = *state;
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++)
		sum = (uint16_t)(sum + eerd(f, i));
	assert_int_equal(sum, 0xBABA);
	assert_int_equal(eerd(f, 0), 0x5452);
	assert_int_equal(eerd(f, 1), 0x1200);
	assert_int_equal(eerd(f, 2), 0x5634);
	assert_int_equal(eerd(f, 0x0D), 0x100E);
	assert_int_equal(eerd(f, 0x0E), 0x8086);
}

/* Linux's e1000 microwire read: opcode 110b and a 6-bit address shifted
 * out on DI, then 16 bits in from DO, one SK cycle each. */
static void mw_clock(struct e1k_drv *f, uint32_t eecd)
{
	e1k_wr(f, E1000_EECD, eecd | EECD_SK);
	e1k_wr(f, E1000_EECD, eecd);
}

static uint16_t mw_read(struct e1k_drv *f, unsigned addr)
{
	uint32_t eecd = EECD_REQ;
	e1k_wr(f, E1000_EECD, eecd);
	assert_true(e1k_rd(f, E1000_EECD) & EECD_GNT);
	eecd |= EECD_CS;
	e1k_wr(f, E1000_EECD, eecd);
	uint32_t cmd = 0x6u << 6 | addr;
	for (int b = 8; b >= 0; b--) {
		eecd = (eecd & ~EECD_DI) | (cmd >> b & 1 ? EECD_DI : 0);
		e1k_wr(f, E1000_EECD, eecd);
		mw_clock(f, eecd);
	}
	eecd &= ~EECD_DI;
	uint16_t data = 0;
	for (int b = 0; b < 16; b++) {
		e1k_wr(f, E1000_EECD, eecd | EECD_SK);
		data = (uint16_t)(data << 1 | !!(e1k_rd(f, E1000_EECD) & EECD_DO));
		e1k_wr(f, E1000_EECD, eecd);
	}
	e1k_wr(f, E1000_EECD, EECD_REQ); /* deselect */
	e1k_wr(f, E1000_EECD, 0);        /* release */
	assert_int_equal(e1k_rd(f, E1000_EECD) & EECD_GNT, 0);
	return data;
}

static void test_eeprom_microwire(void **state)
{
	struct e1k_drv *f = *state;
	uint16_t sum = 0;
	for (unsigned i = 0; i < 64; i++) {
		uint16_t w = mw_read(f, i);
		assert_int_equal(w, eerd(f, i));
		sum = (uint16_t)(sum + w);
	}
	assert_int_equal(sum, 0xBABA);
	assert_int_equal(mw_read(f, 2), 0x5634);
}

/* ---- PHY ---- */

static uint32_t mdic(struct e1k_drv *f, unsigned phy, unsigned op, unsigned reg, uint16_t data)
{
	e1k_wr(f, E1000_MDIC, data | reg << MDIC_REG_SHIFT | phy << MDIC_PHY_SHIFT | op << MDIC_OP_SHIFT);
	uint32_t v = e1k_rd(f, E1000_MDIC);
	assert_true(v & MDIC_READY);
	return v;
}

static uint16_t phy_rd(struct e1k_drv *f, unsigned reg)
{
	uint32_t v = mdic(f, 1, MDIC_OP_READ, reg, 0);
	assert_false(v & MDIC_ERROR);
	return (uint16_t)v;
}

static void phy_wr(struct e1k_drv *f, unsigned reg, uint16_t data)
{
	assert_false(mdic(f, 1, MDIC_OP_WRITE, reg, data) & MDIC_ERROR);
}

static void test_mdic_phy(void **state)
{
	struct e1k_drv *f = *state;
	assert_int_equal(phy_rd(f, PHY_ID1), 0x0141);
	assert_int_equal(phy_rd(f, PHY_ID2), 0x0C20);
	uint16_t st = phy_rd(f, PHY_STATUS);
	assert_true(st & MII_SR_LINK);
	assert_true(st & MII_SR_AN_COMPLETE);
	assert_true(phy_rd(f, M88_PHY_SPEC_STATUS) & M88_SSR_LINK);
	/* writable and read-only registers */
	phy_wr(f, PHY_AUTONEG_ADV, 0x0de1);
	assert_int_equal(phy_rd(f, PHY_AUTONEG_ADV), 0x0de1);
	phy_wr(f, PHY_ID1, 0xffff);
	assert_int_equal(phy_rd(f, PHY_ID1), 0x0141);
	/* restart autonegotiation and reset clear themselves */
	phy_wr(f, PHY_CTRL, phy_rd(f, PHY_CTRL) | MII_CR_RESTART_AN);
	assert_int_equal(phy_rd(f, PHY_CTRL) & MII_CR_RESTART_AN, 0);
	phy_wr(f, PHY_CTRL, MII_CR_RESET | MII_CR_AN_ENABLE);
	assert_int_equal(phy_rd(f, PHY_CTRL) & MII_CR_RESET, 0);
	assert_int_equal(phy_rd(f, PHY_AUTONEG_ADV), 0x01E1);
	/* another PHY address or opcode: error */
	assert_true(mdic(f, 2, MDIC_OP_READ, PHY_ID1, 0) & MDIC_ERROR);
	assert_true(mdic(f, 1, 3, PHY_ID1, 0) & MDIC_ERROR);
	/* MDIC.I: MDAC when the cycle ends */
	e1k_wr(f, E1000_MDIC, MDIC_INT_EN | PHY_ID1 << MDIC_REG_SHIFT | 1 << MDIC_PHY_SHIFT |
				  MDIC_OP_READ << MDIC_OP_SHIFT);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_MDAC);
	/* powering the PHY down takes the link down, with LSC; up again */
	phy_wr(f, PHY_CTRL, phy_rd(f, PHY_CTRL) | MII_CR_POWER_DOWN);
	assert_false(phy_rd(f, PHY_STATUS) & MII_SR_LINK);
	assert_false(e1k_rd(f, E1000_STATUS) & STATUS_LU);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_LSC);
	phy_wr(f, PHY_CTRL, phy_rd(f, PHY_CTRL) & ~MII_CR_POWER_DOWN);
	assert_true(e1k_rd(f, E1000_STATUS) & STATUS_LU);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_LSC);
}

/* ---- interrupts ---- */

static void test_interrupts(void **state)
{
	struct e1k_drv *f = *state;
	e1k_wr(f, E1000_ICS, ICR_LSC);
	assert_false(f->irq.level); /* masked */
	e1k_wr(f, E1000_IMS, ICR_LSC | ICR_RXT0);
	assert_true(f->irq.level);
	assert_int_equal(e1k_rd(f, E1000_IMS), ICR_LSC | ICR_RXT0);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_LSC); /* read clears */
	assert_false(f->irq.level);
	assert_int_equal(e1k_rd(f, E1000_ICR), 0);
	e1k_wr(f, E1000_ICS, ICR_RXT0 | ICR_TXDW);
	assert_true(f->irq.level);
	e1k_wr(f, E1000_IMC, ICR_RXT0);
	assert_false(f->irq.level); /* TXDW pending but masked */
	assert_int_equal(e1k_rd(f, E1000_IMS), ICR_LSC);
	assert_int_equal(e1k_rd(f, E1000_IMC), 0); /* write-only */
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	assert_true(f->irq.level);
	e1k_wr(f, E1000_ICR, ICR_TXDW); /* write 1 to clear */
	assert_false(f->irq.level);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_RXT0);
	/* PCI INTx disable holds the line down */
	e1k_wr(f, E1000_ICS, ICR_LSC);
	assert_true(f->irq.level);
	uint8_t cmd[2] = {PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, PCI_COMMAND_INTX_DISABLE >> 8};
	pci_config_write(f->pci, PCI_COMMAND, cmd, 2);
	assert_false(f->irq.level);
	e1k_rd(f, E1000_ICR);
	e1k_wr(f, E1000_ICS, ICR_LSC);
	assert_false(f->irq.level);
	assert_true(pci_cfg_get(f->pci, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(e1k_stats(f).irqs, 5);
}

static bool irq_up(void *arg)
{
	return ((struct e1k_drv *)arg)->irq.level;
}

static void test_itr_throttles(void **state)
{
	struct e1k_drv *f = *state;
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	e1k_wr(f, E1000_ITR, 0xFFFF); /* 16.8 ms between interrupts */
	assert_int_equal(e1k_rd(f, E1000_ITR), 0xFFFF);
	e1k_wr(f, E1000_ICS, ICR_RXT0);
	assert_true(f->irq.level); /* the first comes at once */
	e1k_rd(f, E1000_ICR);
	assert_false(f->irq.level);
	f->now += 16 * 1000000;
	e1k_wr(f, E1000_ICS, ICR_RXT0);
	assert_false(f->irq.level); /* held back by ITR: 16 of 16.8 ms passed */
	assert_true(e1k_stats(f).irqs_throttled >= 1);
	f->now += 1000000;
	loop_run_until(f->loop, irq_up, f, 5000);
	assert_true(f->irq.level); /* the timer delivered it */
	assert_int_equal(e1k_stats(f).irqs, 2);
	/* ITR 0 turns throttling off */
	e1k_rd(f, E1000_ICR);
	e1k_wr(f, E1000_ITR, 0);
	e1k_wr(f, E1000_ICS, ICR_RXT0);
	assert_true(f->irq.level);
}

/* ---- receive ---- */

/* ---- over the real user-mode backend ---- */

static size_t make_dhcp_discover(uint8_t *fr)
{
	size_t blen = 300;
	memset(fr, 0, 14 + 28 + blen);
	memset(fr, 0xff, 6);
	memcpy(fr + 6, e1k_our_mac, 6);
	e1k_put16(fr + 12, 0x0800);
	uint8_t *ip = fr + 14;
	ip[0] = 0x45;
	e1k_put16(ip + 2, (uint32_t)(28 + blen));
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	e1k_put16(ip + 10, e1k_fold(e1k_sum16(ip, 20, 0)));
	uint8_t *udp = ip + 20;
	e1k_put16(udp, 68);
	e1k_put16(udp + 2, 67);
	e1k_put16(udp + 4, (uint32_t)(8 + blen));
	uint8_t *bp = udp + 8;
	bp[0] = 1;
	bp[1] = 1;
	bp[2] = 6;
	memcpy(bp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bp + 28, e1k_our_mac, 6);
	memcpy(bp + 236, "\x63\x82\x53\x63\x35\x01\x01\xff", 8);
	return 14 + 28 + blen;
}

static bool rx_done(void *arg)
{
	struct e1k_drv *f = arg;
	return e1k_rx_desc(f, 0).status & RXD_STAT_DD;
}

static void test_user_backend_dhcp(void **state)
{
	struct e1k_drv *f = calloc(1, sizeof(*f));
	struct e1000_options o = {0};
	assert_non_null(f);
	fake_ram_init(&f->ram, E1K_RAM_SIZE, E1K_ALLOC_GPA);
	f->loop = loop_create();
	assert_non_null(f->loop);
	o.backend.kind = NET_USER;
	memcpy(o.mac, e1k_our_mac, 6);
	e1k_attach(f, e1000_create(&o, &f->ram.mem, f->loop));

	e1k_rx_start(f, RCTL_BAM | RCTL_SECRC);
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	uint8_t *fr = malloc(1024);
	assert_non_null(fr);
	size_t len = make_dhcp_discover(fr);
	e1k_txd_legacy(f, 0, e1k_put_buf(f, fr, len), (uint16_t)len, TXD_CMD_EOP | TXD_CMD_RS, 0, 0,
		       0);
	e1k_wr(f, E1000_TDT, 1);
	loop_run_until(f->loop, rx_done, f, 5000);
	struct e1k_rxd d = e1k_rx_desc(f, 0);
	assert_true(d.status & RXD_STAT_EOP);
	const uint8_t *got = e1k_ram(f, E1K_RX_BUFS);
	/* a DHCP reply from slirp (10.0.2.2, port 67 to 68), checked as good */
	assert_int_equal(e1k_get16(got + 12), 0x0800);
	assert_int_equal(got[14 + 9], 17);
	assert_int_equal(e1k_get16(got + 34 + 2), 68);
	assert_int_equal(got[42], 2); /* BOOTREPLY */
	assert_true(d.status & RXD_STAT_TCPCS);
	assert_int_equal(d.errors, 0);
	assert_true(f->irq.level);
	assert_int_equal(e1k_stats(f).tx_frames, 1);

	free(fr);
	void *st = f;
	e1k_teardown(&st);
}

/* Without a loop there is no ITR timer (interrupts are not throttled);
 * without a port, sent frames are dropped and counted. */
static void test_no_loop_no_port(void **state)
{
	struct e1k_drv *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_ram_init(&f->ram, E1K_RAM_SIZE, E1K_ALLOC_GPA);
	e1k_attach(f, e1000_create_port(e1k_our_mac, &f->ram.mem, NULL, NULL));
	e1k_wr(f, E1000_ITR, 0xFFFF);
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	e1k_wr(f, E1000_ICS, ICR_TXDW);
	assert_true(f->irq.level);
	e1k_rd(f, E1000_ICR);
	e1k_wr(f, E1000_ICS, ICR_TXDW);
	assert_true(f->irq.level);
	e1k_tx_start(f);
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 10, 0);
	e1k_txd_legacy(f, 0, e1k_put_buf(f, f->frame, len), (uint16_t)len, TXD_CMD_EOP, 0, 0, 0);
	e1k_wr(f, E1000_TDT, 1);
	assert_int_equal(e1k_stats(f).tx_dropped, 1);
	void *st = f;
	e1k_teardown(&st);
}

#define T(t) cmocka_unit_test_setup_teardown(t, e1k_setup, e1k_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pci_identity),
		T(test_reset_values),
		T(test_partial_access),
		T(test_eeprom_eerd),
		T(test_eeprom_microwire),
		T(test_mdic_phy),
		T(test_interrupts),
		T(test_itr_throttles),
		cmocka_unit_test(test_user_backend_dhcp),
		cmocka_unit_test(test_no_loop_no_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
