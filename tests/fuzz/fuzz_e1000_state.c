// fuzz-sources: src/devices/e1000.c src/kvm/coalesced_mmio.c src/devices/e1000_rx.c src/devices/e1000_tx.c src/devices/e1000_gso.c src/devices/e1000_eeprom.c src/devices/e1000_irq.c src/devices/e1000_phy.c src/devices/e1000_state.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/inet_csum.c src/core/iov.c src/core/log.c src/core/device.c src/core/counters.c src/core/state.c tests/fuzz/harness.c tests/fuzz/net_stub.c
/* The e1000's state loader (devices/e1000_state.c) against hostile
 * records: the fuzzer's bytes are a saved state, loaded into a fresh
 * instance through the device contract; then the guest goes on with a
 * few register writes (TDT, RDT, ICR, CTRL.RST), a received frame and a
 * loop round, on whatever state was loaded. Guest RAM (64 KiB) holds the
 * input repeated, so loaded rings point at arbitrary descriptors. The
 * seed corpus holds records of a fresh device and of devices mid-traffic
 * (rings at 0x1000 and 0x2000, half a packet gathered).
 *
 * Checked invariants, besides no crash, leak or UB: a refused record's
 * error names the device and a field, and leaves the instance as it was
 * (it saves the same bytes as before); an accepted one saves, that record
 * loads into another fresh instance, and saves the same bytes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "bar_io.h"
#include "core/device.h"
#include "core/state.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "harness.h"

#define RAM_SIZE 0x10000

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	fuzz_touch_iov(iov, iovcnt, 3);
	return 0;
}

static void port_resume(void *opaque)
{
}

/* ITR's clock stands still: a save states the same wait every time. */
static int64_t port_clock(void *opaque)
{
	return 1000000000;
}

static void sink_emit(void *opaque, const char *device, const char *scope, const char *name,
		      uint64_t value)
{
}

static struct loop *loop;

static struct e1000 *fresh(const struct guest_mem *mem)
{
	struct e1000_port port = {port_send, port_resume, NULL, port_clock};
	struct e1000 *e = e1000_create_port(mac, mem, loop, &port);
	if (!e)
		abort();
	return e;
}

static struct state_writer save(struct e1000 *e)
{
	struct state_writer w;
	state_writer_init(&w);
	if (device_save(e1000_device(e), &w) < 0 || state_writer_finish(&w) < 0)
		abort();
	return w;
}

static bool same(const struct state_writer *a, const struct state_writer *b)
{
	return a->len == b->len && !memcmp(a->buf, b->buf, a->len);
}

/* Loads len bytes at p into e: whether it was accepted. A refusal must
 * name the device; one by the device's loader must leave e as it was.
 * (Bytes after a record the loader took are refused by the reader once
 * the device has loaded: the machine's restore then fails as a whole.) */
static bool load(struct e1000 *e, const uint8_t *p, size_t len)
{
	struct state_writer before = save(e);
	struct state_reader r;
	state_reader_init(&r, p, len, e1000_device(e)->id);
	bool loaded = device_load(e1000_device(e), &r) == 0;
	bool ok = loaded && state_reader_finish(&r) == 0;
	if (!ok) {
		struct state_writer after = save(e);
		if (strncmp(state_error(&r), "e1000: field ", 13) || (!loaded && !same(&before, &after)))
			abort();
		state_writer_free(&after);
	}
	state_writer_free(&before);
	return ok;
}

/* An accepted state saves, loads into another instance and saves again
 * the same. */
static void round_trip(struct e1000 *e, const struct guest_mem *mem)
{
	struct state_writer a = save(e);
	struct e1000 *other = fresh(mem);
	if (!load(other, a.buf, a.len))
		abort();
	struct state_writer b = save(other);
	if (!same(&a, &b))
		abort();
	state_writer_free(&b);
	state_writer_free(&a);
	device_destroy(e1000_device(other));
}

/* What the guest does next: moves the tails, takes a frame, reads ICR,
 * and at last resets the device. */
static void drive(struct e1000 *e, const uint8_t *data, size_t size)
{
	struct pci_dev *pci = e1000_pci(e);
	uint8_t k = size ? data[size - 1] : 0;
	uint32_t tn = bar0_rd(pci, E1000_TDLEN) / 16, rn = bar0_rd(pci, E1000_RDLEN) / 16;
	uint8_t frame[64] = {0};
	memcpy(frame, mac, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
	struct iovec iov = {frame, sizeof(frame)};

	if (tn)
		bar0_wr(pci, E1000_TDT, (bar0_rd(pci, E1000_TDH) + 1 + (k & 7)) % tn);
	if (rn)
		bar0_wr(pci, E1000_RDT, (bar0_rd(pci, E1000_RDH) + 1 + (k >> 3 & 7)) % rn);
	e1000_receive(e, &iov, 1, sizeof(frame));
	bar0_rd(pci, E1000_ICR);
	fuzz_loop_round();
	struct counter_sink sink = {sink_emit, NULL};
	device_counters(e1000_device(e), &sink);
	bar0_wr(pci, E1000_CTRL, CTRL_RST);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem mem;
	if (!loop) {
		fuzz_quiet_log();
		loop = fuzz_loop();
	}
	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		abort();
	for (size_t i = 0; size && i < RAM_SIZE; i++)
		ram[i] = data[i % size];
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);

	struct e1000 *e = fresh(&mem);
	if (load(e, data, size))
		round_trip(e, &mem);
	drive(e, data, size);
	device_destroy(e1000_device(e));
	free(ram);
	return 0;
}
