#include "bus/pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>

#include "core/counters.h"
#include "core/log.h"

#define CMD_WRITABLE (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
		      PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define STATUS_W1C (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | \
		    PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT | \
		    PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

uint32_t pci_cfg_get(const struct pci_dev *dev, unsigned offset, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len && offset + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)dev->cfg[offset + i] << (8 * i);
	return v;
}

void pci_cfg_set(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t value)
{
	for (unsigned i = 0; i < len && offset + i < PCI_CFG_SIZE; i++)
		dev->cfg[offset + i] = (uint8_t)(value >> (8 * i));
}

static void set_mask(uint8_t *masks, unsigned offset, unsigned len, uint32_t mask)
{
	for (unsigned i = 0; i < len && offset + i < PCI_CFG_SIZE; i++)
		masks[offset + i] = (uint8_t)(mask >> (8 * i));
}

void pci_dev_set_wmask(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t mask)
{
	set_mask(dev->wmask, offset, len, mask);
}

void pci_dev_set_w1cmask(struct pci_dev *dev, unsigned offset, unsigned len, uint32_t mask)
{
	set_mask(dev->w1cmask, offset, len, mask);
}

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	pthread_mutex_init(&dev->lock, NULL);
	pci_cfg_set(dev, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_set(dev, PCI_DEVICE_ID, 2, device);
	pci_cfg_set(dev, PCI_REVISION_ID, 1, revision);
	pci_cfg_set(dev, PCI_CLASS_PROG, 3, class_code);
	pci_cfg_set(dev, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
	pci_cfg_set(dev, PCI_SUBSYSTEM_VENDOR_ID, 2, subsys_vendor);
	pci_cfg_set(dev, PCI_SUBSYSTEM_ID, 2, subsys_id);
	pci_cfg_set(dev, PCI_INTERRUPT_PIN, 1, 1); /* INTA# */
	pci_dev_set_wmask(dev, PCI_COMMAND, 2, CMD_WRITABLE);
	pci_dev_set_w1cmask(dev, PCI_STATUS, 2, STATUS_W1C);
	pci_dev_set_wmask(dev, PCI_CACHE_LINE_SIZE, 1, 0xff);
	pci_dev_set_wmask(dev, PCI_LATENCY_TIMER, 1, 0xff);
	pci_dev_set_wmask(dev, PCI_INTERRUPT_LINE, 1, 0xff);
	dev->cap_free = PCI_STD_HEADER_SIZEOF;
	dev->ext_cap_free = PCI_CFG_LEGACY_SIZE;
}

void pci_dev_destroy(struct pci_dev *dev)
{
	pci_dev_unmap_bars(dev);
	pthread_mutex_destroy(&dev->lock);
}

int pci_dev_set_bar(struct pci_dev *dev, int idx, enum pci_bar_type type, uint64_t size,
		    bool prefetchable, const struct iobus_ops *ops, void *opaque)
{
	if (idx < 0 || idx >= PCI_NUM_BARS || size == 0 || (size & (size - 1)))
		return -EINVAL;
	if (type == PCI_BAR_MEM64 && idx == PCI_NUM_BARS - 1)
		return -EINVAL;
	if (type == PCI_BAR_IO && (size < 4 || size > 256))
		return -EINVAL;
	if (type != PCI_BAR_IO && size < 16)
		return -EINVAL;
	if (type == PCI_BAR_MEM32 && size > (1ULL << 31))
		return -EINVAL;
	struct pci_bar *bar = &dev->bars[idx];
	*bar = (struct pci_bar){.type = type, .size = size, .prefetchable = prefetchable,
				.ops = ops, .opaque = opaque, .dev = dev};
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * (unsigned)idx;
	uint32_t flags;
	if (type == PCI_BAR_IO) {
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		pci_dev_set_wmask(dev, reg, 4, (uint32_t)~(size - 1) & ~0x3U);
	} else {
		flags = (type == PCI_BAR_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
			(prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
		pci_dev_set_wmask(dev, reg, 4, (uint32_t)~(size - 1) & ~0xfU);
		if (type == PCI_BAR_MEM64) {
			pci_dev_set_wmask(dev, reg + 4, 4, (uint32_t)(~(size - 1) >> 32));
			dev->bars[idx + 1] = (struct pci_bar){0};
		}
	}
	pci_cfg_set(dev, reg, 4, flags);
	return 0;
}

uint64_t pci_bar_address(const struct pci_dev *dev, int idx)
{
	const struct pci_bar *bar = &dev->bars[idx];
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * (unsigned)idx;
	uint32_t lo = pci_cfg_get(dev, reg, 4);
	switch (bar->type) {
	case PCI_BAR_IO:
		return lo & ~0x3U;
	case PCI_BAR_MEM32:
		return lo & ~0xfU;
	case PCI_BAR_MEM64:
		return (lo & ~0xfULL) | ((uint64_t)pci_cfg_get(dev, reg + 4, 4) << 32);
	default:
		return 0;
	}
}

/* What the bus calls for a claimed BAR: counts the exit on the function,
 * then hands the access to the model's ops. The cost over registering the
 * model's ops directly is one call and one relaxed atomic add. */
static void bar_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct pci_bar *bar = opaque;
	counter_inc(&bar->dev->exits);
	if (bar->ops->read)
		bar->ops->read(bar->opaque, offset, data, len);
	else
		memset(data, 0xff, len);
}

static void bar_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct pci_bar *bar = opaque;
	counter_inc(&bar->dev->exits);
	if (bar->ops->write)
		bar->ops->write(bar->opaque, offset, data, len);
}

static const struct iobus_ops bar_ops = {.read = bar_read, .write = bar_write};

static void unmap_bar(struct pci_dev *dev, int idx)
{
	struct pci_bar *bar = &dev->bars[idx];
	if (!bar->mapped)
		return;
	struct iobus *bus = bar->type == PCI_BAR_IO ? dev->bus.pio : dev->bus.mmio;
	iobus_unregister(bus, bar->mapped_addr);
	bar->mapped = false;
	if (dev->ops && dev->ops->bar_mapped)
		dev->ops->bar_mapped(dev, idx, bar->mapped_addr, false);
}

void pci_dev_unmap_bars(struct pci_dev *dev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++)
		unmap_bar(dev, i);
}

/* Claims each BAR where the guest put it, if decoding is on and the address
 * is sane; releases it otherwise (PCI 3.0 §6.2.2, §6.2.5). */
static void update_bars(struct pci_dev *dev)
{
	uint16_t cmd = (uint16_t)pci_cfg_get(dev, PCI_COMMAND, 2);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		if (bar->type == PCI_BAR_NONE || !bar->size)
			continue;
		bool io = bar->type == PCI_BAR_IO;
		bool decode = cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
		uint64_t addr = pci_bar_address(dev, i);
		uint64_t limit = io ? 0x10000 : bar->type == PCI_BAR_MEM32 ? (1ULL << 32) : 0;
		bool valid = decode && addr != 0 && addr + bar->size > addr &&
			     (!limit || addr + bar->size <= limit);
		if (bar->mapped && (!valid || bar->mapped_addr != addr))
			unmap_bar(dev, i);
		if (!valid || bar->mapped || !bar->ops)
			continue;
		struct iobus *bus = io ? dev->bus.pio : dev->bus.mmio;
		if (!bus)
			continue;
		int ret = iobus_register(bus, addr, bar->size, &bar_ops, bar);
		if (ret < 0) {
			log_guest_error(dev->name, "BAR%d at 0x%llx overlaps another range; not mapped",
					i, (unsigned long long)addr);
			continue;
		}
		bar->mapped = true;
		bar->mapped_addr = addr;
		if (dev->ops && dev->ops->bar_mapped)
			dev->ops->bar_mapped(dev, i, addr, true);
	}
}

static bool overlaps(unsigned off, unsigned len, unsigned start, unsigned end)
{
	return off < end && start < off + len;
}

void pci_config_read(struct pci_dev *dev, unsigned offset, uint8_t *data, unsigned len)
{
	counter_inc(&dev->exits);
	if (len > 4 || offset >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - offset ||
	    (!dev->is_express && offset >= PCI_CFG_LEGACY_SIZE)) {
		memset(data, 0xff, len > 4 ? 4 : len);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	memcpy(data, &dev->cfg[offset], len);
	pthread_mutex_unlock(&dev->lock);
	if (dev->ops && dev->ops->config_read)
		dev->ops->config_read(dev, offset, data, len);
}

void pci_config_write(struct pci_dev *dev, unsigned offset, const uint8_t *data, unsigned len)
{
	counter_inc(&dev->exits);
	if (len > 4 || offset >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - offset ||
	    (!dev->is_express && offset >= PCI_CFG_LEGACY_SIZE))
		return;
	if (dev->ops && dev->ops->config_write_raw)
		dev->ops->config_write_raw(dev, offset, data, len);
	pthread_mutex_lock(&dev->lock);
	uint16_t old_cmd = (uint16_t)pci_cfg_get(dev, PCI_COMMAND, 2);
	for (unsigned i = 0; i < len; i++) {
		unsigned o = offset + i;
		uint8_t wm = dev->wmask[o], w1c = dev->w1cmask[o];
		dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~wm) | (data[i] & wm));
		dev->cfg[o] &= (uint8_t)~(data[i] & w1c);
	}
	if (overlaps(offset, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    overlaps(offset, len, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_5 + 4))
		update_bars(dev);
	/* PCI 3.0 §6.2.2: setting Interrupt Disable deasserts a pending INTx;
	 * clearing it asserts it again. */
	uint16_t cmd = (uint16_t)pci_cfg_get(dev, PCI_COMMAND, 2);
	bool intx_changed = (old_cmd ^ cmd) & PCI_COMMAND_INTX_DISABLE;
	bool intx_level = (pci_cfg_get(dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) &&
			  !(cmd & PCI_COMMAND_INTX_DISABLE);
	pthread_mutex_unlock(&dev->lock);
	if (intx_changed)
		irq_line_set(&dev->intx, intx_level);
	if (dev->ops && dev->ops->config_written)
		dev->ops->config_written(dev, offset, len);
}

void pci_dev_restore_config(struct pci_dev *dev, const uint8_t *cfg, unsigned len)
{
	if (len > PCI_CFG_SIZE)
		len = PCI_CFG_SIZE;
	pthread_mutex_lock(&dev->lock);
	memcpy(dev->cfg, cfg, len);
	update_bars(dev);
	uint16_t cmd = (uint16_t)pci_cfg_get(dev, PCI_COMMAND, 2);
	bool intx_level = (pci_cfg_get(dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) &&
			  !(cmd & PCI_COMMAND_INTX_DISABLE);
	pthread_mutex_unlock(&dev->lock);
	irq_line_set(&dev->intx, intx_level);
	if (dev->ops && dev->ops->config_written)
		dev->ops->config_written(dev, 0, len);
}

int pci_dev_add_cap(struct pci_dev *dev, uint8_t id, const void *body, unsigned body_len)
{
	unsigned off = (dev->cap_free + 3) & ~3U;
	if (off + 2 + body_len > PCI_CFG_LEGACY_SIZE)
		return -ENOSPC;
	dev->cfg[off] = id;
	dev->cfg[off + 1] = 0;
	memcpy(&dev->cfg[off + 2], body, body_len);
	if (dev->last_cap)
		dev->cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	pci_cfg_set(dev, PCI_STATUS, 2, pci_cfg_get(dev, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
	dev->last_cap = (uint8_t)off;
	dev->cap_free = (uint16_t)(off + 2 + body_len);
	return (int)off;
}

int pci_dev_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, const void *body,
			unsigned body_len)
{
	unsigned off = (dev->ext_cap_free + 3) & ~3U;
	if (off + 4 + body_len > PCI_CFG_SIZE)
		return -ENOSPC;
	pci_cfg_set(dev, off, 4, (uint32_t)id | ((uint32_t)version << 16));
	memcpy(&dev->cfg[off + 4], body, body_len);
	if (dev->last_ext_cap) {
		uint32_t hdr = pci_cfg_get(dev, dev->last_ext_cap, 4);
		pci_cfg_set(dev, dev->last_ext_cap, 4, (hdr & 0xfffffU) | ((uint32_t)off << 20));
	}
	dev->last_ext_cap = (uint16_t)off;
	dev->ext_cap_free = (uint16_t)(off + 4 + body_len);
	return (int)off;
}

void pci_dev_set_intx(struct pci_dev *dev, bool level)
{
	pthread_mutex_lock(&dev->lock);
	uint16_t status = (uint16_t)pci_cfg_get(dev, PCI_STATUS, 2);
	status = level ? (status | PCI_STATUS_INTERRUPT) : (status & ~PCI_STATUS_INTERRUPT);
	pci_cfg_set(dev, PCI_STATUS, 2, status);
	bool disabled = pci_cfg_get(dev, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
	pthread_mutex_unlock(&dev->lock);
	irq_line_set(&dev->intx, level && !disabled);
}
