#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/pci.h"
#include "support/loop_wait.h"
#include "support/nvme_drv.h"

struct nvme_drv *nvme_drv_create(void)
{
	struct nvme_drv *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/iovirt-nvme-XXXXXX");
	int fd = mkstemp(d->path);
	assert_true(fd >= 0);
	uint8_t *img = malloc(NVME_DRV_IMG_SIZE);
	assert_non_null(img);
	for (unsigned i = 0; i < NVME_DRV_IMG_SIZE; i++)
		img[i] = (uint8_t)(i * 7 + i / 512);
	assert_int_equal(write(fd, img, NVME_DRV_IMG_SIZE), NVME_DRV_IMG_SIZE);
	free(img);
	close(fd);
	fake_ram_init(&d->ram, NVME_DRV_RAM_SIZE, NVME_DRV_DATA);
	d->loop = loop_create();
	assert_non_null(d->loop);
	assert_int_equal(nvme_drv_open(d, false, false), 0);
	return d;
}

void nvme_drv_destroy(struct nvme_drv *d)
{
	nvme_destroy(d->n);
	loop_destroy(d->loop);
	fake_ram_destroy(&d->ram);
	unlink(d->path);
	free(d);
}

int nvme_drv_open(struct nvme_drv *d, bool readonly, bool no_shadow)
{
	struct nvme_options o = {.path = d->path, .readonly = readonly, .serial = "SN-TEST-1",
				 .num_queues = 2, .no_shadow_doorbells = no_shadow,
				 .name = "nvme0"};
	d->n = nvme_create(&o, &d->ram.mem, d->loop, NULL, -1);
	return d->n ? 0 : -1;
}

void *nvme_drv_hva(struct nvme_drv *d, uint64_t gpa)
{
	return fake_ram_ptr(&d->ram, gpa);
}

uint64_t nvme_drv_reg_read(struct nvme_drv *d, uint64_t off, unsigned len)
{
	struct pci_bar *b = &nvme_pci(d->n)->bars[0];
	uint8_t data[8] = {0};
	b->ops->read(b->opaque, off, data, len);
	uint64_t v = 0;
	memcpy(&v, data, len);
	return v;
}

void nvme_drv_reg_write(struct nvme_drv *d, uint64_t off, uint64_t v, unsigned len)
{
	struct pci_bar *b = &nvme_pci(d->n)->bars[0];
	uint8_t data[8];
	memcpy(data, &v, 8);
	b->ops->write(b->opaque, off, data, len);
}

void nvme_drv_doorbell(struct nvme_drv *d, uint16_t qid, bool cq, uint32_t v)
{
	nvme_drv_reg_write(d, NVME_REG_DBS + (qid * 2u + (cq ? 1 : 0)) * 4, v, 4);
}

void nvme_drv_enable(struct nvme_drv *d)
{
	d->admin = (struct nvme_drv_queue){.sq = NVME_DRV_ASQ, .cq = NVME_DRV_ACQ,
					   .size = NVME_DRV_ADMIN_SIZE, .phase = true};
	memset(nvme_drv_hva(d, NVME_DRV_ACQ), 0, NVME_DRV_ADMIN_SIZE * 16);
	nvme_drv_reg_write(d, NVME_REG_AQA,
			   (NVME_DRV_ADMIN_SIZE - 1) | ((NVME_DRV_ADMIN_SIZE - 1) << 16), 4);
	nvme_drv_reg_write(d, NVME_REG_ASQ, NVME_DRV_ASQ, 8);
	nvme_drv_reg_write(d, NVME_REG_ACQ, NVME_DRV_ACQ, 8);
	nvme_drv_reg_write(d, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20), 4);
	assert_int_equal(nvme_drv_reg_read(d, NVME_REG_CSTS, 4) & 3, NVME_CSTS_RDY);
}

void nvme_drv_create_io_queues(struct nvme_drv *d, uint16_t sqsize, uint16_t cqsize)
{
	d->io = (struct nvme_drv_queue){.sq = NVME_DRV_IOSQ, .cq = NVME_DRV_IOCQ, .qid = 1,
					.size = sqsize, .phase = true};
	memset(nvme_drv_hva(d, NVME_DRV_IOCQ), 0, 4096);
	struct nvme_sqe c = {.opcode = NVME_ADM_CREATE_CQ, .prp1 = NVME_DRV_IOCQ,
			     .cdw10 = 1 | ((uint32_t)(cqsize - 1) << 16), .cdw11 = 1};
	assert_int_equal(nvme_drv_admin(d, c, NULL), 0);
	c = (struct nvme_sqe){.opcode = NVME_ADM_CREATE_SQ, .prp1 = NVME_DRV_IOSQ,
			      .cdw10 = 1 | ((uint32_t)(sqsize - 1) << 16), .cdw11 = 1 | (1u << 16)};
	assert_int_equal(nvme_drv_admin(d, c, NULL), 0);
	d->io.size = cqsize;
	d->io.sq_size = sqsize;
	d->io.tail = 0;
}

struct cq_wait {
	struct nvme_drv *d;
	struct nvme_drv_queue *q;
};

bool nvme_drv_cqe_ready(struct nvme_drv *d, struct nvme_drv_queue *q)
{
	struct nvme_cqe *e = nvme_drv_hva(d, q->cq + q->head * 16u);
	return (__atomic_load_n(&e->status, __ATOMIC_ACQUIRE) & 1) == q->phase;
}

static bool cq_wait_done(void *arg)
{
	struct cq_wait *w = arg;
	return nvme_drv_cqe_ready(w->d, w->q);
}

void nvme_drv_wait_ready(struct nvme_drv *d, struct nvme_drv_queue *q, int ms)
{
	struct cq_wait w = {d, q};
	if (!nvme_drv_cqe_ready(d, q))
		loop_run_until(d->loop, cq_wait_done, &w, ms);
}

bool nvme_drv_try_cqe(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_cqe *out, int ms)
{
	nvme_drv_wait_ready(d, q, ms);
	if (!nvme_drv_cqe_ready(d, q))
		return false;
	memcpy(out, nvme_drv_hva(d, q->cq + q->head * 16u), sizeof(*out));
	if (++q->head == q->size) {
		q->head = 0;
		q->phase = !q->phase;
	}
	if (d->shadow && q->qid)
		__atomic_store_n((uint32_t *)nvme_drv_hva(d, NVME_DRV_DBS + q->qid * 8u + 4),
				 q->head, __ATOMIC_RELEASE);
	nvme_drv_doorbell(d, q->qid, true, q->head);
	return true;
}

struct nvme_cqe nvme_drv_wait_cqe(struct nvme_drv *d, struct nvme_drv_queue *q)
{
	struct nvme_cqe e;
	assert_true(nvme_drv_try_cqe(d, q, &e, 3000));
	return e;
}

void nvme_drv_post(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_sqe *c, bool ring)
{
	c->cid = (uint16_t)(q->tail + 0x100);
	memcpy(nvme_drv_hva(d, q->sq + q->tail * 64u), c, sizeof(*c));
	q->tail = (uint16_t)((q->tail + 1) % (q->sq_size ? q->sq_size : q->size));
	if (d->shadow && q->qid)
		__atomic_store_n((uint32_t *)nvme_drv_hva(d, NVME_DRV_DBS + q->qid * 8u), q->tail,
				 __ATOMIC_RELEASE);
	if (ring)
		nvme_drv_doorbell(d, q->qid, false, q->tail);
}

uint16_t nvme_drv_run(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_sqe c,
		      uint32_t *dw0)
{
	nvme_drv_post(d, q, &c, true);
	struct nvme_cqe e = nvme_drv_wait_cqe(d, q);
	assert_int_equal(e.cid, c.cid);
	assert_int_equal(e.sq_id, q->qid);
	if (dw0)
		*dw0 = e.dw0;
	return e.status >> 1;
}

uint16_t nvme_drv_admin(struct nvme_drv *d, struct nvme_sqe c, uint32_t *dw0)
{
	return nvme_drv_run(d, &d->admin, c, dw0);
}

struct nvme_sqe nvme_drv_rw(uint8_t op, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	return (struct nvme_sqe){.opcode = op, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
				 .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
				 .cdw12 = nlb - 1};
}

void nvme_drv_read_image(struct nvme_drv *d, uint64_t off, void *buf, size_t len)
{
	FILE *f = fopen(d->path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
}
