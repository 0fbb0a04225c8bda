/* The PIIX3 IDE controller against a fake driver: the legacy ports on a
 * real port-I/O bus, the bus-master registers through BAR4's ops, PRD
 * tables and buffers in fake guest RAM, real temporary images behind an
 * ATA disk (primary master), a read-only disk (primary slave) and a
 * CD-ROM (secondary master), and the real event loop. Covers IDENTIFY,
 * PIO and DMA round trips (LBA28 and LBA48), flush, resets and signatures,
 * the ATAPI commands, save/load, and what a hostile driver may try. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block_engine.h"
#include "bus/iobus.h"
#include "core/loop.h"
#include "core/state.h"
#include "devices/ide.h"
#include "devices/ide_priv.h"
#include "support/fake_irq.h"
#include "support/fake_ram.h"
#include "support/loop_wait.h"

#define RAM_SIZE (1u << 20)
#define DISK_SIZE (4u << 20)
#define CD_SIZE (64 * 2048)
#define PRD_GPA 0x1000
#define DATA_GPA 0x10000
#define P 0x1f0        /* primary command block */
#define PC 0x3f6       /* primary control */
#define S 0x170
#define SC 0x376

struct t {
	struct fake_ram ram;
	struct loop *loop;
	struct iobus *pio;
	struct fake_irq irq[2];
	struct ide_ctrl *c;
	char disk[64], rodisk[64], cd[64];
	uint8_t bmis;      /* BMIS when the last dma_cmd completed */
};

static void make_image(char *path, size_t size, unsigned seed)
{
	snprintf(path, 64, "/tmp/iovirt-ide-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint8_t *img = malloc(size);
	assert_non_null(img);
	for (size_t i = 0; i < size; i++)
		img[i] = (uint8_t)(i * 7 + i / 512 + seed);
	assert_int_equal(write(fd, img, size), (ssize_t)size);
	free(img);
	close(fd);
}

static uint8_t expected(size_t off, unsigned seed)
{
	return (uint8_t)(off * 7 + off / 512 + seed);
}

static struct ide_ctrl *open_ctrl(struct t *t)
{
	struct ide_options o = {.name = "ide0", .pio = t->pio,
				.irq = {fake_irq_line(&t->irq[0], 14), fake_irq_line(&t->irq[1], 15)}};
	o.drive[0] = (struct ide_drive_options){.path = t->disk, .serial = "DISK-SN"};
	o.drive[1] = (struct ide_drive_options){.path = t->rodisk, .readonly = true};
	o.drive[2] = (struct ide_drive_options){.path = t->cd, .cdrom = true};
	return ide_create(&o, &t->ram.mem, t->loop);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	make_image(t->disk, DISK_SIZE, 0);
	make_image(t->rodisk, DISK_SIZE, 1);
	make_image(t->cd, CD_SIZE, 2);
	fake_ram_init(&t->ram, RAM_SIZE, DATA_GPA);
	t->loop = loop_create();
	t->pio = iobus_create("pio");
	t->c = open_ctrl(t);
	assert_non_null(t->c);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	blk_fsync_hooks = NULL;
	ide_destroy(t->c);
	iobus_destroy(t->pio);
	loop_destroy(t->loop);
	fake_ram_destroy(&t->ram);
	unlink(t->disk);
	unlink(t->rodisk);
	unlink(t->cd);
	free(t);
	return 0;
}

/* ---- the driver ---- */

static uint8_t inb(struct t *t, uint16_t port)
{
	uint8_t v = 0;
	iobus_read(t->pio, port, &v, 1);
	return v;
}

static void outb(struct t *t, uint16_t port, uint8_t v)
{
	iobus_write(t->pio, port, &v, 1);
}

static uint16_t inw(struct t *t, uint16_t port)
{
	uint8_t d[2];
	iobus_read(t->pio, port, d, 2);
	return (uint16_t)(d[0] | d[1] << 8);
}

static void outw(struct t *t, uint16_t port, uint16_t v)
{
	uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	iobus_write(t->pio, port, d, 2);
}

static uint32_t inl(struct t *t, uint16_t port)
{
	uint32_t v;
	iobus_read(t->pio, port, (uint8_t *)&v, 4);
	return v;
}

static void bm_write(struct t *t, unsigned off, uint32_t v, unsigned len)
{
	struct pci_bar *b = &ide_pci(t->c)->bars[IDE_BMIDE_BAR];
	b->ops->write(b->opaque, off, (const uint8_t *)&v, len);
}

static uint8_t bm_read(struct t *t, unsigned off)
{
	struct pci_bar *b = &ide_pci(t->c)->bars[IDE_BMIDE_BAR];
	uint8_t v;
	b->ops->read(b->opaque, off, &v, 1);
	return v;
}

struct wait_arg {
	struct t *t;
	uint16_t ctl;
};

static bool not_busy(void *arg)
{
	struct wait_arg *w = arg;
	return !(inb(w->t, w->ctl) & ATA_BSY);
}

/* Runs the loop until the channel's BSY clears; its status. */
static uint8_t wait_ready(struct t *t, uint16_t ctl)
{
	struct wait_arg w = {t, ctl};
	if (!not_busy(&w))
		loop_run_until(t->loop, not_busy, &w, 3000);
	assert_false(inb(t, ctl) & ATA_BSY);
	return inb(t, ctl);
}

static void select_dev(struct t *t, uint16_t base, unsigned dev)
{
	outb(t, base + 6, (uint8_t)(0xe0 | (dev << 4)));
}

static void lba28_cmd(struct t *t, uint16_t base, unsigned dev, uint32_t lba, uint8_t count,
		      uint8_t cmd)
{
	outb(t, base + 6, (uint8_t)(0xe0 | (dev << 4) | ((lba >> 24) & 0xf)));
	outb(t, base + 2, count);
	outb(t, base + 3, (uint8_t)lba);
	outb(t, base + 4, (uint8_t)(lba >> 8));
	outb(t, base + 5, (uint8_t)(lba >> 16));
	outb(t, base + 7, cmd);
}

static void lba48_cmd(struct t *t, uint16_t base, unsigned dev, uint64_t lba, uint16_t count,
		      uint8_t cmd)
{
	outb(t, base + 6, (uint8_t)(0x40 | (dev << 4)));
	outb(t, base + 2, (uint8_t)(count >> 8));
	outb(t, base + 3, (uint8_t)(lba >> 24));
	outb(t, base + 4, (uint8_t)(lba >> 32));
	outb(t, base + 5, (uint8_t)(lba >> 40));
	outb(t, base + 2, (uint8_t)count);
	outb(t, base + 3, (uint8_t)lba);
	outb(t, base + 4, (uint8_t)(lba >> 8));
	outb(t, base + 5, (uint8_t)(lba >> 16));
	outb(t, base + 7, cmd);
}

/* PIO data-in of n bytes into out, DRQ block by DRQ block. */
static void pio_read(struct t *t, uint16_t base, uint16_t ctl, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 2) {
		if (i % 512 == 0) {
			assert_true(wait_ready(t, ctl) & ATA_DRQ);
			inb(t, base + 7); /* as the interrupt handler does */
		}
		uint16_t w = inw(t, base);
		out[i] = (uint8_t)w;
		out[i + 1] = (uint8_t)(w >> 8);
	}
}

static void pio_write(struct t *t, uint16_t base, uint16_t ctl, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i += 2) {
		if (i % 512 == 0) {
			assert_true(wait_ready(t, ctl) & ATA_DRQ);
			inb(t, base + 7);
		}
		outw(t, base, (uint16_t)(in[i] | in[i + 1] << 8));
	}
}

static void identify(struct t *t, uint16_t base, uint16_t ctl, unsigned dev, uint8_t cmd,
		     uint16_t *id)
{
	select_dev(t, base, dev);
	outb(t, base + 7, cmd);
	pio_read(t, base, ctl, (uint8_t *)id, 512);
	assert_int_equal(wait_ready(t, ctl) & (ATA_DRQ | ATA_ERR), 0);
}

static void id_string(const uint16_t *id, unsigned word, unsigned nwords, char *out)
{
	for (unsigned i = 0; i < nwords; i++) {
		out[2 * i] = (char)(id[word + i] >> 8);
		out[2 * i + 1] = (char)id[word + i];
	}
	out[2 * nwords] = 0;
}

/* A PRD table at PRD_GPA: n entries of len bytes from gpa on, the last EOT. */
static void prd_table(struct t *t, uint64_t gpa, uint32_t len, unsigned n)
{
	uint32_t *p = fake_ram_ptr(&t->ram, PRD_GPA);
	for (unsigned i = 0; i < n; i++) {
		p[2 * i] = (uint32_t)(gpa + (uint64_t)i * len);
		p[2 * i + 1] = (len & 0xffff) | (i == n - 1 ? PRD_EOT : 0);
	}
}

/* A DMA command on the primary channel with the table above. */
static uint8_t dma_cmd(struct t *t, bool ext, uint64_t lba, uint16_t count, bool write)
{
	bm_write(t, BM_STATUS, BM_ST_INTR | BM_ST_ERROR, 1);
	bm_write(t, BM_PRD, PRD_GPA, 4);
	bm_write(t, BM_CMD, write ? 0 : BM_CMD_READ, 1);
	if (ext)
		lba48_cmd(t, P, 0, lba, count, write ? 0x35 : 0x25);
	else
		lba28_cmd(t, P, 0, (uint32_t)lba, (uint8_t)count, write ? 0xca : 0xc8);
	bm_write(t, BM_CMD, (write ? 0 : BM_CMD_READ) | BM_CMD_START, 1);
	uint8_t st = wait_ready(t, PC);
	t->bmis = bm_read(t, BM_STATUS); /* before the stop clears ACTIVE */
	bm_write(t, BM_CMD, write ? 0 : BM_CMD_READ, 1);
	return st;
}

/* ---- ATA ---- */

static void test_pci_identity(void **state)
{
	struct t *t = *state;
	struct pci_dev *p = ide_pci(t->c);
	assert_int_equal(pci_cfg_get(p, 0, 2), 0x8086);
	assert_int_equal(pci_cfg_get(p, 2, 2), 0x7010);
	assert_int_equal(pci_cfg_get(p, 0x09, 3), 0x010180);
	assert_int_equal(pci_cfg_get(p, 0x3d, 1), 0); /* no PCI pin: ISA IRQs */
	assert_true(pci_cfg_get(p, 0x40, 2) & 0x8000);
	assert_true(pci_cfg_get(p, 0x42, 2) & 0x8000);
	assert_int_equal(p->bars[IDE_BMIDE_BAR].type, PCI_BAR_IO);
	assert_int_equal(p->bars[IDE_BMIDE_BAR].size, 16);
}

static void test_signatures_after_reset(void **state)
{
	struct t *t = *state;
	outb(t, PC, ATA_SRST | ATA_NIEN);
	assert_true(inb(t, PC) & ATA_BSY);
	outb(t, PC, ATA_NIEN);
	assert_int_equal(wait_ready(t, PC), ATA_DRDY | ATA_DSC);
	assert_int_equal(inb(t, P + 1), 1);
	assert_int_equal(inb(t, P + 2), 1);
	assert_int_equal(inb(t, P + 3), 1);
	assert_int_equal(inb(t, P + 4), 0);
	assert_int_equal(inb(t, P + 5), 0);
	/* The CD-ROM: the packet signature. */
	outb(t, SC, ATA_SRST);
	outb(t, SC, 0);
	wait_ready(t, SC);
	assert_int_equal(inb(t, S + 4), 0x14);
	assert_int_equal(inb(t, S + 5), 0xeb);
	/* The absent secondary slave reads status 0. */
	select_dev(t, S, 1);
	assert_int_equal(inb(t, S + 7), 0);
}

static void test_identify(void **state)
{
	struct t *t = *state;
	uint16_t id[256];
	char s[48];
	identify(t, P, PC, 0, 0xec, id);
	id_string(id, 27, 20, s);
	assert_memory_equal(s, "IOVIRT HARDDISK ", 16);
	id_string(id, 10, 10, s);
	assert_memory_equal(s, "DISK-SN ", 8);
	assert_int_equal(id[60] | (uint32_t)id[61] << 16, DISK_SIZE / 512);
	assert_int_equal(id[100] | (uint32_t)id[101] << 16, DISK_SIZE / 512);
	assert_true(id[49] & (1 << 9));          /* LBA */
	assert_true(id[83] & (1 << 10));         /* LBA48 */
	assert_true(id[83] & (1 << 13));         /* FLUSH CACHE EXT */
	assert_int_equal(id[88] & 0x3f, 0x3f);   /* UDMA 0-5 */
	assert_int_equal(id[63] & 7, 7);         /* MWDMA 0-2 */
	assert_true(id[93] & (1 << 13));         /* 80-conductor cable */
	uint8_t sum = 0;
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + ((uint8_t *)id)[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(id[255] & 0xff, 0xa5);
	/* The serial from the path when none is given. */
	identify(t, P, PC, 1, 0xec, id);
	id_string(id, 10, 10, s);
	assert_memory_equal(s, "IOVIRT", 6);
	/* IDENTIFY PACKET DEVICE on a disk: aborted. */
	select_dev(t, P, 0);
	outb(t, P + 7, 0xa1);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	assert_int_equal(inb(t, P + 1), ATA_ABRT);
}

static void test_pio_round_trip(void **state)
{
	struct t *t = *state;
	uint8_t in[4 * 512], out[4 * 512];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i ^ 0x5a);
	t->irq[0] = (struct fake_irq){0};
	lba28_cmd(t, P, 0, 100, 4, 0x30);
	pio_write(t, P, PC, in, sizeof(in));
	assert_int_equal(wait_ready(t, PC), ATA_DRDY | ATA_DSC);
	assert_true(t->irq[0].rises >= 4);
	lba28_cmd(t, P, 0, 100, 4, 0x20);
	pio_read(t, P, PC, out, sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(wait_ready(t, PC) & ATA_DRQ, 0);
	/* What was there before the write, at LBA 99 (READ SECTORS EXT). */
	lba48_cmd(t, P, 0, 99, 1, 0x24);
	pio_read(t, P, PC, out, 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(out[i], expected(99 * 512 + i, 0));
	/* 32-bit data port reads. */
	lba28_cmd(t, P, 0, 7, 1, 0x20);
	wait_ready(t, PC);
	for (unsigned i = 0; i < 512; i += 4) {
		uint32_t v = inl(t, P);
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal((uint8_t)(v >> (8 * k)), expected(7 * 512 + i + k, 0));
	}
}

static void test_multiple(void **state)
{
	struct t *t = *state;
	uint8_t out[16 * 512];
	/* READ MULTIPLE before SET MULTIPLE MODE: aborted. */
	lba28_cmd(t, P, 0, 0, 16, 0xc4);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	/* Not a power of two: aborted. */
	outb(t, P + 2, 3);
	outb(t, P + 7, 0xc6);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	outb(t, P + 2, 8);
	outb(t, P + 7, 0xc6);
	assert_false(wait_ready(t, PC) & ATA_ERR);
	t->irq[0] = (struct fake_irq){0};
	lba28_cmd(t, P, 0, 10, 16, 0xc4);
	/* Two DRQ blocks of 8 sectors: an interrupt each. */
	for (unsigned i = 0; i < sizeof(out); i += 2) {
		if (i % (8 * 512) == 0) {
			assert_true(wait_ready(t, PC) & ATA_DRQ);
			inb(t, P + 7);
		}
		uint16_t w = inw(t, P);
		memcpy(out + i, &w, 2);
	}
	assert_int_equal(t->irq[0].rises, 2);
	for (unsigned i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], expected(10 * 512 + i, 0));
}

static void test_dma_round_trip(void **state)
{
	struct t *t = *state;
	uint8_t *buf = fake_ram_ptr(&t->ram, DATA_GPA);
	/* LBA48 write of 300 sectors from 3 PRDs of 50 KiB each. */
	size_t n = 300 * 512;
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 13);
	prd_table(t, DATA_GPA, 51200, 3);
	uint8_t st = dma_cmd(t, true, 1000, 300, true);
	assert_int_equal(st & (ATA_ERR | ATA_DRQ), 0);
	assert_int_equal(t->bmis & (BM_ST_INTR | BM_ST_ERROR | BM_ST_ACTIVE), BM_ST_INTR);
	memset(buf, 0, n);
	st = dma_cmd(t, true, 1000, 300, false);
	assert_int_equal(st & ATA_ERR, 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf[i], (uint8_t)(i * 13));
	/* LBA28 read into a table larger than the transfer: ACTIVE stays. */
	prd_table(t, DATA_GPA, 4096, 4);
	st = dma_cmd(t, false, 3, 2, false);
	assert_int_equal(st & ATA_ERR, 0);
	assert_int_equal(t->bmis & (BM_ST_INTR | BM_ST_ACTIVE), BM_ST_INTR | BM_ST_ACTIVE);
	assert_false(bm_read(t, BM_STATUS) & BM_ST_ACTIVE); /* the stop cleared it */
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(buf[i], expected(3 * 512 + i, 0));
	/* The counters saw it. */
	assert_true(t->c->ch[0].counters.kicks >= 3);
	assert_true(t->c->ch[0].counters.bytes_in >= n);
}

static int fsyncs;
static void count_fsync(struct blk_backend *b, const struct blk_request *req)
{
	fsyncs++;
}

static void test_flush(void **state)
{
	static const struct blk_fsync_hooks hooks = {.issued = count_fsync};
	struct t *t = *state;
	blk_fsync_hooks = &hooks;
	fsyncs = 0;
	select_dev(t, P, 0);
	outb(t, P + 7, 0xea);
	assert_int_equal(wait_ready(t, PC) & ATA_ERR, 0);
	assert_int_equal(fsyncs, 1);
	/* With the write cache off, a write is flushed before it completes. */
	outb(t, P + 1, 0x82);
	outb(t, P + 7, 0xef);
	assert_int_equal(wait_ready(t, PC) & ATA_ERR, 0);
	uint8_t sector[512] = {1, 2, 3};
	lba28_cmd(t, P, 0, 5, 1, 0x30);
	pio_write(t, P, PC, sector, 512);
	assert_int_equal(wait_ready(t, PC) & ATA_ERR, 0);
	assert_int_equal(fsyncs, 2);
}

static void test_readonly_aborts_writes(void **state)
{
	struct t *t = *state;
	lba28_cmd(t, P, 1, 0, 1, 0x30);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	assert_int_equal(inb(t, P + 1), ATA_ABRT);
	assert_false(inb(t, PC) & ATA_DRQ);
	/* Reads work. */
	uint8_t out[512];
	lba28_cmd(t, P, 1, 2, 1, 0x20);
	pio_read(t, P, PC, out, 512);
	assert_int_equal(out[0], expected(2 * 512, 1));
}

static void test_misc_commands(void **state)
{
	struct t *t = *state;
	/* READ NATIVE MAX ADDRESS (EXT) */
	select_dev(t, P, 0);
	outb(t, P + 7, 0x27);
	wait_ready(t, PC);
	uint32_t max = inb(t, P + 3) | inb(t, P + 4) << 8 | inb(t, P + 5) << 16;
	assert_int_equal(max, DISK_SIZE / 512 - 1);
	/* CHECK POWER MODE: active */
	outb(t, P + 7, 0xe5);
	wait_ready(t, PC);
	assert_int_equal(inb(t, P + 2), 0xff);
	/* The no-ops succeed; NOP and unknown opcodes abort. */
	static const uint8_t fine[] = {0xe0, 0xe1, 0xe2, 0xe3, 0x70, 0x10, 0x91, 0x40};
	for (unsigned i = 0; i < sizeof(fine); i++) {
		lba28_cmd(t, P, 0, 0, 1, fine[i]);
		assert_int_equal(wait_ready(t, PC) & ATA_ERR, 0);
	}
	static const uint8_t bad[] = {0x00, 0xb0, 0xff, 0x06};
	for (unsigned i = 0; i < sizeof(bad); i++) {
		lba28_cmd(t, P, 0, 0, 1, bad[i]);
		assert_true(wait_ready(t, PC) & ATA_ERR);
		assert_int_equal(inb(t, P + 1), ATA_ABRT);
	}
	/* SET FEATURES: transfer modes */
	outb(t, P + 1, 0x03);
	outb(t, P + 2, 0x42);     /* UDMA 2 */
	outb(t, P + 7, 0xef);
	assert_int_equal(wait_ready(t, PC) & ATA_ERR, 0);
	outb(t, P + 1, 0x03);
	outb(t, P + 2, 0x47);     /* UDMA 7: no */
	outb(t, P + 7, 0xef);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	uint16_t id[256];
	identify(t, P, PC, 0, 0xec, id);
	assert_int_equal(id[88] >> 8, 1 << 2);
	/* EXECUTE DEVICE DIAGNOSTIC */
	outb(t, P + 7, 0x90);
	wait_ready(t, PC);
	assert_int_equal(inb(t, P + 1), 1);
}

static void test_interrupts_and_nien(void **state)
{
	struct t *t = *state;
	t->irq[0] = (struct fake_irq){0};
	select_dev(t, P, 0);
	outb(t, P + 7, 0xe5);
	wait_ready(t, PC);
	assert_true(t->irq[0].level);
	inb(t, P + 7); /* reading status ends it */
	assert_false(t->irq[0].level);
	outb(t, PC, ATA_NIEN);
	outb(t, P + 7, 0xe5);
	wait_ready(t, PC);
	assert_false(t->irq[0].level);
	assert_true(bm_read(t, BM_STATUS) & BM_ST_INTR); /* BMIS sees it anyway */
	outb(t, PC, 0);
	assert_true(t->irq[0].level); /* INTRQ was pending */
}

/* ---- hostile input ---- */

static void test_past_the_end(void **state)
{
	struct t *t = *state;
	uint32_t last = DISK_SIZE / 512;
	lba28_cmd(t, P, 0, last - 1, 2, 0x20);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	assert_int_equal(inb(t, P + 1), ATA_IDNF);
	lba48_cmd(t, P, 0, 0xffffffffffffULL, 0, 0x35);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	assert_false(inb(t, PC) & ATA_DRQ);
	/* CHS past the geometry (sector 0 does not exist) */
	outb(t, P + 6, 0xa0);
	outb(t, P + 3, 0);
	outb(t, P + 7, 0x20);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	/* The last sector itself is fine. */
	uint8_t out[512];
	lba28_cmd(t, P, 0, last - 1, 1, 0x20);
	pio_read(t, P, PC, out, 512);
	assert_int_equal(out[511], expected(DISK_SIZE - 1, 0));
}

static void test_prd_outside_ram(void **state)
{
	struct t *t = *state;
	prd_table(t, RAM_SIZE - 512, 4096, 1); /* runs past RAM's end */
	uint8_t st = dma_cmd(t, false, 0, 8, false);
	assert_true(st & ATA_ERR);
	assert_true(bm_read(t, BM_STATUS) & BM_ST_ERROR);
	assert_false(bm_read(t, BM_STATUS) & BM_ST_ACTIVE);
	/* The table itself outside RAM. */
	bm_write(t, BM_PRD, 0xfff00000u, 4);
	lba28_cmd(t, P, 0, 0, 1, 0xc8);
	bm_write(t, BM_CMD, BM_CMD_READ | BM_CMD_START, 1);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	bm_write(t, BM_CMD, 0, 1);
	/* A write whose buffer lies beyond 4 GiB's 32 bits. */
	prd_table(t, 0xffffff00u, 0x1000, 1);
	st = dma_cmd(t, false, 0, 8, true);
	assert_true(st & ATA_ERR);
}

static void test_prd_without_eot(void **state)
{
	struct t *t = *state;
	/* A table of one-byte... even zero-length entries without EOT up to
	 * the 64 KiB boundary: the walk stops there. */
	uint32_t *p = fake_ram_ptr(&t->ram, 0x20000);
	for (unsigned i = 0; i < 8192; i++) {
		p[2 * i] = DATA_GPA;
		p[2 * i + 1] = 2;
	}
	bm_write(t, BM_STATUS, BM_ST_INTR | BM_ST_ERROR, 1);
	bm_write(t, BM_PRD, 0x20000, 4);
	lba48_cmd(t, P, 0, 0, 200, 0x25);
	bm_write(t, BM_CMD, BM_CMD_READ | BM_CMD_START, 1);
	assert_true(wait_ready(t, PC) & ATA_ERR);
	assert_true(bm_read(t, BM_STATUS) & BM_ST_ERROR);
	bm_write(t, BM_CMD, 0, 1);
	/* A short table ending (EOT) before the transfer. */
	prd_table(t, DATA_GPA, 512, 1);
	assert_true(dma_cmd(t, false, 0, 2, false) & ATA_ERR);
}

static void test_stray_accesses(void **state)
{
	struct t *t = *state;
	/* The data port without DRQ: all-ones, ignored. */
	assert_int_equal(inw(t, P), 0xffff);
	outw(t, P, 0x1234);
	assert_int_equal(inb(t, PC), ATA_DRDY | ATA_DSC);
	/* A command while BSY: ignored. A DMA command waits (BSY) for its
	 * bus master; another command then changes nothing. */
	lba28_cmd(t, P, 0, 0, 1, 0xc8);
	assert_true(inb(t, PC) & ATA_BSY);
	outb(t, P + 7, 0xec);
	assert_true(inb(t, PC) & ATA_BSY);
	assert_false(inb(t, PC) & ATA_DRQ);
	/* SRST gets it out. */
	outb(t, PC, ATA_SRST);
	outb(t, PC, 0);
	assert_int_equal(wait_ready(t, PC), ATA_DRDY | ATA_DSC);
	/* Nothing answers on an empty position. */
	select_dev(t, S, 1);
	outb(t, S + 7, 0xec);
	assert_int_equal(inb(t, S + 7), 0);
	/* BAR4 accesses of every width and offset. */
	for (unsigned off = 0; off < 16; off++) {
		bm_write(t, off, 0, 1);
		(void)bm_read(t, off);
	}
}

/* SRST while a request is with the backend: the reset waits for it. */
static void test_reset_in_flight(void **state)
{
	struct t *t = *state;
	prd_table(t, DATA_GPA, 0x10000 & 0xffff, 4); /* 4 x 64 KiB */
	bm_write(t, BM_PRD, PRD_GPA, 4);
	lba48_cmd(t, P, 0, 0, 512, 0x25);
	bm_write(t, BM_CMD, BM_CMD_READ | BM_CMD_START, 1);
	/* Run the loop just enough to get the first step out. */
	for (int i = 0; i < 5 && t->c->ch[0].phase != IDE_INFLIGHT; i++)
		loop_run_until(t->loop, NULL, NULL, 10);
	outb(t, PC, ATA_SRST);
	outb(t, PC, 0);
	assert_int_equal(wait_ready(t, PC), ATA_DRDY | ATA_DSC);
	assert_int_equal(t->c->ch[0].phase, IDE_IDLE);
	bm_write(t, BM_CMD, 0, 1);
	uint16_t id[256];
	identify(t, P, PC, 0, 0xec, id);
}

/* ---- ATAPI ---- */

static void packet(struct t *t, const uint8_t cdb[12], uint16_t bcl, bool dma)
{
	select_dev(t, S, 0);
	outb(t, S + 1, dma ? 1 : 0);
	outb(t, S + 4, (uint8_t)bcl);
	outb(t, S + 5, (uint8_t)(bcl >> 8));
	outb(t, S + 7, 0xa0);
	uint8_t st = wait_ready(t, SC);
	assert_true(st & ATA_DRQ);
	assert_int_equal(inb(t, S + 2) & 3, ATAPI_COD);
	for (unsigned i = 0; i < 12; i += 2)
		outw(t, S, (uint16_t)(cdb[i] | cdb[i + 1] << 8));
}

/* PIO data-in of a packet command: returns the bytes read. */
static size_t packet_in(struct t *t, const uint8_t cdb[12], uint16_t bcl, uint8_t *out,
			size_t max)
{
	packet(t, cdb, bcl, false);
	size_t got = 0;
	for (;;) {
		uint8_t st = wait_ready(t, SC);
		if (!(st & ATA_DRQ))
			break;
		assert_int_equal(inb(t, S + 2) & 3, ATAPI_IO);
		unsigned n = inb(t, S + 4) | inb(t, S + 5) << 8;
		assert_true(n <= bcl);
		for (unsigned i = 0; i < n; i += 2) {
			uint16_t w = inw(t, S);
			assert_true(got + 2 <= max);
			memcpy(out + got, &w, 2);
			got += 2;
		}
	}
	assert_int_equal(inb(t, S + 2) & 3, ATAPI_IO | ATAPI_COD);
	return got;
}

static uint8_t sense_key(struct t *t, uint8_t *asc)
{
	uint8_t cdb[12] = {0x03, 0, 0, 0, 18}, s[18];
	assert_int_equal(packet_in(t, cdb, 18, s, sizeof(s)), 18);
	*asc = s[12];
	return s[2] & 0xf;
}

static void test_atapi_identify(void **state)
{
	struct t *t = *state;
	uint16_t id[256];
	char s[48];
	/* IDENTIFY DEVICE: aborted with the packet signature. */
	select_dev(t, S, 0);
	outb(t, S + 7, 0xec);
	assert_true(wait_ready(t, SC) & ATA_ERR);
	assert_int_equal(inb(t, S + 4), 0x14);
	assert_int_equal(inb(t, S + 5), 0xeb);
	identify(t, S, SC, 0, 0xa1, id);
	assert_int_equal(id[0] >> 14, 2);
	assert_int_equal((id[0] >> 8) & 0x1f, 5);
	assert_int_equal(id[0] & 3, 0);
	id_string(id, 27, 20, s);
	assert_memory_equal(s, "IOVIRT DVD-ROM", 14);
}

static void test_atapi_inquiry_capacity_read(void **state)
{
	struct t *t = *state;
	uint8_t buf[8192];
	uint8_t inq[12] = {0x12, 0, 0, 0, 36};
	assert_int_equal(packet_in(t, inq, 0xfffe, buf, sizeof(buf)), 36);
	assert_int_equal(buf[0], 5);
	assert_true(buf[1] & 0x80);
	uint8_t cap[12] = {0x25};
	assert_int_equal(packet_in(t, cap, 8, buf, sizeof(buf)), 8);
	uint32_t last = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	assert_int_equal(last, CD_SIZE / 2048 - 1);
	assert_int_equal(buf[6] << 8 | buf[7], 2048);
	/* READ(10) of 3 sectors from 5 in 2 KiB DRQ blocks. */
	uint8_t rd[12] = {0x28, 0, 0, 0, 0, 5, 0, 0, 3};
	assert_int_equal(packet_in(t, rd, 2048, buf, sizeof(buf)), 3 * 2048);
	for (unsigned i = 0; i < 3 * 2048; i++)
		assert_int_equal(buf[i], expected(5 * 2048 + i, 2));
	/* READ(12) by DMA. */
	uint8_t *ram = fake_ram_ptr(&t->ram, DATA_GPA);
	memset(ram, 0, 4 * 2048);
	prd_table(t, DATA_GPA, 4 * 2048, 1);
	bm_write(t, 8 + BM_STATUS, BM_ST_INTR | BM_ST_ERROR, 1);
	bm_write(t, 8 + BM_PRD, PRD_GPA, 4);
	uint8_t rd12[12] = {0xa8, 0, 0, 0, 0, 1, 0, 0, 0, 4};
	packet(t, rd12, 0, true);
	bm_write(t, 8 + BM_CMD, BM_CMD_READ | BM_CMD_START, 1);
	assert_int_equal(wait_ready(t, SC) & (ATA_ERR | ATA_DRQ), 0);
	bm_write(t, 8 + BM_CMD, 0, 1);
	assert_int_equal(bm_read(t, 8 + BM_STATUS) & (BM_ST_INTR | BM_ST_ACTIVE), BM_ST_INTR);
	for (unsigned i = 0; i < 4 * 2048; i++)
		assert_int_equal(ram[i], expected(2048 + i, 2));
}

static void test_atapi_toc_and_friends(void **state)
{
	struct t *t = *state;
	uint8_t buf[512];
	/* TOC, LBA: track 1 at 0, lead-out at the size. */
	uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
	size_t n = packet_in(t, toc, 0xfffe, buf, sizeof(buf));
	assert_int_equal(n, 20);
	assert_int_equal(buf[2], 1);
	assert_int_equal(buf[3], 1);
	assert_int_equal(buf[6], 1);
	assert_int_equal(buf[14], 0xaa);
	assert_int_equal(buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19], CD_SIZE / 2048);
	/* MSF: the lead-out at 150 + size frames. */
	toc[1] = 2;
	packet_in(t, toc, 0xfffe, buf, sizeof(buf));
	unsigned frames = CD_SIZE / 2048 + 150;
	assert_int_equal(buf[17], frames / 4500);
	assert_int_equal(buf[18], frames / 75 % 60);
	assert_int_equal(buf[19], frames % 75);
	/* Session info */
	uint8_t sess[12] = {0x43, 0, 1, 0, 0, 0, 0, 0, 12};
	assert_int_equal(packet_in(t, sess, 0xfffe, buf, sizeof(buf)), 12);
	/* MODE SENSE(10) page 2A; GET CONFIGURATION: CD-ROM profile */
	uint8_t ms[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 255};
	n = packet_in(t, ms, 0xfffe, buf, sizeof(buf));
	assert_int_equal(n, 8 + 28);
	assert_int_equal(buf[8], 0x2a);
	uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 255};
	packet_in(t, gc, 0xfffe, buf, sizeof(buf));
	assert_int_equal(buf[6] << 8 | buf[7], 0x0008);
	/* GET EVENT STATUS NOTIFICATION, polled: media present */
	uint8_t ev[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
	assert_int_equal(packet_in(t, ev, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[5], 2);
	/* Disc and track information, mechanism status, the no-data ones */
	uint8_t di[12] = {0x51, 0, 0, 0, 0, 0, 0, 0, 34};
	assert_int_equal(packet_in(t, di, 0xfffe, buf, sizeof(buf)), 34);
	uint8_t ti[12] = {0x52, 1, 0, 0, 0, 1, 0, 0, 36};
	assert_int_equal(packet_in(t, ti, 0xfffe, buf, sizeof(buf)), 36);
	uint8_t mech[12] = {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8};
	assert_int_equal(packet_in(t, mech, 0xfffe, buf, sizeof(buf)), 8);
	static const uint8_t nodata[] = {0x00, 0x1e, 0x1b, 0xbb};
	for (unsigned i = 0; i < sizeof(nodata); i++) {
		uint8_t cdb[12] = {nodata[i]};
		assert_int_equal(packet_in(t, cdb, 0xfffe, buf, sizeof(buf)), 0);
		assert_false(inb(t, SC) & ATA_ERR);
	}
}

static void test_atapi_errors_and_sense(void **state)
{
	struct t *t = *state;
	uint8_t buf[64], asc;
	/* An unknown opcode: CHECK CONDITION, 05/20/00. */
	uint8_t bad[12] = {0xff};
	assert_int_equal(packet_in(t, bad, 0xfffe, buf, sizeof(buf)), 0);
	assert_true(inb(t, SC) & ATA_ERR);
	assert_int_equal(inb(t, S + 1) >> 4, 5);
	assert_int_equal(sense_key(t, &asc), 5);
	assert_int_equal(asc, 0x20);
	/* The sense was taken: a second REQUEST SENSE says nothing. */
	assert_int_equal(sense_key(t, &asc), 0);
	/* A read past the end: 05/21/00. */
	uint8_t rd[12] = {0x28, 0, 0, 0, 0, CD_SIZE / 2048 - 1, 0, 0, 2};
	assert_int_equal(packet_in(t, rd, 0xfffe, buf, sizeof(buf)), 0);
	assert_true(inb(t, SC) & ATA_ERR);
	assert_int_equal(sense_key(t, &asc), 5);
	assert_int_equal(asc, 0x21);
	uint8_t rd12[12] = {0xa8, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	packet_in(t, rd12, 0xfffe, buf, sizeof(buf));
	assert_true(inb(t, SC) & ATA_ERR);
	/* Bad fields: TOC format 5, MODE SENSE saved values, an unknown page,
	 * an asynchronous event request, INQUIRY's VPD. */
	static const uint8_t cdbs[][12] = {
		{0x43, 0, 5}, {0x5a, 0, 0xea, 0, 0, 0, 0, 0, 64}, {0x1a, 0, 0x05, 0, 64},
		{0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8}, {0x12, 1, 0, 0, 36}, {0x43, 0, 0, 0, 0, 0, 5},
	};
	for (unsigned i = 0; i < sizeof(cdbs) / sizeof(cdbs[0]); i++) {
		packet_in(t, cdbs[i], 0xfffe, buf, sizeof(buf));
		assert_true(inb(t, SC) & ATA_ERR);
		assert_int_equal(sense_key(t, &asc), 5);
		assert_int_equal(asc, 0x24 + (i == 1 ? 0x15 : 0));
	}
	/* ATA data commands on a packet device: aborted. */
	lba28_cmd(t, S, 0, 0, 1, 0x20);
	assert_true(wait_ready(t, SC) & ATA_ERR);
	/* DEVICE RESET: the signature again. */
	outb(t, S + 7, 0x08);
	wait_ready(t, SC);
	assert_int_equal(inb(t, S + 4), 0x14);
}

/* An allocation length below the response cuts it; an odd byte count
 * limit is taken even. */
static void test_atapi_allocation_and_byte_count(void **state)
{
	struct t *t = *state;
	uint8_t buf[8192];
	uint8_t inq[12] = {0x12, 0, 0, 0, 10};
	assert_int_equal(packet_in(t, inq, 0xfffe, buf, sizeof(buf)), 10);
	uint8_t rd[12] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1};
	assert_int_equal(packet_in(t, rd, 1001, buf, sizeof(buf)), 2048);
	for (unsigned i = 0; i < 2048; i++)
		assert_int_equal(buf[i], expected(i, 2));
}

/* ---- save / load ---- */

static void test_save_load(void **state)
{
	struct t *t = *state;
	/* A PIO read halfway through its first block, multiple mode set. */
	outb(t, P + 2, 4);
	outb(t, P + 7, 0xc6);
	wait_ready(t, PC);
	lba28_cmd(t, P, 0, 20, 2, 0x20);
	wait_ready(t, PC);
	for (unsigned i = 0; i < 64; i++)
		inw(t, P);
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(ide_device(t->c), &w), 0);
	assert_int_equal(state_writer_finish(&w), 0);

	/* Into a fresh instance (no ports: the bus has the first's). */
	struct ide_options o = {.name = "ide1",
				.irq = {fake_irq_line(&t->irq[0], 14), fake_irq_line(&t->irq[1], 15)}};
	o.drive[0] = (struct ide_drive_options){.path = t->disk};
	o.drive[1] = (struct ide_drive_options){.path = t->rodisk, .readonly = true};
	o.drive[2] = (struct ide_drive_options){.path = t->cd, .cdrom = true};
	ide_destroy(t->c);
	t->c = ide_create(&o, &t->ram.mem, t->loop);
	assert_non_null(t->c);
	struct state_reader r;
	state_reader_init(&r, w.buf, w.len, "ide1");
	assert_int_equal(device_load(ide_device(t->c), &r), 0);
	assert_int_equal(state_reader_finish(&r), 0);
	/* Saved again: the same bytes. */
	struct state_writer w2;
	state_writer_init(&w2);
	assert_int_equal(device_save(ide_device(t->c), &w2), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.buf, w.buf, w.len);
	state_writer_free(&w2);
	/* The read goes on where it was. */
	struct pci_bar *bar = &ide_pci(t->c)->bars[IDE_BMIDE_BAR];
	(void)bar;
	struct ide_channel *ch = &t->c->ch[0];
	assert_int_equal(ch->phase, IDE_PIO_IN);
	assert_int_equal(ch->x.pos, 128);
	assert_int_equal(ch->unit[0].multiple, 4);

	/* Every truncation is refused, and leaves the instance as it was. */
	for (size_t len = 0; len < w.len; len += 97) {
		state_reader_init(&r, w.buf, len, "ide1");
		assert_int_equal(device_load(ide_device(t->c), &r), -EINVAL);
	}
	/* A record of other drives is refused, naming the field. */
	ide_destroy(t->c);
	o.drive[1] = (struct ide_drive_options){0};
	t->c = ide_create(&o, &t->ram.mem, t->loop);
	state_reader_init(&r, w.buf, w.len, "ide1");
	assert_int_equal(device_load(ide_device(t->c), &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "u1.kind"));
	state_writer_free(&w);
}

/* The PRD cursor survives a command, so an idle channel's is checked on
 * load too: one past the table would walk entries outside its 64 KiB. */
static void test_load_refuses_idle_prd_cursor(void **state)
{
	struct t *t = *state;
	struct ide_channel *ch = &t->c->ch[0];
	assert_int_equal(ch->phase, IDE_IDLE);
	ch->x.prd_index = 0x20000000; /* * 8 wraps to 0 in prd_next */
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(ide_device(t->c), &w), 0);
	assert_int_equal(state_writer_finish(&w), 0);
	ch->x.prd_index = 0;
	struct state_reader r;
	state_reader_init(&r, w.buf, w.len, "ide0");
	assert_int_equal(device_load(ide_device(t->c), &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "prd_index"));
	assert_int_equal(ch->x.prd_index, 0);
	state_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signatures_after_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_aborts_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupts_and_nien, setup, teardown),
		cmocka_unit_test_setup_teardown(test_past_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prd_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prd_without_eot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_inquiry_capacity_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_toc_and_friends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_errors_and_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_allocation_and_byte_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_idle_prd_cursor, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
