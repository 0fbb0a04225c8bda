/* NVMe controller: the PCI function, its BAR0 registers (NVMe 1.4 §3.1),
 * controller enable/reset/shutdown (§7.6), and the event-loop side of the
 * doorbells. Queues live in nvme_queue.c, commands in nvme_admin.c and
 * nvme_io.c.
 *
 * BAR0 (64-bit, 16 KiB): registers at 0, doorbells at 0x1000 (stride 4),
 * the MSI-X table at 0x2000 and its PBA at 0x3000.
 *
 * Locks: the pci_dev lock may be held when bar_mapped runs, and n->lock is
 * held when we raise INTx (which takes the pci_dev lock), so bar_mapped only
 * records the address; the loop moves the ioeventfds. */
#include "devices/nvme.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "devices/nvme_ctrl.h"

/* The PCI ID of the virtual NVMe controller guests already know (QEMU's,
 * Red Hat's vendor ID for virtual devices): drivers with per-ID quirks then
 * treat it as the virtual device it is. Drivers bind by class (0x010802). */
#define NVME_PCI_VENDOR 0x1b36
#define NVME_PCI_DEVICE 0x0010
#define NVME_PCI_CLASS 0x010802

/* CAP (§3.1.1): MQES, CQR (contiguous queues required), TO 7.5 s, the NVM
 * command set, MPSMIN = MPSMAX = 4 KiB, DSTRD 0. */
static uint64_t cap_value(void)
{
	return (uint64_t)NVME_MQES | (1ULL << 16) | (15ULL << 24) | (1ULL << 37);
}

/* ---- registers ---- */

static void regs_image(struct nvme_ctrl *n, uint8_t *img)
{
	memset(img, 0, NVME_REG_END);
	uint64_t cap = cap_value();
	memcpy(img + NVME_REG_CAP, &cap, 8);
	uint32_t vs = NVME_VS_1_4;
	memcpy(img + NVME_REG_VS, &vs, 4);
	memcpy(img + NVME_REG_INTMS, &n->intms, 4);
	memcpy(img + NVME_REG_INTMC, &n->intms, 4);
	memcpy(img + NVME_REG_CC, &n->cc, 4);
	memcpy(img + NVME_REG_CSTS, &n->csts, 4);
	memcpy(img + NVME_REG_AQA, &n->aqa, 4);
	memcpy(img + NVME_REG_ASQ, &n->asq, 8);
	memcpy(img + NVME_REG_ACQ, &n->acq, 8);
}

/* CC.EN 0 → 1 (§7.6.1): admin queues from AQA/ASQ/ACQ, then ready. A
 * configuration we cannot honour sets Controller Fatal Status instead. */
static void controller_enable(struct nvme_ctrl *n)
{
	uint32_t cc = n->cc;
	uint32_t asqs = (n->aqa & 0xfff) + 1, acqs = ((n->aqa >> 16) & 0xfff) + 1;
	const char *why = NULL;
	if (NVME_CC_CSS(cc) != 0 || NVME_CC_MPS(cc) != 0 || NVME_CC_AMS(cc) != 0)
		why = "unsupported command set, page size or arbitration in CC";
	else if (asqs < 2 || acqs < 2)
		why = "admin queue of fewer than 2 entries";
	else if (nvme_cq_create(n, 0, n->acq, acqs, true, 0) < 0 ||
		 nvme_sq_create(n, 0, 0, n->asq, asqs) < 0)
		why = "admin queues outside RAM";
	if (why) {
		log_guest_error(n->name, "%s; controller fatal status set", why);
		nvme_queues_reset(n);
		n->csts |= NVME_CSTS_CFS;
		return;
	}
	n->csts |= NVME_CSTS_RDY;
}

/* CC.EN 1 → 0 (§7.3.2): everything but the admin queue registers goes. */
static void controller_reset(struct nvme_ctrl *n)
{
	nvme_queues_reset(n);
	nvme_admin_reset(n);
	n->csts = 0;
	n->intms = 0;
	nvme_update_intx(n);
}

void nvme_ctrl_reset(struct nvme_ctrl *n)
{
	controller_reset(n);
	n->cc = n->aqa = 0;
	n->asq = n->acq = 0;
	n->shutdown_requested = false;
}

static void cc_write(struct nvme_ctrl *n, uint32_t v)
{
	uint32_t old = n->cc;
	n->cc = v;
	if ((old & NVME_CC_EN) && !(v & NVME_CC_EN))
		controller_reset(n);
	else if (!(old & NVME_CC_EN) && (v & NVME_CC_EN))
		controller_enable(n);
	/* Shutdown notification (§7.6.2): make written data stable, then
	 * report shutdown complete. The flush runs on the loop. */
	if (NVME_CC_SHN(v) && !NVME_CC_SHN(old)) {
		n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_BUSY;
		n->shutdown_requested = true;
		nvme_kick(n);
	} else if (!NVME_CC_SHN(v)) {
		n->csts &= ~NVME_CSTS_SHST_MASK;
	}
}

static void reg_write32(struct nvme_ctrl *n, uint64_t off, uint32_t v)
{
	switch (off) {
	case NVME_REG_INTMS:
		n->intms |= v;
		nvme_update_intx(n);
		break;
	case NVME_REG_INTMC:
		n->intms &= ~v;
		nvme_update_intx(n);
		break;
	case NVME_REG_CC:
		cc_write(n, v);
		break;
	case NVME_REG_AQA:
		n->aqa = v & 0x0fff0fff;
		break;
	case NVME_REG_ASQ:
		n->asq = (n->asq & ~0xffffffffULL) | (v & ~0xfffU);
		break;
	case NVME_REG_ASQ + 4:
		n->asq = (n->asq & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case NVME_REG_ACQ:
		n->acq = (n->acq & ~0xffffffffULL) | (v & ~0xfffU);
		break;
	case NVME_REG_ACQ + 4:
		n->acq = (n->acq & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	default: /* read-only or reserved (NSSR: subsystem reset not supported) */
		break;
	}
}

static void bar0_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct nvme_ctrl *n = opaque;
	if (msix_bar_read(&n->msix, off, data, len))
		return;
	memset(data, 0, len);
	if (off >= NVME_REG_END || len > NVME_REG_END - off)
		return; /* doorbells and reserved space read as zero */
	uint8_t img[NVME_REG_END];
	pthread_mutex_lock(&n->lock);
	regs_image(n, img);
	pthread_mutex_unlock(&n->lock);
	memcpy(data, img + off, len);
}

static void bar0_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct nvme_ctrl *n = opaque;
	if (msix_bar_write(&n->msix, off, data, len))
		return;
	uint64_t v = iobus_load_le(data, len);
	pthread_mutex_lock(&n->lock);
	if (off >= NVME_REG_DBS) {
		if (len == 4 && off % 4 == 0)
			nvme_doorbell_write(n, (unsigned)((off - NVME_REG_DBS) / 4), (uint32_t)v);
		else
			log_guest_error(n->name, "%u-byte doorbell write at %#llx", len,
					     (unsigned long long)off);
	} else if (len == 8 && off % 8 == 0) {
		/* 64-bit registers may be written whole. */
		reg_write32(n, off, (uint32_t)v);
		reg_write32(n, off + 4, (uint32_t)(v >> 32));
	} else if (len == 4 && off % 4 == 0) {
		reg_write32(n, off, (uint32_t)v);
	}
	pthread_mutex_unlock(&n->lock);
}

static const struct iobus_ops bar0_ops = {.read = bar0_read, .write = bar0_write};

/* ---- PCI hooks ---- */

static void config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	struct nvme_ctrl *n = (struct nvme_ctrl *)dev;
	msix_config_written(&n->msix, offset, len);
	pthread_mutex_lock(&n->lock);
	nvme_update_intx(n); /* MSI-X on or off moves the interrupt */
	pthread_mutex_unlock(&n->lock);
}

static void bar_mapped(struct pci_dev *dev, int bar, uint64_t addr, bool mapped)
{
	struct nvme_ctrl *n = (struct nvme_ctrl *)dev;
	if (bar != 0)
		return;
	__atomic_store_n(&n->bar_addr, mapped ? addr : 0, __ATOMIC_RELEASE);
	nvme_kick(n);
}

static const struct pci_dev_ops pci_ops = {
	.config_written = config_written,
	.bar_mapped = bar_mapped,
};

/* ---- the event loop side ---- */

/* Shutdown complete tells the host its data is safe; after a failed flush
 * it is not, and no completion queue can carry that, so the controller
 * reports a fatal error (CSTS.CFS, §3.1.6) and shutdown never completes:
 * the driver gives up waiting and says so. */
static void shutdown_done(struct blk_request *br, int result)
{
	struct nvme_ctrl *n = br->opaque;
	pthread_mutex_lock(&n->lock);
	n->shutdown_busy = false;
	bool shn = NVME_CC_SHN(n->cc) != 0;
	if (result < 0)
		log_error("%s: flush at shutdown failed: %s; written data may be lost%s", n->name,
			  strerror(-result), shn ? ", controller fatal status set" : "");
	if (shn && result < 0)
		n->csts |= NVME_CSTS_CFS;
	else if (shn)
		n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
	nvme_idle_check(n);
	pthread_mutex_unlock(&n->lock);
}

static void shutdown_start(struct nvme_ctrl *n)
{
	if (!n->shutdown_requested || n->shutdown_busy)
		return;
	n->shutdown_requested = false;
	n->shutdown_flush = (struct blk_request){.op = BLK_FLUSH, .complete = shutdown_done,
						 .opaque = n};
	if (!n->readonly && blk_submit(n->be, &n->shutdown_flush) == 0) {
		n->shutdown_busy = true;
		return;
	}
	n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
}

static void on_kick(void *opaque, uint32_t events)
{
	struct nvme_ctrl *n = opaque;
	pthread_mutex_lock(&n->lock);
	uint64_t count;
	if (read(n->kick_fd, &count, sizeof(count)) == sizeof(count)) {
		/* The rest of the count is doorbell writes KVM signalled. */
		uint64_t ours = __atomic_exchange_n(&n->kicks_pending, 0, __ATOMIC_ACQ_REL);
		if (count > ours)
			n->stats.doorbells_kernel += count - ours;
	}
	if (!n->closing) {
		uint64_t base = __atomic_load_n(&n->bar_addr, __ATOMIC_ACQUIRE);
		if (base != n->db_base)
			nvme_ioeventfds_move(n, base);
		shutdown_start(n);
		nvme_process(n);
	}
	nvme_idle_check(n);
	pthread_mutex_unlock(&n->lock);
}

/* ---- the device contract ---- */

static struct nvme_ctrl *to_nvme(struct device *dev)
{
	return container_of(dev, struct nvme_ctrl, dev);
}

static void nvme_dev_reset(struct device *dev)
{
	struct nvme_ctrl *n = to_nvme(dev);
	pthread_mutex_lock(&n->lock);
	nvme_ctrl_reset(n);
	pthread_mutex_unlock(&n->lock);
}

/* The device's line carries the exits the PCI function counted; each
 * offered queue pair has its own, created or not, so the names are
 * stable. */
static void nvme_dev_counters(struct device *dev, const struct counter_sink *sink)
{
	struct nvme_ctrl *n = to_nvme(dev);
	struct dev_counters c = n->dev.counters;
	c.exits = counter_read(&n->pci.exits);
	counters_emit(sink, dev->id, "", &c);
	for (unsigned q = 0; q <= n->max_ioq; q++) {
		char scope[8];
		snprintf(scope, sizeof(scope), "q%u", q);
		counters_emit(sink, dev->id, scope, &n->qc[q]);
	}
}

static void nvme_dev_destroy(struct device *dev)
{
	nvme_destroy(to_nvme(dev));
}

static const struct device_ops nvme_device_ops = {
	.kind = "nvme",
	.reset = nvme_dev_reset,
	.counters = nvme_dev_counters,
	.save = nvme_save,
	.load = nvme_load,
	.busy = nvme_busy,
	.destroy = nvme_dev_destroy,
};

struct device *nvme_device(struct nvme_ctrl *n)
{
	return &n->dev;
}

/* ---- create / destroy ---- */

/* A stable serial from the image path (FNV-1a), as QEMU users expect one. */
static void default_serial(const char *path, char *out, size_t size)
{
	uint32_t h = 2166136261u;
	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, size, "IOVIRT%08X", h);
}

struct nvme_ctrl *nvme_create(const struct nvme_options *o, const struct guest_mem *mem,
			      struct loop *loop, struct irq_routing *routing, int vm_fd)
{
	struct nvme_ctrl *n = calloc(1, sizeof(*n));
	if (!n) {
		log_error("%s: out of memory", o->path);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->idle, NULL);
	n->mem = mem;
	n->loop = loop;
	n->vm_fd = vm_fd;
	n->kick_fd = -1;
	snprintf(n->name, sizeof(n->name), "%s", o->name ? o->name : "nvme");
	device_init(&n->dev, &nvme_device_ops, n->name);
	if (o->serial && o->serial[0])
		snprintf(n->serial, sizeof(n->serial), "%s", o->serial);
	else
		default_serial(o->path, n->serial, sizeof(n->serial));
	n->shadow_offered = !o->no_shadow_doorbells;
	n->max_ioq = o->num_queues < 1 ? 1
		   : o->num_queues > NVME_MAX_IO_QUEUES ? NVME_MAX_IO_QUEUES : o->num_queues;

	struct blk_options bo = {.readonly = o->readonly, .cache = o->cache, .engine = o->engine};
	n->be = blk_open(o->path, &bo, loop);
	if (!n->be)
		goto fail_be;
	blk_set_batch_end(n->be, nvme_batch_end, n);
	n->readonly = blk_readonly(n->be);
	n->nsze = blk_size(n->be) / BLK_SECTOR_SIZE;
	nvme_admin_reset(n);

	struct pci_dev *dev = &n->pci;
	pci_dev_init(dev, n->name, NVME_PCI_VENDOR, NVME_PCI_DEVICE, NVME_PCI_CLASS, 2,
		     NVME_PCI_VENDOR, 0x1100);
	dev->ops = &pci_ops;
	dev->opaque = n;
	int ret = pci_dev_set_bar(dev, 0, PCI_BAR_MEM64, NVME_BAR0_SIZE, false, &bar0_ops, n);
	if (ret == 0)
		ret = msix_init(&n->msix, dev, routing, n->max_ioq + 1, 0, NVME_MSIX_TABLE,
				NVME_MSIX_PBA);
	if (ret < 0) {
		log_error("%s: setting up its PCI function failed: %s", n->name, strerror(-ret));
		goto fail_pci;
	}
	n->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->kick_fd < 0 || loop_add_fd(loop, n->kick_fd, EPOLLIN, on_kick, n) < 0) {
		log_error("%s: cannot set up its doorbell eventfd", n->name);
		goto fail_kick;
	}
	return n;

fail_kick:
	if (n->kick_fd >= 0)
		close(n->kick_fd);
	msix_destroy(&n->msix);
fail_pci:
	pci_dev_destroy(dev);
	blk_close(n->be);
fail_be:
	pthread_cond_destroy(&n->idle);
	pthread_mutex_destroy(&n->lock);
	free(n);
	return NULL;
}

void nvme_destroy(struct nvme_ctrl *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->closing = true;
	nvme_ioeventfds_move(n, 0);
	pthread_mutex_unlock(&n->lock);
	pci_dev_unmap_bars(&n->pci);
	loop_del_fd(n->loop, n->kick_fd);
	blk_close(n->be); /* runs the callbacks of requests still in flight */
	log_debug("%s: %llu commands (%llu I/O), doorbell writes: %llu to iovirt, %llu in KVM; "
		  "%llu interrupts, %llu guest errors", n->name,
		  (unsigned long long)n->stats.commands, (unsigned long long)n->stats.io_commands,
		  (unsigned long long)n->stats.doorbells_mmio,
		  (unsigned long long)n->stats.doorbells_kernel,
		  (unsigned long long)n->stats.interrupts, (unsigned long long)n->stats.guest_errors);
	close(n->kick_fd);
	msix_destroy(&n->msix);
	pci_dev_destroy(&n->pci);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		free(n->sq[q].slots);
	pthread_cond_destroy(&n->idle);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

struct pci_dev *nvme_pci(struct nvme_ctrl *n)
{
	return &n->pci;
}

void nvme_get_stats(struct nvme_ctrl *n, struct nvme_stats *st)
{
	pthread_mutex_lock(&n->lock);
	*st = n->stats;
	pthread_mutex_unlock(&n->lock);
}
