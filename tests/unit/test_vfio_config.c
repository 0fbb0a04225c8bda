/* Configuration space of a passed-through function (src/vfio/vfio_pci_config.c)
 * against a fake device: a memfd laid out like a VFIO device fd, with the
 * config region at offset 0. Checks what the guest sees: the header as
 * iovirt's (BAR sizing on the device's BAR types, ROM hidden, command
 * register forwarded), the capability chain filtered (extended capabilities
 * hidden, and MSI / MSI-X when VFIO cannot drive them), capability bodies
 * read from and written to the device, MSI and MSI-X as iovirt's copies. */
#include <errno.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/msix.h"
#include "core/state.h"
#include "support/capture.h"
#include "vfio/vfio_pci.h"

#define CAP_PM   0x40
#define CAP_MSI  0x50
#define CAP_EXP  0x60
#define CAP_MSIX 0xa0

static void put(int fd, unsigned off, uint32_t v, unsigned len)
{
	assert_int_equal(pwrite(fd, &v, len, off), (ssize_t)len);
}

static uint32_t get(int fd, unsigned off, unsigned len)
{
	uint32_t v = 0;
	assert_int_equal(pread(fd, &v, len, off), (ssize_t)len);
	return v;
}

/* An e1000e-like function: BAR0 128 KiB memory, BAR2 32 bytes of I/O, BAR3
 * 16 KiB memory with the MSI-X table; PM, MSI, PCIe and MSI-X capabilities;
 * AER in extended space; something in the ROM BAR. */
static int make_device(void)
{
	int fd = memfd_create("fake-vfio", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	put(fd, PCI_VENDOR_ID, 0x8086, 2);
	put(fd, PCI_DEVICE_ID, 0x10d3, 2);
	put(fd, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	put(fd, PCI_CLASS_PROG, 0x020000, 3);
	put(fd, PCI_BASE_ADDRESS_0, 0, 4);
	put(fd, PCI_BASE_ADDRESS_2, PCI_BASE_ADDRESS_SPACE_IO, 4);
	put(fd, PCI_BASE_ADDRESS_3, 0, 4);
	put(fd, PCI_ROM_ADDRESS, 0xfffe0001, 4);
	put(fd, PCI_INTERRUPT_PIN, 1, 1);
	put(fd, PCI_CAPABILITY_LIST, CAP_PM, 1);
	put(fd, CAP_PM, PCI_CAP_ID_PM | CAP_MSI << 8 | 0x0022u << 16, 4);
	put(fd, CAP_MSI, PCI_CAP_ID_MSI | CAP_EXP << 8, 4);
	put(fd, CAP_EXP, PCI_CAP_ID_EXP | CAP_MSIX << 8 | 0x0002u << 16, 4);
	put(fd, CAP_MSIX, PCI_CAP_ID_MSIX | 0u << 8 | 4u << 16, 4); /* 5 vectors */
	put(fd, CAP_MSIX + PCI_MSIX_TABLE, 3, 4);                    /* BAR3 + 0 */
	put(fd, CAP_MSIX + PCI_MSIX_PBA, 0x2000 | 3, 4);
	put(fd, 0x100, PCI_EXT_CAP_ID_ERR | 1u << 16, 4);            /* AER */
	return fd;
}

struct fx {
	struct vfio_pci v;
	int fd;
};

static const struct pci_dev_ops hooks = {
	.config_read = vfio_pci_config_read,
	.config_write_raw = vfio_pci_config_write_raw,
	.config_written = vfio_pci_config_written,
};

static void no_read(void *o, uint64_t off, uint8_t *d, unsigned len) { memset(d, 0, len); }
static void no_write(void *o, uint64_t off, const uint8_t *d, unsigned len) {}
static const struct iobus_ops bar_ops = {.read = no_read, .write = no_write};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	f->fd = make_device();
	f->v.fd = f->fd;
	snprintf(f->v.bdf, sizeof(f->v.bdf), "0000:02:00.0");
	snprintf(f->v.name, sizeof(f->v.name), "vfio-test");
	f->v.cfg_offset = 0;
	f->v.cfg_size = 4096;
	f->v.intx_count = 1;
	f->v.msix_vectors = 5;
	f->v.bars[0].size = 128 << 10;
	f->v.bars[2].size = 32;
	f->v.bars[3].size = 16 << 10;
	pthread_mutex_init(&f->v.irq_lock, NULL);
	assert_int_equal(vfio_pci_config_init(&f->v, &hooks, &bar_ops), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	pci_dev_destroy(&f->v.pci);
	pthread_mutex_destroy(&f->v.irq_lock);
	close(f->fd);
	test_free(f);
	return 0;
}

static uint32_t rd(struct fx *f, unsigned off, unsigned len)
{
	uint32_t v = 0;
	pci_config_read(&f->v.pci, off, (uint8_t *)&v, len);
	return v;
}

static void wr(struct fx *f, unsigned off, uint32_t v, unsigned len)
{
	pci_config_write(&f->v.pci, off, (const uint8_t *)&v, len);
}

static void test_identity_from_device(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, PCI_VENDOR_ID, 2), 0x8086);
	assert_int_equal(rd(f, PCI_DEVICE_ID, 2), 0x10d3);
	assert_int_equal(rd(f, PCI_CLASS_DEVICE, 2), 0x0200);
	assert_int_equal(rd(f, PCI_INTERRUPT_PIN, 1), 1);
	assert_true(f->v.pci.is_express);
}

static void test_capability_chain_filtered(void **state)
{
	struct fx *f = *state;
	assert_true(rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	unsigned seen[8], n = 0;
	for (unsigned off = rd(f, PCI_CAPABILITY_LIST, 1); off && n < 8; off = rd(f, off + 1, 1))
		seen[n++] = off;
	/* PM -> PCIe -> MSI-X; MSI (0x50) unlinked. */
	assert_int_equal(n, 3);
	assert_int_equal(seen[0], CAP_PM);
	assert_int_equal(seen[1], CAP_EXP);
	assert_int_equal(seen[2], CAP_MSIX);
	assert_int_equal(rd(f, CAP_EXP, 1), PCI_CAP_ID_EXP);
	assert_int_equal(rd(f, CAP_MSIX, 1), PCI_CAP_ID_MSIX);
	/* No extended capabilities: AER stays the host's. */
	assert_int_equal(rd(f, 0x100, 4), 0);
}

static void test_bar_sizing(void **state)
{
	struct fx *f = *state;
	wr(f, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(rd(f, PCI_BASE_ADDRESS_0, 4), 0xfffe0000); /* 128 KiB, mem32 */
	wr(f, PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	assert_int_equal(rd(f, PCI_BASE_ADDRESS_2, 4), 0xffffffe1); /* 32 bytes of I/O */
	wr(f, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(rd(f, PCI_BASE_ADDRESS_1, 4), 0);          /* no BAR1 */
	/* The device's own BAR registers are never written. */
	assert_int_equal(get(f->fd, PCI_BASE_ADDRESS_0, 4), 0);
	assert_int_equal(get(f->fd, PCI_BASE_ADDRESS_2, 4), PCI_BASE_ADDRESS_SPACE_IO);
}

static void test_rom_hidden(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, PCI_ROM_ADDRESS, 4), 0);
	wr(f, PCI_ROM_ADDRESS, 0xffffffff, 4);
	assert_int_equal(rd(f, PCI_ROM_ADDRESS, 4), 0);
}

static void test_command_forwarded(void **state)
{
	struct fx *f = *state;
	wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(rd(f, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(get(f->fd, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void test_capability_body_is_the_devices(void **state)
{
	struct fx *f = *state;
	/* A register that changes in the device (PCIe link status) reads live. */
	put(f->fd, CAP_EXP + PCI_EXP_LNKSTA, 0x1011, 2);
	assert_int_equal(rd(f, CAP_EXP + PCI_EXP_LNKSTA, 2), 0x1011);
	/* A write to device control reaches the device. */
	wr(f, CAP_EXP + PCI_EXP_DEVCTL, 0x2810, 2);
	assert_int_equal(get(f->fd, CAP_EXP + PCI_EXP_DEVCTL, 2), 0x2810);
	/* But the link byte is iovirt's: the device's says MSI-X, not 0. */
	put(f->fd, CAP_MSIX + 1, 0x50, 1);
	assert_int_equal(rd(f, CAP_MSIX + 1, 1), 0);
	/* A write that straddles the ID/link and the body: only the body goes. */
	wr(f, CAP_EXP, 0xbeef5555, 4);
	assert_int_equal(get(f->fd, CAP_EXP, 2), PCI_CAP_ID_EXP | CAP_MSIX << 8);
	assert_int_equal(get(f->fd, CAP_EXP + 2, 2), 0xbeef);
}

static void test_msix_capability_is_iovirts(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->v.msix_cap, CAP_MSIX);
	assert_int_equal(msix_init_external(&f->v.msix, &f->v.pci, NULL, 3, CAP_MSIX, 0, 0x2000), 0);
	/* Table size as iovirt routes it (3 of the device's 5), enable clear. */
	assert_int_equal(rd(f, CAP_MSIX + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 2);
	assert_int_equal(rd(f, CAP_MSIX + PCI_MSIX_TABLE, 4), 3);
	/* Enable lands in iovirt's copy, never in the device's config. */
	put(f->fd, CAP_MSIX + PCI_MSIX_FLAGS, 4, 2);
	wr(f, CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_QSIZE, 2);
	assert_int_equal(rd(f, CAP_MSIX + PCI_MSIX_FLAGS, 2), PCI_MSIX_FLAGS_ENABLE | 2);
	assert_int_equal(get(f->fd, CAP_MSIX + PCI_MSIX_FLAGS, 2), 4);
	assert_true(msix_enabled(&f->v.msix));
	msix_destroy(&f->v.msix);
	f->v.msix_cap = 0;
}

static void test_msi_capability_is_iovirts(void **state)
{
	struct fx *f = *state;
	/* The same device where VFIO can drive MSI: a 64-bit, 4-message
	 * MSI with per-vector masking becomes one message, no masking. */
	put(f->fd, CAP_MSI + PCI_MSI_FLAGS,
	    PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1), 2);
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	v->msi_count = 1;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	assert_int_equal(v->msi_cap, CAP_MSI);
	assert_int_equal(pci_cfg_get(&v->pci, CAP_PM + 1, 1), CAP_MSI); /* linked */
	uint16_t flags = 0;
	pci_config_read(&v->pci, CAP_MSI + PCI_MSI_FLAGS, (uint8_t *)&flags, 2);
	assert_int_equal(flags, PCI_MSI_FLAGS_64BIT);
	/* Address, data and enable are writable, in iovirt's copy only. */
	uint32_t addr = 0xfee01004, data = 0x4041, en = PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE;
	pci_config_write(&v->pci, CAP_MSI + PCI_MSI_ADDRESS_LO, (uint8_t *)&addr, 4);
	pci_config_write(&v->pci, CAP_MSI + PCI_MSI_DATA_64, (uint8_t *)&data, 2);
	pci_config_write(&v->pci, CAP_MSI + PCI_MSI_FLAGS, (uint8_t *)&en, 2);
	assert_int_equal(pci_cfg_get(&v->pci, CAP_MSI + PCI_MSI_ADDRESS_LO, 4), 0xfee01004 & ~3u);
	assert_int_equal(pci_cfg_get(&v->pci, CAP_MSI + PCI_MSI_DATA_64, 2), 0x4041);
	/* Only enable: no multi-message. */
	assert_int_equal(pci_cfg_get(&v->pci, CAP_MSI + PCI_MSI_FLAGS, 2),
			 PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
	assert_int_equal(get(f->fd, CAP_MSI + PCI_MSI_ADDRESS_LO, 4), 0);
	pci_dev_destroy(&v->pci);
	test_free(v);
}

static void test_no_intx_without_vfio_irq(void **state)
{
	struct fx *f = *state;
	/* The same device where VFIO reports no INTx: pin 0. */
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	v->bars[0].size = 128 << 10;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	assert_int_equal(pci_cfg_get(&v->pci, PCI_INTERRUPT_PIN, 1), 0);
	pci_dev_destroy(&v->pci);
	test_free(v);
}

static void test_refuses_bridges_and_short_config(void **state)
{
	struct fx *f = *state;
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 64; /* shorter than a legacy config space */
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_true(vfio_pci_config_init(v, &hooks, &bar_ops) < 0);
	put(f->fd, PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE, 1);
	v->cfg_size = 4096;
	assert_true(vfio_pci_config_init(v, &hooks, &bar_ops) < 0);
	test_free(v);
}

static void test_capability_loop_is_bounded(void **state)
{
	struct fx *f = *state;
	/* A device whose chain loops (PCIe -> PM -> ...) still initialises. */
	put(f->fd, CAP_EXP + 1, CAP_PM, 1);
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	unsigned n = 0;
	for (unsigned off = pci_cfg_get(&v->pci, PCI_CAPABILITY_LIST, 1); off && n < 100;
	     off = pci_cfg_get(&v->pci, off + 1, 1))
		n++;
	assert_true(n < 100); /* the guest's walk ends too */
	pci_dev_destroy(&v->pci);
	test_free(v);
}

static void test_overlapping_capability_dropped(void **state)
{
	struct fx *f = *state;
	/* PCIe (0x60, 60 bytes) links to a PM capability inside its own body,
	 * which links on to MSI-X: the overlapping one is left out (its body is
	 * PCIe's, which the guest may write) and the chain goes on past it. */
	const unsigned inside = CAP_EXP + 0x10;
	put(f->fd, CAP_EXP + 1, inside, 1);
	put(f->fd, inside, PCI_CAP_ID_PM | CAP_MSIX << 8, 2);
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	v->msix_vectors = 5;
	v->bars[3].size = 16 << 10;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	unsigned seen[8], n = 0;
	for (unsigned off = pci_cfg_get(&v->pci, PCI_CAPABILITY_LIST, 1); off && n < 8;
	     off = pci_cfg_get(&v->pci, off + 1, 1))
		seen[n++] = off;
	assert_int_equal(n, 3);
	assert_int_equal(seen[0], CAP_PM);
	assert_int_equal(seen[1], CAP_EXP);
	assert_int_equal(seen[2], CAP_MSIX);
	pci_dev_destroy(&v->pci);
	test_free(v);
}

/* A 64-bit MSI capability without per-vector masking is 14 bytes: the
 * PCIe capability right after it (0x50, then 0x60) is kept, not taken for
 * an overlap (MSI was once counted as 24 bytes always). */
static void test_msi_length_from_its_flags(void **state)
{
	struct fx *f = *state;
	put(f->fd, CAP_MSI + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT, 2);
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	v->msi_count = 1;
	v->msix_vectors = 5;
	v->bars[3].size = 16 << 10;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	pthread_mutex_init(&v->irq_lock, NULL);
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	unsigned seen[8], n = 0;
	for (unsigned off = pci_cfg_get(&v->pci, PCI_CAPABILITY_LIST, 1); off && n < 8;
	     off = pci_cfg_get(&v->pci, off + 1, 1))
		seen[n++] = off;
	assert_int_equal(n, 4);
	assert_int_equal(seen[1], CAP_MSI);
	assert_int_equal(seen[2], CAP_EXP);
	assert_true(v->pci.is_express);
	assert_int_equal(vfio_pci_msi_cap_len((const uint8_t[0x60]){[CAP_MSI + 2] = 0x80}, CAP_MSI), 14);
	pci_dev_destroy(&v->pci);
	pthread_mutex_destroy(&v->irq_lock);
	test_free(v);
}

/* An unlinked capability is out of reach by offset too: MSI (VFIO cannot
 * drive it here) and a VPD capability iovirt does not keep read 0 from
 * their offset to the next capability, and writes there never reach the
 * device. Kept capabilities around them are untouched. */
static void test_unlinked_capability_hidden(void **state)
{
	struct fx *f = *state;
	const unsigned vpd = 0xc0;
	put(f->fd, CAP_MSIX + 1, vpd, 1);
	put(f->fd, vpd, PCI_CAP_ID_VPD | 0u << 8 | 0x1234u << 16, 4);
	put(f->fd, vpd + 4, 0xdeadbeef, 4);
	put(f->fd, CAP_MSI + PCI_MSI_ADDRESS_LO, 0xfee00000, 4);
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	v->fd = f->fd;
	v->cfg_size = 4096;
	v->msix_vectors = 5;
	v->bars[3].size = 16 << 10;
	snprintf(v->bdf, sizeof(v->bdf), "0000:02:00.0");
	assert_int_equal(vfio_pci_config_init(v, &hooks, &bar_ops), 0);
	uint32_t x = 0x5a5a5a5a;
	for (unsigned off = CAP_MSI; off < CAP_EXP; off += 4) {
		pci_config_write(&v->pci, off, (uint8_t *)&x, 4);
		uint32_t got = 0xffffffff;
		pci_config_read(&v->pci, off, (uint8_t *)&got, 4);
		assert_int_equal(got, 0);
	}
	for (unsigned off = vpd; off < PCI_CFG_LEGACY_SIZE; off += 4) {
		pci_config_write(&v->pci, off, (uint8_t *)&x, 4);
		uint32_t got = 0xffffffff;
		pci_config_read(&v->pci, off, (uint8_t *)&got, 4);
		assert_int_equal(got, 0);
	}
	/* The device kept its own values. */
	assert_int_equal(get(f->fd, CAP_MSI, 2), PCI_CAP_ID_MSI | CAP_EXP << 8);
	assert_int_equal(get(f->fd, CAP_MSI + PCI_MSI_ADDRESS_LO, 4), 0xfee00000);
	assert_int_equal(get(f->fd, vpd + 4, 4), 0xdeadbeef);
	assert_int_equal(get(f->fd, vpd + 8, 4), 0);
	/* PCIe, right after the hidden MSI, is still the device's. */
	put(f->fd, CAP_EXP + PCI_EXP_LNKSTA, 0x1011, 2);
	uint16_t lnk = 0;
	pci_config_read(&v->pci, CAP_EXP + PCI_EXP_LNKSTA, (uint8_t *)&lnk, 2);
	assert_int_equal(lnk, 0x1011);
	pci_dev_destroy(&v->pci);
	test_free(v);
}

/* ---- the device contract ---- */

struct seen {
	uint64_t exits, interrupts;
	int n;
};

static void seen_emit(void *opaque, const char *device, const char *scope, const char *name,
		      uint64_t value)
{
	struct seen *s = opaque;
	assert_string_equal(device, "vfio-pci0");
	assert_string_equal(scope, "");
	if (!strcmp(name, "exits"))
		s->exits = value;
	if (!strcmp(name, "interrupts"))
		s->interrupts = value;
	s->n++;
}

static void save_it(void *arg)
{
	struct vfio_pci *v = arg;
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(&v->dev, &w), -ENOTSUP);
	state_writer_free(&w);
}

/* Counters come from the PCI function and the interrupt routes; save and
 * load are refused with one line naming the device and why. */
static void test_contract_counters_and_refused_state(void **state)
{
	(void)state;
	struct vfio_pci *v = test_calloc(1, sizeof(*v));
	snprintf(v->bdf, sizeof(v->bdf), "0000:01:00.1");
	v->fd = -1;
	vfio_pci_device_init(v);
	snprintf(v->dev.id, sizeof(v->dev.id), "vfio-pci0");
	assert_string_equal(v->dev.ops->kind, "vfio-pci");
	counter_add(&v->pci.exits, 7);
	counter_add(&v->dev.counters.interrupts, 3);
	struct seen s = {0};
	struct counter_sink sink = {seen_emit, &s};
	device_counters(&v->dev, &sink);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.exits, 7);
	assert_int_equal(s.interrupts, 3);
	device_reset(&v->dev); /* no reset on this device: nothing to do, no crash */

	char *err = capture_stderr(save_it, v);
	assert_non_null(strstr(err, "vfio-pci0"));
	assert_non_null(strstr(err, "0000:01:00.1"));
	assert_non_null(strstr(err, "VFIO_DEVICE_FEATURE_MIGRATION"));
	assert_int_equal(count_occurrences(err, "\n"), 1);
	free(err);

	static const uint8_t junk[16];
	struct state_reader r;
	state_reader_init(&r, junk, sizeof(junk), "vfio-pci0");
	assert_int_equal(device_load(&v->dev, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "vfio-pci0"));
	assert_non_null(strstr(state_error(&r), "VFIO_DEVICE_FEATURE_MIGRATION"));
	test_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_counters_and_refused_state),
		cmocka_unit_test_setup_teardown(test_identity_from_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_chain_filtered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rom_hidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_body_is_the_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_capability_is_iovirts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_capability_is_iovirts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_intx_without_vfio_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bridges_and_short_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_loop_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlapping_capability_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_length_from_its_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlinked_capability_hidden, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
