/* e1000 transmit (SDM §3.3, §3.5): the descriptor ring walked on a TDT
 * write, legacy descriptors (with the IC checksum), TCP/IP context and
 * data descriptors, checksum insertion and TCP segmentation, all in
 * software so that the backend sees ordinary Ethernet frames.
 *
 * A packet's buffers are gathered into one buffer up to its EOP
 * descriptor (at most E1000_TX_MAX bytes: a 64 KiB segmentation payload
 * and its headers; beyond that the packet is dropped and counted). At EOP
 * it is sent as it is, with its checksums filled in, or cut into segments
 * with per-segment headers (§3.5.9).
 *
 * The ring is walked on the loop thread, not on the vCPU that rang: a TDT
 * (or TCTL) write only schedules a round (one eventfd write, however many
 * writes come before the loop gets to it), so the vCPU goes back to the
 * guest at once and the frames go out while it queues the next ones. A
 * write that leaves at most E1000_TX_INLINE_DESCS descriptors to send (an
 * ACK) is sent at once instead: cheaper than waking the loop. Work
 * per round is bounded: at most TX_ROUND_DESCS descriptors or
 * TX_ROUND_FRAMES frames, i.e. writes, a GSO frame one (whichever runs out
 * first; the segments of a TSO packet whose last descriptor was taken all
 * go out; a packet spread over more descriptors than are left stops there
 * and goes on next round); a round that stops short of TDT schedules the
 * next, so the loop serves other events in between. Frames go to the
 * backend one write each: a tap takes one frame per write, and neither
 * backend has a batch call. On a tap (a port with the vnet header) a TCP
 * segmentation packet is one write, a GSO frame the host kernel segments
 * (e1000_gso.c); other packets get a zero header. Without a loop (tests,
 * fuzzers) a TDT write runs the whole ring at once. */
#include "core/byteorder.h"
#include "devices/e1000_priv.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "core/guest_mem_log.h"
#include "core/inet_csum.h"
#include "core/log.h"

/* One round of the ring (one TDT write): a guest cannot hold its vCPU and
 * the device lock for 65535 descriptors times 4096 segments. */
#define TX_ROUND_DESCS  256
#define TX_ROUND_FRAMES 256
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A guest mistake: counted by reason, and as the queue's "rejected". */
static void tx_reject(struct e1000 *e, uint64_t *reason)
{
	(*reason)++;
	counter_inc(&e->txq.rejected);
}

/* Inserts the Internet checksum of p[start..end] (end inclusive; 0 = to the
 * end of the packet) at off. Out-of-range offsets make the hardware skip
 * the insertion (§3.3.3: "IC is ignored if CSO or CSS are out of range").
 * The IP header checksum field is zeroed first; the TCP/UDP field holds
 * the driver's pseudo-header sum, which the sum takes in. A result of 0
 * goes out as FFFFh (the same in one's complement; UDP needs it). */
void e1000_put_csum(uint8_t *p, size_t len, size_t start, size_t end, size_t off, bool zero)
{
	size_t stop = end ? end + 1 : len;
	if (stop > len)
		stop = len;
	if (start >= stop || off + 2 > len)
		return;
	if (zero)
		put_be16(p + off, 0);
	uint16_t c = inet_csum(p + start, stop - start, 0);
	put_be16(p + off, c ? c : 0xFFFF);
}

/* POPTS.IXSM / TXSM with the context's offsets (§3.3.5). */
static void offload_csums(const struct e1000_tx *t, uint8_t *p, size_t len)
{
	const struct e1000_tx_ctx *c = &t->ctx;
	if (t->popts & TXD_POPTS_TXSM)
		e1000_put_csum(p, len, c->tucss, c->tucse, c->tucso, false);
	if (t->popts & TXD_POPTS_IXSM)
		e1000_put_csum(p, len, c->ipcss, c->ipcse, c->ipcso, true);
}

int e1000_port_send(struct e1000 *e, const void *vnet_hdr, const struct iovec *iov, int iovcnt)
{
	static const uint8_t zero_hdr[NET_VNET_HDR_LEN];
	struct iovec v[4];
	int n = 0;
	if (iovcnt < 1 || iovcnt > 3)
		return -EINVAL;
	if (e->port.vnet_hdr)
		v[n++] = (struct iovec){(void *)(vnet_hdr ? vnet_hdr : zero_hdr), NET_VNET_HDR_LEN};
	memcpy(v + n, iov, (size_t)iovcnt * sizeof(*iov));
	n += iovcnt;
	if (e->tx_frame_budget)
		e->tx_frame_budget--;
	return e->port.send ? e->port.send(e->port.opaque, v, n) : -ENOTCONN;
}

/* Hands one frame to the backend, inserting the 802.1Q tag (VET, then the
 * descriptor's special field) after the addresses when VLE asks for it and
 * CTRL.VME is on. */
static void send_frame(struct e1000 *e, uint8_t *f, size_t len, bool vle, uint16_t special)
{
	struct iovec iov[3];
	uint8_t tag[4];
	int cnt = 1;
	size_t wire_len = len + E1000_FCS_LEN;

	iov[0] = (struct iovec){f, len};
	if (vle && (e->reg[R_CTRL] & CTRL_VME) && len >= 12) {
		put_be16(tag, e->reg[R_VET]);
		put_be16(tag + 2, special);
		iov[0].iov_len = 12;
		iov[1] = (struct iovec){tag, sizeof(tag)};
		iov[2] = (struct iovec){f + 12, len - 12};
		cnt = 3;
		wire_len += sizeof(tag);
	}
	if (wire_len - E1000_FCS_LEN > NET_MAX_FRAME) {
		/* A segment of a huge MSS, or a jumbo packet with a tag: more
		 * than any backend carries. */
		tx_reject(e, &e->st.tx_oversize);
		log_guest_error("e1000", "a %zu-byte frame is more than the backend carries",
				     wire_len - E1000_FCS_LEN);
		return;
	}
	int r = e1000_port_send(e, NULL, iov, cnt);
	if (r < 0) {
		e->st.tx_dropped++;
		counter_inc(&e->txq.errors);
		return;
	}
	e->st.tx_frames++;
	counter_inc(&e->txq.requests);
	counter_add(&e->txq.bytes_in, wire_len - E1000_FCS_LEN);
	e1000_count_packet(e, false, f, wire_len);
}

bool e1000_tso_context_ok(const struct e1000_tx *t)
{
	const struct e1000_tx_ctx *c = &t->ctx;
	size_t hdr = c->hdrlen;
	bool ipv4 = c->tucmd & TUCMD_IP;
	size_t l4 = c->tucmd & TUCMD_TCP ? 20 : 8;
	if (!c->mss || hdr > t->len)
		return false;
	if ((size_t)c->ipcss + (ipv4 ? 20 : E1000_IPV6_HLEN) > hdr || (size_t)c->tucss + l4 > hdr)
		return false;
	if ((t->popts & TXD_POPTS_TXSM) && (size_t)c->tucso + 2 > hdr)
		return false;
	if ((t->popts & TXD_POPTS_IXSM) && (size_t)c->ipcso + 2 > hdr)
		return false;
	return true;
}

void e1000_csum_add_len(uint8_t *p, uint32_t len)
{
	uint32_t ph = get16(p) + (len & 0xFFFF) + (len >> 16);
	ph = (ph & 0xFFFF) + (ph >> 16);
	put_be16(p, (ph & 0xFFFF) + (ph >> 16));
}

/* TCP segmentation (§3.5): every segment gets the headers with the IP
 * length and ID, the TCP sequence number, FIN and PSH only on the last
 * one, or the UDP length, and fresh checksums (§3.5.9.1, §3.5.9.2). The
 * driver leaves the pseudo-header sum without the length in the TCP/UDP
 * checksum field; each segment adds its own length. */
static void tso_send(struct e1000 *e, bool vle, uint16_t special)
{
	struct e1000_tx *t = &e->tx;
	const struct e1000_tx_ctx *c = &t->ctx;

	if (!e1000_tso_context_ok(t)) {
		tx_reject(e, &e->st.tx_bad_desc);
		e1000_stat_inc(e, ST_TSCTFC);
		log_guest_error("e1000", "segmentation context (MSS %u, header %u bytes, IP at %u,"
				     " TCP/UDP at %u) does not fit a %zu-byte packet", c->mss,
				     c->hdrlen, c->ipcss, c->tucss, t->len);
		return;
	}
	size_t hdr = c->hdrlen, mss = c->mss, payload = t->len - hdr;
	size_t nsegs = payload ? (payload + mss - 1) / mss : 1;
	if (nsegs > E1000_TSO_MAX_SEGS) {
		tx_reject(e, &e->st.tx_oversize);
		e1000_stat_inc(e, ST_TSCTFC);
		log_guest_error("e1000", "segmentation into %zu segments (MSS %zu) refused", nsegs, mss);
		return;
	}
	bool ipv4 = c->tucmd & TUCMD_IP, tcp = c->tucmd & TUCMD_TCP;
	uint16_t ip_id = get16(t->buf + c->ipcss + 4);
	uint32_t seq = get_be32(t->buf + c->tucss + 4);
	for (size_t i = 0, off = 0; i < nsegs; i++, off += mss) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		size_t len = hdr + chunk;
		uint8_t *s = t->seg;
		memcpy(s, t->buf, hdr);
		memcpy(s + hdr, t->buf + hdr + off, chunk);
		if (ipv4) {
			put_be16(s + c->ipcss + 2, (uint32_t)(len - c->ipcss));
			put_be16(s + c->ipcss + 4, (uint32_t)(ip_id + i));
		} else {
			put_be16(s + c->ipcss + 4, (uint32_t)(len - c->ipcss - E1000_IPV6_HLEN));
		}
		if (tcp) {
			put_be32(s + c->tucss + 4, seq + (uint32_t)off);
			if (i + 1 < nsegs)
				s[c->tucss + 13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
		} else {
			put_be16(s + c->tucss + 4, (uint32_t)(len - c->tucss));
		}
		if (t->popts & TXD_POPTS_TXSM)
			e1000_csum_add_len(s + c->tucso, (uint32_t)(len - c->tucss));
		offload_csums(t, s, len);
		send_frame(e, s, len, vle, special);
	}
	e1000_stat_inc(e, ST_TSCTC);
}

/* The EOP descriptor closed the packet: send it. cmd, cso and special are
 * the EOP descriptor's (VLE, IFCS and IC are valid only there, §3.3.3). */
static void packet_end(struct e1000 *e, uint8_t cmd, uint8_t cso, uint16_t special)
{
	struct e1000_tx *t = &e->tx;
	bool vle = cmd & TXD_CMD_VLE;

	t->in_packet = false;
	if (t->error) { /* counted when it happened */
		if (t->tse)
			e1000_stat_inc(e, ST_TSCTFC);
		return;
	}
	if (!t->len) {
		tx_reject(e, &e->st.tx_bad_desc);
		log_guest_error("e1000", "transmit packet without data");
		return;
	}
	if (t->tse) {
		e->st.tx_tso_packets++;
		if (!e1000_gso_send(e, vle))
			tso_send(e, vle, special);
		return;
	}
	if (t->legacy && (cmd & TXD_CMD_IC))
		e1000_put_csum(t->buf, t->len, t->css, 0, cso, false);
	else if (!t->legacy)
		offload_csums(t, t->buf, t->len);
	if ((e->reg[R_TCTL] & TCTL_PSP) && t->len < E1000_MIN_FRAME) {
		memset(t->buf + t->len, 0, E1000_MIN_FRAME - t->len);
		t->len = E1000_MIN_FRAME;
	}
	send_frame(e, t->buf, t->len, vle, special);
}

/* Appends a data buffer to the packet being gathered. */
static void gather(struct e1000 *e, uint64_t addr, size_t len)
{
	struct e1000_tx *t = &e->tx;
	if (len > E1000_TX_MAX - t->len) {
		t->error = TX_OVERSIZE;
		tx_reject(e, &e->st.tx_oversize);
		log_guest_error("e1000", "transmit packet beyond %u bytes (no EOP?): dropped",
				     E1000_TX_MAX);
		return;
	}
	const void *src = guest_mem_ptr(e->mem, addr, len);
	if (!src) {
		t->error = TX_DMA;
		tx_reject(e, &e->st.tx_dma_errors);
		log_guest_error("e1000", "transmit buffer 0x%llx+%zu outside RAM: packet dropped",
				     (unsigned long long)addr, len);
		return;
	}
	memcpy(t->buf + t->len, src, len);
	t->len += len;
}

/* One descriptor (§3.3.3 legacy, §3.3.5 context and data); returns its
 * command byte. */
static uint8_t process_desc(struct e1000 *e, const uint8_t *d)
{
	struct e1000_tx *t = &e->tx;
	uint64_t addr = (uint64_t)get_le32(d + 4) << 32 | get_le32(d);
	uint32_t lower = get_le32(d + 8);
	uint8_t cmd = (uint8_t)(lower >> 24);
	bool dext = cmd & TXD_CMD_DEXT;
	unsigned dtyp = (lower >> 20) & 0xF;

	if (dext && dtyp == TXD_DTYP_CTX) {
		struct e1000_tx_ctx *c = &t->ctx;
		c->ipcss = d[0];
		c->ipcso = d[1];
		c->ipcse = get_le16(d + 2);
		c->tucss = d[4];
		c->tucso = d[5];
		c->tucse = get_le16(d + 6);
		c->paylen = lower & 0xFFFFF;
		c->tucmd = cmd;
		c->hdrlen = d[13];
		c->mss = get_le16(d + 14);
		return cmd;
	}
	if (dext && dtyp != TXD_DTYP_DATA) {
		tx_reject(e, &e->st.tx_bad_desc);
		log_guest_error("e1000", "transmit descriptor type %u ignored", dtyp);
		return cmd;
	}
	if (!t->in_packet) {
		/* The first descriptor of a packet sets its kind and options:
		 * POPTS and TSE (extended), CSS (legacy). */
		t->in_packet = true;
		t->len = 0;
		t->error = TX_OK;
		t->legacy = !dext;
		t->tse = dext && (cmd & TXD_CMD_TSE);
		t->popts = dext ? d[13] : 0;
		t->css = dext ? 0 : d[13];
	}
	/* A null address or a zero length transfers no data (§3.3.3). */
	size_t len = dext ? lower & 0xFFFFF : lower & 0xFFFF;
	if (addr && len && !t->error)
		gather(e, addr, len);
	if (cmd & TXD_CMD_EOP)
		packet_end(e, cmd, d[10], get_le16(d + 14));
	return cmd;
}

/* A round on the loop; a round already due will do (it runs to TDT). */
static void schedule_round(struct e1000 *e)
{
	uint64_t one = 1;
	if (e->tx_scheduled)
		return;
	e->tx_scheduled = true;
	if (write(e->tx_fd, &one, sizeof(one)) < 0) {
		e->tx_scheduled = false;
		log_warn("e1000: cannot schedule transmission: %s", strerror(errno));
	}
}

void e1000_tx_process(struct e1000 *e)
{
	uint32_t n = e->reg[R_TDLEN] / TXD_SIZE, head = e->reg[R_TDH], tail = e->reg[R_TDT];

	if (!(e->reg[R_TCTL] & TCTL_EN) || !e1000_bus_master(e) || head == tail)
		return;
	uint64_t base = (uint64_t)e->reg[R_TDBAH] << 32 | e->reg[R_TDBAL];
	uint8_t *ring = n && head < n && tail < n ? guest_mem_ptr(e->mem, base, (uint64_t)n * TXD_SIZE)
						  : NULL;
	if (!ring) {
		tx_reject(e, &e->st.tx_ring_errors);
		log_guest_error("e1000", "transmit ring at 0x%llx, %u descriptors, head %u tail %u"
				     " is not usable", (unsigned long long)base, n, head, tail);
		return;
	}
	bool limited = e->tx_fd >= 0;
	e->tx_desc_budget = limited ? TX_ROUND_DESCS : UINT_MAX;
	e->tx_frame_budget = limited ? TX_ROUND_FRAMES : UINT_MAX;
	bool txdw_now = false, txdw_delayed = false;
	while (head != tail && e->tx_desc_budget && e->tx_frame_budget) {
		uint8_t *d = ring + (size_t)head * TXD_SIZE, desc[TXD_SIZE];
		memcpy(desc, d, sizeof(desc)); /* the guest may change it meanwhile */
		uint8_t cmd = process_desc(e, desc);
		/* RS (RPS on older parts): write back DD (§3.3.3.2), raise TXDW:
		 * after the transmit delay (TIDV/TADV) with IDE, else at once. */
		if (cmd & (TXD_CMD_RS | TXD_CMD_RPS)) {
			__atomic_store_n(&d[TXD_STATUS_OFF], (uint8_t)TXD_STAT_DD, __ATOMIC_RELEASE);
			guest_mem_mark_hva(e->mem, d, TXD_SIZE);
			if ((cmd & TXD_CMD_IDE) && !e->tx_inline)
				txdw_delayed = true;
			else
				txdw_now = true;
		}
		head = (head + 1) % n;
		e->tx_desc_budget--;
	}
	e->reg[R_TDH] = head;
	/* One cause bit covers the round: RS without IDE interrupts at once
	 * for all of it (and cancels the delay). */
	if (txdw_now)
		e1000_set_cause(e, ICR_TXDW);
	else if (txdw_delayed)
		e1000_delay_cause(e, E1000_DELAY_TX);
	if (head == tail)
		e1000_set_cause(e, ICR_TXQE);
	else if (limited) /* the rest in the next loop round */
		schedule_round(e);
}

/* Descriptors between TDH and TDT (UINT32_MAX for a ring out of shape:
 * the loop's round says why). */
static uint32_t tx_pending(const struct e1000 *e)
{
	uint32_t n = e->reg[R_TDLEN] / TXD_SIZE, head = e->reg[R_TDH], tail = e->reg[R_TDT];
	return n && head < n && tail < n ? (tail + n - head) % n : UINT32_MAX;
}

void e1000_tx_schedule(struct e1000 *e)
{
	/* A few descriptors (a lone ACK) go out on the writing vCPU: handing
	 * them to the loop would cost an eventfd write and a thread wake-up
	 * per frame, more than the tap write itself. Not while a round is due:
	 * it would find its descriptors gone, but frames keep ring order
	 * either way (one walker at a time, under the lock). */
	if (e->tx_fd < 0 || (!e->tx_scheduled && tx_pending(e) <= E1000_TX_INLINE_DESCS)) {
		e->tx_inline = true;
		e1000_tx_process(e);
		e->tx_inline = false;
		return;
	}
	schedule_round(e);
}

void e1000_tx_run(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	if (e->tx_scheduled) { /* else sent at once, or by an earlier round */
		e->tx_scheduled = false;
		e1000_tx_process(e);
	}
	pthread_mutex_unlock(&e->lock);
}

void e1000_tx_event(void *opaque, uint32_t events)
{
	struct e1000 *e = opaque;
	uint64_t n;
	if (read(e->tx_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("e1000: eventfd read: %s", strerror(errno));
	e1000_tx_run(e);
}

void e1000_tx_quiesce(struct e1000 *e)
{
	/* Each round ends at TDT, or moves TDH on by its budget; a round that
	 * does not move it (TCTL.EN off, no bus mastering, an unusable ring)
	 * never will. */
	for (;;) {
		uint32_t head = e->reg[R_TDH];
		e1000_tx_process(e);
		if (e->reg[R_TDH] == e->reg[R_TDT] || e->reg[R_TDH] == head)
			return;
	}
}

void e1000_tx_reset(struct e1000 *e)
{
	struct e1000_tx *t = &e->tx;
	memset(&t->ctx, 0, sizeof(t->ctx));
	t->in_packet = false;
	t->legacy = t->tse = false;
	t->popts = t->css = 0;
	t->error = TX_OK;
	t->len = 0;
}
