/* The NVMe controller through the device contract: its record survives a
 * save → load → save unchanged, a controller saved in the middle of I/O
 * goes on in a fresh instance as if nothing happened, hostile records are
 * refused by field with the instance untouched, and its counters say what
 * the driver did. The fake driver is tests/unit/support/nvme_drv. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus/pci.h"
#include "core/device.h"
#include "core/state.h"
#include "devices/nvme_ctrl.h"
#include "support/loop_wait.h"
#include "support/nvme_drv.h"

static int setup(void **state)
{
	*state = nvme_drv_create();
	return 0;
}

static int teardown(void **state)
{
	nvme_drv_destroy(*state);
	return 0;
}

static void save(struct nvme_ctrl *n, struct state_writer *w)
{
	state_writer_init(w);
	assert_int_equal(device_save(nvme_device(n), w), 0);
	assert_int_equal(state_writer_finish(w), 0);
}

/* Loads buf into n; 0, or -EINVAL with the reader's error in err. */
static int load(struct nvme_ctrl *n, const void *buf, size_t len, char *err, size_t err_len)
{
	struct state_reader r;
	state_reader_init(&r, buf, len, nvme_device(n)->id);
	int ret = device_load(nvme_device(n), &r);
	if (ret == 0)
		ret = state_reader_finish(&r);
	snprintf(err, err_len, "%s", state_error(&r));
	return ret;
}

static void assert_same(const struct state_writer *a, const struct state_writer *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/* Destroys d's controller and opens a fresh one on the same image and RAM
 * (the image is locked: one controller at a time), which loads w. */
static void reopen_and_load(struct nvme_drv *d, const struct state_writer *w)
{
	nvme_destroy(d->n);
	assert_int_equal(nvme_drv_open(d, false, false), 0);
	char err[256];
	int ret = load(d->n, w->buf, w->len, err, sizeof(err));
	if (ret)
		fail_msg("load: %s", err);
}

static void shadow_config(struct nvme_drv *d)
{
	memset(nvme_drv_hva(d, NVME_DRV_DBS), 0, 4096);
	memset(nvme_drv_hva(d, NVME_DRV_EIS), 0, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_DBBUF_CONFIG,
							  .prp1 = NVME_DRV_DBS,
							  .prp2 = NVME_DRV_EIS}, NULL), 0);
	d->shadow = true;
}

static void config_write(struct nvme_drv *d, unsigned off, uint32_t v, unsigned len)
{
	uint8_t b[4];
	memcpy(b, &v, 4);
	pci_config_write(nvme_pci(d->n), off, b, len);
}

/* A controller with a bit of everything: BAR0 placed, MSI-X on (its
 * vectors masked, so completions leave pending bits), features changed,
 * shadow doorbells, an I/O queue pair that has wrapped, two AERs held. */
static void busy_controller(struct nvme_drv *d)
{
	config_write(d, 0x10, 0xfebf0000, 4);
	config_write(d, 0x14, 0, 4);
	config_write(d, 0x04, 0x6, 2);                      /* memory, bus master */
	config_write(d, (unsigned)d->n->msix.cap + 2, 0x8000, 2); /* MSI-X enable */
	assert_true(msix_enabled(&d->n->msix));
	nvme_drv_enable(d);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							  .cdw10 = NVME_FEAT_VOLATILE_WC}, NULL), 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_SET_FEATURES,
							  .cdw10 = NVME_FEAT_ARBITRATION,
							  .cdw11 = 0x03020100}, NULL), 0);
	shadow_config(d);
	nvme_drv_create_io_queues(d, 8, 8);
	for (int i = 0; i < 11; i++)
		assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, (uint64_t)i, 1,
								     NVME_DRV_DATA, 0), NULL), 0);
	for (int i = 0; i < 2; i++) {
		struct nvme_sqe c = {.opcode = NVME_ADM_ASYNC_EVENT};
		nvme_drv_post(d, &d->admin, &c, true);
	}
	struct nvme_cqe e;
	assert_false(nvme_drv_try_cqe(d, &d->admin, &e, 50));
	assert_int_equal(d->n->naer, 2);
}

static void test_roundtrip_identical(void **state)
{
	struct nvme_drv *d = *state;
	busy_controller(d);
	struct state_writer a, b;
	save(d->n, &a);
	reopen_and_load(d, &a);
	save(d->n, &b);
	assert_same(&a, &b);
	/* The loaded controller has what the record said. */
	assert_int_equal(d->n->sq[1].head, 11 % 8);
	assert_int_equal(d->n->dbbuf_dbs, NVME_DRV_DBS);
	assert_true(d->n->sq[1].shadow);
	assert_int_equal(d->n->naer, 2);
	assert_true(msix_enabled(&d->n->msix));
	assert_int_equal(pci_bar_address(nvme_pci(d->n), 0), 0xfebf0000);
	assert_true(d->n->msix.pba & 1);  /* the admin CQ's masked vector */
	uint32_t dw0;
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_GET_FEATURES,
							  .cdw10 = NVME_FEAT_ARBITRATION}, &dw0), 0);
	assert_int_equal(dw0, 0x03020100);
	state_writer_free(&a);
	state_writer_free(&b);

	/* A controller never enabled round-trips too. */
	nvme_destroy(d->n);
	assert_int_equal(nvme_drv_open(d, false, false), 0);
	save(d->n, &a);
	reopen_and_load(d, &a);
	save(d->n, &b);
	assert_same(&a, &b);
	state_writer_free(&a);
	state_writer_free(&b);
}

/* ---- saved in the middle of I/O ---- */

struct saver {
	struct nvme_ctrl *n;
	struct state_writer w;
	int ret;
	bool done;
};

static void *save_thread(void *arg)
{
	struct saver *s = arg;
	state_writer_init(&s->w);
	s->ret = device_save(nvme_device(s->n), &s->w);
	__atomic_store_n(&s->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool saver_done(void *arg)
{
	struct saver *s = arg;
	return __atomic_load_n(&s->done, __ATOMIC_ACQUIRE);
}

#define MID_WRITES 8
#define MID_BLOCKS 8

static uint8_t pattern(int cmd, size_t i)
{
	return (uint8_t)(0xa5 ^ (cmd * 37) ^ (i * 13));
}

/* Eight writes on an SQ of 32 and a CQ of 4 entries: three completions
 * fit, the rest wait for room. The driver consumes one, then the save
 * runs on another thread (as it would while the loop runs), waits for
 * the backend, and carries the waiting completions. A fresh controller
 * loaded from it delivers the other seven in order and serves new reads,
 * whose data is what was written. */
static void test_saved_mid_io(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, 32, 4);
	uint16_t cids[MID_WRITES];
	for (int i = 0; i < MID_WRITES; i++) {
		uint64_t buf = NVME_DRV_DATA + (uint64_t)i * 4096;
		uint8_t *p = nvme_drv_hva(d, buf);
		for (size_t k = 0; k < MID_BLOCKS * 512; k++)
			p[k] = pattern(i, k);
		struct nvme_sqe c = nvme_drv_rw(NVME_CMD_WRITE, (uint64_t)i * MID_BLOCKS,
						MID_BLOCKS, buf, 0);
		nvme_drv_post(d, &d->io, &c, i == MID_WRITES - 1);
		cids[i] = c.cid;
	}
	struct nvme_cqe e;
	assert_true(nvme_drv_try_cqe(d, &d->io, &e, 3000));
	assert_int_equal(e.cid, cids[0]);
	assert_int_equal(e.status >> 1, 0);

	struct saver s = {.n = d->n};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, save_thread, &s), 0);
	loop_run_until(d->loop, saver_done, &s, 5000);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	assert_int_equal(d->n->inflight, 0);

	reopen_and_load(d, &s.w);
	state_writer_free(&s.w);
	assert_non_null(d->n->cq[1].wait_head); /* the CQ was full: they travelled */
	for (int i = 1; i < MID_WRITES; i++) {
		assert_true(nvme_drv_try_cqe(d, &d->io, &e, 3000));
		assert_int_equal(e.cid, cids[i]);
		assert_int_equal(e.sq_id, 1);
		assert_int_equal(e.status >> 1, 0);
	}
	assert_false(nvme_drv_try_cqe(d, &d->io, &e, 20));

	/* New commands: read every range back, and check the image. */
	uint8_t want[MID_BLOCKS * 512], got[MID_BLOCKS * 512];
	for (int i = 0; i < MID_WRITES; i++) {
		uint64_t buf = NVME_DRV_DATA + 0x40000;
		memset(nvme_drv_hva(d, buf), 0, sizeof(got));
		assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ,
								     (uint64_t)i * MID_BLOCKS,
								     MID_BLOCKS, buf, 0), NULL), 0);
		for (size_t k = 0; k < sizeof(want); k++)
			want[k] = pattern(i, k);
		assert_memory_equal(nvme_drv_hva(d, buf), want, sizeof(want));
		nvme_drv_read_image(d, (uint64_t)i * MID_BLOCKS * 512, got, sizeof(got));
		assert_memory_equal(got, want, sizeof(want));
	}
	/* The admin queue carries on too. */
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_ABORT}, NULL), 0);
}

/* ---- hostile records ---- */

/* Loads bad into d's controller: refused, the error naming the device and
 * field, the controller's record what it was. */
static void assert_refused(struct nvme_drv *d, const void *bad, size_t len, const char *field)
{
	struct state_writer before, after;
	save(d->n, &before);
	char err[256];
	assert_int_equal(load(d->n, bad, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nvme0"));
	if (field && !strstr(err, field))
		fail_msg("expected field %s in: %s", field, err);
	save(d->n, &after);
	assert_same(&before, &after);
	state_writer_free(&before);
	state_writer_free(&after);
}

static void test_truncated_and_corrupted(void **state)
{
	struct nvme_drv *d = *state;
	busy_controller(d);
	struct state_writer good;
	save(d->n, &good);
	struct nvme_drv *t = nvme_drv_create();
	nvme_drv_enable(t); /* a target with state of its own to keep */
	for (size_t len = 0; len < good.len; len++)
		assert_refused(t, good.buf, len, NULL);
	/* Every byte flipped: refused with the instance unchanged, or (a
	 * value that is valid either way) accepted; never a crash. */
	uint8_t *bad = malloc(good.len);
	assert_non_null(bad);
	unsigned refused = 0;
	for (size_t i = 0; i < good.len; i++) {
		memcpy(bad, good.buf, good.len);
		bad[i] ^= 0xff;
		char err[256];
		struct state_writer before, after;
		save(t->n, &before);
		if (load(t->n, bad, good.len, err, sizeof(err)) < 0) {
			refused++;
			assert_non_null(strstr(err, "nvme0"));
			save(t->n, &after);
			assert_same(&before, &after);
			state_writer_free(&after);
		}
		state_writer_free(&before);
	}
	assert_true(refused > good.len / 2);
	free(bad);
	state_writer_free(&good);
	nvme_drv_destroy(t);
}

/* One bad value, set in the source controller for its save only. */
enum bad_kind {
	BAD_TAIL, BAD_HEAD, BAD_SIZE, BAD_CQID, BAD_GPA_ALIGN, BAD_GPA_RAM, BAD_SHADOW,
	BAD_CSTS, BAD_QUEUES, BAD_IV
};

static const struct {
	enum bad_kind kind;
	const char *field;
} bad_cases[] = {
	{BAD_TAIL, "sq1.tail"},
	{BAD_HEAD, "cq1.head"},
	{BAD_SIZE, "sq1.size"},
	{BAD_CQID, "sq1.cqid"},
	{BAD_GPA_ALIGN, "cq1.gpa"},
	{BAD_GPA_RAM, "sq1.gpa"},
	{BAD_SHADOW, "shadow.dbs"},
	{BAD_CSTS, "csts"},
	{BAD_QUEUES, "number_of_queues"},
	{BAD_IV, "cq1.iv"},
};

static void make_bad(struct nvme_ctrl *n, enum bad_kind k)
{
	switch (k) {
	case BAD_TAIL: n->sq[1].tail = n->sq[1].size; break;
	case BAD_HEAD: n->cq[1].head = 99; break;
	case BAD_SIZE: n->sq[1].size = NVME_MQES + 2; break;
	case BAD_CQID: n->sq[1].cqid = 2; break;
	case BAD_GPA_ALIGN: n->cq[1].gpa += 8; break;
	case BAD_GPA_RAM: n->sq[1].gpa = NVME_DRV_RAM_SIZE; break;
	case BAD_SHADOW: n->dbbuf_dbs += 0x10; break;
	case BAD_CSTS: n->cc &= ~NVME_CC_EN; break;
	case BAD_QUEUES: n->features[NVME_FEAT_NUM_QUEUES] = 0x00050005; break;
	case BAD_IV: n->cq[1].iv = 40; break;
	}
}

static void test_out_of_range_fields(void **state)
{
	struct nvme_drv *d = *state;
	busy_controller(d);
	struct nvme_drv *t = nvme_drv_create();
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		/* The source's state is put back after its save: struct copy
		 * of the whole controller would copy the lock, so the queues
		 * and registers touched are saved one by one. */
		struct nvme_ctrl *n = d->n;
		struct nvme_sq sq1 = n->sq[1];
		struct nvme_cq cq1 = n->cq[1];
		uint32_t cc = n->cc, nq = n->features[NVME_FEAT_NUM_QUEUES];
		uint64_t dbs = n->dbbuf_dbs;
		make_bad(n, bad_cases[i].kind);
		struct state_writer w;
		save(n, &w);
		n->sq[1] = sq1;
		n->cq[1] = cq1;
		n->cc = cc;
		n->features[NVME_FEAT_NUM_QUEUES] = nq;
		n->dbbuf_dbs = dbs;
		assert_refused(t, w.buf, w.len, bad_cases[i].field);
		state_writer_free(&w);
	}
	nvme_drv_destroy(t);
}

/* ---- reset and counters ---- */

/* The length of w's record before its "pci" section. */
static size_t controller_part(const struct state_writer *w)
{
	static const uint8_t pci[] = {STATE_BEGIN, 3, 'p', 'c', 'i'};
	const uint8_t *p = memmem(w->buf, w->len, pci, sizeof(pci));
	assert_non_null(p);
	return (size_t)(p - w->buf);
}

static void test_reset_is_power_on(void **state)
{
	struct nvme_drv *d = *state;
	busy_controller(d);
	device_reset(nvme_device(d->n));
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4), 0);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CC, 4), 0);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_ASQ, 8), 0);
	assert_false(d->n->sq[1].valid);
	assert_int_equal(d->n->naer, 0);
	assert_int_equal(d->n->dbbuf_dbs, 0);
	/* The controller is as fresh as a new instance's: their records
	 * match up to the PCI function (config space and MSI-X are the
	 * bus's to reset), but for the SMART counts, which a reset keeps (a
	 * drive's lifetime figures). */
	assert_int_equal(d->n->host_reads, 11);
	d->n->host_reads = d->n->units_read = 0;
	struct state_writer a, b;
	save(d->n, &a);
	struct nvme_drv *fresh = nvme_drv_create();
	save(fresh->n, &b);
	size_t ctrl_len = controller_part(&a);
	assert_int_equal(ctrl_len, controller_part(&b));
	assert_memory_equal(a.buf, b.buf, ctrl_len);
	state_writer_free(&a);
	state_writer_free(&b);
	nvme_drv_destroy(fresh);
	d->shadow = false;
	nvme_drv_enable(d);
	nvme_drv_create_io_queues(d, 8, 8);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, 1, NVME_DRV_DATA, 0),
				      NULL), 0);
}

struct counts {
	struct dev_counters dev, q[3];   /* q0 (admin), q1, q2 */
	unsigned lines;
};

static void collect(void *opaque, const char *device, const char *scope, const char *name,
		    uint64_t value)
{
	static const char *const names[] = {"exits", "kicks", "interrupts", "requests",
					    "bytes_in", "bytes_out", "errors", "rejected"};
	struct counts *c = opaque;
	assert_string_equal(device, "nvme0");
	struct dev_counters *dc = !scope[0] ? &c->dev : NULL;
	unsigned q;
	if (!dc && sscanf(scope, "q%u", &q) == 1 && q < 3)
		dc = &c->q[q];
	assert_non_null(dc);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			((uint64_t *)dc)[i] = value;
	c->lines++;
}

#define N_WRITES 5
#define K_BLOCKS 8

static void test_counters(void **state)
{
	struct nvme_drv *d = *state;
	nvme_drv_enable(d);
	/* An I/O CQ with interrupts on (vector 0, INTx: MSI-X is off). */
	d->io = (struct nvme_drv_queue){.sq = NVME_DRV_IOSQ, .cq = NVME_DRV_IOCQ, .qid = 1,
					.size = 32, .sq_size = 32, .phase = true};
	memset(nvme_drv_hva(d, NVME_DRV_IOCQ), 0, 4096);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_CQ,
							  .prp1 = NVME_DRV_IOCQ,
							  .cdw10 = 1 | (31u << 16), .cdw11 = 1 | 2},
					NULL), 0);
	assert_int_equal(nvme_drv_admin(d, (struct nvme_sqe){.opcode = NVME_ADM_CREATE_SQ,
							  .prp1 = NVME_DRV_IOSQ,
							  .cdw10 = 1 | (31u << 16),
							  .cdw11 = 1 | (1u << 16)}, NULL), 0);
	for (int i = 0; i < N_WRITES; i++)
		assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_WRITE,
								     (uint64_t)i * K_BLOCKS,
								     K_BLOCKS, NVME_DRV_DATA, 0),
					      NULL), 0);
	assert_int_equal(nvme_drv_run(d, &d->io, nvme_drv_rw(NVME_CMD_READ, 0, K_BLOCKS,
							     NVME_DRV_DATA, 0), NULL), 0);
	assert_int_equal(nvme_drv_run(d, &d->io, (struct nvme_sqe){.opcode = 0x7f, .nsid = 1},
				      NULL), NVME_SC_INVALID_OPCODE);
	/* Two config space reads, as the host bridge would pass them on. */
	uint8_t buf[4];
	pci_config_read(nvme_pci(d->n), 0, buf, 4);
	pci_config_read(nvme_pci(d->n), 8, buf, 4);
	nvme_drv_doorbell(d, 40, false, 1); /* a queue that cannot exist */

	struct counts c = {0};
	struct counter_sink sink = {.emit = collect, .opaque = &c};
	device_counters(nvme_device(d->n), &sink);
	assert_int_equal(c.lines, 8 * 4); /* the device, q0 and the 2 I/O pairs offered */
	const struct dev_counters *q1 = &c.q[1];
	unsigned cmds = N_WRITES + 2;
	assert_int_equal(q1->requests, cmds);
	assert_int_equal(q1->bytes_in, N_WRITES * K_BLOCKS * 512);
	assert_int_equal(q1->bytes_out, K_BLOCKS * 512);
	assert_int_equal(q1->kicks, 2 * cmds);      /* SQ tail and CQ head, each command */
	assert_int_equal(q1->interrupts, cmds);
	assert_int_equal(q1->rejected, 1);
	assert_int_equal(q1->errors, 0);
	assert_int_equal(c.q[0].requests, 2);       /* the queue creations */
	assert_int_equal(c.q[0].interrupts, 2);
	assert_int_equal(c.dev.exits, 2);
	assert_int_equal(c.dev.rejected, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saved_mid_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_corrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_is_power_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
