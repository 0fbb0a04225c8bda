/* ACPI table builder; see acpi.h. Section numbers are ACPI 6.x.
 *
 * Layout inside buf (offsets, each table aligned):
 *	RSDP at 0, FACS (64-byte aligned), DSDT, then the XSDT-listed tables
 *	(FADT, MADT, ...) and the XSDT last, once their addresses are known.
 * To add a table to the XSDT (MCFG, ...), write a builder and list it in
 * xsdt_tables[]. */
#include "arch/x86/acpi.h"
#include "arch/x86/acpi_pm_regs.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/acpi_pci.h"
#include "arch/x86/aml.h"

#define XSDT_MAX_ENTRIES 8
#define FACS_LEN 64

struct acpi_ctx {
	uint8_t *buf;
	size_t cap;
	size_t off; /* bytes used so far */
	uint64_t base;
	const struct acpi_config *cfg;
	uint64_t facs_gpa;
	uint64_t dsdt_gpa;
	uint64_t xsdt_entry[XSDT_MAX_ENTRIES];
	unsigned nxsdt;
	struct acpi_links *links; /* NULL: nobody relocates the tables */
	int link_err;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)(0x100 - sum);
}

/* Claims len zeroed bytes at the next multiple of align (a power of two);
 * NULL if they do not fit. */
static uint8_t *alloc(struct acpi_ctx *c, size_t len, size_t align,
		      uint64_t *gpa)
{
	size_t at = (c->off + align - 1) & ~(align - 1);
	if (at < c->off || at > c->cap || len > c->cap - at)
		return NULL;
	memset(c->buf + c->off, 0, at + len - c->off);
	c->off = at + len;
	*gpa = c->base + at;
	return c->buf + at;
}

/* System Description Table Header, 5.2.6. The checksum is set last. */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	t[9] = 0; /* checksum */
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, "IOVIRT  ", 8); /* OEM Table ID */
	put32(t + 24, 1);               /* OEM Revision */
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t + 32, 1); /* Creator Revision */
}

/* Records that field (size bytes) holds an address inside buf, for a
 * firmware that moves the tables (acpi_build_linked). */
static void link_pointer(struct acpi_ctx *c, const uint8_t *field, uint8_t size)
{
	struct acpi_links *l = c->links;
	if (!l)
		return;
	if (l->nptr == ACPI_LINKS_MAX) {
		c->link_err = -ENOSPC;
		return;
	}
	l->ptr[l->nptr].offset = (uint32_t)(field - c->buf);
	l->ptr[l->nptr++].size = size;
}

/* The checksum byte at sum covers [start, start + len). */
static void set_checksum(struct acpi_ctx *c, uint8_t *sum, const uint8_t *start, uint32_t len)
{
	*sum = 0;
	*sum = acpi_checksum(start, len);
	struct acpi_links *l = c->links;
	if (!l)
		return;
	if (l->nsum == ACPI_LINKS_MAX) {
		c->link_err = -ENOSPC;
		return;
	}
	l->sum[l->nsum].offset = (uint32_t)(sum - c->buf);
	l->sum[l->nsum].start = (uint32_t)(start - c->buf);
	l->sum[l->nsum++].len = len;
}

static void finish_table(struct acpi_ctx *c, uint8_t *t, uint32_t len)
{
	set_checksum(c, t + 9, t, len);
}

static int xsdt_add(struct acpi_ctx *c, uint64_t gpa)
{
	if (c->nxsdt >= XSDT_MAX_ENTRIES)
		return -ENOSPC;
	c->xsdt_entry[c->nxsdt++] = gpa;
	return 0;
}

/* Generic Address Structure, 5.2.3.2. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2

static void gas(uint8_t *p, uint8_t space, uint8_t bit_width, uint8_t access,
		uint64_t addr)
{
	p[0] = space;
	p[1] = bit_width;
	p[2] = 0; /* bit offset */
	p[3] = access;
	put64(p + 4, addr);
}

/* FACS, 5.2.10: required when not hardware-reduced; the OS writes the
 * waking vector and global lock here. No checksum. */
static int build_facs(struct acpi_ctx *c)
{
	uint8_t *t = alloc(c, FACS_LEN, 64, &c->facs_gpa);
	if (!t)
		return -ENOSPC;
	memcpy(t, "FACS", 4);
	put32(t + 4, FACS_LEN);
	/* hardware signature, waking vectors, global lock, flags: 0 */
	t[32] = 2; /* Version */
	return 0;
}

/* 19.6.x ResourceTemplate for a fixed ISA device: IO ports and an IRQ. */
static void isa_device(struct aml *a, const char *name, const char *hid,
		       const uint16_t *ports, const uint8_t *lens, unsigned nports,
		       int irq)
{
	aml_device_begin(a, name);
	aml_name_eisaid(a, "_HID", hid);
	aml_name(a, "_CRS");
	aml_rt_begin(a);
	for (unsigned i = 0; i < nports; i++)
		aml_rt_io(a, ports[i], ports[i], 1, lens[i]);
	if (irq >= 0)
		aml_rt_irq_noflags(a, (unsigned)irq);
	aml_rt_end(a);
	aml_end(a);
}

/* The DSDT's AML: \_S5 and the fixed ISA devices in \_SB. */
static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	/* 7.4.2 \_S5: {SLP_TYPa, SLP_TYPb, reserved, reserved} */
	aml_name(a, "_S5");
	aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);

	aml_scope_begin(a, "\\_SB");

	/* COM1, 16550 UART */
	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_int(a, "_UID", 1);
	aml_name(a, "_CRS");
	aml_rt_begin(a);
	aml_rt_io(a, 0x3F8, 0x3F8, 1, 8);
	aml_rt_irq_noflags(a, 4);
	aml_rt_end(a);
	aml_end(a);

	/* i8042 keyboard controller: data 0x60, command/status 0x64 */
	if (!cfg->no_i8042) {
		static const uint16_t kbd_ports[] = { 0x60, 0x64 };
		static const uint8_t kbd_lens[] = { 1, 1 };
		isa_device(a, "KBD", "PNP0303", kbd_ports, kbd_lens, 2, 1);
	}

	/* CMOS RTC: index 0x70, data 0x71 */
	static const uint16_t rtc_ports[] = { 0x70 };
	static const uint8_t rtc_lens[] = { 2 };
	isa_device(a, "RTC", "PNP0B00", rtc_ports, rtc_lens, 1, 8);

	/* pvpanic (QEMU's ISA interface): one port, _STA present+enabled */
	aml_device_begin(a, "PEVT");
	aml_name_str(a, "_HID", "QEMU0001");
	aml_name(a, "_CRS");
	aml_rt_begin(a);
	aml_rt_io(a, 0x505, 0x505, 1, 1);
	aml_rt_end(a);
	aml_name_int(a, "_STA", 0x0F);
	aml_end(a);

	if (cfg->pci)
		acpi_pci_root_bridge(a, cfg->pci);

	aml_end(a); /* \_SB */
}

/* DSDT, 5.2.11.1: revision 2 for 64-bit integers. */
static int build_dsdt(struct acpi_ctx *c)
{
	struct aml a;
	aml_init(&a);
	dsdt_body(&a, c->cfg);
	int err = aml_finish(&a);
	if (err) {
		aml_free(&a);
		return err;
	}
	uint8_t *t = NULL;
	if (a.len <= UINT32_MAX - ACPI_HEADER_LEN)
		t = alloc(c, ACPI_HEADER_LEN + a.len, 16, &c->dsdt_gpa);
	if (!t) {
		aml_free(&a);
		return -ENOSPC;
	}
	uint32_t len = (uint32_t)(ACPI_HEADER_LEN + a.len);
	header(t, "DSDT", len, 2);
	memcpy(t + ACPI_HEADER_LEN, a.buf, a.len);
	aml_free(&a);
	finish_table(c, t, len);
	return 0;
}

/* FADT flags, 5.2.9 table 5.10. */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
/* PWR_BUTTON (1u << 4), "no fixed-feature power button", stays clear: the
 * PM1 block has the fixed power button (devices/acpi_pm.c), so Linux's
 * button driver takes its event from PM1_STS and the SCI. */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_RTC_CENTURY 0x32 /* the PC convention, devices/rtc.c */
/* IA-PC boot architecture flags, 5.2.9.3. */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)

/* FADT, 5.2.9 table 5.9: revision 6, 276 bytes. */
static int build_fadt(struct acpi_ctx *c)
{
	const struct acpi_config *cfg = c->cfg;
	uint64_t gpa;
	uint8_t *t = alloc(c, ACPI_FADT_LEN, 16, &gpa);
	if (!t)
		return -ENOSPC;
	uint16_t evt = cfg->pm_base + ACPI_PM1_STS;
	uint16_t cnt = cfg->pm_base + ACPI_PM1_CNT;
	uint16_t rst = cfg->pm_base + ACPI_PM_RESET;

	header(t, "FACP", ACPI_FADT_LEN, 6);
	put32(t + 36, (uint32_t)c->facs_gpa); /* FIRMWARE_CTRL */
	link_pointer(c, t + 36, 4);
	put32(t + 40, (uint32_t)c->dsdt_gpa); /* DSDT */
	link_pointer(c, t + 40, 4);
	t[45] = 0;                            /* Preferred_PM_Profile: unspecified */
	put16(t + 46, cfg->sci_irq);          /* SCI_INT */
	put32(t + 48, 0); /* SMI_CMD 0: no SMI, already in ACPI mode */
	put32(t + 56, evt);                  /* PM1a_EVT_BLK */
	put32(t + 64, cnt);                  /* PM1a_CNT_BLK */
	t[88] = ACPI_PM1_EVT_LEN;            /* PM1_EVT_LEN */
	t[89] = ACPI_PM1_CNT_LEN;            /* PM1_CNT_LEN */
	/* PM_TMR_LEN, GPE0/1_BLK_LEN: 0, no PM timer and no GPE blocks */
	put16(t + 96, 0x0FFF);  /* P_LVL2_LAT > 100: C2 not supported */
	put16(t + 98, 0x0FFF);  /* P_LVL3_LAT > 1000: C3 not supported */
	/* DAY_ALRM, MON_ALRM: 0 (no RTC alarm extensions) */
	t[108] = FADT_RTC_CENTURY; /* CENTURY: CMOS index of the century */
	/* Without the 8042 flag Linux skips probing for a keyboard controller. */
	put16(t + 109, IAPC_LEGACY_DEVICES | (cfg->no_i8042 ? 0 : IAPC_8042));
	put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
	gas(t + 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, rst); /* RESET_REG */
	t[128] = ACPI_PM_RESET_VALUE;                          /* RESET_VALUE */
	t[131] = 0;            /* FADT Minor Version: 6.0 */
	put64(t + 132, 0);     /* X_FIRMWARE_CTRL: FIRMWARE_CTRL is used */
	put64(t + 140, c->dsdt_gpa); /* X_DSDT */
	link_pointer(c, t + 140, 8);
	gas(t + 148, GAS_SYSTEM_IO, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_WORD,
	    evt); /* X_PM1a_EVT_BLK */
	gas(t + 172, GAS_SYSTEM_IO, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_WORD,
	    cnt); /* X_PM1a_CNT_BLK */
	/* X_PM1b, X_PM2, X_PM_TMR, X_GPE0/1, sleep control/status: unused */
	memcpy(t + 268, "IOVIRT\0\0", 8); /* Hypervisor Vendor Identity */
	finish_table(c, t, ACPI_FADT_LEN);
	return xsdt_add(c, gpa);
}

/* MADT, 5.2.12: revision 5. */
#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_INT_SRC_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED (1u << 0)
/* MPS INTI flags, 5.2.12.5 table 5.x: polarity 01 active high (bits 1:0),
 * trigger 11 level (bits 3:2). */
#define MPS_INTI_HIGH_LEVEL 0x000D

static int build_madt(struct acpi_ctx *c)
{
	const struct acpi_config *cfg = c->cfg;
	size_t len = ACPI_HEADER_LEN + 8 + 8 * cfg->ncpus + 12 + 10 + 6;
	uint64_t gpa;
	uint8_t *t = alloc(c, len, 16, &gpa);
	if (!t)
		return -ENOSPC;
	header(t, "APIC", (uint32_t)len, 5);
	put32(t + 36, ACPI_LAPIC_ADDR);
	put32(t + 40, MADT_PCAT_COMPAT); /* dual 8259s present */
	uint8_t *e = t + 44;

	/* Processor Local APIC, 5.2.12.2 */
	for (unsigned i = 0; i < cfg->ncpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i; /* ACPI Processor UID */
		e[3] = (uint8_t)i; /* APIC ID */
		put32(e + 4, MADT_LAPIC_ENABLED);
	}
	/* I/O APIC, 5.2.12.3 */
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = 0; /* I/O APIC ID */
	put32(e + 4, ACPI_IOAPIC_ADDR);
	put32(e + 8, 0); /* Global System Interrupt Base */
	e += 12;
	/* Interrupt Source Override, 5.2.12.5: the SCI is level, active high.
	 * None for IRQ 0: KVM's in-kernel PIT raises GSI 0. */
	e[0] = MADT_INT_SRC_OVERRIDE;
	e[1] = 10;
	e[2] = 0; /* Bus: ISA */
	e[3] = cfg->sci_irq;
	put32(e + 4, cfg->sci_irq);
	put16(e + 8, MPS_INTI_HIGH_LEVEL);
	e += 10;
	/* Local APIC NMI, 5.2.12.7: LINT1 of every processor, bus defaults */
	e[0] = MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = 0xFF; /* all processors */
	put16(e + 3, 0);
	e[5] = 1; /* LINT1 */

	finish_table(c, t, (uint32_t)len);
	return xsdt_add(c, gpa);
}

/* MCFG (PCI Firmware 3.0 §4.1.2): one ECAM allocation for segment 0,
 * bus 0; Linux uses it only because the e820 map reserves the area too. */
static int build_mcfg(struct acpi_ctx *c)
{
	if (!c->cfg->pci)
		return 0;
	const size_t len = ACPI_HEADER_LEN + 8 + 16;
	uint64_t gpa;
	uint8_t *t = alloc(c, len, 8, &gpa);
	if (!t)
		return -ENOSPC;
	header(t, "MCFG", (uint32_t)len, 1);
	uint8_t *e = t + ACPI_HEADER_LEN + 8; /* 8 reserved bytes */
	put64(e, c->cfg->pci->ecam_base);
	put16(e + 8, 0); /* PCI segment group */
	e[10] = 0;       /* start bus */
	e[11] = 0;       /* end bus */
	finish_table(c, t, (uint32_t)len);
	return xsdt_add(c, gpa);
}

/* The tables listed in the XSDT, in order. */
static int (*const xsdt_tables[])(struct acpi_ctx *c) = {
	build_fadt,
	build_madt,
	build_mcfg,
};

/* XSDT, 5.2.8: header plus 64-bit table addresses. */
static int build_xsdt(struct acpi_ctx *c, uint64_t *gpa)
{
	size_t len = ACPI_HEADER_LEN + 8 * (size_t)c->nxsdt;
	uint8_t *t = alloc(c, len, 16, gpa);
	if (!t)
		return -ENOSPC;
	header(t, "XSDT", (uint32_t)len, 1);
	for (unsigned i = 0; i < c->nxsdt; i++) {
		put64(t + ACPI_HEADER_LEN + 8 * i, c->xsdt_entry[i]);
		link_pointer(c, t + ACPI_HEADER_LEN + 8 * i, 8);
	}
	finish_table(c, t, (uint32_t)len);
	return 0;
}

/* RSDP, 5.2.5.3: revision 2, no RSDT. */
static void build_rsdp(struct acpi_ctx *c, uint8_t *r, uint64_t xsdt_gpa)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	r[15] = 2;              /* Revision: ACPI 2.0+ */
	put32(r + 16, 0);       /* RsdtAddress: none, XSDT only */
	put32(r + 20, ACPI_RSDP_LEN);
	put64(r + 24, xsdt_gpa);
	link_pointer(c, r + 24, 8);
	set_checksum(c, r + 8, r, 20);             /* first 20 bytes */
	set_checksum(c, r + 32, r, ACPI_RSDP_LEN); /* extended: all 36 */
}

static int check_config(const uint8_t *buf, uint64_t base_gpa,
			const struct acpi_config *cfg)
{
	if (!buf || !cfg || (base_gpa & 15) || base_gpa > UINT32_MAX)
		return -EINVAL;
	if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	/* the SCI is an ISA IRQ (not the cascade) so it can be overridden */
	if (cfg->sci_irq == 0 || cfg->sci_irq == 2 || cfg->sci_irq > 15)
		return -EINVAL;
	if (cfg->pm_base == 0 || cfg->pm_base > 0x10000 - ACPI_PM_LEN)
		return -EINVAL;
	return 0;
}

static long build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
		  struct acpi_links *links)
{
	int err = check_config(buf, base_gpa, cfg);
	if (err)
		return err;
	struct acpi_ctx c = { .buf = buf, .cap = cap, .base = base_gpa, .cfg = cfg, .links = links };
	if (links)
		memset(links, 0, sizeof(*links));
	uint64_t rsdp_gpa, xsdt_gpa;
	uint8_t *rsdp = alloc(&c, ACPI_RSDP_LEN, 16, &rsdp_gpa);
	if (!rsdp)
		return -ENOSPC;
	err = build_facs(&c);
	if (!err)
		err = build_dsdt(&c);
	for (size_t i = 0; !err && i < sizeof(xsdt_tables) / sizeof(xsdt_tables[0]); i++)
		err = xsdt_tables[i](&c);
	if (!err)
		err = build_xsdt(&c, &xsdt_gpa);
	if (err)
		return err;
	/* The FADT's DSDT and FIRMWARE_CTRL fields are 32 bits wide. */
	if (c.off > UINT32_MAX - base_gpa)
		return -EINVAL;
	build_rsdp(&c, rsdp, xsdt_gpa);
	return c.link_err ? c.link_err : (long)c.off;
}

long acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg)
{
	return build(buf, cap, base_gpa, cfg, NULL);
}

long acpi_build_linked(uint8_t *buf, size_t cap, const struct acpi_config *cfg,
		       struct acpi_links *links)
{
	return build(buf, cap, 0, cfg, links);
}
