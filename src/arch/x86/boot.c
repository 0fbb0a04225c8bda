#include "arch/x86/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int boot_load_linux(const struct guest_mem *mem, const struct boot_image *img,
		    const char *kernel_name, const char *initrd_name,
		    struct boot_entry *entry)
{
	const uint8_t *k = img->kernel;
	struct setup_header hdr;

	if (img->kernel_size < SETUP_HEADER_OFFSET + sizeof(hdr)) {
		log_error("kernel %s: too small to be a bzImage", kernel_name);
		return -EINVAL;
	}
	memcpy(&hdr, k + SETUP_HEADER_OFFSET, sizeof(hdr));
	if (hdr.header != HDRS_MAGIC || hdr.boot_flag != 0xAA55) {
		log_error("kernel %s: not a bzImage (no \"HdrS\" boot header)", kernel_name);
		return -EINVAL;
	}
	if (hdr.version < MIN_PROTOCOL) {
		log_error("kernel %s: boot protocol %u.%02u is too old (2.06 or later needed)",
			  kernel_name, hdr.version >> 8, hdr.version & 0xff);
		return -EINVAL;
	}
	if (!(hdr.loadflags & LOADED_HIGH) || !(hdr.xloadflags & XLF_KERNEL_64)) {
		log_error("kernel %s: not a 64-bit bzImage (no 64-bit entry point)", kernel_name);
		return -EINVAL;
	}

	size_t setup_size = (size_t)((hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size >= img->kernel_size) {
		log_error("kernel %s: truncated (setup code runs past the end)", kernel_name);
		return -EINVAL;
	}
	size_t pm_size = img->kernel_size - setup_size;

	/* The kernel needs its load area and, once decompressed, init_size
	 * bytes at its run address. */
	uint64_t ram_top = low_ram_top(mem);
	uint64_t kernel_end = BOOT_KERNEL_GPA + pm_size;
	uint64_t run_end = BOOT_KERNEL_RUN_GPA + hdr.init_size;
	uint64_t reserved_end = kernel_end > run_end ? kernel_end : run_end;
	uint64_t mib = mem->ram_size >> 20;
	if (reserved_end > ram_top) {
		log_error("kernel %s: needs %llu MiB of RAM to boot, --memory is %llu MiB",
			  kernel_name, (unsigned long long)((reserved_end + (1 << 20) - 1) >> 20),
			  (unsigned long long)mib);
		return -ENOMEM;
	}
	void *kdst = guest_mem_ptr(mem, BOOT_KERNEL_GPA, pm_size);
	if (!kdst)
		return -ENOMEM;
	memcpy(kdst, k + setup_size, pm_size);

	struct boot_params *bp = guest_mem_ptr(mem, BOOT_PARAMS_GPA, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	memset(bp, 0, sizeof(*bp));
	/* The setup header is as long as its jump says (offset 0x201). */
	size_t hdr_len = 0x202 + k[0x201] - SETUP_HEADER_OFFSET;
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memcpy(&bp->hdr, k + SETUP_HEADER_OFFSET, hdr_len);

	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.code32_start = BOOT_KERNEL_GPA;

	const char *cmdline = img->cmdline ? img->cmdline : "";
	size_t cmd_len = strlen(cmdline);
	if (cmd_len >= BOOT_CMDLINE_MAX || cmd_len > hdr.cmdline_size) {
		log_error("--cmdline: %zu bytes is longer than kernel %s accepts (%u)",
			  cmd_len, kernel_name, hdr.cmdline_size);
		return -E2BIG;
	}
	if (guest_mem_write(mem, BOOT_CMDLINE_GPA, cmdline, cmd_len + 1) < 0)
		return -ENOMEM;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_GPA;

	if (img->initrd && img->initrd_size) {
		/* As high as allowed, page aligned, above the kernel's footprint. */
		uint64_t limit = (uint64_t)hdr.initrd_addr_max + 1;
		if (limit > ram_top)
			limit = ram_top;
		uint64_t addr = limit > img->initrd_size ? (limit - img->initrd_size) & ~0xfffULL : 0;
		if (addr < reserved_end) {
			log_error("initrd %s: kernel and initrd (%zu MiB) do not fit in --memory %llu MiB",
				  initrd_name, (size_t)((reserved_end + img->initrd_size) >> 20) + 1,
				  (unsigned long long)mib);
			return -ENOMEM;
		}
		if (guest_mem_write(mem, addr, img->initrd, img->initrd_size) < 0)
			return -ENOMEM;
		bp->hdr.ramdisk_image = (uint32_t)addr;
		bp->hdr.ramdisk_size = (uint32_t)img->initrd_size;
		bp->ext_ramdisk_image = (uint32_t)(addr >> 32);
		bp->ext_ramdisk_size = (uint32_t)((uint64_t)img->initrd_size >> 32);
	}

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
		/* The 64-bit entry sits 0x200 into the protected-mode kernel. */
		.rip = BOOT_KERNEL_GPA + 0x200,
		.rsi = BOOT_PARAMS_GPA,
		.rsp = BOOT_STACK_GPA,
		.cr3 = BOOT_PML4_GPA,
		.gdt_base = BOOT_GDT_GPA,
		.gdt_limit = 5 * 8 - 1,
	};
	return 0;
}
