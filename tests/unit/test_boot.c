/* bzImage loading: a fake bzImage and fake guest RAM; checks boot_params
 * (loader type, command line, initrd placement, RSDP, e820), the identity
 * page tables, the GDT, the entry registers, and every refusal path. */
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

/* Reads back the header as laid out in the image, edits it, writes it. */
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

	for (size_t i = 0; i < PM_SIZE; i++) /* protected-mode code pattern */
		f->kernel[(SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 3);
	struct setup_header h = {0};
	h.setup_sects = SETUP_SECTS;
	h.boot_flag = 0xAA55;
	h.header = 0x53726448; /* "HdrS" */
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.xloadflags = XLF_KERNEL_64;
	h.init_size = INIT_SIZE;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.handover_offset = 0x190;
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
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.init_size, INIT_SIZE);
	assert_int_equal(bp->hdr.handover_offset, 0x190);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_int_equal(bp->hdr.code32_start, BOOT_KERNEL_GPA);

	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	const char *want = f->img.cmdline;
	const char *got = guest_mem_ptr(&f->mem, bp->hdr.cmd_line_ptr, strlen(want) + 1);
	assert_non_null(got);
	assert_string_equal(got, want);

	/* The protected-mode kernel sits at 1 MiB, setup code stripped. */
	assert_memory_equal(f->ram + BOOT_KERNEL_GPA, f->kernel + (SETUP_SECTS + 1) * 512, PM_SIZE);

	uint64_t rd = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;
	assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_int_equal(rd & 0xfff, 0);
	assert_true(rd >= BOOT_KERNEL_RUN_GPA + INIT_SIZE);
	assert_true(rd + sizeof(initrd) <= f->ram_size);
	assert_true(rd + sizeof(initrd) - 1 <= 0x7fffffff);
	/* "As high as allowed": within a page of the top of RAM. */
	assert_true(rd + sizeof(initrd) + 4096 > f->ram_size);
	assert_memory_equal(f->ram + rd, initrd, sizeof(initrd));

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
	uint64_t rd = f->bp.hdr.ramdisk_image;
	assert_int_equal(rd & 0xfff, 0);
	assert_true(rd + sizeof(initrd) <= 48 * MiB);
	assert_true(rd + sizeof(initrd) + 4096 > 48 * MiB);
	assert_true(rd >= BOOT_KERNEL_RUN_GPA + INIT_SIZE);
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
	const struct boot_params *bp = &f->bp;
	unsigned n = bp->e820_entries;
	assert_true(n >= 5 && n <= E820_MAX_ENTRIES_ZEROPAGE);

	int ram_low = 0, ram_high = 0, bios = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = bp->e820_table[i].addr, s = bp->e820_table[i].size;
		uint32_t t = bp->e820_table[i].type;
		assert_true(s > 0);
		if (i > 0) /* sorted and disjoint */
			assert_true(bp->e820_table[i - 1].addr + bp->e820_table[i - 1].size <= a);
		if (t == E820_RAM) {
			/* RAM never covers the EBDA or the BIOS area. */
			assert_true(a + s <= BOOT_EBDA_GPA || a >= BOOT_KERNEL_GPA);
			if (a == 0 && s == BOOT_EBDA_GPA)
				ram_low++;
			if (a == BOOT_KERNEL_GPA && s == f->ram_size - BOOT_KERNEL_GPA)
				ram_high++;
		}
		if (t == E820_RESERVED && a == BOOT_BIOS_GPA && s == 0x20000)
			bios++;
	}
	assert_int_equal(ram_low, 1);
	assert_int_equal(ram_high, 1);
	assert_int_equal(bios, 1);
	/* The extras come last, as given. */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(bp->e820_table[n - 2 + i].addr, extra[i].addr);
		assert_int_equal(bp->e820_table[n - 2 + i].size, extra[i].size);
		assert_int_equal(bp->e820_table[n - 2 + i].type, extra[i].type);
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
	uint64_t cs = rd64(f, BOOT_GDT_GPA + BOOT_CS);
	assert_true(cs & (1ULL << 47));      /* present */
	assert_true(cs & (1ULL << 53));      /* L */
	assert_false(cs & (1ULL << 54));     /* D clear for 64-bit code */
	assert_true(cs & (1ULL << 43));      /* code */
	uint64_t ds = rd64(f, BOOT_GDT_GPA + BOOT_DS);
	assert_true(ds & (1ULL << 47));
	assert_false(ds & (1ULL << 43));     /* data */
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

static void test_bad_images(void **state)
{
	struct fixture *f = fixture_new(64 * MiB);
	struct setup_header good = get_hdr(f), h;

	f->img.kernel_size = 0x200; /* too small for a header */
	expect_refused(f, -EINVAL);
	f->img.kernel_size = 0;
	expect_refused(f, -EINVAL);
	f->img.kernel_size = KERNEL_SIZE;

	h = good; h.header = 0x12345678;
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.boot_flag = 0;
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.version = 0x0205;
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.xloadflags = 0;
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.loadflags = 0;
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.setup_sects = 200; /* 201 * 512 > KERNEL_SIZE */
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);
	h = good; h.setup_sects = KERNEL_SIZE / 512 - 1; /* setup ends exactly at EOF */
	put_hdr(f, &h);
	expect_refused(f, -EINVAL);

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
	char *big = malloc(BOOT_CMDLINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', BOOT_CMDLINE_MAX);
	big[BOOT_CMDLINE_MAX] = '\0';
	f->img.cmdline = big;
	expect_refused(f, -E2BIG);
	free(big);
	fixture_free(f);
}

static void test_kernel_does_not_fit(void **state)
{
	/* init_size 16 MiB at 16 MiB needs 32 MiB. */
	struct fixture *f = fixture_new(24 * MiB);
	expect_refused(f, -ENOMEM);
	fixture_free(f);
	f = fixture_new(32 * MiB); /* exactly enough */
	assert_int_equal(load(f), 0);
	fixture_free(f);
}

static void test_initrd_does_not_fit(void **state)
{
	struct fixture *f = fixture_new(40 * MiB);
	uint8_t *initrd = calloc(1, 10 * MiB);
	assert_non_null(initrd);
	f->img.initrd = initrd;
	f->img.initrd_size = 10 * MiB; /* 30 MiB < 32 MiB kernel footprint */
	expect_refused(f, -ENOMEM);
	f->img.initrd_size = 8 * MiB; /* fits exactly above 32 MiB */
	assert_int_equal(load(f), 0);
	assert_int_equal(f->bp.hdr.ramdisk_image, 32 * MiB);
	free(initrd);
	fixture_free(f);
}

static void test_read_file(void **state)
{
	uint8_t *data = NULL;
	size_t size = 0;
	assert_int_equal(boot_read_file("/nonexistent/iovirt/bzImage", "kernel", &data, &size),
			 -ENOENT);
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
		cmocka_unit_test(test_kernel_does_not_fit),
		cmocka_unit_test(test_initrd_does_not_fit),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
