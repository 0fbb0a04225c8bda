/* A fake driver for the e1000 device tests: see e1000_drv.h. */
#include <endian.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"

const uint8_t e1k_our_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t e1k_peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static int port_send(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct e1k_drv *f = opaque;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	assert_true(len <= (f->vnet_hdr ? NET_VNET_HDR_LEN : 0) + NET_MAX_FRAME);
	if (f->vnet_hdr)
		assert_true(iov[0].iov_len == NET_VNET_HDR_LEN);
	if (f->send_ret < 0)
		return f->send_ret;
	assert_true(f->nsent < E1K_MAX_SENT);
	struct e1k_sent *s = &f->sent[f->nsent++];
	s->len = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t c = iov[i].iov_len;
		if (s->len + c > sizeof(s->data))
			c = sizeof(s->data) - s->len;
		memcpy(s->data + s->len, iov[i].iov_base, c);
		s->len += c;
	}
	s->len = len;
	f->last_len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(f->last + f->last_len, iov[i].iov_base, iov[i].iov_len);
		f->last_len += iov[i].iov_len;
	}
	return 0;
}

static void port_resume(void *opaque)
{
	((struct e1k_drv *)opaque)->resumes++;
}

static int64_t port_clock(void *opaque)
{
	return ((struct e1k_drv *)opaque)->now;
}

/* ---- registers ---- */

uint32_t e1k_rd(struct e1k_drv *f, uint32_t off)
{
	uint8_t b[4];
	f->pci->bars[0].ops->read(f->pci->bars[0].opaque, off, b, 4);
	return (uint32_t)iobus_load_le(b, 4);
}

void e1k_wr(struct e1k_drv *f, uint32_t off, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	f->pci->bars[0].ops->write(f->pci->bars[0].opaque, off, b, 4);
}

uint32_t e1k_io_rd(struct e1k_drv *f, uint32_t port)
{
	uint8_t b[4];
	f->pci->bars[1].ops->read(f->pci->bars[1].opaque, port, b, 4);
	return (uint32_t)iobus_load_le(b, 4);
}

void e1k_io_wr(struct e1k_drv *f, uint32_t port, uint32_t v)
{
	uint8_t b[4];
	iobus_store_le(b, 4, v);
	f->pci->bars[1].ops->write(f->pci->bars[1].opaque, port, b, 4);
}

struct e1000_stats e1k_stats(struct e1k_drv *f)
{
	struct e1000_stats st;
	e1000_get_stats(f->e, &st);
	return st;
}

/* ---- fixture ---- */

int e1k_setup(void **state)
{
	struct e1k_drv *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_ram_init(&f->ram, E1K_RAM_SIZE, E1K_ALLOC_GPA);
	f->loop = loop_create();
	assert_non_null(f->loop);
	f->now = 1000000000;
	e1k_attach(f, e1k_create(f));
	*state = f;
	return 0;
}

struct e1000 *e1k_create(struct e1k_drv *f)
{
	struct e1000_port port = {port_send, port_resume, f, port_clock, f->vnet_hdr};
	return e1000_create_port(e1k_our_mac, &f->ram.mem, f->loop, &port);
}

void e1k_vnet_hdr(struct e1k_drv *f, bool on)
{
	e1000_destroy(f->e);
	f->vnet_hdr = on;
	e1k_attach(f, e1k_create(f));
}

void e1k_attach(struct e1k_drv *f, struct e1000 *e)
{
	assert_non_null(e);
	f->e = e;
	f->pci = e1000_pci(e);
	f->pci->intx = fake_irq_line(&f->irq, 0);
	pci_cfg_set(f->pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

int e1k_teardown(void **state)
{
	struct e1k_drv *f = *state;
	e1000_destroy(f->e);
	loop_destroy(f->loop);
	fake_ram_destroy(&f->ram);
	free(f);
	return 0;
}

/* ---- checksums, computed here independently of the device ---- */

uint32_t e1k_sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		s += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

uint16_t e1k_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

uint16_t e1k_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t e1k_get32(const uint8_t *p) { return (uint32_t)e1k_get16(p) << 16 | e1k_get16(p + 2); }
void e1k_put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Whether an IPv4 TCP/UDP frame (Ethernet at 0) has correct IP and L4
 * checksums. */
bool e1k_csums_ok(const uint8_t *fr, size_t len)
{
	const uint8_t *ip = fr + 14;
	if (e1k_get16(fr + 12) == 0x86DD) {
		size_t plen = e1k_get16(ip + 4);
		uint32_t ph = e1k_sum16(ip + 8, 32, 0) + ip[6] + (uint32_t)plen;
		return 54 + plen == len && e1k_fold(e1k_sum16(ip + 40, plen, ph)) == 0;
	}
	size_t ihl = (ip[0] & 15u) * 4, total = e1k_get16(ip + 2);
	if (14 + total != len || e1k_fold(e1k_sum16(ip, ihl, 0)) != 0)
		return false;
	uint32_t ph = e1k_sum16(ip + 12, 8, 0) + ip[9] + (uint32_t)(total - ihl);
	return e1k_fold(e1k_sum16(ip + ihl, total - ihl, ph)) == 0;
}

/* An Ethernet + IPv4 + TCP frame to dst with a payload of n bytes (byte i
 * is (uint8_t)(i * 7 + 3)); checksums zero. Returns its length. */
size_t e1k_make_tcp(uint8_t *fr, const uint8_t *dst, size_t n, uint8_t flags)
{
	memcpy(fr, dst, 6);
	memcpy(fr + 6, e1k_peer_mac, 6);
	e1k_put16(fr + 12, 0x0800);
	uint8_t *ip = fr + 14;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	e1k_put16(ip + 2, (uint32_t)(40 + n));
	e1k_put16(ip + 4, 0x1234);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
	uint8_t *tcp = ip + 20;
	e1k_put16(tcp, 40000);
	e1k_put16(tcp + 2, 80);
	e1k_put16(tcp + 4, 0x1000);
	e1k_put16(tcp + 6, 0x0000); /* seq 0x10000000 */
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	e1k_put16(tcp + 14, 65535);
	for (size_t i = 0; i < n; i++)
		tcp[20 + i] = (uint8_t)(i * 7 + 3);
	return 54 + n;
}

/* Fills in correct checksums, as a sender without offload would. */
void e1k_fix_csums(uint8_t *fr, size_t len)
{
	uint8_t *ip = fr + 14;
	e1k_put16(ip + 10, 0);
	e1k_put16(ip + 10, e1k_fold(e1k_sum16(ip, 20, 0)));
	uint8_t *tcp = ip + 20;
	e1k_put16(tcp + 16, 0);
	uint32_t ph = e1k_sum16(ip + 12, 8, 0) + 6 + (uint32_t)(len - 34);
	e1k_put16(tcp + 16, e1k_fold(e1k_sum16(tcp, len - 34, ph)));
}

size_t e1k_make_tso(uint8_t *fr, const uint8_t *dst, bool v6, size_t payload, uint8_t flags)
{
	size_t len = e1k_make_tcp(fr, dst, payload, flags);
	if (!v6) {
		e1k_put16(fr + 16, 0);
		e1k_put16(fr + 50, (uint16_t)~e1k_fold(e1k_sum16(fr + 26, 8, 0) + 6));
		return len;
	}
	memmove(fr + 54, fr + 34, len - 34);
	e1k_put16(fr + 12, 0x86DD);
	uint8_t *ip = fr + 14;
	memset(ip, 0, 40);
	ip[0] = 0x60;
	ip[6] = 6;  /* next header: TCP */
	ip[7] = 64;
	memcpy(ip + 8, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x0f", 16);
	memcpy(ip + 24, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
	e1k_put16(fr + 70, (uint16_t)~e1k_fold(e1k_sum16(ip + 8, 32, 0) + 6));
	return len + 20;
}

struct e1k_ctx e1k_tso_ctx(bool v6, size_t payload, uint16_t mss)
{
	if (v6)
		return (struct e1k_ctx){.ipcss = 14, .tucss = 54, .tucso = 70,
					.tucmd = TUCMD_TCP | TXD_CMD_TSE, .hdrlen = 74, .mss = mss,
					.paylen = (uint32_t)payload};
	return (struct e1k_ctx){.ipcss = 14, .ipcso = 24, .ipcse = 33, .tucss = 34, .tucso = 50,
				.tucmd = TUCMD_TCP | TUCMD_IP | TXD_CMD_TSE, .hdrlen = 54,
				.mss = mss, .paylen = (uint32_t)payload};
}

/* ---- receive side helpers ---- */

uint8_t *e1k_ram(struct e1k_drv *f, uint64_t gpa)
{
	return fake_ram_ptr(&f->ram, gpa);
}

/* E1K_RX_N descriptors with 2048-byte buffers, all but one given to the device. */
void e1k_rx_start(struct e1k_drv *f, uint32_t rctl)
{
	for (unsigned i = 0; i < E1K_RX_N; i++) {
		uint64_t a = htole64(E1K_RX_BUFS + i * 2048ULL);
		memcpy(e1k_ram(f, E1K_RX_RING + i * 16), &a, 8);
		memset(e1k_ram(f, E1K_RX_RING + i * 16 + 8), 0, 8);
	}
	e1k_wr(f, E1000_RDBAL, (uint32_t)E1K_RX_RING);
	e1k_wr(f, E1000_RDBAH, 0);
	e1k_wr(f, E1000_RDLEN, E1K_RX_N * 16);
	e1k_wr(f, E1000_RDH, 0);
	e1k_wr(f, E1000_RDT, E1K_RX_N - 1);
	e1k_wr(f, E1000_RCTL, rctl | RCTL_EN);
}

bool e1k_rx(struct e1k_drv *f, const uint8_t *fr, size_t len)
{
	struct iovec iov[2] = {{(void *)fr, len / 2}, {(void *)(fr + len / 2), len - len / 2}};
	return e1000_receive(f->e, iov, 2, len);
}

struct e1k_rxd e1k_rx_desc(struct e1k_drv *f, unsigned i)
{
	const uint8_t *d = e1k_ram(f, E1K_RX_RING + i * 16);
	return (struct e1k_rxd){(uint16_t)(d[8] | d[9] << 8), (uint16_t)(d[10] | d[11] << 8), d[12],
			    d[13], (uint16_t)(d[14] | d[15] << 8)};
}

/* ---- transmit side helpers ---- */

void e1k_txd_raw(struct e1k_drv *f, unsigned i, uint64_t addr, uint32_t lower,
		 uint32_t upper)
{
	uint8_t *d = e1k_ram(f, E1K_TX_RING + i * 16);
	uint64_t a = htole64(addr);
	uint32_t l = htole32(lower), u = htole32(upper);
	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &u, 4);
}

void e1k_txd_legacy(struct e1k_drv *f, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd,
		    uint8_t cso, uint8_t css, uint16_t special)
{
	e1k_txd_raw(f, i, addr, len | (uint32_t)cso << 16 | (uint32_t)cmd << 24,
		(uint32_t)css << 8 | (uint32_t)special << 16);
}

void e1k_txd_data(struct e1k_drv *f, unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd,
		  uint8_t popts, uint16_t special)
{
	e1k_txd_raw(f, i, addr,
		len | (uint32_t)TXD_DTYP_DATA << 20 | (uint32_t)(dcmd | TXD_CMD_DEXT) << 24,
		(uint32_t)popts << 8 | (uint32_t)special << 16);
}

void e1k_txd_ctx(struct e1k_drv *f, unsigned i, const struct e1k_ctx *c)
{
	uint8_t *d = e1k_ram(f, E1K_TX_RING + i * 16);
	d[0] = c->ipcss;
	d[1] = c->ipcso;
	d[2] = (uint8_t)c->ipcse;
	d[3] = (uint8_t)(c->ipcse >> 8);
	d[4] = c->tucss;
	d[5] = c->tucso;
	d[6] = (uint8_t)c->tucse;
	d[7] = (uint8_t)(c->tucse >> 8);
	uint32_t l = htole32((c->paylen & 0xFFFFF) | (uint32_t)TXD_DTYP_CTX << 20 |
			     (uint32_t)(c->tucmd | TXD_CMD_DEXT) << 24);
	memcpy(d + 8, &l, 4);
	d[12] = 0;
	d[13] = c->hdrlen;
	d[14] = (uint8_t)c->mss;
	d[15] = (uint8_t)(c->mss >> 8);
}

uint8_t e1k_txd_status(struct e1k_drv *f, unsigned i)
{
	return e1k_ram(f, E1K_TX_RING + i * 16)[12];
}

void e1k_tdt(struct e1k_drv *f, uint32_t tail)
{
	e1k_wr(f, E1000_TDT, tail);
	e1000_tx_run(f->e);
}

void e1k_tx_start(struct e1k_drv *f)
{
	memset(e1k_ram(f, E1K_TX_RING), 0, E1K_TX_N * 16);
	e1k_wr(f, E1000_TDBAL, (uint32_t)E1K_TX_RING);
	e1k_wr(f, E1000_TDBAH, 0);
	e1k_wr(f, E1000_TDLEN, E1K_TX_N * 16);
	e1k_wr(f, E1000_TDH, 0);
	e1k_wr(f, E1000_TDT, 0);
	e1k_wr(f, E1000_TCTL, TCTL_EN | TCTL_PSP);
}

/* Copies len bytes into fresh guest memory. */
uint64_t e1k_put_buf(struct e1k_drv *f, const void *p, size_t len)
{
	uint64_t gpa = fake_ram_alloc(&f->ram, len);
	memcpy(e1k_ram(f, gpa), p, len);
	return gpa;
}

/* ---- PCI and registers ---- */

