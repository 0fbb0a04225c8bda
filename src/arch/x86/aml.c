/* AML byte-code writer; see aml.h. Section numbers are ACPI 6.x. */
#include "arch/x86/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes, 20.3. */
enum {
	AML_ZERO_OP = 0x00, AML_ONE_OP = 0x01, AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0A, AML_WORD_PREFIX = 0x0B, AML_DWORD_PREFIX = 0x0C,
	AML_STRING_PREFIX = 0x0D, AML_QWORD_PREFIX = 0x0E, AML_SCOPE_OP = 0x10,
	AML_BUFFER_OP = 0x11, AML_PACKAGE_OP = 0x12, AML_METHOD_OP = 0x14,
	AML_DUAL_NAME_PREFIX = 0x2E, AML_MULTI_NAME_PREFIX = 0x2F,
	AML_EXT_OP_PREFIX = 0x5B, AML_DEVICE_OP = 0x82, /* after ExtOpPrefix */
	AML_ROOT_CHAR = 0x5C, AML_PARENT_PREFIX = 0x5E, AML_RETURN_OP = 0xA4,
};

/* Resource descriptor tags, 6.4: small items (type << 3 | length) and
 * large items (0x80 | type). */
enum {
	RT_IRQ_NOFLAGS = 0x22, RT_IRQ = 0x23, RT_IO = 0x47, RT_END_TAG = 0x79,
	RT_MEMORY32_FIXED = 0x86, RT_DWORD_ADDRESS = 0x87,
	RT_WORD_ADDRESS = 0x88, RT_QWORD_ADDRESS = 0x8A,
};

/* Address space resource types and general flags, 6.4.3.5. */
enum { RT_TYPE_MEMORY = 0, RT_TYPE_IO = 1, RT_TYPE_BUS = 2 };
#define RT_GEN_MIF (1u << 2)
#define RT_GEN_MAF (1u << 3)
#define RT_IO_ENTIRE_RANGE 0x03 /* _RNG = 3: ISA and non-ISA ranges */

enum block_kind { BLOCK_PLAIN, BLOCK_BUFFER };

#define PKGLEN_MAX 0x0FFFFFFFu

static void set_err(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int aml_finish(struct aml *a)
{
	if (!a->err && a->depth)
		set_err(a, -EINVAL);
	return a->err;
}

/* Makes room for n more bytes; false (and the error recorded) if not. */
static bool reserve(struct aml *a, size_t n)
{
	if (a->err)
		return false;
	if (n > AML_MAX_LEN - a->len) {
		set_err(a, -E2BIG);
		return false;
	}
	if (a->len + n <= a->cap)
		return true;
	size_t cap = a->cap ? a->cap : 256;
	while (cap < a->len + n)
		cap *= 2;
	uint8_t *p = realloc(a->buf, cap);
	if (!p) {
		set_err(a, -ENOMEM);
		return false;
	}
	a->buf = p;
	a->cap = cap;
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!reserve(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n && i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Inserts n bytes at offset at, shifting what follows. */
static void insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (at > a->len) {
		set_err(a, -EINVAL);
		return;
	}
	if (!reserve(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

/* 20.2.4: one byte holds up to 63 in bits 5:0; otherwise bits 7:6 of the
 * lead byte count the following bytes (1..3), bits 3:0 hold the low nibble
 * and each following byte the next 8 bits. */
int aml_pkglen_encode(uint32_t value, uint8_t out[4])
{
	if (value <= 0x3F) {
		if (value < 1)
			return -EINVAL;
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value > PKGLEN_MAX)
		return -EINVAL;
	int n = value <= 0xFFF ? 2 : value <= 0xFFFFF ? 3 : 4;
	out[0] = (uint8_t)(((unsigned)(n - 1) << 6) | (value & 0x0F));
	for (int i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

/* The PkgLength for a body of body bytes: the value counts its own bytes. */
static int pkglen_for_body(size_t body, uint8_t out[4])
{
	for (uint32_t n = 1; n <= 4; n++) {
		static const uint32_t limit[] = { 0, 0x3F, 0xFFF, 0xFFFFF, PKGLEN_MAX };
		if (body <= limit[n] - n) {
			int r = aml_pkglen_encode((uint32_t)body + n, out);
			return r == (int)n ? r : -EINVAL;
		}
	}
	return -E2BIG;
}

static bool is_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_lead_char(c) || (c >= '0' && c <= '9');
}

/* Length of the segment at s (up to '.' or NUL), or 0 if invalid. */
static size_t seg_len(const char *s)
{
	size_t n = 0;
	if (!is_lead_char(s[0]))
		return 0;
	while (s[n] && s[n] != '.') {
		if (n >= 4 || !is_name_char(s[n]))
			return 0;
		n++;
	}
	return n;
}

void aml_namestring(struct aml *a, const char *path)
{
	if (!path) {
		set_err(a, -EINVAL);
		return;
	}
	const char *p = path;
	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	if (!*p) {
		/* NullName: valid only after a prefix ("\\" or "^"). */
		if (p == path)
			set_err(a, -EINVAL);
		aml_byte(a, 0x00);
		return;
	}
	/* Count and validate the segments first. */
	size_t nsegs = 0;
	for (const char *s = p;;) {
		size_t n = seg_len(s);
		if (!n || nsegs >= 255) {
			set_err(a, -EINVAL);
			return;
		}
		nsegs++;
		s += n;
		if (!*s)
			break;
		s++; /* '.' */
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	for (const char *s = p;;) {
		size_t n = seg_len(s);
		char seg[4] = { '_', '_', '_', '_' };
		memcpy(seg, s, n);
		aml_bytes(a, seg, 4);
		s += n;
		if (!*s)
			break;
		s++;
	}
}

/* The shortest integer term for v into out (up to 9 bytes); its length. */
static size_t int_encode(uint64_t v, uint8_t out[9])
{
	static const uint8_t prefix[] = { AML_BYTE_PREFIX, AML_WORD_PREFIX, 0,
					  AML_DWORD_PREFIX, 0, 0, 0, AML_QWORD_PREFIX };
	if (v <= 1) {
		out[0] = v ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	size_t n = v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFF ? 4 : 8;
	out[0] = prefix[n - 1];
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n = int_encode(v, b);
	aml_bytes(a, b, n);
}

/* 20.2.3: String := StringPrefix AsciiCharList NullChar, chars 0x01-0x7F. */
void aml_string(struct aml *a, const char *s)
{
	if (!s) {
		set_err(a, -EINVAL);
		return;
	}
	size_t n = strnlen(s, AML_MAX_LEN);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7F) {
			set_err(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, n);
	aml_byte(a, 0x00);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 19.6.37 EISAID: three letters as 5-bit values (A = 1) and a 16-bit
 * product number, stored big-endian in a DWORD. */
int aml_eisaid_value(const char *id, uint32_t *out)
{
	if (!id || strnlen(id, 8) != 7)
		return -EINVAL;
	uint32_t vendor = 0, product = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		vendor = (vendor << 5) | (uint32_t)(id[i] - 'A' + 1);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			return -EINVAL;
		product = (product << 4) | (uint32_t)d;
	}
	*out = (vendor >> 8) | ((vendor & 0xFF) << 8) | ((product >> 8) << 16) |
	       ((product & 0xFF) << 24);
	return 0;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;
	if (aml_eisaid_value(id, &v) < 0) {
		set_err(a, -EINVAL);
		return;
	}
	/* Always a DWordConst, as iasl emits it. */
	aml_byte(a, AML_DWORD_PREFIX);
	put_le(a, v, 4);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_str(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

/* Opens a block whose PkgLength is inserted at the current offset. */
static void open_block(struct aml *a, enum block_kind kind)
{
	if (a->err)
		return;
	if (a->depth >= AML_MAX_DEPTH) {
		set_err(a, -E2BIG);
		return;
	}
	a->open[a->depth].start = a->len;
	a->open[a->depth].kind = (uint8_t)kind;
	a->depth++;
}

void aml_end(struct aml *a)
{
	if (a->err)
		return;
	if (!a->depth) {
		set_err(a, -EINVAL);
		return;
	}
	a->depth--;
	size_t start = a->open[a->depth].start;
	uint8_t head[4 + 9]; /* PkgLength, then BufferSize for a Buffer */
	uint8_t size[9];
	size_t sn = 0;

	/* 19.6.10 Buffer: BufferOp PkgLength BufferSize ByteList; the size is
	 * the byte count as an integer term. */
	if (a->open[a->depth].kind == BLOCK_BUFFER)
		sn = int_encode(a->len - start, size);
	int pn = pkglen_for_body(a->len - start + sn, head);
	if (pn < 0) {
		set_err(a, pn);
		return;
	}
	memcpy(head + pn, size, sn);
	insert(a, start, head, (size_t)pn + sn);
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE_OP);
	open_block(a, BLOCK_PLAIN);
	aml_namestring(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	open_block(a, BLOCK_PLAIN);
	aml_namestring(a, path);
}

void aml_package_begin(struct aml *a, uint8_t nelems)
{
	aml_byte(a, AML_PACKAGE_OP);
	open_block(a, BLOCK_PLAIN);
	aml_byte(a, nelems);
}

void aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	open_block(a, BLOCK_BUFFER);
}

void aml_method_begin(struct aml *a, const char *path, unsigned nargs,
		      bool serialized)
{
	if (nargs > 7) {
		set_err(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_METHOD_OP);
	open_block(a, BLOCK_PLAIN);
	aml_namestring(a, path);
	aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_return_int(struct aml *a, uint64_t v)
{
	aml_byte(a, AML_RETURN_OP);
	aml_integer(a, v);
}

void aml_return_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_RETURN_OP);
	aml_namestring(a, path);
}

void aml_rt_begin(struct aml *a)
{
	aml_buffer_begin(a);
}

/* 6.4.2.9 End Tag: checksum 0 means the template is treated as valid. */
void aml_rt_end(struct aml *a)
{
	aml_byte(a, RT_END_TAG);
	aml_byte(a, 0x00);
	aml_end(a);
}

void aml_rt_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
	       uint8_t len)
{
	aml_byte(a, RT_IO);
	aml_byte(a, 0x01); /* _DEC: decodes all 16 address bits */
	put_le(a, min, 2);
	put_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_rt_irq(struct aml *a, unsigned irq, uint8_t flags)
{
	if (irq > 15 || (flags & ~0x39u)) {
		set_err(a, -EINVAL);
		return;
	}
	aml_byte(a, RT_IRQ);
	put_le(a, 1u << irq, 2);
	aml_byte(a, flags);
}

void aml_rt_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		set_err(a, -EINVAL);
		return;
	}
	aml_byte(a, RT_IRQ_NOFLAGS);
	put_le(a, 1u << irq, 2);
}

void aml_rt_memory32_fixed(struct aml *a, bool rw, uint32_t base,
			   uint32_t len)
{
	aml_byte(a, RT_MEMORY32_FIXED);
	put_le(a, 9, 2); /* length of the data that follows */
	aml_byte(a, rw ? 0x01 : 0x00);
	put_le(a, base, 4);
	put_le(a, len, 4);
}

/* 6.4.3.5.1-3: tag, length, resource type, general flags, type-specific
 * flags, then granularity, min, max, translation offset and length, each
 * `size` bytes wide. */
static void address_space(struct aml *a, uint8_t tag, unsigned size,
			  uint8_t type, uint8_t type_flags, uint64_t min,
			  uint64_t max)
{
	/* The length must fit its field: the whole space (0..0xFFFF in a
	 * Word descriptor, 0..~0 in a QWord one) cannot be described. */
	uint64_t len = max - min + 1;
	if (max < min || len == 0 || (size < 8 && len >> (8 * size))) {
		set_err(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	put_le(a, 3 + 5 * size, 2);
	aml_byte(a, type);
	aml_byte(a, RT_GEN_MIF | RT_GEN_MAF); /* producer, positive decode */
	aml_byte(a, type_flags);
	put_le(a, 0, size); /* _GRA */
	put_le(a, min, size);
	put_le(a, max, size);
	put_le(a, 0, size); /* _TRA */
	put_le(a, len, size);
}

void aml_rt_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	address_space(a, RT_WORD_ADDRESS, 2, RT_TYPE_BUS, 0, min, max);
}

void aml_rt_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	address_space(a, RT_WORD_ADDRESS, 2, RT_TYPE_IO, RT_IO_ENTIRE_RANGE,
		      min, max);
}

/* Memory type-specific flags, 6.4.3.5.x: bit 0 _RW, bits 2:1 _MEM. */
static uint8_t mem_flags(struct aml *a, unsigned mem_type, bool rw)
{
	if (mem_type > AML_MEM_PREFETCHABLE) {
		set_err(a, -EINVAL);
		return 0;
	}
	return (uint8_t)((rw ? 0x01 : 0x00) | (mem_type << 1));
}

void aml_rt_dword_memory(struct aml *a, unsigned mem_type, bool rw,
			 uint32_t min, uint32_t max)
{
	address_space(a, RT_DWORD_ADDRESS, 4, RT_TYPE_MEMORY,
		      mem_flags(a, mem_type, rw), min, max);
}

void aml_rt_qword_memory(struct aml *a, unsigned mem_type, bool rw,
			 uint64_t min, uint64_t max)
{
	address_space(a, RT_QWORD_ADDRESS, 8, RT_TYPE_MEMORY,
		      mem_flags(a, mem_type, rw), min, max);
}
