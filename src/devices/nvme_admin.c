/* NVMe admin command set (NVMe 1.4 §5): Identify, queue creation and
 * deletion, features, log pages, asynchronous events, abort, and Doorbell
 * Buffer Config. Every command is checked field by field; a bad one gets the
 * status a real controller returns. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "devices/nvme_ctrl.h"
#include "devices/nvme_prp.h"

#define ID_SIZE 4096
#define LOG_PAGE_MAX 4096

static void put16(uint8_t *b, unsigned off, uint16_t v) { memcpy(b + off, &v, 2); }
static void put32(uint8_t *b, unsigned off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, unsigned off, uint64_t v) { memcpy(b + off, &v, 8); }

/* ASCII fields are space padded, not NUL terminated (§1.5). */
static void put_str(uint8_t *b, unsigned off, unsigned len, const char *s)
{
	memset(b + off, ' ', len);
	size_t l = strlen(s);
	memcpy(b + off, s, l < len ? l : len);
}

static uint16_t to_guest(struct nvme_ctrl *n, const struct nvme_req *r, const void *buf,
			 size_t len)
{
	int ret = nvme_prp_copy(n->mem, r->cmd.prp1, r->cmd.prp2, (void *)buf, len, true);
	return ret < 0 ? (uint16_t)-ret : NVME_SC_SUCCESS;
}

/* ---- Identify (§5.15) ---- */

static void identify_ctrl(struct nvme_ctrl *n, uint8_t *b)
{
	put16(b, 0, 0x1b36);                  /* VID */
	put16(b, 2, 0x1b36);                  /* SSVID */
	put_str(b, 4, 20, n->serial);         /* SN */
	put_str(b, 24, 40, "iovirt NVMe Ctrl"); /* MN */
	put_str(b, 64, 8, "1.0");             /* FR */
	b[72] = 6;                            /* RAB */
	b[77] = NVME_MDTS;                    /* MDTS, in CAP.MPSMIN pages */
	put16(b, 78, 0);                      /* CNTLID */
	put32(b, 80, NVME_VS_1_4);            /* VER */
	b[111] = 1;                           /* CNTRLTYPE: I/O controller */
	/* OACS: Doorbell Buffer Config (bit 8) */
	put16(b, 256, n->shadow_offered ? 1u << 8 : 0);
	b[258] = 3;                           /* ACL: 4 aborts */
	b[259] = NVME_AERL;                   /* AERL */
	b[260] = 0x03;                        /* FRMW: one slot, read-only */
	b[261] = 0;                           /* LPA */
	b[262] = 0;                           /* ELPE: one error log entry */
	b[263] = 0;                           /* NPSS: one power state */
	put16(b, 266, 343);                   /* WCTEMP 70 C */
	put16(b, 268, 358);                   /* CCTEMP 85 C */
	b[512] = (NVME_SQES << 4) | NVME_SQES; /* SQES */
	b[513] = (NVME_CQES << 4) | NVME_CQES; /* CQES */
	put32(b, 516, 1);                     /* NN */
	/* ONCS: DSM (bit 2), Write Zeroes (bit 3) */
	put16(b, 520, (1u << 2) | (1u << 3));
	/* VWC: present, and flush with NSID FFFFFFFFh is supported */
	b[525] = 0x07;
	char nqn[256];
	snprintf(nqn, sizeof(nqn), "nqn.2026-11.org.iovirt:nvme:%s", n->serial);
	memcpy(b + 768, nqn, strlen(nqn));   /* SUBNQN, NUL padded */
	put16(b, 2048, 2500);                 /* PSD0: MP 25 W */
}

static void identify_ns(struct nvme_ctrl *n, uint8_t *b)
{
	put64(b, 0, n->nsze);                 /* NSZE */
	put64(b, 8, n->nsze);                 /* NCAP */
	put64(b, 16, n->nsze);                /* NUSE */
	b[25] = 0;                            /* NLBAF: one format */
	b[26] = 0;                            /* FLBAS: format 0 */
	b[33] = 0x01;                         /* DLFEAT: deallocated blocks read 0 */
	b[99] = n->readonly ? 1 : 0;          /* NSATTR: write protected */
	put32(b, 128, 9u << 16);              /* LBAF0: 512-byte blocks, no metadata */
}

/* A namespace UUID (descriptor type 3) derived from the serial. */
static void identify_ns_descs(struct nvme_ctrl *n, uint8_t *b)
{
	b[0] = 3;   /* NIDT: UUID */
	b[1] = 16;  /* NIDL */
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = n->serial; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	memcpy(b + 4, &h, 8);
	h = h * 1099511628211ULL + 1;
	memcpy(b + 12, &h, 8);
	b[4 + 6] = (uint8_t)((b[4 + 6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	b[4 + 8] = (uint8_t)((b[4 + 8] & 0x3f) | 0x80); /* variant */
}

static uint16_t cmd_identify(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint8_t b[ID_SIZE];
	memset(b, 0, sizeof(b));
	uint32_t nsid = r->cmd.nsid;
	switch (r->cmd.cdw10 & 0xff) {
	case NVME_CNS_CTRL:
		identify_ctrl(n, b);
		break;
	case NVME_CNS_NS:
		if (nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		identify_ns(n, b);
		break;
	case NVME_CNS_ACTIVE_NS_LIST:
		if (nsid >= 0xfffffffe)
			return NVME_SC_INVALID_NS;
		if (nsid < NVME_NSID)
			put32(b, 0, NVME_NSID);
		break;
	case NVME_CNS_NS_DESC_LIST:
		if (nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		identify_ns_descs(n, b);
		break;
	case 0x05: /* I/O command set specific namespace / controller (NVM: */
	case 0x06: /* nothing beyond the base structures), asked by Linux */
		if ((r->cmd.cdw11 >> 24) != 0)
			return NVME_SC_INVALID_FIELD;
		if ((r->cmd.cdw10 & 0xff) == 0x05 && nsid != NVME_NSID)
			return NVME_SC_INVALID_NS;
		break;
	default:
		return NVME_SC_INVALID_FIELD;
	}
	return to_guest(n, r, b, sizeof(b));
}

/* ---- queues (§5.3-§5.6) ---- */

static uint16_t cmd_create_cq(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint32_t qid = r->cmd.cdw10 & 0xffff, size = (r->cmd.cdw10 >> 16) + 1;
	bool pc = r->cmd.cdw11 & 1, ien = r->cmd.cdw11 & 2;
	uint32_t iv = r->cmd.cdw11 >> 16;
	if (qid == 0 || qid > n->nr_cq || n->cq[qid].valid)
		return NVME_SC_QID_INVALID;
	if (size < 2 || size > NVME_MQES + 1)
		return NVME_SC_QUEUE_SIZE;
	if (!pc || (r->cmd.prp1 & (NVME_PAGE_SIZE - 1)) || NVME_CC_IOCQES(n->cc) != NVME_CQES)
		return NVME_SC_INVALID_FIELD;
	if (iv >= n->msix.nvec || (!msix_enabled(&n->msix) && iv != 0))
		return NVME_SC_INVALID_VECTOR;
	int ret = nvme_cq_create(n, (uint16_t)qid, r->cmd.prp1, size, ien, (uint16_t)iv);
	return ret < 0 ? (uint16_t)-ret : NVME_SC_SUCCESS;
}

static uint16_t cmd_create_sq(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint32_t qid = r->cmd.cdw10 & 0xffff, size = (r->cmd.cdw10 >> 16) + 1;
	bool pc = r->cmd.cdw11 & 1;
	uint32_t cqid = r->cmd.cdw11 >> 16;
	if (cqid == 0 || cqid >= NVME_MAX_QUEUES || !n->cq[cqid].valid)
		return NVME_SC_CQ_INVALID;
	if (qid == 0 || qid > n->nr_sq || n->sq[qid].valid)
		return NVME_SC_QID_INVALID;
	if (size < 2 || size > NVME_MQES + 1)
		return NVME_SC_QUEUE_SIZE;
	if (!pc || (r->cmd.prp1 & (NVME_PAGE_SIZE - 1)) || NVME_CC_IOSQES(n->cc) != NVME_SQES)
		return NVME_SC_INVALID_FIELD;
	int ret = nvme_sq_create(n, (uint16_t)qid, (uint16_t)cqid, r->cmd.prp1, size);
	return ret < 0 ? (uint16_t)-ret : NVME_SC_SUCCESS;
}

static uint16_t cmd_delete_sq(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint32_t qid = r->cmd.cdw10 & 0xffff;
	if (qid == 0 || qid >= NVME_MAX_QUEUES || !n->sq[qid].valid)
		return NVME_SC_QID_INVALID;
	nvme_sq_delete(n, (uint16_t)qid);
	return NVME_SC_SUCCESS;
}

static uint16_t cmd_delete_cq(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint32_t qid = r->cmd.cdw10 & 0xffff;
	if (qid == 0 || qid >= NVME_MAX_QUEUES || !n->cq[qid].valid)
		return NVME_SC_QID_INVALID;
	if (n->cq[qid].nsq)
		return NVME_SC_QUEUE_DELETION;
	nvme_cq_delete(n, (uint16_t)qid);
	return NVME_SC_SUCCESS;
}

/* ---- features (§5.21) ---- */

static bool io_queues_exist(const struct nvme_ctrl *n)
{
	for (unsigned q = 1; q < NVME_MAX_QUEUES; q++)
		if (n->sq[q].valid || n->cq[q].valid)
			return true;
	return false;
}

static uint16_t set_feature(struct nvme_ctrl *n, uint8_t fid, uint32_t v, uint32_t *dw0)
{
	switch (fid) {
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t nsqr = v & 0xffff, ncqr = v >> 16;
		if (nsqr == 0xffff || ncqr == 0xffff)
			return NVME_SC_INVALID_FIELD;
		if (io_queues_exist(n))
			return 0x0c | NVME_DNR; /* Command Sequence Error */
		n->nr_sq = nsqr + 1 < n->max_ioq ? nsqr + 1 : n->max_ioq;
		n->nr_cq = ncqr + 1 < n->max_ioq ? ncqr + 1 : n->max_ioq;
		n->features[fid] = (n->nr_sq - 1) | ((n->nr_cq - 1) << 16);
		*dw0 = n->features[fid];
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_POWER_MGMT:
		if ((v & 0x1f) != 0) /* one power state */
			return NVME_SC_INVALID_FIELD;
		n->features[fid] = v & 0xff;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_TEMP_THRESH: {
		unsigned tmpsel = (v >> 16) & 0xf, thsel = (v >> 20) & 3;
		if ((tmpsel != 0 && tmpsel != 0xf) || thsel > 1)
			return NVME_SC_INVALID_FIELD;
		if (thsel == 0)
			n->temp_over = (uint16_t)v;
		else
			n->temp_under = (uint16_t)v;
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_IRQ_CONFIG: {
		uint32_t iv = v & 0xffff;
		if (iv >= n->msix.nvec)
			return NVME_SC_INVALID_FIELD;
		if (v & (1u << 16))
			n->irq_coalescing_off |= 1ULL << iv;
		else
			n->irq_coalescing_off &= ~(1ULL << iv);
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_VOLATILE_WC:
		n->features[fid] = v & 1;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_ERROR_RECOVERY:
	case NVME_FEAT_IRQ_COALESCE:   /* kept, not applied: see the issue note */
	case NVME_FEAT_WRITE_ATOMIC:
	case NVME_FEAT_ASYNC_EVENT:
		n->features[fid] = v;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

static uint16_t get_feature(struct nvme_ctrl *n, uint8_t fid, uint32_t cdw11, unsigned sel,
			    uint32_t *dw0)
{
	if (fid == 0 || fid >= NVME_FEAT_NR || fid == 0x03)
		return NVME_SC_INVALID_FIELD;
	if (sel == 3) { /* supported capabilities: changeable, not saveable */
		*dw0 = 1u << 2;
		return NVME_SC_SUCCESS;
	}
	switch (fid) {
	case NVME_FEAT_TEMP_THRESH: {
		unsigned tmpsel = (cdw11 >> 16) & 0xf, thsel = (cdw11 >> 20) & 3;
		if (tmpsel != 0 || thsel > 1)
			return NVME_SC_INVALID_FIELD;
		*dw0 = thsel == 0 ? n->temp_over : n->temp_under;
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_IRQ_CONFIG: {
		uint32_t iv = cdw11 & 0xffff;
		if (iv >= n->msix.nvec)
			return NVME_SC_INVALID_FIELD;
		*dw0 = iv | ((n->irq_coalescing_off >> iv & 1) ? 1u << 16 : 0);
		return NVME_SC_SUCCESS;
	}
	default:
		*dw0 = n->features[fid];
		return NVME_SC_SUCCESS;
	}
}

static uint16_t cmd_features(struct nvme_ctrl *n, struct nvme_req *r, bool set)
{
	uint8_t fid = (uint8_t)(r->cmd.cdw10 & 0xff);
	if (set) {
		if (r->cmd.cdw10 & (1u << 31))
			return NVME_SC_FEATURE_NOT_SAVEABLE;
		return set_feature(n, fid, r->cmd.cdw11, &r->dw0);
	}
	return get_feature(n, fid, r->cmd.cdw11, (r->cmd.cdw10 >> 8) & 7, &r->dw0);
}

/* ---- log pages (§5.14) ---- */

static void smart_log(struct nvme_ctrl *n, uint8_t *b)
{
	put16(b, 1, 313);          /* composite temperature: 40 C */
	b[3] = 100;                /* available spare */
	b[4] = 10;                 /* spare threshold */
	/* data units are thousands of 512-byte blocks, rounded up */
	put64(b, 32, (n->units_read + 999) / 1000);
	put64(b, 48, (n->units_written + 999) / 1000);
	put64(b, 64, n->host_reads);
	put64(b, 80, n->host_writes);
}

static uint16_t cmd_get_log_page(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint8_t lid = (uint8_t)(r->cmd.cdw10 & 0xff);
	uint64_t numd = ((uint64_t)(r->cmd.cdw11 & 0xffff) << 16 | (r->cmd.cdw10 >> 16)) + 1;
	uint64_t off = (uint64_t)r->cmd.cdw13 << 32 | r->cmd.cdw12;
	uint64_t len = numd * 4;
	if (off & 3 || len > LOG_PAGE_MAX)
		return NVME_SC_INVALID_FIELD;
	uint8_t page[LOG_PAGE_MAX];
	memset(page, 0, sizeof(page));
	size_t size;
	switch (lid) {
	case NVME_LOG_ERROR:
		size = 64;                 /* one entry, never filled: no errors kept */
		break;
	case NVME_LOG_SMART:
		if (r->cmd.nsid != NVME_NSID && r->cmd.nsid != 0xffffffff && r->cmd.nsid != 0)
			return NVME_SC_INVALID_FIELD;
		smart_log(n, page);
		size = 512;
		break;
	case NVME_LOG_FW_SLOT:
		page[0] = 1;               /* AFI: slot 1 active */
		put_str(page, 8, 8, "1.0"); /* FRS1 */
		size = 512;
		break;
	default:
		return NVME_SC_INVALID_LOG_PAGE;
	}
	if (off > size)
		return NVME_SC_INVALID_FIELD;
	/* Bytes past the page's end read as zero. */
	uint8_t out[LOG_PAGE_MAX];
	memset(out, 0, sizeof(out));
	memcpy(out, page + off, size - off < len ? size - off : len);
	return to_guest(n, r, out, len);
}

/* ---- the rest ---- */

static uint16_t cmd_dbbuf_config(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint64_t dbs = r->cmd.prp1, eis = r->cmd.prp2;
	if (!n->shadow_offered)
		return NVME_SC_INVALID_OPCODE;
	if ((dbs | eis) & (NVME_PAGE_SIZE - 1) || !guest_mem_ptr(n->mem, dbs, NVME_PAGE_SIZE) ||
	    !guest_mem_ptr(n->mem, eis, NVME_PAGE_SIZE))
		return NVME_SC_INVALID_FIELD;
	n->dbbuf_dbs = dbs;
	n->dbbuf_eis = eis;
	nvme_shadow_enable(n);
	return NVME_SC_SUCCESS;
}

void nvme_admin_exec(struct nvme_ctrl *n, struct nvme_req *r)
{
	uint16_t st;
	if (r->cmd.flags & 0xc3) { /* fused operations, SGLs: not supported */
		counter_inc(&n->qc[0].rejected);
		r->status = NVME_SC_INVALID_FIELD;
		nvme_complete(n, r);
		return;
	}
	switch (r->cmd.opcode) {
	case NVME_ADM_IDENTIFY: st = cmd_identify(n, r); break;
	case NVME_ADM_CREATE_CQ: st = cmd_create_cq(n, r); break;
	case NVME_ADM_CREATE_SQ: st = cmd_create_sq(n, r); break;
	case NVME_ADM_DELETE_SQ: st = cmd_delete_sq(n, r); break;
	case NVME_ADM_DELETE_CQ: st = cmd_delete_cq(n, r); break;
	case NVME_ADM_SET_FEATURES: st = cmd_features(n, r, true); break;
	case NVME_ADM_GET_FEATURES: st = cmd_features(n, r, false); break;
	case NVME_ADM_GET_LOG_PAGE: st = cmd_get_log_page(n, r); break;
	case NVME_ADM_DBBUF_CONFIG: st = cmd_dbbuf_config(n, r); break;
	case NVME_ADM_ABORT:
		r->dw0 = 1; /* not aborted: commands here finish promptly anyway */
		st = NVME_SC_SUCCESS;
		break;
	case NVME_ADM_ASYNC_EVENT:
		/* Held until an event occurs (none do: no media or temperature
		 * events here) or the controller resets. */
		if (n->naer > NVME_AERL) {
			st = NVME_SC_AER_LIMIT;
			break;
		}
		n->aer[n->naer++] = r;
		return;
	default:
		st = NVME_SC_INVALID_OPCODE;
		break;
	}
	if (st != NVME_SC_SUCCESS)
		counter_inc(&n->qc[0].rejected);
	r->status = st;
	nvme_complete(n, r);
}

void nvme_admin_reset(struct nvme_ctrl *n)
{
	for (unsigned i = 0; i < n->naer; i++)
		nvme_req_free(n, n->aer[i]);
	n->naer = 0;
	memset(n->features, 0, sizeof(n->features));
	n->features[NVME_FEAT_VOLATILE_WC] = 1;
	n->nr_sq = n->nr_cq = n->max_ioq;
	n->features[NVME_FEAT_NUM_QUEUES] = (n->max_ioq - 1) | ((n->max_ioq - 1) << 16);
	n->temp_over = 343;
	n->temp_under = 0;
	n->irq_coalescing_off = 0;
}
