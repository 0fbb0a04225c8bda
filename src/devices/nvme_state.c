/* The NVMe controller's state record (core/state.h), through the device
 * contract's save and load. One section "nvme" v1:
 *
 *   cc csts aqa asq acq intms     the registers (§3.1)
 *   features, temperature, SMART  what Set Features changed; the counts the
 *                                 SMART log reports
 *   cqs sqs                       bitmaps of the queues that exist, then a
 *                                 section per queue, CQs first (an SQ names
 *                                 its CQ): cq<y> {gpa size head tail phase
 *                                 ien iv [waiting]}, sq<y> {gpa size head
 *                                 tail cqid}
 *   [shadow]                      Doorbell Buffer Config (dbs, eis), when set
 *   [aer]                         Asynchronous Event Requests held
 *   pci, msix                     the function (bus/pci.h, bus/msix.h)
 *
 * Saving quiesces first: no new command is fetched and the save waits for
 * the backend to finish what it has. What is left is what the guest must
 * still see: held AERs, and completions waiting for room in a full CQ
 * ("waiting"); both travel. The shadow doorbells and event indexes are in
 * guest RAM, which travels with the VM: the controller keeps no copy, and
 * an I/O queue uses them exactly when Doorbell Buffer Config is set.
 *
 * Loading reads and checks the controller's part against this instance
 * (queue sizes, heads and tails, ids, the CQ each SQ names, addresses
 * page-aligned and in guest RAM, CSTS against CC) before it changes
 * anything; the PCI and MSI-X loads check theirs, and if one of them or
 * what follows refuses, the function is put back from a record saved just
 * before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/nvme_ctrl.h"

#define NVME_STATE_VERSION 1
#define QUIESCE_TIMEOUT_S 10
#define MAX_WAITING (NVME_ADMIN_SLOTS + NVME_MAX_IO_QUEUES * NVME_IO_SLOTS)
#define CC_UNSUPPORTED(cc) (NVME_CC_CSS(cc) || NVME_CC_MPS(cc) || NVME_CC_AMS(cc))
#define CSTS_KNOWN (NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK)

/* Features saved by name: those Set Features keeps in features[]. */
static const struct {
	const char *name;
	unsigned fid;
} saved_features[] = {
	{"arbitration", NVME_FEAT_ARBITRATION},
	{"power_management", NVME_FEAT_POWER_MGMT},
	{"error_recovery", NVME_FEAT_ERROR_RECOVERY},
	{"volatile_write_cache", NVME_FEAT_VOLATILE_WC},
	{"number_of_queues", NVME_FEAT_NUM_QUEUES},
	{"interrupt_coalescing", NVME_FEAT_IRQ_COALESCE},
	{"write_atomicity", NVME_FEAT_WRITE_ATOMIC},
	{"async_event_config", NVME_FEAT_ASYNC_EVENT},
};
#define NFEATURES (sizeof(saved_features) / sizeof(saved_features[0]))

/* A completion waiting for room in its CQ. */
struct saved_cqe {
	uint16_t sqid, cid, status;
	uint32_t dw0;
};

/* The controller's part of a record, read and checked before it is
 * applied. */
struct saved {
	uint32_t cc, csts, aqa, intms;
	uint64_t asq, acq;
	uint32_t features[NFEATURES];
	uint16_t temp_over, temp_under;
	uint64_t irq_coalescing_off;
	uint64_t units_read, units_written, host_reads, host_writes;
	uint64_t cqs, sqs;
	struct {
		uint64_t gpa;
		uint32_t size, head, tail;
		bool phase, ien;
		uint16_t iv;
		unsigned first_wait, nwait;   /* into waiting[] */
	} cq[NVME_MAX_QUEUES];
	struct {
		uint64_t gpa;
		uint32_t size, head, tail;
		uint16_t cqid;
	} sq[NVME_MAX_QUEUES];
	uint64_t dbs, eis;                    /* 0: no shadow doorbells */
	unsigned naer;
	uint16_t aer_cid[NVME_AERL + 1];
	unsigned nwaiting;
	struct saved_cqe waiting[MAX_WAITING];
};

static void field(char *buf, size_t size, const char *prefix, unsigned i)
{
	snprintf(buf, size, "%s%u", prefix, i);
}

/* ---- quiescing ---- */

static bool busy(const struct nvme_ctrl *n)
{
	return n->inflight || n->shutdown_requested || n->shutdown_busy;
}

bool nvme_busy(struct device *dev)
{
	struct nvme_ctrl *n = container_of(dev, struct nvme_ctrl, dev);
	pthread_mutex_lock(&n->lock);
	bool b = busy(n);
	pthread_mutex_unlock(&n->lock);
	return b;
}

void nvme_idle_check(struct nvme_ctrl *n)
{
	if (n->quiescing && !busy(n))
		pthread_cond_broadcast(&n->idle);
}

/* Stops fetching and waits (lock held) for the backend to finish the
 * commands it has; the loop thread delivers those, so this runs on another
 * thread while the loop runs, or when nothing is in flight. */
static int quiesce(struct nvme_ctrl *n)
{
	n->quiescing = true;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += QUIESCE_TIMEOUT_S;
	while (busy(n)) {
		if (pthread_cond_timedwait(&n->idle, &n->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (!busy(n))
		return 0;
	log_error("%s: cannot save: %u commands still with the block backend after %d s",
		  n->name, n->inflight, QUIESCE_TIMEOUT_S);
	return -EBUSY;
}

static void resume(struct nvme_ctrl *n)
{
	n->quiescing = false;
	nvme_kick(n); /* what the guest rang meanwhile */
}

/* ---- save ---- */

static void save_cq(struct nvme_ctrl *n, struct state_writer *w, unsigned q)
{
	const struct nvme_cq *cq = &n->cq[q];
	char name[8];
	field(name, sizeof(name), "cq", q);
	state_begin(w, name, 1);
	state_put_u64(w, "gpa", cq->gpa);
	state_put_u32(w, "size", cq->size);
	state_put_u32(w, "head", cq->head);
	state_put_u32(w, "tail", cq->tail);
	state_put_bool(w, "phase", cq->phase);
	state_put_bool(w, "ien", cq->ien);
	state_put_u16(w, "iv", cq->iv);
	if (cq->wait_head) {
		unsigned count = 0;
		for (const struct nvme_req *r = cq->wait_head; r; r = r->next)
			count++;
		state_begin_optional(w, "waiting", 1);
		state_put_u32(w, "count", count);
		unsigned i = 0;
		for (const struct nvme_req *r = cq->wait_head; r; r = r->next, i++) {
			char e[16];
			field(e, sizeof(e), "e", i);
			state_begin(w, e, 1);
			state_put_u16(w, "sqid", r->sqid);
			state_put_u16(w, "cid", r->cmd.cid);
			state_put_u16(w, "status", r->status);
			state_put_u32(w, "dw0", r->dw0);
			state_end(w);
		}
		state_end(w);
	}
	state_end(w);
}

static void save_sq(struct nvme_ctrl *n, struct state_writer *w, unsigned q)
{
	const struct nvme_sq *sq = &n->sq[q];
	char name[8];
	field(name, sizeof(name), "sq", q);
	state_begin(w, name, 1);
	state_put_u64(w, "gpa", sq->gpa);
	state_put_u32(w, "size", sq->size);
	state_put_u32(w, "head", sq->head);
	state_put_u32(w, "tail", sq->tail);
	state_put_u16(w, "cqid", sq->cqid);
	state_end(w);
}

static void save_ctrl(struct nvme_ctrl *n, struct state_writer *w)
{
	state_put_u32(w, "cc", n->cc);
	state_put_u32(w, "csts", n->csts);
	state_put_u32(w, "aqa", n->aqa);
	state_put_u64(w, "asq", n->asq);
	state_put_u64(w, "acq", n->acq);
	state_put_u32(w, "intms", n->intms);
	for (unsigned i = 0; i < NFEATURES; i++)
		state_put_u32(w, saved_features[i].name, n->features[saved_features[i].fid]);
	state_put_u16(w, "temp_over", n->temp_over);
	state_put_u16(w, "temp_under", n->temp_under);
	state_put_u64(w, "irq_coalescing_off", n->irq_coalescing_off);
	state_put_u64(w, "units_read", n->units_read);
	state_put_u64(w, "units_written", n->units_written);
	state_put_u64(w, "host_reads", n->host_reads);
	state_put_u64(w, "host_writes", n->host_writes);

	uint64_t cqs = 0, sqs = 0;
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		cqs |= (uint64_t)n->cq[q].valid << q;
		sqs |= (uint64_t)n->sq[q].valid << q;
	}
	state_put_u64(w, "cqs", cqs);
	state_put_u64(w, "sqs", sqs);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		if (n->cq[q].valid)
			save_cq(n, w, q);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		if (n->sq[q].valid)
			save_sq(n, w, q);

	if (n->dbbuf_dbs) {
		state_begin_optional(w, "shadow", 1);
		state_put_u64(w, "dbs", n->dbbuf_dbs);
		state_put_u64(w, "eis", n->dbbuf_eis);
		state_end(w);
	}
	if (n->naer) {
		state_begin_optional(w, "aer", 1);
		state_put_u8(w, "count", (uint8_t)n->naer);
		for (unsigned i = 0; i < n->naer; i++) {
			char name[8];
			field(name, sizeof(name), "cid", i);
			state_put_u16(w, name, n->aer[i]->cmd.cid);
		}
		state_end(w);
	}
}

int nvme_save(struct device *dev, struct state_writer *w)
{
	struct nvme_ctrl *n = container_of(dev, struct nvme_ctrl, dev);
	pthread_mutex_lock(&n->lock);
	int ret = quiesce(n);
	if (ret == 0) {
		state_begin(w, "nvme", NVME_STATE_VERSION);
		save_ctrl(n, w);
		pci_dev_save(&n->pci, w);
		msix_save(&n->msix, w);
		state_end(w);
		ret = w->error;
	}
	resume(n);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

/* ---- load: reading ---- */

static void read_cq(struct state_reader *r, struct saved *s, unsigned q)
{
	char name[8];
	field(name, sizeof(name), "cq", q);
	if (state_enter(r, name, 1, NULL) < 0)
		return;
	state_get_u64(r, "gpa", &s->cq[q].gpa);
	state_get_u32(r, "size", &s->cq[q].size);
	state_get_u32(r, "head", &s->cq[q].head);
	state_get_u32(r, "tail", &s->cq[q].tail);
	state_get_bool(r, "phase", &s->cq[q].phase);
	state_get_bool(r, "ien", &s->cq[q].ien);
	state_get_u16(r, "iv", &s->cq[q].iv);
	s->cq[q].first_wait = s->nwaiting;
	if (state_enter_optional(r, "waiting", 1, NULL) == 1) {
		uint32_t count;
		state_get_u32_range(r, "count", &count, 1, MAX_WAITING - s->nwaiting);
		for (uint32_t i = 0; i < count && !state_failed(r); i++) {
			struct saved_cqe *e = &s->waiting[s->nwaiting++];
			char en[16];
			field(en, sizeof(en), "e", i);
			state_enter(r, en, 1, NULL);
			state_get_u16(r, "sqid", &e->sqid);
			state_get_u16(r, "cid", &e->cid);
			state_get_u16(r, "status", &e->status);
			state_get_u32(r, "dw0", &e->dw0);
			state_leave(r);
		}
		s->cq[q].nwait = s->nwaiting - s->cq[q].first_wait;
		state_leave(r);
	}
	state_leave(r);
}

static void read_sq(struct state_reader *r, struct saved *s, unsigned q)
{
	char name[8];
	field(name, sizeof(name), "sq", q);
	if (state_enter(r, name, 1, NULL) < 0)
		return;
	state_get_u64(r, "gpa", &s->sq[q].gpa);
	state_get_u32(r, "size", &s->sq[q].size);
	state_get_u32(r, "head", &s->sq[q].head);
	state_get_u32(r, "tail", &s->sq[q].tail);
	state_get_u16(r, "cqid", &s->sq[q].cqid);
	state_leave(r);
}

/* A queue bitmap: only queues this controller offers. */
static void read_bitmap(struct state_reader *r, const struct nvme_ctrl *n, const char *name,
			uint64_t *v)
{
	uint64_t offered = n->max_ioq + 1 >= 64 ? ~0ULL : (1ULL << (n->max_ioq + 1)) - 1;
	if (state_get_u64(r, name, v) == 0 && (*v & ~offered))
		state_invalid(r, name, "0x%llx names queues beyond the %u offered",
			      (unsigned long long)*v, n->max_ioq);
}

/* Reads the controller's fields (everything before "pci"). */
static int read_ctrl(struct state_reader *r, const struct nvme_ctrl *n, struct saved *s)
{
	state_get_u32(r, "cc", &s->cc);
	state_get_u32(r, "csts", &s->csts);
	state_get_u32(r, "aqa", &s->aqa);
	state_get_u64(r, "asq", &s->asq);
	state_get_u64(r, "acq", &s->acq);
	state_get_u32(r, "intms", &s->intms);
	for (unsigned i = 0; i < NFEATURES; i++)
		state_get_u32(r, saved_features[i].name, &s->features[i]);
	state_get_u16(r, "temp_over", &s->temp_over);
	state_get_u16(r, "temp_under", &s->temp_under);
	state_get_u64(r, "irq_coalescing_off", &s->irq_coalescing_off);
	state_get_u64(r, "units_read", &s->units_read);
	state_get_u64(r, "units_written", &s->units_written);
	state_get_u64(r, "host_reads", &s->host_reads);
	state_get_u64(r, "host_writes", &s->host_writes);
	read_bitmap(r, n, "cqs", &s->cqs);
	read_bitmap(r, n, "sqs", &s->sqs);
	for (unsigned q = 0; q < NVME_MAX_QUEUES && !state_failed(r); q++)
		if (s->cqs >> q & 1)
			read_cq(r, s, q);
	for (unsigned q = 0; q < NVME_MAX_QUEUES && !state_failed(r); q++)
		if (s->sqs >> q & 1)
			read_sq(r, s, q);
	if (state_enter_optional(r, "shadow", 1, NULL) == 1) {
		state_get_u64(r, "dbs", &s->dbs);
		state_get_u64(r, "eis", &s->eis);
		if (!state_failed(r) && (s->dbs == 0 || s->eis == 0))
			state_invalid(r, s->dbs ? "eis" : "dbs", "0 is not a buffer address");
		state_leave(r);
	}
	if (state_enter_optional(r, "aer", 1, NULL) == 1) {
		uint8_t count;
		if (state_get_u8(r, "count", &count) == 0 && (count < 1 || count > NVME_AERL + 1))
			state_invalid(r, "count", "%u is out of range (1 to %u)", count,
				      NVME_AERL + 1);
		for (unsigned i = 0; i < count && !state_failed(r); i++) {
			char name[8];
			field(name, sizeof(name), "cid", i);
			state_get_u16(r, name, &s->aer_cid[i]);
		}
		s->naer = state_failed(r) ? 0 : count;
		state_leave(r);
	}
	return state_failed(r) ? -EINVAL : 0;
}

/* ---- load: checking (the errors name the field; the path is "nvme.") ---- */

/* size entries of entry bytes at gpa (field name): page-aligned, in RAM. */
static int check_ring(struct state_reader *r, const struct nvme_ctrl *n, const char *name,
		      uint64_t gpa, uint32_t size, uint32_t entry)
{
	if (gpa & (NVME_PAGE_SIZE - 1))
		return state_invalid(r, name, "0x%llx is not page-aligned",
				     (unsigned long long)gpa);
	if (!guest_mem_ptr(n->mem, gpa, (uint64_t)size * entry))
		return state_invalid(r, name, "0x%llx + %u entries is outside guest RAM",
				     (unsigned long long)gpa, size);
	return 0;
}

/* Size, head and tail of queue q. An admin queue's size is AQA's
 * (admin_size), which CAP.MQES does not bound; an I/O queue's is. */
static int check_indexes(struct state_reader *r, const char *q, uint32_t size,
			 uint32_t admin_size, uint32_t head, uint32_t tail)
{
	char name[24];
	snprintf(name, sizeof(name), "%s.size", q);
	if (admin_size && size != admin_size)
		return state_invalid(r, name, "%u, but AQA says %u", size, admin_size);
	if (size < 2 || (!admin_size && size > NVME_MQES + 1u))
		return state_invalid(r, name, "%u is out of range (2 to %u, CAP.MQES)", size,
				     admin_size ? admin_size : NVME_MQES + 1);
	snprintf(name, sizeof(name), "%s.head", q);
	if (head >= size)
		return state_invalid(r, name, "%u is out of range (at most %u)", head, size - 1);
	snprintf(name, sizeof(name), "%s.tail", q);
	if (tail >= size)
		return state_invalid(r, name, "%u is out of range (at most %u)", tail, size - 1);
	return 0;
}

/* CSTS against CC: what the register writes and the loop can leave. */
static int check_status(struct state_reader *r, const struct saved *s)
{
	uint32_t shst = s->csts & NVME_CSTS_SHST_MASK;
	bool en = s->cc & NVME_CC_EN, rdy = s->csts & NVME_CSTS_RDY, cfs = s->csts & NVME_CSTS_CFS;
	if (s->csts & ~CSTS_KNOWN)
		return state_invalid(r, "csts", "0x%x has reserved bits set", s->csts);
	if (shst == NVME_CSTS_SHST_MASK)
		return state_invalid(r, "csts", "shutdown status 3 is reserved");
	if (shst && !NVME_CC_SHN(s->cc))
		return state_invalid(r, "csts", "0x%x reports a shutdown CC (0x%x) did not ask for",
				     s->csts, s->cc);
	if (shst == NVME_CSTS_SHST_BUSY && !cfs)
		return state_invalid(r, "csts",
				     "0x%x: a shutdown in progress (saved after quiescing?)",
				     s->csts);
	if (rdy && !en)
		return state_invalid(r, "csts", "0x%x is ready but CC (0x%x) is not enabled",
				     s->csts, s->cc);
	if (en && !rdy && !cfs)
		return state_invalid(r, "csts",
				     "0x%x: CC (0x%x) is enabled, yet neither ready nor failed",
				     s->csts, s->cc);
	if (rdy && CC_UNSUPPORTED(s->cc))
		return state_invalid(r, "cc", "0x%x asks for what this controller does not offer",
				     s->cc);
	if (s->aqa & ~0x0fff0fffu)
		return state_invalid(r, "aqa", "0x%x has reserved bits set", s->aqa);
	if (s->asq & (NVME_PAGE_SIZE - 1))
		return state_invalid(r, "asq", "0x%llx is not page-aligned",
				     (unsigned long long)s->asq);
	if (s->acq & (NVME_PAGE_SIZE - 1))
		return state_invalid(r, "acq", "0x%llx is not page-aligned",
				     (unsigned long long)s->acq);
	/* Ready: exactly the admin queues AQA/ASQ/ACQ describe, and maybe
	 * I/O queues; not ready: none at all (enable failed or reset). */
	if (!rdy && (s->cqs || s->sqs))
		return state_invalid(r, s->cqs ? "cqs" : "sqs",
				     "queues exist but the controller is not ready");
	if (rdy && !(s->cqs & s->sqs & 1))
		return state_invalid(r, s->cqs & 1 ? "sqs" : "cqs",
				     "the controller is ready without its admin queues");
	if (rdy && s->cq[0].gpa != s->acq)
		return state_invalid(r, "cq0.gpa", "0x%llx, but ACQ says 0x%llx",
				     (unsigned long long)s->cq[0].gpa, (unsigned long long)s->acq);
	if (rdy && s->sq[0].gpa != s->asq)
		return state_invalid(r, "sq0.gpa", "0x%llx, but ASQ says 0x%llx",
				     (unsigned long long)s->sq[0].gpa, (unsigned long long)s->asq);
	return 0;
}

static int check_features(struct state_reader *r, const struct nvme_ctrl *n, const struct saved *s)
{
	for (unsigned i = 0; i < NFEATURES; i++) {
		uint32_t v = s->features[i];
		const char *name = saved_features[i].name;
		switch (saved_features[i].fid) {
		case NVME_FEAT_POWER_MGMT:
			if (v & ~0xe0u)
				return state_invalid(r, name, "0x%x: only power state 0 exists", v);
			break;
		case NVME_FEAT_VOLATILE_WC:
			if (v > 1)
				return state_invalid(r, name, "%u is not 0 or 1", v);
			break;
		case NVME_FEAT_NUM_QUEUES:
			if ((v & 0xffff) >= n->max_ioq || (v >> 16) >= n->max_ioq)
				return state_invalid(r, name,
						     "0x%08x grants more than the %u queues offered",
						     v, n->max_ioq);
			break;
		default:
			break;
		}
	}
	uint64_t vectors = n->msix.nvec >= 64 ? ~0ULL : (1ULL << n->msix.nvec) - 1;
	if (s->irq_coalescing_off & ~vectors)
		return state_invalid(r, "irq_coalescing_off", "0x%llx names vectors beyond the %u",
				     (unsigned long long)s->irq_coalescing_off, n->msix.nvec);
	return 0;
}

static uint32_t granted(const struct saved *s, bool cq)
{
	for (unsigned i = 0; i < NFEATURES; i++)
		if (saved_features[i].fid == NVME_FEAT_NUM_QUEUES)
			return (cq ? s->features[i] >> 16 : s->features[i] & 0xffff) + 1;
	return 0;
}

static int check_queues(struct state_reader *r, const struct nvme_ctrl *n, const struct saved *s)
{
	uint32_t asqs = (s->aqa & 0xfff) + 1, acqs = ((s->aqa >> 16) & 0xfff) + 1;
	char q[8];
	for (unsigned i = 0; i < NVME_MAX_QUEUES; i++) {
		if (!(s->cqs >> i & 1))
			continue;
		field(q, sizeof(q), "cq", i);
		if (i > granted(s, true))
			return state_invalid(r, "cqs", "CQ %u exists, but only %u were granted", i,
					     granted(s, true));
		char gpa[16];
		snprintf(gpa, sizeof(gpa), "%s.gpa", q);
		if (check_indexes(r, q, s->cq[i].size, i == 0 ? acqs : 0, s->cq[i].head,
				  s->cq[i].tail) ||
		    check_ring(r, n, gpa, s->cq[i].gpa, s->cq[i].size, 1u << NVME_CQES))
			return -EINVAL;
		if (s->cq[i].iv >= n->msix.nvec) {
			char name[16];
			snprintf(name, sizeof(name), "%s.iv", q);
			return state_invalid(r, name, "%u is beyond the %u MSI-X vectors",
					     s->cq[i].iv, n->msix.nvec);
		}
	}
	unsigned slots_used[NVME_MAX_QUEUES] = {0};
	for (unsigned i = 0; i < NVME_MAX_QUEUES; i++) {
		if (!(s->sqs >> i & 1))
			continue;
		field(q, sizeof(q), "sq", i);
		if (i > granted(s, false))
			return state_invalid(r, "sqs", "SQ %u exists, but only %u were granted", i,
					     granted(s, false));
		char gpa[16];
		snprintf(gpa, sizeof(gpa), "%s.gpa", q);
		if (check_indexes(r, q, s->sq[i].size, i == 0 ? asqs : 0, s->sq[i].head,
				  s->sq[i].tail) ||
		    check_ring(r, n, gpa, s->sq[i].gpa, s->sq[i].size, 1u << NVME_SQES))
			return -EINVAL;
		uint16_t cqid = s->sq[i].cqid;
		char name[16];
		snprintf(name, sizeof(name), "%s.cqid", q);
		if ((i == 0) != (cqid == 0))
			return state_invalid(r, name, "%u: the admin SQ and only it posts to CQ 0",
					     cqid);
		if (cqid >= NVME_MAX_QUEUES || !(s->cqs >> cqid & 1))
			return state_invalid(r, name, "%u: there is no such CQ", cqid);
	}
	/* Waiting completions: of an SQ that posts to this CQ, within the
	 * slots that SQ has. */
	for (unsigned i = 0; i < NVME_MAX_QUEUES; i++) {
		for (unsigned k = 0; k < (s->cqs >> i & 1 ? s->cq[i].nwait : 0); k++) {
			const struct saved_cqe *e = &s->waiting[s->cq[i].first_wait + k];
			char name[32];
			snprintf(name, sizeof(name), "cq%u.waiting.e%u.sqid", i, k);
			if (e->sqid >= NVME_MAX_QUEUES || !(s->sqs >> e->sqid & 1) ||
			    s->sq[e->sqid].cqid != i)
				return state_invalid(r, name, "%u: no such SQ posts to CQ %u",
						     e->sqid, i);
			unsigned max = e->sqid == 0 ? NVME_ADMIN_SLOTS : NVME_IO_SLOTS;
			if (++slots_used[e->sqid] > max)
				return state_invalid(r, name, "more than %u commands of SQ %u", max,
						     e->sqid);
		}
	}
	if (s->dbs || s->eis) {
		if (!n->shadow_offered)
			return state_invalid(r, "shadow",
					     "this controller offers no shadow doorbells");
		if (!(s->csts & NVME_CSTS_RDY))
			return state_invalid(r, "shadow",
					     "configured, but the controller is not ready");
		if (check_ring(r, n, "shadow.dbs", s->dbs, 1, NVME_PAGE_SIZE) ||
		    check_ring(r, n, "shadow.eis", s->eis, 1, NVME_PAGE_SIZE))
			return -EINVAL;
	}
	if (s->naer) {
		if (!(s->sqs & 1))
			return state_invalid(r, "aer", "requests held without an admin queue");
		if (slots_used[0] + s->naer > NVME_ADMIN_SLOTS)
			return state_invalid(r, "aer", "more admin commands than %u slots",
					     NVME_ADMIN_SLOTS);
	}
	return 0;
}

/* ---- load: applying (lock held; nothing here can fail) ---- */

static struct nvme_req *held_req(struct nvme_ctrl *n, uint16_t sqid, uint16_t cid)
{
	struct nvme_sq *sq = &n->sq[sqid];
	struct nvme_req *r = sq->free;
	sq->free = r->next;
	r->next = NULL;
	memset(&r->cmd, 0, sizeof(r->cmd));
	r->cmd.cid = cid;
	r->sqid = sqid;
	r->gen = sq->gen;
	r->status = NVME_SC_SUCCESS;
	r->dw0 = 0;
	r->stage = 0;
	r->iovcnt = 0;
	return r;
}

static void apply(struct nvme_ctrl *n, const struct saved *s)
{
	nvme_ctrl_reset(n);
	n->cc = s->cc;
	n->csts = s->csts;
	n->aqa = s->aqa;
	n->asq = s->asq;
	n->acq = s->acq;
	n->intms = s->intms;
	for (unsigned i = 0; i < NFEATURES; i++)
		n->features[saved_features[i].fid] = s->features[i];
	n->nr_sq = granted(s, false);
	n->nr_cq = granted(s, true);
	n->temp_over = s->temp_over;
	n->temp_under = s->temp_under;
	n->irq_coalescing_off = s->irq_coalescing_off;
	n->units_read = s->units_read;
	n->units_written = s->units_written;
	n->host_reads = s->host_reads;
	n->host_writes = s->host_writes;
	/* Before the queues: an I/O queue is shadowed when this is set. */
	n->dbbuf_dbs = s->dbs;
	n->dbbuf_eis = s->eis;
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		if (!(s->cqs >> q & 1))
			continue;
		nvme_cq_create(n, (uint16_t)q, s->cq[q].gpa, s->cq[q].size, s->cq[q].ien,
			       s->cq[q].iv);
		n->cq[q].head = s->cq[q].head;
		n->cq[q].tail = s->cq[q].tail;
		n->cq[q].phase = s->cq[q].phase;
	}
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		if (!(s->sqs >> q & 1))
			continue;
		nvme_sq_create(n, (uint16_t)q, s->sq[q].cqid, s->sq[q].gpa, s->sq[q].size);
		n->sq[q].head = s->sq[q].head;
		n->sq[q].tail = s->sq[q].tail;
	}
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		struct nvme_cq *cq = &n->cq[q];
		for (unsigned k = 0; k < (s->cqs >> q & 1 ? s->cq[q].nwait : 0); k++) {
			const struct saved_cqe *e = &s->waiting[s->cq[q].first_wait + k];
			struct nvme_req *r = held_req(n, e->sqid, e->cid);
			r->status = e->status;
			r->dw0 = e->dw0;
			if (cq->wait_tail)
				cq->wait_tail->next = r;
			else
				cq->wait_head = r;
			cq->wait_tail = r;
		}
	}
	for (unsigned i = 0; i < s->naer; i++) {
		struct nvme_req *r = held_req(n, 0, s->aer_cid[i]);
		r->cmd.opcode = NVME_ADM_ASYNC_EVENT;
		n->aer[n->naer++] = r;
	}
	nvme_update_intx(n);
}

/* The function's state as it is, to put back if its load or what follows
 * it refuses the record. */
static int function_backup(struct nvme_ctrl *n, struct state_writer *w)
{
	state_writer_init(w);
	pci_dev_save(&n->pci, w);
	msix_save(&n->msix, w);
	return state_writer_finish(w);
}

static void function_restore(struct nvme_ctrl *n, const struct state_writer *w)
{
	struct state_reader back;
	state_reader_init(&back, w->buf, w->len, n->name);
	if (pci_dev_load(&n->pci, &back) < 0 || msix_load(&n->msix, &back) < 0)
		log_error("%s: putting the PCI function back failed: %s", n->name,
			  state_error(&back));
}

int nvme_load(struct device *dev, struct state_reader *r)
{
	struct nvme_ctrl *n = container_of(dev, struct nvme_ctrl, dev);
	struct saved *s = calloc(1, sizeof(*s));
	if (!s)
		return state_invalid(r, "nvme", "out of memory");
	int ret = -EINVAL;
	if (state_enter(r, "nvme", NVME_STATE_VERSION, NULL) < 0 || read_ctrl(r, n, s) < 0)
		goto out;

	/* Slots are allocated now so that applying cannot fail; they are
	 * not state (an SQ keeps them for life). Nothing is fetched until the
	 * record is applied or refused, so every slot stays free. */
	pthread_mutex_lock(&n->lock);
	n->quiescing = true;
	if (n->inflight || n->shutdown_busy)
		ret = state_invalid(r, "inflight", "this instance has commands in flight");
	else if (check_status(r, s) == 0 && check_features(r, n, s) == 0 &&
		 check_queues(r, n, s) == 0)
		ret = 0;
	for (unsigned q = 0; q < NVME_MAX_QUEUES && ret == 0; q++)
		if (s->sqs >> q & 1 && nvme_sq_alloc_slots(n, (uint16_t)q) < 0)
			ret = state_invalid(r, "sqs", "out of memory for SQ %u", q);
	if (ret < 0)
		n->quiescing = false;
	pthread_mutex_unlock(&n->lock);
	if (ret < 0)
		goto out;

	/* pci_dev_load and msix_load apply what they accept: if a later part
	 * refuses, the function goes back to what it was. */
	struct state_writer backup;
	if (function_backup(n, &backup) < 0) {
		ret = state_invalid(r, "pci", "out of memory");
	} else if (pci_dev_load(&n->pci, r) < 0 || msix_load(&n->msix, r) < 0 ||
		   state_leave(r) < 0) {
		function_restore(n, &backup);
		ret = -EINVAL;
	} else {
		ret = 0;
	}
	state_writer_free(&backup);
	pthread_mutex_lock(&n->lock);
	if (ret == 0)
		apply(n, s);
	n->quiescing = false;
	nvme_kick(n); /* commands the guest queued before the save */
	pthread_mutex_unlock(&n->lock);
out:
	free(s);
	return ret;
}
