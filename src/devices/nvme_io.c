/* NVMe NVM command set (NVMe 1.4 §6): Read, Write, Flush, Write Zeroes and
 * Dataset Management (deallocate → discard) on the shared block backend.
 * A command may take several backend steps (a write then a flush for FUA or
 * a disabled volatile write cache; one discard per DSM range): r->stage
 * says how far it got. Completions arrive on the loop thread. */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "devices/nvme_ctrl.h"
#include "devices/nvme_prp.h"

#define BLOCK BLK_SECTOR_SIZE
#define DSM_RANGE_SIZE 16
#define CDW12_FUA (1u << 30)

static void io_step(struct nvme_ctrl *n, struct nvme_req *r);

static uint16_t errno_status(int err, bool write)
{
	switch (err) {
	case -EIO: return write ? NVME_SC_WRITE_FAULT : NVME_SC_READ_ERROR;
	case -ENOSPC: return NVME_SC_CAP_EXCEEDED;
	case -EROFS: return NVME_SC_NS_WRITE_PROTECTED;
	default: return NVME_SC_INTERNAL;
	}
}

static bool is_write(const struct nvme_req *r)
{
	return r->cmd.opcode != NVME_CMD_READ;
}

static void io_done(struct blk_request *br, int result)
{
	struct nvme_req *r = br->opaque;
	struct nvme_ctrl *n = r->n;
	pthread_mutex_lock(&n->lock);
	n->inflight--;
	n->batching = true; /* the interrupt waits for nvme_batch_end */
	struct nvme_sq *sq = &n->sq[r->sqid];
	if (n->closing || !sq->valid || r->gen != sq->gen) {
		nvme_req_free(n, r); /* reset or deleted queue: nobody waits */
	} else if (result < 0) {
		log_guest_event(n->name, "I/O error at block %llu: %s (reported to the guest)",
				(unsigned long long)(br->offset / BLOCK), strerror(-result));
		counter_inc(&n->qc[r->sqid].errors);
		r->status = errno_status(result, is_write(r));
		nvme_complete(n, r);
	} else {
		if (br->op == BLK_WRITE)
			counter_add(&n->qc[r->sqid].bytes_in, (uint64_t)result);
		else if (br->op == BLK_READ)
			counter_add(&n->qc[r->sqid].bytes_out, (uint64_t)result);
		io_step(n, r);
	}
	n->batching = false;
	nvme_idle_check(n);
	pthread_mutex_unlock(&n->lock);
}

/* Hands r->br to the backend; if it refuses, completes r with an error. */
static void submit(struct nvme_ctrl *n, struct nvme_req *r)
{
	r->br.complete = io_done;
	r->br.opaque = r;
	int ret = blk_submit(n->be, &r->br);
	if (ret == 0) {
		n->inflight++;
		return;
	}
	/* -EINVAL: e.g. a buffer O_DIRECT cannot take. */
	if (ret != -EROFS)
		log_guest_error(n->name, "request refused by the backend: %s",
				     strerror(-ret));
	counter_inc(&n->qc[r->sqid].errors);
	r->status = errno_status(ret, is_write(r));
	nvme_complete(n, r);
}

static void submit_op(struct nvme_ctrl *n, struct nvme_req *r, enum blk_op op, uint64_t slba,
		      uint64_t nlb)
{
	r->br = (struct blk_request){.op = op, .offset = slba * BLOCK, .len = nlb * BLOCK};
	if (op == BLK_READ || op == BLK_WRITE) {
		r->br.iov = r->iov;
		r->br.iovcnt = r->iovcnt;
		r->br.len = 0;
	}
	submit(n, r);
}

static uint64_t cmd_slba(const struct nvme_req *r)
{
	return (uint64_t)r->cmd.cdw11 << 32 | r->cmd.cdw10;
}

static uint64_t cmd_nlb(const struct nvme_req *r)
{
	return (r->cmd.cdw12 & 0xffff) + 1;
}

static bool range_ok(const struct nvme_ctrl *n, uint64_t slba, uint64_t nlb)
{
	return slba <= n->nsze && nlb <= n->nsze - slba;
}

/* Range i of a DSM command's list (mapped into r->iov at the start). */
static void dsm_range(const struct nvme_req *r, uint32_t i, uint64_t *slba, uint32_t *nlb)
{
	uint8_t b[DSM_RANGE_SIZE];
	size_t skip = (size_t)i * DSM_RANGE_SIZE, got = 0;
	for (int k = 0; k < r->iovcnt && got < sizeof(b); k++) {
		size_t l = r->iov[k].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t c = l - skip < sizeof(b) - got ? l - skip : sizeof(b) - got;
		memcpy(b + got, (uint8_t *)r->iov[k].iov_base + skip, c);
		got += c;
		skip = 0;
	}
	memcpy(nlb, b + 4, 4);
	memcpy(slba, b + 8, 8);
}

/* Runs the next backend step of r, or completes it. */
static void io_step(struct nvme_ctrl *n, struct nvme_req *r)
{
	int stage = r->stage++;
	switch (r->cmd.opcode) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE: {
		bool write = r->cmd.opcode == NVME_CMD_WRITE;
		if (stage == 0) {
			submit_op(n, r, write ? BLK_WRITE : BLK_READ, cmd_slba(r), cmd_nlb(r));
			return;
		}
		/* FUA, or no volatile write cache: stable before completion. */
		bool through = (r->cmd.cdw12 & CDW12_FUA) || !n->features[NVME_FEAT_VOLATILE_WC];
		if (write && stage == 1 && through) {
			submit_op(n, r, BLK_FLUSH, 0, 0);
			return;
		}
		break;
	}
	case NVME_CMD_FLUSH:
		if (stage == 0) {
			submit_op(n, r, BLK_FLUSH, 0, 0);
			return;
		}
		break;
	case NVME_CMD_WRITE_ZEROES:
		if (stage == 0) {
			submit_op(n, r, BLK_WRITE_ZEROES, cmd_slba(r), cmd_nlb(r));
			return;
		}
		break;
	case NVME_CMD_DSM: {
		uint32_t nr = (r->cmd.cdw10 & 0xff) + 1;
		while ((r->cmd.cdw11 & (1u << 2)) && r->dsm_next < nr) {
			uint64_t slba;
			uint32_t nlb;
			dsm_range(r, r->dsm_next++, &slba, &nlb);
			if (nlb == 0)
				continue;
			if (!range_ok(n, slba, nlb)) {
				r->status = NVME_SC_LBA_RANGE;
				break;
			}
			submit_op(n, r, BLK_DISCARD, slba, nlb);
			return;
		}
		break;
	}
	default:
		break;
	}
	nvme_complete(n, r);
}

/* Checks the command; 0 to go on, or the status to complete it with. */
static uint16_t io_check(struct nvme_ctrl *n, struct nvme_req *r)
{
	const struct nvme_sqe *c = &r->cmd;
	if (c->flags & 0xc3)
		return NVME_SC_INVALID_FIELD; /* fused operations, SGLs */
	switch (c->opcode) {
	case NVME_CMD_FLUSH:
		if (c->nsid != NVME_NSID && c->nsid != 0xffffffff)
			return NVME_SC_INVALID_NS;
		return NVME_SC_SUCCESS;
	case NVME_CMD_READ:
	case NVME_CMD_WRITE: {
		bool write = c->opcode == NVME_CMD_WRITE;
		if (c->nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		uint64_t nlb = cmd_nlb(r);
		if (nlb * BLOCK > NVME_MAX_XFER)
			return NVME_SC_INVALID_FIELD; /* beyond MDTS */
		if (!range_ok(n, cmd_slba(r), nlb))
			return NVME_SC_LBA_RANGE;
		if (write && n->readonly)
			return NVME_SC_NS_WRITE_PROTECTED;
		int cnt = nvme_prp_map(n->mem, c->prp1, c->prp2, nlb * BLOCK, r->iov, NVME_MAX_IOV);
		if (cnt < 0)
			return (uint16_t)-cnt;
		r->iovcnt = cnt;
		if (write) {
			n->host_writes++;
			n->units_written += nlb;
		} else {
			n->host_reads++;
			n->units_read += nlb;
		}
		return NVME_SC_SUCCESS;
	}
	case NVME_CMD_WRITE_ZEROES:
		if (c->nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		if (!range_ok(n, cmd_slba(r), cmd_nlb(r)))
			return NVME_SC_LBA_RANGE;
		return n->readonly ? NVME_SC_NS_WRITE_PROTECTED : NVME_SC_SUCCESS;
	case NVME_CMD_DSM: {
		if (c->nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		if (!(c->cdw11 & (1u << 2)))
			return NVME_SC_SUCCESS; /* only hints: nothing to do */
		if (n->readonly)
			return NVME_SC_NS_WRITE_PROTECTED;
		uint32_t nr = (c->cdw10 & 0xff) + 1;
		int cnt = nvme_prp_map(n->mem, c->prp1, c->prp2, (uint64_t)nr * DSM_RANGE_SIZE, r->iov,
				       NVME_MAX_IOV);
		if (cnt < 0)
			return (uint16_t)-cnt;
		r->iovcnt = cnt;
		r->dsm_next = 0;
		return NVME_SC_SUCCESS;
	}
	default:
		return NVME_SC_INVALID_OPCODE;
	}
}

void nvme_io_exec(struct nvme_ctrl *n, struct nvme_req *r)
{
	n->stats.io_commands++;
	r->status = io_check(n, r);
	if (r->status != NVME_SC_SUCCESS) {
		counter_inc(&n->qc[r->sqid].rejected);
		nvme_complete(n, r);
		return;
	}
	io_step(n, r);
}
