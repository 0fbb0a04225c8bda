/* i8042 keyboard controller. Command and bit names follow the IBM PS/2
 * Hardware Interface Technical Reference, "Keyboard/Auxiliary Device
 * Controller" (status register, controller command byte, commands 0x20-0xFF)
 * and the keyboard/mouse command sets. The real controller has one output
 * buffer; the bytes the controller and the devices still have to send wait
 * in a short queue behind it. */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/legacy_state.h"

/* Status register (read at 0x64). */
#define STS_OBF 0x01     /* output buffer full */
#define STS_SYS 0x04     /* system flag (command byte bit 2) */
#define STS_CMD 0x08     /* last write was to 0x64 */
#define STS_UNLOCK 0x10  /* keyboard inhibit switch: not inhibited */
#define STS_AUX_OBF 0x20 /* output buffer holds auxiliary-device data */

/* Controller command byte (commands 0x20/0x60). */
#define CB_KBD_INT 0x01
#define CB_AUX_INT 0x02
#define CB_SYS 0x04
#define CB_KBD_DIS 0x10
#define CB_AUX_DIS 0x20
#define CB_XLATE 0x40

/* Output port (commands 0xD0/0xD1). */
#define OUTP_RESET 0x01 /* 0 = CPU held in reset */
#define OUTP_A20 0x02

/* Device replies. */
#define DEV_ACK 0xfa
#define DEV_RESEND 0xfe
#define DEV_BAT_OK 0xaa

#define OUTQ_SIZE 16

struct i8042 {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line kbd_irq, aux_irq;
	struct power_ctl power;

	uint8_t status, cmd_byte, outport;
	uint8_t pending_cmd;     /* controller command waiting for its 0x60 byte */
	uint8_t kbd_pending;     /* keyboard command waiting for its parameter */
	uint8_t aux_pending;     /* mouse command waiting for its parameter */
	uint8_t kbd_leds;        /* 0xED: scroll, num, caps lock */
	bool kbd_scanning;       /* 0xF4 enables, 0xF5 disables (nothing to scan yet) */
	uint8_t aux_rate, aux_res, aux_scaling;
	bool aux_stream;
	bool kbd_level, aux_level;

	struct {
		uint8_t byte;
		bool aux;
	} outq[OUTQ_SIZE];
	unsigned outq_head, outq_count;
};

static void update_irq(struct i8042 *k)
{
	bool kbd = false, aux = false;
	if (k->outq_count) {
		bool is_aux = k->outq[k->outq_head].aux;
		kbd = !is_aux && (k->cmd_byte & CB_KBD_INT);
		aux = is_aux && (k->cmd_byte & CB_AUX_INT);
	}
	if (kbd != k->kbd_level) {
		k->kbd_level = kbd;
		irq_line_set(&k->kbd_irq, kbd);
		if (kbd)
			counter_inc(&k->dev.counters.interrupts);
	}
	if (aux != k->aux_level) {
		k->aux_level = aux;
		irq_line_set(&k->aux_irq, aux);
		if (aux)
			counter_inc(&k->dev.counters.interrupts);
	}
}

static void lower_irqs(struct i8042 *k)
{
	if (k->kbd_level) {
		k->kbd_level = false;
		irq_line_set(&k->kbd_irq, false);
	}
	if (k->aux_level) {
		k->aux_level = false;
		irq_line_set(&k->aux_irq, false);
	}
}

/* Queues a byte for the output buffer; a guest that never reads loses the
 * bytes past the queue, as a real device would time out. */
static void push(struct i8042 *k, uint8_t byte, bool aux)
{
	if (k->outq_count >= OUTQ_SIZE) {
		log_guest_error("i8042", "output queue full, byte dropped");
		counter_inc(&k->dev.counters.rejected);
		return;
	}
	unsigned idx = (k->outq_head + k->outq_count) % OUTQ_SIZE;
	k->outq[idx].byte = byte;
	k->outq[idx].aux = aux;
	k->outq_count++;
}

static uint8_t status_reg(const struct i8042 *k)
{
	uint8_t s = k->status & (STS_CMD | STS_SYS);
	s |= STS_UNLOCK;
	if (k->outq_count) {
		s |= STS_OBF;
		if (k->outq[k->outq_head].aux)
			s |= STS_AUX_OBF;
	}
	return s;
}

static void set_cmd_byte(struct i8042 *k, uint8_t v)
{
	k->cmd_byte = v;
	/* The SYS flag in the status register mirrors command byte bit 2. */
	k->status = (uint8_t)((k->status & ~STS_SYS) | (v & CB_SYS));
}

/* Output port write (0xD1): bit 0 low holds the CPU in reset. */
static void write_outport(struct i8042 *k, uint8_t v)
{
	k->outport = v;
	if (!(v & OUTP_RESET)) {
		k->outport |= OUTP_RESET;
		power_request(&k->power, POWER_RESET);
	}
}

#define KBD_LEDS 0x07

/* The keyboard's power-on defaults (reset, 0xF5, 0xF6): scanning on. */
static void kbd_defaults(struct i8042 *k)
{
	k->kbd_scanning = true;
	k->kbd_leds = 0;
}

/* Keyboard commands (MF2 keyboard command set). */
static void kbd_write(struct i8042 *k, uint8_t v)
{
	if (k->kbd_pending && v < 0xed) {
		/* Parameter of 0xED (LEDs), 0xF3 (typematic) or 0xF0 (set). */
		uint8_t cmd = k->kbd_pending;
		k->kbd_pending = 0;
		if (cmd == 0xed)
			k->kbd_leds = v & KBD_LEDS;
		push(k, DEV_ACK, false);
		if (cmd == 0xf0 && v == 0)
			push(k, (k->cmd_byte & CB_XLATE) ? 0x41 : 0x02, false);
		return;
	}
	k->kbd_pending = 0; /* a command byte aborts a parameter wait */
	switch (v) {
	case 0xff: /* reset: ACK, then basic assurance test passed */
		kbd_defaults(k);
		push(k, DEV_ACK, false);
		push(k, DEV_BAT_OK, false);
		break;
	case 0xf2: /* read ID: MF2 keyboard, 0x83 translated to 0x41 */
		push(k, DEV_ACK, false);
		push(k, 0xab, false);
		push(k, (k->cmd_byte & CB_XLATE) ? 0x41 : 0x83, false);
		break;
	case 0xee: /* echo */
		push(k, 0xee, false);
		break;
	case 0xed:
	case 0xf0:
	case 0xf3:
		k->kbd_pending = v;
		push(k, DEV_ACK, false);
		break;
	case 0xf4: /* enable */
		k->kbd_scanning = true;
		push(k, DEV_ACK, false);
		break;
	case 0xf5: /* default disable */
		kbd_defaults(k);
		k->kbd_scanning = false;
		push(k, DEV_ACK, false);
		break;
	case 0xf6: /* set default */
		kbd_defaults(k);
		push(k, DEV_ACK, false);
		break;
	case 0xf7: case 0xf8: case 0xf9: case 0xfa: /* set all keys ... */
	case 0xfe: /* resend */
		push(k, DEV_ACK, false);
		break;
	default:
		push(k, DEV_RESEND, false);
		break;
	}
}

/* The mouse's defaults (reset, 0xF6): 100 samples/s, 4 counts/mm, 1:1. */
static void aux_defaults(struct i8042 *k)
{
	k->aux_rate = 100;
	k->aux_res = 2;
	k->aux_scaling = 0;
}

/* Auxiliary device (PS/2 mouse) commands, sent through controller 0xD4. */
static void aux_write(struct i8042 *k, uint8_t v)
{
	if (k->aux_pending && v < 0xe6) { /* a command byte aborts the wait */
		uint8_t cmd = k->aux_pending;
		k->aux_pending = 0;
		if (cmd == 0xf3)
			k->aux_rate = v;
		else if (cmd == 0xe8)
			k->aux_res = v & 3;
		push(k, DEV_ACK, true);
		return;
	}
	k->aux_pending = 0;
	switch (v) {
	case 0xff: /* reset: ACK, BAT passed, ID 0 */
		aux_defaults(k);
		k->aux_stream = false;
		push(k, DEV_ACK, true);
		push(k, DEV_BAT_OK, true);
		push(k, 0x00, true);
		break;
	case 0xf2: /* read device type: standard mouse */
		push(k, DEV_ACK, true);
		push(k, 0x00, true);
		break;
	case 0xe9: /* status request: ACK + 3 status bytes */
		push(k, DEV_ACK, true);
		push(k, (uint8_t)((k->aux_stream ? 0x20 : 0) | (k->aux_scaling ? 0x10 : 0)), true);
		push(k, k->aux_res, true);
		push(k, k->aux_rate, true);
		break;
	case 0xeb: /* read data: ACK + an empty movement packet */
		push(k, DEV_ACK, true);
		push(k, 0x08, true);
		push(k, 0x00, true);
		push(k, 0x00, true);
		break;
	case 0xe8: /* set resolution */
	case 0xf3: /* set sample rate */
		k->aux_pending = v;
		push(k, DEV_ACK, true);
		break;
	case 0xe6:
	case 0xe7:
		k->aux_scaling = v == 0xe7;
		push(k, DEV_ACK, true);
		break;
	case 0xf4:
	case 0xf5:
		k->aux_stream = v == 0xf4;
		push(k, DEV_ACK, true);
		break;
	case 0xf6: /* set defaults */
		aux_defaults(k);
		push(k, DEV_ACK, true);
		break;
	case 0xea: case 0xec: case 0xee: case 0xf0: case 0xfe:
		push(k, DEV_ACK, true);
		break;
	default:
		push(k, DEV_RESEND, true);
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;
	k->pending_cmd = 0;
	k->status &= (uint8_t)~STS_CMD;

	switch (cmd) {
	case 0x60: /* write command byte */
		set_cmd_byte(k, v);
		break;
	case 0xd1: /* write output port */
		write_outport(k, v);
		break;
	case 0xd2: /* write keyboard output buffer */
		push(k, v, false);
		break;
	case 0xd3: /* write auxiliary output buffer (Linux's AUX loop test) */
		push(k, v, true);
		break;
	case 0xd4: /* write to auxiliary device */
		k->cmd_byte &= (uint8_t)~CB_AUX_DIS; /* sending enables the interface */
		aux_write(k, v);
		break;
	default:
		/* A plain data write goes to the keyboard (and enables it). */
		k->cmd_byte &= (uint8_t)~CB_KBD_DIS;
		kbd_write(k, v);
		break;
	}
}

static void command_write(struct i8042 *k, uint8_t v)
{
	k->status |= STS_CMD;
	k->pending_cmd = 0;

	if (v >= 0x20 && v <= 0x3f) { /* read controller RAM; 0x20 = command byte */
		push(k, v == 0x20 ? k->cmd_byte : 0x00, false);
		return;
	}
	if (v >= 0xf0) { /* pulse output lines: a 0 in bit 0 pulses reset */
		if (!(v & OUTP_RESET))
			power_request(&k->power, POWER_RESET);
		return;
	}
	switch (v) {
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		k->pending_cmd = v; /* the next 0x60 write is the parameter */
		break;
	case 0xa7: /* disable aux interface */
		k->cmd_byte |= CB_AUX_DIS;
		break;
	case 0xa8: /* enable aux interface */
		k->cmd_byte &= (uint8_t)~CB_AUX_DIS;
		break;
	case 0xa9: /* aux interface test: 0 = no error */
	case 0xab: /* keyboard interface test */
		push(k, 0x00, false);
		break;
	case 0xaa: /* controller self test */
		set_cmd_byte(k, k->cmd_byte | CB_SYS);
		push(k, 0x55, false);
		break;
	case 0xad: /* disable keyboard interface */
		k->cmd_byte |= CB_KBD_DIS;
		break;
	case 0xae: /* enable keyboard interface */
		k->cmd_byte &= (uint8_t)~CB_KBD_DIS;
		break;
	case 0xc0: /* read input port: keyboard not inhibited */
		push(k, 0x80, false);
		break;
	case 0xd0: /* read output port */
		push(k, k->outport, false);
		break;
	default:
		log_guest_error("i8042", "unknown controller command 0x%02x", v);
		counter_inc(&k->dev.counters.rejected);
		break;
	}
}

/* Both ports are one byte wide: extra bytes of a wider access read as
 * all-ones and are ignored on write. */
static void fill_rest(uint8_t *data, unsigned len)
{
	for (unsigned i = 1; i < len; i++)
		data[i] = 0xff;
}

static void data_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	counter_inc(&k->dev.counters.exits);
	if (len == 0)
		return;
	fill_rest(data, len);
	if (offset != 0) {
		data[0] = 0xff;
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (k->outq_count) {
		data[0] = k->outq[k->outq_head].byte;
		counter_inc(&k->dev.counters.bytes_out);
		k->outq_head = (k->outq_head + 1) % OUTQ_SIZE;
		k->outq_count--;
		/* Reading empties the output buffer, which drops IRQ 1/12; the
		 * next queued byte raises it again. The ISA lines are edge
		 * triggered, so without the drop a guest that takes one byte per
		 * interrupt (Linux) would never hear of the bytes behind it. */
		lower_irqs(k);
	} else {
		/* Reading an empty buffer returns the last byte again. */
		data[0] = k->outq[(k->outq_head + OUTQ_SIZE - 1) % OUTQ_SIZE].byte;
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static void data_write_op(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	counter_inc(&k->dev.counters.exits);
	if (len == 0 || offset != 0)
		return;
	pthread_mutex_lock(&k->lock);
	data_write(k, data[0]);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static void status_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	counter_inc(&k->dev.counters.exits);
	if (len == 0)
		return;
	fill_rest(data, len);
	if (offset != 0) {
		data[0] = 0xff;
		return;
	}
	pthread_mutex_lock(&k->lock);
	data[0] = status_reg(k);
	pthread_mutex_unlock(&k->lock);
}

static void command_write_op(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	counter_inc(&k->dev.counters.exits);
	if (len == 0 || offset != 0)
		return;
	pthread_mutex_lock(&k->lock);
	command_write(k, data[0]);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

const struct iobus_ops i8042_data_ops = {
	.read = data_read,
	.write = data_write_op,
};

const struct iobus_ops i8042_command_ops = {
	.read = status_read,
	.write = command_write_op,
};

/* ---- the device contract (core/device.h) ---- */

#define I8042_STATE_VERSION 1

/* What a BIOS leaves: both interrupts on, translation on, POST passed, A20
 * on; the keyboard scanning, the mouse at its defaults in remote mode. */
static void power_on(struct i8042 *k)
{
	k->status = 0;
	set_cmd_byte(k, CB_KBD_INT | CB_AUX_INT | CB_SYS | CB_XLATE);
	k->outport = OUTP_RESET | OUTP_A20;
	k->pending_cmd = k->kbd_pending = k->aux_pending = 0;
	kbd_defaults(k);
	aux_defaults(k);
	k->aux_stream = false;
	memset(k->outq, 0, sizeof(k->outq));
	k->outq_head = k->outq_count = 0;
}

static void i8042_reset(struct device *dev)
{
	struct i8042 *k = container_of(dev, struct i8042, dev);
	pthread_mutex_lock(&k->lock);
	power_on(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

/* Section "i8042": the controller (status, command byte, output port with
 * the A20 and reset lines, the command waiting for its parameter), the
 * bytes waiting for the output buffer oldest first with a bit per byte
 * that came from the mouse, the last byte read (an empty buffer reads it
 * again), and the keyboard's and the mouse's own state. */
static int i8042_save(struct device *dev, struct state_writer *w)
{
	struct i8042 *k = container_of(dev, struct i8042, dev);
	uint8_t q[OUTQ_SIZE];
	uint16_t q_aux = 0;
	pthread_mutex_lock(&k->lock);
	for (unsigned i = 0; i < k->outq_count; i++) {
		unsigned idx = (k->outq_head + i) % OUTQ_SIZE;
		q[i] = k->outq[idx].byte;
		q_aux |= (uint16_t)(k->outq[idx].aux << i);
	}
	state_begin(w, dev->ops->kind, I8042_STATE_VERSION);
	state_put_u8(w, "status", k->status);
	state_put_u8(w, "cmd_byte", k->cmd_byte);
	state_put_u8(w, "outport", k->outport);
	state_put_u8(w, "pending_cmd", k->pending_cmd);
	state_put_bytes(w, "outq", q, k->outq_count);
	state_put_u16(w, "outq_aux", q_aux);
	state_put_u8(w, "last", k->outq[(k->outq_head + OUTQ_SIZE - 1) % OUTQ_SIZE].byte);
	state_put_u8(w, "kbd_pending", k->kbd_pending);
	state_put_bool(w, "kbd_scanning", k->kbd_scanning);
	state_put_u8(w, "kbd_leds", k->kbd_leds);
	state_put_u8(w, "aux_pending", k->aux_pending);
	state_put_bool(w, "aux_stream", k->aux_stream);
	state_put_u8(w, "aux_rate", k->aux_rate);
	state_put_u8(w, "aux_res", k->aux_res);
	state_put_bool(w, "aux_scaling", k->aux_scaling);
	state_end(w);
	pthread_mutex_unlock(&k->lock);
	return w->error;
}

struct i8042_saved {
	uint8_t status, cmd_byte, outport, pending_cmd, last;
	uint8_t q[OUTQ_SIZE];
	size_t q_len;
	uint16_t q_aux;
	uint8_t kbd_pending, kbd_leds, aux_pending, aux_rate, aux_res;
	bool kbd_scanning, aux_stream, aux_scaling;
};

/* The commands that wait for a parameter byte, 0 for none. */
static const uint8_t ctrl_waits[] = {0, 0x60, 0xd1, 0xd2, 0xd3, 0xd4};
static const uint8_t kbd_waits[] = {0, 0xed, 0xf0, 0xf3};
static const uint8_t aux_waits[] = {0, 0xe8, 0xf3};

static int i8042_read_record(struct state_reader *r, const char *kind, struct i8042_saved *v)
{
	if (state_enter(r, kind, I8042_STATE_VERSION, NULL) < 0)
		return -EINVAL;
	legacy_get_reg8(r, "status", &v->status, STS_CMD | STS_SYS);
	state_get_u8(r, "cmd_byte", &v->cmd_byte);
	state_get_u8(r, "outport", &v->outport);
	legacy_get_u8_in(r, "pending_cmd", &v->pending_cmd, ctrl_waits, sizeof(ctrl_waits));
	state_get_bytes_max(r, "outq", v->q, sizeof(v->q), &v->q_len);
	state_get_u16(r, "outq_aux", &v->q_aux);
	state_get_u8(r, "last", &v->last);
	legacy_get_u8_in(r, "kbd_pending", &v->kbd_pending, kbd_waits, sizeof(kbd_waits));
	state_get_bool(r, "kbd_scanning", &v->kbd_scanning);
	legacy_get_reg8(r, "kbd_leds", &v->kbd_leds, KBD_LEDS);
	legacy_get_u8_in(r, "aux_pending", &v->aux_pending, aux_waits, sizeof(aux_waits));
	state_get_bool(r, "aux_stream", &v->aux_stream);
	state_get_u8(r, "aux_rate", &v->aux_rate);
	legacy_get_reg8(r, "aux_res", &v->aux_res, 0x03);
	state_get_bool(r, "aux_scaling", &v->aux_scaling);
	if (state_failed(r))
		return -EINVAL;
	if ((v->status & STS_SYS) != (v->cmd_byte & CB_SYS))
		return state_invalid(r, "status", "0x%02x: SYS disagrees with cmd_byte 0x%02x",
				     v->status, v->cmd_byte);
	if (!(v->outport & OUTP_RESET))
		return state_invalid(r, "outport", "0x%02x holds the CPU in reset", v->outport);
	if (v->q_aux >> v->q_len)
		return state_invalid(r, "outq_aux", "0x%04x marks bytes past the %zu queued",
				     v->q_aux, v->q_len);
	return state_leave(r);
}

/* Into a fresh instance; the IRQ lines follow the loaded queue. */
static int i8042_load(struct device *dev, struct state_reader *r)
{
	struct i8042 *k = container_of(dev, struct i8042, dev);
	struct i8042_saved v = {0};
	if (i8042_read_record(r, dev->ops->kind, &v) < 0)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	k->status = v.status;
	k->cmd_byte = v.cmd_byte;
	k->outport = v.outport;
	k->pending_cmd = v.pending_cmd;
	memset(k->outq, 0, sizeof(k->outq));
	for (size_t i = 0; i < v.q_len; i++) {
		k->outq[i].byte = v.q[i];
		k->outq[i].aux = (v.q_aux >> i) & 1;
	}
	k->outq_head = 0;
	k->outq_count = (unsigned)v.q_len;
	/* The slot before the head; with a full queue that is the newest byte,
	 * which is what save wrote as last. */
	if (v.q_len < OUTQ_SIZE)
		k->outq[OUTQ_SIZE - 1].byte = v.last;
	k->kbd_pending = v.kbd_pending;
	k->kbd_scanning = v.kbd_scanning;
	k->kbd_leds = v.kbd_leds;
	k->aux_pending = v.aux_pending;
	k->aux_stream = v.aux_stream;
	k->aux_rate = v.aux_rate;
	k->aux_res = v.aux_res;
	k->aux_scaling = v.aux_scaling;
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_dev_destroy(struct device *dev)
{
	i8042_destroy(container_of(dev, struct i8042, dev));
}

/* No counters op: the struct device counters are all it has. */
static const struct device_ops i8042_dev_ops = {
	.kind = "i8042",
	.reset = i8042_reset,
	.save = i8042_save,
	.load = i8042_load,
	.destroy = i8042_dev_destroy,
};

struct i8042 *i8042_create(struct irq_line kbd_irq, struct irq_line aux_irq,
			   struct power_ctl power)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL) != 0) {
		free(k);
		return NULL;
	}
	device_init(&k->dev, &i8042_dev_ops, "i8042");
	k->kbd_irq = kbd_irq;
	k->aux_irq = aux_irq;
	k->power = power;
	power_on(k);
	irq_line_set(&k->kbd_irq, false);
	irq_line_set(&k->aux_irq, false);
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

struct device *i8042_device(struct i8042 *k)
{
	return &k->dev;
}
