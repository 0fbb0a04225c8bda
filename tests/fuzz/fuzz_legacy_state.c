// fuzz-sources: src/devices/serial.c src/devices/i8042.c src/devices/rtc.c src/devices/acpi_pm.c src/devices/pvpanic.c src/devices/legacy_state.c src/core/device.c src/core/state.c src/core/counters.c src/core/loop.c src/core/log.c
/* The legacy devices' state loaders against hostile records: the first
 * byte picks the device (serial, i8042, rtc, acpi-pm, pvpanic), the second
 * how many 3-byte port accesses end the input; what lies between is the
 * record, loaded into a fresh instance through the device contract. Then
 * the guest pokes the loaded device and it saves once more.
 *
 * Checked invariants: no crash, leak or UB; a refused record names the
 * device and leaves the instance saving exactly as before (never
 * half-applied); an accepted one is canonical after one pass: its save,
 * loaded into another fresh instance, saves the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/loop.h"
#include "core/state.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"

#define NS 1000000000LL
#define T0 1795355159LL /* 2026-11-22 13:45:59 UTC: the host clock, still */

enum kind { SERIAL, I8042, RTC, ACPI_PM, PVPANIC, NKINDS };

static struct loop *loop; /* the RTC arms its timerfd on it; it never runs */

static int64_t fake_now(void *opaque)
{
	return T0 * NS;
}

static void on_power(void *opaque, enum power_request req) {}
static void on_panic(void *opaque, uint8_t event) {}
static void on_output(void *opaque, const uint8_t *buf, size_t len) {}

/* A fresh instance, its port ops (two for the i8042: data, command) and
 * the model they take. */
struct inst {
	struct device *dev;
	void *model;
	const struct iobus_ops *ops[2];
	unsigned width; /* ports each ops covers */
};

static struct inst make(enum kind k)
{
	struct power_ctl power = {.request = on_power};
	struct rtc_clock clock = {.now_ns = fake_now};
	struct inst in = {0};
	switch (k) {
	case SERIAL: {
		struct serial *s = serial_create((struct irq_line){0}, on_output, NULL, NULL);
		in = (struct inst){s ? serial_device(s) : NULL, s, {&serial_ops}, 8};
		break;
	}
	case I8042: {
		struct i8042 *p = i8042_create((struct irq_line){0}, (struct irq_line){0}, power);
		in = (struct inst){p ? i8042_device(p) : NULL, p,
				   {&i8042_data_ops, &i8042_command_ops}, 1};
		break;
	}
	case RTC: {
		struct rtc *r = rtc_create((struct irq_line){0}, &clock, loop);
		in = (struct inst){r ? rtc_device(r) : NULL, r, {&rtc_ops}, 2};
		break;
	}
	case ACPI_PM: {
		struct acpi_pm *pm = acpi_pm_create(power);
		in = (struct inst){pm ? acpi_pm_device(pm) : NULL, pm, {&acpi_pm_ops}, ACPI_PM_LEN};
		break;
	}
	default: {
		struct pvpanic *p = pvpanic_create(on_panic, NULL);
		in = (struct inst){p ? pvpanic_device(p) : NULL, p, {&pvpanic_ops}, 1};
		break;
	}
	}
	if (!in.dev)
		abort();
	return in;
}

/* The record the device saves now; aborts if it cannot. */
static struct state_writer save(struct inst *in)
{
	struct state_writer w;
	state_writer_init(&w);
	if (device_save(in->dev, &w) != 0 || state_writer_finish(&w) != 0)
		abort();
	return w;
}

static int same(const struct state_writer *a, const struct state_writer *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!getenv("FUZZ_VERBOSE")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null; /* the devices log guest errors */
	}
	loop = loop_create();
	if (!loop)
		abort();
	return 0;
}

#define OP_SIZE 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum kind k = (enum kind)(data[0] % NKINDS);
	size_t nops = data[1] % 16;
	data += 2;
	size -= 2;
	if (nops * OP_SIZE > size)
		nops = size / OP_SIZE;
	size_t rec_len = size - nops * OP_SIZE;
	const uint8_t *ops = data + rec_len;

	struct inst in = make(k);
	struct state_writer before = save(&in);
	struct state_reader r;
	state_reader_init(&r, data, rec_len, in.dev->id);
	if (device_load(in.dev, &r) != 0) {
		/* Refused: named, and nothing applied. */
		struct state_writer after = save(&in);
		if (!state_failed(&r) || strncmp(state_error(&r), in.dev->id, strlen(in.dev->id)))
			abort();
		if (!same(&before, &after))
			abort();
		state_writer_free(&after);
	} else {
		/* Taken: what it saves now loads and saves the same. */
		struct state_writer once = save(&in);
		struct inst again = make(k);
		struct state_reader r2;
		state_reader_init(&r2, once.buf, once.len, again.dev->id);
		if (device_load(again.dev, &r2) != 0 || state_reader_finish(&r2) != 0)
			abort();
		struct state_writer twice = save(&again);
		if (!same(&once, &twice))
			abort();
		state_writer_free(&once);
		state_writer_free(&twice);
		device_destroy(again.dev);
	}
	state_writer_free(&before);

	/* The guest carries on from whatever state was loaded. */
	for (size_t i = 0; i < nops; i++, ops += OP_SIZE) {
		const struct iobus_ops *io = in.ops[(ops[0] >> 7) & (in.ops[1] != NULL)];
		uint64_t off = (ops[0] & 0x0f) % in.width;
		uint8_t v = ops[1];
		if (ops[0] & 0x40)
			io->write(in.model, off, &v, 1);
		else
			io->read(in.model, off, &v, 1);
		if (k == SERIAL && (ops[0] & 0x30) == 0x30)
			serial_receive(in.model, &ops[2], 1);
	}
	struct state_writer end = save(&in);
	state_writer_free(&end);
	device_destroy(in.dev);
	return 0;
}
