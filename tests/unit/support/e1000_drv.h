/* A fake driver for the e1000 device tests: fake guest RAM with the receive
 * and transmit rings and their buffers, register access through the BAR
 * ops (as vCPU exits deliver it), INTx on a fake line, and a test port
 * that records every frame the device sends. Checksums here are computed
 * independently of the device's own code. */
#ifndef IOVIRT_TESTS_E1000_DRV_H
#define IOVIRT_TESTS_E1000_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "devices/e1000.h"
#include "support/fake_irq.h"
#include "support/fake_ram.h"

#define E1K_RAM_SIZE  0x200000ULL /* 2 MiB */
#define E1K_RX_RING   0x1000ULL
#define E1K_TX_RING   0x2000ULL
#define E1K_RX_BUFS   0x10000ULL  /* E1K_RX_N x 2048 */
#define E1K_ALLOC_GPA 0x40000ULL  /* e1k_put_buf allocates from here */
#define E1K_RX_N      8
#define E1K_TX_N      16
#define E1K_MAX_SENT  256

extern const uint8_t e1k_our_mac[6];  /* the device's */
extern const uint8_t e1k_peer_mac[6];

/* A frame the device sent (the first 2048 bytes; len is the whole). */
struct e1k_sent {
	size_t len;
	uint8_t data[2048];
};

struct e1k_drv {
	struct fake_ram ram;
	struct fake_irq irq;
	struct loop *loop;
	struct e1000 *e;
	struct pci_dev *pci;
	struct e1k_sent sent[E1K_MAX_SENT];
	unsigned nsent;
	int send_ret;      /* what the port's send returns (< 0: refuse) */
	unsigned resumes;  /* rx_resume calls */
	int64_t now;       /* the device's clock (ITR) */
	bool vnet_hdr;     /* the port carries the vnet header (e1k_vnet_hdr) */
	uint8_t frame[70000];
	/* The last frame sent, whole (with its vnet header if any). */
	size_t last_len;
	uint8_t last[NET_VNET_HDR_LEN + NET_MAX_FRAME];
};

/* cmocka setup/teardown: a device on the test port, bus mastering on. */
int e1k_setup(void **state);
int e1k_teardown(void **state);
/* A fresh device on f's RAM, loop and test port (another instance, for
 * a state load); not attached. */
struct e1000 *e1k_create(struct e1k_drv *f);
/* Makes f drive e (INTx on f->irq, decoding and bus mastering on). */
void e1k_attach(struct e1k_drv *f, struct e1000 *e);
/* Replaces f's device by a fresh one on a port with (or without) the vnet
 * header, as on a tap: sent[] and last then hold the header too. */
void e1k_vnet_hdr(struct e1k_drv *f, bool on);

/* Registers: dword accesses to BAR0, and IOADDR/IODATA on BAR1. */
uint32_t e1k_rd(struct e1k_drv *f, uint32_t off);
void e1k_wr(struct e1k_drv *f, uint32_t off, uint32_t v);
uint32_t e1k_io_rd(struct e1k_drv *f, uint32_t port);
void e1k_io_wr(struct e1k_drv *f, uint32_t port, uint32_t v);
struct e1000_stats e1k_stats(struct e1k_drv *f);

/* Internet checksums: e1k_fold(e1k_sum16(...)) is the complemented fold. */
uint32_t e1k_sum16(const uint8_t *p, size_t len, uint32_t s);
uint16_t e1k_fold(uint32_t s);
uint16_t e1k_get16(const uint8_t *p);
uint32_t e1k_get32(const uint8_t *p);
void e1k_put16(uint8_t *p, uint32_t v);
/* Whether an IPv4 TCP/UDP frame has correct IP and TCP/UDP checksums (an
 * IPv6 one, Ethernet type 86DDh: its TCP/UDP checksum). */
bool e1k_csums_ok(const uint8_t *fr, size_t len);
/* An Ethernet + IPv4 (ID 1234h) + TCP (sequence 10000000h) frame to dst
 * with n payload bytes (byte i is i * 7 + 3), checksums zero; its length. */
size_t e1k_make_tcp(uint8_t *fr, const uint8_t *dst, size_t n, uint8_t flags);
/* Fills in correct IP and TCP checksums. */
void e1k_fix_csums(uint8_t *fr, size_t len);
/* A TCP segmentation packet to dst as Linux's e1000_tso leaves it: the
 * e1k_make_tcp frame with IP length 0 (and IPv4 checksum 0) and the TCP
 * checksum field the pseudo-header sum without the length; v6: the same
 * TCP segment behind an IPv6 header, fd00::f to fd00::2. Its length. */
size_t e1k_make_tso(uint8_t *fr, const uint8_t *dst, bool v6, size_t payload, uint8_t flags);
struct e1k_ctx;
/* The context Linux's e1000_tso writes for e1k_make_tso's packet. */
struct e1k_ctx e1k_tso_ctx(bool v6, size_t payload, uint16_t mss);

uint8_t *e1k_ram(struct e1k_drv *f, uint64_t gpa);

/* Receive: E1K_RX_N descriptors with 2048-byte buffers at E1K_RX_BUFS, all
 * but one given to the device, RCTL = rctl | EN. */
void e1k_rx_start(struct e1k_drv *f, uint32_t rctl);
/* A frame from the wire, in two pieces; the device's answer. */
bool e1k_rx(struct e1k_drv *f, const uint8_t *fr, size_t len);
struct e1k_rxd {
	uint16_t len, csum;
	uint8_t status, errors;
	uint16_t special;
};
struct e1k_rxd e1k_rx_desc(struct e1k_drv *f, unsigned i);

/* Transmit: an empty E1K_TX_N ring, TCTL.EN and PSP. */
void e1k_tx_start(struct e1k_drv *f);
/* Writes TDT, then runs the transmit round it scheduled (what the loop
 * would do next): one round, enough for any ring under 256 descriptors. */
void e1k_tdt(struct e1k_drv *f, uint32_t tail);
void e1k_txd_raw(struct e1k_drv *f, unsigned i, uint64_t addr, uint32_t lower,
		 uint32_t upper);
void e1k_txd_legacy(struct e1k_drv *f, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd,
		    uint8_t cso, uint8_t css, uint16_t special);
void e1k_txd_data(struct e1k_drv *f, unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd,
		  uint8_t popts, uint16_t special);
struct e1k_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, hdrlen, tucmd;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};
void e1k_txd_ctx(struct e1k_drv *f, unsigned i, const struct e1k_ctx *c);
uint8_t e1k_txd_status(struct e1k_drv *f, unsigned i);
/* Copies len bytes into freshly allocated guest memory; its address. */
uint64_t e1k_put_buf(struct e1k_drv *f, const void *p, size_t len);

#endif
