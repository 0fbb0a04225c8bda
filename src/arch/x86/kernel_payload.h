/* A bzImage's compressed kernel (its "payload", boot protocol 2.08+)
 * decompressed on the host into the vmlinux ELF it holds, so that the guest
 * need not run the kernel's own decompressor. */
#ifndef IOVIRT_ARCH_X86_KERNEL_PAYLOAD_H
#define IOVIRT_ARCH_X86_KERNEL_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

/* The most a payload may decompress to (distribution kernels: ~70 MiB). */
#define KERNEL_PAYLOAD_MAX (512u << 20)

struct setup_header;

/* Decompresses the payload that hdr (a bzImage's setup header) places in
 * the protected-mode part pm (pm_size bytes) into a malloc'd buffer. Returns
 * 0 and sets *vmlinux and *vmlinux_size; -ENOTSUP, having logged only at
 * debug level, for no payload or a format iovirt does not decode (lzo): the
 * guest decompresses those; otherwise logs one line naming kernel_name and
 * why, and returns -errno. */
int kernel_payload_decompress(const struct setup_header *hdr, const uint8_t *pm, size_t pm_size,
			      const char *kernel_name, uint8_t **vmlinux, size_t *vmlinux_size);

#endif
