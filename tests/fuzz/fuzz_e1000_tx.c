// fuzz-sources: src/devices/e1000.c src/kvm/coalesced_mmio.c src/devices/e1000_rx.c src/devices/e1000_tx.c src/devices/e1000_gso.c src/devices/e1000_eeprom.c src/devices/e1000_irq.c src/devices/e1000_phy.c src/devices/e1000_state.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/inet_csum.c src/core/iov.c src/core/log.c src/core/device.c src/core/counters.c src/core/state.c tests/fuzz/harness.c tests/fuzz/net_stub.c
/* The e1000's transmit path against a hostile driver: the fuzzer's bytes
 * are guest RAM (the descriptor ring and every buffer: legacy, context and
 * data descriptors, TSO contexts, checksum offsets) and choose the ring's
 * place, size, head and tail; the device is then rung through TDT (and
 * TCTL), given a few arbitrary register writes from the input, and rung
 * again.
 *
 * The device runs on a test port (devices/e1000.h), no backend: the port
 * checks what the device sends (every byte readable under ASan, at most
 * NET_MAX_FRAME bytes, at most 3 pieces) and now and then refuses a frame
 * as a full backend would. Flag 4 gives the port the vnet header, as on a
 * tap: then every frame has a header in front (a 4th piece), and a GSO
 * one must be one the kernel takes: a TCP GSO type, NEEDS_CSUM with the
 * checksum inside hdr_len, hdr_len inside the frame and more than one
 * gso_size of payload behind it. The backend entry points e1000.c refers to are
 * stubs that must never run. It has a loop, as in a VM, so a TDT write
 * only schedules the ring; the loop is not run: the target runs the
 * transmit rounds itself (e1000_tx_run, bounded rounds as the loop would).
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of
 * its exact size), no crash or UB, bounded frames, nothing sent by a TDT
 * write of more than E1000_TX_INLINE_DESCS descriptors itself, and TDH
 * caught up with TDT whenever the ring was usable. */
#include <endian.h>
#include <errno.h>
#include <linux/pci_regs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "bar_io.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "harness.h"

/* ---- the port ---- */

static unsigned sends;
static bool vnet_hdr;

static uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A virtio_net_hdr_v1 (linux/virtio_net.h) in front of a frame of len. */
static void check_vnet_hdr(const struct iovec *h, size_t len)
{
	const uint8_t *v = h->iov_base;
	if (h->iov_len != NET_VNET_HDR_LEN || le16_get(v + 10))
		abort();
	if (!v[1]) { /* not GSO: nothing asked of the kernel */
		if (v[0] || le16_get(v + 2) || le16_get(v + 4) || le16_get(v + 6) || le16_get(v + 8))
			abort();
		return;
	}
	size_t hdr = le16_get(v + 2), mss = le16_get(v + 4);
	unsigned type = v[1] & 0x7F;
	if (v[0] != 1 || (type != 1 && type != 4) || !mss || hdr > len || len - hdr <= mss ||
	    le16_get(v + 8) != 16 || le16_get(v + 6) + 18u > hdr)
		abort();
}

static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	size_t h = vnet_hdr ? NET_VNET_HDR_LEN : 0;
	size_t len = fuzz_touch_iov(iov, iovcnt, vnet_hdr ? 4 : 3);
	if (len > h + NET_MAX_FRAME)
		abort();
	if (vnet_hdr)
		check_vnet_hdr(&iov[0], len - h);
	return ++sends % 7 ? 0 : -EAGAIN;
}

/* ---- the driver side ---- */

#define RAM_SIZE 0x20000 /* 128 KiB: room for a 64 KiB segmentation payload */
#define HDR      24

/* Points descriptor d's buffer inside RAM (and its length below 64 KiB), so
 * that the input reaches the gathering and segmentation code instead of
 * stopping at "outside RAM" every time. */
static void fix_desc(uint8_t *d)
{
	uint64_t a;
	memcpy(&a, d, 8);
	a = htole64(le64toh(a) % RAM_SIZE);
	memcpy(d, &a, 8);
	if (d[11] & TXD_CMD_DEXT)
		d[10] &= 0xF0; /* DTALEN bits 19:16 */
}

/* Puts a well-formed segmentation context and one data descriptor at the
 * ring's start (parameters from p[0..4]), so that every run with this
 * option segments: the MSS, the payload length and the offload options
 * vary, the headers are the input's bytes at 1000h (IPv4 offsets with
 * TUCMD.IP, IPv6 ones without). p[4] bit 0 makes those headers agree with
 * the context (Ethernet type, IP version, header length and protocol, TCP
 * data offset), as a driver's do, so that a vnet-header port sends GSO. */
static void seed_tso(uint8_t *d, const uint8_t *p, uint8_t *ram)
{
	bool v4 = p[3] & TUCMD_IP;
	uint8_t hdrlen = v4 ? 54 : 74, tucss = v4 ? 34 : 54;
	uint16_t mss = (uint16_t)(1 + p[0] * 8);
	uint32_t len = (uint32_t)(p[1] << 8 | p[2]) % 0xF000 + hdrlen;
	uint32_t lower;
	memset(d, 0, 32);
	d[0] = 14;                 /* IPCSS */
	d[1] = v4 ? 24 : 0;        /* IPCSO */
	d[2] = v4 ? 33 : 0;        /* IPCSE */
	d[4] = tucss;              /* TUCSS */
	d[5] = tucss + 16;         /* TUCSO */
	lower = (len - hdrlen) | (uint32_t)TXD_DTYP_CTX << 20 |
		(uint32_t)(TXD_CMD_DEXT | TXD_CMD_TSE | (p[3] & (TUCMD_IP | TUCMD_TCP))) << 24;
	lower = htole32(lower);
	memcpy(d + 8, &lower, 4);
	d[13] = hdrlen;            /* HDRLEN */
	if (p[4] & 1) {
		uint8_t *h = ram + 0x1000;
		h[12] = v4 ? 0x08 : 0x86;
		h[13] = v4 ? 0x00 : 0xDD;
		h[14] = v4 ? 0x45 : 0x60;
		h[v4 ? 23 : 20] = 6;  /* protocol / next header: TCP */
		h[tucss + 12] = 5 << 4;
	}
	d[14] = (uint8_t)mss;
	d[15] = (uint8_t)(mss >> 8);
	uint64_t addr = htole64(0x1000);
	memcpy(d + 16, &addr, 8);
	lower = htole32(len | (uint32_t)TXD_DTYP_DATA << 20 |
			(uint32_t)(TXD_CMD_DEXT | TXD_CMD_TSE | TXD_CMD_EOP | TXD_CMD_RS |
				   (p[4] & TXD_CMD_VLE)) << 24);
	memcpy(d + 24, &lower, 4);
	d[29] = p[3] >> 4 & (TXD_POPTS_IXSM | TXD_POPTS_TXSM);
}

/* The rounds a TDT write scheduled, as the loop runs them: each moves TDH
 * on by at least one descriptor until it reaches TDT, so a ring of n
 * catches up within n. */
static void run_ring(struct e1000 *e, uint32_t n)
{
	for (uint32_t r = 0; r < n; r++)
		e1000_tx_run(e);
}

static struct loop *loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct guest_mem mem;

	if (size < HDR)
		return 0;
	/* The header: ring shape and placement, which descriptors to fix up,
	 * device options. */
	uint8_t flags = data[0];
	uint32_t n = (data[1] % 8 + 1) * 8;          /* 8..64 descriptors */
	uint32_t head = flags & 0x80 ? data[2] : data[2] % n;
	uint32_t tail = flags & 0x40 ? data[3] : data[3] % n;
	uint32_t tail2 = data[4] % n;
	uint64_t fix;
	memcpy(&fix, data + 5, 8);
	uint32_t base = flags & 0x20 ? le32_at(data + 13) : 0;
	uint32_t itr = data[17];
	unsigned nops = data[18] % 8;
	data += HDR;
	size -= HDR;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	uint32_t ring = base & ~15u;
	for (uint32_t i = 0; i < n && i < 64; i++)
		if ((fix >> i & 1) && (uint64_t)ring + (i + 1) * 16 <= RAM_SIZE)
			fix_desc(ram + ring + i * 16);
	if ((flags & 0x08) && (uint64_t)ring + 32 <= RAM_SIZE)
		seed_tso(ram + ring, data - HDR + 19, ram);
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);

	vnet_hdr = flags & 4;
	struct e1000_port port = {.send = port_send, .vnet_hdr = vnet_hdr};
	if (!loop)
		loop = fuzz_loop();
	struct e1000 *e = e1000_create_port(mac, &mem, loop, &port);
	if (!e)
		abort();
	struct pci_dev *pci = e1000_pci(e);
	pci_cfg_set(pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	bar0_wr(pci, E1000_CTRL, bar0_rd(pci, E1000_CTRL) | (flags & 1 ? CTRL_VME : 0));
	bar0_wr(pci, E1000_IMS, ICR_VALID);
	bar0_wr(pci, E1000_ITR, itr);
	bar0_wr(pci, E1000_TDBAL, base);
	bar0_wr(pci, E1000_TDBAH, flags & 0x10 ? 1 : 0);
	bar0_wr(pci, E1000_TDLEN, n * 16);
	bar0_wr(pci, E1000_TDH, head);
	bar0_wr(pci, E1000_TCTL, TCTL_EN | (flags & 2 ? TCTL_PSP : 0));
	unsigned sent = sends;
	uint32_t h = bar0_rd(pci, E1000_TDH);
	bool ring_ok = h < n && tail < n, inline_tx = ring_ok && (tail + n - h) % n <= E1000_TX_INLINE_DESCS;
	bar0_wr(pci, E1000_TDT, tail);
	if (!inline_tx && (sends != sent || bar0_rd(pci, E1000_TDH) != h))
		abort(); /* more than a few descriptors: the ring is the loop's */
	run_ring(e, n);
	bool usable = !(flags & 0x10) && head < n && tail < n && (uint64_t)ring + n * 16 <= RAM_SIZE;
	if (usable && bar0_rd(pci, E1000_TDH) != tail)
		abort();

	/* A few register writes from the input's end (anything, reset
	 * included), then the ring is rung again. */
	for (unsigned i = 0; i < nops && size >= 8 * (i + 1); i++) {
		const uint8_t *op = data + size - 8 * (i + 1);
		bar0_wr(pci, le32_at(op) % E1000_MMIO_SIZE & ~3u, le32_at(op + 4));
	}
	bar0_wr(pci, E1000_TDT, tail2);
	bar0_wr(pci, E1000_TCTL, bar0_rd(pci, E1000_TCTL) | TCTL_EN);
	run_ring(e, n);
	bar0_rd(pci, E1000_ICR);
	bar0_rd(pci, E1000_STATS + 4 * (0x40F8 - E1000_STATS) / 4);

	e1000_destroy(e);
	free(ram);
	return 0;
}
