/* e1000 transmit against a fake driver (support/e1000_drv.h): legacy
 * descriptors (and the IC checksum), context and data descriptors with
 * checksum insertion and VLAN tags, TCP segmentation (every segment's IP
 * and TCP checksums, lengths, IDs, sequence numbers and flags checked
 * independently), and a hostile driver: rings outside RAM, heads and tails
 * beyond them, bad descriptors and contexts, packets that never end, and
 * the ring walked on the loop, a bounded round at a time, not on the
 * thread that writes TDT. On a port with the vnet header (a tap): a TCP
 * segmentation packet goes as one GSO frame whose kernel segmentation
 * gives the software path's segments, other frames behind a zero header. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"
#include "support/loop_wait.h"

static void test_tx_legacy(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 200, 0x18);
	e1k_fix_csums(f->frame, len);
	uint64_t a = e1k_put_buf(f, f->frame, 100), b = e1k_put_buf(f, f->frame + 100, len - 100);
	e1k_txd_legacy(f, 0, a, 100, TXD_CMD_IFCS, 0, 0, 0);
	e1k_txd_legacy(f, 1, 0, 0, 0, 0, 0, 0); /* a null descriptor: no data */
	e1k_txd_legacy(f, 2, b, (uint16_t)(len - 100), TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS, 0, 0, 0);
	e1k_tdt(f, 3);
	assert_int_equal(f->nsent, 1);
	assert_int_equal(f->sent[0].len, len);
	assert_memory_equal(f->sent[0].data, f->frame, len);
	assert_int_equal(e1k_rd(f, E1000_TDH), 3);
	assert_int_equal(e1k_txd_status(f, 0) & TXD_STAT_DD, 0); /* no RS */
	assert_true(e1k_txd_status(f, 2) & TXD_STAT_DD);
	assert_true(f->irq.level);
	assert_int_equal(e1k_rd(f, E1000_ICR), ICR_TXDW | ICR_TXQE);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GPTC * 4), 1);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GOTCL * 4), len + 4);

	/* IC: the checksum from CSS to the end goes in at CSO (a UDP-style
	 * use: the driver put the pseudo-header sum there) */
	size_t l2 = e1k_make_tcp(f->frame, e1k_peer_mac, 77, 0x10);
	uint8_t *ip = f->frame + 14;
	e1k_put16(ip + 10, e1k_fold(e1k_sum16(ip, 20, 0)));
	uint32_t ph = e1k_sum16(ip + 12, 8, 0) + 6 + (uint32_t)(l2 - 34);
	e1k_put16(f->frame + 34 + 16, (uint16_t)~e1k_fold(ph));
	a = e1k_put_buf(f, f->frame, l2);
	e1k_txd_legacy(f, 3, a, (uint16_t)l2, TXD_CMD_EOP | TXD_CMD_IC | TXD_CMD_RS, 34 + 16, 34, 0);
	e1k_tdt(f, 4);
	assert_int_equal(f->nsent, 2);
	assert_true(e1k_csums_ok(f->sent[1].data, f->sent[1].len));

	/* TCTL.EN off: nothing goes until it is set */
	e1k_wr(f, E1000_TCTL, 0);
	a = e1k_put_buf(f, f->frame, 60);
	e1k_txd_legacy(f, 4, a, 60, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 5);
	assert_int_equal(f->nsent, 2);
	e1k_wr(f, E1000_TCTL, TCTL_EN);
	assert_int_equal(f->nsent, 3); /* one descriptor: sent at once */
	assert_int_equal(e1k_rd(f, E1000_TDH), 5);

	/* a short frame is padded with PSP, not without */
	a = e1k_put_buf(f, f->frame, 42);
	e1k_txd_legacy(f, 5, a, 42, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 6);
	assert_int_equal(f->sent[3].len, 42);
	e1k_wr(f, E1000_TCTL, TCTL_EN | TCTL_PSP);
	e1k_txd_legacy(f, 6, a, 42, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 7);
	assert_int_equal(f->sent[4].len, 60);

	/* a backend that refuses: counted */
	f->send_ret = -EAGAIN;
	e1k_txd_legacy(f, 7, a, 42, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 8);
	assert_int_equal(e1k_stats(f).tx_dropped, 1);
	assert_int_equal(e1k_stats(f).tx_frames, 5);
}

static void test_tx_csum_offload(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 500, 0x18);
	uint8_t *ip = f->frame + 14;
	/* what Linux's e1000_tx_csum leaves: the pseudo-header sum, with length */
	uint32_t ph = e1k_sum16(ip + 12, 8, 0) + 6 + (uint32_t)(len - 34);
	e1k_put16(f->frame + 34 + 16, (uint16_t)~e1k_fold(ph));
	e1k_put16(ip + 10, 0xbeef); /* a stale IP checksum: IXSM replaces it */
	struct e1k_ctx c = {.ipcss = 14, .ipcso = 24, .ipcse = 33, .tucss = 34, .tucso = 50,
			.tucmd = TUCMD_TCP | TUCMD_IP};
	e1k_txd_ctx(f, 0, &c);
	uint64_t a = e1k_put_buf(f, f->frame, 300), b = e1k_put_buf(f, f->frame + 300, len - 300);
	e1k_txd_data(f, 1, a, 300, 0, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0);
	e1k_txd_data(f, 2, b, (uint32_t)(len - 300), TXD_CMD_EOP | TXD_CMD_RS, 0, 0);
	e1k_tdt(f, 3);
	assert_int_equal(f->nsent, 1);
	assert_int_equal(f->sent[0].len, len);
	assert_true(e1k_csums_ok(f->sent[0].data, len));
	assert_memory_equal(f->sent[0].data + 54, f->frame + 54, len - 54);

	/* VLE with CTRL.VME: the tag goes in after the addresses */
	e1k_wr(f, E1000_CTRL, e1k_rd(f, E1000_CTRL) | CTRL_VME);
	e1k_txd_data(f, 3, a, 300, 0, 0, 0);
	e1k_txd_data(f, 4, b, (uint32_t)(len - 300), TXD_CMD_EOP | TXD_CMD_VLE, 0, 0x6007);
	e1k_tdt(f, 5);
	assert_int_equal(f->nsent, 2);
	assert_int_equal(f->sent[1].len, len + 4);
	assert_memory_equal(f->sent[1].data, f->frame, 12);
	assert_memory_equal(f->sent[1].data + 12, "\x81\x00\x60\x07", 4);
	assert_memory_equal(f->sent[1].data + 16, f->frame + 12, 300 - 12);
}

/* Posts the packet in f->frame (len bytes, headers hdrlen) after context
 * c, in three buffers (the headers alone in the first, as Linux does),
 * and rings. */
static void tso_post(struct e1k_drv *f, size_t len, const struct e1k_ctx *c, uint8_t popts,
		     uint8_t dcmd, uint16_t special)
{
	unsigned i = e1k_rd(f, E1000_TDT);
	e1k_txd_ctx(f, i, c);
	i = (i + 1) % E1K_TX_N;
	size_t off = 0, chunk[3] = {c->hdrlen, (len - c->hdrlen) / 3, 0};
	chunk[2] = len - c->hdrlen - chunk[1];
	for (unsigned k = 0; k < 3; k++) {
		uint64_t a = e1k_put_buf(f, f->frame + off, chunk[k]);
		uint8_t cmd = TXD_CMD_TSE | dcmd | (k == 2 ? TXD_CMD_EOP | TXD_CMD_RS : 0);
		e1k_txd_data(f, i, a, (uint32_t)chunk[k], cmd, popts, special);
		i = (i + 1) % E1K_TX_N;
		off += chunk[k];
	}
	e1k_tdt(f, i);
}

/* A TCP/IPv4 segmentation of a payload of `payload` bytes at MSS mss, the
 * packet in several buffers (headers alone in the first, as Linux does). */
static void tso_case(struct e1k_drv *f, size_t payload, uint16_t mss, uint8_t flags)
{
	unsigned first = f->nsent;
	size_t len = e1k_make_tso(f->frame, e1k_peer_mac, false, payload, flags);
	struct e1k_ctx c = e1k_tso_ctx(false, payload, mss);
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);

	size_t nsegs = (payload + mss - 1) / mss;
	assert_int_equal(f->nsent - first, nsegs);
	for (size_t s = 0; s < nsegs; s++) {
		const struct e1k_sent *fr = &f->sent[first + s];
		size_t seg = payload - s * mss < mss ? payload - s * mss : mss;
		const uint8_t *sip = fr->data + 14, *tcp = sip + 20;
		assert_int_equal(fr->len, 54 + seg);
		assert_memory_equal(fr->data, f->frame, 14);
		assert_int_equal(e1k_get16(sip + 2), 40 + seg);           /* total length */
		assert_int_equal(e1k_get16(sip + 4), 0x1234 + s);         /* ID */
		assert_int_equal(e1k_get32(tcp + 4), 0x10000000 + s * mss); /* sequence */
		bool last = s + 1 == nsegs;
		assert_int_equal(tcp[13], last ? flags : flags & ~(0x01 | 0x08));
		assert_true(e1k_csums_ok(fr->data, fr->len));
		assert_memory_equal(tcp + 20, f->frame + 54 + s * mss, seg);
	}
}

static void test_tx_tso(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	tso_case(f, 10000, 1460, 0x19); /* FIN|PSH|ACK: only on the last */
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_TSCTC * 4), 1);
	tso_case(f, 4380, 1460, 0x18);  /* exactly three */
	tso_case(f, 1000, 1460, 0x18);  /* one, shorter than the MSS */
	tso_case(f, 64000, 536, 0x10);  /* 120 small ones, odd MSS */
	assert_int_equal(e1k_rd(f, E1000_TDH), e1k_rd(f, E1000_TDT));
	assert_int_equal(e1k_stats(f).tx_frames, 7 + 3 + 1 + 120);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_TSCTC * 4), 3);
}

static void test_tx_hostile(void **state)
{
	struct e1k_drv *f = *state;
	uint64_t a = e1k_put_buf(f, f->frame, 2048);

	/* no ring, outside RAM, head or tail beyond it */
	e1k_wr(f, E1000_TCTL, TCTL_EN);
	e1k_tdt(f, 1);
	e1k_wr(f, E1000_TDLEN, E1K_TX_N * 16);
	e1k_wr(f, E1000_TDBAL, (uint32_t)E1K_RAM_SIZE - 128);
	e1k_tdt(f, 2);
	e1k_wr(f, E1000_TDBAL, (uint32_t)E1K_TX_RING);
	e1k_tdt(f, E1K_TX_N + 5);
	assert_int_equal(e1k_stats(f).tx_ring_errors, 3);
	assert_int_equal(f->nsent, 0);
	e1k_wr(f, E1000_TDH, E1K_TX_N);
	e1k_tdt(f, 1);
	assert_int_equal(e1k_stats(f).tx_ring_errors, 4);

	/* a buffer outside RAM: the packet is dropped, DD still written */
	e1k_tx_start(f);
	e1k_txd_legacy(f, 0, E1K_RAM_SIZE - 10, 100, TXD_CMD_EOP | TXD_CMD_RS, 0, 0, 0);
	e1k_txd_legacy(f, 1, 0xFFFFFFFFFFFFFFF0ULL, 100, TXD_CMD_EOP | TXD_CMD_RS, 0, 0, 0);
	e1k_tdt(f, 2);
	assert_int_equal(e1k_stats(f).tx_dma_errors, 2);
	assert_int_equal(f->nsent, 0);
	assert_true(e1k_txd_status(f, 1) & TXD_STAT_DD);

	/* unknown descriptor type; a packet without data; zero length */
	e1k_txd_raw(f, 2, a, 100 | 0x5u << 20 | (uint32_t)(TXD_CMD_DEXT | TXD_CMD_EOP) << 24, 0);
	e1k_txd_legacy(f, 3, a, 0, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 4);
	assert_int_equal(e1k_stats(f).tx_bad_desc, 2);

	/* a segmentation context with MSS 0, one with headers beyond HDRLEN */
	struct e1k_ctx c = {.ipcss = 14, .ipcso = 24, .tucss = 34, .tucso = 50,
			.tucmd = TUCMD_TCP | TUCMD_IP | TXD_CMD_TSE, .hdrlen = 54, .mss = 0};
	e1k_txd_ctx(f, 4, &c);
	e1k_txd_data(f, 5, a, 1000, TXD_CMD_TSE | TXD_CMD_EOP, TXD_POPTS_TXSM, 0);
	c.mss = 100;
	c.tucss = 50;
	e1k_txd_ctx(f, 6, &c);
	e1k_txd_data(f, 7, a, 1000, TXD_CMD_TSE | TXD_CMD_EOP, TXD_POPTS_TXSM, 0);
	/* a header longer than the packet */
	c.tucss = 34;
	c.hdrlen = 200;
	e1k_txd_ctx(f, 8, &c);
	e1k_txd_data(f, 9, a, 100, TXD_CMD_TSE | TXD_CMD_EOP, TXD_POPTS_TXSM, 0);
	/* MSS 1: too many segments */
	c.hdrlen = 54;
	c.mss = 1;
	e1k_txd_ctx(f, 10, &c);
	for (unsigned i = 11; i < 14; i++)
		e1k_txd_data(f, i, a, 2048, TXD_CMD_TSE | (i == 13 ? TXD_CMD_EOP : 0), 0, 0);
	e1k_tdt(f, 14);
	assert_int_equal(e1k_stats(f).tx_bad_desc, 5);
	assert_int_equal(e1k_stats(f).tx_oversize, 1);
	assert_int_equal(f->nsent, 0);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_TSCTFC * 4), 4);
	assert_int_equal(e1k_rd(f, E1000_TDH), 14);

	/* a packet that never ends: every descriptor of the ring is 60000
	 * bytes without EOP; one TDT write walks the ring once (TDT one behind
	 * TDH), drops the packet past 64 KiB and keeps dropping its rest */
	uint64_t big = fake_ram_alloc(&f->ram, 60000);
	for (unsigned i = 0; i < E1K_TX_N; i++)
		e1k_txd_data(f, i, big, 60000, TXD_CMD_TSE | TXD_CMD_RS, 0, 0);
	e1k_tdt(f, 13);
	assert_int_equal(e1k_rd(f, E1000_TDH), 13);
	assert_int_equal(e1k_stats(f).tx_oversize, 2);
	/* the EOP finally comes: nothing is sent, the next packet is fine */
	e1k_txd_legacy(f, 13, a, 10, TXD_CMD_EOP, 0, 0, 0);
	e1k_txd_legacy(f, 14, a, 64, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 15);
	assert_int_equal(f->nsent, 1);
	assert_int_equal(f->sent[0].len, 64);
	assert_int_equal(e1k_stats(f).tx_oversize, 2);
	/* reset drops a half-gathered packet */
	e1k_txd_legacy(f, 15, a, 64, 0, 0, 0, 0);
	e1k_tdt(f, 0);
	e1k_wr(f, E1000_CTRL, CTRL_RST);
	e1k_tx_start(f);
	e1k_txd_legacy(f, 0, a, 70, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 1);
	assert_int_equal(f->nsent, 2);
	assert_int_equal(f->sent[1].len, 70);
}

static bool tx_caught_up(void *arg)
{
	struct e1k_drv *f = arg;
	return e1k_rd(f, E1000_TDH) == e1k_rd(f, E1000_TDT);
}

/* A TDT write sends nothing on the writing (vCPU) thread: it schedules a
 * round on the loop. A round takes 256 descriptors; the loop does the
 * rest, a round at a time, and TXQE comes only when TDH reaches TDT. */
#define BIG_RING_GPA 0x100000ULL
#define BIG_RING_N   4096

static void test_tx_round_budget(void **state)
{
	struct e1k_drv *f = *state;
	uint64_t a = e1k_put_buf(f, f->frame, 60);
	uint8_t *ring = e1k_ram(f, BIG_RING_GPA);
	for (unsigned i = 0; i < BIG_RING_N; i++) {
		uint8_t *d = ring + i * 16;
		memset(d, 0, 16);
		memcpy(d, &a, 8); /* little-endian host */
		d[8] = 60;
		d[11] = TXD_CMD_EOP;
	}
	f->send_ret = -EAGAIN; /* frames are counted (tx_dropped), not kept */
	e1k_wr(f, E1000_TDBAL, (uint32_t)BIG_RING_GPA);
	e1k_wr(f, E1000_TDLEN, BIG_RING_N * 16);
	e1k_wr(f, E1000_TCTL, TCTL_EN);
	e1k_wr(f, E1000_TDT, BIG_RING_N - 1);
	assert_int_equal(e1k_rd(f, E1000_TDH), 0);
	assert_int_equal(e1k_stats(f).tx_dropped, 0);
	e1000_tx_run(f->e);
	assert_int_equal(e1k_rd(f, E1000_TDH), 256);
	assert_int_equal(e1k_stats(f).tx_dropped, 256);
	assert_false(e1k_rd(f, E1000_ICR) & ICR_TXQE);
	loop_run_until(f->loop, tx_caught_up, f, 5000);
	assert_int_equal(e1k_rd(f, E1000_TDH), BIG_RING_N - 1);
	assert_int_equal(e1k_stats(f).tx_dropped, BIG_RING_N - 1);
	assert_true(e1k_rd(f, E1000_ICR) & ICR_TXQE);

	/* Frames count too: after a context, 14 segmentation packets of 100
	 * segments each. The round stops in the 3rd packet's frames (256), and
	 * finishes that packet first. */
	e1k_tx_start(f);
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 1600, 0x10);
	struct e1k_ctx c = {.ipcss = 14, .ipcso = 24, .ipcse = 33, .tucss = 34, .tucso = 50,
			.tucmd = TUCMD_TCP | TUCMD_IP | TXD_CMD_TSE, .hdrlen = 54, .mss = 16,
			.paylen = 1600};
	e1k_txd_ctx(f, 0, &c);
	a = e1k_put_buf(f, f->frame, len);
	for (unsigned i = 1; i < E1K_TX_N - 1; i++)
		e1k_txd_data(f, i, a, (uint32_t)len, TXD_CMD_TSE | TXD_CMD_EOP, 0, 0);
	uint64_t before = e1k_stats(f).tx_dropped;
	e1k_tdt(f, E1K_TX_N - 1);
	assert_int_equal(e1k_rd(f, E1000_TDH), 4);
	assert_int_equal(e1k_stats(f).tx_dropped - before, 300);
	loop_run_until(f->loop, tx_caught_up, f, 5000);
	assert_int_equal(e1k_rd(f, E1000_TDH), E1K_TX_N - 1);
	assert_int_equal(e1k_stats(f).tx_dropped - before, 1400);
}

/* A TDT write of a few descriptors (an ACK) is sent at once, on the
 * writing thread; more than E1000_TX_INLINE_DESCS go to the loop, and a
 * small write while that round is due waits behind it: the loop sends
 * them all, in ring order, and interrupts. */
static void put_frames(struct e1k_drv *f, unsigned first, unsigned count)
{
	for (unsigned i = first; i < first + count; i++) {
		size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 10 + i, 0x10);
		e1k_txd_legacy(f, i, e1k_put_buf(f, f->frame, len), (uint16_t)len,
			       TXD_CMD_EOP | TXD_CMD_RS, 0, 0, 0);
	}
}

static void test_tx_on_loop(void **state)
{
	struct e1k_drv *f = *state;
	e1k_tx_start(f);
	e1k_wr(f, E1000_IMS, ICR_TXDW);
	put_frames(f, 0, 1);
	e1k_wr(f, E1000_TDT, 1);
	assert_int_equal(f->nsent, 1); /* inline */
	assert_int_equal(e1k_rd(f, E1000_TDH), 1);
	e1k_rd(f, E1000_ICR);

	const unsigned bulk = E1000_TX_INLINE_DESCS + 1;
	put_frames(f, 1, bulk + 1);
	e1k_wr(f, E1000_TDT, 1 + bulk);
	e1k_wr(f, E1000_TDT, 2 + bulk); /* one more: waits behind the round */
	assert_int_equal(f->nsent, 1);
	assert_int_equal(e1k_rd(f, E1000_TDH), 1);
	assert_false(f->irq.level);
	loop_run_until(f->loop, tx_caught_up, f, 5000);
	assert_int_equal(f->nsent, 2 + bulk);
	for (unsigned i = 0; i < 2 + bulk; i++)
		assert_int_equal(f->sent[i].len, 14 + 20 + 20 + 10 + i);
	assert_true(f->irq.level);
	assert_true(e1k_txd_status(f, 1 + bulk) & TXD_STAT_DD);
}

/* ---- GSO: a segmentation packet to a vnet-header port as one frame ---- */

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Segment s of the GSO frame g (vnet header and packet, glen bytes) as
 * the host kernel cuts it: inet_gso_segment / ipv6_gso_segment (IP
 * length, IPv4 ID + s and header checksum) and tcp_gso_segment (sequence
 * number, FIN and PSH only on the last segment, CWR only on the first;
 * the checksum field's length swapped: ~csum_fold(check + (u16)~len +
 * seglen)), then the CHECKSUM_PARTIAL checksum finished from csum_start
 * into csum_start + csum_offset, as a NIC or skb_checksum_help does.
 * Written to out; its length. */
static size_t kernel_segment(const uint8_t *g, size_t glen, size_t s, uint8_t *out)
{
	const uint8_t *p = g + NET_VNET_HDR_LEN;
	size_t len = glen - NET_VNET_HDR_LEN;
	size_t hdr = le16_at(g + 2), mss = le16_at(g + 4);
	size_t cs = le16_at(g + 6), co = le16_at(g + 8);
	bool v4 = (g[1] & 0x7F) == 1; /* VIRTIO_NET_HDR_GSO_TCPV4 */
	size_t payload = len - hdr, nsegs = (payload + mss - 1) / mss;
	size_t chunk = payload - s * mss < mss ? payload - s * mss : mss, slen = hdr + chunk;
	memcpy(out, p, hdr);
	memcpy(out + hdr, p + hdr + s * mss, chunk);
	uint8_t *ip = out + 14, *tcp = out + cs;
	if (v4) {
		e1k_put16(ip + 2, (uint32_t)(slen - 14));
		e1k_put16(ip + 4, e1k_get16(ip + 4) + (uint32_t)s);
		e1k_put16(ip + 10, 0);
		e1k_put16(ip + 10, e1k_fold(e1k_sum16(ip, 20, 0)));
	} else {
		e1k_put16(ip + 4, (uint32_t)(slen - 54));
	}
	uint32_t seq = e1k_get32(tcp + 4) + (uint32_t)(s * mss);
	e1k_put16(tcp + 4, seq >> 16);
	e1k_put16(tcp + 6, seq);
	if (s + 1 < nsegs)
		tcp[13] &= (uint8_t)~(0x01 | 0x08);
	if (s)
		tcp[13] &= (uint8_t)~0x80;
	uint32_t sum = e1k_get16(tcp + 16) + (uint16_t)~(len - cs) + (uint32_t)(slen - cs);
	e1k_put16(tcp + 16, (uint16_t)~e1k_fold(sum));
	e1k_put16(out + cs + co, e1k_fold(e1k_sum16(out + cs, slen - cs, 0)));
	return slen;
}

/* The transmit statistics registers a GSO send must leave as the
 * software segmentation does. */
static const unsigned tx_stats[] = {ST_GPTC, ST_TPT, ST_GOTCL, ST_GOTCH, ST_TOTL, ST_TOTH,
				    ST_PTC64, ST_PTC64 + 1, ST_PTC64 + 2, ST_PTC64 + 3,
				    ST_PTC64 + 4, ST_PTC64 + 5, ST_MPTC, ST_BPTC, ST_TSCTC};
#define N_TX_STATS (sizeof(tx_stats) / sizeof(tx_stats[0]))

static void read_tx_stats(struct e1k_drv *f, uint32_t *v)
{
	for (unsigned i = 0; i < N_TX_STATS; i++)
		v[i] = e1k_rd(f, E1000_STATS + tx_stats[i] * 4);
}

/* One packet segmented in software (no vnet header), then the same packet
 * on a vnet-header port: one GSO frame with the right header, IP length
 * and checksums, whose kernel segments are the software ones byte for
 * byte, and the same statistics. */
static void gso_case(struct e1k_drv *f, bool v6, size_t payload, uint16_t mss, uint8_t flags)
{
	struct e1k_ctx c = e1k_tso_ctx(v6, payload, mss);
	uint8_t popts = TXD_POPTS_TXSM | (v6 ? 0 : TXD_POPTS_IXSM);
	size_t nsegs = (payload + mss - 1) / mss, hdr = c.hdrlen, cs = c.tucss;
	uint32_t sw_stats[N_TX_STATS], gso_stats[N_TX_STATS];
	static uint8_t seg[2048];

	e1k_vnet_hdr(f, false);
	f->nsent = 0;
	e1k_tx_start(f);
	size_t len = e1k_make_tso(f->frame, e1k_peer_mac, v6, payload, flags);
	tso_post(f, len, &c, popts, 0, 0);
	assert_int_equal(f->nsent, nsegs);
	read_tx_stats(f, sw_stats);

	e1k_vnet_hdr(f, true);
	e1k_tx_start(f);
	tso_post(f, len, &c, popts, 0, 0);
	assert_int_equal(f->nsent, nsegs + 1);
	assert_int_equal(f->last_len, NET_VNET_HDR_LEN + len);
	const uint8_t *vh = f->last, *g = f->last + NET_VNET_HDR_LEN;
	assert_int_equal(vh[0], 1); /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
	uint8_t ecn = flags & 0x80 ? 0x80 : 0;
	assert_int_equal(vh[1], (v6 ? 4 : 1) | ecn); /* GSO_TCPV6 / GSO_TCPV4 | GSO_ECN */
	assert_int_equal(le16_at(vh + 2), hdr);
	assert_int_equal(le16_at(vh + 4), mss);
	assert_int_equal(le16_at(vh + 6), cs);
	assert_int_equal(le16_at(vh + 8), 16);
	assert_int_equal(le16_at(vh + 10), 0);
	const uint8_t *ip = g + 14;
	uint32_t ph;
	if (v6) {
		assert_int_equal(e1k_get16(ip + 4), len - 54);
		ph = e1k_sum16(ip + 8, 32, 0);
	} else {
		assert_int_equal(e1k_get16(ip + 2), len - 14);
		assert_int_equal(e1k_fold(e1k_sum16(ip, 20, 0)), 0);
		ph = e1k_sum16(ip + 12, 8, 0);
	}
	/* the partial sum: pseudo header with the whole TCP length */
	assert_int_equal(e1k_get16(g + cs + 16), (uint16_t)~e1k_fold(ph + 6 + (uint32_t)(len - cs)));
	assert_memory_equal(g + hdr, f->frame + hdr, payload);
	read_tx_stats(f, gso_stats);
	assert_memory_equal(sw_stats, gso_stats, sizeof(sw_stats));
	assert_int_equal(e1k_stats(f).tx_frames, nsegs);
	assert_int_equal(e1k_stats(f).tx_tso_packets, 1);
	assert_int_equal(e1k_stats(f).tx_gso_frames, 1);

	if (flags & 0x80)
		return; /* the kernel keeps CWR on the first segment only */
	for (size_t s = 0; s < nsegs; s++) {
		size_t slen = kernel_segment(f->last, f->last_len, s, seg);
		assert_int_equal(f->sent[s].len, slen);
		assert_memory_equal(f->sent[s].data, seg, slen);
		assert_true(e1k_csums_ok(seg, slen)); /* and right on its own */
	}
}

static void test_tx_gso(void **state)
{
	struct e1k_drv *f = *state;
	gso_case(f, false, 10000, 1460, 0x19); /* FIN|PSH|ACK: only on the last */
	gso_case(f, false, 64000, 1448, 0x10);
	gso_case(f, false, 2921, 1460, 0x18);  /* a 1-byte last segment */
	gso_case(f, false, 5000, 1460, 0x90);  /* CWR: GSO_ECN */
	gso_case(f, true, 10000, 1440, 0x19);
	gso_case(f, true, 3000, 1000, 0x10);   /* exactly three */
}

/* On a vnet-header port, what does not go as GSO is segmented or sent as
 * before, behind a zero header: plain frames, a VLAN tag to insert, a
 * single segment, no TXSM, headers other than the context says; bad
 * contexts are refused as before. */
static void test_tx_gso_fallback(void **state)
{
	struct e1k_drv *f = *state;
	static const uint8_t zero[NET_VNET_HDR_LEN];
	e1k_vnet_hdr(f, true);
	e1k_tx_start(f);

	/* a plain frame: a zero header, then the frame */
	size_t len = e1k_make_tcp(f->frame, e1k_peer_mac, 100, 0x18);
	e1k_txd_legacy(f, 0, e1k_put_buf(f, f->frame, len), (uint16_t)len, TXD_CMD_EOP, 0, 0, 0);
	e1k_tdt(f, 1);
	assert_int_equal(f->nsent, 1);
	assert_int_equal(f->sent[0].len, NET_VNET_HDR_LEN + len);
	assert_memory_equal(f->sent[0].data, zero, NET_VNET_HDR_LEN);
	assert_memory_equal(f->sent[0].data + NET_VNET_HDR_LEN, f->frame, len);

	/* a VLAN tag to insert: segmented here, each segment tagged */
	e1k_wr(f, E1000_CTRL, e1k_rd(f, E1000_CTRL) | CTRL_VME);
	len = e1k_make_tso(f->frame, e1k_peer_mac, false, 3000, 0x18);
	struct e1k_ctx c = e1k_tso_ctx(false, 3000, 1460);
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, TXD_CMD_VLE, 0x6007);
	assert_int_equal(f->nsent, 1 + 3);
	for (unsigned s = 1; s < 4; s++) {
		const uint8_t *d = f->sent[s].data;
		assert_memory_equal(d, zero, NET_VNET_HDR_LEN);
		assert_memory_equal(d + NET_VNET_HDR_LEN + 12, "\x81\x00\x60\x07", 4);
	}
	assert_int_equal(f->sent[1].len, NET_VNET_HDR_LEN + 4 + 54 + 1460);
	/* VLE without CTRL.VME inserts no tag: GSO */
	e1k_wr(f, E1000_CTRL, e1k_rd(f, E1000_CTRL) & ~CTRL_VME);
	e1k_make_tso(f->frame, e1k_peer_mac, false, 3000, 0x18);
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, TXD_CMD_VLE, 0x6007);
	assert_int_equal(f->nsent, 5);
	assert_int_equal(f->last[1], 1);

	/* one segment: a plain frame with its checksums */
	len = e1k_make_tso(f->frame, e1k_peer_mac, false, 1460, 0x18);
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(f->nsent, 6);
	assert_memory_equal(f->last, zero, NET_VNET_HDR_LEN);
	assert_true(e1k_csums_ok(f->last + NET_VNET_HDR_LEN, len));

	/* no TXSM; a TCP header longer than HDRLEN's rest; TUCSO elsewhere:
	 * segmented here */
	len = e1k_make_tso(f->frame, e1k_peer_mac, false, 3000, 0x18);
	tso_post(f, len, &c, TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(f->nsent, 9);
	f->frame[46] = 6 << 4;
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(f->nsent, 12);
	e1k_make_tso(f->frame, e1k_peer_mac, false, 3000, 0x18);
	c.tucso = 40;
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(f->nsent, 15);
	for (unsigned s = 6; s < 15; s++)
		assert_memory_equal(f->sent[s].data, zero, NET_VNET_HDR_LEN);

	/* IPv4 in the context, IPv6 in the packet: segmented as the context says */
	len = e1k_make_tso(f->frame, e1k_peer_mac, true, 3000, 0x18);
	c = e1k_tso_ctx(false, 3000, 1460);
	c.tucss = 54;
	c.tucso = 70;
	c.hdrlen = 74;
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(f->nsent, 18);

	/* headers that do not fit: refused, nothing sent */
	uint64_t rej = e1k_stats(f).tx_bad_desc;
	c = e1k_tso_ctx(false, 3000, 1460);
	c.hdrlen = 200;
	len = e1k_make_tso(f->frame, e1k_peer_mac, false, 100, 0x18);
	unsigned i = e1k_rd(f, E1000_TDT);
	e1k_txd_ctx(f, i, &c);
	e1k_txd_data(f, (i + 1) % E1K_TX_N, e1k_put_buf(f, f->frame, len), (uint32_t)len,
		     TXD_CMD_TSE | TXD_CMD_EOP, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0);
	e1k_tdt(f, (i + 2) % E1K_TX_N);
	assert_int_equal(f->nsent, 18);
	assert_int_equal(e1k_stats(f).tx_bad_desc, rej + 1);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_TSCTFC * 4), 1);

	/* a backend that refuses the GSO frame: each segment counted */
	f->send_ret = -EAGAIN;
	len = e1k_make_tso(f->frame, e1k_peer_mac, false, 3000, 0x18);
	c = e1k_tso_ctx(false, 3000, 1460);
	uint64_t dropped = e1k_stats(f).tx_dropped;
	tso_post(f, len, &c, TXD_POPTS_TXSM | TXD_POPTS_IXSM, 0, 0);
	assert_int_equal(e1k_stats(f).tx_dropped, dropped + 3);
}

#define T(t) cmocka_unit_test_setup_teardown(t, e1k_setup, e1k_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tx_legacy),
		T(test_tx_csum_offload),
		T(test_tx_tso),
		T(test_tx_hostile),
		T(test_tx_round_budget),
		T(test_tx_on_loop),
		T(test_tx_gso),
		T(test_tx_gso_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
