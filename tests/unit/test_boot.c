/* bzImage loading into fake RAM: boot_params (command line, initrd, RSDP, e820),
 * identity page tables, GDT, entry registers, and every refusal path. */
#include <asm/bootparam.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/boot.h"

#define MiB (1ULL << 20)
#define HDR_OFF 0x1f1
#define SETUP_SECTS 4
#define PM_SIZE 8192
#define INIT_SIZE (16 * MiB)
#define KERNEL_SIZE ((SETUP_SECTS + 1) * 512 + PM_SIZE)
#define E820_RAM 1
#define E820_RESERVED 2

struct fixture {
	uint8_t kernel[KERNEL_SIZE];
	uint8_t *ram;
	uint64_t ram_size;
	struct guest_mem mem;
	struct boot_image img;
	struct boot_entry entry;
	struct boot_params bp;
};

/* The setup header as laid out in the image, for editing. */
static struct setup_header get_hdr(const struct fixture *f)
{
	struct setup_header h;
	memcpy(&h, f->kernel + HDR_OFF, sizeof(h));
	return h;
}

static void put_hdr(struct fixture *f, const struct setup_header *h)
{
	memcpy(f->kernel + HDR_OFF, h, sizeof(*h));
}

static struct fixture *fixture_new(uint64_t ram_size)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram_size = ram_size;
	f->ram = calloc(1, ram_size);
	assert_non_null(f->ram);
	guest_mem_init_empty(&f->mem);
	assert_int_equal(guest_mem_add_region(&f->mem, 0, f->ram, ram_size), 0);
	memset(f->ram, 0xa5, 0x30000); /* the loader must not rely on zeroed RAM */
	for (size_t i = 0; i < PM_SIZE; i++) /* protected-mode code pattern */
		f->kernel[(SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 3);
	struct setup_header h = {
		.setup_sects = SETUP_SECTS, .boot_flag = 0xAA55, .header = 0x53726448, /* "HdrS" */
		.version = 0x020f, .loadflags = LOADED_HIGH, .xloadflags = XLF_KERNEL_64,
		.init_size = INIT_SIZE, .cmdline_size = 2047, .initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000, .relocatable_kernel = 1, .handover_offset = 0x190,
	};
	put_hdr(f, &h);
	/* The jump at 0x200: "jmp short", its target ends the header. */
	f->kernel[0x200] = 0xeb;
	f->kernel[0x201] = (uint8_t)(HDR_OFF + sizeof(struct setup_header) - 0x202);
	f->img = (struct boot_image){
		.kernel = f->kernel, .kernel_size = KERNEL_SIZE,
		.cmdline = "console=ttyS0 root=/dev/vda",
	};
	return f;
}

static void fixture_free(struct fixture *f)
{
	free(f->ram);
	free(f);
}

static int load(struct fixture *f)
{
	memset(&f->entry, 0, sizeof(f->entry));
	int ret = boot_load_linux(&f->mem, &f->img, "bzImage", "initrd", &f->entry);
	if (ret == 0)
		assert_int_equal(guest_mem_read(&f->mem, BOOT_PARAMS_GPA, &f->bp, sizeof(f->bp)), 0);
	return ret;
}

static uint64_t rd64(const struct fixture *f, uint64_t gpa)
{
	uint64_t v;
	assert_int_equal(guest_mem_read(&f->mem, gpa, &v, sizeof(v)), 0);
	return v;
}

/* The initrd: page aligned, above the kernel's footprint, as high as allowed
 * (ending within a page of top), copied whole. */
static void check_initrd(const struct fixture *f, const uint8_t *data, size_t size, uint64_t top)
{
	uint64_t rd = f->bp.hdr.ramdisk_image | (uint64_t)f->bp.ext_ramdisk_image << 32;
	assert_int_equal(f->bp.hdr.ramdisk_size, size);
	assert_int_equal(f->bp.ext_ramdisk_size, 0);
	assert_int_equal(rd & 0xfff, 0);
	assert_true(rd >= BOOT_KERNEL_RUN_GPA + INIT_SIZE);
	assert_true(rd + size <= top && rd + size + 4096 > top);
	assert_memory_equal(f->ram + rd, data, size);
}

static void test_boot_params(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	static uint8_t initrd[3 * 4096 + 100];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	f->img.initrd = initrd;
	f->img.initrd_size = sizeof(initrd);
	f->img.rsdp_gpa = 0xE0000;
	assert_int_equal(load(f), 0);
	const struct boot_params *bp = &f->bp;
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.init_size, INIT_SIZE);
	assert_int_equal(bp->hdr.handover_offset, 0x190);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_int_equal(bp->hdr.code32_start, BOOT_KERNEL_GPA);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_memory_equal(f->ram + BOOT_CMDLINE_GPA, f->img.cmdline, strlen(f->img.cmdline) + 1);
	/* The protected-mode kernel sits at 1 MiB, setup code stripped. */
	assert_memory_equal(f->ram + BOOT_KERNEL_GPA, f->kernel + (SETUP_SECTS + 1) * 512, PM_SIZE);
	check_initrd(f, initrd, sizeof(initrd), f->ram_size); /* RAM top < initrd_addr_max */
	assert_int_equal(bp->acpi_rsdp_addr, 0xE0000);
	fixture_free(f);
}

static void test_header_cut_by_jump(void **state)
{
	/* A header that ends at init_size (jump says so): later fields in the
	 * image are not the header's and must not be copied. */
	struct fixture *f = fixture_new(64 * MiB);
	f->kernel[0x201] = (uint8_t)(0x264 - 0x202);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->bp.hdr.init_size, INIT_SIZE);
	assert_int_equal(f->bp.hdr.handover_offset, 0);
	assert_int_equal(f->bp.hdr.ramdisk_image, 0);
	assert_int_equal(f->bp.hdr.ramdisk_size, 0);
	assert_int_equal(f->bp.acpi_rsdp_addr, 0);
	fixture_free(f);
}

static void test_initrd_addr_max(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	struct setup_header h = get_hdr(f);
	h.initrd_addr_max = 48 * MiB - 1;
	put_hdr(f, &h);
	static uint8_t initrd[10000];
	f->img.initrd = initrd;
	f->img.initrd_size = sizeof(initrd);
	assert_int_equal(load(f), 0);
	check_initrd(f, initrd, sizeof(initrd), 48 * MiB);
	fixture_free(f);
}

static void test_e820(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	const struct boot_e820_extra extra[] = {
		{0xB0000000ULL, 0x10000000ULL, E820_RESERVED},
		{0xFEE00000ULL, 0x1000, E820_RESERVED},
	};
	f->img.e820_extra = extra;
	f->img.nr_e820_extra = 2;
	assert_int_equal(load(f), 0);
	const struct boot_e820_entry want[] = {
		{0, BOOT_EBDA_GPA, E820_RAM},
		{BOOT_EBDA_GPA, 0xA0000 - BOOT_EBDA_GPA, E820_RESERVED},
		{BOOT_BIOS_GPA, 0x100000 - BOOT_BIOS_GPA, E820_RESERVED}, /* ACPI tables */
		{BOOT_KERNEL_GPA, f->ram_size - BOOT_KERNEL_GPA, E820_RAM},
		{extra[0].addr, extra[0].size, extra[0].type}, /* extras appended as given */
		{extra[1].addr, extra[1].size, extra[1].type},
	};
	const unsigned n = sizeof(want) / sizeof(want[0]);
	assert_int_equal(f->bp.e820_entries, n);
	for (unsigned i = 0; i < n; i++) {
		const struct boot_e820_entry *e = &f->bp.e820_table[i];
		assert_int_equal(e->addr, want[i].addr);
		assert_int_equal(e->size, want[i].size);
		assert_int_equal(e->type, want[i].type);
		if (i > 0) /* sorted and disjoint */
			assert_true(e[-1].addr + e[-1].size <= e->addr);
	}
	fixture_free(f);
}

static void test_page_tables_gdt_entry(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.rip, 0x100000 + 0x200);
	assert_int_equal(f->entry.rsi, BOOT_PARAMS_GPA);
	assert_int_equal(f->entry.cr3, BOOT_PML4_GPA);
	assert_int_equal(f->entry.rsp, BOOT_STACK_GPA);
	assert_int_equal(f->entry.gdt_base, BOOT_GDT_GPA);
	assert_int_equal(f->entry.gdt_limit, 5 * 8 - 1);
	uint64_t pml4e = rd64(f, BOOT_PML4_GPA);
	assert_int_equal(pml4e & 0x3, 0x3);
	assert_int_equal(pml4e & ~0xfffULL, BOOT_PDPT_GPA);
	assert_int_equal(rd64(f, BOOT_PML4_GPA + 8), 0);
	/* Translate addresses through the tables: identity over 0..4 GiB. */
	const uint64_t probes[] = {0, 0x1234567, 0x7fffffff, 0xC0000000, 0xFEE00000, 0xFFFFFFFF};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t va = probes[i];
		uint64_t pdpte = rd64(f, (pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8);
		assert_int_equal(pdpte & 0x83, 0x3); /* present, writable, not 1G page */
		uint64_t pde = rd64(f, (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8);
		assert_int_equal(pde & 0x83, 0x83);
		assert_int_equal((pde & ~0x1fffffULL & ((1ULL << 52) - 1)) | (va & 0x1fffff), va);
	}
	assert_int_equal(rd64(f, BOOT_PDPT_GPA + 4 * 8), 0); /* nothing above 4 GiB */
	/* GDT: null, null, 64-bit code at BOOT_CS, data at BOOT_DS. */
	assert_int_equal(rd64(f, BOOT_GDT_GPA), 0);
	const uint64_t P = 1ULL << 47, L = 1ULL << 53, D = 1ULL << 54, CODE = 1ULL << 43;
	assert_int_equal(rd64(f, BOOT_GDT_GPA + BOOT_CS) & (P | L | D | CODE), P | L | CODE);
	assert_int_equal(rd64(f, BOOT_GDT_GPA + BOOT_DS) & (P | L | CODE), P);
	fixture_free(f);
}

/* Each refusal: negative return, no crash, the entry untouched. */
static void expect_refused(struct fixture *f, int err)
{
	f->entry.rip = 0xdead;
	int ret = boot_load_linux(&f->mem, &f->img, "bzImage", "initrd", &f->entry);
	assert_int_equal(ret, err);
	assert_int_equal(f->entry.rip, 0xdead);
}

/* Edits one header field of a good image and expects -EINVAL. */
#define REFUSE_WITH(edit)                                                      \
	do { struct setup_header h = good; edit; put_hdr(f, &h); expect_refused(f, -EINVAL); } while (0)

static void test_bad_images(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	const struct setup_header good = get_hdr(f);

	for (size_t size = 0; size < 0x26c; size += 0x101) { /* too small for a header */
		f->img.kernel_size = size;
		expect_refused(f, -EINVAL);
	}
	f->img.kernel_size = KERNEL_SIZE;
	REFUSE_WITH(h.header = 0x12345678);
	REFUSE_WITH(h.boot_flag = 0);
	REFUSE_WITH(h.version = 0x0205);
	REFUSE_WITH(h.xloadflags = 0);
	REFUSE_WITH(h.loadflags = 0);
	REFUSE_WITH(h.setup_sects = 200); /* 201 * 512 > KERNEL_SIZE */
	REFUSE_WITH(h.setup_sects = KERNEL_SIZE / 512 - 1); /* setup ends exactly at EOF */

	put_hdr(f, &good);
	assert_int_equal(load(f), 0); /* sanity: the same image otherwise loads */
	fixture_free(f);
}

static void test_cmdline_too_long(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	struct setup_header h = get_hdr(f);
	h.cmdline_size = 8;
	put_hdr(f, &h);
	f->img.cmdline = "12345678"; /* exactly cmdline_size: accepted */
	assert_int_equal(load(f), 0);
	assert_string_equal((const char *)f->ram + BOOT_CMDLINE_GPA, "12345678");
	f->img.cmdline = "123456789";
	expect_refused(f, -E2BIG);

	h.cmdline_size = 0xffffffff; /* the loader's own limit still applies */
	put_hdr(f, &h);
	char *big = calloc(1, BOOT_CMDLINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', BOOT_CMDLINE_MAX);
	f->img.cmdline = big;
	expect_refused(f, -E2BIG);
	free(big);
	fixture_free(f);
}

static void test_does_not_fit(void **state)
{
	/* init_size 16 MiB at 16 MiB: the kernel needs 32 MiB. */
	struct fixture *f = fixture_new(24 * MiB);
	expect_refused(f, -ENOMEM);
	fixture_free(f);

	f = fixture_new(40 * MiB);
	uint8_t *initrd = calloc(1, 10 * MiB);
	assert_non_null(initrd);
	f->img.initrd = initrd;
	f->img.initrd_size = 10 * MiB; /* would start at 30 MiB, inside the kernel */
	expect_refused(f, -ENOMEM);
	f->img.initrd_size = 8 * MiB; /* fits exactly above 32 MiB */
	assert_int_equal(load(f), 0);
	assert_int_equal(f->bp.hdr.ramdisk_image, 32 * MiB);
	free(initrd);
	fixture_free(f);
	f = fixture_new(32 * MiB); /* exactly enough for the kernel alone */
	assert_int_equal(load(f), 0);
	fixture_free(f);
}

static void test_read_file(void **state)
{
	uint8_t *data = NULL;
	size_t size = 0;
	assert_int_equal(boot_read_file("/nonexistent/bzImage", "kernel", &data, &size), -ENOENT);
	assert_null(data);
	assert_int_equal(boot_read_file("/", "kernel", &data, &size), -EINVAL);
	assert_null(data);
	char path[] = "/tmp/iovirt-test-boot-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "not really a kernel";
	assert_int_equal(write(fd, text, sizeof(text)), (ssize_t)sizeof(text));
	close(fd);
	assert_int_equal(boot_read_file(path, "kernel", &data, &size), 0);
	unlink(path);
	assert_int_equal(size, sizeof(text));
	assert_memory_equal(data, text, sizeof(text));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_params),
		cmocka_unit_test(test_header_cut_by_jump),
		cmocka_unit_test(test_initrd_addr_max),
		cmocka_unit_test(test_e820),
		cmocka_unit_test(test_page_tables_gdt_entry),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_cmdline_too_long),
		cmocka_unit_test(test_does_not_fit),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
