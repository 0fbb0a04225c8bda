/* 16550A UART. Register and bit names follow the PC16550D datasheet
 * (section 8, "Registers"). Transmission is instantaneous: a byte written to
 * THR leaves at once, so THRE and TEMT are always set outside loopback. */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/state.h"
#include "devices/legacy_state.h"

/* Register offsets (table II). */
#define REG_RBR_THR 0 /* DLL when LCR.DLAB */
#define REG_IER 1     /* DLM when LCR.DLAB */
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7
#define SERIAL_NREGS 8

/* IER (8.5): only bits 0-3 exist. */
#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

/* IIR (8.6, table IV). */
#define IIR_NO_INT 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_FIFO_ON 0xc0

/* FCR (8.7). */
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_TRIGGER 0xc0 /* kept, but every level behaves as "1 byte" */

#define LCR_DLAB 0x80

/* MCR (8.9): bits 5-7 are always 0. */
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

/* LSR (8.4). */
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
#define LSR_MASK (LSR_DR | LSR_ERRS | LSR_THRE | LSR_TEMT) /* FIFO error bit 7 never set */

/* MSR (8.10): deltas in bits 0-3, line states in bits 4-7. */
#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* Outside loopback the (virtual) modem is always there and ready. */
#define MSR_LINES_IDLE (MSR_CTS | MSR_DSR | MSR_DCD)

struct serial {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	serial_output_fn out;
	serial_rx_drained_fn drained;
	void *opaque;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	bool thr_ipending; /* THRE interrupt pending (8.6, cleared by IIR read / THR write) */
	bool irq_level;
	bool host_blocked; /* serial_receive refused bytes since the last drained call */

	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

static unsigned rx_capacity(uint8_t fcr)
{
	return (fcr & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1;
}

/* The highest-priority pending, enabled interrupt, as an IIR id (table IV). */
static uint8_t pending_iid(const struct serial *s)
{
	if ((s->ier & IER_ELSI) && (s->lsr & LSR_ERRS))
		return IIR_RLS;
	/* Trigger level and character timeout: approximated as "any data". */
	if ((s->ier & IER_ERBFI) && (s->lsr & LSR_DR))
		return IIR_RDA;
	if ((s->ier & IER_ETBEI) && s->thr_ipending)
		return IIR_THRE;
	if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
		return IIR_MSR;
	return IIR_NO_INT;
}

/* PC wiring: INTRPT reaches the PIC only through the OUT2-enabled buffer;
 * in loopback the OUT pins are forced inactive (8.9, MCR bit 4). */
static void update_irq(struct serial *s)
{
	bool level = pending_iid(s) != IIR_NO_INT && (s->mcr & MCR_OUT2) &&
		     !(s->mcr & MCR_LOOP);
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
		if (level)
			counter_inc(&s->dev.counters.interrupts);
	}
}

/* In loopback, MSR bits 4-7 follow MCR DTR/RTS/OUT1/OUT2 (8.9). */
static uint8_t msr_lines(uint8_t mcr)
{
	if (!(mcr & MCR_LOOP))
		return MSR_LINES_IDLE;
	uint8_t v = 0;
	if (mcr & MCR_RTS)
		v |= MSR_CTS;
	if (mcr & MCR_DTR)
		v |= MSR_DSR;
	if (mcr & MCR_OUT1)
		v |= MSR_RI;
	if (mcr & MCR_OUT2)
		v |= MSR_DCD;
	return v;
}

/* Sets the delta bits for the line changes (TERI only on RI falling). */
static void update_msr(struct serial *s)
{
	uint8_t old = s->msr & ~MSR_DELTAS, now = msr_lines(s->mcr);
	uint8_t changed = old ^ now, delta = 0;
	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	s->msr = (uint8_t)(now | (s->msr & MSR_DELTAS) | delta);
}

static void rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
	s->lsr &= (uint8_t)~LSR_DR;
}

/* A character arrives at the receiver. Overrun (8.4, LSR bit 1): in FIFO
 * mode the new character is lost; without FIFO it overwrites RBR. */
static void rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count >= rx_capacity(s->fcr)) {
		s->lsr |= LSR_OE;
		counter_inc(&s->dev.counters.rejected); /* only loopback overruns */
		if (!(s->fcr & FCR_ENABLE))
			s->rx[s->rx_head] = byte;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
	s->rx_count++;
	s->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct serial *s)
{
	if (s->rx_count == 0)
		return s->rx[s->rx_head]; /* RBR keeps the last character */
	uint8_t byte = s->rx[s->rx_head];
	s->rx_count--;
	if (s->rx_count == 0)
		s->lsr &= (uint8_t)~LSR_DR;
	else
		s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	return byte;
}

static void reset_regs(struct serial *s)
{
	/* Reset values, table V. The divisor is not reset on the chip; start at
	 * 9600 baud (115200 / 12). */
	s->ier = 0;
	s->lcr = 0;
	s->mcr = 0;
	s->fcr = 0;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_LINES_IDLE;
	s->scr = 0;
	s->dll = 12;
	s->dlm = 0;
	s->thr_ipending = false;
	rx_clear(s);
	memset(s->rx, 0, sizeof(s->rx));
}

static void write_thr(struct serial *s, uint8_t byte)
{
	/* Writing THR clears the THRE interrupt (table IV); the byte then leaves
	 * at once and THR is empty again, which re-arms it: the line drops and
	 * rises, giving the edge-triggered PIC a fresh edge. */
	s->thr_ipending = false;
	update_irq(s);
	if (s->mcr & MCR_LOOP) {
		rx_push(s, byte); /* loopback: TSR → RSR internally (8.9) */
	} else if (s->out) {
		s->out(s->opaque, &byte, 1);
		counter_inc(&s->dev.counters.bytes_in);
	} else {
		counter_inc(&s->dev.counters.errors); /* nowhere to send it: dropped */
	}
	s->lsr |= LSR_THRE | LSR_TEMT;
	s->thr_ipending = true;
}

static void write_fcr(struct serial *s, uint8_t v)
{
	/* Changing FCR0 resets both FIFOs (8.7). There is no TX FIFO content to
	 * drop since transmission is instantaneous. */
	if ((v ^ s->fcr) & FCR_ENABLE)
		rx_clear(s);
	if (v & FCR_CLEAR_RX)
		rx_clear(s);
	/* Bits 1-2 self-clear; bits 3-5 (DMA mode, reserved) are ignored. */
	s->fcr = v & (FCR_ENABLE | FCR_TRIGGER);
	if (!(s->fcr & FCR_ENABLE))
		s->fcr = 0;
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			write_thr(s, v);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling ETBEI with THR empty raises THRE at once (as Linux's
		 * THRE test expects); disabling it drops the pending state. */
		if ((v & IER_ETBEI) && !(s->ier & IER_ETBEI) && (s->lsr & LSR_THRE))
			s->thr_ipending = true;
		else if (!(v & IER_ETBEI))
			s->thr_ipending = false;
		s->ier = v & IER_MASK;
		break;
	case REG_IIR_FCR:
		write_fcr(s, v);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & MCR_MASK;
		update_msr(s);
		break;
	case REG_LSR:
		/* Factory test register: writes are ignored here. */
		break;
	case REG_MSR:
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default:
		break;
	}
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		return rx_pop(s);
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		v = pending_iid(s);
		/* Reading IIR clears THRE when it is the reported source. */
		if (v == IIR_THRE)
			s->thr_ipending = false;
		return (uint8_t)(v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0));
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		v = s->lsr;
		s->lsr &= (uint8_t)~LSR_ERRS; /* error bits clear on read */
		return v;
	case REG_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~MSR_DELTAS;
		return v;
	case REG_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

/* After a guest access: the host must hear when the RX FIFO went empty, or
 * is empty and usable again (loopback left, FIFO reset) while it still holds
 * input that serial_receive refused. The caller invokes the callback after
 * unlocking. */
static bool want_drained(struct serial *s, unsigned count_before)
{
	if (s->rx_count != 0 || !s->drained)
		return false;
	if (count_before == 0 && !(s->host_blocked && !(s->mcr & MCR_LOOP)))
		return false;
	s->host_blocked = false;
	return true;
}

/* Each byte of a wider access goes to the next register, like an ISA bus
 * cycle per byte; bytes past SCR read as all-ones and are ignored. */
static void serial_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct serial *s = opaque;
	counter_inc(&s->dev.counters.exits);
	pthread_mutex_lock(&s->lock);
	unsigned before = s->rx_count;
	for (unsigned i = 0; i < len; i++) {
		bool in = offset < SERIAL_NREGS && i < SERIAL_NREGS - offset;
		data[i] = in ? reg_read(s, (unsigned)offset + i) : 0xff;
	}
	update_irq(s);
	bool notify = want_drained(s, before);
	pthread_mutex_unlock(&s->lock);
	if (notify)
		s->drained(s->opaque);
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct serial *s = opaque;
	counter_inc(&s->dev.counters.exits);
	pthread_mutex_lock(&s->lock);
	unsigned before = s->rx_count;
	for (unsigned i = 0; i < len; i++) {
		if (offset < SERIAL_NREGS && i < SERIAL_NREGS - offset)
			reg_write(s, (unsigned)offset + i, data[i]);
	}
	update_irq(s);
	bool notify = want_drained(s, before);
	pthread_mutex_unlock(&s->lock);
	if (notify)
		s->drained(s->opaque);
}

const struct iobus_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
};

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	if (!(s->mcr & MCR_LOOP)) {
		unsigned cap = rx_capacity(s->fcr);
		while (n < len && s->rx_count < cap)
			rx_push(s, buf[n++]);
	}
	if (n < len)
		s->host_blocked = true;
	counter_add(&s->dev.counters.bytes_out, n);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- the device contract (core/device.h) ---- */

#define SERIAL_STATE_VERSION 1

/* Power-on state; the host hears of the emptied FIFO if it was held back. */
static void serial_reset(struct device *dev)
{
	struct serial *s = container_of(dev, struct serial, dev);
	pthread_mutex_lock(&s->lock);
	reset_regs(s);
	update_irq(s);
	bool notify = s->host_blocked && s->drained;
	s->host_blocked = false;
	pthread_mutex_unlock(&s->lock);
	if (notify)
		s->drained(s->opaque);
}

/* Section "serial": the registers as the chip holds them (IIR is computed
 * from them and thre_pending), the RX FIFO oldest byte first, and RBR, the
 * last character, which a read of an empty FIFO returns again. There is no
 * TX state: a THR write leaves at once. Host flow control (serial_receive
 * refused bytes) is the host's, not saved: the backend offers its input to
 * the loaded device anew. */
static int serial_save(struct device *dev, struct state_writer *w)
{
	struct serial *s = container_of(dev, struct serial, dev);
	uint8_t rx[SERIAL_FIFO_SIZE];
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->rx_count; i++)
		rx[i] = s->rx[(s->rx_head + i) % SERIAL_FIFO_SIZE];
	state_begin(w, dev->ops->kind, SERIAL_STATE_VERSION);
	state_put_u8(w, "ier", s->ier);
	state_put_bool(w, "thre_pending", s->thr_ipending);
	state_put_u8(w, "fcr", s->fcr);
	state_put_u8(w, "lcr", s->lcr);
	state_put_u8(w, "mcr", s->mcr);
	state_put_u8(w, "lsr", s->lsr);
	state_put_u8(w, "msr", s->msr);
	state_put_u8(w, "scr", s->scr);
	state_put_u8(w, "dll", s->dll);
	state_put_u8(w, "dlm", s->dlm);
	state_put_u8(w, "rbr", s->rx[s->rx_head]);
	state_put_bytes(w, "rx_fifo", rx, s->rx_count);
	state_end(w);
	pthread_mutex_unlock(&s->lock);
	return w->error;
}

/* What a record holds, checked as a whole before any of it is applied. */
struct serial_saved {
	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm, rbr;
	bool thre_pending;
	uint8_t rx[SERIAL_FIFO_SIZE];
	size_t rx_count;
};

static int serial_read_record(struct state_reader *r, const char *kind, struct serial_saved *v)
{
	if (state_enter(r, kind, SERIAL_STATE_VERSION, NULL) < 0)
		return -EINVAL;
	legacy_get_reg8(r, "ier", &v->ier, IER_MASK);
	state_get_bool(r, "thre_pending", &v->thre_pending);
	legacy_get_reg8(r, "fcr", &v->fcr, FCR_ENABLE | FCR_TRIGGER);
	state_get_u8(r, "lcr", &v->lcr);
	legacy_get_reg8(r, "mcr", &v->mcr, MCR_MASK);
	legacy_get_reg8(r, "lsr", &v->lsr, LSR_MASK);
	state_get_u8(r, "msr", &v->msr);
	state_get_u8(r, "scr", &v->scr);
	state_get_u8(r, "dll", &v->dll);
	state_get_u8(r, "dlm", &v->dlm);
	state_get_u8(r, "rbr", &v->rbr);
	state_get_bytes_max(r, "rx_fifo", v->rx, sizeof(v->rx), &v->rx_count);
	if (state_failed(r))
		return -EINVAL;
	/* The registers must be ones this model can be in. */
	if ((v->fcr & FCR_TRIGGER) && !(v->fcr & FCR_ENABLE))
		return state_invalid(r, "fcr", "0x%02x: a trigger level without the FIFO", v->fcr);
	if ((v->lsr & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT))
		return state_invalid(r, "lsr", "0x%02x: THRE and TEMT are always set here", v->lsr);
	if ((v->msr & ~MSR_DELTAS) != msr_lines(v->mcr))
		return state_invalid(r, "msr", "0x%02x: lines 0x%02x do not follow mcr 0x%02x", v->msr,
				     v->msr & ~MSR_DELTAS, v->mcr);
	if (v->rx_count > rx_capacity(v->fcr))
		return state_invalid(r, "rx_fifo", "%zu bytes, the receiver holds %u", v->rx_count,
				     rx_capacity(v->fcr));
	if (!(v->lsr & LSR_DR) != !v->rx_count)
		return state_invalid(r, "lsr", "0x%02x: DR disagrees with %zu bytes in rx_fifo",
				     v->lsr, v->rx_count);
	return state_leave(r);
}

/* Into a fresh instance: the guest then reads the same bytes and, with the
 * line's level recomputed, sees the same interrupt pending. */
static int serial_load(struct device *dev, struct state_reader *r)
{
	struct serial *s = container_of(dev, struct serial, dev);
	struct serial_saved v = {0};
	if (serial_read_record(r, dev->ops->kind, &v) < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = v.ier;
	s->thr_ipending = v.thre_pending;
	s->fcr = v.fcr;
	s->lcr = v.lcr;
	s->mcr = v.mcr;
	s->lsr = v.lsr;
	s->msr = v.msr;
	s->scr = v.scr;
	s->dll = v.dll;
	s->dlm = v.dlm;
	memcpy(s->rx, v.rx, sizeof(s->rx));
	s->rx_head = 0;
	s->rx_count = (unsigned)v.rx_count;
	if (!v.rx_count)
		s->rx[0] = v.rbr;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void serial_dev_destroy(struct device *dev)
{
	serial_destroy(container_of(dev, struct serial, dev));
}

/* No counters op: the device's own struct device counters are all it has. */
static const struct device_ops serial_dev_ops = {
	.kind = "serial",
	.reset = serial_reset,
	.save = serial_save,
	.load = serial_load,
	.destroy = serial_dev_destroy,
};

struct serial *serial_create(struct irq_line irq, serial_output_fn out,
			     serial_rx_drained_fn drained, void *opaque)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	device_init(&s->dev, &serial_dev_ops, "serial0");
	s->irq = irq;
	s->out = out;
	s->drained = drained;
	s->opaque = opaque;
	reset_regs(s);
	irq_line_set(&s->irq, false);
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct device *serial_device(struct serial *s)
{
	return &s->dev;
}
