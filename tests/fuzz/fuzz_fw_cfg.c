// fuzz-sources: src/devices/fw_cfg.c src/devices/debugcon.c src/core/device.c src/core/state.c src/core/counters.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/log.c
/* The firmware's devices against a hostile guest: fw_cfg's selector, data
 * and DMA ports (DMA descriptors anywhere in or outside RAM, any control
 * word and length, pointing at any buffer), and the debug console, driven
 * as IN/OUT exits drive them. The device holds a few files as firmware
 * boot gives it (one large, so a read can be long).
 *
 * Checked invariants: no crash, leak or UB (ASan sees any access outside
 * the 64 KiB of RAM), a read fills exactly the bytes asked for, a DMA
 * transfer never writes RAM outside its descriptor's control word and the
 * buffer a read names, and a debug console line is never longer than its
 * bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"

#define RAM_SIZE 0x10000
static uint8_t ram[RAM_SIZE], shadow[RAM_SIZE];
static uint8_t big[40000];
static struct guest_mem mem;
static unsigned lines;

static void on_line(void *opaque, const char *line)
{
	if (strlen(line) > DEBUGCON_LINE_MAX)
		abort();
	lines++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_verbose(false);
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, 0, ram, RAM_SIZE) < 0)
		abort();
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + 1);
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_cfg *c = fw_cfg_create(&mem);
	struct debugcon *d = debugcon_create(on_line, NULL);
	if (!c || !d || fw_cfg_add_file(c, "etc/small", "0123456789", 10) < 0 ||
	    fw_cfg_add_file(c, "etc/big", big, sizeof(big)) < 0)
		abort();
	memset(ram, 0, sizeof(ram));
	/* Each op: [kind][port offset][len][value x4][optional descriptor 16 + at 2]. */
	while (size >= 7) {
		uint8_t kind = data[0] % 4, off = data[1] % FW_CFG_PORT_LEN;
		unsigned len = 1u << (data[2] % 3);
		uint8_t v[4] = {data[3], data[4], data[5], data[6]};
		data += 7;
		size -= 7;
		if (kind == 0) { /* read */
			uint8_t out[8];
			memset(out, 0xAA, sizeof(out));
			fw_cfg_ops.read(c, off, out, len);
			if (len < sizeof(out) && out[len] != 0xAA)
				abort();
		} else if (kind == 1) { /* write */
			fw_cfg_ops.write(c, off, v, len);
		} else if (kind == 2 && size >= 18) { /* a DMA descriptor, then start it */
			uint16_t at = (uint16_t)(data[0] | data[1] << 8);
			if ((size_t)at + 16 <= RAM_SIZE)
				memcpy(ram + at, data + 2, 16);
			uint32_t control = be32(data + 2), length = be32(data + 6);
			uint64_t addr = (uint64_t)be32(data + 10) << 32 | be32(data + 14);
			memcpy(shadow, ram, RAM_SIZE);
			uint8_t a[4] = {0, 0, (uint8_t)(at >> 8), (uint8_t)at};
			fw_cfg_ops.write(c, 8, a, 4);
			/* Only the control word and [addr, addr + length) may change. */
			for (size_t i = 0; i < RAM_SIZE; i++) {
				bool ctl = i >= at && i < (size_t)at + 4;
				bool buf = (control & FW_CFG_DMA_READ) && i >= addr && i - addr < length;
				if (!ctl && !buf && ram[i] != shadow[i])
					abort();
			}
			data += 18;
			size -= 18;
		} else { /* the debug console */
			debugcon_ops.write(d, 0, v, 1);
		}
	}
	fw_cfg_destroy(c);
	debugcon_destroy(d);
	return 0;
}
