/* Loading a Linux bzImage per the x86 boot protocol (Documentation/arch/x86/
 * boot.rst), or a vmlinux, and entering it in 64-bit mode: boot_params
 * ("zero page") with the e820 map, command line and initrd, identity page
 * tables and a GDT. A bzImage's kernel is decompressed on the host unless
 * decompress_in_guest says otherwise or its format is not one iovirt
 * decodes (kernel_payload.h). */
#ifndef IOVIRT_ARCH_X86_BOOT_H
#define IOVIRT_ARCH_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

/* Guest-physical layout of what the loader writes in low memory. */
#define BOOT_GDT_GPA         0x0500ULL
#define BOOT_PARAMS_GPA      0x7000ULL
#define BOOT_PML4_GPA        0x9000ULL
#define BOOT_PDPT_GPA        0xA000ULL
#define BOOT_PD_GPA          0xB000ULL   /* 4 pages: 4 GiB of 2 MiB pages */
#define BOOT_STACK_GPA       0x8FF0ULL
#define BOOT_CMDLINE_GPA     0x20000ULL
#define BOOT_CMDLINE_MAX     0x10000ULL
#define BOOT_EBDA_GPA        0x9FC00ULL
#define BOOT_BIOS_GPA        0xE0000ULL  /* ACPI tables live here, reserved */
#define BOOT_KERNEL_GPA      0x100000ULL
/* Relocatable kernels decompress themselves to CONFIG_PHYSICAL_START,
 * 16 MiB in every distribution kernel. */
#define BOOT_KERNEL_RUN_GPA  0x1000000ULL

/* GDT selectors the 64-bit boot protocol expects (__BOOT_CS, __BOOT_DS). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_TSS 0x20

struct boot_entry {
	uint64_t rip;         /* 64-bit entry point */
	uint64_t rsi;         /* boot_params */
	uint64_t rsp;
	uint64_t cr3;
	uint64_t gdt_base;
	uint16_t gdt_limit;
};

/* An extra e820 entry (e.g. the PCI ECAM window, which Linux only uses when
 * it is reserved). */
struct boot_e820_extra {
	uint64_t addr, size;
	uint32_t type;
};

struct boot_image {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd;    /* may be NULL */
	size_t initrd_size;
	const char *cmdline;
	uint64_t rsdp_gpa;        /* 0: let the kernel scan for it */
	const struct boot_e820_extra *e820_extra;
	unsigned nr_e820_extra;
	/* A bzImage runs its own decompressor (which keeps its KASLR). */
	bool decompress_in_guest;
};

/* Validates the bzImage or vmlinux, writes kernel, initrd, command line,
 * boot_params, page tables and GDT into guest memory, and fills *entry. On
 * bad input logs one line naming kernel_name/initrd_name and why, and
 * returns -errno. */
int boot_load_linux(const struct guest_mem *mem, const struct boot_image *img,
		    const char *kernel_name, const char *initrd_name,
		    struct boot_entry *entry);

/* The vmlinux (ELF) inside bzImage k, decompressed into a malloc'd buffer
 * (iovirt extract-vmlinux). Logs one line naming kernel_name and returns
 * -errno: a file that is no bzImage, a payload that does not decompress or
 * is in a format iovirt does not decode (-ENOTSUP). */
int boot_bzimage_vmlinux(const uint8_t *k, size_t size, const char *kernel_name,
			 uint8_t **vmlinux, size_t *vmlinux_size);

/* Reads a whole file for the loader; logs one line and returns -errno. */
int boot_read_file(const char *path, const char *what, uint8_t **data, size_t *size);

#endif
