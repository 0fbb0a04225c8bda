/* A PCI function's state record (pci.h "State"): the config space and the
 * BAR placement. The model behind the function is the same on both sides,
 * so only what the guest could change travels; everything else must match
 * this instance or the record belongs to another device. */
#include "bus/pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>

#include "core/state.h"

#define PCI_STATE_VERSION 1

static unsigned cfg_size(const struct pci_dev *dev)
{
	return dev->is_express ? PCI_CFG_SIZE : PCI_CFG_LEGACY_SIZE;
}

/* A BAR slot that has a field of its own (the upper half of a 64-bit BAR
 * travels with the lower). */
static bool bar_declared(const struct pci_dev *dev, int i)
{
	return dev->bars[i].type != PCI_BAR_NONE && dev->bars[i].size;
}

static const char *const bar_field[PCI_NUM_BARS] = {"bar0", "bar1", "bar2",
						     "bar3", "bar4", "bar5"};

int pci_dev_save(struct pci_dev *dev, struct state_writer *w)
{
	uint8_t cfg[PCI_CFG_SIZE];
	pthread_mutex_lock(&dev->lock);
	memcpy(cfg, dev->cfg, cfg_size(dev));
	pthread_mutex_unlock(&dev->lock);

	state_begin(w, "pci", PCI_STATE_VERSION);
	state_put_bytes(w, "config", cfg, cfg_size(dev));
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!bar_declared(dev, i))
			continue;
		state_put_u64(w, bar_field[i], pci_bar_address(dev, i));
	}
	state_end(w);
	return w->error;
}

/* The identity registers: a record of another device model is refused by
 * name before anything else is looked at. */
static const struct {
	const char *name;
	unsigned offset, len;
} identity[] = {
	{"vendor", PCI_VENDOR_ID, 2},
	{"device", PCI_DEVICE_ID, 2},
	{"class", PCI_CLASS_PROG, 3},
	{"header type", PCI_HEADER_TYPE, 1},
};

static uint32_t get_le(const uint8_t *p, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t record_bar_address(const struct pci_dev *dev, const uint8_t *cfg, int i)
{
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
	uint32_t lo = get_le(cfg + reg, 4);
	switch (dev->bars[i].type) {
	case PCI_BAR_IO:
		return lo & ~0x3U;
	case PCI_BAR_MEM32:
		return lo & ~0xfU;
	case PCI_BAR_MEM64:
		return (lo & ~0xfULL) | ((uint64_t)get_le(cfg + reg + 4, 4) << 32);
	default:
		return 0;
	}
}

/* BAR i at addr (0: not programmed): aligned to its size, inside its
 * address space, and what the record's BAR registers say. */
static int check_bar(struct state_reader *r, const struct pci_dev *dev, const uint8_t *cfg,
		     int i, uint64_t addr)
{
	const char *name = bar_field[i];
	const struct pci_bar *bar = &dev->bars[i];
	uint64_t limit = bar->type == PCI_BAR_IO ? 0x10000 :
			 bar->type == PCI_BAR_MEM32 ? (1ULL << 32) : 0;
	if (addr & (bar->size - 1))
		return state_invalid(r, name, "0x%llx is not aligned to the BAR's size 0x%llx",
				     (unsigned long long)addr, (unsigned long long)bar->size);
	if (addr + bar->size < addr || (limit && addr + bar->size > limit))
		return state_invalid(r, name, "0x%llx + 0x%llx is outside the %s space",
				     (unsigned long long)addr, (unsigned long long)bar->size,
				     bar->type == PCI_BAR_IO ? "port I/O" :
				     bar->type == PCI_BAR_MEM32 ? "32-bit memory" : "memory");
	uint64_t in_cfg = record_bar_address(dev, cfg, i);
	if (in_cfg != addr)
		return state_invalid(r, name, "0x%llx, but the config space says 0x%llx",
				     (unsigned long long)addr, (unsigned long long)in_cfg);
	return 0;
}

/* Bits neither writable nor write-1-to-clear are the model's: the record's
 * must equal this instance's. Interrupt Status is read-only but the
 * device's live INTx level, so it travels. */
static int check_read_only(struct state_reader *r, const struct pci_dev *dev, const uint8_t *cfg)
{
	for (unsigned o = 0; o < cfg_size(dev); o++) {
		uint8_t fixed = (uint8_t)~(dev->wmask[o] | dev->w1cmask[o]);
		if (o == PCI_STATUS)
			fixed &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((cfg[o] ^ dev->cfg[o]) & fixed)
			return state_invalid(r, "config",
					     "read-only byte 0x%03x is 0x%02x, this device has 0x%02x",
					     o, cfg[o], dev->cfg[o]);
	}
	return 0;
}

int pci_dev_state_read(struct pci_dev *dev, struct state_reader *r, struct pci_state *s)
{
	uint64_t bar_addr[PCI_NUM_BARS] = {0};
	unsigned size = cfg_size(dev);
	memset(s, 0, sizeof(*s));
	uint8_t *cfg = s->cfg;

	state_enter(r, "pci", PCI_STATE_VERSION, NULL);
	state_get_bytes(r, "config", cfg, size);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!bar_declared(dev, i))
			continue;
		state_get_u64(r, bar_field[i], &bar_addr[i]);
	}
	if (state_failed(r))
		return -EINVAL;

	/* Validate all before applying anything; the section is left last so
	 * that errors name the pci section. dev->cfg is read under the lock:
	 * only the read-only bits are compared, and those the guest cannot
	 * change. */
	pthread_mutex_lock(&dev->lock);
	int ret = 0;
	for (size_t k = 0; k < sizeof(identity) / sizeof(identity[0]) && !ret; k++) {
		uint32_t mine = get_le(dev->cfg + identity[k].offset, identity[k].len);
		uint32_t theirs = get_le(cfg + identity[k].offset, identity[k].len);
		if (mine != theirs)
			ret = state_invalid(r, identity[k].name, "0x%0*x, this device has 0x%0*x",
					    (int)identity[k].len * 2, theirs,
					    (int)identity[k].len * 2, mine);
	}
	for (int i = 0; i < PCI_NUM_BARS && !ret; i++) {
		if (bar_declared(dev, i))
			ret = check_bar(r, dev, cfg, i, bar_addr[i]);
	}
	if (!ret)
		ret = check_read_only(r, dev, cfg);
	pthread_mutex_unlock(&dev->lock);
	if (ret || state_leave(r) < 0)
		return -EINVAL;
	s->len = size;
	return 0;
}

void pci_dev_state_apply(struct pci_dev *dev, const struct pci_state *s)
{
	if (s->len) /* 0: never accepted by pci_dev_state_read */
		pci_dev_restore_config(dev, s->cfg, s->len);
}

int pci_dev_load(struct pci_dev *dev, struct state_reader *r)
{
	struct pci_state s;
	if (pci_dev_state_read(dev, r, &s) < 0)
		return -EINVAL;
	pci_dev_state_apply(dev, &s);
	return 0;
}
