/* ACPI tables: checksums, lengths, the XSDT's pointers and the fields the
 * guest relies on (MADT CPUs, FADT PM blocks, DSDT \_S5). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "devices/acpi_pm.h"

static uint8_t buf[ACPI_TABLES_MAX];

static const struct acpi_config default_cfg = {
	.ncpus = 2,
	.pm_base = ACPI_PM_BASE,
	.sci_irq = 9,
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static long build(const struct acpi_config *cfg)
{
	memset(buf, 0xA5, sizeof(buf)); /* the builder must not rely on zeroes */
	return acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, cfg);
}

/* A table at guest address gpa, checked to lie wholly inside the used part
 * of buf, with a valid header checksum. */
static const uint8_t *table_at(uint64_t gpa, long used, const char *sig)
{
	assert_true(gpa >= ACPI_TABLES_GPA);
	uint64_t off = gpa - ACPI_TABLES_GPA;
	assert_true(off + 36 <= (uint64_t)used);
	const uint8_t *t = buf + off;
	uint32_t len = rd32(t + 4);
	assert_true(len >= 36);
	assert_true(off + len <= (uint64_t)used);
	assert_memory_equal(t, sig, 4);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "IOVIRT", 6);
	assert_memory_equal(t + 28, "IOVT", 4);
	return t;
}

static const uint8_t *xsdt_of(long used)
{
	return table_at(rd64(buf + 24), used, "XSDT");
}

/* The XSDT entry with signature sig, or NULL. */
static const uint8_t *find_table(long used, const char *sig)
{
	const uint8_t *x = xsdt_of(used);
	unsigned n = (rd32(x + 4) - 36) / 8;
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = rd64(x + 36 + 8 * i);
		assert_true(gpa >= ACPI_TABLES_GPA && gpa + 4 <= ACPI_TABLES_GPA + (uint64_t)used);
		if (!memcmp(buf + (gpa - ACPI_TABLES_GPA), sig, 4))
			return table_at(gpa, used, sig);
	}
	return NULL;
}

static void test_rsdp(void **state)
{
	long used = build(&default_cfg);
	assert_true(used > 0 && used <= ACPI_TABLES_MAX);
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(sum(buf, 20), 0);           /* ACPI 1.0 checksum */
	assert_int_equal(buf[15], 2);                /* revision */
	assert_int_equal(rd32(buf + 20), 36);        /* length */
	assert_int_equal(sum(buf, 36), 0);           /* extended checksum */
	assert_memory_equal(buf + 9, "IOVIRT", 6);
	assert_int_equal(ACPI_TABLES_GPA % 16, 0);
	xsdt_of(used);
}

static void test_xsdt_entries(void **state)
{
	long used = build(&default_cfg);
	const uint8_t *x = xsdt_of(used);
	uint32_t len = rd32(x + 4);
	assert_int_equal((len - 36) % 8, 0);
	unsigned n = (len - 36) / 8;
	assert_int_equal(n, 2);
	table_at(rd64(x + 36), used, "FACP");
	table_at(rd64(x + 44), used, "APIC");
}

static void test_fadt(void **state)
{
	long used = build(&default_cfg);
	const uint8_t *f = find_table(used, "FACP");
	assert_non_null(f);
	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(rd16(f + 46), 9);              /* SCI_INT */
	assert_int_equal(rd32(f + 48), 0);              /* SMI_CMD */
	assert_int_equal(rd32(f + 56), ACPI_PM_BASE);   /* PM1a_EVT_BLK */
	assert_int_equal(rd32(f + 64), ACPI_PM_BASE + 4); /* PM1a_CNT_BLK */
	assert_int_equal(rd32(f + 76), 0);              /* PM_TMR_BLK */
	assert_int_equal(rd32(f + 80), 0);              /* GPE0_BLK */
	assert_int_equal(f[88], 4);                     /* PM1_EVT_LEN */
	assert_int_equal(f[89], 2);                     /* PM1_CNT_LEN */
	assert_int_equal(f[91], 0);                     /* PM_TMR_LEN */
	assert_int_equal(f[92], 0);                     /* GPE0_BLK_LEN */
	assert_int_equal(f[108], 0x32);                 /* CENTURY */
	assert_int_equal(rd16(f + 109), 0x3);           /* LEGACY_DEVICES|8042 */
	uint32_t flags = rd32(f + 112);
	/* WBINVD, PROC_C1, SLP_BUTTON, RESET_REG_SUP; PWR_BUTTON (bit 4) clear:
	 * the fixed power button is there (vm.power-button). */
	assert_int_equal(flags, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
	assert_false(flags & (1u << 4));
	assert_false(flags & (1u << 20));               /* not HW_REDUCED */
	/* RESET_REG: system I/O, 8 bits, byte access, pm_base + 8 */
	assert_memory_equal(f + 116, ((const uint8_t[]){ 1, 8, 0, 1 }), 4);
	assert_int_equal(rd64(f + 120), ACPI_PM_BASE + 8);
	assert_int_equal(f[128], 1);                    /* RESET_VALUE */
	/* X_PM1a_EVT_BLK / X_PM1a_CNT_BLK */
	assert_int_equal(f[148], 1);
	assert_int_equal(f[149], 32);
	assert_int_equal(rd64(f + 152), ACPI_PM_BASE);
	assert_int_equal(f[172], 1);
	assert_int_equal(f[173], 16);
	assert_int_equal(rd64(f + 176), ACPI_PM_BASE + 4);
	/* DSDT: 32-bit and 64-bit fields agree and point at a DSDT */
	uint64_t dsdt = rd64(f + 140);
	assert_int_equal(rd32(f + 40), dsdt);
	table_at(dsdt, used, "DSDT");
	/* FACS: 64-byte aligned, 64 bytes, version 2 */
	uint32_t facs = rd32(f + 36);
	assert_int_equal(facs % 64, 0);
	assert_true(facs + 64 <= ACPI_TABLES_GPA + (uint64_t)used);
	const uint8_t *fc = buf + (facs - ACPI_TABLES_GPA);
	assert_memory_equal(fc, "FACS", 4);
	assert_int_equal(rd32(fc + 4), 64);
	assert_int_equal(fc[32], 2);
	assert_int_equal(rd64(f + 132), 0);             /* X_FIRMWARE_CTRL */
}

static void check_madt(unsigned ncpus)
{
	struct acpi_config cfg = default_cfg;
	cfg.ncpus = ncpus;
	long used = build(&cfg);
	assert_true(used > 0);
	const uint8_t *m = find_table(used, "APIC");
	assert_non_null(m);
	uint32_t len = rd32(m + 4);
	assert_int_equal(rd32(m + 36), 0xFEE00000);
	assert_int_equal(rd32(m + 40), 1); /* PCAT_COMPAT */
	unsigned lapics = 0, ioapics = 0, overrides = 0;
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = m + off;
		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], lapics); /* APIC ids 0..n-1 in order */
			assert_int_equal(rd32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1: /* I/O APIC */
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], 0);
			assert_int_equal(rd32(e + 4), 0xFEC00000);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2: /* Interrupt Source Override */
			assert_int_equal(e[1], 10);
			assert_int_equal(e[3], 9);
			assert_int_equal(rd32(e + 4), 9);
			assert_int_equal(rd16(e + 8), 0x000D);
			overrides++;
			break;
		default:
			break;
		}
		off += e[1];
	}
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 1);
}

static void test_madt(void **state)
{
	check_madt(1);
	check_madt(2);
	check_madt(64);
}

static void test_dsdt(void **state)
{
	long used = build(&default_cfg);
	const uint8_t *f = find_table(used, "FACP");
	const uint8_t *d = table_at(rd64(f + 140), used, "DSDT");
	uint32_t len = rd32(d + 4);
	assert_int_equal(d[8], 2);
	assert_non_null(memmem(d, len, "_S5_", 4));
	/* Name(_S5_, Package(4){5, 5, 0, 0}) */
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				      0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00 };
	assert_non_null(memmem(d, len, s5, sizeof(s5)));
	static const char *const names[] = { "COM1", "KBD_", "RTC_", "PEVT", "QEMU0001" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_non_null(memmem(d, len, names[i], strlen(names[i])));
}

/* --i8042 off: the FADT says there is no 8042 (Linux then skips its probe)
 * and the DSDT has no keyboard controller; the tables stay valid. */
static void test_no_i8042(void **state)
{
	struct acpi_config cfg = default_cfg;
	cfg.no_i8042 = true;
	long used = build(&cfg);
	assert_true(used > 0);
	const uint8_t *f = find_table(used, "FACP");
	assert_non_null(f);
	assert_int_equal(sum(f, rd32(f + 4)), 0);
	assert_int_equal(rd16(f + 109), 0x1);           /* LEGACY_DEVICES only */
	const uint8_t *d = table_at(rd64(f + 140), used, "DSDT");
	uint32_t len = rd32(d + 4);
	assert_int_equal(sum(d, len), 0);
	assert_null(memmem(d, len, "KBD_", 4));
	assert_non_null(memmem(d, len, "COM1", 4));
	assert_non_null(memmem(d, len, "RTC_", 4));
}

static void test_all_checksums_across_sizes(void **state)
{
	for (unsigned n = 1; n <= 64; n++) {
		struct acpi_config cfg = default_cfg;
		cfg.ncpus = n;
		long used = build(&cfg);
		assert_true(used > 0);
		const uint8_t *x = xsdt_of(used);
		unsigned entries = (rd32(x + 4) - 36) / 8;
		for (unsigned i = 0; i < entries; i++) {
			uint64_t gpa = rd64(x + 36 + 8 * i);
			assert_true(gpa >= ACPI_TABLES_GPA &&
				    gpa + 36 <= ACPI_TABLES_GPA + (uint64_t)used);
			char sig[5] = { 0 };
			memcpy(sig, buf + (gpa - ACPI_TABLES_GPA), 4);
			table_at(gpa, used, sig);
		}
	}
}

static void test_enospc(void **state)
{
	long used = build(&default_cfg);
	assert_true(used > 0);
	static uint8_t small[ACPI_TABLES_MAX];
	assert_int_equal(acpi_build(small, 16, ACPI_TABLES_GPA, &default_cfg), -ENOSPC);
	assert_int_equal(acpi_build(small, 0, ACPI_TABLES_GPA, &default_cfg), -ENOSPC);
	assert_int_equal(acpi_build(small, (size_t)used - 1, ACPI_TABLES_GPA, &default_cfg),
			 -ENOSPC);
	assert_int_equal(acpi_build(small, (size_t)used, ACPI_TABLES_GPA, &default_cfg), used);
	assert_memory_equal(small, buf, (size_t)used);
}

static void test_einval(void **state)
{
	struct acpi_config cfg = default_cfg;
	cfg.ncpus = 0;
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, &cfg), -EINVAL);
	cfg.ncpus = 65;
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, &cfg), -EINVAL);
	cfg = default_cfg;
	cfg.sci_irq = 16;
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, &cfg), -EINVAL);
	cfg = default_cfg;
	cfg.pm_base = 0xFFF8;
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, &cfg), -EINVAL);
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA + 8, &default_cfg),
			 -EINVAL);
	assert_int_equal(acpi_build(buf, sizeof(buf), 0x100000000ULL, &default_cfg), -EINVAL);
	assert_int_equal(acpi_build(buf, sizeof(buf), 0xFFFFFF00ULL, &default_cfg), -EINVAL);
	assert_int_equal(acpi_build(buf, sizeof(buf), ACPI_TABLES_GPA, NULL), -EINVAL);
	assert_int_equal(acpi_build(NULL, sizeof(buf), ACPI_TABLES_GPA, &default_cfg), -EINVAL);
}

static void test_other_base(void **state)
{
	/* laid out for another address: pointers follow the base */
	long used = acpi_build(buf, sizeof(buf), 0x80000000ULL, &default_cfg);
	assert_true(used > 0);
	uint64_t xsdt = rd64(buf + 24);
	assert_true(xsdt >= 0x80000000ULL && xsdt < 0x80000000ULL + (uint64_t)used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsdp),
		cmocka_unit_test(test_xsdt_entries),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_dsdt),
		cmocka_unit_test(test_no_i8042),
		cmocka_unit_test(test_all_checksums_across_sizes),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_einval),
		cmocka_unit_test(test_other_base),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
