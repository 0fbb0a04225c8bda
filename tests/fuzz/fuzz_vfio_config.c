// fuzz-sources: src/vfio/vfio_pci_config.c src/vfio/vfio_pci_irq.c src/bus/msix.c src/bus/pci.c src/bus/iobus.c src/bus/irq_routing.c src/core/log.c src/core/loop.c src/core/state.c tests/fuzz/harness.c
/* The configuration space of a passed-through function against a hostile
 * guest (and an odd device): the fuzzer's bytes are the device's config
 * space (any capability chain, loops included), its BAR sizes and VFIO's
 * interrupt counts, then a stream of guest config reads and writes (any
 * offset, 1/2/4 bytes) and MSI-X table writes. The device is a memfd laid
 * out like a VFIO device fd (config region at offset 0); no KVM.
 *
 * Checked invariants: no crash or UB, no access outside the 4 KiB config
 * space or the device region, the guest-visible capability chain ends. */
#include <linux/pci_regs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "vfio/vfio_pci.h"

#define CFG 4096

static int dev_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	dev_fd = memfd_create("fuzz-vfio", MFD_CLOEXEC);
	if (dev_fd < 0 || ftruncate(dev_fd, CFG) < 0)
		abort();
	return 0;
}

static void no_read(void *o, uint64_t off, uint8_t *d, unsigned len) { memset(d, 0, len); }
static void no_write(void *o, uint64_t off, const uint8_t *d, unsigned len) {}
static const struct iobus_ops bar_ops = {.read = no_read, .write = no_write};
static const struct pci_dev_ops hooks = {
	.config_read = vfio_pci_config_read,
	.config_write_raw = vfio_pci_config_write_raw,
	.config_written = vfio_pci_config_written,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 256 + 8)
		return 0;
	/* The device: 256 bytes of config (the rest zero), then sizes. */
	uint8_t cfg[CFG] = {0};
	memcpy(cfg, data, 256);
	if (pwrite(dev_fd, cfg, CFG, 0) != CFG)
		abort();
	data += 256;
	size -= 256;

	static struct vfio_pci v;
	memset(&v, 0, sizeof(v));
	v.fd = dev_fd;
	v.cfg_size = data[0] & 1 ? CFG : 256;
	v.intx_count = data[0] >> 1 & 1;
	v.msi_count = data[0] >> 2 & 1;
	v.msix_vectors = data[1];
	for (int i = 0; i < PCI_NUM_BARS; i++)
		v.bars[i].size = data[2 + i] % 24 ? 1ULL << (data[2 + i] % 24 + 3) : 0;
	v.intx_fd = v.resample_fd = v.msi_fd = v.msi_gsi = -1;
	memcpy(v.bdf, "0000:01:00.0", 13);
	pthread_mutex_init(&v.irq_lock, NULL);
	data += 8;
	size -= 8;
	if (vfio_pci_config_init(&v, &hooks, &bar_ops) == 0) {
		if (vfio_pci_irq_init(&v) < 0)
			v.msix_cap = 0;
		/* The guest: 8-byte operations. */
		for (; size >= 8; data += 8, size -= 8) {
			unsigned off = (data[0] | data[1] << 8) % CFG;
			unsigned len = 1u << (data[2] % 3);
			uint8_t buf[4];
			memcpy(buf, data + 4, 4);
			switch (data[3] % 3) {
			case 0:
				pci_config_read(&v.pci, off, buf, len);
				break;
			case 1:
				pci_config_write(&v.pci, off, buf, len);
				break;
			default:
				if (v.msix_cap)
					msix_bar_write(&v.msix, v.msix_table_off + (off % 0x400), buf, len);
				break;
			}
		}
		/* The chain the guest walks ends. */
		unsigned n = 0;
		for (unsigned off = pci_cfg_get(&v.pci, PCI_CAPABILITY_LIST, 1); off && n < 64;
		     off = pci_cfg_get(&v.pci, off + 1, 1))
			n++;
		if (n == 64)
			abort();
		vfio_pci_irq_destroy(&v);
		pci_dev_destroy(&v.pci);
	}
	pthread_mutex_destroy(&v.irq_lock);
	return 0;
}
