/* The IDE controller's state record (core/state.h). One section "ide" v1:
 *
 *   ch0, ch1      each channel: device control, the selected device,
 *                 INTRQ, the bus-master registers, the command's phase and
 *                 transfer (positions, backend offset and bytes left, the
 *                 PRD cursor), the CDB, the buffer's bytes in use, and a
 *                 section per device (u0, u1) with its kind and size (a
 *                 record of another machine's drives is refused), task
 *                 file, settings and sense data
 *   pci           the function (bus/pci.h)
 *
 * Saving quiesces first: no step is handed to the backend and the save
 * waits for the ones out, so a record never has a request in flight; a
 * step that was about to go out is saved as such and goes out after the
 * load. Loading reads and checks everything against this instance before
 * it changes anything. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/ide_priv.h"

#define IDE_STATE_VERSION 1
#define QUIESCE_TIMEOUT_S 10
#define MAX_PRD_ENTRIES (PRD_REGION / 8)

struct saved_channel {
	uint8_t devctl, cur, bm_cmd, bm_status, phase;
	bool intrq;
	uint32_t bm_prd;
	struct ide_xfer x;
	uint8_t cdb[12];
	struct ide_unit unit[IDE_UNITS];   /* the saved fields only */
	size_t buf_len;
	uint8_t *buf;
};

/* ---- quiescing ---- */

static bool inflight(const struct ide_ctrl *c)
{
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		if (ide_channel_busy(&c->ch[i]))
			return true;
	return false;
}

bool ide_busy(struct device *dev)
{
	struct ide_ctrl *c = container_of(dev, struct ide_ctrl, dev);
	pthread_mutex_lock(&c->lock);
	bool b = false;
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		b |= c->ch[i].phase == IDE_INFLIGHT || c->ch[i].phase == IDE_STEP;
	pthread_mutex_unlock(&c->lock);
	return b;
}

static int quiesce(struct ide_ctrl *c)
{
	c->quiescing = true;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += QUIESCE_TIMEOUT_S;
	while (inflight(c))
		if (pthread_cond_timedwait(&c->idle, &c->lock, &deadline) == ETIMEDOUT)
			break;
	if (!inflight(c))
		return 0;
	log_error("%s: cannot save: a request is still with the block backend after %d s",
		  c->name, QUIESCE_TIMEOUT_S);
	return -EBUSY;
}

static void resume(struct ide_ctrl *c)
{
	c->quiescing = false;
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		if (c->ch[i].phase == IDE_STEP)
			ide_kick(c);
}

/* ---- save ---- */

static uint32_t buf_fill(const struct ide_xfer *x)
{
	uint32_t n = x->len > x->pos ? x->len : x->pos;
	return n > IDE_BUF_SIZE ? IDE_BUF_SIZE : n;
}

static void save_unit(struct state_writer *w, const struct ide_unit *u, unsigned i)
{
	char name[4];
	snprintf(name, sizeof(name), "u%u", i);
	state_begin(w, name, 1);
	state_put_u8(w, "kind", (uint8_t)u->kind);
	state_put_u64(w, "sectors", u->sectors);
	state_put_u8(w, "feature", u->feature);
	state_put_u8(w, "nsector", u->nsector);
	state_put_u8(w, "lbal", u->lbal);
	state_put_u8(w, "lbam", u->lbam);
	state_put_u8(w, "lbah", u->lbah);
	state_put_u8(w, "hob_feature", u->hob_feature);
	state_put_u8(w, "hob_nsector", u->hob_nsector);
	state_put_u8(w, "hob_lbal", u->hob_lbal);
	state_put_u8(w, "hob_lbam", u->hob_lbam);
	state_put_u8(w, "hob_lbah", u->hob_lbah);
	state_put_u8(w, "select", u->select);
	state_put_u8(w, "status", u->status);
	state_put_u8(w, "error", u->error);
	state_put_u8(w, "multiple", u->multiple);
	state_put_u8(w, "xfer_mode", u->xfer_mode);
	state_put_bool(w, "wcache", u->wcache);
	state_put_u8(w, "sense_key", u->sense_key);
	state_put_u8(w, "asc", u->asc);
	state_put_u8(w, "ascq", u->ascq);
	state_put_bool(w, "locked", u->locked);
	state_end(w);
}

static void save_channel(struct state_writer *w, const struct ide_channel *ch)
{
	const struct ide_xfer *x = &ch->x;
	char name[4];
	snprintf(name, sizeof(name), "ch%u", ch->index);
	state_begin(w, name, 1);
	state_put_u8(w, "devctl", ch->devctl);
	state_put_u8(w, "cur", ch->cur);
	state_put_bool(w, "intrq", ch->intrq);
	state_put_u8(w, "bm_cmd", ch->bm_cmd);
	state_put_u8(w, "bm_status", ch->bm_status);
	state_put_u32(w, "bm_prd", ch->bm_prd);
	state_put_u8(w, "phase", (uint8_t)ch->phase);
	state_put_u8(w, "unit", x->unit);
	state_put_u8(w, "cmd", x->cmd);
	state_put_bool(w, "write", x->write);
	state_put_bool(w, "dma", x->dma);
	state_put_bool(w, "flush_after", x->flush_after);
	state_put_u8(w, "step", x->step);
	state_put_u64(w, "offset", x->offset);
	state_put_u64(w, "left", x->left);
	state_put_u32(w, "len", x->len);
	state_put_u32(w, "pos", x->pos);
	state_put_u32(w, "end", x->end);
	state_put_u32(w, "block", x->block);
	state_put_u32(w, "prd_index", x->prd_index);
	state_put_u32(w, "prd_addr", x->prd_addr);
	state_put_u32(w, "prd_left", x->prd_left);
	state_put_bool(w, "prd_eot", x->prd_eot);
	state_put_bytes(w, "cdb", ch->cdb, sizeof(ch->cdb));
	state_put_bytes(w, "buf", ch->buf, buf_fill(x));
	for (unsigned i = 0; i < IDE_UNITS; i++)
		save_unit(w, &ch->unit[i], i);
	state_end(w);
}

int ide_save(struct device *dev, struct state_writer *w)
{
	struct ide_ctrl *c = container_of(dev, struct ide_ctrl, dev);
	pthread_mutex_lock(&c->lock);
	int ret = quiesce(c);
	if (ret == 0) {
		state_begin(w, "ide", IDE_STATE_VERSION);
		for (unsigned i = 0; i < IDE_CHANNELS; i++)
			save_channel(w, &c->ch[i]);
		pci_dev_save(&c->pci, w);
		state_end(w);
		ret = w->error;
	}
	resume(c);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* ---- load ---- */

static void read_unit(struct state_reader *r, struct ide_unit *u, unsigned i)
{
	char name[4];
	snprintf(name, sizeof(name), "u%u", i);
	if (state_enter(r, name, 1, NULL) < 0)
		return;
	uint8_t kind;
	state_get_u8(r, "kind", &kind);
	u->kind = (enum ide_kind)kind;
	state_get_u64(r, "sectors", &u->sectors);
	state_get_u8(r, "feature", &u->feature);
	state_get_u8(r, "nsector", &u->nsector);
	state_get_u8(r, "lbal", &u->lbal);
	state_get_u8(r, "lbam", &u->lbam);
	state_get_u8(r, "lbah", &u->lbah);
	state_get_u8(r, "hob_feature", &u->hob_feature);
	state_get_u8(r, "hob_nsector", &u->hob_nsector);
	state_get_u8(r, "hob_lbal", &u->hob_lbal);
	state_get_u8(r, "hob_lbam", &u->hob_lbam);
	state_get_u8(r, "hob_lbah", &u->hob_lbah);
	state_get_u8(r, "select", &u->select);
	state_get_u8(r, "status", &u->status);
	state_get_u8(r, "error", &u->error);
	state_get_u8(r, "multiple", &u->multiple);
	state_get_u8(r, "xfer_mode", &u->xfer_mode);
	state_get_bool(r, "wcache", &u->wcache);
	state_get_u8(r, "sense_key", &u->sense_key);
	state_get_u8(r, "asc", &u->asc);
	state_get_u8(r, "ascq", &u->ascq);
	state_get_bool(r, "locked", &u->locked);
	state_leave(r);
}

static void read_channel(struct state_reader *r, struct saved_channel *s, unsigned index)
{
	struct ide_xfer *x = &s->x;
	char name[4];
	snprintf(name, sizeof(name), "ch%u", index);
	if (state_enter(r, name, 1, NULL) < 0)
		return;
	state_get_u8(r, "devctl", &s->devctl);
	state_get_u8(r, "cur", &s->cur);
	state_get_bool(r, "intrq", &s->intrq);
	state_get_u8(r, "bm_cmd", &s->bm_cmd);
	state_get_u8(r, "bm_status", &s->bm_status);
	state_get_u32(r, "bm_prd", &s->bm_prd);
	state_get_u8(r, "phase", &s->phase);
	state_get_u8(r, "unit", &x->unit);
	state_get_u8(r, "cmd", &x->cmd);
	state_get_bool(r, "write", &x->write);
	state_get_bool(r, "dma", &x->dma);
	state_get_bool(r, "flush_after", &x->flush_after);
	state_get_u8(r, "step", &x->step);
	state_get_u64(r, "offset", &x->offset);
	state_get_u64(r, "left", &x->left);
	state_get_u32(r, "len", &x->len);
	state_get_u32(r, "pos", &x->pos);
	state_get_u32(r, "end", &x->end);
	state_get_u32(r, "block", &x->block);
	state_get_u32(r, "prd_index", &x->prd_index);
	state_get_u32(r, "prd_addr", &x->prd_addr);
	state_get_u32(r, "prd_left", &x->prd_left);
	state_get_bool(r, "prd_eot", &x->prd_eot);
	state_get_bytes(r, "cdb", s->cdb, sizeof(s->cdb));
	state_get_bytes_max(r, "buf", s->buf, IDE_BUF_SIZE, &s->buf_len);
	for (unsigned i = 0; i < IDE_UNITS && !state_failed(r); i++)
		read_unit(r, &s->unit[i], i);
	state_leave(r);
}

/* The positions a phase's code relies on (ide_xfer.c). */
static int check_xfer(struct state_reader *r, const struct saved_channel *s,
		      const struct ide_unit *u)
{
	const struct ide_xfer *x = &s->x;
	uint64_t size = u->sectors * (u->kind == IDE_ATAPI ? CD_SECTOR : ATA_SECTOR);
	if (x->len > IDE_BUF_SIZE || x->pos > IDE_BUF_SIZE || x->end > IDE_BUF_SIZE ||
	    x->block > IDE_BUF_SIZE)
		return state_invalid(r, "len", "positions beyond the %u-byte buffer", IDE_BUF_SIZE);
	if (x->left > size || x->offset > size - x->left)
		return state_invalid(r, "left", "%llu bytes at %llu are beyond the %llu-byte image",
				     (unsigned long long)x->left, (unsigned long long)x->offset,
				     (unsigned long long)size);
	if (x->step >= STEP_MAX)
		return state_invalid(r, "step", "%u is not a step", x->step);
	if (s->buf_len < (x->len > x->pos ? x->len : x->pos))
		return state_invalid(r, "buf", "%zu bytes, fewer than the positions say",
				     s->buf_len);
	switch (s->phase) {
	case IDE_PIO_IN:
		if (!x->block || x->pos > x->end || x->end > x->len)
			return state_invalid(r, "end", "a DRQ block outside the data");
		break;
	case IDE_PIO_OUT:
		if (!x->block || x->pos > x->end || x->len > x->left ||
		    x->end - x->len > x->left - x->len)
			return state_invalid(r, "end", "a DRQ block outside the data");
		break;
	case IDE_PACKET:
		if (u->kind != IDE_ATAPI || x->pos > sizeof(s->cdb))
			return state_invalid(r, "pos", "a packet phase of %u bytes", x->pos);
		break;
	case IDE_DMA_WAIT:
	case IDE_STEP:
		if (x->step == STEP_WRITE && !x->dma && (x->len > x->left || !x->len))
			return state_invalid(r, "len", "a write step of %u bytes", x->len);
		if (x->step == STEP_READ && !x->left)
			return state_invalid(r, "left", "a read step with nothing to read");
		if ((s->phase == IDE_DMA_WAIT || x->step == STEP_SCATTER) && !x->dma)
			return state_invalid(r, "dma", "a DMA wait for a PIO command");
		break;
	default:
		break;
	}
	return 0;
}

static int check_channel(struct state_reader *r, const struct ide_channel *ch,
			 const struct saved_channel *s)
{
	char name[40];
	for (unsigned i = 0; i < IDE_UNITS; i++) {
		const struct ide_unit *want = &ch->unit[i], *got = &s->unit[i];
		snprintf(name, sizeof(name), "ch%u.u%u.kind", ch->index, i);
		if (got->kind != want->kind || got->sectors != want->sectors)
			return state_invalid(r, name, "drive %u (kind %u, %llu sectors) is not "
					     "this one's (kind %u, %llu sectors)", i, got->kind,
					     (unsigned long long)got->sectors, want->kind,
					     (unsigned long long)want->sectors);
		if (got->multiple > IDE_MAX_MULTIPLE || (got->multiple & (got->multiple - 1)))
			return state_invalid(r, "multiple", "%u sectors per block", got->multiple);
	}
	snprintf(name, sizeof(name), "ch%u.phase", ch->index);
	if (s->phase >= IDE_PHASE_MAX || s->phase == IDE_INFLIGHT)
		return state_invalid(r, name, "%u is not a phase a saved channel can be in",
				     s->phase);
	if (s->cur >= IDE_UNITS || s->x.unit >= IDE_UNITS)
		return state_invalid(r, "cur", "device %u of %u", s->cur, IDE_UNITS);
	/* The cursor outlives the command (ide_ata_command keeps it), so
	 * an idle channel's is checked too: prd_next's arithmetic needs it
	 * inside one table. */
	if (s->x.prd_index > MAX_PRD_ENTRIES || s->x.prd_left > 0x10000)
		return state_invalid(r, "prd_index", "the PRD cursor is beyond a table");
	const struct ide_unit *u = &ch->unit[s->x.unit];
	if (s->phase != IDE_IDLE && u->kind == IDE_NONE)
		return state_invalid(r, name, "a command on a device that is not there");
	return s->phase == IDE_IDLE ? 0 : check_xfer(r, s, u);
}

static void apply_channel(struct ide_channel *ch, const struct saved_channel *s)
{
	ch->devctl = s->devctl & (ATA_HOB | ATA_SRST | ATA_NIEN);
	ch->cur = s->cur;
	ch->intrq = s->intrq;
	ch->bm_cmd = s->bm_cmd & (BM_CMD_START | BM_CMD_READ);
	ch->bm_status = s->bm_status & (BM_ST_ACTIVE | BM_ST_ERROR | BM_ST_INTR | BM_ST_DMA_CAP);
	ch->bm_prd = s->bm_prd & ~3u;
	ch->phase = (enum ide_phase)s->phase;
	ch->x = s->x;
	ch->reset_pending = false;
	memcpy(ch->cdb, s->cdb, sizeof(ch->cdb));
	memcpy(ch->buf, s->buf, s->buf_len);
	for (unsigned i = 0; i < IDE_UNITS; i++) {
		struct ide_unit *u = &ch->unit[i];
		const struct ide_unit *g = &s->unit[i];
		u->feature = g->feature;
		u->nsector = g->nsector;
		u->lbal = g->lbal;
		u->lbam = g->lbam;
		u->lbah = g->lbah;
		u->hob_feature = g->hob_feature;
		u->hob_nsector = g->hob_nsector;
		u->hob_lbal = g->hob_lbal;
		u->hob_lbam = g->hob_lbam;
		u->hob_lbah = g->hob_lbah;
		u->select = g->select;
		u->status = g->status;
		u->error = g->error;
		u->multiple = g->multiple;
		u->xfer_mode = g->xfer_mode;
		u->wcache = g->wcache;
		u->sense_key = g->sense_key;
		u->asc = g->asc;
		u->ascq = g->ascq;
		u->locked = g->locked;
	}
	bool level = ch->intrq && !(ch->devctl & ATA_NIEN);
	ch->line = level;
	irq_line_set(&ch->irq, level);
	ide_dma_start(ch); /* a wait whose start bit is already set */
}

int ide_load(struct device *dev, struct state_reader *r)
{
	struct ide_ctrl *c = container_of(dev, struct ide_ctrl, dev);
	struct saved_channel *s = calloc(IDE_CHANNELS, sizeof(*s));
	struct pci_state *ps = calloc(1, sizeof(*ps));
	int ret = -EINVAL;
	for (unsigned i = 0; s && i < IDE_CHANNELS; i++) {
		s[i].buf = malloc(IDE_BUF_SIZE);
		if (!s[i].buf)
			ret = -ENOMEM;
	}
	if (!s || !ps || ret == -ENOMEM) {
		ret = state_invalid(r, "ide", "out of memory");
		goto out;
	}
	if (state_enter(r, "ide", IDE_STATE_VERSION, NULL) < 0)
		goto out;
	for (unsigned i = 0; i < IDE_CHANNELS && !state_failed(r); i++)
		read_channel(r, &s[i], i);
	if (state_failed(r) || pci_dev_state_read(&c->pci, r, ps) < 0 || state_leave(r) < 0)
		goto out;
	pthread_mutex_lock(&c->lock);
	ret = 0;
	if (inflight(c))
		ret = state_invalid(r, "phase", "this instance has a request in flight");
	for (unsigned i = 0; i < IDE_CHANNELS && ret == 0; i++)
		ret = check_channel(r, &c->ch[i], &s[i]);
	if (ret == 0) {
		pci_dev_state_apply(&c->pci, ps);
		for (unsigned i = 0; i < IDE_CHANNELS; i++)
			apply_channel(&c->ch[i], &s[i]);
		resume(c);
	}
	pthread_mutex_unlock(&c->lock);
out:
	for (unsigned i = 0; s && i < IDE_CHANNELS; i++)
		free(s[i].buf);
	free(s);
	free(ps);
	return ret;
}
