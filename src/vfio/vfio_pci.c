/* A passed-through PCI function: regions, BARs, interrupts, reset. See
 * vfio_pci.h; configuration space is in vfio_pci_config.c. */
#include "vfio/vfio_pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/state.h"
#include "kvm/vm.h"
#include "vfio/sriov.h"

#define PAGE 4096ULL

static uint64_t page_down(uint64_t x) { return x & ~(PAGE - 1); }
static uint64_t page_up(uint64_t x) { return (x + PAGE - 1) & ~(PAGE - 1); }

/* ---- BAR accesses that trap: the MSI-X table, and what is not mmapped ---- */

static bool msix_access(struct vfio_pci_bar *b, uint64_t off)
{
	struct vfio_pci *v = b->dev;
	return v->msix_cap && b->idx == v->msix_bar && off >= v->msix_table_off &&
	       off - v->msix_table_off < v->msix_table_size;
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct vfio_pci_bar *b = opaque;
	if (msix_access(b, off) && msix_bar_read(&b->dev->msix, off, data, len))
		return;
	if (pread(b->dev->fd, data, len, (off_t)(b->offset + off)) != (ssize_t)len)
		memset(data, 0xff, len);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct vfio_pci_bar *b = opaque;
	if (msix_access(b, off)) {
		msix_bar_write(&b->dev->msix, off, data, len);
		return;
	}
	if (pwrite(b->dev->fd, data, len, (off_t)(b->offset + off)) != (ssize_t)len)
		log_guest_error(b->dev->bdf, "BAR%d write at 0x%llx failed", b->idx,
				     (unsigned long long)off);
}

static const struct iobus_ops bar_ops = {.read = bar_read, .write = bar_write};

/* The guest placed (or moved, or disabled) BAR idx: its mmapped parts
 * follow as memslots; the iobus range beneath catches the rest. */
static void bar_mapped(struct pci_dev *pci, int idx, uint64_t addr, bool mapped)
{
	struct vfio_pci *v = pci->opaque;
	struct vfio_pci_bar *b = &v->bars[idx];
	for (unsigned i = 0; i < b->nmaps && v->vm; i++) {
		if (b->maps[i].slot >= 0) {
			vm_unmap_device_memory(v->vm, b->maps[i].slot);
			b->maps[i].slot = -1;
		}
		if (!mapped)
			continue;
		int slot = vm_map_device_memory(v->vm, addr + b->maps[i].off, b->maps[i].size,
						b->maps[i].hva);
		/* The guest places BARs (over RAM, even): said once per device,
		 * so moving a BAR in a loop cannot flood the log. */
		if (slot < 0 && !v->memslot_warned) {
			v->memslot_warned = true;
			log_warn("guest error: %s: BAR%d at 0x%llx: no memslot (%s); accesses trap",
				 v->bdf, idx, (unsigned long long)(addr + b->maps[i].off),
				 strerror(-slot));
		}
		b->maps[i].slot = slot;
	}
}

static const struct pci_dev_ops dev_ops = {
	.config_read = vfio_pci_config_read,
	.config_write_raw = vfio_pci_config_write_raw,
	.config_written = vfio_pci_config_written,
	.bar_mapped = bar_mapped,
};

/* ---- regions ---- */

/* Region info with its capability chain; free() the result. */
static struct vfio_region_info *region_info(int fd, unsigned index)
{
	struct vfio_region_info *info = calloc(1, sizeof(*info));
	if (!info)
		return NULL;
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
		free(info);
		return NULL;
	}
	if (info->argsz > sizeof(*info)) {
		uint32_t argsz = info->argsz;
		struct vfio_region_info *big = realloc(info, argsz);
		if (!big) {
			free(info);
			return NULL;
		}
		info = big;
		memset(info, 0, argsz);
		info->argsz = argsz;
		info->index = index;
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
			free(info);
			return NULL;
		}
	}
	return info;
}

/* The sparse-mmap capability, if the region has one. */
static const struct vfio_region_info_cap_sparse_mmap *sparse_areas(const struct vfio_region_info *info)
{
	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS) || !info->cap_offset)
		return NULL;
	uint32_t off = info->cap_offset;
	for (int n = 0; n < 16 && off >= sizeof(*info) && off + sizeof(struct vfio_info_cap_header) <= info->argsz; n++) {
		const struct vfio_info_cap_header *h = (const void *)((const uint8_t *)info + off);
		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
		    off + sizeof(struct vfio_region_info_cap_sparse_mmap) <= info->argsz) {
			const struct vfio_region_info_cap_sparse_mmap *s = (const void *)h;
			if (off + sizeof(*s) + s->nr_areas * sizeof(s->areas[0]) <= info->argsz)
				return s;
			return NULL;
		}
		if (!h->next)
			break;
		off = h->next;
	}
	return NULL;
}

/* Adds [off, off+size) minus the trapped MSI-X table pages as mmap areas. */
static void add_area(struct vfio_pci *v, struct vfio_pci_bar *b, uint64_t off, uint64_t size)
{
	uint64_t holes[2][2] = {{off, off}, {off, off}}; /* [start, end) pieces */
	unsigned pieces = 0;
	uint64_t end = off + size;
	if (v->msix_cap && b->idx == v->msix_bar) {
		uint64_t ts = page_down(v->msix_table_off);
		uint64_t te = page_up(v->msix_table_off + v->msix_table_size);
		if (ts > off)
			holes[pieces][0] = off, holes[pieces][1] = ts < end ? ts : end, pieces++;
		if (te < end)
			holes[pieces][0] = te > off ? te : off, holes[pieces][1] = end, pieces++;
	} else {
		holes[0][0] = off, holes[0][1] = end, pieces = 1;
	}
	for (unsigned i = 0; i < pieces && b->nmaps < VFIO_BAR_MAX_MAPS; i++) {
		uint64_t s = page_up(holes[i][0]), e = page_down(holes[i][1]);
		if (e <= s)
			continue;
		void *p = mmap(NULL, e - s, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
			       (off_t)(b->offset + s));
		if (p == MAP_FAILED) {
			log_debug("%s: BAR%d: mmap of 0x%llx+0x%llx failed (%s); it traps", v->bdf,
				  b->idx, (unsigned long long)s, (unsigned long long)(e - s),
				  strerror(errno));
			continue;
		}
		b->maps[b->nmaps].off = s;
		b->maps[b->nmaps].size = e - s;
		b->maps[b->nmaps].hva = p;
		b->maps[b->nmaps].slot = -1;
		b->nmaps++;
	}
}

static int read_bar_regions(struct vfio_pci *v)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &v->bars[i];
		b->dev = v;
		b->idx = i;
		struct vfio_region_info *info = region_info(v->fd, VFIO_PCI_BAR0_REGION_INDEX + (unsigned)i);
		if (!info)
			continue; /* no such BAR */
		b->offset = info->offset;
		b->size = info->size;
		free(info);
	}
	struct vfio_region_info *cfg = region_info(v->fd, VFIO_PCI_CONFIG_REGION_INDEX);
	if (!cfg) {
		log_error("%s: no configuration-space region", v->bdf);
		return -EIO;
	}
	v->cfg_offset = cfg->offset;
	v->cfg_size = (uint32_t)(cfg->size < PCI_CFG_SIZE ? cfg->size : PCI_CFG_SIZE);
	free(cfg);
	return 0;
}

/* mmaps what VFIO allows of each memory BAR (after MSI-X is known). */
static void map_bars(struct vfio_pci *v)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &v->bars[i];
		if (!b->size || v->pci.bars[i].type == PCI_BAR_IO || b->size < PAGE)
			continue;
		struct vfio_region_info *info = region_info(v->fd, VFIO_PCI_BAR0_REGION_INDEX + (unsigned)i);
		if (!info)
			continue;
		if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *s = sparse_areas(info);
			if (s) {
				for (uint32_t a = 0; a < s->nr_areas; a++)
					if (s->areas[a].offset < b->size &&
					    s->areas[a].size <= b->size - s->areas[a].offset)
						add_area(v, b, s->areas[a].offset, s->areas[a].size);
			} else {
				add_area(v, b, 0, b->size);
			}
		}
		free(info);
	}
}

static void unmap_bars(struct vfio_pci *v)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_pci_bar *b = &v->bars[i];
		for (unsigned m = 0; m < b->nmaps; m++) {
			if (b->maps[m].slot >= 0 && v->vm)
				vm_unmap_device_memory(v->vm, b->maps[m].slot);
			munmap(b->maps[m].hva, b->maps[m].size);
		}
		b->nmaps = 0;
	}
}

/* ---- lifecycle ---- */

static void reset(struct vfio_pci *v)
{
	if (v->can_reset && ioctl(v->fd, VFIO_DEVICE_RESET) < 0)
		log_warn("%s: device reset failed: %s", v->bdf, strerror(errno));
}

/* ---- the device contract (see vfio_pci.h) ---- */

static struct vfio_pci *to_vfio(struct device *dev)
{
	return container_of(dev, struct vfio_pci, dev);
}

static void dev_reset(struct device *dev)
{
	reset(to_vfio(dev));
}

static void dev_counters(struct device *dev, const struct counter_sink *sink)
{
	struct vfio_pci *v = to_vfio(dev);
	/* The PCI function counts the guest's accesses; only read here. */
	__atomic_store_n(&dev->counters.exits, counter_read(&v->pci.exits), __ATOMIC_RELAXED);
	counters_emit(sink, dev->id, "", &dev->counters);
}

static int dev_save(struct device *dev, struct state_writer *w)
{
	log_error("%s: %s (%s) cannot save its state: a passed-through function's state is "
		  "in the hardware, and VFIO migration (VFIO_DEVICE_FEATURE_MIGRATION) is not "
		  "supported by iovirt yet", dev->id, dev->ops->kind, to_vfio(dev)->bdf);
	return -ENOTSUP;
}

static int dev_load(struct device *dev, struct state_reader *r)
{
	return state_invalid(r, dev->id, "%s (%s): a passed-through function's state is in the "
			     "hardware; loading it needs VFIO migration "
			     "(VFIO_DEVICE_FEATURE_MIGRATION), not supported by iovirt yet",
			     dev->ops->kind, to_vfio(dev)->bdf);
}

static void dev_destroy(struct device *dev)
{
	struct vfio_pci *v = to_vfio(dev);
	struct vfio_container *c = v->container;
	char bdf[PCI_BDF_LEN];
	bool give_back = v->give_back;
	snprintf(bdf, sizeof(bdf), "%s", v->bdf);
	vfio_pci_destroy(v);
	/* vfio-pci lets the function go only once no fd holds it, and the
	 * host driver takes it only once its group left our container. */
	if (c)
		vfio_container_close_device(c, bdf);
	if (give_back)
		sriov_unbind_vfio(bdf);
}

/* The function writes guest RAM by DMA, which nothing here sees (no
 * device with a migration region to ask): it cannot be migrated. */
static int dev_dirty_log(struct device *dev, bool on, char *why, size_t why_len)
{
	(void)on;
	snprintf(why, why_len, "%s: a passed-through function's DMA into guest RAM cannot be "
		 "tracked: it cannot be migrated (detach it, or shut the guest down and start it "
		 "on the other host)", dev->id);
	return -ENOTSUP;
}

static const struct device_ops vfio_device_ops = {
	.kind = "vfio-pci",
	.reset = dev_reset,
	.counters = dev_counters,
	.save = dev_save,
	.load = dev_load,
	.dirty_log = dev_dirty_log,
	.destroy = dev_destroy,
};

struct device *vfio_pci_device(struct vfio_pci *v)
{
	return &v->dev;
}

void vfio_pci_device_init(struct vfio_pci *v)
{
	device_init(&v->dev, &vfio_device_ops, "vfio-pci");
}

void vfio_pci_give_back(struct vfio_pci *v)
{
	v->give_back = true;
}

struct vfio_pci *vfio_pci_create(const char *bdf, struct vfio_container *c, struct vm *vm)
{
	struct vfio_pci *v = calloc(1, sizeof(*v));
	if (!v) {
		log_error("%s: out of memory", bdf);
		return NULL;
	}
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);
	snprintf(v->name, sizeof(v->name), "vfio %s", bdf);
	vfio_pci_device_init(v);
	v->vm = vm;
	v->intx_fd = v->resample_fd = v->msi_fd = v->msi_gsi = -1;
	pthread_mutex_init(&v->irq_lock, NULL);
	v->fd = vfio_container_open_device(c, bdf);
	if (v->fd >= 0)
		v->container = c;
	if (v->fd < 0) {
		pthread_mutex_destroy(&v->irq_lock);
		free(v);
		return NULL;
	}
	struct vfio_device_info info = {.argsz = sizeof(info)};
	if (ioctl(v->fd, VFIO_DEVICE_GET_INFO, &info) < 0 || !(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		log_error("%s: not a VFIO PCI device", bdf);
		goto fail;
	}
	v->can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;
	if (!v->can_reset)
		log_warn("%s: the device has no reset (FLR or bus reset); it starts as the host "
			 "left it", bdf);
	reset(v);
	vfio_pci_irq_counts(v, info.num_irqs);
	if (read_bar_regions(v) < 0 || vfio_pci_config_init(v, &dev_ops, &bar_ops) < 0 ||
	    vfio_pci_irq_init(v) < 0)
		goto fail;
	map_bars(v);
	return v;
fail:
	vfio_pci_destroy(v);
	return NULL;
}

struct pci_dev *vfio_pci_dev(struct vfio_pci *v)
{
	return &v->pci;
}

void vfio_pci_destroy(struct vfio_pci *v)
{
	if (!v)
		return;
	vfio_pci_irq_destroy(v);
	unmap_bars(v);
	if (v->fd >= 0) {
		reset(v);
		close(v->fd);
	}
	if (v->pci.name)
		pci_dev_destroy(&v->pci);
	pthread_mutex_destroy(&v->irq_lock);
	free(v);
}
