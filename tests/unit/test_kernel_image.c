/* Host-side kernel decompression and vmlinux loading through
 * boot_load_linux: synthetic vmlinux ELFs, as --kernel and as the payload of
 * synthetic bzImages compressed here with each format the kernel's build
 * offers; where each byte lands, the entry, the fallback to the guest's
 * decompressor, and every refusal of a hostile header, stream or ELF. */
#include <asm/bootparam.h>
#include <bzlib.h>
#include <elf.h>
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "arch/x86/boot.h"
#include "arch/x86/elf_kernel.h"
#include "arch/x86/kernel_payload.h"
#include "core/byteorder.h"
#include "support/capture.h"

#define MiB (1ULL << 20)
#define RAM_SIZE (64 * MiB)

/* The synthetic vmlinux: text (the entry, bss after it) at 16 MiB, data at
 * 18 MiB, and a note that is not loaded. */
#define TEXT_GPA (16 * MiB)
#define TEXT_FILESZ 0x3000
#define TEXT_MEMSZ 0x5000
#define DATA_GPA (18 * MiB)
#define DATA_FILESZ 0x1800
#define TEXT_OFF 0x1000
#define DATA_OFF (TEXT_OFF + TEXT_FILESZ)
#define ELF_SIZE (DATA_OFF + DATA_FILESZ)
#define NR_PHDRS 3

/* The synthetic bzImage: 4 setup sectors, then the payload PAYLOAD_OFF
 * into the protected-mode part, then a tail. */
#define SETUP_SIZE (5 * 512)
#define PAYLOAD_OFF 0x100
#define PM_TAIL 0x40
#define INIT_SIZE (4 * MiB)
#define HDR_OFF 0x1f1

enum fmt { GZIP, XZ, LZMA, BZIP2, LZ4, ZSTD, NR_FMTS };
static const char *const fmt_name[NR_FMTS] = {"gzip", "xz", "lzma", "bzip2", "lz4", "zstd"};

struct fixture {
	uint8_t *ram;
	struct guest_mem mem;
	uint8_t elf[ELF_SIZE];
	uint8_t *bz;       /* the last bzImage built */
	size_t bz_size;
	struct boot_image img;
	struct boot_entry entry;
	struct boot_params bp;
};

static void make_elf(uint8_t *elf)
{
	memset(elf, 0, ELF_SIZE);
	Elf64_Ehdr eh = {
		.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT},
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = TEXT_GPA + 0x40, .e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = NR_PHDRS,
	};
	const Elf64_Phdr ph[NR_PHDRS] = {
		{.p_type = PT_LOAD, .p_offset = TEXT_OFF, .p_vaddr = 0xffffffff81000000ULL,
		 .p_paddr = TEXT_GPA, .p_filesz = TEXT_FILESZ, .p_memsz = TEXT_MEMSZ},
		{.p_type = PT_LOAD, .p_offset = DATA_OFF, .p_vaddr = 0xffffffff81200000ULL,
		 .p_paddr = DATA_GPA, .p_filesz = DATA_FILESZ, .p_memsz = DATA_FILESZ},
		{.p_type = PT_NOTE, .p_offset = TEXT_OFF, .p_paddr = 0x1000, .p_filesz = 0x20,
		 .p_memsz = 0x20},
	};
	memcpy(elf, &eh, sizeof(eh));
	memcpy(elf + eh.e_phoff, ph, sizeof(ph));
	for (size_t i = 0; i < TEXT_FILESZ; i++)
		elf[TEXT_OFF + i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < DATA_FILESZ; i++)
		elf[DATA_OFF + i] = (uint8_t)((i / 64) ^ 0x5a); /* compressible */
}

static Elf64_Ehdr get_ehdr(const uint8_t *elf)
{
	Elf64_Ehdr eh;
	memcpy(&eh, elf, sizeof(eh));
	return eh;
}

static void put_ehdr(uint8_t *elf, const Elf64_Ehdr *eh)
{
	memcpy(elf, eh, sizeof(*eh));
}

static Elf64_Phdr get_phdr(const uint8_t *elf, unsigned i)
{
	Elf64_Phdr ph;
	memcpy(&ph, elf + sizeof(Elf64_Ehdr) + i * sizeof(ph), sizeof(ph));
	return ph;
}

static void put_phdr(uint8_t *elf, unsigned i, const Elf64_Phdr *ph)
{
	memcpy(elf + sizeof(Elf64_Ehdr) + i * sizeof(*ph), ph, sizeof(*ph));
}

/* Compressors as the kernel's build runs them (arch/x86/boot/compressed/
 * Makefile): each output but gzip's is followed by the LE32 input size. */
static size_t compress_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream s = {0};
	assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)len;
	s.next_out = out;
	s.avail_out = (uInt)cap;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	size_t n = s.total_out;
	deflateEnd(&s);
	return n;
}

static size_t compress_xz(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	lzma_options_lzma opt;
	assert_false(lzma_lzma_preset(&opt, 6));
	const lzma_filter filters[] = {
		{LZMA_FILTER_X86, NULL}, {LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL},
	};
	size_t pos = 0;
	assert_int_equal(lzma_stream_buffer_encode((lzma_filter *)filters, LZMA_CHECK_CRC32, NULL,
						   in, len, out, &pos, cap), LZMA_OK);
	return pos;
}

static size_t compress_lzma(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	lzma_options_lzma opt;
	assert_false(lzma_lzma_preset(&opt, 6));
	lzma_stream s = LZMA_STREAM_INIT;
	assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = cap;
	assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
	size_t n = cap - s.avail_out;
	lzma_end(&s);
	return n;
}

static size_t compress_bzip2(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	unsigned int n = (unsigned int)cap;
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)in, (unsigned int)len,
						  9, 0, 0), BZ_OK);
	return n;
}

/* lz4 -l, written as two concatenated frames (the magic again midway). */
static size_t compress_lz4(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pos = 0, half = len / 2;
	for (int part = 0; part < 2; part++) {
		const uint8_t *src = part ? in + half : in;
		size_t n = part ? len - half : half;
		put_le(out + pos, 0x184c2102, 4);
		int c = LZ4_compress_default((const char *)src, (char *)out + pos + 8, (int)n,
					     (int)(cap - pos - 8));
		assert_true(c > 0);
		put_le(out + pos + 4, (uint64_t)c, 4);
		pos += 8 + (size_t)c;
	}
	return pos;
}

static size_t compress_zstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	assert_non_null(c);
	/* zstd(1), which the kernel runs, adds a checksum by default. */
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	size_t n = ZSTD_compress2(c, out, cap, in, len);
	assert_false(ZSTD_isError(n));
	ZSTD_freeCCtx(c);
	return n;
}

/* The payload of data in format fmt, size trailer included; returns its
 * length. */
static size_t compress_payload(enum fmt fmt, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	static size_t (*const fn[NR_FMTS])(const uint8_t *, size_t, uint8_t *, size_t) = {
		compress_gzip, compress_xz, compress_lzma, compress_bzip2, compress_lz4,
		compress_zstd,
	};
	size_t n = fn[fmt](in, len, out, cap - 4);
	if (fmt != GZIP) {
		put_le(out + n, len, 4);
		n += 4;
	}
	return n;
}

/* A bzImage whose payload is the given bytes. */
static void make_bzimage(struct fixture *f, const uint8_t *payload, size_t len)
{
	free(f->bz);
	f->bz_size = SETUP_SIZE + PAYLOAD_OFF + len + PM_TAIL;
	f->bz = calloc(1, f->bz_size);
	assert_non_null(f->bz);
	struct setup_header h = {
		.setup_sects = 4, .boot_flag = 0xAA55, .header = 0x53726448, /* "HdrS" */
		.version = 0x020f, .loadflags = LOADED_HIGH | KASLR_FLAG,
		.xloadflags = XLF_KERNEL_64, .init_size = INIT_SIZE, .cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff, .kernel_alignment = 0x200000,
		.relocatable_kernel = 1, .payload_offset = PAYLOAD_OFF,
		.payload_length = (uint32_t)len,
	};
	memcpy(f->bz + HDR_OFF, &h, sizeof(h));
	f->bz[0x201] = (uint8_t)(HDR_OFF + sizeof(h) - 0x202); /* the jump ends the header */
	memset(f->bz + SETUP_SIZE, 0xcc, PAYLOAD_OFF);
	memcpy(f->bz + SETUP_SIZE + PAYLOAD_OFF, payload, len);
	f->img.kernel = f->bz;
	f->img.kernel_size = f->bz_size;
}

/* A bzImage with the fixture's ELF compressed as fmt; returns the payload
 * (malloc'd) and sets *len, for tests that edit it. */
static uint8_t *make_compressed(struct fixture *f, enum fmt fmt, size_t *len)
{
	size_t cap = ELF_SIZE * 2 + 4096;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	print_message("%s\n", fmt_name[fmt]); /* which one, should a check fail */
	*len = compress_payload(fmt, f->elf, ELF_SIZE, p, cap);
	make_bzimage(f, p, *len);
	return p;
}

static struct setup_header get_bz_hdr(const struct fixture *f)
{
	struct setup_header h;
	memcpy(&h, f->bz + HDR_OFF, sizeof(h));
	return h;
}

static void put_bz_hdr(struct fixture *f, const struct setup_header *h)
{
	memcpy(f->bz + HDR_OFF, h, sizeof(*h));
}

static struct fixture *fixture_new(uint64_t ram_size)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = calloc(1, ram_size);
	assert_non_null(f->ram);
	guest_mem_init_empty(&f->mem);
	assert_int_equal(guest_mem_add_region(&f->mem, 0, f->ram, ram_size), 0);
	make_elf(f->elf);
	f->img = (struct boot_image){
		.kernel = f->elf, .kernel_size = ELF_SIZE, .cmdline = "console=ttyS0",
	};
	return f;
}

static void fixture_free(struct fixture *f)
{
	free(f->bz);
	free(f->ram);
	free(f);
}

static int load(struct fixture *f)
{
	/* Where the kernel goes: the loader must not rely on zeroed RAM. */
	memset(f->ram + TEXT_GPA, 0xa5, 4 * MiB);
	memset(&f->entry, 0, sizeof(f->entry));
	int ret = boot_load_linux(&f->mem, &f->img, "bzImage", "initrd", &f->entry);
	if (ret == 0)
		assert_int_equal(guest_mem_read(&f->mem, BOOT_PARAMS_GPA, &f->bp, sizeof(f->bp)), 0);
	return ret;
}

/* Each refusal: the error, the entry untouched. */
static void expect_refused(struct fixture *f, int err)
{
	f->entry.rip = 0xdead;
	assert_int_equal(boot_load_linux(&f->mem, &f->img, "bzImage", "initrd", &f->entry), err);
	assert_int_equal(f->entry.rip, 0xdead);
}

/* The segments at their p_paddr, the bss zeroed, entered at e_entry. */
static void check_vmlinux_loaded(const struct fixture *f)
{
	assert_memory_equal(f->ram + TEXT_GPA, f->elf + TEXT_OFF, TEXT_FILESZ);
	for (size_t i = TEXT_FILESZ; i < TEXT_MEMSZ; i++)
		assert_int_equal(f->ram[TEXT_GPA + i], 0);
	assert_int_equal(f->ram[TEXT_GPA + TEXT_MEMSZ], 0xa5); /* nothing past p_memsz */
	assert_memory_equal(f->ram + DATA_GPA, f->elf + DATA_OFF, DATA_FILESZ);
	assert_int_equal(f->entry.rip, TEXT_GPA + 0x40);
	assert_int_equal(f->entry.rsi, BOOT_PARAMS_GPA);
	assert_int_equal(f->entry.cr3, BOOT_PML4_GPA);
	assert_int_equal(f->bp.hdr.type_of_loader, 0xff);
	assert_int_equal(f->bp.hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_string_equal((const char *)f->ram + BOOT_CMDLINE_GPA, "console=ttyS0");
	assert_true(f->bp.e820_entries > 0);
}

static void test_vmlinux(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	assert_int_equal(load(f), 0);
	check_vmlinux_loaded(f);
	/* The setup header its startup_64 reads, made up. */
	const struct setup_header *h = &f->bp.hdr;
	assert_int_equal(h->boot_flag, 0xAA55);
	assert_int_equal(h->header, 0x53726448);
	assert_int_equal(h->version, 0x020f);
	assert_int_equal(h->loadflags, LOADED_HIGH);
	assert_int_equal(h->kernel_alignment, 0x1000000);
	assert_int_equal(h->cmdline_size, 2047);
	assert_int_equal(h->initrd_addr_max, 0x7fffffff);
	/* A vmlinux is entered as it is, whatever --kernel-decompress says. */
	f->img.decompress_in_guest = true;
	assert_int_equal(load(f), 0);
	check_vmlinux_loaded(f);
	fixture_free(f);
}

/* The initrd goes above the ELF's last byte, and fits or is refused. */
static void test_vmlinux_initrd(void **state)
{
	struct fixture *f = fixture_new(32 * MiB);
	Elf64_Phdr ph = get_phdr(f->elf, 1);
	ph.p_paddr = 23 * MiB - ph.p_memsz; /* the kernel ends at 23 MiB */
	put_phdr(f->elf, 1, &ph);
	uint8_t *initrd = calloc(1, 9 * MiB + 1);
	assert_non_null(initrd);
	initrd[0] = 0x42;
	f->img.initrd = initrd;
	f->img.initrd_size = 9 * MiB + 1; /* would start a page below 23 MiB */
	expect_refused(f, -ENOMEM);
	f->img.initrd_size = 9 * MiB; /* exactly from 23 MiB to the top */
	assert_int_equal(load(f), 0);
	assert_int_equal(f->bp.hdr.ramdisk_image, 23 * MiB);
	assert_int_equal(f->bp.hdr.ramdisk_size, 9 * MiB);
	assert_int_equal(f->ram[23 * MiB], 0x42);
	free(initrd);
	fixture_free(f);
}

static void test_bzimage_each_format(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	for (enum fmt fmt = 0; fmt < NR_FMTS; fmt++) {
		size_t len;
		uint8_t *payload = make_compressed(f, fmt, &len);
		f->img.decompress_in_guest = false;
		assert_int_equal(load(f), 0);
		check_vmlinux_loaded(f);
		/* The bzImage's own header, less the decompressor's KASLR flag. */
		assert_int_equal(f->bp.hdr.init_size, INIT_SIZE);
		assert_int_equal(f->bp.hdr.payload_length, len);
		assert_int_equal(f->bp.hdr.loadflags & (LOADED_HIGH | KASLR_FLAG), LOADED_HIGH);
		assert_int_equal(f->bp.hdr.cmdline_size, 2047);

		/* --kernel-decompress guest: the compressed kernel at 1 MiB. */
		f->img.decompress_in_guest = true;
		assert_int_equal(load(f), 0);
		assert_int_equal(f->entry.rip, BOOT_KERNEL_GPA + 0x200);
		assert_memory_equal(f->ram + BOOT_KERNEL_GPA, f->bz + SETUP_SIZE,
				    f->bz_size - SETUP_SIZE);
		free(payload);
	}
	fixture_free(f);
}

/* What iovirt does not decode goes to the guest's decompressor. */
static void test_fallback_to_guest(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	static const uint8_t lzo[] = {0x89, 'L', 'Z', 'O', 0, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4};
	static const uint8_t unknown[] = {'?', '?', '?', '?', 1, 2, 3, 4};
	static const uint8_t one[] = {0x1f}; /* shorter than the gzip magic */
	const struct {
		const uint8_t *p;
		size_t len;
	} cases[] = {{lzo, sizeof(lzo)}, {unknown, sizeof(unknown)}, {one, sizeof(one)}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_bzimage(f, cases[i].p, cases[i].len);
		assert_int_equal(load(f), 0);
		assert_int_equal(f->entry.rip, BOOT_KERNEL_GPA + 0x200);
	}
	/* No payload recorded: none at all, or a protocol before 2.08. */
	size_t len;
	free(make_compressed(f, XZ, &len));
	struct setup_header h = get_bz_hdr(f);
	h.payload_length = 0;
	put_bz_hdr(f, &h);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.rip, BOOT_KERNEL_GPA + 0x200);
	h = get_bz_hdr(f);
	h.payload_length = (uint32_t)len;
	h.version = 0x0207;
	put_bz_hdr(f, &h);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.rip, BOOT_KERNEL_GPA + 0x200);
	fixture_free(f);
}

static void test_payload_out_of_bounds(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	size_t len;
	free(make_compressed(f, ZSTD, &len));
	const struct setup_header good = get_bz_hdr(f);
	const uint32_t pm_size = (uint32_t)(f->bz_size - SETUP_SIZE);
	const struct {
		uint32_t off, len;
	} cases[] = {
		{pm_size + 1, 1},                       /* offset past the end */
		{PAYLOAD_OFF, pm_size - PAYLOAD_OFF + 1}, /* length past the end */
		{0xffffff00, 0x200},                    /* offset + length wraps */
		{PAYLOAD_OFF, 0xffffffff},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct setup_header h = good;
		h.payload_offset = cases[i].off;
		h.payload_length = cases[i].len;
		put_bz_hdr(f, &h);
		expect_refused(f, -EINVAL);
	}
	/* The payload ending exactly at the end of the file is fine. */
	struct setup_header h = good;
	memmove(f->bz + f->bz_size - len, f->bz + SETUP_SIZE + PAYLOAD_OFF, len);
	h.payload_offset = pm_size - (uint32_t)len;
	put_bz_hdr(f, &h);
	assert_int_equal(load(f), 0);
	check_vmlinux_loaded(f);
	fixture_free(f);
}

/* Builds a bzImage from an edited copy of a good payload, expects -EINVAL. */
static void refuse_payload(struct fixture *f, const uint8_t *p, size_t len)
{
	make_bzimage(f, p, len);
	expect_refused(f, -EINVAL);
}

static void test_bad_streams(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	for (enum fmt fmt = 0; fmt < NR_FMTS; fmt++) {
		size_t len;
		uint8_t *good = make_compressed(f, fmt, &len);
		uint8_t *p = malloc(len);
		assert_non_null(p);
		uint32_t size = (uint32_t)ELF_SIZE;

		/* Cut short, the size trailer kept. */
		memcpy(p, good, len / 2);
		memcpy(p + len / 2, good + len - 4, 4);
		refuse_payload(f, p, len / 2 + 4);
		/* The size trailer lying, either way, or out of range. */
		const uint32_t lies[] = {size + 1, size - 1, 0, KERNEL_PAYLOAD_MAX + 1, 0xffffffff};
		for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
			memcpy(p, good, len);
			put_le(p + len - 4, lies[i], 4);
			refuse_payload(f, p, len);
		}
		/* A byte of the stream flipped (lz4 has no checksum: its first
		 * block's size is off by one instead). */
		memcpy(p, good, len);
		if (fmt == LZ4)
			put_le(p + 4, (uint64_t)(good[4] | good[5] << 8 | good[6] << 16) - 1, 3);
		else
			p[len / 2] ^= 0x55;
		refuse_payload(f, p, len);
		/* Only the magic and the trailer. */
		refuse_payload(f, good, 6);
		free(p);
		free(good);
	}
	fixture_free(f);
}

/* A payload that decompresses to something else than a vmlinux. */
static void test_payload_not_vmlinux(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	Elf64_Ehdr eh = get_ehdr(f->elf);
	eh.e_machine = EM_AARCH64;
	put_ehdr(f->elf, &eh);
	size_t len;
	free(make_compressed(f, GZIP, &len));
	expect_refused(f, -EINVAL);
	fixture_free(f);
}

static void load_for_capture(void *arg)
{
	struct fixture *f = arg;
	f->entry.rip = 0xdead;
	assert_true(boot_load_linux(&f->mem, &f->img, "bzImage", "initrd", &f->entry) < 0);
}

/* One line each, naming the kernel and why. */
static void test_messages(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	size_t len;
	uint8_t *p = make_compressed(f, XZ, &len);
	put_le(p + len - 4, ELF_SIZE + 1, 4);
	make_bzimage(f, p, len);
	char *out = capture_stderr(load_for_capture, f);
	assert_non_null(strstr(out, "kernel bzImage: its xz payload does not decompress: "));
	assert_int_equal(count_occurrences(out, "\n"), 1);
	free(out);
	free(p);

	f->img.kernel = f->elf;
	f->img.kernel_size = ELF_SIZE;
	Elf64_Phdr ph = get_phdr(f->elf, 1);
	ph.p_paddr = RAM_SIZE - 0x1000; /* ends 0x800 bytes past the top */
	put_phdr(f->elf, 1, &ph);
	out = capture_stderr(load_for_capture, f);
	assert_string_equal(out, "iovirt: kernel bzImage: needs 65 MiB of RAM to boot, "
			    "--memory is 64 MiB\r\n");
	free(out);

	ph.p_paddr = 0x9000;
	put_phdr(f->elf, 1, &ph);
	out = capture_stderr(load_for_capture, f);
	assert_string_equal(out, "iovirt: kernel bzImage: not an x86-64 vmlinux (a segment at "
			    "0x9000, below 1 MiB)\r\n");
	free(out);
	fixture_free(f);
}

/* Edits one field of the good vmlinux and expects err. */
#define REFUSE_EHDR(err, edit)                                                   \
	do {                                                                     \
		make_elf(f->elf);                                                \
		Elf64_Ehdr eh = get_ehdr(f->elf);                                \
		edit;                                                            \
		put_ehdr(f->elf, &eh);                                           \
		expect_refused(f, err);                                          \
	} while (0)
#define REFUSE_PHDR(err, i, edit)                                                \
	do {                                                                     \
		make_elf(f->elf);                                                \
		Elf64_Phdr ph = get_phdr(f->elf, i);                             \
		edit;                                                            \
		put_phdr(f->elf, i, &ph);                                        \
		expect_refused(f, err);                                          \
	} while (0)

static void test_bad_elfs(void **state)
{
	struct fixture *f = fixture_new(RAM_SIZE);
	REFUSE_EHDR(-EINVAL, eh.e_ident[EI_CLASS] = ELFCLASS32);
	REFUSE_EHDR(-EINVAL, eh.e_ident[EI_DATA] = ELFDATA2MSB);
	REFUSE_EHDR(-EINVAL, eh.e_machine = EM_386);
	REFUSE_EHDR(-EINVAL, eh.e_type = ET_DYN);
	REFUSE_EHDR(-EINVAL, eh.e_phentsize = 32);
	REFUSE_EHDR(-EINVAL, eh.e_phnum = 0);
	REFUSE_EHDR(-EINVAL, eh.e_phnum = 0xffff);
	REFUSE_EHDR(-EINVAL, eh.e_phnum = ELF_KERNEL_MAX_PHDRS + 1);
	REFUSE_EHDR(-EINVAL, eh.e_phoff = ELF_SIZE - sizeof(Elf64_Phdr)); /* phdrs past the end */
	REFUSE_EHDR(-EINVAL, eh.e_phoff = UINT64_MAX - 8);
	REFUSE_EHDR(-EINVAL, eh.e_entry = 0x500000);             /* in no segment */
	REFUSE_EHDR(-EINVAL, eh.e_entry = TEXT_GPA + TEXT_FILESZ); /* in the bss */
	REFUSE_PHDR(-EINVAL, 0, ph.p_offset = ELF_SIZE - 0x100);   /* data past the end */
	REFUSE_PHDR(-EINVAL, 0, ph.p_offset = UINT64_MAX - 0x10);
	REFUSE_PHDR(-EINVAL, 0, ph.p_filesz = ELF_SIZE);
	REFUSE_PHDR(-EINVAL, 1, ph.p_memsz = ph.p_filesz - 1);      /* filesz > memsz */
	REFUSE_PHDR(-EINVAL, 1, ph.p_paddr = 0x9000);               /* the loader's area */
	REFUSE_PHDR(-EINVAL, 1, ph.p_paddr = BOOT_KERNEL_GPA - 1);
	REFUSE_PHDR(-EINVAL, 1, ph.p_paddr = 0xfffffffffffff000ULL; ph.p_memsz = 0x2000);
	REFUSE_PHDR(-EINVAL, 1, ph.p_memsz = UINT64_MAX);
	REFUSE_PHDR(-EINVAL, 1, ph.p_paddr = GUEST_MEM_PCI_HOLE_START - 0x1000);
	REFUSE_PHDR(-ENOMEM, 1, ph.p_paddr = RAM_SIZE - 0x1000);   /* beyond RAM */
	REFUSE_PHDR(-ENOMEM, 1, ph.p_memsz = RAM_SIZE);
	/* No loadable segment at all. */
	make_elf(f->elf);
	for (unsigned i = 0; i < 2; i++) {
		Elf64_Phdr ph = get_phdr(f->elf, i);
		ph.p_type = PT_NOTE;
		put_phdr(f->elf, i, &ph);
	}
	expect_refused(f, -EINVAL);
	/* Cut inside the ELF header, inside the program headers. */
	make_elf(f->elf);
	f->img.kernel_size = 40;
	expect_refused(f, -EINVAL);
	f->img.kernel_size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
	expect_refused(f, -EINVAL);
	/* A segment ending exactly at the top of RAM and at 1 MiB are fine. */
	f->img.kernel_size = ELF_SIZE;
	Elf64_Phdr ph = get_phdr(f->elf, 1);
	ph.p_paddr = RAM_SIZE - ph.p_memsz;
	put_phdr(f->elf, 1, &ph);
	assert_int_equal(load(f), 0);
	ph.p_paddr = BOOT_KERNEL_GPA;
	put_phdr(f->elf, 1, &ph);
	assert_int_equal(load(f), 0);
	fixture_free(f);
}

/* Debian's kernel, when `make guest` has fetched it: an xz payload whose
 * vmlinux starts at CONFIG_PHYSICAL_START. */
static void test_real_kernel(void **state)
{
	static const char path[] = "build/guest/vmlinuz";
	if (access(path, R_OK) != 0)
		skip();
	uint8_t *k;
	size_t size;
	assert_int_equal(boot_read_file(path, "kernel", &k, &size), 0);
	struct fixture *f = fixture_new(128 * MiB);
	f->img.kernel = k;
	f->img.kernel_size = size;
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.rip, BOOT_KERNEL_RUN_GPA);
	assert_int_equal(f->bp.hdr.header, 0x53726448);
	free(k);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmlinux),
		cmocka_unit_test(test_vmlinux_initrd),
		cmocka_unit_test(test_bzimage_each_format),
		cmocka_unit_test(test_fallback_to_guest),
		cmocka_unit_test(test_payload_out_of_bounds),
		cmocka_unit_test(test_bad_streams),
		cmocka_unit_test(test_payload_not_vmlinux),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_bad_elfs),
		cmocka_unit_test(test_real_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
