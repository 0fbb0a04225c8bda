#include "arch/x86/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/elf_kernel.h"
#include "arch/x86/kernel_payload.h"
#include "core/log.h"

#define E820_RAM      1
#define E820_RESERVED 2

#define SETUP_HEADER_OFFSET 0x1f1
#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define MIN_PROTOCOL  0x0206 /* cmdline_size, initrd_addr_max */

int boot_read_file(const char *path, const char *what, uint8_t **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		log_error("%s %s: %s", what, path, strerror(errno));
		return err;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		log_error("%s %s: out of memory", what, path);
		return -ENOMEM;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;
			log_error("%s %s: read failed: %s", what, path, strerror(-err));
			free(buf);
			close(fd);
			return err;
		}
		done += (size_t)n;
	}
	close(fd);
	*data = buf;
	*size = len;
	return 0;
}

static int add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0)
		return 0;
	if (bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
		return -ENOSPC;
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
	e->addr = addr;
	e->size = size;
	e->type = type;
	return 0;
}

/* The e820 map: RAM as laid out by guest_mem, minus the legacy holes. */
static int build_e820(struct boot_params *bp, const struct guest_mem *mem,
		      const struct boot_image *img)
{
	int ret = 0;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		if (r->gpa == 0) {
			/* Conventional memory, the EBDA, the VGA/BIOS hole. */
			uint64_t low_top = r->size < BOOT_EBDA_GPA ? r->size : BOOT_EBDA_GPA;
			ret |= add_e820(bp, 0, low_top, E820_RAM);
			if (r->size > BOOT_KERNEL_GPA) {
				ret |= add_e820(bp, BOOT_EBDA_GPA, 0xA0000 - BOOT_EBDA_GPA, E820_RESERVED);
				ret |= add_e820(bp, BOOT_BIOS_GPA, BOOT_KERNEL_GPA - BOOT_BIOS_GPA,
						E820_RESERVED);
				ret |= add_e820(bp, BOOT_KERNEL_GPA, r->size - BOOT_KERNEL_GPA, E820_RAM);
			}
		} else {
			ret |= add_e820(bp, r->gpa, r->size, E820_RAM);
		}
	}
	for (unsigned i = 0; i < img->nr_e820_extra; i++)
		ret |= add_e820(bp, img->e820_extra[i].addr, img->e820_extra[i].size,
				img->e820_extra[i].type);
	return ret ? -ENOSPC : 0;
}

/* Identity-maps the first 4 GiB with 2 MiB pages: enough for the kernel's
 * 64-bit entry, which builds its own tables right away. */
static int build_page_tables(const struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, BOOT_PML4_GPA, 4096);
	uint64_t *pdpt = guest_mem_ptr(mem, BOOT_PDPT_GPA, 4096);
	uint64_t *pd = guest_mem_ptr(mem, BOOT_PD_GPA, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -ENOMEM;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_GPA | 0x3; /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_GPA + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return 0;
}

static int build_gdt(const struct guest_mem *mem)
{
	/* Flat descriptors: null, null, 64-bit code, data, TSS (VMX wants a
	 * usable TR even though the kernel never uses this one). */
	const uint64_t gdt[5] = {
		0,
		0,
		0x00af9b000000ffffULL, /* BOOT_CS: code, L=1, present, DPL 0 */
		0x00cf93000000ffffULL, /* BOOT_DS: data, 4 GiB, writable */
		0x00008b0000000067ULL, /* BOOT_TSS: busy 64-bit TSS */
	};
	return guest_mem_write(mem, BOOT_GDT_GPA, gdt, sizeof(gdt));
}

/* Highest RAM address below 4 GiB that is contiguous from 0. */
static uint64_t low_ram_top(const struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (mem->regions[i].gpa == 0)
			return mem->regions[i].size;
	return 0;
}

/* Where the kernel is entered and what it occupies (the initrd goes above). */
struct kernel_layout {
	uint64_t rip;
	uint64_t end;
};

static int check_fits(const struct guest_mem *mem, uint64_t end, const char *kernel_name)
{
	if (end <= low_ram_top(mem))
		return 0;
	log_error("kernel %s: needs %llu MiB of RAM to boot, --memory is %llu MiB", kernel_name,
		  (unsigned long long)((end + (1 << 20) - 1) >> 20),
		  (unsigned long long)(mem->ram_size >> 20));
	return -ENOMEM;
}

/* A vmlinux (given, or decompressed from a bzImage, in_bzimage) at its
 * segments' addresses; the kernel occupies at least up to min_end. */
static int load_elf(const struct guest_mem *mem, const uint8_t *elf, size_t size,
		    const char *kernel_name, bool in_bzimage, uint64_t min_end,
		    struct kernel_layout *kl)
{
	struct elf_kernel ek;
	int ret = elf_kernel_check(elf, size, kernel_name, in_bzimage, &ek);
	if (ret < 0)
		return ret;
	uint64_t end = ek.end > min_end ? ek.end : min_end;
	ret = check_fits(mem, end, kernel_name);
	if (ret < 0)
		return ret;
	if (elf_kernel_load(mem, elf, size) < 0)
		return -ENOMEM;
	*kl = (struct kernel_layout){.rip = ek.entry, .end = end};
	return 0;
}

/* The bzImage's kernel decompressed here and entered as a vmlinux. */
static int load_payload(const struct guest_mem *mem, const struct setup_header *hdr,
			const uint8_t *pm, size_t pm_size, const char *kernel_name,
			uint64_t run_end, struct kernel_layout *kl)
{
	uint8_t *vmlinux;
	size_t size;
	int ret = kernel_payload_decompress(hdr, pm, pm_size, kernel_name, &vmlinux, &size);
	if (ret < 0)
		return ret;
	ret = load_elf(mem, vmlinux, size, kernel_name, true, run_end, kl);
	free(vmlinux);
	return ret;
}

/* The protected-mode part at 1 MiB, to decompress itself to run_end. */
static int load_compressed(const struct guest_mem *mem, const uint8_t *pm, size_t pm_size,
			   const char *kernel_name, uint64_t run_end, struct kernel_layout *kl)
{
	uint64_t kernel_end = BOOT_KERNEL_GPA + pm_size;
	uint64_t end = kernel_end > run_end ? kernel_end : run_end;
	int ret = check_fits(mem, end, kernel_name);
	if (ret < 0)
		return ret;
	if (guest_mem_write(mem, BOOT_KERNEL_GPA, pm, pm_size) < 0)
		return -ENOMEM;
	/* The 64-bit entry sits 0x200 into the protected-mode kernel. */
	*kl = (struct kernel_layout){.rip = BOOT_KERNEL_GPA + 0x200, .end = end};
	return 0;
}

static int check_bzimage(const uint8_t *k, size_t size, const char *kernel_name,
			 struct setup_header *hdr)
{
	if (size < SETUP_HEADER_OFFSET + sizeof(*hdr)) {
		log_error("kernel %s: too small to be a bzImage", kernel_name);
		return -EINVAL;
	}
	memcpy(hdr, k + SETUP_HEADER_OFFSET, sizeof(*hdr));
	if (hdr->header != HDRS_MAGIC || hdr->boot_flag != 0xAA55) {
		log_error("kernel %s: not a bzImage (no \"HdrS\" boot header)", kernel_name);
		return -EINVAL;
	}
	if (hdr->version < MIN_PROTOCOL) {
		log_error("kernel %s: boot protocol %u.%02u is too old (2.06 or later needed)",
			  kernel_name, hdr->version >> 8, hdr->version & 0xff);
		return -EINVAL;
	}
	if (!(hdr->loadflags & LOADED_HIGH) || !(hdr->xloadflags & XLF_KERNEL_64)) {
		log_error("kernel %s: not a 64-bit bzImage (no 64-bit entry point)", kernel_name);
		return -EINVAL;
	}
	return 0;
}

/* The checked setup header and where the protected-mode part (after the
 * real-mode setup code) starts. */
static int split_bzimage(const uint8_t *k, size_t size, const char *kernel_name,
			 struct setup_header *hdr, size_t *setup_size)
{
	int ret = check_bzimage(k, size, kernel_name, hdr);
	if (ret < 0)
		return ret;
	*setup_size = (size_t)((hdr->setup_sects ? hdr->setup_sects : 4) + 1) * 512;
	if (*setup_size >= size) {
		log_error("kernel %s: truncated (setup code runs past the end)", kernel_name);
		return -EINVAL;
	}
	return 0;
}

int boot_bzimage_vmlinux(const uint8_t *k, size_t size, const char *kernel_name,
			 uint8_t **vmlinux, size_t *vmlinux_size)
{
	struct setup_header hdr;
	size_t setup_size;
	int ret = split_bzimage(k, size, kernel_name, &hdr, &setup_size);
	if (ret < 0)
		return ret;
	ret = kernel_payload_decompress(&hdr, k + setup_size, size - setup_size, kernel_name,
					vmlinux, vmlinux_size);
	if (ret == -ENOTSUP)
		log_error("kernel %s: no payload iovirt can decompress (none recorded, or lzo)",
			  kernel_name);
	return ret;
}

/* A bzImage: its kernel loaded and its setup header in boot_params. */
static int load_bzimage(const struct guest_mem *mem, const struct boot_image *img,
			const char *kernel_name, struct boot_params *bp,
			struct setup_header *hdr, struct kernel_layout *kl)
{
	const uint8_t *k = img->kernel;
	size_t setup_size;
	int ret = split_bzimage(k, img->kernel_size, kernel_name, hdr, &setup_size);
	if (ret < 0)
		return ret;
	const uint8_t *pm = k + setup_size;
	size_t pm_size = img->kernel_size - setup_size;

	/* Once decompressed, the kernel needs init_size bytes at its run
	 * address, whoever decompresses it: known before decompressing. */
	uint64_t run_end = BOOT_KERNEL_RUN_GPA + hdr->init_size;
	ret = check_fits(mem, run_end, kernel_name);
	if (ret < 0)
		return ret;
	ret = -ENOTSUP;
	if (!img->decompress_in_guest)
		ret = load_payload(mem, hdr, pm, pm_size, kernel_name, run_end, kl);
	if (ret == -ENOTSUP)
		ret = load_compressed(mem, pm, pm_size, kernel_name, run_end, kl);
	if (ret < 0)
		return ret;

	/* The setup header is as long as its jump says (offset 0x201). */
	size_t hdr_len = 0x202 + k[0x201] - SETUP_HEADER_OFFSET;
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memcpy(&bp->hdr, k + SETUP_HEADER_OFFSET, hdr_len);
	bp->hdr.loadflags |= CAN_USE_HEAP;
	/* Set by the decompressor when it randomised the kernel's address
	 * (never, when the host decompressed it). */
	bp->hdr.loadflags &= (uint8_t)~KASLR_FLAG;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.code32_start = BOOT_KERNEL_GPA;
	return 0;
}

/* A vmlinux has no setup header: the one its startup_64 reads is made up,
 * as Firecracker's. */
static int load_vmlinux(const struct guest_mem *mem, const struct boot_image *img,
			const char *kernel_name, struct boot_params *bp,
			struct setup_header *hdr, struct kernel_layout *kl)
{
	int ret = load_elf(mem, img->kernel, img->kernel_size, kernel_name, false, 0, kl);
	if (ret < 0)
		return ret;
	*hdr = (struct setup_header){
		.boot_flag = 0xAA55,
		.header = HDRS_MAGIC,
		.version = 0x020f,
		.loadflags = LOADED_HIGH,
		.kernel_alignment = 0x1000000,
		.cmdline_size = 2047, /* x86's COMMAND_LINE_SIZE - 1 */
		.initrd_addr_max = 0x7fffffff,
	};
	bp->hdr = *hdr;
	return 0;
}

/* The command line, and the initrd as high as hdr allows above the kernel. */
static int load_cmdline_initrd(const struct guest_mem *mem, const struct boot_image *img,
			       const struct setup_header *hdr, uint64_t kernel_end,
			       const char *kernel_name, const char *initrd_name,
			       struct boot_params *bp)
{
	const char *cmdline = img->cmdline ? img->cmdline : "";
	size_t cmd_len = strlen(cmdline);
	if (cmd_len >= BOOT_CMDLINE_MAX || cmd_len > hdr->cmdline_size) {
		log_error("--cmdline: %zu bytes is longer than kernel %s accepts (%u)",
			  cmd_len, kernel_name, hdr->cmdline_size);
		return -E2BIG;
	}
	if (guest_mem_write(mem, BOOT_CMDLINE_GPA, cmdline, cmd_len + 1) < 0)
		return -ENOMEM;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_GPA;

	if (!img->initrd || !img->initrd_size)
		return 0;
	/* As high as allowed, page aligned. */
	uint64_t limit = (uint64_t)hdr->initrd_addr_max + 1;
	uint64_t ram_top = low_ram_top(mem);
	if (limit > ram_top)
		limit = ram_top;
	uint64_t addr = limit > img->initrd_size ? (limit - img->initrd_size) & ~0xfffULL : 0;
	if (addr < kernel_end) {
		log_error("initrd %s: kernel and initrd (%zu MiB) do not fit in --memory %llu MiB",
			  initrd_name, (size_t)((kernel_end + img->initrd_size) >> 20) + 1,
			  (unsigned long long)(mem->ram_size >> 20));
		return -ENOMEM;
	}
	if (guest_mem_write(mem, addr, img->initrd, img->initrd_size) < 0)
		return -ENOMEM;
	bp->hdr.ramdisk_image = (uint32_t)addr;
	bp->hdr.ramdisk_size = (uint32_t)img->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)((uint64_t)img->initrd_size >> 32);
	return 0;
}

int boot_load_linux(const struct guest_mem *mem, const struct boot_image *img,
		    const char *kernel_name, const char *initrd_name,
		    struct boot_entry *entry)
{
	struct boot_params *bp = guest_mem_ptr(mem, BOOT_PARAMS_GPA, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	memset(bp, 0, sizeof(*bp));
	struct setup_header hdr;
	struct kernel_layout kl;
	int ret = elf_kernel_is_elf(img->kernel, img->kernel_size)
		? load_vmlinux(mem, img, kernel_name, bp, &hdr, &kl)
		: load_bzimage(mem, img, kernel_name, bp, &hdr, &kl);
	if (ret < 0)
		return ret;
	bp->hdr.type_of_loader = 0xff;
	ret = load_cmdline_initrd(mem, img, &hdr, kl.end, kernel_name, initrd_name, bp);
	if (ret < 0)
		return ret;

	if (img->rsdp_gpa)
		bp->acpi_rsdp_addr = img->rsdp_gpa;
	if (build_e820(bp, mem, img) < 0) {
		log_error("e820: too many memory map entries");
		return -ENOSPC;
	}
	if (build_page_tables(mem) < 0 || build_gdt(mem) < 0) {
		log_error("--memory: too small for the boot page tables");
		return -ENOMEM;
	}

	*entry = (struct boot_entry){
		.rip = kl.rip,
		.rsi = BOOT_PARAMS_GPA,
		.rsp = BOOT_STACK_GPA,
		.cr3 = BOOT_PML4_GPA,
		.gdt_base = BOOT_GDT_GPA,
		.gdt_limit = 5 * 8 - 1,
	};
	return 0;
}
