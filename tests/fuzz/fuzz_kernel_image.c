// fuzz-sources: src/arch/x86/boot.c src/arch/x86/kernel_payload.c src/arch/x86/elf_kernel.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/log.c -llzma -llz4 -lzstd -lz -lbz2
/* The --kernel file, whatever it holds, through boot_load_linux into a
 * small guest: a bzImage's setup header and payload (each compressed
 * format, decompressed on the host or left to the guest), or a vmlinux's
 * ELF and program headers. The first byte picks the options: bit 0
 * --kernel-decompress guest, bit 1 an initrd; the rest is the file, in a
 * malloc of its exact size so that ASan sees any read past it.
 *
 * Checked invariants: no crash, leak or UB (ASan sees any write outside
 * the guest's RAM), a refusal is a negative errno that leaves the entry
 * untouched, and a load enters the kernel above the loader's area, inside
 * RAM, with boot_params in RSI. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "core/log.h"

/* Enough for a kernel run at 16 MiB with a little init_size. */
#define RAM_SIZE (24u << 20)
static uint8_t *ram;
static struct guest_mem mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_verbose(false);
	/* Every refusal logs a line: the stream, not the descriptor, is
	 * swapped, so libFuzzer's and the sanitizers' reports still get out. */
	if (!getenv("FUZZ_VERBOSE")) {
		FILE *null = fopen("/dev/null", "w");
		if (!null)
			abort();
		stderr = null;
	}
	ram = malloc(RAM_SIZE);
	if (!ram)
		abort();
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const uint8_t initrd[5000] = {1};
	uint8_t *kernel = malloc(size - 1 ? size - 1 : 1);
	if (!kernel)
		abort();
	memcpy(kernel, data + 1, size - 1);
	const struct boot_image img = {
		.kernel = kernel, .kernel_size = size - 1,
		.initrd = data[0] & 2 ? initrd : NULL, .initrd_size = data[0] & 2 ? sizeof(initrd) : 0,
		.cmdline = "console=ttyS0",
		.decompress_in_guest = data[0] & 1,
	};
	struct boot_entry entry = {.rip = 0xdead};
	int ret = boot_load_linux(&mem, &img, "fuzz", "initrd", &entry);
	if (ret < 0) {
		if (ret != -EINVAL && ret != -ENOMEM && ret != -E2BIG && ret != -ENOSPC)
			abort();
		if (entry.rip != 0xdead)
			abort();
	} else if (ret != 0 || entry.rip < BOOT_KERNEL_GPA || entry.rip >= RAM_SIZE ||
		   entry.rsi != BOOT_PARAMS_GPA) {
		abort();
	}
	free(kernel);
	return 0;
}
