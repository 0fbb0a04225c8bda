/* AML writer: encodings checked byte for byte. The resource descriptor and
 * method vectors were cross-checked against iasl 20200925 (-oa) output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/aml.h"

#define U8(...) ((const uint8_t[]){ __VA_ARGS__ })
#define expect_bytes(a, ...)                                                   \
	check_bytes(a, U8(__VA_ARGS__), sizeof(U8(__VA_ARGS__)))

static void check_bytes(struct aml *a, const uint8_t *want, size_t n)
{
	assert_int_equal(aml_finish(a), 0);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
	aml_free(a);
}

static void test_pkglen_encode(void **state)
{
	static const struct {
		uint32_t value;
		int n;
		uint8_t bytes[4];
	} cases[] = {
		{ 1, 1, { 0x01 } },
		{ 63, 1, { 0x3F } },
		{ 64, 2, { 0x40, 0x04 } },
		{ 4095, 2, { 0x4F, 0xFF } },
		{ 4096, 3, { 0x80, 0x00, 0x01 } },
		{ 0xFFFFF, 3, { 0x8F, 0xFF, 0xFF } },
		{ 0x100000, 4, { 0xC0, 0x00, 0x00, 0x01 } },
		{ 0x0FFFFFFF, 4, { 0xCF, 0xFF, 0xFF, 0xFF } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[4] = { 0 };
		assert_int_equal(aml_pkglen_encode(cases[i].value, out), cases[i].n);
		assert_memory_equal(out, cases[i].bytes, (size_t)cases[i].n);
	}
	uint8_t out[4];
	assert_int_equal(aml_pkglen_encode(0, out), -EINVAL);
	assert_int_equal(aml_pkglen_encode(0x10000000, out), -EINVAL);
}

/* Scope(\) { body bytes }: the PkgLength counts itself, the NameString
 * (5C 00) and the body. Checks the patched length and that the body moved
 * intact behind it. */
static void check_scope_with_body(size_t body, const uint8_t *pkg, size_t pn)
{
	struct aml a;
	aml_init(&a);
	aml_scope_begin(&a, "\\");
	for (size_t i = 0; i < body; i++)
		aml_byte(&a, (uint8_t)(i * 7 + 3));
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.len, 1 + pn + 2 + body);
	assert_int_equal(a.buf[0], 0x10);
	assert_memory_equal(a.buf + 1, pkg, pn);
	assert_int_equal(a.buf[1 + pn], 0x5C);
	assert_int_equal(a.buf[2 + pn], 0x00);
	for (size_t i = 0; i < body; i++)
		assert_int_equal(a.buf[3 + pn + i], (uint8_t)(i * 7 + 3));
	aml_free(&a);
}

static void test_pkglen_boundaries(void **state)
{
	/* PkgLength value 63: the largest one-byte encoding */
	check_scope_with_body(60, U8(0x3F), 1);
	/* one more byte: value 64 needs two bytes, so it becomes 65 */
	check_scope_with_body(61, U8(0x41, 0x04), 2);
	/* value 4095: the largest two-byte encoding */
	check_scope_with_body(4091, U8(0x4F, 0xFF), 2);
	/* value 4096 needs three bytes, so it becomes 4097 */
	check_scope_with_body(4092, U8(0x81, 0x00, 0x01), 3);
	/* value 0xFFFFF: the largest three-byte encoding */
	check_scope_with_body(0xFFFFA, U8(0x8F, 0xFF, 0xFF), 3);
	/* value 0x100000 needs four bytes, so it becomes 0x100001 */
	check_scope_with_body(0xFFFFB, U8(0xC1, 0x00, 0x00, 0x01), 4);
}

static void test_nested_blocks(void **state)
{
	/* Scope(\_SB) { Device(DEV0) { 100 bytes } }: the inner length grows to
	 * two bytes, which the outer length must include. */
	struct aml a;
	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "DEV0");
	for (int i = 0; i < 100; i++)
		aml_byte(&a, 0xAA);
	aml_end(&a);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	/* device: PkgLength 2 + 4 + 100 = 106 (4A 06), 108 bytes in all;
	 * scope: PkgLength 2 + 5 + 108 = 115 (43 07) */
	assert_int_equal(a.len, 1 + 2 + 5 + 108);
	assert_memory_equal(a.buf, U8(0x10, 0x43, 0x07, 0x5C, '_', 'S', 'B', '_', 0x5B,
				      0x82, 0x4A, 0x06, 'D', 'E', 'V', '0'),
			    16);
	aml_free(&a);
}

static void test_integers(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xFF);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0xFFFF);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0xFFFFFFFF);
	aml_integer(&a, 0x100000000ULL);
	aml_integer(&a, 0x0123456789ABCDEFULL);
	expect_bytes(&a, 0x00, 0x01, 0x0A, 0x02, 0x0A, 0xFF, 0x0B, 0x00, 0x01, 0x0B, 0xFF,
		     0xFF, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x0C, 0xFF, 0xFF, 0xFF, 0xFF,
		     0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0E, 0xEF,
		     0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01);
}

static void test_strings(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_string(&a, "QEMU0001");
	aml_string(&a, "");
	expect_bytes(&a, 0x0D, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00, 0x0D, 0x00);

	aml_init(&a);
	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
}

static void test_eisaid(void **state)
{
	uint32_t v = 0;
	assert_int_equal(aml_eisaid_value("PNP0A03", &v), 0);
	assert_int_equal(v, 0x030AD041);
	assert_int_equal(aml_eisaid_value("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105D041);
	assert_int_equal(aml_eisaid_value("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP05011", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP05G1", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value(NULL, &v), -EINVAL);

	struct aml a;
	aml_init(&a);
	aml_eisaid(&a, "PNP0A03");
	expect_bytes(&a, 0x0C, 0x41, 0xD0, 0x0A, 0x03);
}

static void test_namestrings(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_namestring(&a, "\\");
	aml_namestring(&a, "_SB");
	aml_namestring(&a, "\\_SB.PCI0");
	aml_namestring(&a, "\\_SB.PCI0.ISA");
	aml_namestring(&a, "^^FOO");
	expect_bytes(&a, 0x5C, 0x00, '_', 'S', 'B', '_', 0x5C, 0x2E, '_', 'S', 'B', '_',
		     'P', 'C', 'I', '0', 0x5C, 0x2F, 0x03, '_', 'S', 'B', '_', 'P', 'C',
		     'I', '0', 'I', 'S', 'A', '_', 0x5E, 0x5E, 'F', 'O', 'O', '_');

	static const char *const bad[] = { "", "pci0", "1ABC", "ABCDE", "A..B",
					   "A.", ".A", "\\\\A", "A^B" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_namestring(&a, bad[i]);
		assert_int_equal(aml_finish(&a), -EINVAL);
		aml_free(&a);
	}
}

static void test_device_with_hid(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_device_begin(&a, "COM1");
	aml_name_eisaid(&a, "_HID", "PNP0501");
	aml_end(&a);
	expect_bytes(&a, 0x5B, 0x82, 0x0F, 'C', 'O', 'M', '1', 0x08, '_', 'H', 'I', 'D',
		     0x0C, 0x41, 0xD0, 0x05, 0x01);
}

static void test_name_package_method(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_name(&a, "_S5");
	aml_package_begin(&a, 4);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a);
	aml_method_begin(&a, "_STA", 0, false);
	aml_return_int(&a, 0x0F);
	aml_end(&a);
	aml_method_begin(&a, "FOO", 1, true);
	aml_return_name(&a, "\\_SB");
	aml_end(&a);
	expect_bytes(&a, 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A,
		     0x05, 0x00, 0x00, /* Package */
		     0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F, /* _STA */
		     0x14, 0x0C, 'F', 'O', 'O', '_', 0x09, 0xA4, 0x5C, '_', 'S', 'B',
		     '_');
}

static void test_buffers(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_buffer_begin(&a);
	aml_end(&a);
	aml_buffer_begin(&a);
	aml_bytes(&a, "\x11\x22\x33", 3);
	aml_end(&a);
	expect_bytes(&a, 0x11, 0x02, 0x00, 0x11, 0x06, 0x0A, 0x03, 0x11, 0x22, 0x33);

	/* 300 bytes: WordConst size, two-byte PkgLength (2 + 3 + 300) */
	aml_init(&a);
	aml_buffer_begin(&a);
	for (int i = 0; i < 300; i++)
		aml_byte(&a, 0x55);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.len, 1 + 2 + 3 + 300);
	assert_memory_equal(a.buf, U8(0x11, 0x41, 0x13, 0x0B, 0x2C, 0x01, 0x55), 7);
	aml_free(&a);
}

static void test_rt_io_irq(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_name(&a, "_CRS");
	aml_rt_begin(&a);
	aml_rt_io(&a, 0x3F8, 0x3F8, 1, 8);
	aml_rt_irq_noflags(&a, 4);
	aml_rt_end(&a);
	/* as iasl emits Name(_CRS, ResourceTemplate(){IO(Decode16, 0x3F8,
	 * 0x3F8, 1, 8) IRQNoFlags(){4}}) */
	expect_bytes(&a, 0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01,
		     0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00);

	aml_init(&a);
	aml_rt_irq(&a, 5, AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED); /* Level */
	aml_rt_irq(&a, 12, AML_IRQ_EDGE);
	expect_bytes(&a, 0x23, 0x20, 0x00, 0x18, 0x23, 0x00, 0x10, 0x01);

	aml_init(&a);
	aml_rt_irq(&a, 16, 0);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
}

static void test_rt_memory32_fixed(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_rt_memory32_fixed(&a, true, 0xB0000000, 0x10000000);
	expect_bytes(&a, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xB0, 0x00, 0x00, 0x00,
		     0x10);
}

static void test_rt_pci_root_bridge(void **state)
{
	struct aml a;
	aml_init(&a);
	/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0,
	 * 0, 0xFF, 0, 0x100) */
	aml_rt_word_bus_number(&a, 0, 0xFF);
	expect_bytes(&a, 0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF,
		     0x00, 0x00, 0x00, 0x00, 0x01);

	/* WordIO(..., EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300) */
	aml_init(&a);
	aml_rt_word_io(&a, 0x0D00, 0xFFFF);
	expect_bytes(&a, 0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF,
		     0xFF, 0x00, 0x00, 0x00, 0xF3);

	/* DWordMemory(..., NonCacheable, ReadWrite, 0, 0xC0000000,
	 * 0xFEBFFFFF, 0, 0x3EC00000) */
	aml_init(&a);
	aml_rt_dword_memory(&a, AML_MEM_NONCACHEABLE, true, 0xC0000000, 0xFEBFFFFF);
	expect_bytes(&a, 0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		     0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xBF, 0xFE, 0x00, 0x00, 0x00, 0x00,
		     0x00, 0x00, 0xC0, 0x3E);

	/* QWordMemory(..., Prefetchable, ReadWrite, 0, 0x8000000000,
	 * 0xFFFFFFFFFF, 0, 0x8000000000) */
	aml_init(&a);
	aml_rt_qword_memory(&a, AML_MEM_PREFETCHABLE, true, 0x8000000000ULL,
			    0xFFFFFFFFFFULL);
	expect_bytes(&a, 0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x07,
		     0, 0, 0, 0, 0, 0, 0, 0,                   /* _GRA */
		     0x00, 0x00, 0x00, 0x00, 0x80, 0, 0, 0,    /* _MIN */
		     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0,    /* _MAX */
		     0, 0, 0, 0, 0, 0, 0, 0,                   /* _TRA */
		     0x00, 0x00, 0x00, 0x00, 0x80, 0, 0, 0);   /* _LEN */

	/* max < min, a length that does not fit, a bad memory type */
	aml_init(&a);
	aml_rt_word_io(&a, 0x100, 0xFF);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_rt_word_bus_number(&a, 0, 0xFFFF);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_rt_qword_memory(&a, AML_MEM_CACHEABLE, true, 0, UINT64_MAX);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_rt_dword_memory(&a, 4, true, 0, 1);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
}

static void test_block_errors(void **state)
{
	struct aml a;
	aml_init(&a);
	aml_device_begin(&a, "DEV0");
	assert_int_equal(aml_finish(&a), -EINVAL); /* left open */
	aml_free(&a);

	aml_init(&a);
	aml_end(&a); /* nothing open */
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "\\");
	assert_int_equal(aml_finish(&a), -E2BIG);
	aml_free(&a);

	aml_init(&a);
	aml_method_begin(&a, "FOO", 8, false);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	/* the size cap */
	aml_init(&a);
	static uint8_t chunk[64 * 1024];
	for (int i = 0; i < 65; i++)
		aml_bytes(&a, chunk, sizeof(chunk));
	assert_int_equal(aml_finish(&a), -E2BIG);
	assert_true(a.len <= AML_MAX_LEN);
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglen_encode),
		cmocka_unit_test(test_pkglen_boundaries),
		cmocka_unit_test(test_nested_blocks),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_namestrings),
		cmocka_unit_test(test_device_with_hid),
		cmocka_unit_test(test_name_package_method),
		cmocka_unit_test(test_buffers),
		cmocka_unit_test(test_rt_io_irq),
		cmocka_unit_test(test_rt_memory32_fixed),
		cmocka_unit_test(test_rt_pci_root_bridge),
		cmocka_unit_test(test_block_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
