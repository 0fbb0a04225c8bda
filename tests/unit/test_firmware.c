/* Firmware boot's parts: fw_cfg as SeaBIOS drives it (ports and DMA, and
 * hostile descriptors), the ACPI table-loader script (run here as SeaBIOS
 * runs it: the tables it leaves are byte for byte a direct boot's at the
 * same address), the e820 and CMOS contents, the image's low copy and the
 * debug console's lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_loader.h"
#include "arch/x86/firmware.h"
#include "devices/acpi_pm.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"

static uint32_t rd32(const uint8_t *p) { return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16) | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- fw_cfg ---- */

#define RAM_SIZE 0x10000
static uint8_t ram[RAM_SIZE];
static struct guest_mem mem;

static struct fw_cfg *make_cfg(void)
{
	guest_mem_init_empty(&mem);
	assert_int_equal(guest_mem_add_region(&mem, 0, ram, RAM_SIZE), 0);
	memset(ram, 0, sizeof(ram));
	struct fw_cfg *c = fw_cfg_create(&mem);
	assert_non_null(c);
	return c;
}

static void select_key(struct fw_cfg *c, uint16_t key)
{
	uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
	fw_cfg_ops.write(c, 0, d, 2);
}

static uint8_t data_byte(struct fw_cfg *c)
{
	uint8_t b;
	fw_cfg_ops.read(c, 1, &b, 1);
	return b;
}

/* A DMA descriptor at gpa, started as SeaBIOS does (low half written). */
static uint32_t dma(struct fw_cfg *c, uint64_t gpa, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *d = ram + gpa;
	put_be32(d, control);
	put_be32(d + 4, len);
	put_be32(d + 8, (uint32_t)(addr >> 32));
	put_be32(d + 12, (uint32_t)addr);
	uint8_t a[4];
	put_be32(a, (uint32_t)gpa);
	fw_cfg_ops.write(c, 8, a, 4);
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

static void test_fw_cfg_ports(void **state)
{
	(void)state;
	struct fw_cfg *c = make_cfg();
	select_key(c, FW_CFG_SIGNATURE);
	char sig[5] = {0};
	for (int i = 0; i < 4; i++)
		sig[i] = (char)data_byte(c);
	assert_string_equal(sig, "QEMU");
	assert_int_equal(data_byte(c), 0); /* past the end: zeros */
	select_key(c, FW_CFG_ID);
	assert_int_equal(data_byte(c), 3); /* traditional + DMA */
	select_key(c, 0x1234);             /* nothing there */
	assert_int_equal(data_byte(c), 0);
	uint8_t s[8];
	fw_cfg_ops.read(c, 4, s, 8);
	assert_memory_equal(s, "QEMU CFG", 8);

	/* The file directory lists files by name with their keys. */
	assert_int_equal(fw_cfg_add_file(c, "etc/one", "abc", 3), 0);
	assert_int_equal(fw_cfg_add_file(c, "etc/two", "hello", 5), 0);
	assert_int_equal(fw_cfg_add_file(c, "etc/one", "x", 1), -EEXIST);
	char longname[80];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(fw_cfg_add_file(c, longname, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item(c, FW_CFG_FILE_DIR, "x", 1), -EINVAL);
	select_key(c, FW_CFG_FILE_DIR);
	uint8_t dir[4 + 2 * 64];
	for (size_t i = 0; i < sizeof(dir); i++)
		dir[i] = data_byte(c);
	assert_int_equal(dir[3], 2);
	assert_int_equal(dir[4 + 3], 3);                      /* size of etc/one */
	assert_int_equal(dir[4 + 4] << 8 | dir[4 + 5], 0x20); /* its key */
	assert_string_equal((char *)dir + 4 + 8, "etc/one");
	assert_int_equal(dir[4 + 64 + 4] << 8 | dir[4 + 64 + 5], 0x21);
	assert_string_equal((char *)dir + 4 + 64 + 8, "etc/two");
	select_key(c, 0x21);
	assert_int_equal(data_byte(c), 'h');
	fw_cfg_destroy(c);
}

static void test_fw_cfg_dma(void **state)
{
	(void)state;
	struct fw_cfg *c = make_cfg();
	assert_int_equal(fw_cfg_add_file(c, "etc/data", "0123456789", 10), 0);
	/* select + read 4 bytes into 0x2000 */
	assert_int_equal(dma(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4,
			     0x2000), 0);
	assert_memory_equal(ram + 0x2000, "0123", 4);
	/* skip 2, read 3 more */
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_SKIP, 2, 0), 0);
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, 3, 0x2010), 0);
	assert_memory_equal(ram + 0x2010, "678", 3);
	/* past the end: the last byte, then zeros (as QEMU) */
	memset(ram + 0x2020, 0xEE, 8);
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, 4, 0x2020), 0);
	assert_int_equal(ram[0x2020], '9');
	assert_int_equal(ram[0x2021], 0);
	assert_int_equal(ram[0x2023], 0);
	assert_int_equal(ram[0x2024], 0xEE);
	/* an item that does not exist reads as zeros (SeaBIOS's NUMA count) */
	memset(ram + 0x2020, 0xEE, 8);
	assert_int_equal(dma(c, 0x1000, 0x0du << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 8,
			     0x2020), 0);
	assert_int_equal(ram[0x2020], 0);
	assert_int_equal(ram[0x2027], 0);
	/* but not more zeros than FW_CFG_DMA_ZERO_MAX */
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, FW_CFG_DMA_ZERO_MAX + 1, 0x4000),
			 FW_CFG_DMA_ERROR);
	/* into memory that is not RAM: the error bit */
	assert_int_equal(dma(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4,
			     RAM_SIZE - 2), FW_CFG_DMA_ERROR);
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, 4, 0xffffffff00000000ULL),
			 FW_CFG_DMA_ERROR);
	/* writes: nothing is writable */
	assert_int_equal(dma(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE, 4,
			     0x2000), FW_CFG_DMA_ERROR);
	/* a skip past the end stops at the end; a huge length writes nothing */
	assert_int_equal(dma(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP,
			     0xffffffff, 0), 0);
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, 0xffffffff, 0), FW_CFG_DMA_ERROR);
	assert_int_equal(dma(c, 0x1000, FW_CFG_DMA_READ, 16, 0xfffffffffffffff8ULL),
			 FW_CFG_DMA_ERROR);
	/* a descriptor outside RAM is dropped; the device goes on */
	uint8_t a[4];
	put_be32(a, 0xfffffff0);
	fw_cfg_ops.write(c, 8, a, 4);
	put_be32(a, 1);
	fw_cfg_ops.write(c, 4, a, 4); /* high half latched ... */
	put_be32(a, 0x1000);
	fw_cfg_ops.write(c, 8, a, 4); /* ... so 0x1_00001000: outside */
	assert_int_equal(dma(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 1,
			     0x2030), 0);
	assert_int_equal(ram[0x2030], '0');
	fw_cfg_destroy(c);
}

/* ---- the ACPI table loader, run as SeaBIOS runs it ---- */

#define FSEG_ADDR 0xF5A40u
#define HIGH_ADDR 0x0FFF0000u

static uint8_t direct[ACPI_TABLES_MAX], linked[ACPI_TABLES_MAX];
static uint8_t script[ACPI_LOADER_MAX_LEN];

struct loaded_file {
	const char *name;
	uint8_t *data;
	uint32_t addr;
};

static struct loaded_file *file_named(struct loaded_file *f, const uint8_t *name)
{
	for (int i = 0; i < 2; i++)
		if (!strncmp((const char *)name, f[i].name, 56))
			return &f[i];
	fail_msg("the script names an unknown file %.56s", name);
	return NULL;
}

static void test_acpi_loader_gives_direct_boot_tables(void **state)
{
	(void)state;
	struct acpi_pci pci = {.ecam_base = 0xE0000000, .io_base = 0xC000, .io_size = 0x4000,
			       .mmio32_base = 0xC0000000, .mmio32_size = 0x20000000,
			       .mmio32_fw_base = 0xE0100000, .mmio32_fw_size = 0x1EB00000,
			       .mmio64_base = 0x100000000ULL, .mmio64_size = 1ULL << 36,
			       .intx_gsi_base = 16, .intx_gsi_count = 8};
	struct acpi_config cfg = {.ncpus = 3, .pm_base = ACPI_PM_BASE, .sci_irq = 9, .pci = &pci};
	struct acpi_links links;
	long n = acpi_build_linked(linked, sizeof(linked), &cfg, &links);
	assert_true(n > 0);
	assert_true(links.nptr >= 5 && links.nsum >= 5);
	size_t len = acpi_loader_script(&links, script);
	assert_int_equal(len % ACPI_LOADER_ENTRY_LEN, 0);

	static uint8_t rsdp_file[ACPI_RSDP_LEN], tables_file[ACPI_TABLES_MAX];
	memcpy(rsdp_file, linked, ACPI_RSDP_LEN);
	memcpy(tables_file, linked, (size_t)n);
	memset(tables_file, 0, ACPI_RSDP_LEN);
	struct loaded_file files[2] = {{ACPI_LOADER_RSDP, rsdp_file, 0},
				       {ACPI_LOADER_TABLES, tables_file, 0}};
	for (size_t off = 0; off < len; off += ACPI_LOADER_ENTRY_LEN) {
		const uint8_t *e = script + off;
		uint32_t cmd = rd32(e);
		if (cmd == 1) { /* ALLOCATE: zone 2 = F segment */
			struct loaded_file *f = file_named(files, e + 4);
			f->addr = e[4 + 60] == 2 ? FSEG_ADDR : HIGH_ADDR;
			assert_int_equal(f->addr % rd32(e + 4 + 56), 0);
		} else if (cmd == 2) { /* ADD_POINTER */
			struct loaded_file *dst = file_named(files, e + 4);
			struct loaded_file *src = file_named(files, e + 4 + 56);
			uint32_t at = rd32(e + 4 + 112);
			uint8_t size = e[4 + 116];
			assert_true(src->addr != 0);
			uint64_t v = size == 8 ? rd64(dst->data + at) : rd32(dst->data + at);
			v += src->addr;
			for (unsigned i = 0; i < size; i++)
				dst->data[at + i] = (uint8_t)(v >> (8 * i));
		} else if (cmd == 3) { /* ADD_CHECKSUM */
			struct loaded_file *f = file_named(files, e + 4);
			uint32_t at = rd32(e + 4 + 56), start = rd32(e + 4 + 60), l = rd32(e + 4 + 64);
			uint8_t s = 0;
			for (uint32_t i = 0; i < l; i++)
				s = (uint8_t)(s + f->data[start + i]);
			f->data[at] = (uint8_t)(f->data[at] - s);
		} else {
			fail_msg("unknown loader command %u", cmd);
		}
	}
	/* The tables where the firmware put them are a direct boot's at
	 * that address; the RSDP in the F segment is its RSDP. */
	assert_int_equal(acpi_build(direct, sizeof(direct), HIGH_ADDR, &cfg), n);
	assert_memory_equal(tables_file + ACPI_RSDP_LEN, direct + ACPI_RSDP_LEN,
			    (size_t)n - ACPI_RSDP_LEN);
	assert_memory_equal(rsdp_file, direct, ACPI_RSDP_LEN);
}

/* ---- the image, e820, CMOS ---- */

static void test_firmware_image_rules(void **state)
{
	(void)state;
	assert_null(firmware_size_problem(256 << 10));
	assert_null(firmware_size_problem(128 << 10));
	assert_non_null(firmware_size_problem(0));
	assert_non_null(firmware_size_problem(4096));
	assert_non_null(firmware_size_problem((256 << 10) + 512));
	assert_non_null(firmware_size_problem(32u << 20));
	assert_int_equal(firmware_rom_gpa(256 << 10), 0xFFFC0000ULL);

	static uint8_t low[2 << 20], image[512 << 10];
	struct guest_mem m;
	guest_mem_init_empty(&m);
	assert_int_equal(guest_mem_add_region(&m, 0, low, sizeof(low)), 0);
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7);
	/* the last 256 KiB end at 1 MiB; nothing below them is touched */
	assert_int_equal(firmware_load_low(&m, image, sizeof(image)), 0);
	assert_memory_equal(low + 0xC0000, image + sizeof(image) - (256 << 10), 256 << 10);
	assert_int_equal(low[0xBFFFF], 0);
	/* RAM below 1 MiB only: refused */
	struct guest_mem tiny;
	guest_mem_init_empty(&tiny);
	assert_int_equal(guest_mem_add_region(&tiny, 0, low, 0x80000), 0);
	assert_int_equal(firmware_load_low(&tiny, image, sizeof(image)), -EFAULT);
}

static uint8_t cmos[128];
static void set_cmos(void *opaque, uint8_t index, uint8_t value)
{
	(void)opaque;
	cmos[index] = value;
}

static void test_firmware_e820_and_cmos(void **state)
{
	(void)state;
	/* 3 GiB below the hole and 1 GiB above 4 GiB, described only */
	struct guest_mem m;
	guest_mem_init_empty(&m);
	m.regions[0] = (struct guest_mem_region){0, 3ULL << 30, NULL};
	m.regions[1] = (struct guest_mem_region){1ULL << 32, 1ULL << 30, NULL};
	m.nr_regions = 2;
	struct boot_e820_extra ecam = {0xE0000000, 1 << 20, 2};
	uint8_t e[FIRMWARE_E820_MAX * FIRMWARE_E820_ENTRY_LEN];
	long len = firmware_e820(&m, &ecam, 1, 256 << 10, e);
	assert_int_equal(len, 4 * FIRMWARE_E820_ENTRY_LEN);
	assert_int_equal(rd64(e + 8), 3ULL << 30);
	assert_int_equal(rd32(e + 16), 1);
	assert_int_equal(rd64(e + 20), 1ULL << 32);
	assert_int_equal(rd64(e + 40), 0xE0000000);
	assert_int_equal(rd32(e + 56), 2);
	assert_int_equal(rd64(e + 60), 0xFFFC0000);
	assert_int_equal(rd64(e + 68), 256 << 10);

	memset(cmos, 0, sizeof(cmos));
	firmware_cmos(&m, 4, set_cmos, NULL);
	assert_int_equal(cmos[0x15] | cmos[0x16] << 8, 640);
	assert_int_equal(cmos[0x17] | cmos[0x18] << 8, 0xffff);        /* capped */
	assert_int_equal(cmos[0x34] | cmos[0x35] << 8, ((3u << 30) - (16u << 20)) >> 16);
	assert_int_equal(cmos[0x5b] | cmos[0x5c] << 8 | cmos[0x5d] << 16, (1u << 30) >> 16);
	assert_int_equal(cmos[0x5f], 3);
}

/* ---- the debug console ---- */

static char lines[4][DEBUGCON_LINE_MAX + 1];
static int nlines;
static void on_line(void *opaque, const char *line)
{
	(void)opaque;
	if (nlines < 4)
		snprintf(lines[nlines], sizeof(lines[0]), "%s", line);
	nlines++;
}

static void put(struct debugcon *d, const char *s)
{
	for (; *s; s++)
		debugcon_ops.write(d, 0, (const uint8_t *)s, 1);
}

static void test_debugcon_lines(void **state)
{
	(void)state;
	struct debugcon *d = debugcon_create(on_line, NULL);
	assert_non_null(d);
	uint8_t b;
	debugcon_ops.read(d, 0, &b, 1);
	assert_int_equal(b, DEBUGCON_READBACK);
	nlines = 0;
	put(d, "No bootable device.\r\nnext\x01line\n");
	assert_int_equal(nlines, 2);
	assert_string_equal(lines[0], "No bootable device.");
	assert_string_equal(lines[1], "next.line");
	/* a line without end comes in bounded pieces */
	nlines = 0;
	for (int i = 0; i < 3 * DEBUGCON_LINE_MAX; i++)
		put(d, "x");
	assert_int_equal(nlines, 3);
	assert_int_equal(strlen(lines[0]), DEBUGCON_LINE_MAX);
	debugcon_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fw_cfg_ports),
		cmocka_unit_test(test_fw_cfg_dma),
		cmocka_unit_test(test_acpi_loader_gives_direct_boot_tables),
		cmocka_unit_test(test_firmware_image_rules),
		cmocka_unit_test(test_firmware_e820_and_cmos),
		cmocka_unit_test(test_debugcon_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
