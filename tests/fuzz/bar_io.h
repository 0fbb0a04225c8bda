/* Register access to a PCI function's BAR 0 as the vCPU makes it, for the
 * fuzz targets of devices with memory-mapped registers (the e1000's). */
#ifndef IOVIRT_TESTS_FUZZ_BAR_IO_H
#define IOVIRT_TESTS_FUZZ_BAR_IO_H

#include <stdint.h>

#include "bus/iobus.h"
#include "bus/pci.h"

static inline void bar0_wr(struct pci_dev *pci, uint32_t off, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	pci->bars[0].ops->write(pci->bars[0].opaque, off, b, 4);
}

static inline uint32_t bar0_rd(struct pci_dev *pci, uint32_t off)
{
	uint8_t b[4];
	pci->bars[0].ops->read(pci->bars[0].opaque, off, b, 4);
	return (uint32_t)iobus_load_le(b, 4);
}

/* A little-endian 32-bit value at p (fuzzer input, descriptors in RAM). */
static inline uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
