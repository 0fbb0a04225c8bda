/* e1000 interrupts: ICR causes, the INTx level, and interrupt moderation
 * (8254x SDM §13.4.17-21; ITR §13.4.18; the delay timers in the RDTR,
 * RADV, TIDV and TADV register descriptions, §13.4).
 *
 * A cause is set in ICR at once, so a driver that reads ICR for another
 * reason sees it; only the interrupt waits:
 *   - RXT0 waits for the receive delay: RDTR restarts with each frame
 *     placed, RADV (when nonzero) runs from the first frame since the last
 *     interrupt and caps the wait; RDTR 0 means no delay (RADV is then
 *     ignored); RDTR written with FPD ends the wait at once.
 *   - TXDW waits likewise for TIDV/TADV when every descriptor that asked
 *     for it (RS) also had IDE set; RS without IDE interrupts at once and
 *     cancels the transmit delay. A few descriptors sent at once on the
 *     vCPU (an ACK, e1000_tx.c) interrupt at once too: a timer per ACK
 *     costs more than the interrupt it might save.
 *   - ITR spaces assertions by its interval, whatever the cause.
 * One timerfd on the loop serves all three. It is armed lazily: a
 * deadline that moves later (RDTR restarted by the next frame) keeps the
 * earlier expiry, which then finds nothing due and re-arms; so a frame
 * costs no system call while the timer is already set. Without a loop
 * there is no timer and nothing is delayed or throttled. */
#include "devices/e1000_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"

/* Each delay: the cause it holds back and its two registers. */
static const struct {
	uint32_t cause;
	unsigned idv, adv;
} delays[E1000_NDELAYS] = {
	[E1000_DELAY_RX] = {ICR_RXT0, R_RDTR, R_RADV},
	[E1000_DELAY_TX] = {ICR_TXDW, R_TIDV, R_TADV},
};

#define ICR_RX_CAUSES (ICR_RXDMT0 | ICR_RXO | ICR_RXT0 | ICR_SRPD)
#define ICR_TX_CAUSES (ICR_TXDW | ICR_TXQE | ICR_TXD_LOW)

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* An assertion counts for the device, and for each queue one of whose
 * causes is pending (one INTx serves both). */
static void count_interrupt(struct e1000 *e, uint32_t pending)
{
	e->st.irqs++;
	counter_inc(&e->dev.counters.interrupts);
	if (pending & ICR_RX_CAUSES)
		counter_inc(&e->rxq.interrupts);
	if (pending & ICR_TX_CAUSES)
		counter_inc(&e->txq.interrupts);
}

/* Makes the timer fire by next (device clock) unless it already will. */
static void timer_want(struct e1000 *e, int64_t next)
{
	if (next == E1000_NEVER || e->timer_fd < 0 || e->timer_at <= next)
		return;
	int64_t now = e1000_now_ns(e);
	int64_t delay = next - now < 1 ? 1 : next - now;
	struct itimerspec its = {0};
	its.it_value.tv_sec = (time_t)(delay / 1000000000);
	its.it_value.tv_nsec = (long)(delay % 1000000000);
	if (timerfd_settime(e->timer_fd, 0, &its, NULL) < 0)
		log_warn("e1000: timerfd_settime: %s", strerror(errno));
	e->timer_at = next;
}

/* The cause of delay k may interrupt now; its timers stop. */
static void release(struct e1000 *e, enum e1000_delay_kind k)
{
	e->irq_held &= ~delays[k].cause;
	e->delay[k].packet = e->delay[k].abs = E1000_NEVER;
}

/* A held cause the driver cleared from ICR (it has seen it) takes its
 * timers with it: the next frame starts afresh. */
static void drop_cleared(struct e1000 *e)
{
	uint32_t gone = e->irq_held & ~e->reg[R_ICR];
	for (unsigned k = 0; gone && k < E1000_NDELAYS; k++)
		if (gone & delays[k].cause)
			release(e, k);
}

/* INTx follows (ICR & IMS) minus the held causes != 0. A rising edge waits
 * until ITR's interval has passed since the last one (§13.4.18: "a
 * guaranteed inter-interrupt delay"); the timer asserts it then, if a
 * cause is still pending. */
void e1000_irq_update(struct e1000 *e)
{
	drop_cleared(e);
	uint32_t pending = e->reg[R_ICR] & e->reg[R_IMS] & ~e->irq_held;
	int64_t next = E1000_NEVER;

	if (!pending) {
		if (e->irq_level) {
			e->irq_level = false;
			pci_dev_set_intx(&e->pci, false);
		}
	} else if (!e->irq_level) {
		uint32_t interval = e->reg[R_ITR] & ITR_INTERVAL_MASK;
		if (interval && e->timer_fd >= 0) {
			int64_t now = e1000_now_ns(e);
			if (now < e->itr_next_ns) {
				e->st.irqs_throttled++;
				next = e->itr_next_ns;
			} else {
				e->itr_next_ns = now + (int64_t)interval * ITR_UNIT_NS;
			}
		}
		if (next == E1000_NEVER) {
			e->irq_level = true;
			count_interrupt(e, pending);
			pci_dev_set_intx(&e->pci, true);
		}
	}
	for (unsigned k = 0; k < E1000_NDELAYS; k++)
		if (e->irq_held & delays[k].cause)
			next = min64(next, min64(e->delay[k].packet, e->delay[k].abs));
	timer_want(e, next);
}

void e1000_set_cause(struct e1000 *e, uint32_t cause)
{
	e->reg[R_ICR] |= cause & ICR_VALID;
	/* An immediate cause ends the wait of a delayed one of the same bit
	 * (RS without IDE clears the transmit delay; an ICS write). */
	for (unsigned k = 0; k < E1000_NDELAYS; k++)
		if (cause & delays[k].cause)
			release(e, k);
	e1000_irq_update(e);
}

void e1000_delay_cause(struct e1000 *e, enum e1000_delay_kind k)
{
	uint32_t idv = e->reg[delays[k].idv] & DELAY_MASK;
	uint32_t adv = e->reg[delays[k].adv] & DELAY_MASK;
	if (!idv || e->timer_fd < 0) {
		e1000_set_cause(e, delays[k].cause);
		return;
	}
	int64_t now = e1000_now_ns(e);
	struct e1000_delay *d = &e->delay[k];
	e->reg[R_ICR] |= delays[k].cause;
	e->irq_held |= delays[k].cause;
	e->st.irqs_delayed++;
	d->packet = now + (int64_t)idv * DELAY_UNIT_NS;
	if (adv && d->abs == E1000_NEVER)
		d->abs = now + (int64_t)adv * DELAY_UNIT_NS;
	e1000_irq_update(e);
}

void e1000_delay_flush(struct e1000 *e, enum e1000_delay_kind k)
{
	release(e, k);
	e1000_irq_update(e);
}

void e1000_irq_reset(struct e1000 *e)
{
	e->itr_next_ns = 0;
	e->irq_held = 0;
	for (unsigned k = 0; k < E1000_NDELAYS; k++)
		release(e, k);
	/* An armed timer fires and finds nothing due. */
}

/* The timer: delays that ran out release their cause; then the line is
 * looked at again (ITR's wait may be over) and the timer re-armed for
 * what is left. */
void e1000_irq_timer(void *opaque, uint32_t events)
{
	struct e1000 *e = opaque;
	uint64_t expirations;
	if (read(e->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("e1000: timerfd read: %s", strerror(errno));
	pthread_mutex_lock(&e->lock);
	e->timer_at = E1000_NEVER;
	int64_t now = e1000_now_ns(e);
	for (unsigned k = 0; k < E1000_NDELAYS; k++)
		if ((e->irq_held & delays[k].cause) &&
		    min64(e->delay[k].packet, e->delay[k].abs) <= now)
			release(e, k);
	e1000_irq_update(e);
	pthread_mutex_unlock(&e->lock);
}
