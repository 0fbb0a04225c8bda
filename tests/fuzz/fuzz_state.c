// fuzz-sources: src/core/state.c src/bus/pci.c src/bus/pci_state.c src/bus/msix.c src/bus/iobus.c src/bus/irq_routing.c src/core/log.c
/* State records as hostile input (src/core/state.c), read two ways:
 *
 * - by a fixed schema that makes every reader call (enter, enter_optional,
 *   leave, each get, the ranges, bytes_max, invalid, finish);
 * - by a fresh PCI function with a MEM32, a MEM64 (MSI-X table) and an I/O
 *   BAR, through pci_dev_state_read + msix_state_read, applied only when
 *   the whole record is accepted (as device models load).
 *
 * Checked invariants: no crash, leak or UB; a failed call leaves the
 * reader failed, its output zeroed and an error naming the device; the
 * position never passes the end; a refused record leaves the function as
 * it was (its save unchanged); an accepted one saves back to a record
 * that a second fresh function accepts and saves identically, with each
 * BAR claimed exactly when decoding is on and it is programmed. */
#include <linux/pci_regs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus/iobus.h"
#include "bus/msix.h"
#include "bus/pci.h"
#include "core/state.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* After each call: an error is sticky, named, and zeroes the output. */
static void after(struct state_reader *r, int ret, const void *out, size_t n)
{
	CHECK(r->pos <= r->len);
	CHECK(r->depth <= STATE_MAX_DEPTH);
	if (ret < 0) {
		CHECK(state_failed(r));
		CHECK(strncmp(state_error(r), "fz: field ", 10) == 0);
		CHECK(!out || all_zero(out, n));
	}
}

static void read_schema(const uint8_t *data, size_t size)
{
	struct state_reader r;
	uint8_t u8, f[5], g[16];
	uint16_t u16, version;
	uint32_t u32, x;
	uint64_t u64, y;
	bool b;
	size_t glen;
	state_reader_init(&r, data, size, "fz");
	after(&r, state_enter(&r, "dev", 2, &version), &version, sizeof(version));
	after(&r, state_get_u8(&r, "a", &u8), &u8, sizeof(u8));
	after(&r, state_get_u16(&r, "b", &u16), &u16, sizeof(u16));
	after(&r, state_get_u32(&r, "c", &u32), &u32, sizeof(u32));
	after(&r, state_get_u64(&r, "d", &u64), &u64, sizeof(u64));
	after(&r, state_get_bool(&r, "e", &b), &b, sizeof(b));
	after(&r, state_get_bytes(&r, "f", f, sizeof(f)), f, sizeof(f));
	int ret = state_get_bytes_max(&r, "g", g, sizeof(g), &glen);
	after(&r, ret, g, sizeof(g));
	CHECK(glen <= sizeof(g));
	if (ret < 0)
		CHECK(glen == 0);
	after(&r, state_enter(&r, "sub", 1, NULL), NULL, 0);
	after(&r, state_get_u32_range(&r, "x", &x, 1, 100), &x, sizeof(x));
	CHECK(state_failed(&r) || (x >= 1 && x <= 100));
	after(&r, state_get_u64_range(&r, "y", &y, 5, 10), &y, sizeof(y));
	CHECK(state_failed(&r) || (y >= 5 && y <= 10));
	if (!state_failed(&r) && u8 == 0xee)
		after(&r, state_invalid(&r, "a", "0x%x is refused", u8), NULL, 0);
	after(&r, state_leave(&r), NULL, 0);
	ret = state_enter_optional(&r, "opt", 1, &version);
	after(&r, ret, ret < 0 ? &version : NULL, sizeof(version));
	if (ret == 1) {
		after(&r, state_enter_optional(&r, "inner", 3, NULL), NULL, 0);
		after(&r, state_leave(&r), NULL, 0);
	}
	after(&r, state_leave(&r), NULL, 0);
	after(&r, state_reader_finish(&r), NULL, 0);
}

/* ---- a PCI function with MSI-X ---- */

#define NVEC 3

struct fn {
	struct pci_dev pci;
	struct msix msix;
	struct iobus *pio, *mmio;
};

static void nop_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	memset(data, 0, len);
}

static void nop_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
}

static const struct iobus_ops nop_ops = {.read = nop_read, .write = nop_write};

static void on_config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	struct fn *f = dev->opaque;
	msix_config_written(&f->msix, offset, len);
}

static const struct pci_dev_ops fn_ops = {.config_written = on_config_written};

static void fn_init(struct fn *f)
{
	memset(f, 0, sizeof(*f));
	f->pio = iobus_create("pio");
	f->mmio = iobus_create("mmio");
	CHECK(f->pio && f->mmio);
	pci_dev_init(&f->pci, "fz", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1);
	f->pci.ops = &fn_ops;
	f->pci.opaque = f;
	f->pci.bus = (struct pci_bus_ctx){.pio = f->pio, .mmio = f->mmio};
	CHECK(pci_dev_set_bar(&f->pci, 0, PCI_BAR_MEM32, 0x1000, false, &nop_ops, f) == 0);
	CHECK(pci_dev_set_bar(&f->pci, 2, PCI_BAR_MEM64, 0x4000, true, &nop_ops, f) == 0);
	CHECK(pci_dev_set_bar(&f->pci, 4, PCI_BAR_IO, 0x20, false, &nop_ops, f) == 0);
	CHECK(msix_init(&f->msix, &f->pci, NULL, NVEC, 2, 0, 0x800) == 0);
}

static void fn_destroy(struct fn *f)
{
	msix_destroy(&f->msix);
	pci_dev_destroy(&f->pci);
	iobus_destroy(f->pio);
	iobus_destroy(f->mmio);
}

static void fn_save(struct fn *f, struct state_writer *w)
{
	state_writer_init(w);
	state_begin(w, "model", 1);
	pci_dev_save(&f->pci, w);
	msix_save(&f->msix, w);
	state_end(w);
	CHECK(state_writer_finish(w) == 0);
}

static int fn_load(struct fn *f, const uint8_t *data, size_t size)
{
	static struct pci_state pci;
	static struct msix_state msix;
	struct state_reader r;
	state_reader_init(&r, data, size, "fz");
	state_enter(&r, "model", 1, NULL);
	pci_dev_state_read(&f->pci, &r, &pci);
	msix_state_read(&f->msix, &r, &msix);
	state_leave(&r);
	if (state_reader_finish(&r) < 0) {
		CHECK(strncmp(state_error(&r), "fz: field ", 10) == 0);
		return -1;
	}
	pci_dev_state_apply(&f->pci, &pci);
	msix_state_apply(&f->msix, &msix);
	return 0;
}

static bool same(const struct state_writer *a, const struct state_writer *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

/* A claimed BAR is where its register says, with decoding on. */
static void check_bars(const struct fn *f)
{
	uint16_t cmd = (uint16_t)pci_cfg_get(&f->pci, PCI_COMMAND, 2);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &f->pci.bars[i];
		if (!bar->mapped)
			continue;
		CHECK(bar->mapped_addr == pci_bar_address(&f->pci, i));
		CHECK(cmd & (bar->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY));
	}
}

static void load_pci(const uint8_t *data, size_t size)
{
	static struct fn a, b;
	struct state_writer before, after_load, again;
	fn_init(&a);
	fn_save(&a, &before);
	if (fn_load(&a, data, size) < 0) {
		fn_save(&a, &after_load);
		CHECK(same(&before, &after_load));
		CHECK(!a.pci.bars[0].mapped && !a.pci.bars[2].mapped && !a.pci.bars[4].mapped);
	} else {
		check_bars(&a);
		fn_save(&a, &after_load);
		fn_init(&b);
		CHECK(fn_load(&b, after_load.buf, after_load.len) == 0);
		fn_save(&b, &again);
		CHECK(same(&after_load, &again));
		state_writer_free(&again);
		fn_destroy(&b);
	}
	state_writer_free(&before);
	state_writer_free(&after_load);
	fn_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_schema(data, size);
	load_pci(data, size);
	return 0;
}
