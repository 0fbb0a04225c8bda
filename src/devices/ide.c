/* PIIX3 IDE controller: the PCI function (8086:7010, class 0x010180: both
 * channels in compatibility mode, bus-master capable), the legacy task-file
 * and control ports of each channel (ATA-6 §7), the bus-master registers
 * in BAR4 (82371SB datasheet §2.7), INTRQ on the channel's ISA line, the
 * event-loop side (backend steps are submitted there), and the device
 * contract.
 *
 * A register write that starts a command only prepares it: data moves in
 * ide_xfer.c, and what needs the backend is handed to the loop through
 * kick_fd. Writes to the task file reach both devices of a channel, as on
 * the cable; reads come from the selected one, and an absent device reads
 * status 0 (what Linux's classification takes for "nobody there"). A
 * channel without devices reads all zero, as QEMU's does, which Linux and
 * SeaBIOS probe quickly past. */
#include "devices/ide.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus/iobus.h"
#include "core/log.h"
#include "core/loop.h"
#include "devices/ide_priv.h"

#define PIIX3_IDE_VENDOR 0x8086
#define PIIX3_IDE_DEVICE 0x7010
#define PIIX3_IDE_CLASS 0x010180
#define BMIDE_SIZE 16
/* IDETIM (primary 0x40, secondary 0x42): bit 15 enables the channel's
 * decode. PC firmware sets it (SeaBIOS does); with a kernel booted
 * directly nobody would, and Linux's ata_piix ignores a disabled port, so
 * the controller comes up enabled. The timing bits are the guest's. */
#define PIIX_IDETIM 0x40
#define PIIX_IDETIM_ENABLE 0x8000
#define PIIX_TIMING_END 0x50

static const uint16_t cmd_ports[IDE_CHANNELS] = {IDE_PRIMARY_CMD, IDE_SECONDARY_CMD};
static const uint16_t ctl_ports[IDE_CHANNELS] = {IDE_PRIMARY_CTL, IDE_SECONDARY_CTL};

/* ---- interrupts ---- */

static void update_line(struct ide_channel *ch)
{
	bool level = ch->intrq && !(ch->devctl & ATA_NIEN);
	if (level == ch->line)
		return;
	ch->line = level;
	irq_line_set(&ch->irq, level);
}

void ide_irq_raise(struct ide_channel *ch)
{
	ch->intrq = true;
	ch->bm_status |= BM_ST_INTR;
	counter_inc(&ch->counters.interrupts);
	update_line(ch);
}

void ide_irq_lower(struct ide_channel *ch)
{
	ch->intrq = false;
	update_line(ch);
}

/* ---- resets ---- */

static void unit_reset(struct ide_unit *u, unsigned index)
{
	u->select = index ? 0xb0 : 0xa0;
	ide_set_signature(u);
	u->error = 0x01; /* diagnostics passed */
	u->feature = u->hob_feature = 0;
	u->hob_nsector = u->hob_lbal = u->hob_lbam = u->hob_lbah = 0;
	/* ATA-6 §9.12: a packet device leaves DRDY clear after a reset. */
	u->status = u->kind == IDE_ATA ? ATA_DRDY | ATA_DSC : 0;
}

void ide_channel_reset_devices(struct ide_channel *ch)
{
	for (unsigned i = 0; i < IDE_UNITS; i++)
		unit_reset(&ch->unit[i], i);
	ch->cur = 0;
	ch->phase = IDE_IDLE;
	ch->reset_pending = false;
	memset(&ch->x, 0, sizeof(ch->x));
}

/* SRST set, or a DEVICE RESET: the command is dropped; one with the
 * backend holds the reset (BSY) until it comes back. */
static void reset_begin(struct ide_channel *ch)
{
	for (unsigned i = 0; i < IDE_UNITS; i++)
		ch->unit[i].status = ATA_BSY;
	if (ch->phase == IDE_INFLIGHT)
		ch->reset_pending = true;
	else
		ch->phase = IDE_IDLE;
	ide_irq_lower(ch);
}

static void reset_end(struct ide_channel *ch)
{
	if (ch->phase == IDE_INFLIGHT)
		ch->reset_pending = true; /* finished by the completion */
	else
		ide_channel_reset_devices(ch);
}

/* Power-on: also the settings the host made. */
static void channel_power_on(struct ide_channel *ch)
{
	for (unsigned i = 0; i < IDE_UNITS; i++) {
		struct ide_unit *u = &ch->unit[i];
		u->multiple = 0;
		u->xfer_mode = 0;
		u->wcache = true;
		u->sense_key = u->asc = u->ascq = 0;
		u->locked = false;
	}
	ch->devctl = 0;
	ch->bm_cmd = 0;
	ch->bm_status = 0;
	ch->bm_prd = 0;
	reset_begin(ch);
	reset_end(ch);
	ide_irq_lower(ch);
}

/* ---- the task file ---- */

static bool channel_empty(const struct ide_channel *ch)
{
	return ch->unit[0].kind == IDE_NONE && ch->unit[1].kind == IDE_NONE;
}

static uint8_t taskfile_read(struct ide_channel *ch, unsigned reg)
{
	const struct ide_unit *u = &ch->unit[ch->cur];
	bool hob = ch->devctl & ATA_HOB;
	switch (reg) {
	case 1: return hob ? u->hob_feature : u->error;
	case 2: return hob ? u->hob_nsector : u->nsector;
	case 3: return hob ? u->hob_lbal : u->lbal;
	case 4: return hob ? u->hob_lbam : u->lbam;
	case 5: return hob ? u->hob_lbah : u->lbah;
	case 6: return u->select;
	default: /* 7: status; reading it ends the interrupt */
		ide_irq_lower(ch);
		return u->kind == IDE_NONE ? 0 : u->status;
	}
}

static void taskfile_write(struct ide_channel *ch, unsigned reg, uint8_t v)
{
	ch->devctl &= (uint8_t)~ATA_HOB;
	for (unsigned i = 0; i < IDE_UNITS; i++) {
		struct ide_unit *u = &ch->unit[i];
		switch (reg) {
		case 1: u->hob_feature = u->feature; u->feature = v; break;
		case 2: u->hob_nsector = u->nsector; u->nsector = v; break;
		case 3: u->hob_lbal = u->lbal; u->lbal = v; break;
		case 4: u->hob_lbam = u->lbam; u->lbam = v; break;
		case 5: u->hob_lbah = u->lbah; u->lbah = v; break;
		default: u->select = (uint8_t)((v & ~ATA_DEV1) | (i ? ATA_DEV1 : 0)); break;
		}
	}
	if (reg == 6)
		ch->cur = (v & ATA_DEV1) ? 1 : 0;
}

static void command_write(struct ide_channel *ch, uint8_t cmd)
{
	struct ide_unit *u = &ch->unit[ch->cur];
	if (u->kind == IDE_NONE)
		return; /* nobody answers */
	/* DEVICE RESET is how a host gets a packet device out of a command
	 * that hangs, so it is taken while BSY (ATA-6 §8.10). */
	if (cmd == 0x08 && u->kind == IDE_ATAPI) {
		if (ch->phase == IDE_INFLIGHT) { /* the whole channel waits for the backend */
			reset_begin(ch);
			reset_end(ch);
			return;
		}
		if (ch->x.unit == ch->cur)
			ch->phase = IDE_IDLE;
		unit_reset(u, ch->cur);
		ide_irq_lower(ch);
		return;
	}
	if (u->status & ATA_BSY) {
		ide_guest_error_count(ch);
		log_guest_error(ch->c->name, "channel %u: command 0x%02x while busy (ignored)",
				ch->index, cmd);
		return;
	}
	if (ch->phase != IDE_IDLE && ch->phase != IDE_PIO_IN && ch->phase != IDE_PIO_OUT &&
	    ch->phase != IDE_PACKET) {
		ide_guest_error_count(ch);
		return; /* a DMA command waiting for its bus master (BSY) */
	}
	ch->phase = IDE_IDLE; /* a command in its data phase is abandoned */
	ide_irq_lower(ch);
	counter_inc(&ch->counters.requests);
	ide_ata_command(ch, cmd);
}

static void cmd_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct ide_channel *ch = opaque;
	struct ide_ctrl *c = ch->c;
	counter_inc(&c->dev.counters.exits);
	memset(data, 0, len);
	pthread_mutex_lock(&c->lock);
	if (channel_empty(ch)) {
		/* nobody on the cable: zeros */
	} else if (off == 0) {
		ide_data_read(ch, data, len);
	} else {
		for (unsigned i = 0; i < len && off + i < 8; i++)
			data[i] = taskfile_read(ch, (unsigned)off + i);
	}
	pthread_mutex_unlock(&c->lock);
}

static void cmd_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct ide_channel *ch = opaque;
	struct ide_ctrl *c = ch->c;
	counter_inc(&c->dev.counters.exits);
	pthread_mutex_lock(&c->lock);
	if (channel_empty(ch)) {
		/* nothing on the cable */
	} else if (off == 0) {
		ide_data_write(ch, data, len);
	} else {
		for (unsigned i = 0; i < len && off + i < 8; i++) {
			unsigned reg = (unsigned)off + i;
			if (reg == 7)
				command_write(ch, data[i]);
			else
				taskfile_write(ch, reg, data[i]);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Alternate status (reading it does not end the interrupt) and device
 * control. */
static void ctl_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct ide_channel *ch = opaque;
	counter_inc(&ch->c->dev.counters.exits);
	memset(data, 0, len);
	pthread_mutex_lock(&ch->c->lock);
	const struct ide_unit *u = &ch->unit[ch->cur];
	data[0] = u->kind == IDE_NONE ? 0 : u->status;
	pthread_mutex_unlock(&ch->c->lock);
}

static void ctl_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct ide_channel *ch = opaque;
	counter_inc(&ch->c->dev.counters.exits);
	pthread_mutex_lock(&ch->c->lock);
	uint8_t old = ch->devctl, v = data[0] & (ATA_HOB | ATA_SRST | ATA_NIEN);
	ch->devctl = v;
	if (!channel_empty(ch)) {
		if (!(old & ATA_SRST) && (v & ATA_SRST))
			reset_begin(ch);
		else if ((old & ATA_SRST) && !(v & ATA_SRST))
			reset_end(ch);
	}
	update_line(ch);
	pthread_mutex_unlock(&ch->c->lock);
}

static const struct iobus_ops cmd_ops = {.read = cmd_read, .write = cmd_write};
static const struct iobus_ops ctl_ops = {.read = ctl_read, .write = ctl_write};

/* ---- bus master (BAR4) ---- */

static uint8_t bm_read_byte(struct ide_channel *ch, unsigned reg)
{
	switch (reg) {
	case BM_CMD: return ch->bm_cmd;
	case BM_STATUS: return ch->bm_status;
	case BM_PRD: case BM_PRD + 1: case BM_PRD + 2: case BM_PRD + 3:
		return (uint8_t)(ch->bm_prd >> (8 * (reg - BM_PRD)));
	default: return 0;
	}
}

static void bm_write_byte(struct ide_channel *ch, unsigned reg, uint8_t v)
{
	switch (reg) {
	case BM_CMD: {
		uint8_t old = ch->bm_cmd;
		ch->bm_cmd = v & (BM_CMD_START | BM_CMD_READ);
		if (!(old & BM_CMD_START) && (v & BM_CMD_START)) {
			ch->bm_status = (uint8_t)((ch->bm_status & ~BM_ST_ERROR) | BM_ST_ACTIVE);
			ch->x.prd_index = 0;
			ch->x.prd_left = 0;
			ch->x.prd_eot = false;
			ide_dma_start(ch);
		} else if ((old & BM_CMD_START) && !(v & BM_CMD_START)) {
			/* Stop: a transfer still going pauses where it is. */
			ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
		}
		break;
	}
	case BM_STATUS:
		ch->bm_status = (uint8_t)((ch->bm_status & ~(v & (BM_ST_ERROR | BM_ST_INTR)) &
					   ~BM_ST_DMA_CAP) | (v & BM_ST_DMA_CAP));
		break;
	case BM_PRD: case BM_PRD + 1: case BM_PRD + 2: case BM_PRD + 3: {
		unsigned shift = 8 * (reg - BM_PRD);
		ch->bm_prd = (ch->bm_prd & ~(0xffu << shift)) | ((uint32_t)v << shift);
		ch->bm_prd &= ~3u; /* dword-aligned */
		break;
	}
	default:
		break;
	}
}

static void bm_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct ide_ctrl *c = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < len && off + i < BMIDE_SIZE; i++) {
		unsigned o = (unsigned)off + i;
		data[i] = bm_read_byte(&c->ch[o / 8], o % 8);
	}
	pthread_mutex_unlock(&c->lock);
}

static void bm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct ide_ctrl *c = opaque;
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < len && off + i < BMIDE_SIZE; i++) {
		unsigned o = (unsigned)off + i;
		bm_write_byte(&c->ch[o / 8], o % 8, data[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

static const struct iobus_ops bm_ops = {.read = bm_read, .write = bm_write};

/* ---- the loop side ---- */

void ide_kick(struct ide_ctrl *c)
{
	uint64_t one = 1;
	if (write(c->kick_fd, &one, sizeof(one)) < 0)
		log_warn("%s: cannot wake the event loop: %s", c->name, strerror(errno));
}

static void on_kick(void *opaque, uint32_t events)
{
	struct ide_ctrl *c = opaque;
	uint64_t count;
	if (read(c->kick_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: reading its eventfd: %s", c->name, strerror(errno));
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < IDE_CHANNELS && !c->closing && !c->quiescing; i++)
		if (c->ch[i].phase == IDE_STEP)
			ide_run_step(&c->ch[i]);
	ide_idle_check(c);
	pthread_mutex_unlock(&c->lock);
}

bool ide_channel_busy(const struct ide_channel *ch)
{
	return ch->phase == IDE_INFLIGHT;
}

void ide_idle_check(struct ide_ctrl *c)
{
	if (!c->quiescing)
		return;
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		if (ide_channel_busy(&c->ch[i]))
			return;
	pthread_cond_broadcast(&c->idle);
}

/* ---- the device contract ---- */

static struct ide_ctrl *to_ide(struct device *dev)
{
	return container_of(dev, struct ide_ctrl, dev);
}

static void ide_dev_reset(struct device *dev)
{
	struct ide_ctrl *c = to_ide(dev);
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		channel_power_on(&c->ch[i]);
	pthread_mutex_unlock(&c->lock);
}

static void ide_dev_counters(struct device *dev, const struct counter_sink *sink)
{
	struct ide_ctrl *c = to_ide(dev);
	struct dev_counters d = c->dev.counters;
	d.exits = counter_read(&c->dev.counters.exits) + counter_read(&c->pci.exits);
	counters_emit(sink, dev->id, "", &d);
	for (unsigned i = 0; i < IDE_CHANNELS; i++) {
		char scope[8];
		snprintf(scope, sizeof(scope), "ch%u", i);
		counters_emit(sink, dev->id, scope, &c->ch[i].counters);
	}
}

static void ide_dev_destroy(struct device *dev)
{
	ide_destroy(to_ide(dev));
}

static const struct device_ops ide_device_ops = {
	.kind = "ide",
	.reset = ide_dev_reset,
	.counters = ide_dev_counters,
	.save = ide_save,
	.load = ide_load,
	.busy = ide_busy,
	.destroy = ide_dev_destroy,
};

struct device *ide_device(struct ide_ctrl *c)
{
	return &c->dev;
}

struct pci_dev *ide_pci(struct ide_ctrl *c)
{
	return &c->pci;
}

/* ---- create / destroy ---- */

/* A stable serial from the image path (FNV-1a), as NVMe derives its own. */
static void default_serial(const char *path, char *out, size_t size)
{
	uint32_t h = 2166136261u;
	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, size, "IOVIRT%08X", h);
}

static int open_unit(struct ide_ctrl *c, struct ide_unit *u, const struct ide_drive_options *d)
{
	struct blk_options bo = {.readonly = d->readonly || d->cdrom, .cache = d->cache,
				 .engine = d->engine};
	u->be = blk_open(d->path, &bo, c->loop);
	if (!u->be)
		return -EINVAL;
	u->kind = d->cdrom ? IDE_ATAPI : IDE_ATA;
	u->readonly = blk_readonly(u->be);
	u->sectors = blk_size(u->be) / (d->cdrom ? CD_SECTOR : ATA_SECTOR);
	if (d->serial && d->serial[0])
		snprintf(u->serial, sizeof(u->serial), "%s", d->serial);
	else
		default_serial(d->path, u->serial, sizeof(u->serial));
	return 0;
}

static void pci_setup(struct ide_ctrl *c)
{
	struct pci_dev *dev = &c->pci;
	pci_dev_init(dev, c->name, PIIX3_IDE_VENDOR, PIIX3_IDE_DEVICE, PIIX3_IDE_CLASS, 0, 0, 0);
	dev->opaque = c;
	/* Compatibility mode: the channels interrupt on ISA IRQ 14 and 15,
	 * not through a PCI pin. */
	pci_cfg_set(dev, PCI_INTERRUPT_PIN, 1, 0);
	for (unsigned o = PIIX_IDETIM; o < PIIX_TIMING_END; o += 4)
		pci_dev_set_wmask(dev, o, 4, 0xffffffff);
	pci_cfg_set(dev, PIIX_IDETIM, 2, PIIX_IDETIM_ENABLE);
	pci_cfg_set(dev, PIIX_IDETIM + 2, 2, PIIX_IDETIM_ENABLE);
}

static void release_ports(struct ide_ctrl *c)
{
	if (!c->pio)
		return;
	for (unsigned i = 0; i < IDE_CHANNELS; i++) {
		iobus_unregister(c->pio, cmd_ports[i]);
		iobus_unregister(c->pio, ctl_ports[i]);
	}
}

static int claim_ports(struct ide_ctrl *c)
{
	for (unsigned i = 0; i < IDE_CHANNELS && c->pio; i++) {
		int ret = iobus_register(c->pio, cmd_ports[i], 8, &cmd_ops, &c->ch[i]);
		if (ret == 0) {
			ret = iobus_register(c->pio, ctl_ports[i], 1, &ctl_ops, &c->ch[i]);
			if (ret < 0)
				iobus_unregister(c->pio, cmd_ports[i]);
		}
		if (ret < 0) {
			log_error("%s: cannot claim ports 0x%x+8 and 0x%x: %s", c->name,
				  cmd_ports[i], ctl_ports[i], strerror(-ret));
			for (unsigned k = 0; k < i; k++) {
				iobus_unregister(c->pio, cmd_ports[k]);
				iobus_unregister(c->pio, ctl_ports[k]);
			}
			c->pio = NULL;
			return ret;
		}
	}
	return 0;
}

static void free_ctrl(struct ide_ctrl *c)
{
	for (unsigned i = 0; i < IDE_CHANNELS; i++) {
		for (unsigned k = 0; k < IDE_UNITS; k++)
			if (c->ch[i].unit[k].be)
				blk_close(c->ch[i].unit[k].be);
		free(c->ch[i].buf);
	}
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct ide_ctrl *ide_create(const struct ide_options *o, const struct guest_mem *mem,
			    struct loop *loop)
{
	struct ide_ctrl *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("%s: out of memory", o->name ? o->name : "ide");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	c->mem = mem;
	c->loop = loop;
	c->kick_fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", o->name ? o->name : "ide");
	device_init(&c->dev, &ide_device_ops, c->name);
	for (unsigned i = 0; i < IDE_CHANNELS; i++) {
		struct ide_channel *ch = &c->ch[i];
		ch->c = c;
		ch->index = i;
		ch->irq = o->irq[i];
		if (posix_memalign((void **)&ch->buf, 4096, IDE_BUF_SIZE) != 0) {
			ch->buf = NULL;
			log_error("%s: out of memory", c->name);
			free_ctrl(c);
			return NULL;
		}
		memset(ch->buf, 0, IDE_BUF_SIZE);
		for (unsigned k = 0; k < IDE_UNITS; k++) {
			const struct ide_drive_options *d = &o->drive[i * IDE_UNITS + k];
			if (d->path && open_unit(c, &ch->unit[k], d) < 0) {
				free_ctrl(c);
				return NULL;
			}
		}
		channel_power_on(ch);
	}
	c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->kick_fd < 0 || loop_add_fd(loop, c->kick_fd, EPOLLIN, on_kick, c) < 0) {
		log_error("%s: cannot set up its eventfd", c->name);
		free_ctrl(c);
		return NULL;
	}
	pci_setup(c);
	int ret = pci_dev_set_bar(&c->pci, IDE_BMIDE_BAR, PCI_BAR_IO, BMIDE_SIZE, false, &bm_ops,
				  c);
	c->pio = o->pio;
	if (ret == 0)
		ret = claim_ports(c);
	if (ret < 0) {
		if (ret != -EEXIST)
			log_error("%s: setting up its PCI function failed: %s", c->name,
				  strerror(-ret));
		loop_del_fd(loop, c->kick_fd);
		pci_dev_destroy(&c->pci);
		free_ctrl(c);
		return NULL;
	}
	return c;
}

void ide_destroy(struct ide_ctrl *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	release_ports(c);
	pci_dev_unmap_bars(&c->pci);
	loop_del_fd(c->loop, c->kick_fd);
	/* blk_close (in free_ctrl) runs the callbacks of requests still out;
	 * they see closing and drop them. */
	pci_dev_destroy(&c->pci);
	free_ctrl(c);
}
