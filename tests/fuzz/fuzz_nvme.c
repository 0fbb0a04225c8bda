// fuzz-sources: src/devices/nvme.c src/devices/nvme_queue.c src/devices/nvme_admin.c src/devices/nvme_io.c src/devices/nvme_prp.c src/devices/nvme_state.c src/core/device.c src/core/state.c src/core/counters.c src/bus/msix.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/bus/irq_routing.c src/backends/block.c src/backends/block_flush.c src/backends/block_threads.c src/sandbox/sandbox.c src/backends/term.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c
/* The emulated NVMe controller against a hostile driver: the fuzzer's bytes
 * are guest RAM (admin queue at 0, its completion queue at 0x1000, and
 * whatever I/O queues, PRP lists, data buffers, DSM ranges and shadow
 * doorbells the commands in it point at), plus the admin queue size, the
 * doorbell values rung, and whether the driver resets the controller with
 * commands in flight. Commands run against the real block backend on a small
 * temporary image (thread-pool engine; io_uring stubbed out).
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of its
 * exact size), no crash or UB, every backend request completes. FUZZ_VERBOSE=1
 * shows the controller's log. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/nvme.h"
#include "devices/nvme_ctrl.h"
#include "harness.h"

#define RAM_SIZE 0x10000
#define IMG_SIZE 0x10000
#define ACQ_GPA 0x1000

enum {
	F_RESET_IN_FLIGHT = 1 << 0,
	F_CQ_DOORBELLS = 1 << 1,
	F_RANDOM_CC = 1 << 2,
};

static struct guest_mem mem;
static struct nvme_ctrl *ctrl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	char path[64];
	fuzz_temp_image("nvme", IMG_SIZE, path, sizeof(path));
	struct loop *loop = fuzz_loop();
	guest_mem_init_empty(&mem);
	struct nvme_options o = {.path = path, .serial = "fuzz", .engine = BLK_ENGINE_THREADS,
				 .num_queues = 2, .name = "nvme-fuzz"};
	ctrl = nvme_create(&o, &mem, loop, NULL, -1);
	unlink(path); /* the backend keeps it open */
	if (!ctrl)
		abort();
	return 0;
}

static void reg_write(uint64_t off, uint32_t v)
{
	struct pci_bar *b = &nvme_pci(ctrl)->bars[0];
	uint8_t d[4];
	memcpy(d, &v, 4);
	b->ops->write(b->opaque, off, d, 4);
}

static void doorbell(unsigned qid, bool cq, uint32_t v)
{
	reg_write(NVME_REG_DBS + (qid * 2 + (cq ? 1 : 0)) * 4, v);
}

static bool busy(void)
{
	pthread_mutex_lock(&ctrl->lock);
	bool b = ctrl->inflight > 0;
	pthread_mutex_unlock(&ctrl->lock);
	return b;
}

/* A few rounds (doorbell kicks, re-kicks after the per-kick budget), then
 * until every backend request is done. */
static void drain(void)
{
	fuzz_loop_drain(busy, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	unsigned asize = 2 + data[0] % 63;
	unsigned atail = data[1] % asize;
	uint8_t q1 = data[2], q2 = data[3], cqh = data[4], flags = data[5];
	uint32_t cc = NVME_CC_EN | (6u << 16) | (4u << 20);
	if (flags & F_RANDOM_CC)
		cc |= (uint32_t)data[6] << 4 | (uint32_t)data[7] << 12;
	data += 8;
	size -= 8;

	uint8_t *ram = malloc(RAM_SIZE);
	if (!ram)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();

	reg_write(NVME_REG_AQA, (asize - 1) | ((asize - 1) << 16));
	reg_write(NVME_REG_ASQ, 0);
	reg_write(NVME_REG_ASQ + 4, 0);
	reg_write(NVME_REG_ACQ, ACQ_GPA);
	reg_write(NVME_REG_ACQ + 4, 0);
	reg_write(NVME_REG_CC, cc);
	doorbell(0, false, atail);
	drain();
	/* The admin commands may have created I/O queues 1 and 2. */
	doorbell(1, false, q1);
	doorbell(2, false, q2);
	if (flags & F_CQ_DOORBELLS) {
		doorbell(0, true, cqh % asize);
		doorbell(1, true, cqh);
	}
	if (flags & F_RESET_IN_FLIGHT) {
		fuzz_loop_round();
		reg_write(NVME_REG_CC, 0); /* requests may still be with the backend */
		reg_write(NVME_REG_CC, cc);
		doorbell(0, false, atail);
	}
	drain();

	/* Nothing may touch RAM once it is gone: reset, finish, then free. */
	reg_write(NVME_REG_CC, 0);
	drain();
	free(ram);
	guest_mem_init_empty(&mem);
	return 0;
}
