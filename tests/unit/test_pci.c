/* PCI configuration semantics (src/bus/pci.c, src/bus/pci_host.c), driven
 * the way a guest does it: through the 0xCF8/0xCFC ops and the ECAM ops of a
 * host bridge on real iobuses. The bridge's identity, empty slots, the CF8
 * enable bit and latching, BAR sizing / firmware placement / claiming on the
 * bus when decoding is on / moving / releasing, read-only and W1C bytes,
 * capability lists, INTx, and hostile ECAM accesses. */
/* pci_host.h before <linux/pci_regs.h>: both define PCI_IO_BASE (see
 * IO_WINDOW_BASE below). */
#include "bus/pci_host.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bus/iobus.h"
#include "bus/pci.h"
#include "support/fake_irq.h"

#define MMIO64_BASE (64ULL << 30)

/* The port window the DSDT advertises (machine.c) and firmware places IO
 * BARs in. Spelled out because <linux/pci_regs.h> also defines PCI_IO_BASE
 * (0x1c, the bridge register) and whichever comes last wins. */
#define IO_WINDOW_BASE 0xC000
#define IO_WINDOW_SIZE 0x4000

#define DEV_VENDOR 0x1234
#define DEV_DEVICE 0x5678
#define DEV_CLASS  0x020000

#define BAR0_SIZE 0x1000ULL      /* MEM32 */
#define BAR2_SIZE 0x100000ULL    /* MEM64, prefetchable: BAR2+BAR3 */
#define BAR4_SIZE 0x20ULL        /* IO */

/* A device that records what reaches its BARs. */
struct tdev {
	struct pci_dev pci;
	unsigned reads, writes;
	int last_bar;
	uint64_t last_off;
	unsigned last_len;
	uint64_t last_val;
	unsigned map_calls;
	int map_bar;
	uint64_t map_addr;
	bool map_state;
};

struct bar_ctx {
	struct tdev *t;
	int bar;
};

struct fx {
	struct iobus *pio, *mmio;
	struct pci_host host;
	struct fake_irq_bank irq;
	struct tdev dev, dev2;
	struct bar_ctx ctx[PCI_NUM_BARS], ctx2[PCI_NUM_BARS];
	int slot, slot2;
};

static void bar_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct bar_ctx *c = opaque;
	c->t->reads++;
	c->t->last_bar = c->bar;
	c->t->last_off = offset;
	c->t->last_len = len;
	/* A recognisable pattern: bar number in the top byte, offset below. */
	iobus_store_le(data, len, ((uint64_t)(0xb0 + c->bar) << 24) | (offset & 0xffffff));
}

static void bar_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct bar_ctx *c = opaque;
	c->t->writes++;
	c->t->last_bar = c->bar;
	c->t->last_off = offset;
	c->t->last_len = len;
	c->t->last_val = iobus_load_le(data, len);
}

static const struct iobus_ops bar_ops = {.read = bar_read, .write = bar_write};

static void on_bar_mapped(struct pci_dev *dev, int bar, uint64_t addr, bool mapped)
{
	struct tdev *t = (struct tdev *)dev;
	t->map_calls++;
	t->map_bar = bar;
	t->map_addr = addr;
	t->map_state = mapped;
}

static const struct pci_dev_ops tdev_ops = {.bar_mapped = on_bar_mapped};

static void tdev_init(struct tdev *t, struct bar_ctx *ctx, const char *name)
{
	memset(t, 0, sizeof(*t));
	pci_dev_init(&t->pci, name, DEV_VENDOR, DEV_DEVICE, DEV_CLASS, 3, 0x1af4, 0x1100);
	t->pci.ops = &tdev_ops;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		ctx[i] = (struct bar_ctx){.t = t, .bar = i};
	assert_int_equal(pci_dev_set_bar(&t->pci, 0, PCI_BAR_MEM32, BAR0_SIZE, false, &bar_ops,
					 &ctx[0]), 0);
	assert_int_equal(pci_dev_set_bar(&t->pci, 2, PCI_BAR_MEM64, BAR2_SIZE, true, &bar_ops,
					 &ctx[2]), 0);
	assert_int_equal(pci_dev_set_bar(&t->pci, 4, PCI_BAR_IO, BAR4_SIZE, false, &bar_ops,
					 &ctx[4]), 0);
}

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	f->pio = iobus_create("pio");
	f->mmio = iobus_create("mmio");
	assert_non_null(f->pio);
	assert_non_null(f->mmio);
	assert_int_equal(pci_host_init(&f->host, f->pio, f->mmio, MMIO64_BASE, fake_irq_bank_line,
				       &f->irq), 0);
	tdev_init(&f->dev, f->ctx, "tdev");
	tdev_init(&f->dev2, f->ctx2, "tdev2");
	f->slot = pci_host_add(&f->host, &f->dev.pci);
	f->slot2 = pci_host_add(&f->host, &f->dev2.pci);
	assert_int_equal(f->slot, 1);
	assert_int_equal(f->slot2, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pci_host_destroy(&f->host);
	pci_dev_destroy(&f->dev.pci);
	pci_dev_destroy(&f->dev2.pci);
	iobus_destroy(f->pio);
	iobus_destroy(f->mmio);
	test_free(f);
	return 0;
}

/* ---- guest-side accessors --------------------------------------------------- */

static uint32_t cf8_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000U | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static void cf8_set(struct fx *f, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	pci_host_cf8_ops.write(&f->host, 0, b, 4);
}

static uint32_t cf8_get(struct fx *f)
{
	uint8_t b[4];
	pci_host_cf8_ops.read(&f->host, 0, b, 4);
	return (uint32_t)iobus_load_le(b, 4);
}

static uint32_t cfg_rd(struct fx *f, unsigned dev, unsigned reg, unsigned len)
{
	uint8_t b[4] = {0};
	cf8_set(f, cf8_addr(0, dev, 0, reg));
	pci_host_cfc_ops.read(&f->host, reg & 3, b, len);
	return (uint32_t)iobus_load_le(b, len);
}

static void cfg_wr(struct fx *f, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, len, v);
	cf8_set(f, cf8_addr(0, dev, 0, reg));
	pci_host_cfc_ops.write(&f->host, reg & 3, b, len);
}

static uint64_t ecam_off(unsigned dev, unsigned fn, unsigned reg)
{
	return (uint64_t)dev << 15 | (uint64_t)fn << 12 | reg;
}

static uint64_t ecam_rd(struct fx *f, uint64_t off, unsigned len)
{
	uint8_t b[8];
	memset(b, 0x5a, sizeof(b));
	pci_host_ecam_ops.read(&f->host, off, b, len);
	return iobus_load_le(b, len);
}

static void ecam_wr(struct fx *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];
	iobus_store_le(b, len, v);
	pci_host_ecam_ops.write(&f->host, off, b, len);
}

static bool mmio_claimed(struct fx *f, uint64_t addr)
{
	uint8_t b[4];
	return iobus_read(f->mmio, addr, b, 4);
}

static bool pio_claimed(struct fx *f, uint64_t addr)
{
	uint8_t b[4];
	return iobus_read(f->pio, addr, b, 4);
}

/* ---- the bridge and empty slots ------------------------------------------- */

static void test_bridge_identity(void **state)
{
	struct fx *f = *state;
	assert_int_equal(cfg_rd(f, 0, PCI_VENDOR_ID, 2), 0x1b36);
	assert_int_equal(cfg_rd(f, 0, PCI_DEVICE_ID, 2), 0x0008);
	assert_int_equal(cfg_rd(f, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(cfg_rd(f, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(cfg_rd(f, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(cfg_rd(f, 0, PCI_INTERRUPT_PIN, 1), 0);
	/* Same through the ECAM. */
	assert_int_equal(ecam_rd(f, ecam_off(0, 0, PCI_VENDOR_ID), 4), 0x00081b36);
	assert_int_equal(ecam_rd(f, ecam_off(0, 0, PCI_CLASS_DEVICE), 2), 0x0600);
	/* And the device in slot 1. */
	assert_int_equal(cfg_rd(f, 1, PCI_VENDOR_ID, 4), (uint32_t)DEV_DEVICE << 16 | DEV_VENDOR);
	assert_int_equal(ecam_rd(f, ecam_off(1, 0, PCI_CLASS_REVISION), 4), DEV_CLASS << 8 | 3);
	assert_int_equal(cfg_rd(f, 1, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
}

static void test_empty_slots(void **state)
{
	struct fx *f = *state;
	for (unsigned s = 3; s < PCI_MAX_SLOTS; s++) {
		assert_int_equal(cfg_rd(f, s, PCI_VENDOR_ID, 2), 0xffff);
		assert_int_equal(ecam_rd(f, ecam_off(s, 0, PCI_VENDOR_ID), 2), 0xffff);
	}
	/* Functions 1..7 of a present device are absent. */
	for (unsigned fn = 1; fn < 8; fn++) {
		uint8_t b[4];
		cf8_set(f, cf8_addr(0, 1, fn, 0));
		pci_host_cfc_ops.read(&f->host, 0, b, 4);
		assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
		assert_int_equal(ecam_rd(f, ecam_off(1, fn, 0), 4), 0xffffffff);
	}
	/* Bus 1 does not exist. */
	uint8_t b[4];
	cf8_set(f, cf8_addr(1, 0, 0, 0));
	pci_host_cfc_ops.read(&f->host, 0, b, 4);
	assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
	/* A write to an empty slot goes nowhere (and does not crash). */
	cfg_wr(f, 7, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(cfg_rd(f, 7, PCI_COMMAND, 2), 0xffff);
}

static void test_cf8_enable_bit(void **state)
{
	struct fx *f = *state;
	uint8_t b[4];
	cf8_set(f, cf8_addr(0, 0, 0, 0) & ~0x80000000U);
	pci_host_cfc_ops.read(&f->host, 0, b, 4);
	assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
	pci_host_cfc_ops.read(&f->host, 2, b, 2);
	assert_int_equal(iobus_load_le(b, 2), 0xffff);
	/* Writes with the enable bit off are dropped. */
	cf8_set(f, cf8_addr(0, 1, 0, PCI_INTERRUPT_LINE) & ~0x80000000U);
	iobus_store_le(b, 1, 0x42);
	pci_host_cfc_ops.write(&f->host, 0, b, 1);
	assert_int_not_equal(cfg_rd(f, 1, PCI_INTERRUPT_LINE, 1), 0x42);
	/* With the bit on the same write lands. */
	cfg_wr(f, 1, PCI_INTERRUPT_LINE, 1, 0x42);
	assert_int_equal(cfg_rd(f, 1, PCI_INTERRUPT_LINE, 1), 0x42);
}

static void test_cf8_latch(void **state)
{
	struct fx *f = *state;
	uint32_t a = cf8_addr(0, 1, 0, PCI_CLASS_REVISION);
	cf8_set(f, a | 3); /* the low two bits are not part of the address */
	assert_int_equal(cf8_get(f), a);
	/* Byte and word writes to 0xCF8..0xCFB do not latch. */
	uint8_t b[4] = {0x12, 0x34, 0x56, 0x78};
	for (unsigned off = 0; off < 4; off++)
		pci_host_cf8_ops.write(&f->host, off, b, 1);
	pci_host_cf8_ops.write(&f->host, 0, b, 2);
	pci_host_cf8_ops.write(&f->host, 2, b, 2);
	assert_int_equal(cf8_get(f), a);
	/* Sub-dword reads of 0xCF8 are not the address register. */
	uint8_t r[4] = {0};
	pci_host_cf8_ops.read(&f->host, 1, r, 1);
	assert_int_equal(r[0], 0xff);
	/* The latched address still selects slot 1's class register. */
	uint8_t d[4];
	pci_host_cfc_ops.read(&f->host, 0, d, 4);
	assert_int_equal(iobus_load_le(d, 4), DEV_CLASS << 8 | 3);
	/* Through the port bus as well. */
	iobus_store_le(b, 4, cf8_addr(0, 0, 0, 0));
	assert_true(iobus_write(f->pio, 0xcf8, b, 4));
	assert_true(iobus_write(f->pio, 0xcfb, b, 1));
	assert_true(iobus_read(f->pio, 0xcfc, d, 4));
	assert_int_equal(iobus_load_le(d, 4), 0x00081b36);
}

static void test_cfc_subdword(void **state)
{
	struct fx *f = *state;
	uint8_t b[4];
	cf8_set(f, cf8_addr(0, 1, 0, PCI_VENDOR_ID));
	pci_host_cfc_ops.read(&f->host, 2, b, 2);
	assert_int_equal(iobus_load_le(b, 2), DEV_DEVICE);
	pci_host_cfc_ops.read(&f->host, 1, b, 1);
	assert_int_equal(b[0], DEV_VENDOR >> 8);
	pci_host_cfc_ops.read(&f->host, 3, b, 1);
	assert_int_equal(b[0], DEV_DEVICE >> 8);
	/* A word at 0xCFF would cross the dword: all ones. */
	pci_host_cfc_ops.read(&f->host, 3, b, 2);
	assert_int_equal(iobus_load_le(b, 2), 0xffff);
	/* The byte at 0xCFE of dword 0x0c is the header type. */
	cf8_set(f, cf8_addr(0, 1, 0, PCI_CACHE_LINE_SIZE));
	pci_host_cfc_ops.read(&f->host, 2, b, 1);
	assert_int_equal(b[0], PCI_HEADER_TYPE_NORMAL);
}

/* ---- BARs --------------------------------------------------------------------- */

static void test_bar_sizing(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	uint32_t orig[PCI_NUM_BARS];
	for (int i = 0; i < PCI_NUM_BARS; i++)
		orig[i] = cfg_rd(f, s, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4);

	for (int i = 0; i < PCI_NUM_BARS; i++)
		cfg_wr(f, s, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4, 0xffffffff);
	/* MEM32, non-prefetchable. */
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_0, 4), (uint32_t)~(BAR0_SIZE - 1));
	/* BAR1 is not implemented. */
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_1, 4), 0);
	/* MEM64 prefetchable: low dword has the type bits, high dword all ones. */
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_2, 4),
			 (uint32_t)~(BAR2_SIZE - 1) | PCI_BASE_ADDRESS_MEM_TYPE_64 |
				 PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	/* IO. */
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_4, 4),
			 (uint32_t)~(BAR4_SIZE - 1) | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_5, 4), 0);
	/* No expansion ROM. */
	cfg_wr(f, s, PCI_ROM_ADDRESS, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, s, PCI_ROM_ADDRESS, 4), 0);

	/* Restoring gives back exactly what firmware placed. */
	for (int i = 0; i < PCI_NUM_BARS; i++)
		cfg_wr(f, s, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4, orig[i]);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i, 4), orig[i]);
	/* Sizing with decoding off mapped nothing. */
	assert_int_equal(f->dev.map_calls, 0);
}

static void test_set_bar_rules(void **state)
{
	struct pci_dev d;
	pci_dev_init(&d, "rules", 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_dev_set_bar(&d, -1, PCI_BAR_MEM32, 0x1000, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 6, PCI_BAR_MEM32, 0x1000, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 0, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 0x1800, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 8, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 1ULL << 32, false, &bar_ops, NULL),
			 -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 5, PCI_BAR_MEM64, 0x1000, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_IO, 2, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_IO, 512, false, &bar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_set_bar(&d, 4, PCI_BAR_MEM64, 1ULL << 33, false, &bar_ops, NULL), 0);
	pci_dev_destroy(&d);
}

static void check_in_window(uint64_t addr, uint64_t size, uint64_t base, uint64_t wsize)
{
	if (addr < base || addr + size > base + wsize)
		fail_msg("BAR of 0x%llx bytes placed at 0x%llx, outside the window [0x%llx, 0x%llx)",
			 (unsigned long long)size, (unsigned long long)addr,
			 (unsigned long long)base, (unsigned long long)(base + wsize));
	assert_int_equal(addr & (size - 1), 0);
}

static bool disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen <= b || b + blen <= a;
}

static void test_bar_placement(void **state)
{
	struct fx *f = *state;
	struct pci_dev *d1 = &f->dev.pci, *d2 = &f->dev2.pci;
	check_in_window(pci_bar_address(d1, 0), BAR0_SIZE, PCI_MMIO32_BASE, PCI_MMIO32_SIZE);
	check_in_window(pci_bar_address(d2, 0), BAR0_SIZE, PCI_MMIO32_BASE, PCI_MMIO32_SIZE);
	check_in_window(pci_bar_address(d1, 2), BAR2_SIZE, MMIO64_BASE, PCI_MMIO64_SIZE);
	check_in_window(pci_bar_address(d2, 2), BAR2_SIZE, MMIO64_BASE, PCI_MMIO64_SIZE);
	check_in_window(pci_bar_address(d1, 4), BAR4_SIZE, IO_WINDOW_BASE, IO_WINDOW_SIZE);
	check_in_window(pci_bar_address(d2, 4), BAR4_SIZE, IO_WINDOW_BASE, IO_WINDOW_SIZE);
	assert_true(disjoint(pci_bar_address(d1, 0), BAR0_SIZE, pci_bar_address(d2, 0), BAR0_SIZE));
	assert_true(disjoint(pci_bar_address(d1, 2), BAR2_SIZE, pci_bar_address(d2, 2), BAR2_SIZE));
	assert_true(disjoint(pci_bar_address(d1, 4), BAR4_SIZE, pci_bar_address(d2, 4), BAR4_SIZE));
	/* The guest sees the same addresses, with the type bits kept. */
	unsigned s = (unsigned)f->slot;
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_0, 4), (uint32_t)pci_bar_address(d1, 0));
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_2, 4),
			 (uint32_t)pci_bar_address(d1, 2) | PCI_BASE_ADDRESS_MEM_TYPE_64 |
				 PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_3, 4), (uint32_t)(pci_bar_address(d1, 2) >> 32));
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_4, 4),
			 (uint32_t)pci_bar_address(d1, 4) | PCI_BASE_ADDRESS_SPACE_IO);
	/* Decoding stays off: firmware placed, but nothing is claimed. */
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), 0);
	assert_false(mmio_claimed(f, pci_bar_address(d1, 0)));
	assert_false(pio_claimed(f, pci_bar_address(d1, 4)));
	/* The INTx routing the _PRT describes. */
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(s, 0));
	assert_int_equal(d1->devfn, s << 3);
}

static void test_window_full(void **state)
{
	struct fx *f = *state;
	/* A MEM32 BAR larger than the 32-bit window cannot be placed. */
	struct pci_dev big;
	pci_dev_init(&big, "big", 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_dev_set_bar(&big, 0, PCI_BAR_MEM32, 1ULL << 30, false, &bar_ops, NULL), 0);
	assert_int_equal(pci_host_add(&f->host, &big), -ENOMEM);
	assert_int_equal(cfg_rd(f, 3, PCI_VENDOR_ID, 2), 0xffff); /* not plugged */
	pci_dev_destroy(&big);

	/* Fill every slot, then one more. */
	static struct pci_dev many[PCI_MAX_SLOTS];
	int added = 0;
	for (unsigned i = 0; i < PCI_MAX_SLOTS; i++) {
		pci_dev_init(&many[i], "many", 0x1111, (uint16_t)i, 0, 0, 0, 0);
		int slot = pci_host_add(&f->host, &many[i]);
		if (slot < 0) {
			assert_int_equal(slot, -ENOSPC);
			break;
		}
		added++;
		assert_int_equal(cfg_rd(f, (unsigned)slot, PCI_DEVICE_ID, 2), i);
	}
	assert_int_equal(added, PCI_MAX_SLOTS - 3); /* bridge + two test devices */
	for (unsigned i = 0; i < PCI_MAX_SLOTS; i++)
		pci_dev_destroy(&many[i]);
}

static void test_bar_claimed_when_decoding(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	uint64_t b0 = pci_bar_address(&f->dev.pci, 0);
	uint64_t b2 = pci_bar_address(&f->dev.pci, 2);
	uint64_t b4 = pci_bar_address(&f->dev.pci, 4);

	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), PCI_COMMAND_MEMORY);
	assert_int_equal(f->dev.map_calls, 2); /* BAR0 and BAR2; not the IO BAR */
	assert_false(pio_claimed(f, b4));

	uint8_t d[8];
	assert_true(iobus_read(f->mmio, b0 + 0x10, d, 4));
	assert_int_equal(f->dev.last_bar, 0);
	assert_int_equal(f->dev.last_off, 0x10);
	assert_int_equal(f->dev.last_len, 4);
	assert_int_equal(iobus_load_le(d, 4), 0xb0000010);
	/* The last byte of the BAR is the device's, the next is not. */
	assert_true(iobus_read(f->mmio, b0 + BAR0_SIZE - 1, d, 1));
	assert_int_equal(f->dev.last_off, BAR0_SIZE - 1);
	assert_false(iobus_read(f->mmio, b0 + BAR0_SIZE - 2, d, 4));

	iobus_store_le(d, 8, 0x1122334455667788ULL);
	assert_true(iobus_write(f->mmio, b2 + 0x808, d, 8));
	assert_int_equal(f->dev.last_bar, 2);
	assert_int_equal(f->dev.last_off, 0x808);
	assert_int_equal(f->dev.last_len, 8);
	assert_int_equal(f->dev.last_val, 0x1122334455667788ULL);

	/* The other device has not enabled decoding. */
	assert_false(mmio_claimed(f, pci_bar_address(&f->dev2.pci, 0)));

	/* IO decoding claims the IO BAR on the port bus. */
	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_true(iobus_read(f->pio, b4 + 4, d, 2));
	assert_int_equal(f->dev.last_bar, 4);
	assert_int_equal(f->dev.last_off, 4);
	assert_int_equal(f->dev.last_len, 2);
	assert_int_equal(f->dev.map_calls, 3);
	assert_int_equal(f->dev.map_bar, 4);
	assert_int_equal(f->dev.map_addr, b4);
	assert_true(f->dev.map_state);
	assert_true(f->dev.pci.bars[4].mapped);

	/* Decoding off releases them. */
	cfg_wr(f, s, PCI_COMMAND, 2, 0);
	assert_false(mmio_claimed(f, b0));
	assert_false(mmio_claimed(f, b2));
	assert_false(pio_claimed(f, b4));
	assert_int_equal(f->dev.map_calls, 6);
	assert_false(f->dev.map_state);
	assert_false(f->dev.pci.bars[0].mapped);
}

static void test_bar_moved(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	uint64_t b0 = pci_bar_address(&f->dev.pci, 0);
	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_true(mmio_claimed(f, b0));

	uint64_t moved = 0xd0000000ULL;
	cfg_wr(f, s, PCI_BASE_ADDRESS_0, 4, (uint32_t)moved | 0xf); /* low bits are read-only */
	assert_int_equal(cfg_rd(f, s, PCI_BASE_ADDRESS_0, 4), (uint32_t)moved);
	assert_false(mmio_claimed(f, b0));
	uint8_t d[4];
	assert_true(iobus_read(f->mmio, moved + 0x24, d, 4));
	assert_int_equal(f->dev.last_off, 0x24);
	assert_int_equal(f->dev.map_addr, moved);
	assert_true(f->dev.map_state);

	/* A 64-bit BAR moved above 4 GiB with two dword writes. */
	uint64_t b2 = pci_bar_address(&f->dev.pci, 2);
	uint64_t hi = MMIO64_BASE + 0x40000000ULL;
	cfg_wr(f, s, PCI_BASE_ADDRESS_2, 4, (uint32_t)hi);
	cfg_wr(f, s, PCI_BASE_ADDRESS_3, 4, (uint32_t)(hi >> 32));
	assert_int_equal(pci_bar_address(&f->dev.pci, 2), hi);
	assert_false(mmio_claimed(f, b2));
	assert_true(iobus_read(f->mmio, hi + 0x100, d, 4));
	assert_int_equal(f->dev.last_bar, 2);
	assert_int_equal(f->dev.last_off, 0x100);

	/* Address 0 means "unassigned": released even with decoding on. */
	cfg_wr(f, s, PCI_BASE_ADDRESS_0, 4, 0);
	assert_false(mmio_claimed(f, moved));
	assert_false(f->dev.pci.bars[0].mapped);

	/* A MEM32 BAR cannot wrap past 4 GiB. */
	cfg_wr(f, s, PCI_BASE_ADDRESS_0, 4, 0xfffff000);
	assert_true(f->dev.pci.bars[0].mapped); /* exactly fits */
	cfg_wr(f, s, PCI_COMMAND, 2, 0);
}

static void test_bar_overlap_not_mapped(void **state)
{
	struct fx *f = *state;
	/* dev2's BAR0 moved onto dev's: the second claim fails, nothing crashes,
	 * and the first owner keeps its range. */
	uint64_t b0 = pci_bar_address(&f->dev.pci, 0);
	cfg_wr(f, (unsigned)f->slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	cfg_wr(f, (unsigned)f->slot2, PCI_BASE_ADDRESS_0, 4, (uint32_t)b0);
	cfg_wr(f, (unsigned)f->slot2, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_false(f->dev2.pci.bars[0].mapped);
	uint8_t d[4];
	assert_true(iobus_read(f->mmio, b0, d, 4));
	assert_int_equal(f->dev.reads, 1);
	assert_int_equal(f->dev2.reads, 0);
	/* Over the ECAM: refused too. */
	cfg_wr(f, (unsigned)f->slot2, PCI_BASE_ADDRESS_0, 4, (uint32_t)PCI_ECAM_BASE);
	assert_false(f->dev2.pci.bars[0].mapped);
	assert_int_equal(ecam_rd(f, ecam_off(0, 0, 0), 2), 0x1b36);
}

/* ---- masks ----------------------------------------------------------------- */

static void test_readonly_bytes(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	cfg_wr(f, s, PCI_VENDOR_ID, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, s, PCI_VENDOR_ID, 4), (uint32_t)DEV_DEVICE << 16 | DEV_VENDOR);
	cfg_wr(f, s, PCI_VENDOR_ID, 2, 0);
	assert_int_equal(cfg_rd(f, s, PCI_VENDOR_ID, 2), DEV_VENDOR);
	cfg_wr(f, s, PCI_CLASS_REVISION, 4, 0);
	assert_int_equal(cfg_rd(f, s, PCI_CLASS_REVISION, 4), DEV_CLASS << 8 | 3);
	cfg_wr(f, s, PCI_HEADER_TYPE, 1, 0x80);
	assert_int_equal(cfg_rd(f, s, PCI_HEADER_TYPE, 1), 0);
	cfg_wr(f, s, PCI_INTERRUPT_PIN, 1, 4);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_PIN, 1), 1);
	cfg_wr(f, s, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	assert_int_equal(cfg_rd(f, s, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	cfg_wr(f, 0, PCI_VENDOR_ID, 4, 0);
	assert_int_equal(ecam_rd(f, ecam_off(0, 0, 0), 4), 0x00081b36);
	ecam_wr(f, ecam_off(1, 0, PCI_VENDOR_ID), 2, 0xdead);
	assert_int_equal(cfg_rd(f, s, PCI_VENDOR_ID, 2), DEV_VENDOR);

	/* Writable: cache line size, latency timer, interrupt line. */
	cfg_wr(f, s, PCI_CACHE_LINE_SIZE, 1, 0x10);
	cfg_wr(f, s, PCI_LATENCY_TIMER, 1, 0x40);
	cfg_wr(f, s, PCI_INTERRUPT_LINE, 1, 0x0b);
	assert_int_equal(cfg_rd(f, s, PCI_CACHE_LINE_SIZE, 1), 0x10);
	assert_int_equal(cfg_rd(f, s, PCI_LATENCY_TIMER, 1), 0x40);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_LINE, 1), 0x0b);

	/* Command: only the implemented bits stick. */
	cfg_wr(f, s, PCI_COMMAND, 2, 0xffff);
	uint16_t want = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), want);
	cfg_wr(f, s, PCI_COMMAND, 2, 0);
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), 0);
}

static void test_status_w1c(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	struct pci_dev *d = &f->dev.pci;
	uint16_t errs = PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY |
			PCI_STATUS_SIG_SYSTEM_ERROR;
	pci_cfg_set(d, PCI_STATUS, 2, errs | PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* Writing zeros changes nothing. */
	cfg_wr(f, s, PCI_STATUS, 2, 0);
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2),
			 errs | PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* Writing one clears exactly that bit. */
	cfg_wr(f, s, PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT);
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2),
			 PCI_STATUS_DETECTED_PARITY | PCI_STATUS_SIG_SYSTEM_ERROR |
				 PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* Read-only bits cannot be cleared or set. */
	cfg_wr(f, s, PCI_STATUS, 2, PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT | PCI_STATUS_66MHZ);
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2),
			 PCI_STATUS_DETECTED_PARITY | PCI_STATUS_SIG_SYSTEM_ERROR |
				 PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* A dword write at 0x04 writes command and clears status in one go. */
	cfg_wr(f, s, PCI_COMMAND, 4, (uint32_t)0xffff << 16 | PCI_COMMAND_MASTER);
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), PCI_COMMAND_MASTER);
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	/* Byte write to the high status byte. */
	pci_cfg_set(d, PCI_STATUS, 2, PCI_STATUS_DETECTED_PARITY | PCI_STATUS_PARITY);
	cfg_wr(f, s, PCI_STATUS + 1, 1, PCI_STATUS_DETECTED_PARITY >> 8);
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2), PCI_STATUS_PARITY);
}

/* ---- capabilities ------------------------------------------------------------ */

static void test_cap_list(void **state)
{
	struct fx *f = *state;
	struct pci_dev *d = &f->dev.pci;
	unsigned s = (unsigned)f->slot;
	assert_int_equal(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	assert_int_equal(cfg_rd(f, s, PCI_CAPABILITY_LIST, 1), 0);

	uint8_t vnd[5] = {7, 1, 2, 3, 4};   /* odd length: the next cap is realigned */
	uint8_t pm[6] = {0x03, 0x00, 0x08, 0x00, 0x00, 0x00};
	uint8_t big[200] = {0};
	int c1 = pci_dev_add_cap(d, PCI_CAP_ID_VNDR, vnd, sizeof(vnd));
	int c2 = pci_dev_add_cap(d, PCI_CAP_ID_PM, pm, sizeof(pm));
	int c3 = pci_dev_add_cap(d, PCI_CAP_ID_VNDR, vnd, 2);
	assert_true(c1 >= PCI_STD_HEADER_SIZEOF);
	assert_true(c2 >= c1 + 2 + (int)sizeof(vnd));
	assert_true(c3 >= c2 + 2 + (int)sizeof(pm));
	/* No room for a 200-byte body any more. */
	assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, big, sizeof(big)), -ENOSPC);

	assert_true(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk it as Linux does (__pci_find_next_cap_ttl): dword-aligned
	 * pointers, at most 48 hops. */
	int found[3], n = 0;
	unsigned pos = cfg_rd(f, s, PCI_CAPABILITY_LIST, 1);
	for (int ttl = 48; pos >= 0x40 && ttl; ttl--) {
		assert_int_equal(pos & 3, 0);
		uint16_t ent = (uint16_t)cfg_rd(f, s, pos, 2);
		assert_true(n < 3);
		found[n++] = (int)pos;
		if (n == 1) {
			assert_int_equal(ent & 0xff, PCI_CAP_ID_VNDR);
			assert_int_equal(cfg_rd(f, s, pos + 2, 2), 0x0107);
			assert_int_equal(cfg_rd(f, s, pos + 4, 2), 0x0302);
			assert_int_equal(ecam_rd(f, ecam_off(s, 0, pos + 6), 1), 4);
		} else if (n == 2) {
			assert_int_equal(ent & 0xff, PCI_CAP_ID_PM);
			assert_int_equal(cfg_rd(f, s, pos + 2, 2), 0x0003);
		}
		pos = ent >> 8;
	}
	assert_int_equal(n, 3);
	assert_int_equal(pos, 0);
	assert_int_equal(found[0], c1);
	assert_int_equal(found[1], c2);
	assert_int_equal(found[2], c3);
	/* Capability bodies are read-only until opened. */
	cfg_wr(f, s, (unsigned)c1, 4, 0);
	assert_int_equal(cfg_rd(f, s, (unsigned)c1, 1), PCI_CAP_ID_VNDR);
	assert_int_equal(cfg_rd(f, s, (unsigned)c1 + 1, 1), c2);
	assert_int_equal(cfg_rd(f, s, (unsigned)c1 + 2, 1), 7);
	pci_dev_set_wmask(d, (unsigned)c1 + 2, 1, 0xf0);
	cfg_wr(f, s, (unsigned)c1 + 2, 1, 0xaa);
	assert_int_equal(cfg_rd(f, s, (unsigned)c1 + 2, 1), 0xa7);
}

static unsigned walk_ext_caps(struct fx *f, unsigned slot, uint16_t *ids, unsigned max)
{
	unsigned n = 0, pos = PCI_CFG_LEGACY_SIZE;
	/* As Linux's pci_find_next_ext_capability: header 0 or all-ones means
	 * none; at most (4096 - 256) / 8 hops. */
	for (int ttl = (PCI_CFG_SIZE - PCI_CFG_LEGACY_SIZE) / 8; ttl > 0; ttl--) {
		uint32_t hdr = (uint32_t)ecam_rd(f, ecam_off(slot, 0, pos), 4);
		if (hdr == 0 || hdr == 0xffffffff)
			break;
		assert_true(n < max);
		ids[n++] = (uint16_t)hdr;
		pos = hdr >> 20;
		if (pos < PCI_CFG_LEGACY_SIZE)
			break;
		assert_int_equal(pos & 3, 0);
	}
	return n;
}

static void test_ext_cap_list(void **state)
{
	struct fx *f = *state;
	/* A conventional PCI device: nothing past 256 bytes, whatever was put
	 * there. */
	uint8_t body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_int_equal(pci_dev_add_ext_cap(&f->dev2.pci, PCI_EXT_CAP_ID_VNDR, 1, body, 8),
			 PCI_CFG_LEGACY_SIZE);
	uint16_t ids[8];
	assert_int_equal(walk_ext_caps(f, (unsigned)f->slot2, ids, 8), 0);
	assert_int_equal(ecam_rd(f, ecam_off((unsigned)f->slot2, 0, 0x100), 4), 0xffffffff);
	assert_int_equal(ecam_rd(f, ecam_off((unsigned)f->slot2, 0, 0x104), 2), 0xffff);

	/* An express device with no extended capability: header 0. */
	struct pci_dev *d = &f->dev.pci;
	d->is_express = true;
	assert_int_equal(walk_ext_caps(f, (unsigned)f->slot, ids, 8), 0);
	assert_int_equal(ecam_rd(f, ecam_off((unsigned)f->slot, 0, 0x100), 4), 0);

	int e1 = pci_dev_add_ext_cap(d, PCI_EXT_CAP_ID_VNDR, 1, body, 8);
	int e2 = pci_dev_add_ext_cap(d, PCI_EXT_CAP_ID_ERR, 2, body, 3);
	int e3 = pci_dev_add_ext_cap(d, PCI_EXT_CAP_ID_DSN, 1, body, 8);
	assert_int_equal(e1, PCI_CFG_LEGACY_SIZE);
	assert_true(e2 >= e1 + 12);
	assert_true(e3 >= e2 + 7 && (e3 & 3) == 0);
	static uint8_t huge[PCI_CFG_SIZE];
	assert_int_equal(pci_dev_add_ext_cap(d, PCI_EXT_CAP_ID_VNDR, 1, huge, PCI_CFG_SIZE - 0x100),
			 -ENOSPC);

	assert_int_equal(walk_ext_caps(f, (unsigned)f->slot, ids, 8), 3);
	assert_int_equal(ids[0], PCI_EXT_CAP_ID_VNDR);
	assert_int_equal(ids[1], PCI_EXT_CAP_ID_ERR);
	assert_int_equal(ids[2], PCI_EXT_CAP_ID_DSN);
	uint32_t h2 = (uint32_t)ecam_rd(f, ecam_off((unsigned)f->slot, 0, (unsigned)e2), 4);
	assert_int_equal((h2 >> 16) & 0xf, 2); /* version */
	assert_int_equal(h2 >> 20, e3);
	assert_int_equal(ecam_rd(f, ecam_off((unsigned)f->slot, 0, (unsigned)e1 + 4), 4), 0x04030201);
}

static void test_beyond_256_non_express(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	struct pci_dev *d = &f->dev.pci;
	pci_dev_set_wmask(d, 0x200, 4, 0xffffffff); /* even an opened byte */
	for (unsigned reg = 0x100; reg < PCI_CFG_SIZE; reg += 0x1fc) {
		assert_int_equal(ecam_rd(f, ecam_off(s, 0, reg), 4), 0xffffffff);
		assert_int_equal(ecam_rd(f, ecam_off(s, 0, reg), 1), 0xff);
		ecam_wr(f, ecam_off(s, 0, reg), 4, 0x12345678);
	}
	ecam_wr(f, ecam_off(s, 0, 0x200), 4, 0x12345678);
	assert_int_equal(pci_cfg_get(d, 0x200, 4), 0);
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 0xffc), 4), 0xffffffff);
	/* The bridge too. */
	assert_int_equal(ecam_rd(f, ecam_off(0, 0, 0x100), 4), 0xffffffff);
	/* Direct calls are bounded the same way. */
	uint8_t b[4];
	pci_config_read(d, 0x100, b, 4);
	assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
	pci_config_read(d, 0xfff, b, 2); /* crosses the end of 4 KiB */
	assert_int_equal(iobus_load_le(b, 2), 0xffff);
	pci_config_read(d, 0x1000, b, 1);
	assert_int_equal(b[0], 0xff);
	pci_config_write(d, 0xfffffffcU, b, 4);
	d->is_express = true;
	pci_config_write(d, 0xffe, (const uint8_t *)"\xff\xff\xff\xff", 4);
	pci_config_read(d, 0xffe, b, 4);
	assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
	ecam_wr(f, ecam_off(s, 0, 0x200), 4, 0x12345678);
	assert_int_equal(pci_cfg_get(d, 0x200, 4), 0x12345678);
}

/* ---- INTx ----------------------------------------------------------------------- */

static void test_intx(void **state)
{
	struct fx *f = *state;
	struct pci_dev *d = &f->dev.pci;
	unsigned s = (unsigned)f->slot, gsi = pci_intx_gsi(s, 0);
	assert_int_equal(d->intx.gsi, gsi);
	assert_int_equal(f->dev2.pci.intx.gsi, pci_intx_gsi((unsigned)f->slot2, 0));
	assert_int_not_equal(gsi, f->dev2.pci.intx.gsi);
	assert_true(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSI_COUNT);

	pci_dev_set_intx(d, true);
	assert_true(f->irq.level[gsi]);
	assert_true(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_dev_set_intx(d, false);
	assert_false(f->irq.level[gsi]);
	assert_false(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

	/* INTx disabled: the status bit still says pending, the pin stays low. */
	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	pci_dev_set_intx(d, true);
	assert_false(f->irq.level[gsi]);
	assert_true(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_dev_set_intx(d, false);
	assert_false(f->irq.level[gsi]);
	assert_false(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Nothing on the other device's line. */
	assert_int_equal(f->irq.changes[f->dev2.pci.intx.gsi], 0);
}

/* PCI 3.0 §6.2.2 (Interrupt Disable): "If the function has already asserted
 * its INTx# signal when this bit is set, it must deassert"; clearing it with
 * the interrupt still pending asserts it again (Linux toggles the bit in
 * pci_intx() when it switches to MSI-X and back). */
static void test_intx_disable_toggles_asserted_line(void **state)
{
	struct fx *f = *state;
	struct pci_dev *d = &f->dev.pci;
	unsigned s = (unsigned)f->slot, gsi = pci_intx_gsi(s, 0);
	pci_dev_set_intx(d, true);
	assert_true(f->irq.level[gsi]);
	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	if (f->irq.level[gsi])
		fail_msg("INTx stays asserted after COMMAND.INTX_DISABLE was set");
	assert_true(cfg_rd(f, s, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg_wr(f, s, PCI_COMMAND, 2, 0);
	if (!f->irq.level[gsi])
		fail_msg("pending INTx not reasserted after COMMAND.INTX_DISABLE was cleared");
}

/* ---- hostile ECAM ------------------------------------------------------------ */

static void test_ecam_hostile(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	/* Misaligned: a word at an odd offset, a dword at offset 2. */
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 1), 2), 0xffff);
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 2), 4), 0xffffffff);
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 0xffd), 2), 0xffff);
	/* Eight bytes (a 64-bit MOV) is more than a config access. */
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 0), 8), UINT64_MAX);
	/* Odd lengths never read past the buffer (ASan watches). */
	(void)ecam_rd(f, ecam_off(s, 0, 0), 3);
	(void)ecam_rd(f, ecam_off(s, 0, 0xffc), 3);
	(void)ecam_rd(f, ecam_off(s, 0, 0xfff), 1);

	/* Misaligned / oversized writes are dropped. */
	ecam_wr(f, ecam_off(s, 0, PCI_COMMAND - 1), 2, 0xffff);
	ecam_wr(f, ecam_off(s, 0, PCI_COMMAND - 2), 4, 0xffffffff);
	ecam_wr(f, ecam_off(s, 0, PCI_COMMAND), 8, UINT64_MAX);
	ecam_wr(f, ecam_off(s, 0, PCI_INTERRUPT_LINE - 3), 8, UINT64_MAX);
	assert_int_equal(cfg_rd(f, s, PCI_COMMAND, 2), 0);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(s, 0));
	assert_int_equal(f->dev.map_calls, 0);
	/* An aligned word write works. */
	ecam_wr(f, ecam_off(s, 0, PCI_INTERRUPT_LINE), 1, 0x33);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_LINE, 1), 0x33);

	/* Past the 4 KiB of slot 1 function 0 is function 1: absent. */
	assert_int_equal(ecam_rd(f, ecam_off(s, 0, 0) + 0x1000, 4), 0xffffffff);
	/* Offsets beyond bus 0 (the ECAM is one bus): absent, never wrap
	 * back to bus 0. */
	assert_int_equal(ecam_rd(f, (1ULL << 20) | ecam_off(0, 0, 0), 4), 0xffffffff);
	assert_int_equal(ecam_rd(f, (1ULL << 28) | ecam_off(s, 0, 0), 4), 0xffffffff);
	assert_int_equal(ecam_rd(f, UINT64_MAX - 3, 4), 0xffffffff);
	ecam_wr(f, (1ULL << 20) | ecam_off(s, 0, PCI_INTERRUPT_LINE), 1, 0x44);
	ecam_wr(f, (1ULL << 40) | ecam_off(s, 0, PCI_INTERRUPT_LINE), 1, 0x44);
	assert_int_equal(cfg_rd(f, s, PCI_INTERRUPT_LINE, 1), 0x33);

	/* Through the MMIO bus: right below and right past the window. */
	uint8_t b[8];
	assert_true(iobus_read(f->mmio, PCI_ECAM_BASE + ecam_off(s, 0, 0), b, 4));
	assert_int_equal(iobus_load_le(b, 4), (uint32_t)DEV_DEVICE << 16 | DEV_VENDOR);
	assert_false(iobus_read(f->mmio, PCI_ECAM_BASE + PCI_ECAM_SIZE, b, 4));
	assert_false(iobus_read(f->mmio, PCI_ECAM_BASE + PCI_ECAM_SIZE - 2, b, 4));
	assert_true(iobus_read(f->mmio, PCI_ECAM_BASE + PCI_ECAM_SIZE - 4, b, 4));
	assert_int_equal(iobus_load_le(b, 4), 0xffffffff);
}

/* ---- lock order -------------------------------------------------------------- */

/* A guest enabling decoding through the ECAM (an MMIO exit) makes the host
 * claim the BAR on the MMIO bus; likewise an IO BAR enabled through 0xCFC.
 * iobus dispatch holds the bus's read lock across the device call, so the
 * claim must not wait for that bus's write lock from the same thread. The
 * access runs on a helper thread with a deadline so a hang fails the test
 * instead of the suite. */
struct access_job {
	struct iobus *bus;
	uint64_t addr;
	uint8_t data[4];
	unsigned len;
};

static void *do_write(void *arg)
{
	struct access_job *j = arg;
	iobus_write(j->bus, j->addr, j->data, j->len);
	return NULL;
}

static bool write_finishes(struct access_job *j)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, do_write, j), 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	if (pthread_timedjoin_np(t, NULL, &ts) == 0)
		return true;
	pthread_detach(t);
	return false;
}

static void test_decode_enable_from_a_bus_access(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	/* Memory decoding through the ECAM on the MMIO bus. */
	static struct access_job ecam;
	ecam = (struct access_job){.bus = f->mmio,
				   .addr = PCI_ECAM_BASE + ecam_off(s, 0, PCI_COMMAND), .len = 2};
	iobus_store_le(ecam.data, 2, PCI_COMMAND_MEMORY);
	if (!write_finishes(&ecam)) {
		/* The helper thread is stuck holding the MMIO bus: leave the
		 * fixture alone (no teardown of a locked bus). */
		*state = NULL;
		fail_msg("an ECAM write enabling memory decoding deadlocks "
			 "(pci_config_write -> iobus_register on the bus being dispatched)");
	}
	assert_true(mmio_claimed(f, pci_bar_address(&f->dev.pci, 0)));

	/* IO decoding through 0xCF8/0xCFC on the port bus. */
	uint8_t b[4];
	iobus_store_le(b, 4, cf8_addr(0, s, 0, PCI_COMMAND));
	assert_true(iobus_write(f->pio, 0xcf8, b, 4));
	static struct access_job cfc;
	cfc = (struct access_job){.bus = f->pio, .addr = 0xcfc, .len = 2};
	iobus_store_le(cfc.data, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	if (!write_finishes(&cfc)) {
		*state = NULL;
		fail_msg("a 0xCFC write enabling IO decoding deadlocks "
			 "(pci_config_write -> iobus_register on the bus being dispatched)");
	}
	assert_true(pio_claimed(f, pci_bar_address(&f->dev.pci, 4)));
}

static int teardown_maybe(void **state)
{
	return *state ? teardown(state) : 0;
}

/* d->exits counts every config access to the function (port or ECAM,
 * whether it lands or not) and every BAR access dispatched to it; nothing
 * of another function's. */
static void test_exits_counted(void **state)
{
	struct fx *f = *state;
	unsigned s = (unsigned)f->slot;
	uint64_t other = f->dev2.pci.exits;
	f->dev.pci.exits = 0;

	cfg_rd(f, s, PCI_VENDOR_ID, 2);
	cfg_wr(f, s, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	cfg_wr(f, s, PCI_VENDOR_ID, 2, 0xffff);  /* read-only: still an exit */
	uint8_t b[4];
	pci_host_ecam_ops.read(&f->host, ecam_off(s, 0, PCI_DEVICE_ID), b, 2);
	assert_int_equal(f->dev.pci.exits, 4);

	uint64_t b0 = pci_bar_address(&f->dev.pci, 0);
	uint64_t b4 = pci_bar_address(&f->dev.pci, 4);
	assert_true(iobus_read(f->mmio, b0 + 8, b, 4));
	assert_true(iobus_write(f->mmio, b0 + 8, b, 4));
	assert_true(iobus_read(f->pio, b4, b, 1));
	assert_int_equal(f->dev.reads, 2);
	assert_int_equal(f->dev.writes, 1);
	assert_int_equal(f->dev.pci.exits, 7);
	assert_int_equal(f->dev2.pci.exits, other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bridge_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cf8_enable_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cf8_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfc_subdword, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test(test_set_bar_rules),
		cmocka_unit_test_setup_teardown(test_bar_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_claimed_when_decoding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_overlap_not_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_w1c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_cap_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_beyond_256_non_express, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable_toggles_asserted_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ecam_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_enable_from_a_bus_access, setup,
						teardown_maybe),
		cmocka_unit_test_setup_teardown(test_exits_counted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
