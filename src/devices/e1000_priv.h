/* The e1000 model's insides, shared by its files (e1000.c: PCI, register
 * file, interrupts, reset, the device contract; e1000_rx.c; e1000_tx.c;
 * e1000_eeprom.c; e1000_phy.c; e1000_state.c: the state record). Not for
 * other code: use e1000.h.
 *
 * Every function here runs with e->lock held. All guest-visible state lives
 * in struct e1000 (registers, tables, EEPROM and PHY, the transmit context
 * and the packet being gathered), so a snapshot can write it out whole. */
#ifndef IOVIRT_DEVICES_E1000_PRIV_H
#define IOVIRT_DEVICES_E1000_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "devices/e1000.h"
#include "devices/e1000_regs.h"

struct state_reader;
struct state_writer;

/* The register file: name, offset, value after reset, writable bits.
 * Registers not listed (and not in the MTA/RA/VFTA/statistics arrays) read
 * as 0 and ignore writes. Reset values follow the SDM's register tables
 * where drivers look at them (VET, LEDCTL, PBA, TSPMT). */
#define E1000_REG_LIST(X) \
	X(CTRL,     E1000_CTRL,     CTRL_FD | CTRL_SLU | CTRL_SPD_1000, ~CTRL_RST) \
	X(STATUS,   E1000_STATUS,   0,          0)           /* computed */ \
	X(EECD,     E1000_EECD,     0,          0)           /* e1000_eeprom.c */ \
	X(EERD,     E1000_EERD,     0,          0) \
	X(CTRL_EXT, E1000_CTRL_EXT, 0,          ~CTRL_EXT_EE_RST) \
	X(MDIC,     E1000_MDIC,     MDIC_READY, 0)           /* e1000_phy.c */ \
	X(FCAL,     E1000_FCAL,     0,          0xFFFFFFFF) \
	X(FCAH,     E1000_FCAH,     0,          0x0000FFFF) \
	X(FCT,      E1000_FCT,      0,          0x0000FFFF) \
	X(VET,      E1000_VET,      0x8100,     0x0000FFFF) \
	X(ICR,      E1000_ICR,      0,          0)           /* read to clear */ \
	X(ITR,      E1000_ITR,      0,          ITR_INTERVAL_MASK) \
	X(ICS,      E1000_ICS,      0,          0)           /* write only */ \
	X(IMS,      E1000_IMS,      0,          0)           /* set bits */ \
	X(IMC,      E1000_IMC,      0,          0)           /* clear IMS bits */ \
	X(RCTL,     E1000_RCTL,     0,          0x07FFFFFE) \
	X(FCTTV,    E1000_FCTTV,    0,          0x0000FFFF) \
	X(TXCW,     E1000_TXCW,     0,          0xC000FFFF) \
	X(RXCW,     E1000_RXCW,     0,          0) \
	X(TCTL,     E1000_TCTL,     0,          0x03FFFFFA) \
	X(TIPG,     E1000_TIPG,     0,          0x3FFFFFFF) \
	X(AIT,      E1000_AIT,      0,          0x0000FFFF) \
	X(LEDCTL,   E1000_LEDCTL,   0x07068302, 0xFFFFFFFF) \
	X(PBA,      E1000_PBA,      0x00100030, 0x0000FFFF) \
	X(FCRTL,    E1000_FCRTL,    0,          0x8000FFF8) \
	X(FCRTH,    E1000_FCRTH,    0,          0x0000FFF8) \
	X(RDBAL,    E1000_RDBAL,    0,          0xFFFFFFF0) \
	X(RDBAH,    E1000_RDBAH,    0,          0xFFFFFFFF) \
	X(RDLEN,    E1000_RDLEN,    0,          0x000FFF80) \
	X(RDH,      E1000_RDH,      0,          0x0000FFFF) \
	X(RDT,      E1000_RDT,      0,          0x0000FFFF) \
	X(RDTR,     E1000_RDTR,     0,          0x0000FFFF) \
	X(RXDCTL,   E1000_RXDCTL,   0x00010000, 0x013F3F3F) \
	X(RADV,     E1000_RADV,     0,          0x0000FFFF) \
	X(RSRPD,    E1000_RSRPD,    0,          0x00000FFF) \
	X(TXDMAC,   E1000_TXDMAC,   0,          0x00000001) \
	X(TDBAL,    E1000_TDBAL,    0,          0xFFFFFFF0) \
	X(TDBAH,    E1000_TDBAH,    0,          0xFFFFFFFF) \
	X(TDLEN,    E1000_TDLEN,    0,          0x000FFF80) \
	X(TDH,      E1000_TDH,      0,          0x0000FFFF) \
	X(TDT,      E1000_TDT,      0,          0x0000FFFF) \
	X(TIDV,     E1000_TIDV,     0,          0x0000FFFF) \
	X(TXDCTL,   E1000_TXDCTL,   0,          0xFF7F3F3F) \
	X(TADV,     E1000_TADV,     0,          0x0000FFFF) \
	X(TSPMT,    E1000_TSPMT,    0x01000400, 0xFFFFFFFF) \
	X(RXCSUM,   E1000_RXCSUM,   RXCSUM_IPOFL | RXCSUM_TUOFL, 0x000003FF)

enum e1000_reg {
#define E1000_REG_ENUM(name, off, reset, wmask) R_##name,
	E1000_REG_LIST(E1000_REG_ENUM)
#undef E1000_REG_ENUM
	E1000_NREGS
};

/* Each register's name (the state record's field name), value after
 * reset and the bits a driver can write (e1000.c). */
struct e1000_reg_info {
	const char *name;
	uint32_t reset, wmask;
};
extern const struct e1000_reg_info e1000_regs[E1000_NREGS];

/* The serial EEPROM behind EECD (microwire, SDM §5) and EERD. */
struct e1000_eeprom {
	uint16_t data[EEPROM_WORDS];
	uint32_t eecd;      /* the pins software drives: SK, CS, DI, FWE, REQ */
	uint16_t in;        /* opcode and address bits shifted in */
	unsigned in_bits;
	unsigned out_pos;   /* the bit on DO while reading: word * 16 + (15 - bit) */
	bool reading;
};

/* The Marvell M88E1011-compatible PHY on the MDI bus. */
struct e1000_phy {
	uint16_t reg[PHY_NREGS];
};

/* The TCP/IP context (SDM §3.3.5): offsets and TSO parameters that the
 * following data descriptors use. */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, hdrlen, tucmd;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

/* Why a packet being gathered will be dropped at its EOP. */
enum e1000_tx_error { TX_OK = 0, TX_OVERSIZE, TX_DMA };

struct e1000_tx {
	struct e1000_tx_ctx ctx;
	bool in_packet;     /* the first descriptor is in, its EOP is not */
	bool legacy, tse;   /* latched from the packet's first data descriptor */
	uint8_t popts, css; /* extended POPTS / legacy CSS, from the first too */
	uint8_t error;      /* enum e1000_tx_error */
	size_t len;         /* bytes gathered into buf */
	uint8_t buf[E1000_TX_MAX];
	uint8_t seg[E1000_TX_MAX]; /* one TCP segment being built */
};

/* An interrupt delay (e1000_irq.c): RXT0 after RDTR/RADV, TXDW after
 * TIDV/TADV. Deadlines are on e1000_now_ns's clock. */
enum e1000_delay_kind { E1000_DELAY_RX, E1000_DELAY_TX, E1000_NDELAYS };
#define E1000_NEVER INT64_MAX /* a deadline or timer that is not running */
struct e1000_delay {
	int64_t packet; /* RDTR/TIDV: restarted by each frame or descriptor */
	int64_t abs;    /* RADV/TADV: from the first one, not restarted */
};

struct e1000 {
	struct device dev;      /* kind "e1000"; its counters: exits, interrupts */
	struct pci_dev pci;
	pthread_mutex_t lock;   /* recursive: a backend may receive inside a send */
	const struct guest_mem *mem;
	struct loop *loop;
	struct net_backend *backend; /* NULL with a test's port */
	struct e1000_port port;
	uint8_t mac[6];         /* the EEPROM's address */
	struct coalesced_mmio *coalesced; /* NULL: RDT writes exit */
	uint64_t rdt_zone;      /* where RDT's coalesced zone is; 0: none */

	/* Guest-visible state. */
	uint32_t reg[E1000_NREGS];
	uint32_t mta[E1000_MTA_WORDS];
	uint32_t ra[2 * E1000_RA_ENTRIES];
	uint32_t vfta[E1000_VFTA_WORDS];
	uint32_t stats[E1000_NSTATS];
	uint32_t ioaddr;        /* BAR1 IOADDR */
	struct e1000_eeprom eeprom;
	struct e1000_phy phy;
	struct e1000_tx tx;

	/* INTx, ITR throttling and the interrupt delays (e1000_irq.c). */
	bool irq_level;
	uint32_t irq_held;      /* ICR causes whose interrupt waits for a delay */
	struct e1000_delay delay[E1000_NDELAYS];
	int64_t itr_next_ns;    /* no assertion before this (e1000_now_ns) */
	int timer_fd;           /* -1 without a loop: no delays, no throttling */
	int64_t timer_at;       /* when timer_fd fires; E1000_NEVER: not armed */

	/* Transmit work per round (each loop round): what is left of it now,
	 * in descriptors and in frames. */
	unsigned tx_desc_budget, tx_frame_budget;
	int tx_fd;              /* eventfd: a round is due; -1 without a loop */
	bool tx_scheduled;      /* tx_fd written, its round not begun */
	bool tx_inline;         /* the round runs on the vCPU that wrote TDT */

	bool rx_waiting;        /* a frame was refused: resume when RDT moves */
	struct e1000_stats st;
	/* The contract's per-queue counters ("rx0", "tx0"; e1000.c
	 * e1000_counters says what each counts). */
	struct dev_counters rxq, txq;
	uint8_t rx_buf[E1000_RX_MAX + 64]; /* one received frame, padded, with FCS */
};

/* e1000_irq.c */
/* Sets causes in ICR; their interrupt is not delayed (it ends a delay of
 * the same cause), only paced by ITR. */
void e1000_set_cause(struct e1000 *e, uint32_t cause);
/* Sets delay k's cause (RXT0, TXDW) in ICR and (re)starts its timers: the
 * interrupt comes when RDTR/TIDV or RADV/TADV run out, at once when
 * RDTR/TIDV is 0. */
void e1000_delay_cause(struct e1000 *e, enum e1000_delay_kind k);
/* Ends delay k now (RDTR.FPD). */
void e1000_delay_flush(struct e1000 *e, enum e1000_delay_kind k);
/* INTx follows ICR & IMS less the held causes, paced by ITR: after ICR,
 * IMS or ITR changed. Re-arms the timer for what waits. */
void e1000_irq_update(struct e1000 *e);
/* Power-on state: no delay running, ITR's interval not started. */
void e1000_irq_reset(struct e1000 *e);
/* timer_fd's loop callback. */
void e1000_irq_timer(void *opaque, uint32_t events);

/* e1000.c */
/* The clock ITR and the delays measure time with (the test port's, or
 * CLOCK_MONOTONIC). */
int64_t e1000_now_ns(const struct e1000 *e);
bool e1000_bus_master(const struct e1000 *e);
void e1000_stat_inc(struct e1000 *e, unsigned idx);
/* The per-packet statistics registers, for a frame of wire_len bytes
 * (with CRC) whose destination address is dst; _packets: n such frames. */
void e1000_count_packet(struct e1000 *e, bool rx, const uint8_t *dst, size_t wire_len);
void e1000_count_packets(struct e1000 *e, bool rx, const uint8_t *dst, size_t wire_len,
			 uint64_t n);

/* e1000_rx.c: frames held by the backend may come now (RDT moved, the
 * receiver was enabled or reset). */
void e1000_rx_kick(struct e1000 *e);

/* e1000_tx.c */
/* One round of the ring, now (a scheduled round, or a save's quiesce). */
void e1000_tx_process(struct e1000 *e);
/* TDT or TCTL written: a round on the loop; a few descriptors (or no
 * loop): now. */
void e1000_tx_schedule(struct e1000 *e);
/* tx_fd's loop callback: e1000_tx_run. */
void e1000_tx_event(void *opaque, uint32_t events);
void e1000_tx_reset(struct e1000 *e);
/* Before a save: the ring's work up to TDT done now, however many rounds
 * that takes, so that only a packet whose EOP the guest has not posted yet
 * can be half gathered. */
void e1000_tx_quiesce(struct e1000 *e);

/* Shared by e1000_tx.c and e1000_gso.c. */
/* A segmentation context is refused past this many segments (an MSS under
 * 16 bytes for a 64 KiB payload): bounded work per packet. */
#define E1000_TSO_MAX_SEGS 4096
#define E1000_IPV6_HLEN    40
/* Whether the TCP/IP context's headers lie inside HDRLEN bytes of the
 * packet gathered, where segmentation rewrites them. */
bool e1000_tso_context_ok(const struct e1000_tx *t);
/* Inserts the Internet checksum of p[start..end] (end inclusive; 0: to the
 * end) at off, as the IC/IXSM/TXSM insertion does (§3.3.3). */
void e1000_put_csum(uint8_t *p, size_t len, size_t start, size_t end, size_t off, bool zero);
/* Adds a TCP/UDP length to the pseudo-header sum the driver left at p
 * without one (§3.5.9.2), folded. */
void e1000_csum_add_len(uint8_t *p, uint32_t len);
/* Hands a frame of at most 3 pieces to the port, behind vnet_hdr (NULL: a
 * zero one) when the port carries the header; takes one frame from the
 * round's budget. The port's answer: 0 or -errno. */
int e1000_port_send(struct e1000 *e, const void *vnet_hdr, const struct iovec *iov, int iovcnt);

/* e1000_gso.c: a segmentation packet to a vnet-header port as one GSO
 * frame. false: not for GSO (no header, VLAN insertion, not TCP, one
 * segment...): the caller segments it in software. */
bool e1000_gso_send(struct e1000 *e, bool vle);

/* e1000_eeprom.c */
void e1000_eeprom_init(struct e1000_eeprom *ee, const uint8_t mac[6]);
void e1000_eeprom_reset(struct e1000_eeprom *ee); /* the pins, not the data */
uint32_t e1000_eecd_read(const struct e1000_eeprom *ee);
void e1000_eecd_write(struct e1000_eeprom *ee, uint32_t v);
uint32_t e1000_eerd_write(const struct e1000_eeprom *ee, uint32_t v); /* the new EERD */
/* The access state machine (not the image: it is built from the MAC) as
 * section "eeprom"; the load reads into staged (whose image it keeps) and
 * validates, 0 or -EINVAL with the error in r. */
void e1000_eeprom_save(const struct e1000_eeprom *ee, struct state_writer *w);
int e1000_eeprom_load(struct e1000_eeprom *staged, struct state_reader *r);

/* e1000_phy.c */
void e1000_phy_reset(struct e1000_phy *phy);
bool e1000_phy_link_up(const struct e1000_phy *phy);
/* An MDIC write: performs the MDI cycle, returns the new MDIC value. */
uint32_t e1000_mdic_write(struct e1000_phy *phy, uint32_t v);
/* The PHY's registers as section "phy"; the load validates into staged. */
void e1000_phy_save(const struct e1000_phy *phy, struct state_writer *w);
int e1000_phy_load(struct e1000_phy *staged, struct state_reader *r);

/* e1000_state.c: the device contract's save and load. */
int e1000_save(struct e1000 *e, struct state_writer *w);
int e1000_load(struct e1000 *e, struct state_reader *r);

#endif
