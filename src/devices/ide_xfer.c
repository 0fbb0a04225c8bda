/* The data phases of an IDE command (ATA-6 §9: PIO data-in, PIO data-out,
 * DMA, PACKET) and the backend steps behind them.
 *
 * Every transfer goes through the channel's buffer (IDE_BUF_SIZE): a read
 * fills it from the backend in one step, then the host takes it in DRQ
 * blocks (an interrupt each) or the bus master scatters it to the PRDs; a
 * write collects the host's blocks (or gathers from the PRDs) and hands
 * the buffer to the backend when it is full or the command's data is all
 * in. So a guest access moves at most one data-port item, and a loop step
 * at most one buffer of data and IDE_BUF_SIZE / 2 PRD entries.
 *
 * The bus master (82371SB §2.7): the PRD table at BMIDTP holds 8-byte
 * entries (32-bit base, byte count in bits 15:0 with 0 meaning 64 KiB, EOT
 * in bit 31 of the second dword) and does not cross a 64 KiB boundary, so
 * a walk reads at most 8192 entries. A table that ends (EOT, or the 64 KiB
 * region) before the device's data does, or an entry outside guest RAM,
 * stops the transfer with BMIS.ERROR and the command aborted. A transfer
 * shorter than the table leaves BMIS.ACTIVE set, as the datasheet says. */
#include <errno.h>
#include <string.h>

#include "core/guest_mem_log.h"
#include "core/log.h"
#include "devices/ide_priv.h"

static struct ide_unit *xunit(struct ide_channel *ch)
{
	return &ch->unit[ch->x.unit];
}

void ide_complete(struct ide_channel *ch, uint8_t error)
{
	struct ide_unit *u = xunit(ch);
	ch->phase = IDE_IDLE;
	u->error = error;
	u->status = (uint8_t)(ATA_DRDY | (u->kind == IDE_ATA ? ATA_DSC : 0) | (error ? ATA_ERR : 0));
	if (u->kind == IDE_ATAPI)
		u->nsector = ATAPI_IO | ATAPI_COD;
	ide_irq_raise(ch);
}

void ide_start_step(struct ide_channel *ch, enum ide_step step)
{
	ch->x.step = (uint8_t)step;
	ch->phase = IDE_STEP;
	xunit(ch)->status = ATA_BSY | ATA_DRDY;
	ide_kick(ch->c);
}

/* ---- PIO ---- */

/* The next DRQ block of data for the host, from buf[pos]. */
static void pio_in_block(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	struct ide_unit *u = xunit(ch);
	uint32_t n = x->len - x->pos;
	if (n > x->block)
		n = x->block;
	x->end = x->pos + n;
	ch->phase = IDE_PIO_IN;
	u->status = (uint8_t)(ATA_DRDY | ATA_DRQ | (u->kind == IDE_ATA ? ATA_DSC : 0));
	if (u->kind == IDE_ATAPI) {
		u->nsector = ATAPI_IO;
		u->lbam = (uint8_t)n;
		u->lbah = (uint8_t)(n >> 8);
	}
	ide_irq_raise(ch);
}

/* The next DRQ block the host writes; the first of a command comes
 * without an interrupt (ATA-6 §9.8). */
static void pio_out_block(struct ide_channel *ch, bool irq)
{
	struct ide_xfer *x = &ch->x;
	struct ide_unit *u = xunit(ch);
	uint64_t want = x->left - x->len;
	x->end = x->pos + (uint32_t)(want < x->block ? want : x->block);
	ch->phase = IDE_PIO_OUT;
	u->status = ATA_DRDY | ATA_DSC | ATA_DRQ;
	if (irq)
		ide_irq_raise(ch);
}

void ide_data_in(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	x->pos = 0;
	if (x->left) {
		x->len = 0;
		if (x->dma) {
			x->step = STEP_READ;
			ch->phase = IDE_DMA_WAIT;
			xunit(ch)->status = ATA_BSY | ATA_DRDY;
			ide_dma_start(ch);
		} else {
			ide_start_step(ch, STEP_READ);
		}
	} else if (x->len == 0) {
		ide_complete(ch, 0);
	} else if (x->dma) {
		x->step = STEP_SCATTER;
		ch->phase = IDE_DMA_WAIT;
		xunit(ch)->status = ATA_BSY | ATA_DRDY;
		ide_dma_start(ch);
	} else {
		pio_in_block(ch);
	}
}

void ide_data_out(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	x->pos = x->len = 0;
	if (x->dma) {
		x->step = STEP_WRITE;
		ch->phase = IDE_DMA_WAIT;
		xunit(ch)->status = ATA_BSY | ATA_DRDY;
		ide_dma_start(ch);
	} else {
		pio_out_block(ch, false);
	}
}

/* The host's access to a data port outside a data phase: ATA leaves it
 * undefined; it reads as all-ones and is counted. */
static void stray_data(struct ide_channel *ch, bool write)
{
	ide_guest_error_count(ch);
	log_guest_error(ch->c->name, "channel %u: data port %s without DRQ", ch->index,
			write ? "write" : "read");
}

void ide_data_read(struct ide_channel *ch, uint8_t *data, unsigned len)
{
	struct ide_xfer *x = &ch->x;
	if (ch->phase != IDE_PIO_IN) {
		memset(data, 0xff, len);
		stray_data(ch, false);
		return;
	}
	uint32_t n = x->end - x->pos < len ? x->end - x->pos : len;
	memcpy(data, ch->buf + x->pos, n);
	memset(data + n, 0xff, len - n);
	x->pos += n;
	if (x->pos < x->end)
		return;
	if (x->pos < x->len) {
		pio_in_block(ch);
	} else if (x->left) {
		ide_start_step(ch, STEP_READ);
	} else if (xunit(ch)->kind == IDE_ATAPI) {
		ide_complete(ch, 0); /* the status phase has its interrupt */
	} else {
		ch->phase = IDE_IDLE; /* ATA: the last block's interrupt was the last */
		xunit(ch)->status = ATA_DRDY | ATA_DSC;
	}
}

void ide_data_write(struct ide_channel *ch, const uint8_t *data, unsigned len)
{
	struct ide_xfer *x = &ch->x;
	if (ch->phase == IDE_PACKET) {
		unsigned n = sizeof(ch->cdb) - x->pos < len ? sizeof(ch->cdb) - x->pos : len;
		memcpy(ch->cdb + x->pos, data, n);
		x->pos += n;
		if (x->pos == sizeof(ch->cdb)) {
			ch->phase = IDE_IDLE;
			ide_atapi_packet(ch);
		}
		return;
	}
	if (ch->phase != IDE_PIO_OUT) {
		stray_data(ch, true);
		return;
	}
	uint32_t n = x->end - x->pos < len ? x->end - x->pos : len;
	memcpy(ch->buf + x->pos, data, n);
	x->pos += n;
	if (x->pos < x->end)
		return;
	x->len = x->pos;
	if (x->len == x->left || x->len + x->block > IDE_BUF_SIZE)
		ide_start_step(ch, STEP_WRITE);
	else
		pio_out_block(ch, true);
}

/* ---- the bus master ---- */

/* Fetches the next PRD entry; false where the table has ended or lies
 * outside RAM. */
static bool prd_next(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	if (x->prd_eot)
		return false;
	uint32_t in_region = (ch->bm_prd & (PRD_REGION - 1)) + x->prd_index * 8;
	if (in_region + 8 > PRD_REGION)
		return false;
	uint32_t e[2];
	uint64_t gpa = (ch->bm_prd & ~(PRD_REGION - 1)) + in_region;
	if (guest_mem_read(ch->c->mem, gpa, e, sizeof(e)) < 0)
		return false;
	x->prd_index++;
	x->prd_addr = e[0] & ~1u;
	x->prd_left = (e[1] & 0xffff) ? (e[1] & 0xfffe) : 0x10000;
	x->prd_eot = (e[1] & PRD_EOT) != 0;
	return true;
}

/* Moves len bytes between buf and the PRDs' buffers; -EFAULT where the
 * table ends first or points outside RAM. */
static int prd_copy(struct ide_channel *ch, uint8_t *buf, uint32_t len, bool to_guest)
{
	struct ide_xfer *x = &ch->x;
	const struct guest_mem *mem = ch->c->mem;
	while (len) {
		if (x->prd_left == 0) {
			if (!prd_next(ch))
				return -EFAULT;
			continue;
		}
		uint32_t n = len < x->prd_left ? len : x->prd_left;
		if ((uint64_t)x->prd_addr + n > (1ULL << 32))
			return -EFAULT; /* PRD bases are 32-bit */
		int ret = to_guest ? guest_mem_write(mem, x->prd_addr, buf, n)
				   : guest_mem_read(mem, x->prd_addr, buf, n);
		if (ret < 0)
			return -EFAULT;
		x->prd_addr += n;
		x->prd_left -= n;
		buf += n;
		len -= n;
	}
	return 0;
}

static void dma_error(struct ide_channel *ch)
{
	ide_guest_error_count(ch);
	log_guest_error(ch->c->name,
			"channel %u: PRD table at 0x%x ends before the transfer or points outside "
			"RAM (entry %u)", ch->index, ch->bm_prd, ch->x.prd_index);
	ch->bm_status = (uint8_t)((ch->bm_status & ~BM_ST_ACTIVE) | BM_ST_ERROR);
	if (xunit(ch)->kind == IDE_ATAPI)
		ide_atapi_fail(ch, 0x0b, 0x00); /* ABORTED COMMAND */
	else
		ide_complete(ch, ATA_ABRT);
}

/* The device's part is done: ACTIVE stays set if the PRDs describe more. */
static void dma_done(struct ide_channel *ch)
{
	if (ch->x.prd_left == 0 && ch->x.prd_eot)
		ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
	ide_complete(ch, 0);
}

void ide_dma_start(struct ide_channel *ch)
{
	if (ch->phase != IDE_DMA_WAIT || !(ch->bm_cmd & BM_CMD_START))
		return;
	counter_inc(&ch->counters.kicks);
	ch->phase = IDE_STEP;
	ide_kick(ch->c);
}

/* The next step of a DMA transfer, or a wait for the start bit. */
static void dma_continue(struct ide_channel *ch, enum ide_step step)
{
	ch->x.step = (uint8_t)step;
	if (ch->bm_cmd & BM_CMD_START) {
		ch->phase = IDE_STEP;
		ide_kick(ch->c);
	} else {
		ch->phase = IDE_DMA_WAIT;
	}
}

/* ---- backend steps (loop thread) ---- */

static void transfer_done(struct ide_channel *ch)
{
	if (ch->x.dma)
		dma_done(ch);
	else
		ide_complete(ch, 0);
}

static void step_failed(struct ide_channel *ch, int err)
{
	struct ide_xfer *x = &ch->x;
	counter_inc(&ch->counters.errors);
	log_guest_event(ch->c->name, "channel %u: I/O error at byte %llu: %s (reported to the guest)",
			ch->index, (unsigned long long)x->offset, strerror(-err));
	if (x->dma)
		ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
	if (xunit(ch)->kind == IDE_ATAPI)
		ide_atapi_fail(ch, 0x03, 0x11); /* MEDIUM ERROR, UNRECOVERED READ ERROR */
	else
		ide_complete(ch, x->step == STEP_READ ? 0x40 /* UNC */ : ATA_ABRT);
}

static void step_next(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	switch (x->step) {
	case STEP_READ:
		x->offset += x->len;
		x->left -= x->len;
		counter_add(&ch->counters.bytes_out, x->len);
		x->pos = 0;
		if (!x->dma) {
			pio_in_block(ch);
		} else if (prd_copy(ch, ch->buf, x->len, true) < 0) {
			dma_error(ch);
		} else if (x->left) {
			dma_continue(ch, STEP_READ);
		} else {
			dma_done(ch);
		}
		break;
	case STEP_WRITE:
		x->offset += x->len;
		x->left -= x->len;
		counter_add(&ch->counters.bytes_in, x->len);
		x->pos = x->len = 0;
		if (x->left && x->dma)
			dma_continue(ch, STEP_WRITE);
		else if (x->left)
			pio_out_block(ch, true);
		else if (x->flush_after)
			ide_start_step(ch, STEP_FLUSH);
		else
			transfer_done(ch);
		break;
	default: /* STEP_FLUSH */
		transfer_done(ch);
		break;
	}
}

static void step_done(struct blk_request *req, int result)
{
	struct ide_channel *ch = req->opaque;
	struct ide_ctrl *c = ch->c;
	pthread_mutex_lock(&c->lock);
	ch->phase = IDE_STEP;
	if (c->closing) {
		ch->phase = IDE_IDLE;
	} else if (ch->reset_pending) {
		/* The command was reset while out: dropped. With SRST still
		 * set, its release finishes the reset. */
		ch->phase = IDE_IDLE;
		ch->reset_pending = false;
		if (!(ch->devctl & ATA_SRST))
			ide_channel_reset_devices(ch);
	} else if (result < 0) {
		step_failed(ch, result);
	} else if (req->op != BLK_FLUSH && (uint64_t)result != ch->iov.iov_len) {
		step_failed(ch, -EIO);
	} else {
		step_next(ch);
	}
	ide_idle_check(c);
	pthread_mutex_unlock(&c->lock);
}

static void submit(struct ide_channel *ch, enum blk_op op, uint32_t len)
{
	struct ide_xfer *x = &ch->x;
	ch->iov = (struct iovec){.iov_base = ch->buf, .iov_len = len};
	ch->req = (struct blk_request){.op = op, .offset = x->offset,
				       .iov = op == BLK_FLUSH ? NULL : &ch->iov,
				       .iovcnt = op == BLK_FLUSH ? 0 : 1, .complete = step_done,
				       .opaque = ch};
	int ret = blk_submit(xunit(ch)->be, &ch->req);
	if (ret < 0) {
		step_failed(ch, ret);
		return;
	}
	ch->phase = IDE_INFLIGHT;
}

void ide_run_step(struct ide_channel *ch)
{
	struct ide_xfer *x = &ch->x;
	uint32_t chunk = x->left < IDE_BUF_SIZE ? (uint32_t)x->left : IDE_BUF_SIZE;
	switch (x->step) {
	case STEP_READ:
		x->len = chunk;
		submit(ch, BLK_READ, chunk);
		break;
	case STEP_WRITE:
		if (x->dma) {
			x->len = chunk;
			if (prd_copy(ch, ch->buf, chunk, false) < 0) {
				dma_error(ch);
				return;
			}
		}
		submit(ch, BLK_WRITE, x->len);
		break;
	case STEP_FLUSH:
		if (xunit(ch)->readonly)
			transfer_done(ch); /* nothing was written */
		else
			submit(ch, BLK_FLUSH, 0);
		break;
	default: /* STEP_SCATTER: a response the bus master takes */
		if (prd_copy(ch, ch->buf, x->len, true) < 0)
			dma_error(ch);
		else
			dma_done(ch);
		break;
	}
}
