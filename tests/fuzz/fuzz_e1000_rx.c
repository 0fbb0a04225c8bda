// fuzz-sources: src/devices/e1000.c src/kvm/coalesced_mmio.c src/devices/e1000_rx.c src/devices/e1000_tx.c src/devices/e1000_gso.c src/devices/e1000_eeprom.c src/devices/e1000_irq.c src/devices/e1000_phy.c src/devices/e1000_state.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/inet_csum.c src/core/iov.c src/core/log.c src/core/device.c src/core/counters.c src/core/state.c tests/fuzz/harness.c tests/fuzz/net_stub.c
/* The e1000's receive path: frames from the backend placed in a receive
 * ring the guest controls. The fuzzer's bytes are guest RAM (the
 * descriptor ring and the buffer addresses in it) and choose the ring's
 * place, size, head and tail, RCTL (buffer sizes, long packets, CRC
 * stripping, filters), RXCSUM, VLAN handling and the filter tables; the
 * frames (any length, split into up to three pieces) come from the
 * input's tail, with the driver moving RDT and writing a register between
 * them. One header bit gives the port the vnet header (a tap's): the
 * device strips it, and a frame no longer than it is a runt.
 *
 * The device runs on a test port (devices/e1000.h), no backend; the
 * backend entry points e1000.c refers to are stubs that must never run.
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of
 * its exact size), no crash or UB, RDH always inside a usable ring, and a
 * refused frame only when the ring really lacks descriptors (the device
 * asks for the frame again once RDT moves). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "backends/net.h"
#include "bar_io.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "harness.h"

/* ---- the port ---- */

static unsigned resumes;

static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	fuzz_touch_iov(iov, iovcnt, 4); /* with the vnet header: 4 */
	return 0;
}

static void port_resume(void *opaque)
{
	resumes++;
}

/* ---- the driver side ---- */

#define RAM_SIZE 0x10000
#define HDR      32
#define MAX_FRAMES 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct guest_mem mem;

	if (size < HDR)
		return 0;
	/* The header: ring shape and placement, receive options, frames. */
	uint8_t flags = data[0];
	uint32_t n = (data[1] % 16 + 1) * 8;         /* 8..128 descriptors */
	uint32_t head = flags & 0x80 ? data[2] : data[2] % n; /* 0x80: maybe beyond the ring */
	uint32_t tail = data[3] % n;
	uint32_t base = flags & 0x40 ? le32_at(data + 4) : (uint32_t)data[4] << 4;
	uint32_t rctl = le32_at(data + 8) | RCTL_EN;
	uint32_t rxcsum = data[12];
	uint32_t vet = flags & 0x20 ? 0x8100 : (uint32_t)data[13] << 8 | 0x81;
	uint32_t filt_off = le32_at(data + 14) % E1000_MMIO_SIZE & ~3u;
	uint32_t filt_val = le32_at(data + 18);
	unsigned nframes = data[22] % MAX_FRAMES + 1;
	uint16_t frame_len[MAX_FRAMES];
	for (unsigned i = 0; i < MAX_FRAMES; i++)
		frame_len[i] = (uint16_t)(data[23 + i] << 6 | data[23 + i] >> 2);
	uint8_t tail_step = data[29], reg_op = data[30];
	bool vnet_hdr = data[31] & 1; /* frames behind a 12-byte vnet header, as from a tap */
	data += HDR;
	size -= HDR;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	/* Descriptor buffer addresses inside RAM mostly, so that the frame
	 * reaches the copying code; flag 1 leaves them as they are. */
	uint32_t ring = base & ~15u;
	if (!(flags & 1))
		for (uint32_t i = 0; i < n && (uint64_t)ring + (i + 1) * 16 <= RAM_SIZE; i++)
			ram[ring + i * 16 + 2] = ram[ring + i * 16 + 3] = ram[ring + i * 16 + 4] =
				ram[ring + i * 16 + 5] = ram[ring + i * 16 + 6] = ram[ring + i * 16 + 7] = 0;
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);

	struct e1000_port port = {.send = port_send, .rx_resume = port_resume,
				  .vnet_hdr = vnet_hdr};
	struct e1000 *e = e1000_create_port(mac, &mem, NULL, &port);
	if (!e)
		abort();
	struct pci_dev *pci = e1000_pci(e);
	pci_cfg_set(pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	bar0_wr(pci, E1000_CTRL, bar0_rd(pci, E1000_CTRL) | (flags & 2 ? CTRL_VME : 0));
	bar0_wr(pci, E1000_VET, vet);
	bar0_wr(pci, E1000_RXCSUM, rxcsum);
	bar0_wr(pci, E1000_IMS, ICR_VALID);
	bar0_wr(pci, filt_off, filt_val); /* one filter-table entry, or anything */
	bar0_wr(pci, E1000_RDBAL, base);
	bar0_wr(pci, E1000_RDBAH, flags & 0x10 ? 1 : 0);
	bar0_wr(pci, E1000_RDLEN, n * 16);
	bar0_wr(pci, E1000_RDH, head);
	bar0_wr(pci, E1000_RDT, tail);
	bar0_wr(pci, E1000_RCTL, rctl);

	/* The frames: the input's tail, rotated by frame. */
	uint8_t *frame = malloc(E1000_RX_MAX + 1);
	if (!frame)
		abort();
	for (unsigned f = 0; f < nframes; f++) {
		size_t len = frame_len[f] % (E1000_RX_MAX + 64);
		for (size_t i = 0; i < len; i++)
			frame[i] = size ? data[(size - 1 - (i + f * 131) % size)] : (uint8_t)i;
		size_t at = vnet_hdr ? NET_VNET_HDR_LEN : 0;
		if ((flags & 4) && len > at) /* to us, so that the filters let most through */
			memcpy(frame + at, mac, len - at < 6 ? len - at : 6);
		size_t a = len / 3, b = len / 2 + (f & 1);
		if (b > len)
			b = len;
		struct iovec iov[3] = {{frame, a}, {frame + a, b - a}, {frame + b, len - b}};
		/* The ring as the registers say now (a register write below
		 * may have moved it). */
		uint32_t rn = bar0_rd(pci, E1000_RDLEN) / 16, h0 = bar0_rd(pci, E1000_RDH);
		uint32_t t0 = bar0_rd(pci, E1000_RDT);
		uint64_t rb = (uint64_t)bar0_rd(pci, E1000_RDBAH) << 32 | bar0_rd(pci, E1000_RDBAL);
		bool usable = rn && h0 < rn && t0 < rn && rb + rn * 16ULL <= RAM_SIZE;
		unsigned before = resumes;
		bool taken = e1000_receive(e, iov, 3, len);
		uint32_t h1 = bar0_rd(pci, E1000_RDH);
		if (usable && (h1 >= rn || (!taken && h1 != h0)))
			abort();
		if (!taken && usable && (t0 + rn - h0) % rn == rn - 1)
			abort(); /* refused with every descriptor free */
		/* The driver gives back some descriptors, and pokes one
		 * register. An RDT write asks a refused frame again. */
		bar0_wr(pci, E1000_RDT, (t0 + tail_step) % (flags & 8 ? 0x10000 : n));
		if (!taken && resumes == before)
			abort();
		if (reg_op & (1u << f))
			bar0_wr(pci, le32_at(frame + (len >= 8 ? len - 8 : 0)) % E1000_MMIO_SIZE & ~3u,
			   bar0_rd(pci, E1000_ICR));
	}
	bar0_rd(pci, E1000_ICR);

	e1000_destroy(e);
	free(frame);
	free(ram);
	return 0;
}
