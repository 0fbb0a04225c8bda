/* A small AML (ACPI Machine Language) byte-code writer, ACPI 6.x section 20.
 *
 * Output goes into a growable buffer. Every emitter returns void and records
 * the first error (-ENOMEM, -EINVAL, -E2BIG) in the writer; aml_finish()
 * reports it, so a table builder checks once at the end. Blocks that carry a
 * PkgLength (Scope, Device, Package, Buffer, Method) are opened with a
 * *_begin call and closed with aml_end(); the PkgLength (1..4 bytes) is
 * inserted when the block closes. Nesting is bounded (AML_MAX_DEPTH), no
 * recursion anywhere.
 *
 * Typical use:
 *	struct aml a;
 *	aml_init(&a);
 *	aml_scope_begin(&a, "\\_SB");
 *	aml_device_begin(&a, "COM1");
 *	aml_name_eisaid(&a, "_HID", "PNP0501");
 *	aml_end(&a);             // Device
 *	aml_end(&a);             // Scope
 *	if (aml_finish(&a) == 0) use(a.buf, a.len);
 *	aml_free(&a);
 */
#ifndef IOVIRT_ARCH_X86_AML_H
#define IOVIRT_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16
#define AML_MAX_LEN (4u << 20) /* well below the 2^28 PkgLength limit */

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err; /* first error, sticky; 0 if none */
	unsigned depth;
	struct {
		size_t start; /* where the PkgLength goes */
		uint8_t kind;
	} open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0 if everything was emitted and every block closed, else -errno. */
int aml_finish(struct aml *a);

/* Raw bytes (used by the resource descriptors below). */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Encodes a PkgLength value (the length including the PkgLength bytes
 * themselves), 20.2.4. Returns the number of bytes (1..4) written to out,
 * or -EINVAL if value does not fit in 28 bits or is too small for the
 * encoding it would need. */
int aml_pkglen_encode(uint32_t value, uint8_t out[4]);

/* NameString, 20.2.2: "\\" (root), "\\_SB.PCI0", "^^FOO", "_HID", "COM1".
 * Segments shorter than 4 characters are padded with '_'. */
void aml_namestring(struct aml *a, const char *path);

/* Data objects, 20.2.3: the shortest of ZeroOp, OneOp, ByteConst,
 * WordConst, DWordConst, QWordConst. */
void aml_integer(struct aml *a, uint64_t v);
/* String: printable ASCII only. */
void aml_string(struct aml *a, const char *s);
/* Compressed EISA id ("PNP0A03" -> 0x030AD041) as a DWordConst. */
void aml_eisaid(struct aml *a, const char *id);
/* 0 and *out set, or -EINVAL if id is not 3 uppercase letters + 4 hex. */
int aml_eisaid_value(const char *id, uint32_t *out);

/* Name(path, <object>): emits NameOp and the NameString; the caller emits
 * exactly one data object next (or use the helpers). */
void aml_name(struct aml *a, const char *path);
void aml_name_int(struct aml *a, const char *path, uint64_t v);
void aml_name_str(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* Blocks, each closed by aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_package_begin(struct aml *a, uint8_t nelems);
void aml_buffer_begin(struct aml *a); /* BufferSize computed at aml_end */
/* MethodFlags, 20.2.5.2: nargs 0..7, serialized, sync level 0. */
void aml_method_begin(struct aml *a, const char *path, unsigned nargs,
		      bool serialized);
void aml_end(struct aml *a);

/* Return(integer) and Return(name), 20.2.5.3. */
void aml_return_int(struct aml *a, uint64_t v);
void aml_return_name(struct aml *a, const char *path);

/* Resource templates, 6.4: aml_rt_begin opens a Buffer; aml_rt_end appends
 * the End Tag (checksum 0: "treat as valid") and closes it. */
void aml_rt_begin(struct aml *a);
void aml_rt_end(struct aml *a);

/* I/O Port Descriptor, 6.4.2.5, 16-bit decode. */
void aml_rt_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
	       uint8_t len);

/* IRQ Descriptor, 6.4.2.1. Flags byte (the 3-byte form). */
#define AML_IRQ_EDGE (1u << 0)      /* _HE: 1 edge, 0 level */
#define AML_IRQ_ACTIVE_LOW (1u << 3) /* _LL */
#define AML_IRQ_SHARED (1u << 4)    /* _SHR */
#define AML_IRQ_WAKE (1u << 5)      /* _WKC */
/* The 3-byte form with an explicit flags byte. */
void aml_rt_irq(struct aml *a, unsigned irq, uint8_t flags);
/* The 2-byte form: IRQNoFlags, meaning edge, active high, exclusive. */
void aml_rt_irq_noflags(struct aml *a, unsigned irq);

/* 32-bit Fixed Memory Range Descriptor, 6.4.3.4. */
void aml_rt_memory32_fixed(struct aml *a, bool rw, uint32_t base,
			   uint32_t len);

/* Address space descriptors, 6.4.3.5: a producer (bridge) range with
 * _MIF/_MAF set, positive decode, granularity and translation 0, length
 * max - min + 1. -EINVAL if max < min. */
#define AML_MEM_NONCACHEABLE 0
#define AML_MEM_CACHEABLE 1
#define AML_MEM_WRITE_COMBINING 2
#define AML_MEM_PREFETCHABLE 3
void aml_rt_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
void aml_rt_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_rt_dword_memory(struct aml *a, unsigned mem_type, bool rw,
			 uint32_t min, uint32_t max);
void aml_rt_qword_memory(struct aml *a, unsigned mem_type, bool rw,
			 uint64_t min, uint64_t max);

#endif
