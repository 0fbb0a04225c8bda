/* 16550A UART. Register and bit names follow the PC16550D datasheet
 * (section 8, "Registers"). Transmission is instantaneous: a byte written to
 * THR leaves at once, so THRE and TEMT are always set outside loopback. */
#include "devices/serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"

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

static unsigned rx_capacity(const struct serial *s)
{
	return (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1;
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
	}
}

/* In loopback, MSR bits 4-7 follow MCR DTR/RTS/OUT1/OUT2 (8.9). */
static uint8_t msr_lines(const struct serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return MSR_LINES_IDLE;
	uint8_t v = 0;
	if (s->mcr & MCR_RTS)
		v |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		v |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		v |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		v |= MSR_DCD;
	return v;
}

/* Sets the delta bits for the line changes (TERI only on RI falling). */
static void update_msr(struct serial *s)
{
	uint8_t old = s->msr & ~MSR_DELTAS, now = msr_lines(s);
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
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr |= LSR_OE;
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
	s->irq_level = false;
	s->host_blocked = false;
	rx_clear(s);
}

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

static void write_thr(struct serial *s, uint8_t byte)
{
	/* Writing THR clears the THRE interrupt (table IV); the byte then leaves
	 * at once and THR is empty again, which re-arms it: the line drops and
	 * rises, giving the edge-triggered PIC a fresh edge. */
	s->thr_ipending = false;
	update_irq(s);
	if (s->mcr & MCR_LOOP)
		rx_push(s, byte); /* loopback: TSR → RSR internally (8.9) */
	else if (s->out)
		s->out(s->opaque, &byte, 1);
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
		unsigned cap = rx_capacity(s);
		while (n < len && s->rx_count < cap)
			rx_push(s, buf[n++]);
	}
	if (n < len)
		s->host_blocked = true;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
