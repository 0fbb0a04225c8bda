#include "bus/pci_host.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>

#include "core/log.h"

#define CF8_ENABLE (1U << 31)

/* The bridge shows itself as a generic host bridge (Red Hat's PCIe host
 * bridge id, which Linux drives with no special quirks), with QEMU's
 * subsystem id: SeaBIOS takes the machine for QEMU's only then (fw_cfg). */
#define BRIDGE_VENDOR 0x1b36
#define BRIDGE_DEVICE 0x0008
#define BRIDGE_SUBSYS_VENDOR 0x1af4
#define BRIDGE_SUBSYS_ID 0x1100
#define CLASS_HOST_BRIDGE 0x060000

/* Finds the function at devfn on bus 0; NULL reads as all-ones. */
static struct pci_dev *lookup(struct pci_host *host, unsigned bus, unsigned devfn)
{
	if (bus != 0 || (devfn & 7) != 0)
		return NULL;
	return host->slots[devfn >> 3];
}

static void config_access(struct pci_host *host, unsigned bus, unsigned devfn, unsigned reg,
			  uint8_t *rdata, const uint8_t *wdata, unsigned len)
{
	struct pci_dev *dev = lookup(host, bus, devfn);
	if (!dev) {
		if (rdata)
			memset(rdata, 0xff, len);
		return;
	}
	if (rdata)
		pci_config_read(dev, reg, rdata, len);
	else
		pci_config_write(dev, reg, wdata, len);
}

static void cf8_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct pci_host *host = opaque;
	if (offset != 0 || len != 4) {
		memset(data, 0xff, len);
		return;
	}
	iobus_store_le(data, 4, __atomic_load_n(&host->config_address, __ATOMIC_ACQUIRE));
}

static void cf8_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct pci_host *host = opaque;
	/* Only dword writes latch the address (PCI 3.0 §3.2.2.3.2): byte
	 * writes to 0xCF8..0xCFB go to other legacy functions. */
	if (offset != 0 || len != 4)
		return;
	__atomic_store_n(&host->config_address, (uint32_t)iobus_load_le(data, 4) & ~3U,
			 __ATOMIC_RELEASE);
}

static void cfc_access(void *opaque, uint64_t offset, uint8_t *rdata, const uint8_t *wdata,
		       unsigned len)
{
	struct pci_host *host = opaque;
	uint32_t addr = __atomic_load_n(&host->config_address, __ATOMIC_ACQUIRE);
	if (!(addr & CF8_ENABLE) || offset + len > 4) {
		if (rdata)
			memset(rdata, 0xff, len);
		return;
	}
	unsigned bus = (addr >> 16) & 0xff, devfn = (addr >> 8) & 0xff;
	unsigned reg = (addr & 0xfc) + (unsigned)offset;
	config_access(host, bus, devfn, reg, rdata, wdata, len);
}

static void cfc_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	cfc_access(opaque, offset, data, NULL, len);
}

static void cfc_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	cfc_access(opaque, offset, NULL, data, len);
}

/* ECAM (PCIe 4.0 §7.2.2): bus << 20 | device << 15 | function << 12 | reg. */
static void ecam_access(void *opaque, uint64_t offset, uint8_t *rdata, const uint8_t *wdata,
			unsigned len)
{
	struct pci_host *host = opaque;
	unsigned reg = (unsigned)(offset & 0xfff);
	if (len > 4 || reg + len > PCI_CFG_SIZE || (reg & (len - 1))) {
		if (rdata)
			memset(rdata, 0xff, len);
		return;
	}
	config_access(host, (unsigned)(offset >> 20), (unsigned)(offset >> 12) & 0xff, reg, rdata,
		      wdata, len);
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	ecam_access(opaque, offset, data, NULL, len);
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	ecam_access(opaque, offset, NULL, data, len);
}

const struct iobus_ops pci_host_cf8_ops = {.read = cf8_read, .write = cf8_write};
const struct iobus_ops pci_host_cfc_ops = {.read = cfc_read, .write = cfc_write};
const struct iobus_ops pci_host_ecam_ops = {.read = ecam_read, .write = ecam_write};

int pci_host_init(struct pci_host *host, struct iobus *pio, struct iobus *mmio,
		  uint64_t mmio64_base,
		  struct irq_line (*intx_line)(void *opaque, unsigned gsi), void *intx_opaque)
{
	memset(host, 0, sizeof(*host));
	pthread_mutex_init(&host->lock, NULL);
	host->bus = (struct pci_bus_ctx){.pio = pio, .mmio = mmio};
	host->intx_line = intx_line;
	host->intx_opaque = intx_opaque;
	host->mmio32_next = PCI_MMIO32_BASE;
	host->mmio64_base = host->mmio64_next = mmio64_base;
	host->io_next = PCI_HOST_IO_BASE;

	pci_dev_init(&host->bridge, "host bridge", BRIDGE_VENDOR, BRIDGE_DEVICE,
		     CLASS_HOST_BRIDGE, 0, BRIDGE_SUBSYS_VENDOR, BRIDGE_SUBSYS_ID);
	pci_cfg_set(&host->bridge, PCI_INTERRUPT_PIN, 1, 0);
	host->bridge.bus = host->bus;
	host->slots[0] = &host->bridge;

	int ret = iobus_register(pio, 0xcf8, 4, &pci_host_cf8_ops, host);
	if (ret == 0)
		ret = iobus_register(pio, 0xcfc, 4, &pci_host_cfc_ops, host);
	if (ret == 0)
		ret = iobus_register(mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &pci_host_ecam_ops, host);
	if (ret < 0)
		log_error("PCI host bridge: cannot claim its config ports/ECAM: %s", strerror(-ret));
	return ret;
}

void pci_host_destroy(struct pci_host *host)
{
	if (host->bus.pio) {
		iobus_unregister(host->bus.pio, 0xcf8);
		iobus_unregister(host->bus.pio, 0xcfc);
	}
	if (host->bus.mmio)
		iobus_unregister(host->bus.mmio, PCI_ECAM_BASE);
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++)
		if (host->slots[s])
			pci_dev_unmap_bars(host->slots[s]);
	pci_dev_destroy(&host->bridge);
	pthread_mutex_destroy(&host->lock);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Places BAR i in its window, as firmware does before handing over. */
static int place_bar(struct pci_host *host, struct pci_dev *dev, int i)
{
	struct pci_bar *bar = &dev->bars[i];
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
	uint32_t flags = pci_cfg_get(dev, reg, 4) & (bar->type == PCI_BAR_IO ? 0x3U : 0xfU);
	uint64_t addr;
	switch (bar->type) {
	case PCI_BAR_IO:
		addr = align_up(host->io_next, bar->size);
		if (addr + bar->size > PCI_HOST_IO_BASE + PCI_HOST_IO_SIZE)
			return -ENOMEM;
		host->io_next = (uint32_t)(addr + bar->size);
		break;
	case PCI_BAR_MEM32:
		addr = align_up(host->mmio32_next, bar->size);
		if (addr + bar->size > PCI_MMIO32_BASE + PCI_MMIO32_SIZE)
			return -ENOMEM;
		host->mmio32_next = addr + bar->size;
		break;
	case PCI_BAR_MEM64:
		addr = align_up(host->mmio64_next, bar->size);
		if (addr + bar->size > host->mmio64_base + PCI_MMIO64_SIZE)
			return -ENOMEM;
		host->mmio64_next = addr + bar->size;
		pci_cfg_set(dev, reg + 4, 4, (uint32_t)(addr >> 32));
		break;
	default:
		return 0;
	}
	pci_cfg_set(dev, reg, 4, (uint32_t)addr | flags);
	return 0;
}

int pci_host_add(struct pci_host *host, struct pci_dev *dev)
{
	pthread_mutex_lock(&host->lock);
	int slot = -ENOSPC;
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
		if (!host->slots[s]) {
			slot = (int)s;
			break;
		}
	}
	if (slot < 0)
		goto out;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		int ret = place_bar(host, dev, i);
		if (ret < 0) {
			log_error("%s: no room for BAR%d in the PCI window", dev->name, i);
			slot = ret;
			goto out;
		}
	}
	dev->devfn = (uint8_t)(slot << 3);
	dev->bus = host->bus;
	unsigned gsi = pci_intx_gsi((unsigned)slot, 0);
	if (host->intx_line)
		dev->intx = host->intx_line(host->intx_opaque, gsi);
	pci_cfg_set(dev, PCI_INTERRUPT_LINE, 1, gsi);
	host->slots[slot] = dev;
out:
	pthread_mutex_unlock(&host->lock);
	return slot;
}
