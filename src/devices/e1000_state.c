/* The e1000's state record (core/state.h), written by the device
 * contract's save and read by its load into a freshly created instance:
 *
 *   section "e1000" v1
 *     mac                the EEPROM's address: must be this instance's
 *     section "regs"     the register file, one u32 per register, named
 *     mta ra vfta stats  the tables, little-endian words
 *     ioaddr             BAR1's register selector
 *     section "eeprom"   the microwire state machine (e1000_eeprom.c)
 *     section "phy"      the PHY's registers (e1000_phy.c)
 *     section "tx"       the TCP/IP context, and
 *       optional "packet"  the packet gathered so far, when its EOP
 *                          descriptor is not in the ring yet
 *     section "irq"      the INTx level and what is left of ITR's wait
 *       optional "delays"  the causes an interrupt delay holds back, and
 *                          the time left on each delay timer (0: off)
 *     section "pci"      the PCI function (bus/pci.h), last: see below
 *
 * The save first quiesces transmission (the ring up to TDT is processed
 * now), so a packet is half gathered only when the guest has not posted
 * the rest. Received frames are placed as they arrive: nothing is in
 * flight on that side.
 *
 * The load reads and validates everything into a staging copy before it
 * changes anything: what a register write could never leave (read-only or
 * reserved bits, interrupt causes that do not exist), and for an enabled
 * ring a length of whole 128-byte units, head and tail inside it and the
 * ring inside guest RAM. A disabled ring is not checked: a driver
 * programs its registers one at a time while it is off. PCI state applies
 * as it loads (pci_dev_load validates, then applies), so it comes last and
 * is undone if the end of the section then turns out to be bad. */
#include "devices/e1000_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/state.h"

#define E1000_STATE_VERSION 1
/* ITR postpones an interrupt by at most this much. */
#define ITR_MAX_WAIT_NS ((uint64_t)ITR_INTERVAL_MASK * ITR_UNIT_NS)
/* A delay timer runs for at most this much. */
#define DELAY_MAX_NS ((uint64_t)DELAY_MASK * DELAY_UNIT_NS)
/* The causes a delay can hold back (e1000_irq.c). */
#define HELD_CAUSES (ICR_RXT0 | ICR_TXDW)
/* The largest table saved as words (MTA, VFTA). */
#define TABLE_WORDS_MAX 128
/* EERD: the data, the address and DONE (START does not stick). */
#define EERD_STORED (0xFFFF0000u | 0xFF00u | EERD_DONE)

_Static_assert(E1000_MTA_WORDS <= TABLE_WORDS_MAX && E1000_VFTA_WORDS <= TABLE_WORDS_MAX &&
		       2 * E1000_RA_ENTRIES <= TABLE_WORDS_MAX && E1000_NSTATS <= TABLE_WORDS_MAX,
	       "a table does not fit the word buffer");

/* Everything a load applies, read and validated first. */
struct staged {
	uint32_t reg[E1000_NREGS];
	uint32_t mta[E1000_MTA_WORDS];
	uint32_t ra[2 * E1000_RA_ENTRIES];
	uint32_t vfta[E1000_VFTA_WORDS];
	uint32_t stats[E1000_NSTATS];
	uint32_t ioaddr;
	struct e1000_eeprom eeprom;
	struct e1000_phy phy;
	struct e1000_tx_ctx ctx;
	bool in_packet, legacy, tse;
	uint8_t popts, css, error;
	size_t len;
	bool irq_level;
	uint64_t itr_wait_ns;
	uint32_t irq_held;
	uint64_t delay_left[E1000_NDELAYS][2]; /* packet, abs; 0: off */
	uint8_t buf[E1000_TX_MAX];
};

/* ---- Save ---- */

static void put_words(struct state_writer *w, const char *name, const uint32_t *v, size_t n)
{
	uint8_t le[TABLE_WORDS_MAX * 4];
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < 4; b++)
			le[4 * i + b] = (uint8_t)(v[i] >> (8 * b));
	state_put_bytes(w, name, le, n * 4);
}

static void save_tx(const struct e1000_tx *t, struct state_writer *w)
{
	const struct e1000_tx_ctx *c = &t->ctx;
	state_begin(w, "tx", 1);
	state_put_u8(w, "ipcss", c->ipcss);
	state_put_u8(w, "ipcso", c->ipcso);
	state_put_u16(w, "ipcse", c->ipcse);
	state_put_u8(w, "tucss", c->tucss);
	state_put_u8(w, "tucso", c->tucso);
	state_put_u16(w, "tucse", c->tucse);
	state_put_u8(w, "tucmd", c->tucmd);
	state_put_u8(w, "hdrlen", c->hdrlen);
	state_put_u16(w, "mss", c->mss);
	state_put_u32(w, "paylen", c->paylen);
	if (t->in_packet) {
		state_begin_optional(w, "packet", 1);
		state_put_bool(w, "legacy", t->legacy);
		state_put_bool(w, "tse", t->tse);
		state_put_u8(w, "popts", t->popts);
		state_put_u8(w, "css", t->css);
		state_put_u8(w, "error", t->error);
		state_put_bytes(w, "data", t->buf, t->len);
		state_end(w);
	}
	state_end(w);
}

/* The time left until deadline (at most max; 0 if passed or
 * E1000_NEVER), not the deadline: the clock is this process's. */
static uint64_t time_left(int64_t deadline, int64_t now, uint64_t max)
{
	if (deadline == E1000_NEVER || deadline <= now)
		return 0;
	return (uint64_t)(deadline - now) < max ? (uint64_t)(deadline - now) : max;
}

/* A delay timer's record: 0 is "off", so a running one keeps 1 ns. */
static uint64_t delay_left(int64_t deadline, int64_t now)
{
	if (deadline == E1000_NEVER)
		return 0;
	uint64_t left = time_left(deadline, now, DELAY_MAX_NS);
	return left ? left : 1;
}

static const char *const delay_names[E1000_NDELAYS][2] = {
	[E1000_DELAY_RX] = {"rdtr_ns", "radv_ns"},
	[E1000_DELAY_TX] = {"tidv_ns", "tadv_ns"},
};

static void save_irq(const struct e1000 *e, struct state_writer *w)
{
	int64_t now = e1000_now_ns(e);
	state_begin(w, "irq", 1);
	state_put_bool(w, "level", e->irq_level);
	state_put_u64(w, "itr_wait_ns", time_left(e->itr_next_ns, now, ITR_MAX_WAIT_NS));
	if (e->irq_held) {
		state_begin_optional(w, "delays", 1);
		state_put_u32(w, "held", e->irq_held);
		for (unsigned k = 0; k < E1000_NDELAYS; k++) {
			const struct e1000_delay *d = &e->delay[k];
			state_put_u64(w, delay_names[k][0], delay_left(d->packet, now));
			state_put_u64(w, delay_names[k][1], delay_left(d->abs, now));
		}
		state_end(w);
	}
	state_end(w);
}

int e1000_save(struct e1000 *e, struct state_writer *w)
{
	pthread_mutex_lock(&e->lock);
	e1000_tx_quiesce(e);
	state_begin(w, "e1000", E1000_STATE_VERSION);
	state_put_bytes(w, "mac", e->mac, sizeof(e->mac));
	state_begin(w, "regs", 1);
	for (unsigned i = 0; i < E1000_NREGS; i++)
		state_put_u32(w, e1000_regs[i].name, e->reg[i]);
	state_end(w);
	put_words(w, "mta", e->mta, E1000_MTA_WORDS);
	put_words(w, "ra", e->ra, 2 * E1000_RA_ENTRIES);
	put_words(w, "vfta", e->vfta, E1000_VFTA_WORDS);
	put_words(w, "stats", e->stats, E1000_NSTATS);
	state_put_u32(w, "ioaddr", e->ioaddr);
	e1000_eeprom_save(&e->eeprom, w);
	e1000_phy_save(&e->phy, w);
	save_tx(&e->tx, w);
	save_irq(e, w);
	int err = pci_dev_save(&e->pci, w);
	state_end(w);
	pthread_mutex_unlock(&e->lock);
	if (!err)
		err = w->error;
	if (err)
		log_error("%s: cannot save its state: %s", e->dev.id, strerror(-err));
	return err;
}

/* ---- Load: read and validate ---- */

static int get_words(struct state_reader *r, const char *name, uint32_t *v, size_t n)
{
	uint8_t le[TABLE_WORDS_MAX * 4];
	if (state_get_bytes(r, name, le, n * 4) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		v[i] = (uint32_t)le[4 * i] | (uint32_t)le[4 * i + 1] << 8 |
		       (uint32_t)le[4 * i + 2] << 16 | (uint32_t)le[4 * i + 3] << 24;
	return 0;
}

/* One descriptor ring's registers. */
struct ring {
	unsigned bal, bah, len, head, tail;
	unsigned ctl;       /* RCTL or TCTL */
	uint32_t enable;    /* its EN bit */
};

static const struct ring rx_ring = {R_RDBAL, R_RDBAH, R_RDLEN, R_RDH, R_RDT, R_RCTL, RCTL_EN};
static const struct ring tx_ring = {R_TDBAL, R_TDBAH, R_TDLEN, R_TDH, R_TDT, R_TCTL, TCTL_EN};

static int check_ring(const struct e1000 *e, const uint32_t *reg, const struct ring *g,
		      struct state_reader *r)
{
	uint32_t bytes = reg[g->len];
	/* Both descriptor kinds are 16 bytes: RXD_SIZE == TXD_SIZE. */
	uint32_t n = bytes / RXD_SIZE;
	if (bytes % 128)
		return state_invalid(r, e1000_regs[g->len].name,
				     "%u bytes is not a multiple of 128", bytes);
	if (!(reg[g->ctl] & g->enable))
		return 0;
	if (!n)
		return state_invalid(r, e1000_regs[g->len].name, "0: the ring is enabled and empty");
	if (reg[g->head] >= n)
		return state_invalid(r, e1000_regs[g->head].name,
				     "%u is beyond the ring's %u descriptors", reg[g->head], n);
	if (reg[g->tail] >= n)
		return state_invalid(r, e1000_regs[g->tail].name,
				     "%u is beyond the ring's %u descriptors", reg[g->tail], n);
	uint64_t base = (uint64_t)reg[g->bah] << 32 | reg[g->bal];
	if (!guest_mem_ptr(e->mem, base, bytes))
		return state_invalid(r, e1000_regs[g->bal].name,
				     "the ring at 0x%llx, %u bytes, is not in guest RAM",
				     (unsigned long long)base, bytes);
	return 0;
}

/* What reg_write can leave in register i. */
static int check_reg(struct state_reader *r, unsigned i, uint32_t v)
{
	const struct e1000_reg_info *ri = &e1000_regs[i];
	uint32_t bad;
	switch (i) {
	case R_ICR:
	case R_IMS:
		bad = v & ~ICR_VALID;
		if (bad)
			return state_invalid(r, ri->name, "bits 0x%x are not interrupt causes", bad);
		return 0;
	case R_EERD:
		bad = v & ~EERD_STORED;
		break;
	case R_MDIC: /* the driver's last command and its result: any value */
		return 0;
	default:
		bad = (v ^ ri->reset) & ~ri->wmask;
		break;
	}
	if (bad)
		return state_invalid(r, ri->name, "0x%08x: bits 0x%x are read-only or reserved", v,
				     bad);
	return 0;
}

static int load_regs(const struct e1000 *e, struct staged *s, struct state_reader *r)
{
	state_enter(r, "regs", 1, NULL);
	for (unsigned i = 0; i < E1000_NREGS; i++)
		state_get_u32(r, e1000_regs[i].name, &s->reg[i]);
	if (state_failed(r))
		return -EINVAL;
	/* The rings first: their errors say more than "reserved bits". */
	if (check_ring(e, s->reg, &rx_ring, r) < 0 || check_ring(e, s->reg, &tx_ring, r) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < E1000_NREGS; i++)
		if (check_reg(r, i, s->reg[i]) < 0)
			return -EINVAL;
	return state_leave(r);
}

static int load_tables(struct staged *s, struct state_reader *r)
{
	get_words(r, "mta", s->mta, E1000_MTA_WORDS);
	get_words(r, "ra", s->ra, 2 * E1000_RA_ENTRIES);
	get_words(r, "vfta", s->vfta, E1000_VFTA_WORDS);
	get_words(r, "stats", s->stats, E1000_NSTATS);
	state_get_u32(r, "ioaddr", &s->ioaddr);
	if (state_failed(r))
		return -EINVAL;
	for (unsigned i = 1; i < 2 * E1000_RA_ENTRIES; i += 2) {
		uint32_t bad = s->ra[i] & ~(RAH_AV | RAH_AS_MASK | 0xFFFFu);
		if (bad)
			return state_invalid(r, "ra", "RAH%u 0x%08x: bits 0x%x are reserved", i / 2,
					     s->ra[i], bad);
	}
	if (s->ioaddr & ~E1000_IOADDR_MASK)
		return state_invalid(r, "ioaddr", "0x%x is beyond the register space", s->ioaddr);
	return 0;
}

static int load_packet(struct staged *s, struct state_reader *r)
{
	state_get_bool(r, "legacy", &s->legacy);
	state_get_bool(r, "tse", &s->tse);
	state_get_u8(r, "popts", &s->popts);
	state_get_u8(r, "css", &s->css);
	state_get_u8(r, "error", &s->error);
	state_get_bytes_max(r, "data", s->buf, sizeof(s->buf), &s->len);
	if (state_failed(r))
		return -EINVAL;
	/* What process_desc latches from a packet's first descriptor. */
	if (s->error > TX_DMA)
		return state_invalid(r, "error", "%u is not a transmit error", s->error);
	if (s->legacy && s->tse)
		return state_invalid(r, "tse", "a legacy packet cannot be segmented");
	if (s->legacy && s->popts)
		return state_invalid(r, "popts", "0x%x on a legacy packet", s->popts);
	if (!s->legacy && s->css)
		return state_invalid(r, "css", "%u on an extended packet", s->css);
	s->in_packet = true;
	return state_leave(r);
}

static int load_tx(struct staged *s, struct state_reader *r)
{
	struct e1000_tx_ctx *c = &s->ctx;
	state_enter(r, "tx", 1, NULL);
	state_get_u8(r, "ipcss", &c->ipcss);
	state_get_u8(r, "ipcso", &c->ipcso);
	state_get_u16(r, "ipcse", &c->ipcse);
	state_get_u8(r, "tucss", &c->tucss);
	state_get_u8(r, "tucso", &c->tucso);
	state_get_u16(r, "tucse", &c->tucse);
	state_get_u8(r, "tucmd", &c->tucmd);
	state_get_u8(r, "hdrlen", &c->hdrlen);
	state_get_u16(r, "mss", &c->mss);
	state_get_u32_range(r, "paylen", &c->paylen, 0, 0xFFFFF); /* a 20-bit field */
	int packet = state_enter_optional(r, "packet", 1, NULL);
	if (packet < 0 || (packet > 0 && load_packet(s, r) < 0))
		return -EINVAL;
	return state_leave(r);
}

/* Held causes are pending in ICR and wait for a running timer (the
 * per-frame one always runs while its cause is held). */
static int load_delays(struct staged *s, struct state_reader *r)
{
	static const uint32_t cause[E1000_NDELAYS] = {
		[E1000_DELAY_RX] = ICR_RXT0, [E1000_DELAY_TX] = ICR_TXDW};
	state_get_u32(r, "held", &s->irq_held);
	for (unsigned k = 0; k < E1000_NDELAYS; k++)
		for (unsigned t = 0; t < 2; t++)
			state_get_u64_range(r, delay_names[k][t], &s->delay_left[k][t], 0,
					    DELAY_MAX_NS);
	if (state_failed(r))
		return -EINVAL;
	if (s->irq_held & ~HELD_CAUSES)
		return state_invalid(r, "held", "0x%x: only RXT0 and TXDW can be held",
				     s->irq_held);
	if (s->irq_held & ~s->reg[R_ICR])
		return state_invalid(r, "held", "0x%x is not pending in ICR", s->irq_held);
	for (unsigned k = 0; k < E1000_NDELAYS; k++) {
		bool held = s->irq_held & cause[k];
		if (held != (s->delay_left[k][0] != 0))
			return state_invalid(r, delay_names[k][0], "%s timer with its cause %s",
					     held ? "no" : "a", held ? "held" : "not held");
		if (!held && s->delay_left[k][1])
			return state_invalid(r, delay_names[k][1], "a timer without its cause held");
	}
	return state_leave(r);
}

static int load_irq(struct staged *s, struct state_reader *r)
{
	state_enter(r, "irq", 1, NULL);
	state_get_bool(r, "level", &s->irq_level);
	state_get_u64_range(r, "itr_wait_ns", &s->itr_wait_ns, 0, ITR_MAX_WAIT_NS);
	if (state_failed(r))
		return -EINVAL;
	/* The line drops as soon as no enabled cause is pending. */
	if (s->irq_level && !(s->reg[R_ICR] & s->reg[R_IMS]))
		return state_invalid(r, "level", "INTx asserted without an enabled cause pending");
	int delays = state_enter_optional(r, "delays", 1, NULL);
	if (delays < 0 || (delays > 0 && load_delays(s, r) < 0))
		return -EINVAL;
	return state_leave(r);
}

/* Everything before "pci", into s; 0 or -EINVAL (error in r). */
static int load_staged(const struct e1000 *e, struct staged *s, struct state_reader *r)
{
	uint8_t mac[6];
	if (state_enter(r, "e1000", E1000_STATE_VERSION, NULL) < 0 ||
	    state_get_bytes(r, "mac", mac, sizeof(mac)) < 0)
		return -EINVAL;
	if (memcmp(mac, e->mac, sizeof(mac)))
		return state_invalid(r, "mac",
				     "%02x:%02x:%02x:%02x:%02x:%02x is not this instance's address",
				     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (load_regs(e, s, r) < 0 || load_tables(s, r) < 0 ||
	    e1000_eeprom_load(&s->eeprom, r) < 0 || e1000_phy_load(&s->phy, r) < 0 ||
	    load_tx(s, r) < 0 || load_irq(s, r) < 0)
		return -EINVAL;
	return 0;
}

/* The PCI function, then the end of the section; a bad end undoes the
 * PCI state that already applied. */
static int load_pci(struct e1000 *e, struct state_reader *r)
{
	struct state_writer undo;
	state_writer_init(&undo);
	if (pci_dev_save(&e->pci, &undo) < 0) {
		state_writer_free(&undo);
		return state_invalid(r, "pci", "out of memory keeping the current configuration");
	}
	int err = pci_dev_load(&e->pci, r);
	if (!err && state_leave(r) < 0) {
		struct state_reader back;
		state_reader_init(&back, undo.buf, undo.len, e->dev.id);
		if (pci_dev_load(&e->pci, &back) < 0)
			log_error("%s: cannot undo a configuration space load: %s", e->dev.id,
				  state_error(&back));
		err = -EINVAL;
	}
	state_writer_free(&undo);
	return err;
}

/* ---- Load: apply ---- */

static void apply(struct e1000 *e, const struct staged *s)
{
	memcpy(e->reg, s->reg, sizeof(e->reg));
	memcpy(e->mta, s->mta, sizeof(e->mta));
	memcpy(e->ra, s->ra, sizeof(e->ra));
	memcpy(e->vfta, s->vfta, sizeof(e->vfta));
	memcpy(e->stats, s->stats, sizeof(e->stats));
	e->ioaddr = s->ioaddr;
	e->eeprom = s->eeprom;
	e->phy = s->phy;

	struct e1000_tx *t = &e->tx;
	t->ctx = s->ctx;
	t->in_packet = s->in_packet;
	t->legacy = s->legacy;
	t->tse = s->tse;
	t->popts = s->popts;
	t->css = s->css;
	t->error = s->error;
	t->len = s->len;
	memcpy(t->buf, s->buf, s->len);

	/* The line itself came with the PCI status register; a cause that was
	 * waiting for ITR or a delay is asserted when its wait ends (now, or
	 * by the timer). */
	int64_t now = e1000_now_ns(e);
	e->irq_level = s->irq_level;
	e1000_irq_reset(e);
	e->itr_next_ns = now + (int64_t)s->itr_wait_ns;
	e->irq_held = s->irq_held;
	for (unsigned k = 0; k < E1000_NDELAYS; k++) {
		const uint64_t *left = s->delay_left[k];
		e->delay[k].packet = left[0] ? now + (int64_t)left[0] : E1000_NEVER;
		e->delay[k].abs = left[1] ? now + (int64_t)left[1] : E1000_NEVER;
	}
	e1000_irq_update(e);
}

int e1000_load(struct e1000 *e, struct state_reader *r)
{
	struct staged *s = calloc(1, sizeof(*s));
	if (!s)
		return state_invalid(r, "e1000", "out of memory");
	pthread_mutex_lock(&e->lock);
	s->eeprom = e->eeprom; /* the image is this instance's; the load sets the rest */
	int err = load_staged(e, s, r);
	if (!err)
		err = load_pci(e, r);
	if (!err)
		apply(e, s);
	pthread_mutex_unlock(&e->lock);
	free(s);
	return err;
}
