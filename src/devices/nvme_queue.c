/* NVMe queues (NVMe 1.4 §4.1, §4.6, §7.2): submission and completion queues
 * in guest memory, command fetch, completion posting with the phase tag,
 * interrupts (MSI-X per CQ, INTx shared), and shadow doorbells (§5.8,
 * Doorbell Buffer Config): with them the driver writes new tails/heads to a
 * buffer in its memory and rings the MMIO doorbell only when the event index
 * we publish says we may be idle.
 *
 * Threads: commands are fetched and run on the event loop thread (the block
 * backend is loop-only); MMIO doorbell writes arrive on vCPU threads, record
 * the value and kick the loop through kick_fd. ctrl->lock is held throughout. */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/guest_mem_log.h"
#include "devices/nvme_ctrl.h"

#define SQE_SIZE (1u << NVME_SQES)
#define CQE_SIZE (1u << NVME_CQES)

/* ---- shadow doorbells: 4 bytes per doorbell, the same layout as the
 * registers (SQ y tail at 2y, CQ y head at 2y + 1, stride 4) ---- */

static uint32_t *shadow_slot(struct nvme_ctrl *n, uint64_t base, unsigned qid, bool cq)
{
	uint64_t off = ((uint64_t)qid * 2 + (cq ? 1 : 0)) * 4;
	return guest_mem_ptr(n->mem, base + off, 4);
}

/* The driver's value from the shadow doorbell, or false if it is unusable. */
static bool shadow_get(struct nvme_ctrl *n, unsigned qid, bool cq, uint32_t size, uint32_t *v)
{
	uint32_t *p = shadow_slot(n, n->dbbuf_dbs, qid, cq);
	if (!p)
		return false;
	uint32_t val = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	if (val >= size) {
		log_guest_error(n->name, "shadow doorbell %u beyond queue %u's size", val, qid);
		return false;
	}
	*v = val;
	return true;
}

static void eventidx_set(struct nvme_ctrl *n, unsigned qid, bool cq, uint32_t v)
{
	uint32_t *p = shadow_slot(n, n->dbbuf_eis, qid, cq);
	if (p) {
		__atomic_store_n(p, v, __ATOMIC_RELEASE);
		guest_mem_mark_hva(n->mem, p, sizeof(*p));
	}
}

static void cq_refresh_head(struct nvme_ctrl *n, unsigned qid)
{
	struct nvme_cq *cq = &n->cq[qid];
	uint32_t v;
	if (cq->shadow && shadow_get(n, qid, true, cq->size, &v) && v != cq->head) {
		cq->head = v;
		counter_inc(&n->qc[qid].kicks);
	}
}

/* ---- ioeventfds: a shadowed SQ's doorbell write becomes an eventfd
 * signal in KVM, with no exit to iovirt; its value is in the shadow ---- */

static void sq_set_ioeventfd(struct nvme_ctrl *n, unsigned qid, bool on)
{
	struct nvme_sq *sq = &n->sq[qid];
	if (n->vm_fd < 0 || !n->db_base || sq->efd_on == on)
		return;
	struct kvm_ioeventfd io = {
		.addr = n->db_base + NVME_REG_DBS + (uint64_t)qid * 8,
		.len = 4,
		.fd = n->kick_fd,
		.flags = on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	if (ioctl(n->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		if (on)
			log_warn("%s: KVM_IOEVENTFD failed: doorbells exit to iovirt", n->name);
		return;
	}
	sq->efd_on = on;
}

void nvme_ioeventfds_move(struct nvme_ctrl *n, uint64_t base)
{
	for (unsigned q = 1; q < NVME_MAX_QUEUES; q++)
		sq_set_ioeventfd(n, q, false);
	n->db_base = base;
	for (unsigned q = 1; q < NVME_MAX_QUEUES; q++)
		if (n->sq[q].valid && n->sq[q].shadow)
			sq_set_ioeventfd(n, q, true);
}

/* Shadow doorbells are for the I/O queues: Linux never updates the admin
 * queue's, so its MMIO doorbell stays authoritative. */
void nvme_shadow_enable(struct nvme_ctrl *n)
{
	for (unsigned q = 1; q < NVME_MAX_QUEUES; q++) {
		if (n->cq[q].valid) {
			n->cq[q].shadow = true;
			uint32_t *p = shadow_slot(n, n->dbbuf_dbs, q, true);
			if (p)
				__atomic_store_n(p, n->cq[q].head, __ATOMIC_RELEASE);
		}
		if (n->sq[q].valid) {
			n->sq[q].shadow = true;
			uint32_t *p = shadow_slot(n, n->dbbuf_dbs, q, false);
			if (p)
				__atomic_store_n(p, n->sq[q].tail, __ATOMIC_RELEASE);
			eventidx_set(n, q, false, n->sq[q].tail);
			sq_set_ioeventfd(n, q, true);
		}
	}
}

void nvme_kick(struct nvme_ctrl *n)
{
	uint64_t one = 1;
	__atomic_fetch_add(&n->kicks_pending, 1, __ATOMIC_ACQ_REL);
	if (write(n->kick_fd, &one, sizeof(one)) < 0)
		__atomic_fetch_sub(&n->kicks_pending, 1, __ATOMIC_ACQ_REL);
}

/* ---- interrupts ---- */

void nvme_update_intx(struct nvme_ctrl *n)
{
	bool level = false;
	if (!msix_enabled(&n->msix) && !(n->intms & 1)) {
		for (unsigned q = 0; q < NVME_MAX_QUEUES && !level; q++) {
			struct nvme_cq *cq = &n->cq[q];
			if (!cq->valid || !cq->ien)
				continue;
			cq_refresh_head(n, q);
			level = cq->head != cq->tail;
		}
	}
	pci_dev_set_intx(&n->pci, level);
}

static void cq_interrupt(struct nvme_ctrl *n, unsigned qid)
{
	struct nvme_cq *cq = &n->cq[qid];
	if (!cq->ien)
		return;
	n->stats.interrupts++;
	counter_inc(&n->qc[qid].interrupts);
	if (msix_enabled(&n->msix)) {
		msix_notify(&n->msix, cq->iv);
		return;
	}
	/* INTx stays asserted until the driver consumes the entries: make a
	 * shadowed queue's driver ring the head doorbell so we see that. */
	if (cq->shadow)
		eventidx_set(n, qid, true, cq->head);
	nvme_update_intx(n);
}

/* ---- completions ---- */

static void fatal(struct nvme_ctrl *n, const char *why)
{
	if (!(n->csts & NVME_CSTS_CFS))
		log_guest_error(n->name, "%s; controller fatal status set", why);
	n->csts |= NVME_CSTS_CFS;
}

void nvme_req_free(struct nvme_ctrl *n, struct nvme_req *r)
{
	struct nvme_sq *sq = &n->sq[r->sqid];
	r->next = sq->free;
	sq->free = r;
	if (sq->stalled) {
		sq->stalled = false;
		nvme_kick(n);
	}
}

/* Writes r's entry if the CQ has room; false if it is full. */
static bool cq_post(struct nvme_ctrl *n, unsigned cqid, const struct nvme_req *r)
{
	struct nvme_cq *cq = &n->cq[cqid];
	cq_refresh_head(n, cqid);
	if ((cq->tail + 1) % cq->size == cq->head) {
		if (cq->shadow)
			eventidx_set(n, cqid, true, cq->head); /* ring when you consume */
		return false;
	}
	uint8_t *slot = guest_mem_ptr(n->mem, cq->gpa + (uint64_t)cq->tail * CQE_SIZE, CQE_SIZE);
	if (!slot) {
		fatal(n, "completion queue outside RAM");
		return false;
	}
	struct nvme_cqe e = {
		.dw0 = r->dw0,
		.sq_head = (uint16_t)n->sq[r->sqid].head,
		.sq_id = r->sqid,
		.cid = r->cmd.cid,
		.status = (uint16_t)((r->status << 1) | (cq->phase ? 1 : 0)),
	};
	/* The phase tag tells the driver the entry is new: it goes last. */
	memcpy(slot, &e, offsetof(struct nvme_cqe, status));
	__atomic_store_n((uint16_t *)(slot + offsetof(struct nvme_cqe, status)), e.status,
			 __ATOMIC_RELEASE);
	guest_mem_mark_hva(n->mem, slot, CQE_SIZE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	if (r->status & NVME_DNR)
		n->stats.guest_errors++; /* the command itself was wrong */
	counter_inc(&n->qc[r->sqid].requests);
	if (n->batching)
		cq->irq_pending = true;
	else
		cq_interrupt(n, cqid);
	return true;
}

void nvme_batch_end(void *opaque)
{
	struct nvme_ctrl *n = opaque;
	pthread_mutex_lock(&n->lock);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		struct nvme_cq *cq = &n->cq[q];
		if (cq->irq_pending) {
			cq->irq_pending = false;
			if (cq->valid)
				cq_interrupt(n, q);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

/* A command that moved data to the host (opcode bits 1:0 = 10b, §3.2:
 * reads, Identify, Get Log Page) wrote its buffers: marked in the dirty
 * log before the completion tells the driver. */
static void mark_data_in(struct nvme_ctrl *n, const struct nvme_req *r)
{
	if ((r->cmd.opcode & 3) != 2 || !guest_mem_logging(n->mem))
		return;
	for (int i = 0; i < r->iovcnt; i++)
		guest_mem_mark_hva(n->mem, r->iov[i].iov_base, r->iov[i].iov_len);
}

void nvme_complete(struct nvme_ctrl *n, struct nvme_req *r)
{
	mark_data_in(n, r);
	struct nvme_sq *sq = &n->sq[r->sqid];
	if (!sq->valid || r->gen != sq->gen) {
		nvme_req_free(n, r); /* its queue was deleted or reset */
		return;
	}
	struct nvme_cq *cq = &n->cq[sq->cqid];
	if (!cq->wait_head && cq_post(n, sq->cqid, r)) {
		nvme_req_free(n, r);
		return;
	}
	r->next = NULL;
	if (cq->wait_tail)
		cq->wait_tail->next = r;
	else
		cq->wait_head = r;
	cq->wait_tail = r;
}

static void cq_drain(struct nvme_ctrl *n, unsigned cqid)
{
	struct nvme_cq *cq = &n->cq[cqid];
	while (cq->wait_head && cq_post(n, cqid, cq->wait_head)) {
		struct nvme_req *r = cq->wait_head;
		cq->wait_head = r->next;
		if (!cq->wait_head)
			cq->wait_tail = NULL;
		nvme_req_free(n, r);
	}
}

/* ---- queue lifecycle (§5.3-§5.6) ---- */

int nvme_cq_create(struct nvme_ctrl *n, uint16_t qid, uint64_t gpa, uint32_t size, bool ien,
		   uint16_t iv)
{
	if (!guest_mem_ptr(n->mem, gpa, (uint64_t)size * CQE_SIZE))
		return -NVME_SC_INVALID_FIELD;
	struct nvme_cq *cq = &n->cq[qid];
	*cq = (struct nvme_cq){
		.valid = true, .ien = ien, .phase = true, .iv = iv, .size = size, .gpa = gpa,
		.shadow = qid > 0 && n->dbbuf_dbs,
	};
	return 0;
}

void nvme_cq_delete(struct nvme_ctrl *n, uint16_t qid)
{
	n->cq[qid].valid = false;
	n->cq[qid].wait_head = n->cq[qid].wait_tail = NULL;
}

int nvme_sq_alloc_slots(struct nvme_ctrl *n, uint16_t qid)
{
	struct nvme_sq *sq = &n->sq[qid];
	if (sq->slots)
		return 0;
	/* Slots outlive the queue: requests still with the backend after a
	 * delete come back to this free list. */
	unsigned count = qid == 0 ? NVME_ADMIN_SLOTS : NVME_IO_SLOTS;
	sq->slots = calloc(count, sizeof(*sq->slots));
	if (!sq->slots)
		return -NVME_SC_INTERNAL;
	sq->nslots = count;
	for (unsigned i = 0; i < count; i++) {
		sq->slots[i].n = n;
		sq->slots[i].next = i + 1 < count ? &sq->slots[i + 1] : NULL;
	}
	sq->free = sq->slots;
	return 0;
}

int nvme_sq_create(struct nvme_ctrl *n, uint16_t qid, uint16_t cqid, uint64_t gpa, uint32_t size)
{
	struct nvme_sq *sq = &n->sq[qid];
	if (!guest_mem_ptr(n->mem, gpa, (uint64_t)size * SQE_SIZE))
		return -NVME_SC_INVALID_FIELD;
	int ret = nvme_sq_alloc_slots(n, qid);
	if (ret < 0)
		return ret;
	sq->valid = true;
	sq->stalled = false;
	sq->cqid = cqid;
	sq->size = size;
	sq->head = sq->tail = 0;
	sq->gpa = gpa;
	sq->shadow = qid > 0 && n->dbbuf_dbs;
	n->cq[cqid].nsq++;
	if (sq->shadow)
		sq_set_ioeventfd(n, qid, true);
	return 0;
}

void nvme_sq_delete(struct nvme_ctrl *n, uint16_t qid)
{
	struct nvme_sq *sq = &n->sq[qid];
	struct nvme_cq *cq = &n->cq[sq->cqid];
	sq_set_ioeventfd(n, qid, false);
	sq->valid = false;
	sq->gen++;
	cq->nsq--;
	/* Its completions still waiting for CQ room are dropped. */
	struct nvme_req **pp = &cq->wait_head;
	cq->wait_tail = NULL;
	while (*pp) {
		struct nvme_req *r = *pp;
		if (r->sqid == qid) {
			*pp = r->next;
			nvme_req_free(n, r);
		} else {
			cq->wait_tail = r;
			pp = &r->next;
		}
	}
	sq->stalled = false;
}

void nvme_queues_reset(struct nvme_ctrl *n)
{
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		if (n->sq[q].valid)
			nvme_sq_delete(n, (uint16_t)q);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		if (n->cq[q].valid)
			nvme_cq_delete(n, (uint16_t)q);
	n->dbbuf_dbs = n->dbbuf_eis = 0;
	nvme_update_intx(n);
}

/* ---- doorbells (§3.1.24, §3.1.25) ---- */

void nvme_doorbell_write(struct nvme_ctrl *n, unsigned index, uint32_t value)
{
	n->stats.doorbells_mmio++;
	unsigned qid = index / 2;
	if (!(n->csts & NVME_CSTS_RDY) || (n->csts & NVME_CSTS_CFS)) {
		counter_inc(&n->dev.counters.rejected);
		return;
	}
	if (qid > n->max_ioq) {
		counter_inc(&n->dev.counters.rejected);
		log_guest_error(n->name, "doorbell of queue %u, which cannot exist", qid);
		return;
	}
	counter_inc(&n->qc[qid].kicks);
	if (index & 1) {
		struct nvme_cq *cq = &n->cq[qid];
		/* The new head may not pass entries we have not posted. */
		if (!cq->valid || value >= cq->size ||
		    (value + cq->size - cq->head) % cq->size > (cq->tail + cq->size - cq->head) % cq->size) {
			counter_inc(&n->qc[qid].rejected);
			log_guest_error(n->name, "invalid CQ %u head doorbell %u", qid, value);
			return;
		}
		cq->head = value;
		if (!msix_enabled(&n->msix))
			nvme_update_intx(n);
		if (cq->wait_head)
			nvme_kick(n);
		return;
	}
	struct nvme_sq *sq = &n->sq[qid];
	if (!sq->valid || value >= sq->size) {
		counter_inc(&n->qc[qid].rejected);
		log_guest_error(n->name, "invalid SQ %u tail doorbell %u", qid, value);
		return;
	}
	sq->tail = value;
	nvme_kick(n);
}

/* ---- command fetch (loop thread) ---- */

static void sq_run(struct nvme_ctrl *n, unsigned qid)
{
	struct nvme_sq *sq = &n->sq[qid];
	/* One pass over the ring per kick at most: a driver that keeps
	 * moving the shadow tail cannot keep the loop here. */
	unsigned budget = sq->size;
	for (;;) {
		uint32_t t;
		if (sq->shadow && shadow_get(n, qid, false, sq->size, &t) && t != sq->tail) {
			sq->tail = t;
			counter_inc(&n->qc[qid].kicks); /* a shadow doorbell update */
		}
		while (sq->valid && sq->head != sq->tail) {
			if (budget-- == 0) {
				nvme_kick(n);
				return;
			}
			struct nvme_req *r = sq->free;
			if (!r) {
				sq->stalled = true; /* a completion frees a slot and kicks */
				return;
			}
			if (guest_mem_read(n->mem, sq->gpa + (uint64_t)sq->head * SQE_SIZE, &r->cmd,
					   SQE_SIZE) < 0) {
				fatal(n, "submission queue outside RAM");
				return;
			}
			sq->free = r->next;
			sq->head = (sq->head + 1) % sq->size;
			r->sqid = (uint16_t)qid;
			r->gen = sq->gen;
			r->status = NVME_SC_SUCCESS;
			r->dw0 = 0;
			r->stage = 0;
			r->iovcnt = 0;
			n->stats.commands++;
			if (qid == 0)
				nvme_admin_exec(n, r);
			else
				nvme_io_exec(n, r);
			if (n->csts & NVME_CSTS_CFS)
				return;
		}
		if (!sq->valid || !sq->shadow)
			return;
		/* Publish how far we got, then look again: the driver may have
		 * moved the tail after our read and seen an old event index. */
		eventidx_set(n, qid, false, sq->tail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!shadow_get(n, qid, false, sq->size, &t) || t == sq->tail)
			return;
	}
}

void nvme_process(struct nvme_ctrl *n)
{
	if (!(n->csts & NVME_CSTS_RDY) || (n->csts & NVME_CSTS_CFS))
		return;
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		if (n->cq[q].valid && n->cq[q].wait_head)
			cq_drain(n, q);
	/* A save waits for the backend: nothing new goes to it meanwhile. */
	for (unsigned q = 0; q < NVME_MAX_QUEUES && !n->quiescing; q++)
		if (n->sq[q].valid)
			sq_run(n, q);
	if (!msix_enabled(&n->msix))
		nvme_update_intx(n);
}
