// fuzz-sources: src/devices/nvme.c src/devices/nvme_queue.c src/devices/nvme_admin.c src/devices/nvme_io.c src/devices/nvme_prp.c src/devices/nvme_state.c src/core/device.c src/core/state.c src/core/counters.c src/bus/msix.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/bus/irq_routing.c src/backends/block.c src/backends/block_flush.c src/backends/block_threads.c src/sandbox/sandbox.c src/backends/term.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c
/* The NVMe controller's state loader against hostile records: the
 * fuzzer's bytes (after three doorbell values) are a record loaded into a
 * controller in its power-on state. A refused record must leave the
 * controller's own record as it was; an accepted one must serve doorbells
 * (the admin queue's and two I/O queues' tails, queue 1's CQ head) without
 * touching memory outside guest RAM, and every backend request must
 * complete. Then the power-on record is loaded back for the next input.
 *
 * Guest RAM (256 KiB, one malloc of its exact size) is zeroed for every
 * input. The seeds in tests/fuzz/corpus/fuzz_nvme_state are records of the
 * controller tests/unit/support/nvme_drv drives (same queue layout). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/state.h"
#include "devices/nvme.h"
#include "devices/nvme_ctrl.h"
#include "harness.h"

#define RAM_SIZE 0x40000
#define IMG_SIZE 0x10000

static struct guest_mem mem;
static uint8_t *ram;
static struct nvme_ctrl *ctrl;
static struct state_writer pristine;

static void save(struct state_writer *w)
{
	state_writer_init(w);
	if (device_save(nvme_device(ctrl), w) < 0 || state_writer_finish(w) < 0)
		abort();
}

static int load(const uint8_t *data, size_t size)
{
	struct state_reader r;
	state_reader_init(&r, data, size, "nvme-fuzz");
	/* Bytes after the section are the caller's business
	 * (state_reader_finish): the device took its record. */
	int ret = device_load(nvme_device(ctrl), &r);
	if (ret < 0 && !state_failed(&r))
		abort(); /* refused without saying why */
	return ret;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	char path[64];
	fuzz_temp_image("nvme-state", IMG_SIZE, path, sizeof(path));
	struct loop *loop = fuzz_loop();
	ram = malloc(RAM_SIZE);
	if (!ram)
		abort();
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();
	struct nvme_options o = {.path = path, .serial = "fuzz", .engine = BLK_ENGINE_THREADS,
				 .num_queues = 2, .name = "nvme0"};
	ctrl = nvme_create(&o, &mem, loop, NULL, -1);
	unlink(path); /* the backend keeps it open */
	if (!ctrl)
		abort();
	save(&pristine);
	return 0;
}

static void doorbell(unsigned qid, bool cq, uint32_t v)
{
	struct pci_bar *b = &nvme_pci(ctrl)->bars[0];
	uint8_t d[4];
	memcpy(d, &v, 4);
	b->ops->write(b->opaque, NVME_REG_DBS + (qid * 2 + (cq ? 1 : 0)) * 4, d, 4);
}

static bool busy(void)
{
	pthread_mutex_lock(&ctrl->lock);
	bool b = ctrl->inflight > 0;
	pthread_mutex_unlock(&ctrl->lock);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint8_t db[3] = {data[0], data[1], data[2]};
	data += 3;
	size -= 3;
	memset(ram, 0, RAM_SIZE);

	if (load(data, size) < 0) {
		struct state_writer after;
		save(&after);
		if (after.len != pristine.len || memcmp(after.buf, pristine.buf, after.len))
			abort(); /* a refused record changed the controller */
		state_writer_free(&after);
		return 0;
	}
	doorbell(0, false, db[0]);
	doorbell(1, false, db[1]);
	doorbell(2, false, db[2]);
	doorbell(1, true, db[0]);
	fuzz_loop_drain(busy, 4);

	/* Back to the power-on state: the pristine record loads; the loop
	 * finishes whatever the reset left with the backend. */
	device_reset(nvme_device(ctrl));
	fuzz_loop_drain(busy, 1);
	if (load(pristine.buf, pristine.len) < 0)
		abort();
	return 0;
}
