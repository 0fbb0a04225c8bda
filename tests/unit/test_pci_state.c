/* PCI function and MSI-X state (src/bus/pci_state.c, msix_save/msix_load):
 * a function with a 32-bit, a 64-bit (holding the MSI-X table) and an I/O
 * BAR, programmed as a guest would, saved and loaded into a fresh instance
 * on buses of its own: the same bytes on a second save, its BARs claimed
 * where the guest put them, the vector table, pending bits, enable and
 * INTx restored. Hostile records (every truncation, another device, BARs
 * misaligned or outside their space, read-only bits, another vector count,
 * reserved bits, every bit flip) are refused naming the field, and the
 * instance is unchanged. */
#include <errno.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/iobus.h"
#include "bus/msix.h"
#include "bus/pci.h"
#include "core/state.h"
#include "support/fake_irq.h"

#define VENDOR 0x1af4
#define DEVICE 0x1041
#define NVEC 4
#define BAR0_SIZE 0x1000ULL     /* MEM32: the model's registers */
#define BAR2_SIZE 0x4000ULL     /* MEM64: the MSI-X table and PBA */
#define BAR4_SIZE 0x20ULL       /* I/O */
#define PBA_OFF 0x800

#define BAR0_ADDR 0xc0001000ULL
#define BAR2_ADDR 0x100004000ULL
#define BAR4_ADDR 0xc040ULL

/* A device model: its registers count what reaches them. */
struct fn {
	struct pci_dev pci;
	struct msix msix;
	struct iobus *pio, *mmio;
	struct fake_irq intx;
	unsigned reg_reads, io_reads;
};

static void reg_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct fn *f = opaque;
	f->reg_reads++;
	iobus_store_le(data, len, 0xa0000000 | off);
}

static void reg_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
}

static void io_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct fn *f = opaque;
	f->io_reads++;
	iobus_store_le(data, len, 0x10 + off);
}

static void msix_bar_rd(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct fn *f = opaque;
	if (!msix_bar_read(&f->msix, off, data, len))
		memset(data, 0, len);
}

static void msix_bar_wr(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct fn *f = opaque;
	msix_bar_write(&f->msix, off, data, len);
}

static const struct iobus_ops reg_ops = {.read = reg_read, .write = reg_write};
static const struct iobus_ops io_ops = {.read = io_read};
static const struct iobus_ops msix_ops = {.read = msix_bar_rd, .write = msix_bar_wr};

static void on_config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	struct fn *f = dev->opaque;
	msix_config_written(&f->msix, offset, len);
}

static const struct pci_dev_ops fn_ops = {.config_written = on_config_written};

static struct fn *fn_new(uint16_t vendor, unsigned nvec)
{
	struct fn *f = test_calloc(1, sizeof(*f));
	f->pio = iobus_create("pio");
	f->mmio = iobus_create("mmio");
	pci_dev_init(&f->pci, "dev0", vendor, DEVICE, 0x020000, 1, VENDOR, 1);
	f->pci.ops = &fn_ops;
	f->pci.opaque = f;
	f->pci.bus = (struct pci_bus_ctx){.pio = f->pio, .mmio = f->mmio};
	f->pci.intx = fake_irq_line(&f->intx, 11);
	assert_int_equal(pci_dev_set_bar(&f->pci, 0, PCI_BAR_MEM32, BAR0_SIZE, false, &reg_ops, f), 0);
	assert_int_equal(pci_dev_set_bar(&f->pci, 2, PCI_BAR_MEM64, BAR2_SIZE, true, &msix_ops, f), 0);
	assert_int_equal(pci_dev_set_bar(&f->pci, 4, PCI_BAR_IO, BAR4_SIZE, false, &io_ops, f), 0);
	assert_int_equal(msix_init(&f->msix, &f->pci, NULL, nvec, 2, 0, PBA_OFF), 0);
	/* No KVM: give each vector an eventfd to see deliveries. */
	for (unsigned v = 0; v < nvec; v++) {
		f->msix.eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(f->msix.eventfd[v] >= 0);
	}
	return f;
}

static void fn_free(struct fn *f)
{
	msix_destroy(&f->msix);
	pci_dev_destroy(&f->pci);
	iobus_destroy(f->pio);
	iobus_destroy(f->mmio);
	test_free(f);
}

static void cfg_wr(struct fn *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, len, v);
	pci_config_write(&f->pci, off, b, len);
}

static void mmio_wr32(struct fn *f, uint64_t addr, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	assert_true(iobus_write(f->mmio, addr, b, 4));
}

static uint32_t mmio_rd32(struct fn *f, uint64_t addr)
{
	uint8_t b[4];
	iobus_read(f->mmio, addr, b, 4);
	return (uint32_t)iobus_load_le(b, 4);
}

static uint64_t fired(struct fn *f, unsigned v)
{
	uint64_t n = 0;
	if (read(f->msix.eventfd[v], &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* What a guest driver leaves behind: BARs placed and decoding, MSI-X on
 * with vectors 0 and 2 programmed and unmasked, vector 1 masked with a
 * signal pending, INTx asserted. */
static void guest_programs(struct fn *f)
{
	cfg_wr(f, PCI_BASE_ADDRESS_0, 4, (uint32_t)BAR0_ADDR);
	cfg_wr(f, PCI_BASE_ADDRESS_2, 4, (uint32_t)BAR2_ADDR);
	cfg_wr(f, PCI_BASE_ADDRESS_3, 4, (uint32_t)(BAR2_ADDR >> 32));
	cfg_wr(f, PCI_BASE_ADDRESS_4, 4, (uint32_t)BAR4_ADDR);
	cfg_wr(f, PCI_INTERRUPT_LINE, 1, 11);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	for (unsigned v = 0; v < NVEC; v++) {
		uint64_t e = BAR2_ADDR + v * MSIX_ENTRY_SIZE;
		mmio_wr32(f, e + 0, 0xfee00000 | (v << 12));
		mmio_wr32(f, e + 4, 0);
		mmio_wr32(f, e + 8, 0x40 + v);
		mmio_wr32(f, e + 12, v == 0 || v == 2 ? 0 : PCI_MSIX_ENTRY_CTRL_MASKBIT);
	}
	cfg_wr(f, (unsigned)f->msix.cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_notify(&f->msix, 1));
	pci_dev_set_intx(&f->pci, true);
}

static void save(struct fn *f, struct state_writer *w)
{
	state_writer_init(w);
	state_begin(w, "model", 1);
	assert_int_equal(pci_dev_save(&f->pci, w), 0);
	assert_int_equal(msix_save(&f->msix, w), 0);
	state_end(w);
	assert_int_equal(state_writer_finish(w), 0);
}

/* As a device model loads: every section read and validated, then all
 * applied, so a record refused anywhere leaves nothing half-applied. */
static int load(struct fn *f, const void *buf, size_t len, struct state_reader *r)
{
	static struct pci_state pci;
	static struct msix_state msix;
	state_reader_init(r, buf, len, "dev0");
	state_enter(r, "model", 1, NULL);
	pci_dev_state_read(&f->pci, r, &pci);
	msix_state_read(&f->msix, r, &msix);
	state_leave(r);
	if (state_reader_finish(r) < 0)
		return -EINVAL;
	pci_dev_state_apply(&f->pci, &pci);
	msix_state_apply(&f->msix, &msix);
	return 0;
}

/* The one-step calls, for a model with no state after them. */
static int load_simple(struct fn *f, const void *buf, size_t len, struct state_reader *r)
{
	state_reader_init(r, buf, len, "dev0");
	state_enter(r, "model", 1, NULL);
	if (pci_dev_load(&f->pci, r) < 0 || msix_load(&f->msix, r) < 0)
		return -EINVAL;
	state_leave(r);
	return state_reader_finish(r);
}

/* The record's bytes equal b's. */
static void assert_saves_as(struct fn *f, const struct state_writer *b)
{
	struct state_writer w;
	save(f, &w);
	assert_int_equal(w.len, b->len);
	assert_memory_equal(w.buf, b->buf, b->len);
	state_writer_free(&w);
}

static void test_round_trip(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *b = fn_new(VENDOR, NVEC);
	guest_programs(a);
	struct state_writer w;
	save(a, &w);

	struct state_reader r;
	assert_int_equal(load(b, w.buf, w.len, &r), 0);
	assert_false(state_failed(&r));
	assert_saves_as(b, &w);

	/* BARs claimed at the guest's addresses on b's buses, reaching b. */
	assert_int_equal(mmio_rd32(b, BAR0_ADDR + 0x24), 0xa0000024);
	assert_int_equal(b->reg_reads, 1);
	assert_int_equal(a->reg_reads, 0);
	uint8_t io[2];
	assert_true(iobus_read(b->pio, BAR4_ADDR + 2, io, 2));
	assert_int_equal(iobus_load_le(io, 2), 0x12);
	assert_int_equal(b->io_reads, 1);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		assert_int_equal(b->pci.bars[i].mapped, a->pci.bars[i].mapped);
		assert_true(b->pci.bars[i].mapped_addr == a->pci.bars[i].mapped_addr);
	}

	/* The MSI-X table through the BAR, pending bit, enable. */
	assert_int_equal(mmio_rd32(b, BAR2_ADDR + 2 * MSIX_ENTRY_SIZE + 8), 0x42);
	assert_int_equal(mmio_rd32(b, BAR2_ADDR + 3 * MSIX_ENTRY_SIZE), 0xfee03000);
	assert_memory_equal(b->msix.table, a->msix.table, NVEC * MSIX_ENTRY_SIZE);
	assert_true(b->msix.pba == 2);
	assert_true(msix_enabled(&b->msix));
	/* The vectors are live as the guest left them: 0 delivers, 3 is
	 * masked and pends; unmasking 1 delivers what was pending. */
	assert_true(msix_notify(&b->msix, 0));
	assert_int_equal(fired(b, 0), 1);
	assert_true(msix_notify(&b->msix, 3));
	assert_int_equal(fired(b, 3), 0);
	assert_true(b->msix.pba == 0xa);
	mmio_wr32(b, BAR2_ADDR + 1 * MSIX_ENTRY_SIZE + 12, 0);
	assert_int_equal(fired(b, 1), 1);

	/* INTx: asserted in a, so the line rose in b. */
	assert_true(b->intx.level);
	assert_int_equal(b->intx.rises, 1);
	state_writer_free(&w);
	fn_free(a);
	fn_free(b);
}

/* A 4 KiB config space for a PCIe function, and a function the guest
 * never touched: both round trip (the second through the one-step
 * pci_dev_load and msix_load). */
static void test_round_trip_express_and_untouched(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *b = fn_new(VENDOR, NVEC);
	a->pci.is_express = b->pci.is_express = true;
	pci_dev_set_wmask(&a->pci, 0x200, 4, 0xffffffff);
	pci_dev_set_wmask(&b->pci, 0x200, 4, 0xffffffff);
	struct state_writer w;
	save(a, &w);
	struct state_reader r;
	assert_int_equal(load(b, w.buf, w.len, &r), 0);
	assert_saves_as(b, &w);
	state_writer_free(&w);

	cfg_wr(a, 0x200, 4, 0x12345678);
	guest_programs(a);
	save(a, &w);
	assert_true(w.len > PCI_CFG_SIZE);
	assert_int_equal(load_simple(b, w.buf, w.len, &r), 0);
	assert_int_equal(pci_cfg_get(&b->pci, 0x200, 4), 0x12345678);
	assert_saves_as(b, &w);
	state_writer_free(&w);
	fn_free(a);
	fn_free(b);
}

/* Loads rec into f and expects a refusal naming field; f is unchanged. */
static void assert_refused(struct fn *f, const struct state_writer *rec, const char *field)
{
	struct state_writer before;
	struct state_reader r;
	unsigned reads = f->reg_reads;
	save(f, &before);
	assert_int_equal(load(f, rec->buf, rec->len, &r), -EINVAL);
	assert_true(state_failed(&r));
	if (!strstr(state_error(&r), field))
		fail_msg("\"%s\" does not name %s", state_error(&r), field);
	assert_non_null(strstr(state_error(&r), "dev0: field model."));
	assert_saves_as(f, &before);
	/* Still where it was: BAR0 of a programmed instance answers. */
	if (f->pci.bars[0].mapped) {
		assert_int_equal(mmio_rd32(f, BAR0_ADDR), 0xa0000000);
		assert_int_equal(f->reg_reads, reads + 1);
	}
	state_writer_free(&before);
}

/* A record as pci_dev_save writes it, from cfg and BAR addresses of the
 * caller's making, followed by a's msix section. */
static void forge(struct state_writer *w, struct fn *a, const uint8_t *cfg, const uint64_t *bar)
{
	state_writer_init(w);
	state_begin(w, "model", 1);
	state_begin(w, "pci", 1);
	state_put_bytes(w, "config", cfg, PCI_CFG_LEGACY_SIZE);
	state_put_u64(w, "bar0", bar[0]);
	state_put_u64(w, "bar2", bar[2]);
	state_put_u64(w, "bar4", bar[4]);
	state_end(w);
	msix_save(&a->msix, w);
	state_end(w);
	assert_int_equal(state_writer_finish(w), 0);
}

static void set_bar_cfg(uint8_t *cfg, int i, uint32_t v)
{
	iobus_store_le(cfg + PCI_BASE_ADDRESS_0 + 4 * i, 4, v);
}

static void test_forged_record_matches_save(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC);
	guest_programs(a);
	uint64_t bar[PCI_NUM_BARS] = {BAR0_ADDR, 0, BAR2_ADDR, 0, BAR4_ADDR, 0};
	struct state_writer w;
	forge(&w, a, a->pci.cfg, bar);
	assert_saves_as(a, &w);  /* forge() spells the format pci_dev_save writes */
	state_writer_free(&w);
	fn_free(a);
}

static void test_hostile_pci_records(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC);
	guest_programs(a);
	struct fn *fresh = fn_new(VENDOR, NVEC), *used = fn_new(VENDOR, NVEC);
	guest_programs(used);
	cfg_wr(used, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	struct fn *targets[] = {fresh, used};
	uint64_t good[PCI_NUM_BARS] = {BAR0_ADDR, 0, BAR2_ADDR, 0, BAR4_ADDR, 0};
	struct state_writer w;
	uint8_t cfg[PCI_CFG_LEGACY_SIZE];
	uint64_t bar[PCI_NUM_BARS];

	for (size_t t = 0; t < 2; t++) {
		struct fn *f = targets[t];
		/* Misaligned BAR0 (the register agrees). */
		memcpy(cfg, a->pci.cfg, sizeof(cfg));
		memcpy(bar, good, sizeof(bar));
		bar[0] = BAR0_ADDR + 0x10;
		set_bar_cfg(cfg, 0, (uint32_t)bar[0]);
		forge(&w, a, cfg, bar);
		assert_refused(f, &w, "pci.bar0: 0xc0001010 is not aligned");
		state_writer_free(&w);

		/* An I/O BAR beyond 64 KiB of ports. */
		memcpy(cfg, a->pci.cfg, sizeof(cfg));
		memcpy(bar, good, sizeof(bar));
		bar[4] = 0x10000;
		set_bar_cfg(cfg, 4, 0x10001);
		forge(&w, a, cfg, bar);
		assert_refused(f, &w, "pci.bar4: 0x10000 + 0x20 is outside the port I/O space");
		state_writer_free(&w);

		/* A 64-bit BAR that wraps the address space. */
		memcpy(cfg, a->pci.cfg, sizeof(cfg));
		memcpy(bar, good, sizeof(bar));
		bar[2] = 0ULL - BAR2_SIZE;
		set_bar_cfg(cfg, 2, (uint32_t)bar[2] | PCI_BASE_ADDRESS_MEM_TYPE_64 |
			    PCI_BASE_ADDRESS_MEM_PREFETCH);
		set_bar_cfg(cfg, 3, (uint32_t)(bar[2] >> 32));
		forge(&w, a, cfg, bar);
		assert_refused(f, &w, "pci.bar2: ");
		state_writer_free(&w);

		/* The BAR field and the register disagree. */
		memcpy(cfg, a->pci.cfg, sizeof(cfg));
		memcpy(bar, good, sizeof(bar));
		bar[0] = BAR0_ADDR + BAR0_SIZE;
		forge(&w, a, cfg, bar);
		assert_refused(f, &w, "pci.bar0: 0xc0002000, but the config space says 0xc0001000");
		state_writer_free(&w);

		/* A read-only byte: the interrupt pin. */
		memcpy(cfg, a->pci.cfg, sizeof(cfg));
		cfg[PCI_INTERRUPT_PIN] = 2;
		forge(&w, a, cfg, good);
		assert_refused(f, &w, "pci.config: read-only byte 0x03d is 0x02, this device has 0x01");
		state_writer_free(&w);

		/* Another device: vendor, device, class, header type. */
		static const struct {
			unsigned off;
			uint8_t xor;
			const char *msg;
		} ident[] = {
			{PCI_VENDOR_ID + 1, 0x80, "pci.vendor: 0x9af4, this device has 0x1af4"},
			{PCI_DEVICE_ID, 0x01, "pci.device: 0x1040, this device has 0x1041"},
			{PCI_CLASS_DEVICE + 1, 0x01, "pci.class: 0x030000, this device has 0x020000"},
			{PCI_HEADER_TYPE, 0x01, "pci.header type: 0x01, this device has 0x00"},
		};
		for (size_t i = 0; i < sizeof(ident) / sizeof(ident[0]); i++) {
			memcpy(cfg, a->pci.cfg, sizeof(cfg));
			cfg[ident[i].off] ^= ident[i].xor;
			forge(&w, a, cfg, good);
			assert_refused(f, &w, ident[i].msg);
			state_writer_free(&w);
		}
	}
	fn_free(a);
	fn_free(fresh);
	fn_free(used);
}

static void test_other_vendor_refused(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *intel = fn_new(0x8086, NVEC);
	guest_programs(a);
	struct state_writer w;
	save(a, &w);
	assert_refused(intel, &w, "dev0: field model.pci.vendor: 0x1af4, this device has 0x8086");
	state_writer_free(&w);
	fn_free(a);
	fn_free(intel);
}

static void test_hostile_msix_records(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *b = fn_new(VENDOR, NVEC);
	struct fn *wide = fn_new(VENDOR, NVEC * 2);
	guest_programs(a);
	struct state_writer w;

	/* (A whole record is refused by the config space already: the
	 * capability's table size is read-only. msix_load checks too.) */
	save(a, &w);
	assert_refused(wide, &w, "model.pci.config: read-only byte");
	state_writer_free(&w);
	state_writer_init(&w);
	state_begin(&w, "model", 1);
	msix_save(&a->msix, &w);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	struct state_reader r;
	state_reader_init(&r, w.buf, w.len, "dev0");
	state_enter(&r, "model", 1, NULL);
	assert_int_equal(msix_load(&wide->msix, &r), -EINVAL);
	assert_string_equal(state_error(&r), "dev0: field model.msix.vectors: 4, this device has 8");
	assert_false(msix_enabled(&wide->msix));
	state_writer_free(&w);

	/* Reserved vector control bits (a guest write clears them). */
	a->msix.table[2 * MSIX_ENTRY_SIZE + 13] = 0x01;
	save(a, &w);
	assert_refused(b, &w, "model.msix.table: vector 2 control 0x100 has reserved bits set");
	state_writer_free(&w);
	a->msix.table[2 * MSIX_ENTRY_SIZE + 13] = 0;

	/* A pending bit beyond the vectors. */
	a->msix.pba |= 1ULL << NVEC;
	save(a, &w);
	assert_refused(b, &w, "model.msix.pba: 0x12 has bits beyond the 4 vectors");
	state_writer_free(&w);
	a->msix.pba &= ~(1ULL << NVEC);
	fn_free(a);
	fn_free(b);
	fn_free(wide);
}

static void test_every_truncation_refused(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *fresh = fn_new(VENDOR, NVEC);
	guest_programs(a);
	struct state_writer w, before;
	save(a, &w);
	save(fresh, &before);
	for (size_t len = 0; len < w.len; len++) {
		uint8_t *cut = malloc(len ? len : 1);  /* exactly len: ASan sees overreads */
		assert_non_null(cut);
		memcpy(cut, w.buf, len);
		struct state_reader r;
		assert_int_equal(load(fresh, cut, len, &r), -EINVAL);
		assert_non_null(strstr(state_error(&r), "dev0: field "));
		free(cut);
		assert_false(fresh->pci.bars[0].mapped);
	}
	assert_saves_as(fresh, &before);
	assert_int_equal(fresh->intx.rises, 0);
	state_writer_free(&w);
	state_writer_free(&before);
	fn_free(a);
	fn_free(fresh);
}

/* Every single-bit flip: refused with the instance unchanged, or taken
 * (a writable bit) and then saved back as loaded. Never a crash. */
static void test_every_bit_flip(void **unused)
{
	struct fn *a = fn_new(VENDOR, NVEC), *f = fn_new(VENDOR, NVEC);
	guest_programs(a);
	struct state_writer w;
	save(a, &w);
	uint8_t *copy = malloc(w.len);
	assert_non_null(copy);
	unsigned refused = 0, taken = 0;
	for (size_t i = 0; i < w.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(copy, w.buf, w.len);
			copy[i] ^= (uint8_t)(1u << bit);
			struct state_writer before;
			struct state_reader r;
			save(f, &before);
			if (load(f, copy, w.len, &r) < 0) {
				assert_non_null(strstr(state_error(&r), "dev0: field "));
				assert_saves_as(f, &before);
				refused++;
			} else {
				taken++;
			}
			state_writer_free(&before);
		}
	}
	assert_true(refused > 0);
	assert_true(taken > 0);
	free(copy);
	state_writer_free(&w);
	fn_free(a);
	fn_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_express_and_untouched),
		cmocka_unit_test(test_forged_record_matches_save),
		cmocka_unit_test(test_hostile_pci_records),
		cmocka_unit_test(test_other_vendor_refused),
		cmocka_unit_test(test_hostile_msix_records),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_every_bit_flip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
