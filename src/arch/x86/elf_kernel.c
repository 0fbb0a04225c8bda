#include "arch/x86/elf_kernel.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* The loader's page tables, GDT, boot_params and command line sit below. */
#define ELF_KERNEL_MIN_GPA 0x100000ULL

bool elf_kernel_is_elf(const uint8_t *data, size_t size)
{
	return size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
}

static Elf64_Ehdr read_ehdr(const uint8_t *elf)
{
	Elf64_Ehdr eh;
	memcpy(&eh, elf, sizeof(eh));
	return eh;
}

static Elf64_Phdr read_phdr(const uint8_t *elf, const Elf64_Ehdr *eh, unsigned i)
{
	Elf64_Phdr ph;
	memcpy(&ph, elf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
	return ph;
}

static bool segment_in_file(const Elf64_Phdr *ph, size_t size)
{
	return ph->p_offset <= size && ph->p_filesz <= size - ph->p_offset;
}

/* Why eh is not a loadable x86-64 vmlinux header, or NULL. */
static const char *bad_ehdr(const Elf64_Ehdr *eh, size_t size)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return "not 64-bit";
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return "not little-endian";
	if (eh->e_machine != EM_X86_64)
		return "not x86-64";
	if (eh->e_type != ET_EXEC)
		return "not an executable";
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return "bad program header size";
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_KERNEL_MAX_PHDRS)
		return "no program headers, or too many";
	if (eh->e_phoff > size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
		return "program headers past the end of the file";
	return NULL;
}

/* Why a PT_LOAD segment cannot be loaded, or NULL; why_buf holds the text
 * of a reason that names an address. */
static const char *bad_segment(const Elf64_Phdr *ph, size_t size, char *why_buf, size_t why_len)
{
	if (!segment_in_file(ph, size))
		return "a segment runs past the end of the file";
	if (ph->p_filesz > ph->p_memsz)
		return "a segment's file size is over its memory size";
	if (ph->p_paddr < ELF_KERNEL_MIN_GPA) {
		snprintf(why_buf, why_len, "a segment at 0x%llx, below 1 MiB",
			 (unsigned long long)ph->p_paddr);
		return why_buf;
	}
	if (ph->p_paddr > GUEST_MEM_PCI_HOLE_START ||
	    ph->p_memsz > GUEST_MEM_PCI_HOLE_START - ph->p_paddr) {
		snprintf(why_buf, why_len, "a segment at 0x%llx, above the RAM below 3 GiB",
			 (unsigned long long)ph->p_paddr);
		return why_buf;
	}
	return NULL;
}

static const char *check(const uint8_t *elf, size_t size, struct elf_kernel *k, char *why_buf,
			 size_t why_len)
{
	if (size < sizeof(Elf64_Ehdr) || !elf_kernel_is_elf(elf, size))
		return "no ELF header";
	Elf64_Ehdr eh = read_ehdr(elf);
	const char *why = bad_ehdr(&eh, size);
	if (why)
		return why;
	bool loads = false, entry_loaded = false;
	k->end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph = read_phdr(elf, &eh, i);
		if (ph.p_type != PT_LOAD)
			continue;
		why = bad_segment(&ph, size, why_buf, why_len);
		if (why)
			return why;
		loads = true;
		if (ph.p_paddr + ph.p_memsz > k->end)
			k->end = ph.p_paddr + ph.p_memsz;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_filesz)
			entry_loaded = true;
	}
	if (!loads)
		return "no loadable segment";
	if (!entry_loaded)
		return "its entry point is outside its loaded segments";
	k->entry = eh.e_entry;
	return NULL;
}

int elf_kernel_check(const uint8_t *elf, size_t size, const char *kernel_name, bool in_bzimage,
		     struct elf_kernel *k)
{
	char why_buf[80];
	const char *why = check(elf, size, k, why_buf, sizeof(why_buf));
	if (why) {
		log_error("kernel %s: %snot an x86-64 vmlinux (%s)", kernel_name,
			  in_bzimage ? "its payload is " : "", why);
		return -EINVAL;
	}
	return 0;
}

int elf_kernel_load(const struct guest_mem *mem, const uint8_t *elf, size_t size)
{
	if (size < sizeof(Elf64_Ehdr))
		return -EINVAL;
	Elf64_Ehdr eh = read_ehdr(elf);
	if (bad_ehdr(&eh, size))
		return -EINVAL;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph = read_phdr(elf, &eh, i);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		uint8_t *dst = guest_mem_ptr(mem, ph.p_paddr, ph.p_memsz);
		if (!dst || !segment_in_file(&ph, size) || ph.p_filesz > ph.p_memsz)
			return -EFAULT;
		memcpy(dst, elf + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	return 0;
}
