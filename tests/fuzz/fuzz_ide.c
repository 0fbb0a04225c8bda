// fuzz-sources: src/devices/ide.c src/devices/ide_xfer.c src/devices/ide_ata.c src/devices/ide_atapi.c src/devices/ide_state.c src/core/device.c src/core/state.c src/core/counters.c src/bus/pci.c src/bus/pci_state.c src/bus/iobus.c src/backends/block.c src/backends/block_flush.c src/backends/block_threads.c src/sandbox/sandbox.c src/backends/term.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c
/* The PIIX3 IDE controller against a hostile driver: the fuzzer's bytes
 * are guest RAM (PRD tables and the buffers they point at) and a script of
 * port accesses: task-file and control registers of both channels, data
 * port words and dwords (the items of a rep insw/outsw), bus-master
 * registers of any width, and rounds of the event loop in between, so
 * commands, DMA starts and resets land while requests are with the
 * backend. Behind it: an ATA disk, a read-only ATA disk and a CD-ROM on
 * small temporary images (thread-pool engine; io_uring stubbed out).
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of its
 * exact size), no crash or UB, every backend request completes, and a
 * save of whatever state the script left loads back. FUZZ_VERBOSE=1 shows
 * the controller's log. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/iobus.h"
#include "core/state.h"
#include "devices/ide.h"
#include "devices/ide_priv.h"
#include "harness.h"

#define RAM_SIZE 0x20000
#define DISK_SIZE 0x10000
#define CD_SIZE (16 * 2048)
#define MAX_OPS 4096
#define MAX_REP 512

static struct guest_mem mem;
static struct iobus *pio;
static struct ide_ctrl *ctrl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	char disk[64], rodisk[64], cd[64];
	fuzz_temp_image("ide-disk", DISK_SIZE, disk, sizeof(disk));
	fuzz_temp_image("ide-ro", DISK_SIZE, rodisk, sizeof(rodisk));
	fuzz_temp_image("ide-cd", CD_SIZE, cd, sizeof(cd));
	struct loop *loop = fuzz_loop();
	guest_mem_init_empty(&mem);
	pio = iobus_create("pio");
	struct ide_options o = {.name = "ide-fuzz", .pio = pio};
	o.drive[0] = (struct ide_drive_options){.path = disk, .engine = BLK_ENGINE_THREADS};
	o.drive[1] = (struct ide_drive_options){.path = rodisk, .readonly = true,
						.engine = BLK_ENGINE_THREADS};
	o.drive[2] = (struct ide_drive_options){.path = cd, .cdrom = true,
						.engine = BLK_ENGINE_THREADS};
	ctrl = ide_create(&o, &mem, loop);
	unlink(disk); /* the backends keep them open */
	unlink(rodisk);
	unlink(cd);
	if (!pio || !ctrl)
		abort();
	return 0;
}

static bool busy(void)
{
	pthread_mutex_lock(&ctrl->lock);
	bool b = false;
	for (unsigned i = 0; i < IDE_CHANNELS; i++)
		b |= ctrl->ch[i].phase == IDE_INFLIGHT || ctrl->ch[i].phase == IDE_STEP;
	pthread_mutex_unlock(&ctrl->lock);
	return b;
}

static void bm(unsigned off, uint32_t v, unsigned len, bool write)
{
	struct pci_bar *b = &ide_pci(ctrl)->bars[IDE_BMIDE_BAR];
	uint8_t d[4];
	memcpy(d, &v, 4);
	if (write)
		b->ops->write(b->opaque, off % 16, d, len);
	else
		b->ops->read(b->opaque, off % 16, d, len);
}

/* The ports a driver touches: both command blocks and control registers. */
static uint16_t port_of(uint8_t sel)
{
	static const uint16_t bases[] = {0x1f0, 0x170};
	unsigned ch = sel >> 7 & 1, reg = sel % 9;
	if (reg == 8)
		return ch ? 0x376 : 0x3f6;
	return (uint16_t)(bases[ch] + reg);
}

/* Quiesce everything the script left going, so nothing touches RAM once
 * it is freed: stop both bus masters, reset both channels, drain. */
static void settle(void)
{
	bm(BM_CMD, 0, 1, true);
	bm(8 + BM_CMD, 0, 1, true);
	uint8_t v = ATA_SRST;
	iobus_write(pio, 0x3f6, &v, 1);
	iobus_write(pio, 0x376, &v, 1);
	v = 0;
	iobus_write(pio, 0x3f6, &v, 1);
	iobus_write(pio, 0x376, &v, 1);
	fuzz_loop_drain(busy, 2);
}

static void save_load(void)
{
	struct state_writer w;
	state_writer_init(&w);
	if (device_save(ide_device(ctrl), &w) == 0 && state_writer_finish(&w) == 0) {
		struct state_reader r;
		state_reader_init(&r, w.buf, w.len, "ide-fuzz");
		if (device_load(ide_device(ctrl), &r) < 0)
			abort(); /* a record we wrote must load */
	}
	state_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* data[0]: how much of the input is RAM (in 64-byte units); data[1]:
	 * flags (bit 0: save and load at the end). */
	size_t ram_len = (size_t)data[0] * 64;
	bool round_trip = data[1] & 1;
	data += 2;
	size -= 2;
	if (ram_len > size)
		ram_len = size;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, ram_len);
	/* Repeat the RAM bytes at 64 KiB too: PRD tables live anywhere. */
	memcpy(ram + 0x10000, data, ram_len);
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();
	device_reset(ide_device(ctrl));
	data += ram_len;
	size -= ram_len;

	unsigned ops = 0;
	while (size >= 3 && ops++ < MAX_OPS) {
		uint8_t op = data[0], a = data[1], b = data[2];
		data += 3;
		size -= 3;
		uint8_t buf[4] = {b, a, b, a};
		switch (op % 8) {
		case 0: /* register write */
			iobus_write(pio, port_of(a), &b, 1);
			break;
		case 1: /* register read */
			iobus_read(pio, port_of(a), buf, 1);
			break;
		case 2: /* data port reads: a rep insw/insd */
		case 3: { /* data port writes: a rep outsw/outsd, or one word a|b<<8 */
			unsigned len = op & 0x10 ? 4 : 2, n = op & 0x20 ? 1 : 1 + (unsigned)b * 2;
			uint16_t port = op & 0x40 ? 0x170 : 0x1f0;
			if (op & 0x20) {
				buf[0] = a;
				buf[1] = b;
			}
			for (unsigned i = 0; i < n && i < MAX_REP; i++) {
				if (op % 8 == 2)
					iobus_read(pio, port, buf, len);
				else
					iobus_write(pio, port, buf, len);
			}
			break;
		}
		case 4: /* bus-master write */
			bm(a, (uint32_t)b | (uint32_t)a << 8 | (uint32_t)b << 24,
			   op & 0x10 ? 4 : op & 0x20 ? 2 : 1, true);
			break;
		case 5: /* bus-master read */
			bm(a, 0, op & 0x10 ? 4 : 1, false);
			break;
		case 6: /* the loop runs a round (steps go out, completions come) */
			fuzz_loop_round();
			break;
		default: /* a PRD table pointer and a start, as a driver does */
			bm((a & 1) * 8 + BM_PRD, (uint32_t)b << 12 | (uint32_t)(a & 0xf0), 4, true);
			bm((a & 1) * 8 + BM_CMD, (a & 2 ? BM_CMD_READ : 0) | BM_CMD_START, 1, true);
			break;
		}
	}
	fuzz_loop_drain(busy, 2);
	if (round_trip)
		save_load();
	settle();
	free(ram);
	guest_mem_init_empty(&mem);
	return 0;
}
