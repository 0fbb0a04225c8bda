/* The legacy PC devices (16550 UART, i8042, CMOS RTC, ACPI PM block,
 * pvpanic) through the device contract: save -> load into a fresh
 * instance -> save gives the same bytes; state in motion (bytes in a FIFO,
 * an interrupt pending, a periodic timer) carries over; hostile records
 * (every truncation, corrupted bytes, out-of-range fields) are refused with
 * the device and field named and the instance left as it was; counters
 * count port accesses and bytes.
 *
 * The RTC runs on a fake wall clock that stands still unless a test moves
 * it, so its records compare byte for byte (its clock is saved as an offset
 * from the host clock, which does not change while time stands still);
 * one test runs it on the real clock and an event loop to see its timer
 * armed again by the load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/device.h"
#include "core/loop.h"
#include "core/state.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "support/fake_irq.h"
#include "support/loop_wait.h"

#define NS 1000000000LL
#define T0 1795355159LL /* 2026-11-22 13:45:59 UTC */

enum kind { SERIAL, I8042, RTC, ACPI_PM, PVPANIC, NKINDS };

/* One instance and what it did to the world around it. */
struct inst {
	enum kind kind;
	struct fake_irq irq, aux_irq;
	int64_t now;
	uint8_t out[64];
	size_t out_len;
	unsigned power_requests, panics;
	void *model;
	struct device *dev;
};

static void on_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct inst *in = opaque;
	for (size_t i = 0; i < len && in->out_len < sizeof(in->out); i++)
		in->out[in->out_len++] = buf[i];
}

static void on_power(void *opaque, enum power_request req)
{
	struct inst *in = opaque;
	in->power_requests++;
}

static void on_panic(void *opaque, uint8_t event)
{
	struct inst *in = opaque;
	in->panics++;
}

static int64_t fake_now(void *opaque)
{
	struct inst *in = opaque;
	return in->now;
}

static struct inst *make(enum kind kind)
{
	struct inst *in = calloc(1, sizeof(*in));
	assert_non_null(in);
	in->kind = kind;
	in->now = T0 * NS + NS / 2;
	struct power_ctl power = {.request = on_power, .opaque = in};
	struct rtc_clock clock = {.now_ns = fake_now, .opaque = in};
	switch (kind) {
	case SERIAL:
		in->model = serial_create(fake_irq_line(&in->irq, 4), on_output, NULL, in);
		in->dev = in->model ? serial_device(in->model) : NULL;
		break;
	case I8042:
		in->model = i8042_create(fake_irq_line(&in->irq, 1), fake_irq_line(&in->aux_irq, 12),
					 power);
		in->dev = in->model ? i8042_device(in->model) : NULL;
		break;
	case RTC:
		in->model = rtc_create(fake_irq_line(&in->irq, 8), &clock, NULL);
		in->dev = in->model ? rtc_device(in->model) : NULL;
		break;
	case ACPI_PM:
		in->model = acpi_pm_create(power);
		in->dev = in->model ? acpi_pm_device(in->model) : NULL;
		break;
	case PVPANIC:
		in->model = pvpanic_create(on_panic, in);
		in->dev = in->model ? pvpanic_device(in->model) : NULL;
		break;
	default:
		fail();
	}
	assert_non_null(in->dev);
	return in;
}

/* Through the contract, as the machine will. */
static void drop(struct inst *in)
{
	device_destroy(in->dev);
	free(in);
}

/* ---- port access ---- */

static void out8(const struct iobus_ops *ops, void *m, uint64_t off, uint8_t v)
{
	ops->write(m, off, &v, 1);
}

static uint8_t in8(const struct iobus_ops *ops, void *m, uint64_t off)
{
	uint8_t v = 0;
	ops->read(m, off, &v, 1);
	return v;
}

static uint8_t rtc_rd(struct inst *in, uint8_t index)
{
	out8(&rtc_ops, in->model, 0, index);
	return in8(&rtc_ops, in->model, 1);
}

static void rtc_wr(struct inst *in, uint8_t index, uint8_t v)
{
	out8(&rtc_ops, in->model, 0, index);
	out8(&rtc_ops, in->model, 1, v);
}

/* Drives each device away from its power-on state, with something in
 * motion where it has motion. */
static void drive(struct inst *in)
{
	static const uint8_t typed[] = "abc";
	switch (in->kind) {
	case SERIAL:
		out8(&serial_ops, in->model, 3, 0x80); /* DLAB: divisor 3 */
		out8(&serial_ops, in->model, 0, 3);
		out8(&serial_ops, in->model, 1, 0);
		out8(&serial_ops, in->model, 3, 0x03); /* 8N1 */
		out8(&serial_ops, in->model, 2, 0xc1); /* FIFO on, trigger 14 */
		out8(&serial_ops, in->model, 4, 0x0b); /* DTR RTS OUT2 */
		out8(&serial_ops, in->model, 7, 0x5a);
		out8(&serial_ops, in->model, 1, 0x01); /* ERBFI */
		assert_int_equal(serial_receive(in->model, typed, 3), 3);
		break;
	case I8042:
		out8(&i8042_command_ops, in->model, 0, 0xd4); /* mouse: sample rate 40 */
		out8(&i8042_data_ops, in->model, 0, 0xf3);
		out8(&i8042_command_ops, in->model, 0, 0xd4);
		out8(&i8042_data_ops, in->model, 0, 40);
		in8(&i8042_data_ops, in->model, 0); /* its ACKs */
		in8(&i8042_data_ops, in->model, 0);
		out8(&i8042_data_ops, in->model, 0, 0xed); /* keyboard LEDs: caps */
		out8(&i8042_data_ops, in->model, 0, 0x04);
		in8(&i8042_data_ops, in->model, 0);
		in8(&i8042_data_ops, in->model, 0);
		out8(&i8042_command_ops, in->model, 0, 0xd2); /* a scancode queued */
		out8(&i8042_data_ops, in->model, 0, 0x1e);
		out8(&i8042_command_ops, in->model, 0, 0xd3); /* and a mouse byte */
		out8(&i8042_data_ops, in->model, 0, 0x08);
		out8(&i8042_command_ops, in->model, 0, 0x60); /* a command half-sent */
		break;
	case RTC:
		rtc_wr(in, 0x01, 0x30); /* alarm at xx:xx:30 */
		rtc_wr(in, 0x03, 0xc0);
		rtc_wr(in, 0x05, 0xc0);
		rtc_wr(in, 0x0a, 0x2f); /* 2 Hz periodic */
		rtc_wr(in, 0x0b, 0x62); /* PIE AIE 24h BCD */
		rtc_wr(in, 0x00, 0x17); /* the guest sets its seconds */
		rtc_set_cmos(in->model, 0x15, 0x80);
		rtc_wr(in, 0x40, 0x99);
		break;
	case ACPI_PM:
		acpi_pm_set_status(in->model, 0x0100); /* power button */
		out8(&acpi_pm_ops, in->model, 2, 0x20); /* PWRBTN_EN */
		out8(&acpi_pm_ops, in->model, 5, 0x14); /* SLP_TYP 5, no SLP_EN */
		break;
	case PVPANIC:
		break;
	default:
		fail();
	}
}

/* ---- records ---- */

struct rec {
	uint8_t *buf;
	size_t len;
};

static struct rec save(struct inst *in)
{
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(in->dev, &w), 0);
	assert_int_equal(state_writer_finish(&w), 0);
	struct rec r = {w.buf, w.len}; /* the record keeps the buffer */
	return r;
}

static bool same(struct rec a, struct rec b)
{
	return a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0;
}

/* The device's own load; 0 or -EINVAL with the reader's error in err. */
static int load(struct inst *in, const uint8_t *buf, size_t len, char err[256])
{
	struct state_reader r;
	state_reader_init(&r, buf, len, in->dev->id);
	int ret = device_load(in->dev, &r);
	if (ret == 0)
		ret = state_reader_finish(&r);
	snprintf(err, 256, "%s", state_error(&r));
	return ret;
}

static void load_ok(struct inst *in, struct rec r)
{
	char err[256];
	int ret = load(in, r.buf, r.len, err);
	if (ret)
		fail_msg("%s", err);
}

/* A refused load: the error names the device (and the field, if given),
 * and the instance saves as it did before. */
static void load_refused(struct inst *in, const uint8_t *buf, size_t len, const char *field)
{
	char err[256];
	struct rec before = save(in);
	if (load(in, buf, len, err) == 0)
		fail_msg("%s: a record refusing %s was taken", in->dev->id, field ? field : "?");
	if (strncmp(err, in->dev->id, strlen(in->dev->id)) != 0)
		fail_msg("the error does not name %s: %s", in->dev->id, err);
	if (field && !strstr(err, field))
		fail_msg("the error does not name %s: %s", field, err);
	struct rec after = save(in);
	assert_true(same(before, after));
	free(before.buf);
	free(after.buf);
}

/* A copy of r with the item called name (not a section) replaced by one of
 * the given type and value; for STATE_BYTES val is the payload. */
static struct rec patch(struct rec r, const char *name, uint8_t type, const void *val, size_t vlen)
{
	struct rec o = {malloc(r.len + vlen + 8), 0};
	assert_non_null(o.buf);
	size_t pos = 0;
	bool found = false;
	while (pos < r.len) {
		uint8_t t = r.buf[pos], n = r.buf[pos + 1];
		size_t head = 2 + n, size = 0;
		switch (t) {
		case STATE_U8: size = 1; break;
		case STATE_U16: size = 2; break;
		case STATE_U32: size = 4; break;
		case STATE_U64: size = 8; break;
		case STATE_BEGIN: size = 3; break;
		case STATE_END: size = 0; break;
		case STATE_BYTES:
			size = 4 + (r.buf[pos + head] | (size_t)r.buf[pos + head + 1] << 8);
			break;
		default: fail();
		}
		bool match = t != STATE_BEGIN && t != STATE_END && n == strlen(name) &&
			     memcmp(r.buf + pos + 2, name, n) == 0;
		if (match) {
			found = true;
			o.buf[o.len++] = type;
			memcpy(o.buf + o.len, r.buf + pos + 1, 1 + n);
			o.len += 1 + n;
			if (type == STATE_BYTES) {
				uint8_t le[4] = {(uint8_t)vlen, (uint8_t)(vlen >> 8), 0, 0};
				memcpy(o.buf + o.len, le, 4);
				o.len += 4;
			}
			memcpy(o.buf + o.len, val, vlen);
			o.len += vlen;
		} else {
			memcpy(o.buf + o.len, r.buf + pos, head + size);
			o.len += head + size;
		}
		pos += head + size;
	}
	assert_true(found);
	return o;
}

/* ---- round trips ---- */

/* Every device: drive, save, load into a fresh instance, save: the same
 * bytes; and the fresh instance is no longer at power-on state. */
static void test_round_trip_identical(void **state)
{
	for (enum kind k = 0; k < NKINDS; k++) {
		struct inst *a = make(k), *b = make(k);
		struct rec fresh = save(b);
		drive(a);
		struct rec ra = save(a);
		load_ok(b, ra);
		struct rec rb = save(b);
		if (!same(ra, rb))
			fail_msg("%s: the record changed across a load", a->dev->id);
		if (k != PVPANIC) /* it has nothing the guest can change */
			assert_false(same(fresh, rb));
		free(fresh.buf);
		free(ra.buf);
		free(rb.buf);
		drop(a);
		drop(b);
	}
}

static void test_ids_and_kinds(void **state)
{
	static const char *const ids[NKINDS] = {"serial0", "i8042", "rtc", "acpi-pm", "pvpanic"};
	static const char *const kinds[NKINDS] = {"serial", "i8042", "rtc", "acpi-pm", "pvpanic"};
	for (enum kind k = 0; k < NKINDS; k++) {
		struct inst *in = make(k);
		assert_string_equal(in->dev->id, ids[k]);
		assert_string_equal(in->dev->ops->kind, kinds[k]);
		drop(in);
	}
}

/* Reset brings back power-on state: a driven device then saves as a fresh
 * one (the RTC keeps its battery-backed time and NVRAM: see its test). */
static void test_reset_is_power_on(void **state)
{
	enum kind kinds[] = {SERIAL, I8042, ACPI_PM, PVPANIC};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct inst *a = make(kinds[i]), *b = make(kinds[i]);
		drive(a);
		device_reset(a->dev);
		struct rec ra = save(a), rb = save(b);
		if (!same(ra, rb))
			fail_msg("%s: reset is not power-on state", a->dev->id);
		assert_false(a->irq.level);
		free(ra.buf);
		free(rb.buf);
		drop(a);
		drop(b);
	}
}

static void test_rtc_reset_keeps_time_and_nvram(void **state)
{
	struct inst *a = make(RTC);
	drive(a);
	a->now += 600 * NS; /* PF, UF, AF all due */
	rtc_tick(a->model);
	assert_true(a->irq.level);
	uint8_t sec = rtc_rd(a, 0x00);
	device_reset(a->dev);
	assert_false(a->irq.level);
	assert_int_equal(rtc_rd(a, 0x0b) & 0x78, 0); /* PIE AIE UIE SQWE off */
	assert_int_equal(rtc_rd(a, 0x0c), 0);
	assert_int_equal(rtc_rd(a, 0x00), sec);
	assert_int_equal(rtc_rd(a, 0x15), 0x80);
	assert_int_equal(rtc_rd(a, 0x40), 0x99);
	drop(a);
}

/* ---- state in motion ---- */

/* Bytes in the RX FIFO with their interrupt pending: the loaded UART has
 * its line up, and the guest reads the same bytes in order. */
static void test_serial_fifo_and_interrupt(void **state)
{
	struct inst *a = make(SERIAL), *b = make(SERIAL);
	drive(a);
	assert_true(a->irq.level);
	struct rec r = save(a);
	load_ok(b, r);
	assert_true(b->irq.level);
	assert_int_equal(in8(&serial_ops, b->model, 2), 0xc4); /* FIFO on, RDA */
	assert_int_equal(in8(&serial_ops, b->model, 5) & 0x61, 0x61); /* DR THRE TEMT */
	assert_int_equal(in8(&serial_ops, b->model, 0), 'a');
	assert_int_equal(in8(&serial_ops, b->model, 0), 'b');
	assert_int_equal(in8(&serial_ops, b->model, 0), 'c');
	assert_int_equal(in8(&serial_ops, b->model, 5) & 0x01, 0);
	assert_false(b->irq.level);
	/* The divisor and the output path came along too. */
	out8(&serial_ops, b->model, 0, 'z');
	assert_int_equal(b->out_len, 1);
	assert_int_equal(b->out[0], 'z');
	out8(&serial_ops, b->model, 3, 0x83);
	assert_int_equal(in8(&serial_ops, b->model, 0), 3);
	free(r.buf);
	drop(a);
	drop(b);
}

/* Queued scancode and mouse byte, and a controller command waiting for
 * its parameter: the loaded controller has IRQ 1 up, gives the bytes in
 * order with the right source, and takes the parameter. */
static void test_i8042_queue_and_pending_command(void **state)
{
	struct inst *a = make(I8042), *b = make(I8042);
	drive(a);
	struct rec r = save(a);
	load_ok(b, r);
	assert_true(b->irq.level);
	assert_int_equal(in8(&i8042_command_ops, b->model, 0) & 0x21, 0x01); /* OBF, kbd */
	assert_int_equal(in8(&i8042_data_ops, b->model, 0), 0x1e);
	assert_true(b->aux_irq.level);
	assert_int_equal(in8(&i8042_command_ops, b->model, 0) & 0x21, 0x21); /* OBF, aux */
	assert_int_equal(in8(&i8042_data_ops, b->model, 0), 0x08);
	assert_false(b->irq.level || b->aux_irq.level);
	/* The pending 0x60 takes this byte as the command byte: interrupts off. */
	out8(&i8042_data_ops, b->model, 0, 0x44);
	out8(&i8042_command_ops, b->model, 0, 0x20);
	assert_int_equal(in8(&i8042_data_ops, b->model, 0), 0x44);
	/* The mouse kept its sample rate: status request = ACK, flags, res, rate. */
	out8(&i8042_command_ops, b->model, 0, 0xd4);
	out8(&i8042_data_ops, b->model, 0, 0xe9);
	uint8_t st[4];
	for (int i = 0; i < 4; i++)
		st[i] = in8(&i8042_data_ops, b->model, 0);
	assert_int_equal(st[0], 0xfa);
	assert_int_equal(st[3], 40);
	free(r.buf);
	drop(a);
	drop(b);
}

/* A periodic interrupt enabled before the save keeps firing after the
 * load, and the guest's clock keeps going. */
static void test_rtc_periodic_and_clock(void **state)
{
	struct inst *a = make(RTC), *b = make(RTC);
	drive(a);
	rtc_rd(a, 0x0c); /* flags clear */
	uint8_t sec = rtc_rd(a, 0x00);
	struct rec r = save(a);
	b->now = a->now;
	load_ok(b, r);
	assert_false(b->irq.level);
	assert_int_equal(rtc_rd(b, 0x00), sec);
	for (int i = 0; i < 3; i++) {
		b->now += NS / 2; /* one 2 Hz period */
		rtc_tick(b->model);
		assert_true(b->irq.level);
		assert_int_equal(rtc_rd(b, 0x0c) & 0xc0, 0xc0); /* IRQF PF */
		assert_false(b->irq.level);
	}
	assert_int_equal(rtc_rd(b, 0x00), 0x19); /* 17.5 s + 1.5 s, BCD */
	/* Loaded on a host whose clock is 100 s later: the guest is too. */
	struct inst *c = make(RTC);
	c->now = a->now + 100 * NS;
	load_ok(c, r);
	assert_int_equal(rtc_rd(c, 0x00), 0x57); /* 0x17 + 100 s = 57 s */
	assert_int_equal(rtc_rd(c, 0x40), 0x99);
	free(r.buf);
	drop(a);
	drop(b);
	drop(c);
}

static bool rose(void *arg)
{
	return ((struct fake_irq *)arg)->rises > 0;
}

/* On the real clock with an event loop: the load arms the loaded RTC's
 * timer, which raises the interrupt without any guest access. */
static void test_rtc_timer_armed_by_load(void **state)
{
	struct loop *la = loop_create(), *lb = loop_create();
	assert_non_null(la);
	assert_non_null(lb);
	struct fake_irq ia = {0}, ib = {0};
	struct rtc *a = rtc_create(fake_irq_line(&ia, 8), NULL, la);
	struct rtc *b = rtc_create(fake_irq_line(&ib, 8), NULL, lb);
	assert_non_null(a);
	assert_non_null(b);
	uint8_t wa[2] = {0x0a, 0x2a}, wb[2] = {0x0b, 0x42}, rc = 0x0c, v; /* 64 Hz, PIE */
	rtc_ops.write(a, 0, wa, 2);
	rtc_ops.write(a, 0, wb, 2);
	rtc_ops.write(a, 0, &rc, 1);
	rtc_ops.read(a, 1, &v, 1);
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(rtc_device(a), &w), 0);
	struct state_reader r;
	state_reader_init(&r, w.buf, w.len, "rtc");
	assert_int_equal(device_load(rtc_device(b), &r), 0);
	/* Saved with PF up (a tick between the read and the save) is fine too. */
	if (!ib.level)
		loop_run_until(lb, rose, &ib, 2000);
	assert_true(ib.level);
	state_writer_free(&w);
	rtc_destroy(a);
	device_destroy(rtc_device(b));
	loop_destroy(la);
	loop_destroy(lb);
}

static void test_acpi_pm_and_pvpanic_registers(void **state)
{
	struct inst *a = make(ACPI_PM), *b = make(ACPI_PM);
	drive(a);
	struct rec r = save(a);
	load_ok(b, r);
	assert_int_equal(in8(&acpi_pm_ops, b->model, 1), 0x01);    /* PWRBTN_STS */
	assert_int_equal(in8(&acpi_pm_ops, b->model, 2), 0x20);    /* PWRBTN_EN */
	assert_int_equal(in8(&acpi_pm_ops, b->model, 4), 0x01);    /* SCI_EN */
	assert_int_equal(in8(&acpi_pm_ops, b->model, 5), 0x14);    /* SLP_TYP */
	free(r.buf);
	drop(a);
	drop(b);

	struct inst *p = make(PVPANIC), *q = make(PVPANIC);
	r = save(p);
	load_ok(q, r);
	assert_int_equal(in8(&pvpanic_ops, q->model, 0), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	free(r.buf);
	drop(p);
	drop(q);
}

/* ---- hostile records ---- */

/* Every proper prefix of every device's record is refused, naming the
 * device, and leaves the instance as it was. */
static void test_truncated_refused(void **state)
{
	for (enum kind k = 0; k < NKINDS; k++) {
		struct inst *a = make(k), *b = make(k);
		drive(a);
		drive(b);
		struct rec r = save(a);
		for (size_t len = 0; len < r.len; len++)
			load_refused(b, r.buf, len, NULL);
		free(r.buf);
		drop(a);
		drop(b);
	}
}

/* Each byte of each record replaced by several values: whatever is
 * refused names the device and changes nothing; some must be refused. */
static void test_corrupted_refused_or_valid(void **state)
{
	for (enum kind k = 0; k < NKINDS; k++) {
		struct inst *a = make(k);
		drive(a);
		struct rec r = save(a);
		unsigned refused = 0;
		for (size_t i = 0; i < r.len; i++) {
			const uint8_t alts[] = {0x00, 0xff, (uint8_t)(r.buf[i] ^ 0x01),
						(uint8_t)(r.buf[i] ^ 0x80)};
			for (size_t j = 0; j < sizeof(alts); j++) {
				if (alts[j] == r.buf[i])
					continue;
				uint8_t *bad = malloc(r.len);
				assert_non_null(bad);
				memcpy(bad, r.buf, r.len);
				bad[i] = alts[j];
				struct inst *b = make(k);
				struct rec before = save(b);
				struct state_reader rd;
				state_reader_init(&rd, bad, r.len, b->dev->id);
				if (device_load(b->dev, &rd) != 0) {
					/* Refused by the device: nothing changed. */
					struct rec after = save(b);
					assert_true(same(before, after));
					free(after.buf);
				}
				if (state_reader_finish(&rd) != 0) {
					refused++;
					const char *err = state_error(&rd);
					assert_true(strncmp(err, b->dev->id, strlen(b->dev->id)) == 0);
				}
				free(before.buf);
				free(bad);
				drop(b);
			}
		}
		assert_true(refused > r.len); /* names, types, lengths, checks */
		free(r.buf);
		drop(a);
	}
}

/* One field of a good record replaced by a value the device cannot hold. */
struct bad_field {
	enum kind kind;
	const char *field;
	uint8_t type;
	size_t len;
	uint8_t val[20];
	const char *expect; /* the field the error names, if not this one */
};

static const struct bad_field bad_fields[] = {
	{SERIAL, "ier", STATE_U8, 1, {0x10}, NULL},
	{SERIAL, "ier", STATE_U16, 2, {0x01, 0x00}, NULL},      /* wrong type */
	{SERIAL, "thre_pending", STATE_U8, 1, {2}, NULL},
	{SERIAL, "fcr", STATE_U8, 1, {0x08}, NULL},              /* DMA mode bit */
	{SERIAL, "fcr", STATE_U8, 1, {0x40}, NULL},              /* trigger without FIFO */
	{SERIAL, "fcr", STATE_U8, 1, {0x00}, "rx_fifo"},   /* 3 bytes without FIFO */
	{SERIAL, "rx_fifo", STATE_BYTES, 0, {0}, "lsr"},   /* DR set, FIFO empty */
	{SERIAL, "mcr", STATE_U8, 1, {0x2b}, NULL},
	{SERIAL, "lsr", STATE_U8, 1, {0xe1}, NULL},              /* FIFO error bit */
	{SERIAL, "lsr", STATE_U8, 1, {0x01}, NULL},              /* THR not empty */
	{SERIAL, "lsr", STATE_U8, 1, {0x60}, NULL},              /* DR off, bytes there */
	{SERIAL, "msr", STATE_U8, 1, {0x00}, NULL},              /* lines off outside loop */
	{SERIAL, "rx_fifo", STATE_BYTES, 17, {0}, NULL},
	{I8042, "status", STATE_U8, 1, {0x01}, NULL},
	{I8042, "status", STATE_U8, 1, {0x08}, NULL},            /* SYS off, cmd_byte has it */
	{I8042, "outport", STATE_U8, 1, {0x02}, NULL},           /* CPU held in reset */
	{I8042, "pending_cmd", STATE_U8, 1, {0x42}, NULL},
	{I8042, "outq", STATE_BYTES, 17, {0}, NULL},
	{I8042, "outq_aux", STATE_U16, 2, {0x00, 0x80}, NULL},   /* past the 2 queued */
	{I8042, "kbd_pending", STATE_U8, 1, {0x01}, NULL},
	{I8042, "kbd_leds", STATE_U8, 1, {0x08}, NULL},
	{I8042, "aux_pending", STATE_U8, 1, {0xff}, NULL},
	{I8042, "aux_res", STATE_U8, 1, {4}, NULL},
	{I8042, "aux_scaling", STATE_U8, 1, {7}, NULL},
	{RTC, "index", STATE_U8, 1, {0x80}, NULL},
	{RTC, "reg_a", STATE_U8, 1, {0xa6}, NULL},               /* UIP is not stored */
	{RTC, "reg_b", STATE_U8, 1, {0x92}, NULL},               /* SET with UIE */
	{RTC, "reg_c", STATE_U8, 1, {0x80}, NULL},               /* IRQF without a flag */
	{RTC, "reg_c", STATE_U8, 1, {0x40}, NULL},               /* PF, PIE on, no IRQF */
	{RTC, "reg_c", STATE_U8, 1, {0x01}, NULL},
	{RTC, "cmos", STATE_BYTES, 16, {0}, NULL},
	{RTC, "frozen", STATE_BYTES, 12, {0}, NULL},
	{RTC, "offset_ns", STATE_U64, 8, {0, 0, 0, 0, 0, 0, 0, 0x80}, NULL},
	{RTC, "offset_ns", STATE_U64, 8, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, NULL},
	{ACPI_PM, "pm1_en", STATE_U8, 1, {0x20}, NULL},          /* wrong type */
	{ACPI_PM, "pm1_en", STATE_U16, 2, {0x02, 0x00}, NULL},
	{ACPI_PM, "pm1_cnt", STATE_U16, 2, {0x00, 0x80}, NULL},
	{PVPANIC, "events", STATE_U8, 1, {0x07}, NULL},
	{PVPANIC, "events", STATE_U8, 1, {0x01}, NULL},
};

static void test_out_of_range_refused(void **state)
{
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		const struct bad_field *f = &bad_fields[i];
		struct inst *a = make(f->kind), *b = make(f->kind);
		drive(a);
		struct rec good = save(a);
		struct rec bad = patch(good, f->field, f->type, f->val, f->len);
		load_refused(b, bad.buf, bad.len, f->expect ? f->expect : f->field);
		free(good.buf);
		free(bad.buf);
		drop(a);
		drop(b);
	}
}

/* An RTC record whose CMOS has a byte where the model keeps none. */
static void test_rtc_cmos_reserved_refused(void **state)
{
	struct inst *a = make(RTC), *b = make(RTC);
	struct rec good = save(a);
	uint8_t cmos[128] = {0};
	cmos[0x0a] = 0x26; /* register A lives outside the CMOS array */
	struct rec bad = patch(good, "cmos", STATE_BYTES, cmos, sizeof(cmos));
	load_refused(b, bad.buf, bad.len, "cmos");
	free(good.buf);
	free(bad.buf);
	drop(a);
	drop(b);
}

/* A record written by a newer iovirt (section version 2) or for another
 * kind is refused. */
static void test_version_and_kind_refused(void **state)
{
	for (enum kind k = 0; k < NKINDS; k++) {
		struct inst *a = make(k), *b = make(k);
		struct rec r = save(a);
		size_t vpos = 2 + r.buf[1]; /* the BEGIN item's version */
		r.buf[vpos] = 2;
		load_refused(b, r.buf, r.len, "newer");
		r.buf[vpos] = 1;
		struct inst *other = make((k + 1) % NKINDS);
		load_refused(other, r.buf, r.len, "expected the section");
		free(r.buf);
		drop(a);
		drop(b);
		drop(other);
	}
}

/* ---- counters ---- */

struct counter_find {
	const char *name;
	uint64_t value;
	bool found;
};

static void find_emit(void *opaque, const char *device, const char *scope, const char *name,
		      uint64_t value)
{
	struct counter_find *f = opaque;
	if (!strcmp(name, f->name) && !*scope) {
		f->value = value;
		f->found = true;
	}
}

static uint64_t counter(struct inst *in, const char *name)
{
	struct counter_find f = {.name = name};
	struct counter_sink sink = {.emit = find_emit, .opaque = &f};
	device_counters(in->dev, &sink);
	assert_true(f.found);
	return f.value;
}

static void test_serial_counters(void **state)
{
	struct inst *in = make(SERIAL);
	for (int i = 0; i < 10; i++)
		out8(&serial_ops, in->model, 0, (uint8_t)('0' + i));
	assert_int_equal(counter(in, "exits"), 10);
	assert_int_equal(counter(in, "bytes_in"), 10);
	assert_int_equal(in->out_len, 10);
	out8(&serial_ops, in->model, 4, 0x08); /* OUT2 */
	out8(&serial_ops, in->model, 1, 0x01); /* ERBFI */
	assert_int_equal(serial_receive(in->model, (const uint8_t *)"xy", 2), 1); /* no FIFO */
	assert_int_equal(counter(in, "bytes_out"), 1);
	assert_int_equal(counter(in, "interrupts"), 1);
	in8(&serial_ops, in->model, 0);
	assert_int_equal(counter(in, "exits"), 13);
	/* Loopback overrun: the guest's byte is lost. */
	out8(&serial_ops, in->model, 4, 0x10);
	out8(&serial_ops, in->model, 0, 'p');
	out8(&serial_ops, in->model, 0, 'q');
	assert_int_equal(counter(in, "rejected"), 1);
	assert_int_equal(counter(in, "bytes_in"), 10);
	drop(in);

	/* No output path: what the guest writes is dropped, and counted. */
	struct serial *s = serial_create((struct irq_line){0}, NULL, NULL, NULL);
	assert_non_null(s);
	uint8_t c = 'x';
	serial_ops.write(s, 0, &c, 1);
	struct inst view = {.dev = serial_device(s)};
	assert_int_equal(counter(&view, "errors"), 1);
	device_destroy(serial_device(s));
}

static void test_other_counters(void **state)
{
	struct inst *k = make(I8042);
	for (int i = 0; i < 5; i++)
		out8(&i8042_data_ops, k->model, 0, 0xee); /* echo */
	in8(&i8042_data_ops, k->model, 0);
	in8(&i8042_command_ops, k->model, 0);
	out8(&i8042_command_ops, k->model, 0, 0x01); /* unknown command */
	assert_int_equal(counter(k, "exits"), 8);
	assert_int_equal(counter(k, "bytes_out"), 1);
	/* One edge for the first reply, one for the next once the read
	 * emptied the output buffer. */
	assert_int_equal(counter(k, "interrupts"), 2);
	assert_int_equal(counter(k, "rejected"), 1);
	drop(k);

	struct inst *r = make(RTC);
	rtc_wr(r, 0x0b, 0x42); /* PIE, 1024 Hz */
	for (int i = 0; i < 4; i++) {
		r->now += NS / 512; /* past the next 1024 Hz edge */
		rtc_tick(r->model);
		rtc_rd(r, 0x0c);
	}
	assert_int_equal(counter(r, "exits"), 2 + 4 * 2);
	assert_int_equal(counter(r, "interrupts"), 4);
	drop(r);

	struct inst *pm = make(ACPI_PM);
	out8(&acpi_pm_ops, pm->model, 5, 0x24); /* SLP_EN with S1: not supported */
	in8(&acpi_pm_ops, pm->model, 0);
	assert_int_equal(counter(pm, "exits"), 2);
	assert_int_equal(counter(pm, "rejected"), 1);
	assert_int_equal(pm->power_requests, 0);
	drop(pm);

	struct inst *p = make(PVPANIC);
	out8(&pvpanic_ops, p->model, 0, PVPANIC_PANICKED);
	out8(&pvpanic_ops, p->model, 0, 0x80);
	in8(&pvpanic_ops, p->model, 0);
	assert_int_equal(counter(p, "exits"), 3);
	assert_int_equal(counter(p, "requests"), 1);
	assert_int_equal(counter(p, "rejected"), 1);
	assert_int_equal(p->panics, 1);
	drop(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_and_kinds),
		cmocka_unit_test(test_round_trip_identical),
		cmocka_unit_test(test_reset_is_power_on),
		cmocka_unit_test(test_rtc_reset_keeps_time_and_nvram),
		cmocka_unit_test(test_serial_fifo_and_interrupt),
		cmocka_unit_test(test_i8042_queue_and_pending_command),
		cmocka_unit_test(test_rtc_periodic_and_clock),
		cmocka_unit_test(test_rtc_timer_armed_by_load),
		cmocka_unit_test(test_acpi_pm_and_pvpanic_registers),
		cmocka_unit_test(test_truncated_refused),
		cmocka_unit_test(test_corrupted_refused_or_valid),
		cmocka_unit_test(test_out_of_range_refused),
		cmocka_unit_test(test_rtc_cmos_reserved_refused),
		cmocka_unit_test(test_version_and_kind_refused),
		cmocka_unit_test(test_serial_counters),
		cmocka_unit_test(test_other_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
