// fuzz-sources: src/virtio/virtio_pci.c src/virtio/virtio_state.c src/core/device.c src/core/counters.c src/bus/pci_state.c src/virtio/virtio.c src/virtio/virtqueue.c src/virtio/console.c src/virtio/rng.c src/virtio/queue_service.c src/core/state.c src/bus/pci.c src/bus/msix.c src/bus/iobus.c src/bus/irq_routing.c src/backends/term.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/iov.c src/core/log.c tests/fuzz/harness.c
/* The virtio-pci transport as a state machine against a hostile driver: a
 * real device (virtio-console on a socket pair, or virtio-rng; the first
 * byte picks) bound to virtio-pci, driven by a sequence of operations
 * decoded from the input: common-config reads and writes at any offset and
 * width, status writes, queue select/size/addresses/enable/vector, notify
 * writes, ISR reads, device-config reads and writes, MSI-X table and PBA
 * reads and writes, config-space accesses (MSI-X enable, the pci_cfg
 * window onto BAR0), writes into guest RAM (ring contents), console input,
 * and event-loop rounds that deliver the kicks. Everything (RAM, device,
 * transport) is made afresh for each input.
 *
 * Checked invariants, after every operation: no crash, leak or UB (RAM is
 * one malloc of its exact size); a live device has DRIVER_OK set and only
 * validated rings behind its enabled queues (virtio_queue_ready); status
 * bits the driver set stay set until it writes 0. */
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus/iobus.h"
#include "harness.h"
#include "virtio/console.h"
#include "virtio/rng.h"
#include "virtio/virtio_pci.h"

#define RAM_SIZE 0x4000 /* small: addresses from two input bytes hit it often */
#define MAX_OPS 256

static struct guest_mem mem;
static struct loop *loop;
static struct iobus *pio, *mmio;

/* The input, read front to back; past its end every byte reads 0. */
struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

/* Little-endian; the reads are sequenced (operand order is not). */
static uint16_t u16(struct input *in)
{
	uint16_t lo = u8(in);
	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t lo = u16(in);
	return lo | (uint32_t)u16(in) << 16;
}

static unsigned width(struct input *in)
{
	return 1u << (u8(in) % 4); /* 1, 2, 4, 8 */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	loop = fuzz_loop();
	pio = iobus_create("pio");
	mmio = iobus_create("mmio");
	if (!pio || !mmio)
		abort();
	return 0;
}

/* The device under test and its transport. */
struct dut {
	struct virtio_pci vp;
	struct virtio_dev *vdev;
	struct virtio_console *con;
	struct virtio_rng *rng;
	int fds[2]; /* the console's end, and its far end: input in, output drained */
	uint8_t driver_bits; /* status bits the driver set since its last reset */
};

static void bar0_wr(struct dut *d, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];
	iobus_store_le(b, len, v);
	d->vp.pci.bars[0].ops->write(d->vp.pci.bars[0].opaque, off, b, len);
}

static void bar0_rd(struct dut *d, uint64_t off, unsigned len)
{
	uint8_t b[8];
	d->vp.pci.bars[0].ops->read(d->vp.pci.bars[0].opaque, off, b, len);
}

static void status_wr(struct dut *d, uint8_t s)
{
	bar0_wr(d, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1, s);
}

static void common_wr(struct dut *d, unsigned field, unsigned len, uint64_t v)
{
	bar0_wr(d, VIRTIO_PCI_COMMON_OFF + field, len, v);
}

/* A guest memory address: mostly inside RAM, now and then far out. */
static uint64_t gpa(struct input *in)
{
	uint16_t v = u16(in);
	return v & 0x8000 ? (uint64_t)(v & 0x7fff) << 20 : v % (RAM_SIZE + 0x100);
}

/* What a driver does to set up one queue (§4.1.5.1.3), with the fuzzer's
 * values: the shortest way to a ring the device validates and runs. */
static void queue_setup(struct dut *d, struct input *in)
{
	uint8_t flags = u8(in);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, flags % (d->vdev->nqueues + 1));
	common_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, 2, 1u << (u8(in) % 10));
	common_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, 4, gpa(in));
	common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, gpa(in));
	common_wr(d, VIRTIO_PCI_COMMON_Q_USEDLO, 4, gpa(in));
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, 2, u8(in) % 4);
	if (flags & 0x80)
		common_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

/* ACKNOWLEDGE, DRIVER, features (what the device offers, masked by the
 * input), FEATURES_OK. */
static void negotiate(struct dut *d, struct input *in)
{
	uint64_t lo = u32(in);
	uint64_t f = d->vdev->device_features & (lo | (uint64_t)u32(in) << 32);
	status_wr(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (unsigned half = 0; half < 2; half++) {
		common_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 4, half);
		common_wr(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(f >> (32 * half)));
	}
	status_wr(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK);
}

static void cfg_wr(struct dut *d, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, len, v);
	pci_config_write(&d->vp.pci, off, b, len);
}

static void drain_output(struct dut *d)
{
	uint8_t buf[4096];
	while (d->fds[1] >= 0 && read(d->fds[1], buf, sizeof(buf)) > 0)
		;
}

static void round_trip(struct dut *d)
{
	fuzz_loop_round();
	drain_output(d);
}

static void check(struct dut *d)
{
	struct virtio_dev *v = d->vdev;
	pthread_mutex_lock(&v->lock);
	if (v->live && !(v->status & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();
	for (unsigned q = 0; v->live && q < v->nqueues; q++)
		if (v->queues[q].enabled && !virtio_queue_ready(v, q))
			abort();
	/* §2.1.2: only a reset (to 0) clears what the driver set. */
	uint8_t driver_bits = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK |
			      VIRTIO_CONFIG_S_FAILED;
	if (v->status && (d->driver_bits & ~v->status))
		abort();
	d->driver_bits = v->status & driver_bits;
	pthread_mutex_unlock(&v->lock);
}

static void op(struct dut *d, struct input *in)
{
	uint8_t code = u8(in);
	switch (code % 14) {
	case 0: { /* common config write, any offset and width */
		unsigned off = u8(in) % 0x40, len = width(in);
		uint32_t v = u32(in);
		bar0_wr(d, VIRTIO_PCI_COMMON_OFF + off, len, v);
		break;
	}
	case 1: {
		unsigned off = u8(in) % 0x40;
		bar0_rd(d, VIRTIO_PCI_COMMON_OFF + off, width(in));
		break;
	}
	case 2:
		status_wr(d, u8(in));
		break;
	case 3:
		queue_setup(d, in);
		break;
	case 4: { /* notify: a queue's address, or anywhere in the area */
		uint8_t q = u8(in);
		uint64_t off = q & 0x80 ? u16(in) % 0x1000 : (q % 4u) * VIRTIO_PCI_NOTIFY_MULTIPLIER;
		bar0_wr(d, VIRTIO_PCI_NOTIFY_OFF + off, 2, q);
		round_trip(d);
		break;
	}
	case 5:
		bar0_rd(d, VIRTIO_PCI_ISR_OFF, 1);
		break;
	case 6: { /* device config window (and past it) */
		unsigned off = u8(in) % 0x40, len = width(in);
		if (code & 0x80)
			bar0_wr(d, VIRTIO_PCI_DEVICE_OFF + off, len, u32(in));
		else
			bar0_rd(d, VIRTIO_PCI_DEVICE_OFF + off, len);
		break;
	}
	case 7: { /* MSI-X table and PBA in BAR1 */
		unsigned off = u16(in) % VIRTIO_PCI_MSIX_BAR_SIZE, len = width(in);
		uint8_t b[8];
		if (code & 0x80) {
			iobus_store_le(b, len, u32(in));
			d->vp.pci.bars[1].ops->write(d->vp.pci.bars[1].opaque, off, b, len);
		} else {
			d->vp.pci.bars[1].ops->read(d->vp.pci.bars[1].opaque, off, b, len);
		}
		break;
	}
	case 8: { /* config space: the command register, MSI-X enable, pci_cfg */
		unsigned len = 1u << (u8(in) % 3), off = u8(in) & ~(len - 1);
		uint32_t v = u32(in);
		if (code & 0x80) {
			/* MSI-X enable and mask, the easy way. */
			off = (unsigned)d->vp.msix.cap + PCI_MSIX_FLAGS;
			len = 2;
			v = v & 1 ? PCI_MSIX_FLAGS_ENABLE : v & PCI_MSIX_FLAGS_MASKALL;
		}
		cfg_wr(d, off, len, v);
		break;
	}
	case 9: {
		unsigned len = 1u << (u8(in) % 3), off = u8(in) & ~(len - 1);
		uint8_t b[4];
		pci_config_read(&d->vp.pci, off, b, len);
		break;
	}
	case 10: { /* guest RAM: ring contents, buffers */
		unsigned at = u16(in) % RAM_SIZE, n = u8(in);
		uint8_t *ram = guest_mem_ptr(&mem, 0, RAM_SIZE);
		for (unsigned i = 0; i < n && at + i < RAM_SIZE; i++)
			ram[at + i] = u8(in);
		break;
	}
	case 11:
		round_trip(d);
		break;
	case 12:
		negotiate(d, in);
		break;
	case 13: { /* console input */
		uint8_t buf[64];
		unsigned n = u8(in) % sizeof(buf);
		for (unsigned i = 0; i < n; i++)
			buf[i] = u8(in);
		if (d->fds[1] >= 0 && n && write(d->fds[1], buf, n) < 0)
			break; /* full: the device is not reading */
		round_trip(d);
		break;
	}
	}
}

static void dut_create(struct dut *d, bool console)
{
	memset(d, 0, sizeof(*d));
	d->fds[0] = d->fds[1] = -1;
	if (console) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, d->fds) < 0)
			abort();
		d->con = virtio_console_create(d->fds[0], d->fds[0], &mem, loop);
		if (!d->con)
			abort();
		d->vdev = virtio_console_dev(d->con);
	} else {
		d->rng = virtio_rng_create(&mem, loop);
		if (!d->rng)
			abort();
		d->vdev = virtio_rng_dev(d->rng);
	}
	if (virtio_pci_init(&d->vp, d->vdev, NULL, -1) < 0)
		abort();
	d->vp.pci.bus = (struct pci_bus_ctx){.pio = pio, .mmio = mmio};
}

static void dut_destroy(struct dut *d)
{
	virtio_pci_destroy(&d->vp);
	if (d->con) {
		virtio_console_destroy(d->con); /* it does not own its fds */
		close(d->fds[0]);
		close(d->fds[1]);
	}
	if (d->rng)
		virtio_rng_destroy(d->rng);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct input in = {data + 1, size - 1};
	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();

	static struct dut d;
	dut_create(&d, data[0] & 1);
	for (unsigned n = 0; n < MAX_OPS && in.left; n++) {
		op(&d, &in);
		check(&d);
	}
	round_trip(&d);
	check(&d);
	/* Nothing may touch RAM once it is gone: reset, then free. */
	status_wr(&d, 0);
	round_trip(&d);
	dut_destroy(&d);
	free(ram);
	return 0;
}
