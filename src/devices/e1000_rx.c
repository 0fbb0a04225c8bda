/* e1000 receive (SDM §3.2): address and VLAN filtering, VLAN tag
 * stripping, the IPv4/TCP/UDP checksum offload, and placing the frame in
 * legacy receive descriptors, across several buffers if it is longer than
 * one (EOP on the last).
 *
 * Frames arrive from the backend on the loop thread (on a tap behind a
 * vnet header, which is dropped). Without enough descriptors the frame is
 * refused (the backend holds it and stops reading) and the backend is
 * told to retry once the driver moves RDT. */
#include "core/byteorder.h"
#include "devices/e1000_priv.h"

#include <endian.h>
#include <string.h>

#include "core/guest_mem_log.h"
#include "core/inet_csum.h"
#include "core/iov.h"
#include "core/log.h"

#define ETH_HLEN     14
#define VLAN_HLEN    4
#define ETH_P_IPV4   0x0800
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};


/* RCTL.BSIZE and BSEX (§13.4.22): 2048, 1024, 512, 256 bytes, or with
 * BSEX 16384, 8192, 4096 (BSEX with size 00b is reserved: 2048). */
static size_t buffer_size(uint32_t rctl)
{
	unsigned bsize = (rctl & RCTL_BSIZE_MASK) >> RCTL_BSIZE_SHIFT;
	if ((rctl & RCTL_BSEX) && bsize)
		return 32768u >> bsize;
	return 2048u >> bsize;
}

static bool vlan_tagged(const struct e1000 *e, const uint8_t *f, size_t len)
{
	return len >= ETH_HLEN + VLAN_HLEN && get_be16(f + 12) == (e->reg[R_VET] & 0xFFFF);
}

/* A guest mistake: counted by reason, and as the queue's "rejected". */
static void rx_reject(struct e1000 *e, uint64_t *reason)
{
	(*reason)++;
	counter_inc(&e->rxq.rejected);
}

/* ---- Filtering (§3.2, packet address filtering) ---- */

/* An exact match in the receive address registers (RAL/RAH with AV;
 * address select 00b: destination addresses). */
static bool ra_match(const struct e1000 *e, const uint8_t *da)
{
	for (unsigned i = 0; i < E1000_RA_ENTRIES; i++) {
		uint32_t lo = e->ra[2 * i], hi = e->ra[2 * i + 1];
		if (!(hi & RAH_AV) || (hi & RAH_AS_MASK))
			continue;
		uint8_t a[6] = {(uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
				(uint8_t)(lo >> 24), (uint8_t)hi, (uint8_t)(hi >> 8)};
		if (!memcmp(a, da, 6))
			return true;
	}
	return false;
}

/* The multicast table (MTA): 12 bits of the destination address, which
 * ones RCTL.MO picks (00b: bits 47:36, 01b: 46:35, 10b: 45:34, 11b: 43:32),
 * index a bit in the 4096-bit table. */
static bool mta_match(const struct e1000 *e, const uint8_t *da)
{
	static const unsigned shift[4] = {4, 3, 2, 0};
	unsigned s = shift[(e->reg[R_RCTL] & RCTL_MO_MASK) >> RCTL_MO_SHIFT];
	uint32_t hash = ((uint32_t)da[4] >> s | (uint32_t)da[5] << (8 - s)) & 0xFFF;
	return e->mta[hash >> 5] >> (hash & 31) & 1;
}

static bool rx_filter(const struct e1000 *e, const uint8_t *f, size_t len)
{
	uint32_t rctl = e->reg[R_RCTL];

	/* VLAN filter (RCTL.VFE): a tagged frame's VLAN ID must be in VFTA. */
	if ((rctl & RCTL_VFE) && vlan_tagged(e, f, len)) {
		unsigned vid = get_be16(f + ETH_HLEN) & 0xFFF;
		if (!(e->vfta[vid >> 5] >> (vid & 31) & 1))
			return false;
	}
	if (!(f[0] & 1)) /* unicast */
		return (rctl & RCTL_UPE) || ra_match(e, f);
	if (!memcmp(f, broadcast, 6) && (rctl & RCTL_BAM))
		return true;
	return (rctl & RCTL_MPE) || ra_match(e, f) || mta_match(e, f);
}

/* ---- Checksum offload (§3.2, RXCSUM) ---- */

/* Sets IPCS/TCPCS for the checksums checked (IPv4 header; TCP or UDP over
 * IPv4, not fragments) and IPE/TCPE for the wrong ones; IXSM when both
 * offloads are off. Other packets get no indication: the driver checks. */
static void rx_csum(const struct e1000 *e, const uint8_t *f, size_t len, uint8_t *status,
		    uint8_t *errors)
{
	uint32_t rxcsum = e->reg[R_RXCSUM];
	if (!(rxcsum & (RXCSUM_IPOFL | RXCSUM_TUOFL))) {
		*status |= RXD_STAT_IXSM;
		return;
	}
	size_t l2 = vlan_tagged(e, f, len) ? ETH_HLEN + VLAN_HLEN : ETH_HLEN;
	if (len < l2 + 20 || get_be16(f + l2 - 2) != ETH_P_IPV4)
		return;
	const uint8_t *ip = f + l2;
	size_t ihl = (ip[0] & 15u) * 4;
	if (ip[0] >> 4 != 4 || ihl < 20 || l2 + ihl > len)
		return;
	if (rxcsum & RXCSUM_IPOFL) {
		*status |= RXD_STAT_IPCS;
		if (inet_csum(ip, ihl, 0))
			*errors |= RXD_ERR_IPE;
	}
	if (!(rxcsum & RXCSUM_TUOFL))
		return;
	size_t total = get_be16(ip + 2);
	if ((get_be16(ip + 6) & 0x3FFF) || total < ihl || l2 + total > len)
		return; /* a fragment, or the header lies about the length */
	const uint8_t *l4 = ip + ihl;
	size_t l4len = total - ihl;
	uint8_t proto = ip[9];
	if (proto == IPPROTO_UDP_) {
		if (l4len < 8)
			return;
		if (!get_be16(l4 + 6)) { /* UDP without a checksum */
			*status |= RXD_STAT_TCPCS;
			return;
		}
	} else if (proto != IPPROTO_TCP_ || l4len < 20) {
		return;
	}
	/* The pseudo header: addresses, protocol, TCP/UDP length. */
	uint32_t sum = inet_csum_add(ip + 12, 8, 0) + proto + (uint32_t)l4len;
	*status |= RXD_STAT_TCPCS;
	if (inet_csum(l4, l4len, sum))
		*errors |= RXD_ERR_TCPE;
}

/* ---- The descriptor ring (§3.2: legacy descriptors, the circular ring) ---- */

/* Writes back a descriptor's length, checksum, errors and special, then
 * its status, so that a driver polling DD sees the rest first. */
static void desc_write_back(uint8_t *d, uint16_t len, uint8_t status, uint8_t errors,
			    uint16_t special)
{
	uint16_t l = htole16(len), csum = 0, sp = htole16(special);
	memcpy(d + 8, &l, 2);
	memcpy(d + 10, &csum, 2);
	d[13] = errors;
	memcpy(d + 14, &sp, 2);
	__atomic_store_n(&d[12], status, __ATOMIC_RELEASE);
}

enum placed { DROPPED, PLACED, NO_BUFFERS };

/* Places total bytes of f in the ring. */
static enum placed rx_place(struct e1000 *e, const uint8_t *f, size_t total, uint8_t status,
		     uint8_t errors, uint16_t special)
{
	uint32_t rctl = e->reg[R_RCTL];
	uint32_t n = e->reg[R_RDLEN] / RXD_SIZE, head = e->reg[R_RDH], tail = e->reg[R_RDT];
	uint64_t base = (uint64_t)e->reg[R_RDBAH] << 32 | e->reg[R_RDBAL];
	uint8_t *ring = n && head < n && tail < n ? guest_mem_ptr(e->mem, base, (uint64_t)n * RXD_SIZE)
						  : NULL;
	if (!ring) {
		rx_reject(e, &e->st.rx_ring_errors);
		log_guest_error("e1000", "receive ring at 0x%llx, %u descriptors, head %u tail %u"
				     " is not usable; frames dropped", (unsigned long long)base, n,
				     head, tail);
		return DROPPED;
	}
	size_t bsize = buffer_size(rctl);
	size_t need = (total + bsize - 1) / bsize;
	if (need > n - 1) { /* head == tail is an empty ring: n - 1 at most */
		rx_reject(e, &e->st.rx_bad_length);
		log_guest_error("e1000", "a %zu-byte frame needs more than the %u-entry receive ring",
				     total, n);
		return DROPPED;
	}
	if ((tail + n - head) % n < need) {
		e1000_stat_inc(e, ST_RNBC);
		e->st.rx_no_buffers++;
		counter_inc(&e->rxq.errors);
		e->rx_waiting = true;
		return NO_BUFFERS;
	}
	for (size_t i = 0, off = 0; i < need; i++, off += bsize) {
		uint8_t *d = ring + (size_t)head * RXD_SIZE;
		uint64_t addr;
		memcpy(&addr, d, 8);
		addr = le64toh(addr);
		size_t chunk = total - off < bsize ? total - off : bsize;
		/* A null buffer address is skipped (the data is lost), as QEMU does. */
		if (addr) {
			void *dst = guest_mem_ptr(e->mem, addr, chunk);
			if (dst) {
				memcpy(dst, f + off, chunk);
				guest_mem_mark_hva(e->mem, dst, chunk);
			} else {
				rx_reject(e, &e->st.rx_dma_errors);
				log_guest_error("e1000", "receive buffer 0x%llx+%zu outside RAM",
						     (unsigned long long)addr, chunk);
			}
		}
		bool last = i + 1 == need;
		desc_write_back(d, (uint16_t)chunk, last ? status : RXD_STAT_DD, last ? errors : 0,
				last ? special : 0);
		guest_mem_mark_hva(e->mem, d, RXD_SIZE);
		head = (head + 1) % n;
	}
	e->reg[R_RDH] = head;

	/* RXDMT0, at once: the free descriptors fell to RCTL.RDMTS's fraction
	 * of the ring (1/2, 1/4, 1/8). RXT0: frames are in memory, after the
	 * receive delay (RDTR/RADV). */
	unsigned rdmts = (rctl & RCTL_RDMTS_MASK) >> RCTL_RDMTS_SHIFT;
	if ((tail + n - head) % n <= n >> (rdmts + 1))
		e1000_set_cause(e, ICR_RXDMT0);
	e1000_delay_cause(e, E1000_DELAY_RX);
	return PLACED;
}

static bool rx_frame(struct e1000 *e, const struct iovec *iov, int iovcnt, size_t len)
{
	uint32_t rctl = e->reg[R_RCTL];
	if (!(rctl & RCTL_EN) || !e1000_bus_master(e)) {
		e->st.rx_disabled++;
		return true;
	}
	/* A tap's vnet header goes (offloads are off: it says nothing); a
	 * frame that is no more than the header is a runt. */
	size_t skip = e->port.vnet_hdr ? NET_VNET_HDR_LEN : 0;
	len = len > skip ? len - skip : 0;
	/* RCTL.LPE: without it frames over 1522 bytes (with CRC) are dropped;
	 * with it, up to 16384. */
	size_t max = rctl & RCTL_LPE ? E1000_RX_MAX : E1000_RX_MAX_NOLPE;
	if (len < ETH_HLEN || len + E1000_FCS_LEN > max) {
		e1000_stat_inc(e, len < ETH_HLEN ? ST_RUC : ST_ROC);
		e->st.rx_bad_length++;
		counter_inc(&e->rxq.errors);
		return true;
	}
	uint8_t *f = e->rx_buf;
	len = iov_to_buf(iov, (unsigned)iovcnt, skip, f, len);
	if (len < E1000_MIN_FRAME) { /* what came off a wire had its padding */
		memset(f + len, 0, E1000_MIN_FRAME - len);
		len = E1000_MIN_FRAME;
	}
	if (!rx_filter(e, f, len)) {
		e->st.rx_filtered++;
		return true;
	}
	size_t wire_len = len + E1000_FCS_LEN;
	uint8_t status = RXD_STAT_DD | RXD_STAT_EOP, errors = 0;
	uint16_t special = 0;
	if ((e->reg[R_CTRL] & CTRL_VME) && vlan_tagged(e, f, len)) {
		/* CTRL.VME: the 802.1Q tag goes into the descriptor's special field. */
		special = get_be16(f + ETH_HLEN);
		memmove(f + VLAN_HLEN, f, 12);
		f += VLAN_HLEN;
		len -= VLAN_HLEN;
		status |= RXD_STAT_VP;
	}
	rx_csum(e, f, len, &status, &errors);
	/* Without RCTL.SECRC the 4 CRC bytes are part of the frame (drivers
	 * strip them); they are written as zeros: nobody checks them. */
	size_t total = len;
	if (!(rctl & RCTL_SECRC)) {
		memset(f + len, 0, E1000_FCS_LEN);
		total += E1000_FCS_LEN;
	}
	enum placed r = rx_place(e, f, total, status, errors, special);
	if (r == PLACED) {
		e1000_count_packet(e, true, f, wire_len);
		e->st.rx_frames++;
		counter_inc(&e->rxq.requests);
		counter_add(&e->rxq.bytes_out, total);
	}
	return r != NO_BUFFERS;
}

bool e1000_receive(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct e1000 *e = opaque;
	pthread_mutex_lock(&e->lock);
	bool r = rx_frame(e, iov, iovcnt, len);
	pthread_mutex_unlock(&e->lock);
	return r;
}

void e1000_rx_kick(struct e1000 *e)
{
	if (!e->rx_waiting)
		return;
	e->rx_waiting = false;
	if (e->port.rx_resume)
		e->port.rx_resume(e->port.opaque);
}
