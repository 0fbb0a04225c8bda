// fuzz-sources: src/virtio/virtio_pci.c src/virtio/virtio_state.c src/virtio/virtio.c src/virtio/virtqueue.c src/virtio/blk.c src/virtio/queue_service.c src/core/state.c src/core/device.c src/core/counters.c src/bus/pci.c src/bus/pci_state.c src/bus/msix.c src/bus/iobus.c src/bus/irq_routing.c src/backends/block.c src/backends/block_flush.c src/backends/block_threads.c src/sandbox/sandbox.c src/backends/term.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c
/* The virtio device loader (the device contract's load on the PCI
 * transport: virtio_state.c, the PCI function, MSI-X and virtio-blk's own
 * section) against hostile records: the fuzzer's bytes are the record,
 * loaded into a freshly created virtio-blk (on a temporary image) for
 * each input. Guest RAM is zeroed each run (a live record's rings must
 * agree with it: only queues with nothing done pass).
 *
 * Checked invariants: no crash, leak or UB; a refused record leaves the
 * instance saving exactly what it saved before the load; an accepted one
 * leaves a device that saves again and runs its queues (a loop round and a
 * kick of each) without harm.
 *
 * FUZZ_WRITE_SEEDS=dir writes two valid records there (a fresh device, a
 * live one with queue 0 running): the seeds in tests/fuzz/corpus/. */
#include <linux/virtio_pci.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/state.h"
#include "harness.h"
#include "virtio/blk.h"
#include "virtio/virtio_pci.h"

#define RAM_SIZE 0x10000
#define IMG_SIZE (1u << 20)

static struct guest_mem mem;
static uint8_t *ram;
static struct loop *loop;
static char image[128];

static void unlink_image(void)
{
	unlink(image);
}

static struct virtio_pci *make(void)
{
	struct virtio_blk_options o = {.path = image, .engine = BLK_ENGINE_THREADS};
	struct virtio_blk *b = virtio_blk_create(&o, &mem, loop);
	struct virtio_pci *vp = b ? virtio_pci_create(virtio_blk_dev(b), NULL, -1) : NULL;
	if (!vp)
		abort();
	return vp;
}

static void save(struct virtio_pci *vp, struct state_writer *w)
{
	state_writer_init(w);
	if (device_save(virtio_pci_device(vp), w) < 0 || state_writer_finish(w) < 0)
		abort();
}

static void bar0_write(struct virtio_pci *vp, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, len, v);
	vp->pci.bars[0].ops->write(vp->pci.bars[0].opaque, off, b, len);
}

/* A live device, queue 0's rings at 0, 0x1000, 0x2000, nothing done. */
static void bring_up(struct virtio_pci *vp)
{
	uint64_t f = vp->vdev->device_features;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	bar0_write(vp, VIRTIO_PCI_COMMON_STATUS, 1, s);
	bar0_write(vp, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)f);
	bar0_write(vp, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	bar0_write(vp, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(f >> 32));
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	bar0_write(vp, VIRTIO_PCI_COMMON_STATUS, 1, s);
	bar0_write(vp, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	bar0_write(vp, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, 0x1000);
	bar0_write(vp, VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x2000);
	bar0_write(vp, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	bar0_write(vp, VIRTIO_PCI_COMMON_STATUS, 1, s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (!vp->vdev->live)
		abort();
}

static void write_seed(const char *dir, const char *name, const struct state_writer *w)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(w->buf, 1, w->len, f) != w->len || fclose(f) != 0)
		abort();
}

static void write_seeds(const char *dir)
{
	struct virtio_pci *vp = make();
	struct state_writer w;
	save(vp, &w);
	write_seed(dir, "fresh", &w);
	state_writer_free(&w);
	bring_up(vp);
	save(vp, &w);
	write_seed(dir, "live", &w);
	state_writer_free(&w);
	device_destroy(virtio_pci_device(vp));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	ram = calloc(1, RAM_SIZE);
	guest_mem_init_empty(&mem);
	if (!ram || guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();
	loop = fuzz_loop();
	fuzz_temp_image("vstate", IMG_SIZE, image, sizeof(image));
	atexit(unlink_image);
	const char *seeds = getenv("FUZZ_WRITE_SEEDS");
	if (seeds)
		write_seeds(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(ram, 0, RAM_SIZE);
	struct virtio_pci *vp = make();
	struct device *dev = virtio_pci_device(vp);
	struct state_writer before, after;
	save(vp, &before);

	struct state_reader r;
	state_reader_init(&r, data, size, dev->id);
	int ret = device_load(dev, &r);
	if (ret < 0) {
		/* Refused: saying which device, and leaving it as it was. */
		if (!state_failed(&r) || !strstr(state_error(&r), dev->id))
			abort();
		save(vp, &after);
		if (after.len != before.len || memcmp(after.buf, before.buf, after.len))
			abort();
		state_writer_free(&after);
	}
	if (ret == 0) {
		save(vp, &after);
		state_writer_free(&after);
		for (unsigned q = 0; q < vp->vdev->nqueues; q++)
			bar0_write(vp, VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULTIPLIER, 2, q);
		fuzz_loop_round();
	}
	state_writer_free(&before);
	device_destroy(dev);
	return 0;
}
