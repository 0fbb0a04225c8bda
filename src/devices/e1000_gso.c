/* e1000 TCP segmentation by the host: on a port with the vnet header (a
 * tap), a TCP segmentation packet (§3.5) goes out whole, in one write, as
 * a GSO frame with a virtio_net_hdr_v1 (virtio 1.x §5.1.6.2) that the host
 * kernel cuts into the segments the wire would carry. One write and one
 * trip through the host's stack per packet instead of one per segment.
 *
 * The frame is what the segments share: the IP length is the whole
 * packet's, the TCP checksum field the pseudo-header sum with the whole
 * TCP length, as Linux leaves it for CHECKSUM_PARTIAL (tcp_gso_segment
 * swaps in each segment's length, and gives every segment its IP ID, IP
 * checksum, sequence number and FIN/PSH as tso_send does). Only packets
 * whose headers say exactly what the context says take this path; any
 * other (UDP, no TXSM, VLAN insertion, one segment, odd offsets) is
 * segmented in software (e1000_tx.c), so the guest sees no difference. */
#include "core/byteorder.h"
#include "devices/e1000_priv.h"

#include <endian.h>
#include <linux/virtio_net.h>

#define ETH_HLEN      14
#define ETH_P_IPV4    0x0800
#define ETH_P_IPV6    0x86DD
#define IPPROTO_TCP_  6
#define TCP_CSUM_OFF  16
#define TCP_FLAG_CWR  0x80

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_VNET_HDR_LEN, "vnet header size");

/* Whether the gathered packet can go as one GSO frame: TCP with TXSM, a
 * sound context, more than one segment, and IP and TCP headers where the
 * context puts them (the kernel parses the headers; the hardware trusts
 * the context: both must agree for the segments to be the same). */
static bool gso_fits(const struct e1000 *e, bool vle)
{
	const struct e1000_tx *t = &e->tx;
	const struct e1000_tx_ctx *c = &t->ctx;
	const uint8_t *p = t->buf;
	bool ipv4 = c->tucmd & TUCMD_IP;
	bool ixsm = t->popts & TXD_POPTS_IXSM;

	if (!e->port.vnet_hdr || (vle && (e->reg[R_CTRL] & CTRL_VME)) ||
	    !(c->tucmd & TUCMD_TCP) || !(t->popts & TXD_POPTS_TXSM) || !e1000_tso_context_ok(t))
		return false;
	/* tso_context_ok: mss > 0, hdrlen <= len, IP and TCP headers inside. */
	size_t hdr = c->hdrlen, payload = t->len - hdr;
	if (payload <= c->mss || (payload + c->mss - 1) / c->mss > E1000_TSO_MAX_SEGS ||
	    t->len > NET_MAX_FRAME || c->ipcss < ETH_HLEN)
		return false;
	/* The TCP checksum in its field, over the whole segment (TUCSE 0), and
	 * the TCP header's length HDRLEN's rest. */
	if (c->tucso != c->tucss + TCP_CSUM_OFF || c->tucse ||
	    (size_t)(p[c->tucss + 12] >> 4) * 4 != hdr - c->tucss)
		return false;
	const uint8_t *ip = p + c->ipcss;
	size_t iplen = t->len - c->ipcss, ihl = (size_t)(ip[0] & 15) * 4;
	if (ipv4) /* IXSM over exactly the IPv4 header (as Linux's e1000_tso) */
		return get_be16(ip - 2) == ETH_P_IPV4 && ip[0] >> 4 == 4 && ip[9] == IPPROTO_TCP_ &&
		       c->ipcss + ihl == c->tucss && iplen <= 0xFFFF && ixsm &&
		       c->ipcso == c->ipcss + 10 && c->ipcse + 1 == c->tucss;
	return get_be16(ip - 2) == ETH_P_IPV6 && ip[0] >> 4 == 6 && ip[6] == IPPROTO_TCP_ &&
	       c->ipcss + E1000_IPV6_HLEN == c->tucss && iplen - E1000_IPV6_HLEN <= 0xFFFF && !ixsm;
}

bool e1000_gso_send(struct e1000 *e, bool vle)
{
	struct e1000_tx *t = &e->tx;
	const struct e1000_tx_ctx *c = &t->ctx;
	uint8_t *p = t->buf;

	if (!gso_fits(e, vle))
		return false;
	size_t hdr = c->hdrlen, mss = c->mss, payload = t->len - hdr;
	size_t nsegs = (payload + mss - 1) / mss;
	bool ipv4 = c->tucmd & TUCMD_IP;
	if (ipv4) {
		put_be16(p + c->ipcss + 2, (uint32_t)(t->len - c->ipcss));
		e1000_put_csum(p, t->len, c->ipcss, c->ipcse, c->ipcso, true);
	} else {
		put_be16(p + c->ipcss + 4, (uint32_t)(t->len - c->ipcss - E1000_IPV6_HLEN));
	}
	e1000_csum_add_len(p + c->tucso, (uint32_t)(t->len - c->tucss));

	uint8_t gso = ipv4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
	if (p[c->tucss + 13] & TCP_FLAG_CWR)
		gso |= VIRTIO_NET_HDR_GSO_ECN;
	struct virtio_net_hdr_v1 vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = gso,
		.hdr_len = htole16((uint16_t)hdr),
		.gso_size = htole16((uint16_t)mss),
		.csum_start = htole16(c->tucss),
		.csum_offset = htole16(TCP_CSUM_OFF),
	};
	struct iovec iov = {p, t->len};
	/* The counters count the segments, as if they went one by one. */
	if (e1000_port_send(e, &vh, &iov, 1) < 0) {
		e->st.tx_dropped += nsegs;
		counter_add(&e->txq.errors, nsegs);
		return true;
	}
	size_t last = payload - (nsegs - 1) * mss;
	e->st.tx_frames += nsegs;
	e->st.tx_gso_frames++;
	counter_add(&e->txq.requests, nsegs);
	counter_add(&e->txq.bytes_in, nsegs * hdr + payload);
	e1000_count_packets(e, false, p, hdr + mss + E1000_FCS_LEN, nsegs - 1);
	e1000_count_packet(e, false, p, hdr + last + E1000_FCS_LEN);
	e1000_stat_inc(e, ST_TSCTC);
	return true;
}
