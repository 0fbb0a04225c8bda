// fuzz-sources: src/devices/serial.c src/devices/i8042.c src/devices/rtc.c src/devices/acpi_pm.c src/devices/pvpanic.c src/devices/legacy_state.c src/core/device.c src/core/state.c src/core/counters.c src/bus/iobus.c src/core/loop.c src/core/log.c
/* The legacy ISA devices against a hostile guest: the 16550 UART (COM1),
 * the i8042, the CMOS RTC, the ACPI PM block and pvpanic, on a port-I/O bus
 * claimed as machine.c claims it, driven as a vCPU's IN/OUT exits drive it:
 * any port (mostly theirs, sometimes a neighbour or a straddling access),
 * 1/2/4 bytes, any value. Between accesses the host may type into the
 * UART, the wall clock may jump (with an RTC tick, as its timer would) and
 * an event source may set PM1 status bits.
 *
 * Power requests (i8042 reset line, ACPI S5/reset register) and pvpanic
 * events only set flags here: the VM stays up, so the guest keeps going.
 *
 * Checked invariants: no crash, leak or UB, a read fills exactly the bytes
 * asked for, a pvpanic event always carries PVPANIC_PANICKED and no
 * unsupported bit, and IRQ lines only carry their own GSI. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/iobus.h"
#include "core/loop.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"

#define PORT_COM1 0x3f8
#define NS 1000000000LL
/* 2026-11-22 13:45:59 UTC: the clock starts within 7 years of it and stays
 * between 1970 and 2096 (the guest's own time may be anything). */
#define T0 1795355159LL
#define CLOCK_MAX (4000000000LL * NS)

static struct {
	int64_t now_ns;
	unsigned power_off, power_reset, panics, out_bytes, drained;
} st;

static int64_t fake_now(void *opaque)
{
	return st.now_ns;
}

static void set_level(void *opaque, unsigned gsi, bool level)
{
	/* opaque is the GSI the line was made for. */
	if (gsi != (unsigned)(uintptr_t)opaque)
		abort();
}

static struct irq_line line(unsigned gsi)
{
	return (struct irq_line){.set_level = set_level, .opaque = (void *)(uintptr_t)gsi,
				 .gsi = gsi};
}

static void on_power(void *opaque, enum power_request req)
{
	if (req == POWER_OFF)
		st.power_off++;
	else if (req == POWER_RESET)
		st.power_reset++;
	else
		abort();
}

static void on_panic(void *opaque, uint8_t event)
{
	if (!(event & PVPANIC_PANICKED) || (event & ~(PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)))
		abort();
	st.panics++;
}

static volatile uint8_t sink;

static void on_serial_out(void *opaque, const uint8_t *buf, size_t len)
{
	uint8_t x = 0;
	for (size_t i = 0; i < len; i++)
		x ^= buf[i];
	sink = x;
	st.out_bytes += (unsigned)len;
}

static void on_serial_drained(void *opaque)
{
	st.drained++;
}

/* Where the guest aims: each device's ports and a neighbour either side. */
static const uint16_t ports[] = {
	0x5f, 0x60, 0x61, 0x63, 0x64, 0x65, 0x6f, 0x70, 0x71, 0x72,
	0x3f7, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x400,
	0x504, 0x505, 0x506,
	0x5ff, 0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x606, 0x608, 0x609, 0x60b, 0x60c,
};
#define NPORTS (sizeof(ports) / sizeof(ports[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!getenv("FUZZ_VERBOSE")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null; /* the devices log guest errors */
	}
	return 0;
}

enum op { OP_READ, OP_WRITE, OP_CLOCK, OP_TYPE, OP_PM_EVENT, OP_COUNT };

/* Each operation is 6 bytes: kind and width, port, a 32-bit value. */
#define OP_SIZE 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	memset(&st, 0, sizeof(st));
	st.now_ns = (T0 + (int64_t)(data[0] | data[1] << 8) * 3600) * NS;
	data += 2;
	size -= 2;

	struct power_ctl power = {.request = on_power};
	struct rtc_clock clock = {.now_ns = fake_now};
	/* The RTC arms its timerfd only with a loop (which never runs: the
	 * clock op ticks it). */
	struct loop *loop = loop_create();
	struct iobus *pio = iobus_create("pio");
	struct serial *ser = serial_create(line(4), on_serial_out, on_serial_drained, NULL);
	struct i8042 *kbd = i8042_create(line(1), line(12), power);
	struct rtc *rtc = loop ? rtc_create(line(8), &clock, loop) : NULL;
	struct acpi_pm *pm = acpi_pm_create(power);
	struct pvpanic *pp = pvpanic_create(on_panic, NULL);
	if (!pio || !ser || !kbd || !rtc || !pm || !pp ||
	    iobus_register(pio, 0x60, 1, &i8042_data_ops, kbd) < 0 ||
	    iobus_register(pio, 0x64, 1, &i8042_command_ops, kbd) < 0 ||
	    iobus_register(pio, 0x70, 2, &rtc_ops, rtc) < 0 ||
	    iobus_register(pio, PORT_COM1, 8, &serial_ops, ser) < 0 ||
	    iobus_register(pio, PVPANIC_PORT, 1, &pvpanic_ops, pp) < 0 ||
	    iobus_register(pio, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, pm) < 0)
		abort();

	for (; size >= OP_SIZE; data += OP_SIZE, size -= OP_SIZE) {
		unsigned len = 1u << (data[0] >> 4) % 3;
		/* Mostly the devices' ports; 1 in 16 anywhere. */
		uint16_t port = (data[1] & 0xf0) == 0xf0 ? (uint16_t)(data[2] | data[3] << 8)
							 : ports[data[1] % NPORTS];
		uint8_t val[4];
		memcpy(val, data + 2, 4);
		switch ((data[0] & 0xf) % OP_COUNT) {
		case OP_READ: {
			uint8_t buf[8];
			memset(buf, 0xa5, sizeof(buf));
			iobus_read(pio, port, buf, len);
			for (unsigned i = len; i < sizeof(buf); i++)
				if (buf[i] != 0xa5)
					abort();
			break;
		}
		case OP_WRITE:
			iobus_write(pio, port, val, len);
			break;
		case OP_CLOCK: {
			/* Up to ~2^52 ns (52 days) forward, now and then backward (the
			 * host's clock was set), then what the RTC's timer would do. */
			int64_t step = (int64_t)(iobus_load_le(val, 2) << (val[2] % 37));
			st.now_ns += val[3] & 0x80 ? -step : step;
			st.now_ns = st.now_ns < 0 ? 0 : st.now_ns > CLOCK_MAX ? CLOCK_MAX : st.now_ns;
			rtc_tick(rtc);
			break;
		}
		case OP_TYPE:
			serial_receive(ser, data + 2, 1 + val[0] % 4);
			break;
		case OP_PM_EVENT:
			acpi_pm_set_status(pm, (uint16_t)iobus_load_le(val, 2));
			break;
		}
	}

	iobus_destroy(pio);
	pvpanic_destroy(pp);
	acpi_pm_destroy(pm);
	rtc_destroy(rtc);
	i8042_destroy(kbd);
	serial_destroy(ser);
	loop_destroy(loop);
	return 0;
}
