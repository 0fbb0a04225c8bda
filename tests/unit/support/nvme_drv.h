/* A fake NVMe driver for controller tests: fake guest RAM, a temporary
 * image behind the namespace, the real event loop, and registers poked
 * through BAR0's ops as a vCPU would. The admin queues sit at
 * NVME_DRV_ASQ/ACQ, one I/O queue pair at NVME_DRV_IOSQ/IOCQ, the shadow
 * doorbell buffers at NVME_DRV_DBS/EIS, data buffers from NVME_DRV_DATA. */
#ifndef IOVIRT_TESTS_NVME_DRV_H
#define IOVIRT_TESTS_NVME_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "devices/nvme.h"
#include "devices/nvme_spec.h"
#include "support/fake_ram.h"

#define NVME_DRV_RAM_SIZE (8u << 20)
#define NVME_DRV_IMG_SIZE (2u << 20)
#define NVME_DRV_ASQ 0x10000
#define NVME_DRV_ACQ 0x11000
#define NVME_DRV_IOSQ 0x12000
#define NVME_DRV_IOCQ 0x13000
#define NVME_DRV_DBS 0x14000       /* shadow doorbells */
#define NVME_DRV_EIS 0x15000       /* event indexes */
#define NVME_DRV_DATA 0x100000     /* data buffers from here */
#define NVME_DRV_ADMIN_SIZE 16
#define NVME_DRV_IO_SIZE 32

/* The driver's view of one queue pair. */
struct nvme_drv_queue {
	uint64_t sq, cq;
	uint16_t qid;
	uint16_t size;             /* the CQ's entries */
	uint16_t sq_size;          /* the SQ's, if it differs (0: size) */
	uint16_t tail, head;
	bool phase;
};

struct nvme_drv {
	char path[64];
	struct fake_ram ram;
	struct loop *loop;
	struct nvme_ctrl *n;
	struct nvme_drv_queue admin, io;
	bool shadow;               /* post() updates the shadow doorbell too */
};

/* A patterned image (byte i is i * 7 + i / 512), RAM, the loop and a
 * controller ("nvme0", 2 queue pairs); nvme_drv_destroy undoes it all. */
struct nvme_drv *nvme_drv_create(void);
void nvme_drv_destroy(struct nvme_drv *d);
/* A (new) controller on the same image and RAM. 0, or -1 if refused. */
int nvme_drv_open(struct nvme_drv *d, bool readonly, bool no_shadow);

void *nvme_drv_hva(struct nvme_drv *d, uint64_t gpa);
uint64_t nvme_drv_reg_read(struct nvme_drv *d, uint64_t off, unsigned len);
void nvme_drv_reg_write(struct nvme_drv *d, uint64_t off, uint64_t v, unsigned len);
void nvme_drv_doorbell(struct nvme_drv *d, uint16_t qid, bool cq, uint32_t v);

/* CC.EN with the admin queues; asserts the controller is ready. */
void nvme_drv_enable(struct nvme_drv *d);
/* Creates I/O queue pair 1 (the CQ first, no interrupts). */
void nvme_drv_create_io_queues(struct nvme_drv *d, uint16_t sqsize, uint16_t cqsize);

/* Whether q's next completion entry is there (its phase tag). */
bool nvme_drv_cqe_ready(struct nvme_drv *d, struct nvme_drv_queue *q);
/* Runs the loop until q's next completion is there or ms pass. */
void nvme_drv_wait_ready(struct nvme_drv *d, struct nvme_drv_queue *q, int ms);
/* Consumes q's next completion (runs the loop up to ms for it) and rings
 * the CQ head doorbell (the shadow one too, with shadow); false if none
 * came. */
bool nvme_drv_try_cqe(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_cqe *out, int ms);
struct nvme_cqe nvme_drv_wait_cqe(struct nvme_drv *d, struct nvme_drv_queue *q);
/* Writes c at q's tail (its cid from the slot) and, if ring, the doorbell. */
void nvme_drv_post(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_sqe *c, bool ring);
/* Submits c on q and waits: the status field (without the phase tag). */
uint16_t nvme_drv_run(struct nvme_drv *d, struct nvme_drv_queue *q, struct nvme_sqe c,
		      uint32_t *dw0);
uint16_t nvme_drv_admin(struct nvme_drv *d, struct nvme_sqe c, uint32_t *dw0);

/* A Read/Write/Write Zeroes of nlb blocks at slba. */
struct nvme_sqe nvme_drv_rw(uint8_t op, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2);
/* len bytes of the image file at off. */
void nvme_drv_read_image(struct nvme_drv *d, uint64_t off, void *buf, size_t len);

#endif
