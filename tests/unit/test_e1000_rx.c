/* e1000 receive against a fake driver (support/e1000_drv.h): legacy
 * descriptors, the CRC and padding, statistics, address/multicast/VLAN
 * filtering and tag stripping, frames across several buffers, backpressure
 * and the resume when RDT moves, checksum offload, a hostile driver's
 * rings and buffers, and the vnet header of a tap port stripped. */
#include <endian.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"

static void test_rx_basic(void **state)
{
	struct e1k_drv *f = *state;
	e1k_wr(f, E1000_IMS, ICR_RXT0);
	e1k_rx_start(f, RCTL_BAM);
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 100, 0x18);
	e1k_fix_csums(f->frame, len);
	assert_true(e1k_rx(f, f->frame, len));
	struct e1k_rxd d = e1k_rx_desc(f, 0);
	assert_int_equal(d.len, len + 4); /* with the CRC: no SECRC */
	assert_int_equal(d.status & (RXD_STAT_DD | RXD_STAT_EOP), RXD_STAT_DD | RXD_STAT_EOP);
	assert_int_equal(d.errors, 0);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS), f->frame, len);
	assert_int_equal(e1k_rd(f, E1000_RDH), 1);
	assert_true(f->irq.level);
	assert_true(e1k_rd(f, E1000_ICR) & ICR_RXT0);

	/* SECRC: no CRC; a short frame is padded to 60 bytes */
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
	uint8_t arp[42];
	memset(arp, 0xff, 6);
	memcpy(arp + 6, e1k_peer_mac, 6);
	e1k_put16(arp + 12, 0x0806);
	memset(arp + 14, 0x5a, 28);
	assert_true(e1k_rx(f, arp, sizeof(arp)));
	d = e1k_rx_desc(f, 1);
	assert_int_equal(d.len, 60);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS + 2048), arp, 42);
	assert_int_equal(e1k_ram(f, E1K_RX_BUFS + 2048)[59], 0);

	/* statistics: two good packets, one broadcast; clear on read */
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GPRC * 4), 2);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GPRC * 4), 0);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_BPRC * 4), 1);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_TPR * 4), 2);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GORCL * 4), len + 4 + 64);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GORCL * 4), len + 4 + 64); /* low half stays */
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GORCH * 4), 0);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GORCL * 4), 0); /* high read cleared both */
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_PRC64 * 4), 1);
	assert_int_equal(e1k_stats(f).rx_frames, 2);
}

/* Linux's e1000_hash_mc_addr for RCTL.MO = 0. */
static void mta_add(struct e1k_drv *f, const uint8_t *mc)
{
	uint32_t hash = ((uint32_t)mc[4] >> 4 | (uint32_t)mc[5] << 4) & 0xFFF;
	uint32_t off = E1000_MTA + (hash >> 5) * 4;
	e1k_wr(f, off, e1k_rd(f, off) | 1u << (hash & 31));
}

static void test_rx_filtering(void **state)
{
	struct e1k_drv *f = *state;
	static const uint8_t other[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	static const uint8_t mcast2[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
	e1k_rx_start(f, 0);
	size_t len = e1k_make_tcp(f->frame, other, 10, 0);
	unsigned got = 0;

	assert_true(e1k_rx(f, f->frame, len));            /* another unicast: no */
	memcpy(f->frame, bcast, 6);
	assert_true(e1k_rx(f, f->frame, len));            /* broadcast without BAM: no */
	memcpy(f->frame, mcast, 6);
	assert_true(e1k_rx(f, f->frame, len));            /* multicast not in MTA: no */
	assert_int_equal(e1k_stats(f).rx_filtered, 3);
	assert_int_equal(e1k_rd(f, E1000_RDH), 0);

	mta_add(f, mcast);
	assert_true(e1k_rx(f, f->frame, len));            /* in MTA: yes */
	got++;
	memcpy(f->frame, mcast2, 6);
	assert_true(e1k_rx(f, f->frame, len));            /* other group: no */
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_MPE);
	assert_true(e1k_rx(f, f->frame, len));            /* all multicast: yes */
	got++;
	memcpy(f->frame, bcast, 6);
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_BAM);
	assert_true(e1k_rx(f, f->frame, len));            /* broadcast with BAM: yes */
	got++;
	memcpy(f->frame, other, 6);
	e1k_wr(f, E1000_RA + 8, 0x99005452);
	e1k_wr(f, E1000_RA + 12, 0x9999);                 /* not valid yet */
	assert_true(e1k_rx(f, f->frame, len));
	e1k_wr(f, E1000_RA + 12, 0x9999 | RAH_AV);
	assert_true(e1k_rx(f, f->frame, len));            /* second address: yes */
	got++;
	e1k_wr(f, E1000_RA + 12, 0);
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_UPE);
	assert_true(e1k_rx(f, f->frame, len));            /* promiscuous: yes */
	got++;
	memcpy(f->frame, e1k_our_mac, 6);
	e1k_wr(f, E1000_RCTL, RCTL_EN);
	assert_true(e1k_rx(f, f->frame, len));            /* ours: yes */
	got++;
	assert_int_equal(e1k_rd(f, E1000_RDH), got);
	assert_int_equal(e1k_stats(f).rx_filtered, 5);

	/* VLAN filter: a tagged frame's VID must be in VFTA */
	e1k_wr(f, E1000_RDH, 0);
	e1k_wr(f, E1000_RDT, E1K_RX_N - 1);
	uint8_t tagged[80];
	memcpy(tagged, e1k_our_mac, 6);
	memcpy(tagged + 6, e1k_peer_mac, 6);
	e1k_put16(tagged + 12, 0x8100);
	e1k_put16(tagged + 14, 0x2005); /* priority 1, VID 5 */
	e1k_put16(tagged + 16, 0x0806);
	memset(tagged + 18, 0x77, sizeof(tagged) - 18);
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_VFE);
	assert_true(e1k_rx(f, tagged, sizeof(tagged)));
	assert_int_equal(e1k_stats(f).rx_filtered, 6);
	e1k_wr(f, E1000_VFTA, 1u << 5);
	assert_true(e1k_rx(f, tagged, sizeof(tagged)));
	assert_int_equal(e1k_rd(f, E1000_RDH), 1);
	struct e1k_rxd d = e1k_rx_desc(f, 0);
	assert_int_equal(d.status & RXD_STAT_VP, 0); /* VME off: tag kept */
	assert_int_equal(d.len, sizeof(tagged) + 4);
	/* CTRL.VME strips it into the descriptor */
	e1k_wr(f, E1000_CTRL, e1k_rd(f, E1000_CTRL) | CTRL_VME);
	assert_true(e1k_rx(f, tagged, sizeof(tagged)));
	d = e1k_rx_desc(f, 1);
	assert_true(d.status & RXD_STAT_VP);
	assert_int_equal(d.special, 0x2005);
	assert_int_equal(d.len, sizeof(tagged) - 4 + 4);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS + 2048), tagged, 12);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS + 2048 + 12), tagged + 16, sizeof(tagged) - 16);
}

static void test_rx_multi_descriptor(void **state)
{
	struct e1k_drv *f = *state;
	e1k_rx_start(f, RCTL_SECRC | 3u << RCTL_BSIZE_SHIFT); /* 256-byte buffers */
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 600, 0);
	assert_true(e1k_rx(f, f->frame, len)); /* 654 bytes: 3 buffers */
	assert_int_equal(e1k_rd(f, E1000_RDH), 3);
	for (unsigned i = 0; i < 3; i++) {
		struct e1k_rxd d = e1k_rx_desc(f, i);
		assert_int_equal(d.len, i < 2 ? 256 : len - 512);
		assert_true(d.status & RXD_STAT_DD);
		assert_int_equal(!!(d.status & RXD_STAT_EOP), i == 2);
		assert_memory_equal(e1k_ram(f, E1K_RX_BUFS + i * 2048ULL), f->frame + i * 256,
				    d.len);
	}
	/* BSEX: 4096-byte buffers hold it in one */
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_SECRC | RCTL_BSEX | 3u << RCTL_BSIZE_SHIFT);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_rd(f, E1000_RDH), 4);
	/* a frame that needs more descriptors than the ring has is dropped */
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_LPE | 3u << RCTL_BSIZE_SHIFT);
	len = e1k_make_tcp(f->frame, e1k_our_mac, 3000, 0);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_bad_length, 1);
	assert_int_equal(e1k_rd(f, E1000_RDH), 4);
}

static void test_rx_backpressure(void **state)
{
	struct e1k_drv *f = *state;
	e1k_rx_start(f, RCTL_BAM);
	e1k_wr(f, E1000_RDT, 2); /* two descriptors */
	e1k_wr(f, E1000_IMS, ICR_RXT0 | ICR_RXDMT0);
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 100, 0);
	assert_true(e1k_rx(f, f->frame, len));
	/* RDMTS 1/2: one free descriptor of eight is below the threshold */
	assert_true(e1k_rd(f, E1000_ICR) & ICR_RXDMT0);
	assert_true(e1k_rx(f, f->frame, len));
	assert_false(e1k_rx(f, f->frame, len)); /* full: the backend keeps it */
	assert_false(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_no_buffers, 2);
	assert_int_equal(f->resumes, 0);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_RNBC * 4), 2);
	e1k_wr(f, E1000_RDT, 4);
	assert_int_equal(f->resumes, 1);
	e1k_wr(f, E1000_RDT, 5); /* no frame waits: no resume */
	assert_int_equal(f->resumes, 1);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_rd(f, E1000_RDH), 3);
	assert_int_equal(e1k_stats(f).rx_frames, 3);
}

static void test_rx_checksum(void **state)
{
	struct e1k_drv *f = *state;
	e1k_rx_start(f, RCTL_SECRC);
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 333, 0x10);
	e1k_fix_csums(f->frame, len);
	assert_true(e1k_rx(f, f->frame, len));
	struct e1k_rxd d = e1k_rx_desc(f, 0);
	assert_int_equal(d.status & (RXD_STAT_IPCS | RXD_STAT_TCPCS | RXD_STAT_IXSM),
			 RXD_STAT_IPCS | RXD_STAT_TCPCS);
	assert_int_equal(d.errors, 0);
	f->frame[100] ^= 1; /* payload corrupted */
	assert_true(e1k_rx(f, f->frame, len));
	d = e1k_rx_desc(f, 1);
	assert_int_equal(d.errors, RXD_ERR_TCPE);
	f->frame[100] ^= 1;
	f->frame[14 + 8] ^= 1; /* TTL corrupted: IP header checksum wrong */
	assert_true(e1k_rx(f, f->frame, len));
	d = e1k_rx_desc(f, 2);
	assert_true(d.errors & RXD_ERR_IPE);
	/* offloads off: "ignore checksum indication" */
	e1k_wr(f, E1000_RXCSUM, 0);
	assert_true(e1k_rx(f, f->frame, len));
	d = e1k_rx_desc(f, 3);
	assert_int_equal(d.status & (RXD_STAT_IPCS | RXD_STAT_TCPCS | RXD_STAT_IXSM),
			 RXD_STAT_IXSM);
	assert_int_equal(d.errors, 0);
}

static void test_rx_hostile(void **state)
{
	struct e1k_drv *f = *state;
	size_t len = e1k_make_tcp(f->frame, e1k_our_mac, 100, 0);

	/* receiver off, bus mastering off */
	assert_true(e1k_rx(f, f->frame, len));
	e1k_rx_start(f, 0);
	pci_cfg_set(f->pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_disabled, 2);
	pci_cfg_set(f->pci, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* no ring, a ring outside RAM, head or tail beyond it */
	e1k_wr(f, E1000_RDLEN, 0);
	assert_true(e1k_rx(f, f->frame, len));
	e1k_wr(f, E1000_RDLEN, E1K_RX_N * 16);
	e1k_wr(f, E1000_RDBAL, (uint32_t)E1K_RAM_SIZE - 64);
	assert_true(e1k_rx(f, f->frame, len));
	e1k_wr(f, E1000_RDBAH, 0xFFFFFFFF);
	e1k_wr(f, E1000_RDBAL, 0xFFFFFFF0);
	assert_true(e1k_rx(f, f->frame, len));
	e1k_wr(f, E1000_RDBAH, 0);
	e1k_wr(f, E1000_RDBAL, (uint32_t)E1K_RX_RING);
	e1k_wr(f, E1000_RDT, 0xFFFF);
	assert_true(e1k_rx(f, f->frame, len));
	e1k_wr(f, E1000_RDT, 3);
	e1k_wr(f, E1000_RDH, E1K_RX_N);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_ring_errors, 5);
	assert_int_equal(e1k_stats(f).rx_frames, 0);

	/* a huge ring (RDLEN is masked to 1 MiB - 128) past the end of RAM */
	e1k_wr(f, E1000_RDH, 0);
	e1k_wr(f, E1000_RDLEN, 0xFFFFFFFF);
	e1k_wr(f, E1000_RDBAL, 0x180000);
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_ring_errors, 6);
	e1k_wr(f, E1000_RDLEN, E1K_RX_N * 16);
	e1k_wr(f, E1000_RDBAL, (uint32_t)E1K_RX_RING);

	/* a buffer outside RAM: the data is lost, the descriptor completes */
	uint64_t bad = htole64(E1K_RAM_SIZE - 100);
	memcpy(e1k_ram(f, E1K_RX_RING), &bad, 8);
	bad = 0;
	memcpy(e1k_ram(f, E1K_RX_RING + 16), &bad, 8); /* a null buffer */
	assert_true(e1k_rx(f, f->frame, len));
	assert_true(e1k_rx(f, f->frame, len));
	assert_int_equal(e1k_stats(f).rx_dma_errors, 1);
	assert_true(e1k_rx_desc(f, 0).status & RXD_STAT_DD);
	assert_true(e1k_rx_desc(f, 1).status & RXD_STAT_DD);
	assert_int_equal(e1k_rd(f, E1000_RDH), 2);

	/* too long without LPE, runts, longer than 16 KiB */
	len = e1k_make_tcp(f->frame, e1k_our_mac, 1500, 0);
	assert_true(e1k_rx(f, f->frame, len));
	assert_true(e1k_rx(f, f->frame, 10));
	e1k_wr(f, E1000_RCTL, RCTL_EN | RCTL_LPE | RCTL_BSEX | 1u << RCTL_BSIZE_SHIFT);
	assert_true(e1k_rx(f, f->frame, 16384));
	assert_int_equal(e1k_stats(f).rx_bad_length, 3);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_ROC * 4), 2);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_RUC * 4), 1);
	assert_true(e1k_rx(f, f->frame, len)); /* with LPE and 16 KiB buffers: fits */
	assert_int_equal(e1k_rd(f, E1000_RDH), 3);
}

/* ---- transmit ---- */

/* On a port with the vnet header (a tap): the header is stripped before
 * the frame is filtered and placed; a frame no longer than the header (or
 * shorter than an Ethernet header after it) is a runt. */
static void test_rx_vnet_hdr(void **state)
{
	struct e1k_drv *f = *state;
	e1k_vnet_hdr(f, true);
	e1k_rx_start(f, RCTL_SECRC);
	uint8_t *fr = f->frame;
	memset(fr, 0xA5, NET_VNET_HDR_LEN); /* whatever the kernel says: ignored */
	size_t len = e1k_make_tcp(fr + NET_VNET_HDR_LEN, e1k_our_mac, 100, 0x18);
	e1k_fix_csums(fr + NET_VNET_HDR_LEN, len);
	assert_true(e1k_rx(f, fr, NET_VNET_HDR_LEN + len));
	struct e1k_rxd d = e1k_rx_desc(f, 0);
	assert_int_equal(d.len, len);
	assert_int_equal(d.errors, 0);
	assert_true(d.status & RXD_STAT_TCPCS);
	assert_memory_equal(e1k_ram(f, E1K_RX_BUFS), fr + NET_VNET_HDR_LEN, len);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_GORCL * 4), len + 4);

	/* not for us once the header is gone: filtered */
	memcpy(fr + NET_VNET_HDR_LEN, e1k_peer_mac, 6);
	assert_true(e1k_rx(f, fr, NET_VNET_HDR_LEN + len));
	assert_int_equal(e1k_stats(f).rx_filtered, 1);

	/* the header alone, less, or a header and 13 bytes: runts */
	assert_true(e1k_rx(f, fr, NET_VNET_HDR_LEN));
	assert_true(e1k_rx(f, fr, 5));
	assert_true(e1k_rx(f, fr, 0));
	assert_true(e1k_rx(f, fr, NET_VNET_HDR_LEN + 13));
	assert_int_equal(e1k_stats(f).rx_bad_length, 4);
	assert_int_equal(e1k_rd(f, E1000_STATS + ST_RUC * 4), 4);
	assert_int_equal(e1k_stats(f).rx_frames, 1);
	assert_int_equal(e1k_rd(f, E1000_RDH), 1);
}

#define T(t) cmocka_unit_test_setup_teardown(t, e1k_setup, e1k_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rx_basic),
		T(test_rx_filtering),
		T(test_rx_multi_descriptor),
		T(test_rx_backpressure),
		T(test_rx_checksum),
		T(test_rx_hostile),
		T(test_rx_vnet_hdr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
