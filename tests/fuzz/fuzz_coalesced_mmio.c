// fuzz-sources: src/kvm/coalesced_mmio.c src/bus/iobus.c src/core/log.c
/* The replay of KVM's coalesced MMIO ring (kvm/coalesced_mmio.c): the
 * fuzzer's bytes are the ring page as iovirt finds it (the indices KVM
 * keeps, the addresses, lengths and data the guest chose), replayed onto
 * an MMIO and a port bus with a device on each. Checked, besides no crash
 * or UB: the replay touches only the page, hands the buses no access
 * longer than 8 bytes, and replays at most one ring's worth. */
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus/iobus.h"
#include "kvm/coalesced_mmio.h"

#define PAGE 4096
#define RING_ENTRIES ((PAGE - sizeof(struct kvm_coalesced_mmio_ring)) / sizeof(struct kvm_coalesced_mmio))

static unsigned writes;

static void dev_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void dev_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	if (len > 8)
		abort();
	volatile uint8_t sink = 0;
	for (unsigned i = 0; i < len; i++)
		sink ^= data[i];
	(void)sink;
	writes++;
}

static const struct iobus_ops dev_ops = {.read = dev_read, .write = dev_write};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iobus *mmio, *pio;
	if (!mmio) {
		mmio = iobus_create("mmio");
		pio = iobus_create("pio");
		if (!mmio || !pio || iobus_register(mmio, 0, 1ull << 32, &dev_ops, NULL) < 0 ||
		    iobus_register(pio, 0, 0x10000, &dev_ops, NULL) < 0)
			abort();
	}
	/* Exactly a page, from the heap: ASan sees any access past it. */
	uint8_t *page = malloc(PAGE);
	if (!page)
		abort();
	memset(page, 0, PAGE);
	memcpy(page, data, size < PAGE ? size : PAGE);
	struct coalesced_mmio c;
	coalesced_mmio_init(&c);
	coalesced_mmio_attach(&c, -1, (struct kvm_coalesced_mmio_ring *)page, mmio, pio);
	writes = 0;
	uint64_t missed = iobus_unclaimed_count(mmio) + iobus_unclaimed_count(pio);
	coalesced_mmio_drain(&c);
	/* Every replayed write reached a device or was counted as unclaimed
	 * (an address above the 4 GiB the device covers). */
	missed = iobus_unclaimed_count(mmio) + iobus_unclaimed_count(pio) - missed;
	if (c.writes > RING_ENTRIES || c.writes != writes + missed)
		abort();
	coalesced_mmio_destroy(&c);
	free(page);
	return 0;
}
