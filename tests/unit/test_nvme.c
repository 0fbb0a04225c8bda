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
#include "core/log.h"
#include "core/loop.h"
#include "devices/nvme.h"
#include "devices/nvme_ctrl.h"
#include "devices/nvme_prp.h"
#include "support/capture.h"
#include "support/fake_irq.h"
#include "support/fake_ram.h"
#include "support/loop_wait.h"
#include "support/nvme_drv.h"

static int setup(void **state)
{
	*state = nvme_drv_create();
	return 0;
}

static int teardown(void **state)
{
	blk_fsync_hooks = NULL;
	nvme_drv_destroy(*state);
	return 0;
}

/* ---- registers ---- */

static void test_reset_values(void **state)
{
	struct nvme_drv *d = *state;
	uint64_t cap = nvme_drv_reg_read(d, NVME_REG_CAP, 8);
	assert_int_equal(cap & 0xffff, NVME_MQES);
	assert_true(cap & (1ULL << 16));        /* CQR */
	assert_true(cap & (1ULL << 37));        /* NVM command set */
	assert_int_equal((cap >> 32) & 0xf, 0); /* DSTRD */
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CAP + 4, 4), cap >> 32);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_VS, 4), 0x00010400);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4), 0);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CC, 4), 0);
	/* PCI identity: an NVMe I/O controller by class. */
	assert_int_equal(pci_cfg_get(nvme_pci(d->n), 0x09, 3), 0x010802);
}

static void test_enable_reset_shutdown(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_ASQ, 8), NVME_DRV_ASQ);
	/* Shutdown notification: SHST goes to complete once data is stable. */
	nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20) | (1u << 14), 4);
	for (int i = 0; i < 100 && (nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_SHST_MASK) !=
							 NVME_CSTS_SHST_DONE; i++)
		loop_run_until(d->loop, NULL, NULL, 20);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_SHST_MASK,
			 NVME_CSTS_SHST_DONE);
	/* Disable: not ready; enable again works from scratch. */
	nvme_drv_reg_write(d, NVME_REG_CC, 0, 4);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_RDY, 0);
	nvme_drv_enable(d);
	uint32_t dw0;
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_FEATURES,
							     .cdw10 = NVME_FEAT_NUM_QUEUES}, &dw0),
			 0);
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
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	blk_fsync_hooks = &fail;
	nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20) | (1u << 14), 4);
	for (int i = 0; i < 100 && !(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS); i++)
		loop_run_until(d->loop, NULL, NULL, 20);
	uint32_t csts = (uint32_t)nvme_drv_reg_read(d, NVME_REG_CSTS, 4);
	assert_true(csts & NVME_CSTS_CFS);
	assert_int_equal(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_BUSY);
	/* A controller reset clears it. */
	nvme_drv_reg_write(d, NVME_REG_CC, 0, 4);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4), 0);
}

static void test_bad_enable_sets_cfs(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_reg_write(d, NVME_REG_AQA, 0x000f000f, 4);
	nvme_drv_reg_write(d, NVME_REG_ASQ, NVME_DRV_RAM_SIZE + 0x1000ULL, 8); /* outside RAM */
	nvme_drv_reg_write(d, NVME_REG_ACQ, NVME_DRV_ACQ, 8);
	nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	/* 8 KiB pages (CC.MPS 1) are not offered either. */
	nvme_drv_reg_write(d, NVME_REG_CC, 0, 4);
	nvme_drv_reg_write(d, NVME_REG_ASQ, NVME_DRV_ASQ, 8);
	nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (1u << 7), 4);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
}

/* A guest that toggles CC.EN with AQA=0 a thousand times gets its fatal
 * status every time, but the host's log only LOG_GUEST_BURST lines. */
static void toggle_enable(void *arg)
{
	struct nvme_drv *d = arg;
	nvme_drv_reg_write(d, NVME_REG_AQA, 0, 4);
	for (int i = 0; i < 1000; i++) {
		nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
		assert_true(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS);
		nvme_drv_reg_write(d, NVME_REG_CC, 0, 4);
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
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	uint64_t buf = NVME_DRV_DATA;
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY,
							     .prp1 = buf,
							     .cdw10 = NVME_CNS_CTRL}, NULL), 0);
	uint8_t *b = nvme_drv_hva(d, buf);
	assert_memory_equal(b + 4, "SN-TEST-1 ", 10);
	assert_int_equal(b[77], NVME_MDTS);
	assert_int_equal(b[516], 1);           /* one namespace */
	assert_true(b[257] & 1);               /* OACS: Doorbell Buffer Config */
	assert_int_equal(b[512], 0x66);
	assert_int_equal(b[513], 0x44);

	/* The namespace, with an offset in PRP1 spanning into PRP2. */
	uint64_t ns = NVME_DRV_DATA + 0x2000 + 0x200;
	memset(nvme_drv_hva(d, NVME_DRV_DATA + 0x3000), 0xff, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
							     .prp1 = ns,
							     .prp2 = NVME_DRV_DATA + 0x3000,
							     .cdw10 = NVME_CNS_NS}, NULL), 0);
	uint64_t nsze;
	memcpy(&nsze, nvme_drv_hva(d, ns), 8);
	assert_int_equal(nsze, NVME_DRV_IMG_SIZE / 512);
	assert_int_equal(*(uint8_t *)nvme_drv_hva(d, ns + 130), 9);        /* LBAF0.LBADS */
	assert_int_equal(*(uint8_t *)nvme_drv_hva(d, NVME_DRV_DATA + 0x3000), 0);   /* the rest went to PRP2 */

	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 2,
							     .prp1 = buf,
							     .cdw10 = NVME_CNS_NS}, NULL),
			 NVME_SC_INVALID_NS);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY,
							     .prp1 = buf,
							     .cdw10 = NVME_CNS_ACTIVE_NS_LIST}, NULL),
			 0);
	assert_int_equal(*(uint32_t *)nvme_drv_hva(d, buf), 1);
	assert_int_equal(*(uint32_t *)nvme_drv_hva(d, buf + 4), 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
							     .prp1 = buf,
							     .cdw10 = NVME_CNS_NS_DESC_LIST},
					NULL), 0);
	assert_int_equal(b[0], 3);  /* a UUID */
	assert_int_equal(b[1], 16);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY,
							     .prp1 = buf,
							     .cdw10 = 0x42}, NULL),
			 NVME_SC_INVALID_FIELD);
}

static void test_features_and_logs(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	uint32_t dw0;
	/* Ask for 8 queues, get the 2 offered. */
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							     .cdw10 = NVME_FEAT_NUM_QUEUES,
							     .cdw11 = 0x00070007}, &dw0), 0);
	assert_int_equal(dw0, 0x00010001);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							     .cdw10 = NVME_FEAT_VOLATILE_WC,
							     .cdw11 = 0},
					NULL), 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_FEATURES,
							     .cdw10 = NVME_FEAT_VOLATILE_WC}, &dw0),
			 0);
	assert_int_equal(dw0, 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							     .cdw10 = 0x7f}, NULL),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							     .cdw10 = NVME_FEAT_ARBITRATION | (1u << 31)},
					NULL), NVME_SC_FEATURE_NOT_SAVEABLE);
	/* SMART log (512 bytes = 128 dwords): spare 100%. */
	uint8_t *b = nvme_drv_hva(d, NVME_DRV_DATA);
	memset(b, 0xee, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_LOG_PAGE,
							     .nsid = 0xffffffff,
							     .prp1 = NVME_DRV_DATA,
							     .cdw10 = NVME_LOG_SMART | (127u << 16)}, NULL),
			 0);
	assert_int_equal(b[3], 100);
	assert_int_equal(b[511], 0);
	assert_int_equal(b[512], 0xee);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_LOG_PAGE,
							     .prp1 = NVME_DRV_DATA,
							     .cdw10 = 0x55 | (127u << 16)}, NULL),
			 NVME_SC_INVALID_LOG_PAGE);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = 0xee}, NULL),
			 NVME_SC_INVALID_OPCODE);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY,
							     .flags = 1,
							     .prp1 = NVME_DRV_DATA,
							     .cdw10 = 1}, NULL),
			 NVME_SC_INVALID_FIELD); /* fused */
	/* Abort: answered "not aborted". */
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ABORT}, &dw0), 0);
	assert_int_equal(dw0 & 1, 1);
}

static void test_aer_held_and_limited(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	for (int i = 0; i < NVME_AERL + 1; i++) {
		struct nvme_sqe c = {.opcode = NVME_ADM_ASYNC_EVENT};
		nvme_drv_post(d, &d->admin, &c, true);
	}
	struct nvme_cqe e;
	assert_false(nvme_drv_try_cqe(d, &d->admin, &e, 100)); /* held */
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ASYNC_EVENT}, NULL),
			 NVME_SC_AER_LIMIT);
	/* Other commands still run past the held ones. */
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY,
							     .prp1 = NVME_DRV_DATA,
							     .cdw10 = 1}, NULL), 0);
}

static void test_queue_creation_errors(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	struct nvme_sqe c = {.opcode = NVME_ADM_CREATE_CQ, .prp1 = NVME_DRV_IOCQ, .cdw11 = 1};
	c.cdw10 = 0 | (15u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_QID_INVALID);        /* qid 0 */
	c.cdw10 = 3 | (15u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_QID_INVALID);        /* > granted */
	c.cdw10 = 1 | (0u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_QUEUE_SIZE);         /* 1 entry */
	c.cdw10 = 1 | (4096u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_QUEUE_SIZE);         /* > MQES */
	c.cdw10 = 1 | (15u << 16);
	c.cdw11 = 0;
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* not contiguous */
	c.cdw11 = 1;
	c.prp1 = NVME_DRV_IOCQ + 8;
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* misaligned */
	c.prp1 = NVME_DRV_RAM_SIZE - 0x1000;
	c.cdw10 = 1 | (1023u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_INVALID_FIELD);      /* beyond RAM */
	c.prp1 = NVME_DRV_IOCQ;
	c.cdw10 = 1 | (15u << 16);
	c.cdw11 = 1 | 2 | (5u << 16);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_INVALID_VECTOR);
	struct nvme_sqe s = {.opcode = NVME_ADM_CREATE_SQ, .prp1 = NVME_DRV_IOSQ,
			     .cdw10 = 1 | (15u << 16),
			     .cdw11 = 1 | (1u << 16)};
	assert_int_equal(nvme_drv_admin(d, s, NULL), NVME_SC_CQ_INVALID);         /* no CQ 1 yet */
	c.cdw11 = 1;
	assert_int_equal(nvme_drv_admin(d, c, NULL), 0);
	assert_int_equal(nvme_drv_admin(d, c, NULL), NVME_SC_QID_INVALID);        /* exists */
	assert_int_equal(nvme_drv_admin(d, s, NULL), 0);
	struct nvme_sqe del = {.opcode = NVME_ADM_DELETE_CQ, .cdw10 = 1};
	assert_int_equal(nvme_drv_admin(d, del, NULL), NVME_SC_QUEUE_DELETION);   /* SQ attached */
	del.opcode = NVME_ADM_DELETE_SQ;
	assert_int_equal(nvme_drv_admin(d, del, NULL), 0);
	assert_int_equal(nvme_drv_admin(d, del, NULL), NVME_SC_QID_INVALID);
	del.opcode = NVME_ADM_DELETE_CQ;
	assert_int_equal(nvme_drv_admin(d, del, NULL), 0);
	del.cdw10 = 0;
	assert_int_equal(nvme_drv_admin(d, del, NULL), NVME_SC_QID_INVALID);      /* the admin CQ */
}

/* ---- I/O ---- */

static void test_read_write_prp_list(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, NVME_DRV_IO_SIZE);
	/* 5 pages of data starting at a 512-byte offset: PRP1 + a list. */
	uint64_t list = NVME_DRV_DATA, data = NVME_DRV_DATA + 0x10000;
	uint64_t pages[6] = {data + 0x200, data + 0x3000, data + 0x1000, data + 0x5000,
			     data + 0x7000, data + 0x9000};
	for (int i = 1; i < 6; i++)
		memcpy(nvme_drv_hva(d, list + (uint64_t)(i - 1) * 8), &pages[i], 8);
	uint32_t nlb = 40; /* 20 KiB: 3.5 KiB in PRP1's page, then 4+4+4+4+0.5 */
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 100, nlb, pages[0],
							     list), NULL), 0);
	uint8_t want[20480], got[20480];
	nvme_drv_read_image(d, 100 * 512, want, sizeof(want));
	size_t at = 0, first = 4096 - 0x200;
	memcpy(got, nvme_drv_hva(d, pages[0]), first);
	at = first;
	for (int i = 1; at < sizeof(got); i++) {
		size_t c = sizeof(got) - at < 4096 ? sizeof(got) - at : 4096;
		memcpy(got + at, nvme_drv_hva(d, pages[i]), c);
		at += c;
	}
	assert_memory_equal(got, want, sizeof(want));

	/* Write a page back elsewhere and read the image. */
	memset(nvme_drv_hva(d, data + 0x20000), 0x5a, 4096);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_WRITE, 8, 8, data + 0x20000,
							     0), NULL), 0);
	assert_int_equal(nvme_drv_run(d, &d->io, (struct nvme_sqe){.opcode = NVME_CMD_FLUSH,
								   .nsid = 1},
				      NULL), 0);
	nvme_drv_read_image(d, 8 * 512, got, 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(got[i], 0x5a);
	struct nvme_stats st;
	nvme_get_stats(d->n, &st);
	assert_true(st.io_commands >= 3);
}

static void test_write_zeroes_and_deallocate(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, NVME_DRV_IO_SIZE);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_WRITE_ZEROES, 16, 16, 0, 0),
				      NULL), 0);
	uint8_t got[8192];
	nvme_drv_read_image(d, 16 * 512, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	/* DSM deallocate: two ranges, the second of 8 blocks at LBA 64. */
	uint8_t *r = nvme_drv_hva(d, NVME_DRV_DATA);
	memset(r, 0, 32);
	uint32_t nlb = 8;
	uint64_t slba = 64;
	memcpy(r + 16 + 4, &nlb, 4);
	memcpy(r + 16 + 8, &slba, 8);
	struct nvme_sqe c = {.opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = NVME_DRV_DATA, .cdw10 = 1,
			     .cdw11 = 1u << 2};
	assert_int_equal(nvme_drv_run(d, &d->io, c, NULL), 0);
	nvme_drv_read_image(d, 64 * 512, got, 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(got[i], 0);
	/* A range past the end: LBA Out of Range. */
	slba = NVME_DRV_IMG_SIZE / 512 - 4;
	memcpy(r + 16 + 8, &slba, 8);
	assert_int_equal(nvme_drv_run(d, &d->io, c, NULL), NVME_SC_LBA_RANGE);
}

static void test_hostile_io(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, NVME_DRV_IO_SIZE);
	uint64_t data = NVME_DRV_DATA;
	uint64_t blocks = NVME_DRV_IMG_SIZE / 512;
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, blocks - 1, 2, data, 0),
				      NULL),
			 NVME_SC_LBA_RANGE);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, ~0ULL - 1, 4, data, 0),
				      NULL),
			 NVME_SC_LBA_RANGE); /* wraps */
	struct nvme_sqe c = nvme_drv_rw(NVME_CMD_READ, 0, 1, data, 0);
	c.nsid = 7;
	assert_int_equal(nvme_drv_run(d, &d->io, c, NULL), NVME_SC_INVALID_NS);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 1, data + 2, 0),
				      NULL),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 1, NVME_DRV_RAM_SIZE,
							     0), NULL),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 16, data,
							     data + 0x1100), NULL),
			 NVME_SC_PRP_OFFSET_INVALID); /* PRP2 data page with an offset */
	/* More than MDTS. */
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 4096, data,
							     data + 0x1000), NULL),
			 NVME_SC_INVALID_FIELD);
	/* A PRP list whose last entry points at itself, over and over. */
	uint64_t list = NVME_DRV_DATA + 0x40000;
	for (int i = 0; i < 511; i++) {
		uint64_t p = NVME_DRV_DATA + 0x50000;
		memcpy(nvme_drv_hva(d, list + i * 8u), &p, 8);
	}
	memcpy(nvme_drv_hva(d, list + 511 * 8u), &list, 8);
	uint64_t last = list + 4088;
	uint64_t self = last;
	memcpy(nvme_drv_hva(d, last), &self, 8);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 64, data, last),
				      NULL),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(nvme_drv_run(d, &d->io, (struct nvme_sqe){.opcode = 0x7f, .nsid = 1},
				      NULL),
			 NVME_SC_INVALID_OPCODE);
	/* Doorbells beyond the queue, of queues that do not exist: ignored. */
	nvme_drv_doorbell(d, 1, false, NVME_DRV_IO_SIZE + 5);
	nvme_drv_doorbell(d, 9, false, 1);
	nvme_drv_doorbell(d, 1, true, NVME_DRV_IO_SIZE - 1); /* a head past what was posted */
	nvme_drv_doorbell(d, 63, true, 0);
	nvme_drv_reg_write(d, NVME_REG_DBS + 2, 1, 2);
	/* Still serving. */
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 1, data, 0), NULL),
			 0);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & NVME_CSTS_CFS, 0);
}

static void test_readonly_namespace(void **state)
{
	struct nvme_drv *d = *state;
	nvme_destroy(d->n);
	assert_int_equal(nvme_drv_open(d, true, false), 0);
	nvme_drv_enable(d);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_IDENTIFY, .nsid = 1,
							     .prp1 = NVME_DRV_DATA,
							     .cdw10 = NVME_CNS_NS}, NULL), 0);
	assert_int_equal(*(uint8_t *)nvme_drv_hva(d, NVME_DRV_DATA + 99) & 1, 1);
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, NVME_DRV_IO_SIZE);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_WRITE, 0, 1, NVME_DRV_DATA,
							     0), NULL),
			 NVME_SC_NS_WRITE_PROTECTED);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_WRITE_ZEROES, 0, 1, 0, 0),
				      NULL),
			 NVME_SC_NS_WRITE_PROTECTED);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 1, NVME_DRV_DATA, 0),
				      NULL), 0);
}

/* A CQ with room for one entry: completions wait until the driver consumes. */
static void test_full_completion_queue(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, 2);
	for (int i = 0; i < 4; i++) {
		struct nvme_sqe c = nvme_drv_rw(NVME_CMD_READ, (uint64_t)i, 1,
						NVME_DRV_DATA + i * 4096u, 0);
		c.cid = (uint16_t)i;
		memcpy(nvme_drv_hva(d, NVME_DRV_IOSQ + i * 64u), &c, sizeof(c));
	}
	nvme_drv_doorbell(d, 1, false, 4);
	int seen = 0;
	struct nvme_cqe e;
	while (seen < 4 && nvme_drv_try_cqe(d, &d->io, &e, 2000)) {
		assert_int_equal(e.status >> 1, 0);
		assert_int_equal(e.cid, seen);
		seen++;
	}
	assert_int_equal(seen, 4);
}

static void test_shadow_doorbells(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	memset(nvme_drv_hva(d, NVME_DRV_DBS), 0, 4096);
	memset(nvme_drv_hva(d, NVME_DRV_EIS), 0, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_DBBUF_CONFIG,
							     .prp1 = NVME_DRV_DBS,
							     .prp2 = NVME_DRV_EIS}, NULL), 0);
	d->shadow = true;
	nvme_drv_create_io_queues(d, NVME_DRV_IO_SIZE, NVME_DRV_IO_SIZE);
	/* Three commands, only the shadow updated for the first two; one
	 * MMIO ring picks all of them up. */
	struct nvme_sqe c = nvme_drv_rw(NVME_CMD_READ, 0, 1, NVME_DRV_DATA, 0);
	nvme_drv_post(d, &d->io, &c, false);
	c = nvme_drv_rw(NVME_CMD_READ, 1, 1, NVME_DRV_DATA + 4096, 0);
	nvme_drv_post(d, &d->io, &c, false);
	c = nvme_drv_rw(NVME_CMD_READ, 2, 1, NVME_DRV_DATA + 8192, 0);
	nvme_drv_post(d, &d->io, &c, true);
	struct nvme_cqe e;
	for (int i = 0; i < 3; i++)
		assert_true(nvme_drv_try_cqe(d, &d->io, &e, 2000));
	/* The event index tells the driver how far we got. */
	assert_int_equal(*(uint32_t *)nvme_drv_hva(d, NVME_DRV_EIS + 8), 3);
	/* The next command is found through the shadow alone once anything
	 * kicks the controller (here: an admin command). */
	c = nvme_drv_rw(NVME_CMD_READ, 3, 1, NVME_DRV_DATA, 0);
	nvme_drv_post(d, &d->io, &c, false);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ABORT}, NULL), 0);
	assert_true(nvme_drv_try_cqe(d, &d->io, &e, 2000));
	/* A shadow value beyond the queue is ignored. */
	*(uint32_t *)nvme_drv_hva(d, NVME_DRV_DBS + 8) = 999;
	nvme_drv_doorbell(d, 1, false, d->io.tail);
	assert_false(nvme_drv_try_cqe(d, &d->io, &e, 50));
	/* Refused without the OACS bit. */
	nvme_destroy(d->n);
	assert_int_equal(nvme_drv_open(d, false, true), 0);
	d->shadow = false;
	nvme_drv_enable(d);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_DBBUF_CONFIG,
							     .prp1 = NVME_DRV_DBS,
							     .prp2 = NVME_DRV_EIS}, NULL),
			 NVME_SC_INVALID_OPCODE);
}

static void test_intx(void **state)
{
	struct nvme_drv *d = *state;
	struct fake_irq irq = {0};
	nvme_pci(d->n)->intx = fake_irq_line(&irq, 5);
	nvme_drv_enable(d);
	struct nvme_sqe c = {.opcode = NVME_ADM_ABORT};
	nvme_drv_post(d, &d->admin, &c, true);
	nvme_drv_wait_ready(d, &d->admin, 2000);
	assert_true(irq.level);
	/* Masked by INTMS, back with INTMC, down once consumed. */
	nvme_drv_reg_write(d, NVME_REG_INTMS, 1, 4);
	assert_false(irq.level);
	nvme_drv_reg_write(d, NVME_REG_INTMC, 1, 4);
	assert_true(irq.level);
	struct nvme_cqe e;
	assert_true(nvme_drv_try_cqe(d, &d->admin, &e, 100));
	assert_false(irq.level);
	nvme_pci(d->n)->intx = (struct irq_line){0};
}

/* An I/O completion's interrupt is raised at the end of the backend's
 * batch of completions (one per queue for all its entries), not lost. */
static void test_io_interrupt_after_batch(void **state)
{
	struct nvme_drv *d = *state;
	struct fake_irq irq = {0};
	nvme_pci(d->n)->intx = fake_irq_line(&irq, 5);
	nvme_drv_enable(d);
	/* An I/O CQ with interrupts enabled (IEN), vector 0. */
	d->io = (struct nvme_drv_queue){.sq = NVME_DRV_IOSQ, .cq = NVME_DRV_IOCQ, .qid = 1,
					.size = NVME_DRV_IO_SIZE, .phase = true};
	memset(nvme_drv_hva(d, NVME_DRV_IOCQ), 0, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_CQ,
							     .prp1 = NVME_DRV_IOCQ,
							     .cdw10 = 1 | ((NVME_DRV_IO_SIZE - 1u) << 16),
							     .cdw11 = 1 | 2}, NULL), 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_SQ,
							     .prp1 = NVME_DRV_IOSQ,
							     .cdw10 = 1 | ((NVME_DRV_IO_SIZE - 1u) << 16),
							     .cdw11 = 1 | (1u << 16)}, NULL), 0);
	assert_false(irq.level); /* the admin entries were consumed */
	for (int i = 0; i < 3; i++) {
		struct nvme_sqe c = nvme_drv_rw(NVME_CMD_READ, 8 * (uint64_t)i, 8,
						NVME_DRV_DATA + 0x1000u * (unsigned)i, 0);
		nvme_drv_post(d, &d->io, &c, i == 2);
	}
	struct nvme_cqe e;
	for (int i = 0; i < 3; i++) {
		nvme_drv_wait_ready(d, &d->io, 2000);
		assert_true(irq.level);
		assert_true(nvme_drv_try_cqe(d, &d->io, &e, 100));
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
		cmocka_unit_test_setup_teardown(test_shutdown_flush_failure_sets_cfs, setup,
						teardown),
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
