/* The NVMe controller's state, shared by its parts: nvme.c (registers,
 * PCI, doorbells), nvme_queue.c (queues, completions, interrupts, shadow
 * doorbells), nvme_admin.c (admin commands) and nvme_io.c (NVM commands on
 * the block backend). Everything runs with ctrl->lock held. */
#ifndef IOVIRT_DEVICES_NVME_CTRL_H
#define IOVIRT_DEVICES_NVME_CTRL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"
#include "bus/msix.h"
#include "bus/pci.h"
#include "core/device.h"
#include "core/guest_mem.h"
#include "devices/nvme.h"
#include "devices/nvme_spec.h"

#define NVME_MAX_IO_QUEUES 63                 /* + admin = 64 MSI-X vectors */
#define NVME_MAX_QUEUES (NVME_MAX_IO_QUEUES + 1)
#define NVME_MQES 1023                        /* CAP.MQES: 1024 entries */
#define NVME_MDTS 8                           /* 2^8 pages: 1 MiB per command */
#define NVME_MAX_XFER (NVME_PAGE_SIZE << NVME_MDTS)
#define NVME_MAX_IOV (NVME_MAX_XFER / NVME_PAGE_SIZE + 1)
#define NVME_ADMIN_SLOTS 16                   /* admin commands in flight */
#define NVME_IO_SLOTS 128                     /* I/O commands in flight per SQ */
#define NVME_AERL 3                           /* 4 async event requests held */
#define NVME_NSID 1
#define NVME_BAR0_SIZE 0x4000
#define NVME_MSIX_TABLE 0x2000
#define NVME_MSIX_PBA 0x3000

struct nvme_ctrl;

/* One command from fetch to completion. */
struct nvme_req {
	struct blk_request br;
	struct nvme_ctrl *n;
	struct nvme_req *next;        /* free list or a CQ's wait list */
	struct nvme_sqe cmd;
	uint16_t sqid;
	uint32_t gen;                 /* its SQ's generation at fetch */
	uint16_t status;              /* NVME_SC_* */
	uint32_t dw0;
	int stage;                    /* multi-step commands (nvme_io.c) */
	uint32_t dsm_next;            /* DSM: next range */
	int iovcnt;
	struct iovec iov[NVME_MAX_IOV];
};

struct nvme_sq {
	bool valid, shadow, stalled;
	uint16_t cqid;
	uint32_t size, head, tail;
	uint64_t gpa;
	uint32_t gen;                 /* bumped on delete/reset: late completions dropped */
	struct nvme_req *slots, *free;
	unsigned nslots;
	bool efd_on;                  /* its doorbell is an ioeventfd */
};

struct nvme_cq {
	bool valid, shadow, ien, phase;
	uint16_t iv;
	uint32_t size, head, tail;
	uint64_t gpa;
	unsigned nsq;                 /* SQs posting here */
	struct nvme_req *wait_head, *wait_tail; /* completions waiting for room */
	bool efd_on;
	bool irq_pending;             /* entries posted in a backend batch */
};

struct nvme_ctrl {
	struct pci_dev pci;           /* first: the bus hands it back */
	struct device dev;            /* the device contract (core/device.h) */
	struct msix msix;
	pthread_mutex_t lock;
	pthread_cond_t idle;          /* signalled when quiescing and nothing is in flight */
	const struct guest_mem *mem;
	struct loop *loop;
	struct blk_backend *be;
	int vm_fd;
	int kick_fd;                  /* doorbells → event loop */
	uint64_t kicks_pending;       /* our own writes to kick_fd not yet read (atomic) */
	uint64_t bar_addr;            /* where BAR0 is mapped now (atomic; 0: not) */
	char name[16];
	char serial[21];
	bool readonly, shadow_offered, closing;

	/* Registers (§3.1) */
	uint32_t cc, csts, aqa, intms;
	uint64_t asq, acq;

	uint64_t nsze;                /* namespace size in 512-byte blocks */
	unsigned max_ioq;             /* I/O queues offered */
	unsigned nr_sq, nr_cq;        /* granted by Set Features (Number of Queues) */
	uint32_t features[NVME_FEAT_NR]; /* current values, as Get Features returns them */
	uint16_t temp_over, temp_under;  /* composite temperature thresholds (K) */
	uint64_t irq_coalescing_off;  /* Interrupt Vector Configuration CD bits */
	uint64_t dbbuf_dbs, dbbuf_eis; /* 0: no shadow doorbells configured */
	uint64_t db_base;             /* guest address of the doorbells (ioeventfds) */

	struct nvme_sq sq[NVME_MAX_QUEUES];
	struct nvme_cq cq[NVME_MAX_QUEUES];
	struct nvme_req *aer[NVME_AERL + 1];
	unsigned naer;

	unsigned inflight;            /* requests with the backend */
	/* In a backend completion: interrupts wait for the batch end
	 * (nvme_batch_end), one per queue for all its entries. */
	bool batching;
	/* Saving: no new commands are fetched until the record is written. */
	bool quiescing;
	bool shutdown_requested, shutdown_busy;
	struct blk_request shutdown_flush;

	struct nvme_stats stats;
	/* Per queue pair (SQ y and CQ y), reported as "q<y>"; the device's own
	 * (dev.counters) has the doorbells of queues that do not exist. */
	struct dev_counters qc[NVME_MAX_QUEUES];
	uint64_t units_read, units_written; /* SMART, in 512-byte blocks */
	uint64_t host_reads, host_writes;
};

/* nvme.c: back to the power-on state (CC.EN 0, queues and admin state
 * gone, registers cleared); requests with the backend are dropped when
 * they come back. Called with ctrl->lock held. */
void nvme_ctrl_reset(struct nvme_ctrl *n);

/* nvme_state.c: the device contract's save and load (see core/device.h). */
int nvme_save(struct device *dev, struct state_writer *w);
int nvme_load(struct device *dev, struct state_reader *r);
/* Commands with the backend, or a shutdown in progress (device_ops busy). */
bool nvme_busy(struct device *dev);
/* Wakes a save waiting for the controller to go idle (lock held). */
void nvme_idle_check(struct nvme_ctrl *n);

/* nvme_queue.c */
/* Allocates SQ qid's request slots once (they outlive the queue). 0 or
 * -NVME_SC_INTERNAL. */
int nvme_sq_alloc_slots(struct nvme_ctrl *n, uint16_t qid);
int nvme_sq_create(struct nvme_ctrl *n, uint16_t qid, uint16_t cqid, uint64_t gpa, uint32_t size);
void nvme_sq_delete(struct nvme_ctrl *n, uint16_t qid);
int nvme_cq_create(struct nvme_ctrl *n, uint16_t qid, uint64_t gpa, uint32_t size, bool ien,
		   uint16_t iv);
void nvme_cq_delete(struct nvme_ctrl *n, uint16_t qid);
void nvme_queues_reset(struct nvme_ctrl *n);
/* Fetches and runs new commands of every SQ (loop thread). */
void nvme_process(struct nvme_ctrl *n);
/* Posts r's completion (or queues it until its CQ has room) and frees r. */
void nvme_complete(struct nvme_ctrl *n, struct nvme_req *r);
/* The backend's batch end (blk_set_batch_end): raises the interrupts that
 * completions in the batch left pending. */
void nvme_batch_end(void *opaque);
/* Frees r without a completion (reset, deleted queue). */
void nvme_req_free(struct nvme_ctrl *n, struct nvme_req *r);
void nvme_update_intx(struct nvme_ctrl *n);
/* Shadow doorbells: starts using them for the I/O queues. */
void nvme_shadow_enable(struct nvme_ctrl *n);
/* ioeventfds on the shadowed doorbells at base (0: none). */
void nvme_ioeventfds_move(struct nvme_ctrl *n, uint64_t base);
/* A doorbell write that reached iovirt (vCPU thread). */
void nvme_doorbell_write(struct nvme_ctrl *n, unsigned index, uint32_t value);
/* Wakes the loop to process the queues; any thread, no lock needed. */
void nvme_kick(struct nvme_ctrl *n);

/* nvme_admin.c: runs an admin command; completes r or holds it (AER). */
void nvme_admin_exec(struct nvme_ctrl *n, struct nvme_req *r);
void nvme_admin_reset(struct nvme_ctrl *n);
/* nvme_io.c: starts an NVM command; completes r now or from the backend. */
void nvme_io_exec(struct nvme_ctrl *n, struct nvme_req *r);

#endif
