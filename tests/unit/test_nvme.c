/* The emulated NVMe controller against a fake driver: queues in fake guest
 * RAM, registers poked through BAR0's ops as a vCPU would, a real temporary
 * image behind the namespace, and the real event loop. Covers register
 * semantics, admin and I/O commands, PRP lists, shadow doorbells, INTx, a
 * full completion queue, and what a hostile driver may try. */
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
#include "devices/nvme.h"
#include "devices/nvme_ctrl.h"
#include "devices/nvme_prp.h"
#include "support/capture.h"
#include "support/fake_irq.h"
#include "support/fake_ram.h"
#include "support/loop_wait.h"
#include "core/log.h"
#include "core/loop.h"

#define RAM_SIZE (8u << 20)
#define IMG_SIZE (2u << 20)
#define ASQ 0x10000
#define ACQ 0x11000
#define IOSQ 0x12000
#define IOCQ 0x13000
#define DBS 0x14000       /* shadow doorbells */
#define EIS 0x15000       /* event indexes */
#define DATA 0x100000     /* data buffers from here */
#define ADMIN_SIZE 16
#define IO_SIZE 32

struct queue {
	uint64_t sq, cq;
	uint16_t qid, size, tail, head;
	bool phase;
};

struct drv {
	char path[64];
	struct fake_ram ram;
	struct loop *loop;
	struct nvme_ctrl *n;
	struct queue admin, io;
	bool shadow;
};

static void *hva(struct drv *d, uint64_t gpa) { return fake_ram_ptr(&d->ram, gpa); }

/* ---- registers, as a vCPU sees them ---- */

static uint64_t reg_read(struct drv *d, uint64_t off, unsigned len)
{
	struct pci_bar *b = &nvme_pci(d->n)->bars[0];
	uint8_t data[8] = {0};
	b->ops->read(b->opaque, off, data, len);
	uint64_t v = 0;
	memcpy(&v, data, len);
	return v;
}

static void reg_write(struct drv *d, uint64_t off, uint64_t v, unsigned len)
{
	struct pci_bar *b = &nvme_pci(d->n)->bars[0];
	uint8_t data[8];
	memcpy(data, &v, 8);
	b->ops->write(b->opaque, off, data, len);
}

static void doorbell(struct drv *d, uint16_t qid, bool cq, uint32_t v)
{
	reg_write(d, NVME_REG_DBS + (qid * 2u + (cq ? 1 : 0)) * 4, v, 4);
}

/* ---- the fake driver ---- */

static int open_ctrl(struct drv *d, bool readonly, bool no_shadow)
{
	struct nvme_options o = {.path = d->path, .readonly = readonly, .serial = "SN-TEST-1",
				 .num_queues = 2, .no_shadow_doorbells = no_shadow, .name = "nvme0"};
	d->n = nvme_create(&o, &d->ram.mem, d->loop, NULL, -1);
	return d->n ? 0 : -1;
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/iovirt-nvme-XXXXXX");
	int fd = mkstemp(d->path);
	assert_true(fd >= 0);
	uint8_t *img = malloc(IMG_SIZE);
	for (unsigned i = 0; i < IMG_SIZE; i++)
		img[i] = (uint8_t)(i * 7 + i / 512);
	assert_int_equal(write(fd, img, IMG_SIZE), IMG_SIZE);
	free(img);
	close(fd);
	fake_ram_init(&d->ram, RAM_SIZE, DATA);
	d->loop = loop_create();
	assert_non_null(d->loop);
	assert_int_equal(open_ctrl(d, false, false), 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;
	blk_fsync_hooks = NULL;
	nvme_destroy(d->n);
	loop_destroy(d->loop);
	fake_ram_destroy(&d->ram);
	unlink(d->path);
	free(d);
	return 0;
}

static void enable(struct drv *d)
{
	d->admin = (struct queue){.sq = ASQ, .cq = ACQ, .size = ADMIN_SIZE, .phase = true};
	memset(hva(d, ACQ), 0, ADMIN_SIZE * 16);
	reg_write(d, NVME_REG_AQA, (ADMIN_SIZE - 1) | ((ADMIN_SIZE - 1) << 16), 4);
	reg_write(d, NVME_REG_ASQ, ASQ, 8);
	reg_write(d, NVME_REG_ACQ, ACQ, 8);
	reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_RDY);
}

struct cq_wait {
	struct drv *d;
	struct queue *q;
};

static bool cqe_ready(void *arg)
{
	struct cq_wait *w = arg;
	struct nvme_cqe *e = hva(w->d, w->q->cq + w->q->head * 16u);
	return (__atomic_load_n(&e->status, __ATOMIC_ACQUIRE) & 1) == w->q->phase;
}

static bool try_cqe(struct drv *d, struct queue *q, struct nvme_cqe *out, int ms)
{
	struct cq_wait w = {d, q};
	if (!cqe_ready(&w))
		loop_run_until(d->loop, cqe_ready, &w, ms);
	if (!cqe_ready(&w))
		return false;
	memcpy(out, hva(d, q->cq + q->head * 16u), sizeof(*out));
	if (++q->head == q->size) {
		q->head = 0;
		q->phase = !q->phase;
	}
	doorbell(d, q->qid, true, q->head);
	return true;
}

static struct nvme_cqe wait_cqe(struct drv *d, struct queue *q)
{
	struct nvme_cqe e;
	assert_true(try_cqe(d, q, &e, 3000));
	return e;
}

static void post(struct drv *d, struct queue *q, struct nvme_sqe *c, bool ring)
{
	c->cid = (uint16_t)(q->tail + 0x100);
	memcpy(hva(d, q->sq + q->tail * 64u), c, sizeof(*c));
	q->tail = (uint16_t)((q->tail + 1) % q->size);
	if (d->shadow && q->qid)
		__atomic_store_n((uint32_t *)hva(d, DBS + q->qid * 8u), q->tail, __ATOMIC_RELEASE);
	if (ring)
		doorbell(d, q->qid, false, q->tail);
}

/* Submits c on q and waits: the status field (without the phase tag). */
static uint16_t run(struct drv *d, struct queue *q, struct nvme_sqe c, uint32_t *dw0)
{
	post(d, q, &c, true);
	struct nvme_cqe e = wait_cqe(d, q);
	assert_int_equal(e.cid, c.cid);
	assert_int_equal(e.sq_id, q->qid);
	if (dw0)
		*dw0 = e.dw0;
	return e.status >> 1;
}

static uint16_t admin(struct drv *d, struct nvme_sqe c, uint32_t *dw0)
{
	return run(d, &d->admin, c, dw0);
}

static void create_io_queues(struct drv *d, uint16_t sqsize, uint16_t cqsize)
{
	d->io = (struct queue){.sq = IOSQ, .cq = IOCQ, .qid = 1, .size = sqsize, .phase = true};
	memset(hva(d, IOCQ), 0, 4096);
	struct nvme_sqe c = {.opcode = NVME_ADM_CREATE_CQ, .prp1 = IOCQ,
			     .cdw10 = 1 | ((uint32_t)(cqsize - 1) << 16), .cdw11 = 1};
	assert_int_equal(admin(d, c, NULL), 0);
	c = (struct nvme_sqe){.opcode = NVME_ADM_CREATE_SQ, .prp1 = IOSQ,
			      .cdw10 = 1 | ((uint32_t)(sqsize - 1) << 16), .cdw11 = 1 | (1u << 16)};
	assert_int_equal(admin(d, c, NULL), 0);
	d->io.size = cqsize; /* the driver's CQ view; the SQ wraps at sqsize */
	d->io.tail = 0;
}

static struct nvme_sqe rw(uint8_t op, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	return (struct nvme_sqe){.opcode = op, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
				 .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
				 .cdw12 = nlb - 1};
}

static void read_image(struct drv *d, uint64_t off, void *buf, size_t len)
{
	FILE *f = fopen(d->path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
}

/* ---- registers ---- */

static void test_reset_values(void **state)
{
	struct drv *d = *state;
	uint64_t cap = reg_read(d, NVME_REG_CAP, 8);
	assert_int_equal(cap & 0xffff, NVME_MQES);
	assert_true(cap & (1ULL << 16));        /* CQR */
	assert_true(cap & (1ULL << 37));        /* NVM command set */
	assert_int_equal((cap >> 32) & 0xf, 0); /* DSTRD */
	assert_int_equal(reg_read(d, NVME_REG_CAP + 4, 4), cap >> 32);
	assert_int_equal(reg_read(d, NVME_REG_VS, 4), 0x00010400);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4), 0);
	assert_int_equal(reg_read(d, NVME_REG_CC, 4), 0);
	/* PCI identity: an NVMe I/O controller by class. */
	assert_int_equal(pci_cfg_get(nvme_pci(d->n), 0x09, 3), 0x010802);
}

static void test_enable_reset_shutdown(void **state)
{
	struct drv *d = *state;
	enable(d);
	assert_int_equal(reg_read(d, NVME_REG_ASQ, 8), ASQ);
	/* Shutdown notification: SHST goes to complete once data is stable. */
	reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20) | (1u << 14), 4);
	for (int i = 0; i < 100 && (reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_SHST_MASK) !=
						NVME_CSTS_SHST_DONE; i++)
		loop_run_until(d->loop, NULL, NULL, 20);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
	/* Disable: not ready; enable again works from scratch. */
	reg_write(d, NVME_REG_CC, 0, 4);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_RDY, 0);
	enable(d);
	uint32_t dw0;
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_FEATURES,
						    .cdw10 = NVME_FEAT_NUM_QUEUES}, &dw0), 0);
	assert_int_equal(dw0, 0x00010001); /* two queues each, 0's based */
}

static int fsync_fails(struct blk_backend *b, const struct blk_request *req, int res)
{
	return -EIO;
}

/* A flush that fails at shutdown: the data may be lost, so no "shutdown
 * complete" but a controller fatal status. */
static void test_shutdown_flush_failure_sets_cfs(void **state)
{
	static const struct blk_fsync_hooks fail = {.result = fsync_fails};
	struct drv *d = *state;
	enable(d);
	blk_fsync_hooks = &fail;
	reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20) | (1u << 14), 4);
	for (int i = 0; i < 100 && !(reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS); i++)
		loop_run_until(d->loop, NULL, NULL, 20);
	uint32_t csts = (uint32_t)reg_read(d, NVME_REG_CSTS, 4);
	assert_true(csts & NVME_CSTS_CFS);
	assert_int_equal(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_BUSY);
	/* A controller reset clears it. */
	reg_write(d, NVME_REG_CC, 0, 4);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4), 0);
}

static void test_bad_enable_sets_cfs(void **state)
{
	struct drv *d = *state;
	reg_write(d, NVME_REG_AQA, 0x000f000f, 4);
	reg_write(d, NVME_REG_ASQ, RAM_SIZE + 0x1000ULL, 8); /* outside RAM */
	reg_write(d, NVME_REG_ACQ, ACQ, 8);
	reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	/* 8 KiB pages (CC.MPS 1) are not offered either. */
	reg_write(d, NVME_REG_CC, 0, 4);
	reg_write(d, NVME_REG_ASQ, ASQ, 8);
	reg_write(d, NVME_REG_CC, NVME_CC_EN | (1u << 7), 4);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
}

/* A guest that toggles CC.EN with AQA=0 a thousand times gets its fatal
 * status every time, but the host's log only LOG_GUEST_BURST lines. */
static void toggle_enable(void *arg)
{
	struct drv *d = arg;
	reg_write(d, NVME_REG_AQA, 0, 4);
	for (int i = 0; i < 1000; i++) {
		reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
		assert_true(reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS);
		reg_write(d, NVME_REG_CC, 0, 4);
	}
}

static void test_enable_flood_log_limited(void **state)
{
	char *log = capture_stderr(toggle_enable, *state);
	int lines = count_occurrences(log, "guest error:");
	assert_true(lines >= 1 && lines <= LOG_GUEST_BURST);
	free(log);
}

/* ---- admin ---- */

static void test_identify(void **state)
{
	struct drv *d = *state;
	enable(d);
	uint64_t buf = DATA;
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .prp1 = buf,
						    .cdw10 = NVME_CNS_CTRL}, NULL), 0);
	uint8_t *b = hva(d, buf);
	assert_memory_equal(b + 4, "SN-TEST-1 ", 10);
	assert_int_equal(b[77], NVME_MDTS);
	assert_int_equal(b[516], 1);           /* one namespace */
	assert_true(b[257] & 1);               /* OACS: Doorbell Buffer Config */
	assert_int_equal(b[512], 0x66);
	assert_int_equal(b[513], 0x44);

	/* The namespace, with an offset in PRP1 spanning into PRP2. */
	uint64_t ns = DATA + 0x2000 + 0x200;
	memset(hva(d, DATA + 0x3000), 0xff, 4096);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
						    .prp1 = ns, .prp2 = DATA + 0x3000,
						    .cdw10 = NVME_CNS_NS}, NULL), 0);
	uint64_t nsze;
	memcpy(&nsze, hva(d, ns), 8);
	assert_int_equal(nsze, IMG_SIZE / 512);
	assert_int_equal(*(uint8_t *)hva(d, ns + 130), 9);        /* LBAF0.LBADS */
	assert_int_equal(*(uint8_t *)hva(d, DATA + 0x3000), 0);   /* the rest went to PRP2 */

	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 2,
						    .prp1 = buf, .cdw10 = NVME_CNS_NS}, NULL),
			 NVME_SC_INVALID_NS);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .prp1 = buf,
						    .cdw10 = NVME_CNS_ACTIVE_NS_LIST}, NULL), 0);
	assert_int_equal(*(uint32_t *)hva(d, buf), 1);
	assert_int_equal(*(uint32_t *)hva(d, buf + 4), 0);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
						    .prp1 = buf, .cdw10 = NVME_CNS_NS_DESC_LIST},
			       NULL), 0);
	assert_int_equal(b[0], 3);  /* a UUID */
	assert_int_equal(b[1], 16);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .prp1 = buf,
						    .cdw10 = 0x42}, NULL), NVME_SC_INVALID_FIELD);
}

static void test_features_and_logs(void **state)
{
	struct drv *d = *state;
	enable(d);
	uint32_t dw0;
	/* Ask for 8 queues, get the 2 offered. */
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
						    .cdw10 = NVME_FEAT_NUM_QUEUES,
						    .cdw11 = 0x00070007}, &dw0), 0);
	assert_int_equal(dw0, 0x00010001);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
						    .cdw10 = NVME_FEAT_VOLATILE_WC, .cdw11 = 0},
			       NULL), 0);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_FEATURES,
						    .cdw10 = NVME_FEAT_VOLATILE_WC}, &dw0), 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
						    .cdw10 = 0x7f}, NULL), NVME_SC_INVALID_FIELD);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
						    .cdw10 = NVME_FEAT_ARBITRATION | (1u << 31)},
			       NULL), NVME_SC_FEATURE_NOT_SAVEABLE);
	/* SMART log (512 bytes = 128 dwords): spare 100%. */
	uint8_t *b = hva(d, DATA);
	memset(b, 0xee, 4096);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_LOG_PAGE,
						    .nsid = 0xffffffff, .prp1 = DATA,
						    .cdw10 = NVME_LOG_SMART | (127u << 16)}, NULL), 0);
	assert_int_equal(b[3], 100);
	assert_int_equal(b[511], 0);
	assert_int_equal(b[512], 0xee);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_LOG_PAGE, .prp1 = DATA,
						    .cdw10 = 0x55 | (127u << 16)}, NULL),
			 NVME_SC_INVALID_LOG_PAGE);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = 0xee}, NULL), NVME_SC_INVALID_OPCODE);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .flags = 1,
						    .prp1 = DATA, .cdw10 = 1}, NULL),
			 NVME_SC_INVALID_FIELD); /* fused */
	/* Abort: answered "not aborted". */
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ABORT}, &dw0), 0);
	assert_int_equal(dw0 & 1, 1);
}

static void test_aer_held_and_limited(void **state)
{
	struct drv *d = *state;
	enable(d);
	for (int i = 0; i < NVME_AERL + 1; i++) {
		struct nvme_sqe c = {.opcode = NVME_ADM_ASYNC_EVENT};
		post(d, &d->admin, &c, true);
	}
	struct nvme_cqe e;
	assert_false(try_cqe(d, &d->admin, &e, 100)); /* held */
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ASYNC_EVENT}, NULL),
			 NVME_SC_AER_LIMIT);
	/* Other commands still run past the held ones. */
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .prp1 = DATA,
						    .cdw10 = 1}, NULL), 0);
}

static void test_queue_creation_errors(void **state)
{
	struct drv *d = *state;
	enable(d);
	struct nvme_sqe c = {.opcode = NVME_ADM_CREATE_CQ, .prp1 = IOCQ, .cdw11 = 1};
	c.cdw10 = 0 | (15u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_QID_INVALID);        /* qid 0 */
	c.cdw10 = 3 | (15u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_QID_INVALID);        /* > granted */
	c.cdw10 = 1 | (0u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_QUEUE_SIZE);         /* 1 entry */
	c.cdw10 = 1 | (4096u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_QUEUE_SIZE);         /* > MQES */
	c.cdw10 = 1 | (15u << 16);
	c.cdw11 = 0;
	assert_int_equal(admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* not contiguous */
	c.cdw11 = 1;
	c.prp1 = IOCQ + 8;
	assert_int_equal(admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* misaligned */
	c.prp1 = RAM_SIZE - 0x1000;
	c.cdw10 = 1 | (1023u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* beyond RAM */
	c.prp1 = IOCQ;
	c.cdw10 = 1 | (15u << 16);
	c.cdw11 = 1 | 2 | (5u << 16);
	assert_int_equal(admin(d, c, NULL), NVME_SC_INVALID_VECTOR);
	struct nvme_sqe s = {.opcode = NVME_ADM_CREATE_SQ, .prp1 = IOSQ, .cdw10 = 1 | (15u << 16),
			     .cdw11 = 1 | (1u << 16)};
	assert_int_equal(admin(d, s, NULL), NVME_SC_CQ_INVALID);         /* no CQ 1 yet */
	c.cdw11 = 1;
	assert_int_equal(admin(d, c, NULL), 0);
	assert_int_equal(admin(d, c, NULL), NVME_SC_QID_INVALID);        /* exists */
	assert_int_equal(admin(d, s, NULL), 0);
	struct nvme_sqe del = {.opcode = NVME_ADM_DELETE_CQ, .cdw10 = 1};
	assert_int_equal(admin(d, del, NULL), NVME_SC_QUEUE_DELETION);   /* SQ attached */
	del.opcode = NVME_ADM_DELETE_SQ;
	assert_int_equal(admin(d, del, NULL), 0);
	assert_int_equal(admin(d, del, NULL), NVME_SC_QID_INVALID);
	del.opcode = NVME_ADM_DELETE_CQ;
	assert_int_equal(admin(d, del, NULL), 0);
	del.cdw10 = 0;
	assert_int_equal(admin(d, del, NULL), NVME_SC_QID_INVALID);      /* the admin CQ */
}

/* ---- I/O ---- */

static void test_read_write_prp_list(void **state)
{
	struct drv *d = *state;
	enable(d);
	create_io_queues(d, IO_SIZE, IO_SIZE);
	/* 5 pages of data starting at a 512-byte offset: PRP1 + a list. */
	uint64_t list = DATA, data = DATA + 0x10000;
	uint64_t pages[6] = {data + 0x200, data + 0x3000, data + 0x1000, data + 0x5000,
			     data + 0x7000, data + 0x9000};
	for (int i = 1; i < 6; i++)
		memcpy(hva(d, list + (uint64_t)(i - 1) * 8), &pages[i], 8);
	uint32_t nlb = 40; /* 20 KiB: 3.5 KiB in PRP1's page, then 4+4+4+4+0.5 */
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 100, nlb, pages[0], list), NULL), 0);
	uint8_t want[20480], got[20480];
	read_image(d, 100 * 512, want, sizeof(want));
	size_t at = 0, first = 4096 - 0x200;
	memcpy(got, hva(d, pages[0]), first);
	at = first;
	for (int i = 1; at < sizeof(got); i++) {
		size_t c = sizeof(got) - at < 4096 ? sizeof(got) - at : 4096;
		memcpy(got + at, hva(d, pages[i]), c);
		at += c;
	}
	assert_memory_equal(got, want, sizeof(want));

	/* Write a page back elsewhere and read the image. */
	memset(hva(d, data + 0x20000), 0x5a, 4096);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_WRITE, 8, 8, data + 0x20000, 0), NULL), 0);
	assert_int_equal(run(d, &d->io, (struct nvme_sqe){.opcode = NVME_CMD_FLUSH, .nsid = 1},
			     NULL), 0);
	read_image(d, 8 * 512, got, 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(got[i], 0x5a);
	struct nvme_stats st;
	nvme_get_stats(d->n, &st);
	assert_true(st.io_commands >= 3);
}

static void test_write_zeroes_and_deallocate(void **state)
{
	struct drv *d = *state;
	enable(d);
	create_io_queues(d, IO_SIZE, IO_SIZE);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_WRITE_ZEROES, 16, 16, 0, 0), NULL), 0);
	uint8_t got[8192];
	read_image(d, 16 * 512, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	/* DSM deallocate: two ranges, the second of 8 blocks at LBA 64. */
	uint8_t *r = hva(d, DATA);
	memset(r, 0, 32);
	uint32_t nlb = 8;
	uint64_t slba = 64;
	memcpy(r + 16 + 4, &nlb, 4);
	memcpy(r + 16 + 8, &slba, 8);
	struct nvme_sqe c = {.opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = DATA, .cdw10 = 1,
			     .cdw11 = 1u << 2};
	assert_int_equal(run(d, &d->io, c, NULL), 0);
	read_image(d, 64 * 512, got, 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(got[i], 0);
	/* A range past the end: LBA Out of Range. */
	slba = IMG_SIZE / 512 - 4;
	memcpy(r + 16 + 8, &slba, 8);
	assert_int_equal(run(d, &d->io, c, NULL), NVME_SC_LBA_RANGE);
}

static void test_hostile_io(void **state)
{
	struct drv *d = *state;
	enable(d);
	create_io_queues(d, IO_SIZE, IO_SIZE);
	uint64_t data = DATA;
	uint64_t blocks = IMG_SIZE / 512;
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, blocks - 1, 2, data, 0), NULL),
			 NVME_SC_LBA_RANGE);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, ~0ULL - 1, 4, data, 0), NULL),
			 NVME_SC_LBA_RANGE); /* wraps */
	struct nvme_sqe c = rw(NVME_CMD_READ, 0, 1, data, 0);
	c.nsid = 7;
	assert_int_equal(run(d, &d->io, c, NULL), NVME_SC_INVALID_NS);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 1, data + 2, 0), NULL),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 1, RAM_SIZE, 0), NULL),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 16, data, data + 0x1100), NULL),
			 NVME_SC_PRP_OFFSET_INVALID); /* PRP2 data page with an offset */
	/* More than MDTS. */
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 4096, data, data + 0x1000), NULL),
			 NVME_SC_INVALID_FIELD);
	/* A PRP list whose last entry points at itself, over and over. */
	uint64_t list = DATA + 0x40000;
	for (int i = 0; i < 511; i++) {
		uint64_t p = DATA + 0x50000;
		memcpy(hva(d, list + i * 8u), &p, 8);
	}
	memcpy(hva(d, list + 511 * 8u), &list, 8);
	uint64_t last = list + 4088;
	uint64_t self = last;
	memcpy(hva(d, last), &self, 8);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 64, data, last), NULL),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(run(d, &d->io, (struct nvme_sqe){.opcode = 0x7f, .nsid = 1}, NULL),
			 NVME_SC_INVALID_OPCODE);
	/* Doorbells beyond the queue, of queues that do not exist: ignored. */
	doorbell(d, 1, false, IO_SIZE + 5);
	doorbell(d, 9, false, 1);
	doorbell(d, 1, true, IO_SIZE - 1); /* a head past what was posted */
	doorbell(d, 63, true, 0);
	reg_write(d, NVME_REG_DBS + 2, 1, 2);
	/* Still serving. */
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 1, data, 0), NULL), 0);
	assert_int_equal(reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS, 0);
}

static void test_readonly_namespace(void **state)
{
	struct drv *d = *state;
	nvme_destroy(d->n);
	assert_int_equal(open_ctrl(d, true, false), 0);
	enable(d);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
						    .prp1 = DATA, .cdw10 = NVME_CNS_NS}, NULL), 0);
	assert_int_equal(*(uint8_t *)hva(d, DATA + 99) & 1, 1);
	create_io_queues(d, IO_SIZE, IO_SIZE);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_WRITE, 0, 1, DATA, 0), NULL),
			 NVME_SC_NS_WRITE_PROTECTED);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_WRITE_ZEROES, 0, 1, 0, 0), NULL),
			 NVME_SC_NS_WRITE_PROTECTED);
	assert_int_equal(run(d, &d->io, rw(NVME_CMD_READ, 0, 1, DATA, 0), NULL), 0);
}

/* A CQ with room for one entry: completions wait until the driver consumes. */
static void test_full_completion_queue(void **state)
{
	struct drv *d = *state;
	enable(d);
	create_io_queues(d, IO_SIZE, 2);
	for (int i = 0; i < 4; i++) {
		struct nvme_sqe c = rw(NVME_CMD_READ, (uint64_t)i, 1, DATA + i * 4096u, 0);
		c.cid = (uint16_t)i;
		memcpy(hva(d, IOSQ + i * 64u), &c, sizeof(c));
	}
	doorbell(d, 1, false, 4);
	int seen = 0;
	struct nvme_cqe e;
	while (seen < 4 && try_cqe(d, &d->io, &e, 2000)) {
		assert_int_equal(e.status >> 1, 0);
		assert_int_equal(e.cid, seen);
		seen++;
	}
	assert_int_equal(seen, 4);
}

static void test_shadow_doorbells(void **state)
{
	struct drv *d = *state;
	enable(d);
	memset(hva(d, DBS), 0, 4096);
	memset(hva(d, EIS), 0, 4096);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_DBBUF_CONFIG, .prp1 = DBS,
						    .prp2 = EIS}, NULL), 0);
	d->shadow = true;
	create_io_queues(d, IO_SIZE, IO_SIZE);
	/* Three commands, only the shadow updated for the first two; one
	 * MMIO ring picks all of them up. */
	struct nvme_sqe c = rw(NVME_CMD_READ, 0, 1, DATA, 0);
	post(d, &d->io, &c, false);
	c = rw(NVME_CMD_READ, 1, 1, DATA + 4096, 0);
	post(d, &d->io, &c, false);
	c = rw(NVME_CMD_READ, 2, 1, DATA + 8192, 0);
	post(d, &d->io, &c, true);
	struct nvme_cqe e;
	for (int i = 0; i < 3; i++)
		assert_true(try_cqe(d, &d->io, &e, 2000));
	/* The event index tells the driver how far we got. */
	assert_int_equal(*(uint32_t *)hva(d, EIS + 8), 3);
	/* The next command is found through the shadow alone once anything
	 * kicks the controller (here: an admin command). */
	c = rw(NVME_CMD_READ, 3, 1, DATA, 0);
	post(d, &d->io, &c, false);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ABORT}, NULL), 0);
	assert_true(try_cqe(d, &d->io, &e, 2000));
	/* A shadow value beyond the queue is ignored. */
	*(uint32_t *)hva(d, DBS + 8) = 999;
	doorbell(d, 1, false, d->io.tail);
	assert_false(try_cqe(d, &d->io, &e, 50));
	/* Refused without the OACS bit. */
	nvme_destroy(d->n);
	assert_int_equal(open_ctrl(d, false, true), 0);
	d->shadow = false;
	enable(d);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_DBBUF_CONFIG, .prp1 = DBS,
						    .prp2 = EIS}, NULL), NVME_SC_INVALID_OPCODE);
}

static void test_intx(void **state)
{
	struct drv *d = *state;
	struct fake_irq irq = {0};
	nvme_pci(d->n)->intx = fake_irq_line(&irq, 5);
	enable(d);
	struct nvme_sqe c = {.opcode = NVME_ADM_ABORT};
	post(d, &d->admin, &c, true);
	struct cq_wait w = {d, &d->admin};
	loop_run_until(d->loop, cqe_ready, &w, 2000);
	assert_true(irq.level);
	/* Masked by INTMS, back with INTMC, down once consumed. */
	reg_write(d, NVME_REG_INTMS, 1, 4);
	assert_false(irq.level);
	reg_write(d, NVME_REG_INTMC, 1, 4);
	assert_true(irq.level);
	struct nvme_cqe e;
	assert_true(try_cqe(d, &d->admin, &e, 100));
	assert_false(irq.level);
	nvme_pci(d->n)->intx = (struct irq_line){0};
}

/* An I/O completion's interrupt is raised at the end of the backend's
 * batch of completions (one per queue for all its entries), not lost. */
static void test_io_interrupt_after_batch(void **state)
{
	struct drv *d = *state;
	struct fake_irq irq = {0};
	nvme_pci(d->n)->intx = fake_irq_line(&irq, 5);
	enable(d);
	/* An I/O CQ with interrupts enabled (IEN), vector 0. */
	d->io = (struct queue){.sq = IOSQ, .cq = IOCQ, .qid = 1, .size = IO_SIZE, .phase = true};
	memset(hva(d, IOCQ), 0, 4096);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_CQ, .prp1 = IOCQ,
						    .cdw10 = 1 | ((IO_SIZE - 1u) << 16),
						    .cdw11 = 1 | 2}, NULL), 0);
	assert_int_equal(admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_SQ, .prp1 = IOSQ,
						    .cdw10 = 1 | ((IO_SIZE - 1u) << 16),
						    .cdw11 = 1 | (1u << 16)}, NULL), 0);
	assert_false(irq.level); /* the admin entries were consumed */
	for (int i = 0; i < 3; i++) {
		struct nvme_sqe c = rw(NVME_CMD_READ, 8 * (uint64_t)i, 8, DATA + 0x1000u * (unsigned)i, 0);
		post(d, &d->io, &c, i == 2);
	}
	struct nvme_cqe e;
	for (int i = 0; i < 3; i++) {
		struct cq_wait w = {d, &d->io};
		loop_run_until(d->loop, cqe_ready, &w, 2000);
		assert_true(irq.level);
		assert_true(try_cqe(d, &d->io, &e, 100));
		assert_int_equal(e.status >> 1, 0);
	}
	assert_false(irq.level);
	nvme_pci(d->n)->intx = (struct irq_line){0};
}

/* ---- PRP walking alone ---- */

static void test_prp_chained_lists(void **state)
{
	(void)state;
	struct fake_ram ram;
	fake_ram_init(&ram, 16u << 20, 0);
	/* 1 MiB = 256 pages: PRP1 + 255 entries, over two list pages. */
	uint64_t l1 = 0x1000, l2 = 0x2000, data = 0x100000;
	uint64_t *a = fake_ram_ptr(&ram, l1), *b = fake_ram_ptr(&ram, l2);
	for (int i = 0; i < 511; i++)
		a[i] = data + (uint64_t)(i + 1) * 0x2000; /* not contiguous */
	a[511] = l2;
	for (int i = 0; i < 4; i++)
		b[i] = data + (uint64_t)(512 + i) * 0x2000;
	struct iovec iov[300];
	int n = nvme_prp_map(&ram.mem, data, l1, 1u << 20, iov, 300);
	assert_int_equal(n, 256);
	uint64_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	assert_int_equal(total, 1u << 20);
	/* Contiguous pages merge into one segment. */
	for (int i = 0; i < 511; i++)
		a[i] = data + (uint64_t)(i + 1) * 0x1000;
	n = nvme_prp_map(&ram.mem, data, l1, 64 * 4096, iov, 300);
	assert_int_equal(n, 1);
	/* Too many segments for the caller. */
	for (int i = 0; i < 511; i++)
		a[i] = data + (uint64_t)(i + 1) * 0x2000;
	assert_int_equal(nvme_prp_map(&ram.mem, data, l1, 64 * 4096, iov, 8),
			 -NVME_SC_INVALID_FIELD);
	/* A list outside RAM, an entry with an offset. */
	assert_int_equal(nvme_prp_map(&ram.mem, data, 16u << 20, 3 * 4096, iov, 8),
			 -NVME_SC_DATA_XFER_ERROR);
	a[0] = data + 8;
	assert_int_equal(nvme_prp_map(&ram.mem, data, l1, 3 * 4096, iov, 8),
			 -NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(nvme_prp_map(&ram.mem, data, l1 + 4, 3 * 4096, iov, 8),
			 -NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(nvme_prp_map(&ram.mem, data, 0, 0, iov, 8), 0);
	fake_ram_destroy(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_reset_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_flush_failure_sets_cfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_flood_log_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_enable_sets_cfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_and_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aer_held_and_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_creation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_prp_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes_and_deallocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_completion_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_doorbells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_interrupt_after_batch, setup, teardown),
		cmocka_unit_test(test_prp_chained_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
