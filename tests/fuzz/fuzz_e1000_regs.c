// fuzz-sources: src/devices/e1000.c src/kvm/coalesced_mmio.c src/devices/e1000_rx.c src/devices/e1000_tx.c src/devices/e1000_gso.c src/devices/e1000_eeprom.c src/devices/e1000_irq.c src/devices/e1000_phy.c src/devices/e1000_state.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/inet_csum.c src/core/iov.c src/core/log.c src/core/device.c src/core/counters.c src/core/state.c tests/fuzz/harness.c tests/fuzz/net_stub.c
/* The e1000's register file in random order: every BAR0 offset with 1, 2,
 * 4 and 8-byte accesses, BAR1's IOADDR/IODATA window, the EEPROM through
 * EERD and bit-banged through EECD (microwire READ, and anything else on
 * the pins), the PHY through MDIC, and resets, interleaved as the input
 * says. Transmit and receive are enabled by whatever the input writes;
 * the rings are in a small RAM that is the input's too.
 *
 * Checked invariants: no crash or UB; every MDIC cycle completes (READY);
 * the PHY's identity reads 0141h/0C20h; STATUS.LU follows the PHY's power
 * bit; a microwire READ returns what EERD returns for the same word; the
 * EEPROM image always sums to BABAh (SDM §5). */
#include <linux/pci_regs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "harness.h"

static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	fuzz_touch_iov(iov, iovcnt, 3);
	return 0;
}

/* ---- the driver side ---- */

#define RAM_SIZE 0x4000
#define OP_LEN   6

static struct pci_dev *pci;

static void acc_write(unsigned bar, uint32_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];
	iobus_store_le(b, len, v);
	pci->bars[bar].ops->write(pci->bars[bar].opaque, off, b, len);
}

static uint64_t acc_read(unsigned bar, uint32_t off, unsigned len)
{
	uint8_t b[8];
	pci->bars[bar].ops->read(pci->bars[bar].opaque, off, b, len);
	return iobus_load_le(b, len);
}

static void wr(uint32_t off, uint32_t v)
{
	acc_write(0, off, 4, v);
}

static uint32_t rd(uint32_t off)
{
	return (uint32_t)acc_read(0, off, 4);
}

static uint16_t eerd(unsigned word)
{
	wr(E1000_EERD, EERD_START | word << EERD_ADDR_SHIFT);
	uint32_t v = rd(E1000_EERD);
	if (!(v & EERD_DONE) || ((v >> EERD_ADDR_SHIFT) & 0xFF) != word)
		abort();
	return (uint16_t)(v >> EERD_DATA_SHIFT);
}

static void eecd_clock(uint32_t pins)
{
	wr(E1000_EECD, pins);
	wr(E1000_EECD, pins | EECD_SK);
	wr(E1000_EECD, pins);
}

/* A microwire READ of word, as Linux's e1000_read_eeprom does it. */
static uint16_t microwire_read(unsigned word)
{
	uint32_t pins = EECD_REQ | EECD_CS;
	uint32_t cmd = 0x6u << 6 | (word & 0x3F);
	uint16_t v = 0;
	wr(E1000_EECD, EECD_REQ);
	wr(E1000_EECD, pins);
	for (int i = 8; i >= 0; i--)
		eecd_clock(pins | (cmd >> i & 1 ? EECD_DI : 0));
	for (int i = 0; i < 16; i++) {
		wr(E1000_EECD, pins | EECD_SK);
		v = (uint16_t)(v << 1 | !!(rd(E1000_EECD) & EECD_DO));
		wr(E1000_EECD, pins);
	}
	wr(E1000_EECD, EECD_REQ);
	wr(E1000_EECD, 0);
	return v;
}

static uint32_t mdic(unsigned op, unsigned reg, uint16_t data, unsigned phy)
{
	wr(E1000_MDIC, op << MDIC_OP_SHIFT | (phy & 0x1F) << MDIC_PHY_SHIFT |
			       (reg & 0x1F) << MDIC_REG_SHIFT | data);
	uint32_t v = rd(E1000_MDIC);
	if (!(v & MDIC_READY))
		abort();
	return v;
}

static void check_phy(void)
{
	if ((uint16_t)mdic(MDIC_OP_READ, 2, 0, 1) != 0x0141 ||
	    (uint16_t)mdic(MDIC_OP_READ, 3, 0, 1) != 0x0C20)
		abort();
	bool down = mdic(MDIC_OP_READ, 0, 0, 1) & 0x0800; /* PHY_CTRL power down */
	if (!(rd(E1000_STATUS) & STATUS_LU) != down)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct guest_mem mem;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);
	struct e1000_port port = {.send = port_send};
	struct e1000 *e = e1000_create_port(mac, &mem, NULL, &port);
	if (!e)
		abort();
	pci = e1000_pci(e);
	pci_cfg_set(pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);

	for (size_t i = 0; i + OP_LEN <= size; i += OP_LEN) {
		const uint8_t *op = data + i;
		uint32_t off = ((uint32_t)op[1] << 8 | op[2]) * 4 % E1000_MMIO_SIZE;
		uint32_t v = (uint32_t)op[2] | (uint32_t)op[3] << 8 | (uint32_t)op[4] << 16 |
			     (uint32_t)op[5] << 24;
		static const unsigned lens[4] = {1, 2, 4, 8};
		unsigned len = lens[op[0] >> 4 & 3];
		switch (op[0] % 10) {
		case 0: /* any register, any width (mostly the low registers) */
			if (op[0] & 0x80)
				off %= 0x100;
			acc_write(0, (off + (op[0] >> 6 & 1) * (op[3] & 3)) % E1000_MMIO_SIZE, len,
				  (uint64_t)v << 32 | v);
			break;
		case 1:
			acc_read(0, (off + (op[3] & 3)) % E1000_MMIO_SIZE, len);
			break;
		case 2: /* BAR1: IOADDR then IODATA */
			acc_write(1, 0, 4, off | (op[0] & 0x80 ? 0x10000 : 0));
			if (op[0] & 0x40)
				acc_write(1, 4, 4, v);
			else
				acc_read(1, 4, 4);
			acc_read(1, op[3] % 8, op[3] & 4 ? 4 : 2);
			break;
		case 3: { /* EERD and microwire agree */
			unsigned word = op[1] % 64;
			if (microwire_read(word) != eerd(word))
				abort();
			eerd(op[2]); /* beyond the image: FFFFh, DONE */
			break;
		}
		case 4: /* raw EECD pins */
			wr(E1000_EECD, v);
			break;
		case 5: /* an MDIC cycle: any opcode, PHY address, register */
			mdic(op[1] & 3, op[2], (uint16_t)(v >> 8), op[1] >> 2);
			break;
		case 6: /* a PHY write to a real register of the internal PHY */
			mdic(MDIC_OP_WRITE, op[1], (uint16_t)(v >> 8), 1);
			check_phy();
			break;
		case 7: /* resets: the device, the PHY */
			wr(E1000_CTRL, rd(E1000_CTRL) | (op[1] & 1 ? CTRL_RST : CTRL_PHY_RST));
			wr(E1000_CTRL, rd(E1000_CTRL) & ~CTRL_PHY_RST);
			break;
		case 8: /* the interrupt registers */
			wr(E1000_IMS, v);
			wr(E1000_ICS, v >> 8);
			rd(E1000_ICR);
			wr(E1000_IMC, v >> 16);
			break;
		default: /* a statistics register, read to clear */
			rd(E1000_STATS + off % (E1000_STATS_END - E1000_STATS));
			break;
		}
	}
	check_phy();
	uint16_t sum = 0;
	for (unsigned w = 0; w < 64; w++)
		sum = (uint16_t)(sum + eerd(w));
	if (sum != EEPROM_SUM)
		abort();

	e1000_destroy(e);
	free(ram);
	return 0;
}
