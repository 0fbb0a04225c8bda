/* Loading an x86-64 vmlinux (ELF64, ET_EXEC) into guest RAM at its
 * segments' physical addresses, as Firecracker boots one: entered in 64-bit
 * mode at e_entry, the physical address of startup_64. */
#ifndef IOVIRT_ARCH_X86_ELF_KERNEL_H
#define IOVIRT_ARCH_X86_ELF_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

#define ELF_KERNEL_MAX_PHDRS 64

/* What the loader needs of a checked vmlinux. */
struct elf_kernel {
	uint64_t entry; /* e_entry: inside a loaded segment */
	uint64_t end;   /* the first byte above every PT_LOAD segment */
};

/* Whether data starts with the ELF magic. */
bool elf_kernel_is_elf(const uint8_t *data, size_t size);

/* Checks that elf is an x86-64 vmlinux whose PT_LOAD segments all lie in
 * the file and, in guest-physical space, between 1 MiB (the loader's area is
 * below) and the PCI hole. On bad input logs one line naming kernel_name
 * (and "its payload" if in_bzimage) and why, and returns -EINVAL. */
int elf_kernel_check(const uint8_t *elf, size_t size, const char *kernel_name, bool in_bzimage,
		     struct elf_kernel *k);

/* Copies each segment of a checked ELF to its p_paddr and zeroes it up to
 * p_memsz. 0, or -EFAULT if a segment is not in RAM. */
int elf_kernel_load(const struct guest_mem *mem, const uint8_t *elf, size_t size);

#endif
