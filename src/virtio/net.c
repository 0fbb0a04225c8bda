/* virtio-net device model (virtio 1.x §5.1). See net.h.
 *
 * Anatomy: device logic (features, config, header handling), TX (transmitq
 * → backend), RX (backend → receiveq), and the virtio_dev_ops glue.
 *
 * Threads: queue kicks and backend rx callbacks run on the event-loop
 * thread with vdev->lock held. net.h allows a backend to deliver a frame
 * from inside net_send() (none does today: slirp and tap queue or write):
 * that nested rx runs on the thread that already holds the lock, so it must
 * not take it again. */
#include "virtio/net.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/inet_csum.h"
#include "util/iov.h"
#include "util/log.h"

#define HDR_LEN sizeof(struct virtio_net_hdr_v1) /* §5.1.6: 12 bytes with VERSION_1 */
#define RXQ 0
#define TXQ 1
#define QUEUE_SIZE 256

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_VNET_HDR_LEN, "vnet header size");
_Static_assert(VIRTIO_NET_MAX_TX_FRAME <= NET_MAX_FRAME, "backend frame bound");

struct virtio_net {
	struct virtio_dev vdev; /* first: container_of is a cast */
	struct net_backend *backend;
	bool vnet_hdr;          /* the backend carries virtio_net_hdr_v1 */
	uint8_t mac[6];

	/* TX in progress on this thread: a nested rx must not lock again. */
	bool sending;
	pthread_t send_thread;
	bool rx_waiting;        /* we refused a frame: resume on an RX kick */
	bool rx_notify;         /* frames delivered since the last burst end */

	struct virtio_net_stats stats;
	struct virtq_chain tx_chain, rx_first, rx_chain;
	struct iovec tx_iov[VIRTQ_MAX_SIZE];
	uint16_t rx_heads[VIRTQ_MAX_SIZE];
	uint32_t rx_lens[VIRTQ_MAX_SIZE];
	/* Receive buffers popped ahead for direct reads (rx_pool_fill). */
	unsigned pool_n, pool_niov;
	size_t pool_bytes;
	uint16_t pool_heads[VIRTQ_MAX_SIZE], pool_iovs[VIRTQ_MAX_SIZE];
	uint32_t pool_lens[VIRTQ_MAX_SIZE];
	struct iovec pool_iov[VIRTQ_MAX_SIZE];
	/* The pool could not be filled at this avail idx: until the driver
	 * posts more, frames go the copy way without popping again. */
	bool pool_short;
	uint16_t pool_short_avail;
	uint8_t bounce[VIRTIO_NET_MAX_TX_FRAME]; /* software checksum */
};

static struct virtio_net *to_net(struct virtio_dev *vdev)
{
	return vdev->opaque;
}

/* ---- TX (§5.1.6.2) ---- */

/* Sends one popped transmitq chain. 0: done (sent or dropped and counted);
 * -EINVAL: the chain violates the protocol (device-writable buffers). */
static int tx_chain(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_v1 hdr;
	int iovcnt;

	/* §2.7.4.2 / §5.1.6.2: transmit buffers are device-readable only. */
	if (c->n_in)
		return -EINVAL;
	if (c->out_len < HDR_LEN) {
		n->stats.tx_malformed++;
		log_guest_error_once("virtio-net: transmit chain of %llu bytes has no header",
				     (unsigned long long)c->out_len);
		return 0;
	}
	size_t frame_len = c->out_len - HDR_LEN;
	if (frame_len > VIRTIO_NET_MAX_TX_FRAME) {
		n->stats.tx_oversize++;
		log_guest_error_once("virtio-net: transmit frame of %zu bytes dropped (max %u)",
				     frame_len, VIRTIO_NET_MAX_TX_FRAME);
		return 0;
	}

	const struct iovec *iov = n->tx_iov;
	if (n->vnet_hdr) {
		/* Header and frame go to the backend as they are: zero copy. */
		iov = c->iov;
		iovcnt = (int)c->n_out;
	} else {
		virtq_iov_to_buf(c->iov, c->n_out, 0, &hdr, HDR_LEN);
		if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			/* HOST_TSO* is only offered with a vnet header. */
			n->stats.tx_malformed++;
			log_guest_error_once("virtio-net: GSO frame without HOST_TSO negotiated");
			return 0;
		}
		if (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			/* CSUM is only offered with a vnet header; should a
			 * driver ask anyway, finish the checksum here (§5.1.6.2:
			 * sum from csum_start on, stored at csum_offset). */
			uint16_t start = le16toh(hdr.csum_start), off = le16toh(hdr.csum_offset);
			if ((size_t)start + off + 2 > frame_len) {
				n->stats.tx_malformed++;
				log_guest_error_once("virtio-net: csum_start/csum_offset past the frame");
				return 0;
			}
			virtq_iov_to_buf(c->iov, c->n_out, HDR_LEN, n->bounce, frame_len);
			uint16_t sum = htons(inet_csum(n->bounce + start, frame_len - start, 0));
			memcpy(n->bounce + start + off, &sum, 2);
			n->tx_iov[0].iov_base = n->bounce;
			n->tx_iov[0].iov_len = frame_len;
			iovcnt = 1;
		} else {
			iovcnt = (int)iov_skip(c->iov, c->n_out, HDR_LEN, n->tx_iov);
		}
	}
	if (iovcnt == 0) {
		n->stats.tx_malformed++;
		log_guest_error_once("virtio-net: empty transmit frame");
		return 0;
	}

	__atomic_store_n(&n->send_thread, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&n->sending, true, __ATOMIC_RELEASE);
	int r = net_send(n->backend, iov, iovcnt);
	__atomic_store_n(&n->sending, false, __ATOMIC_RELEASE);
	if (r < 0)
		n->stats.tx_dropped++;
	else
		n->stats.tx_frames++;
	return 0;
}

/* Queue kick on transmitq: at most one queue's worth of chains per call
 * (bounded work per kick); more is picked up by kicking ourselves. */
static void tx_process(struct virtio_net *n)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[TXQ].vq;
	unsigned budget = vq->size;
	bool pushed = false;

	for (;;) {
		virtq_disable_kicks(vq);
		while (budget && vdev->live) {
			int r = virtq_pop(vq, &n->tx_chain);
			if (r == 0)
				break;
			if (r < 0) {
				virtio_dev_set_broken(vdev, vq->error);
				return;
			}
			budget--;
			if (tx_chain(n, &n->tx_chain) < 0) {
				virtio_dev_set_broken(vdev, "transmit chain has device-writable buffers");
				return;
			}
			/* §5.1.6.2: the used length of a transmit buffer is 0. */
			virtq_push(vq, n->tx_chain.head, 0);
			pushed = true;
		}
		if (!vdev->live)
			return;
		if (budget == 0) {
			if (virtq_enable_kicks(vq))
				virtio_queue_rekick(vdev, TXQ);
			break;
		}
		if (!virtq_enable_kicks(vq))
			break;
	}
	if (pushed)
		virtio_queue_done(vdev, TXQ);
}

/* ---- RX (§5.1.6.3, §5.1.6.4) ---- */

static void rx_unpop(struct virtqueue *vq, unsigned count)
{
	while (count--)
		virtq_unpop(vq);
}

/* Gives the pool back to the ring (the direct path's buffers, below: the
 * last pops, so unpopping returns exactly them). */
static void rx_pool_return(struct virtio_net *n)
{
	rx_unpop(&n->vdev.queues[RXQ].vq, n->pool_n);
	n->pool_n = n->pool_niov = 0;
	n->pool_bytes = 0;
}

/* Delivers one frame: [virtio_net_hdr_v1][frame] over one chain, or with
 * MRG_RXBUF over as many as it takes (num_buffers says how many). Returns
 * false if the guest has not posted enough buffers: nothing is consumed. */
static bool rx_deliver(struct virtio_net *n, const struct iovec *iov, int iovcnt, size_t len)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[RXQ].vq;
	struct virtio_net_hdr_v1 hdr = {0};
	size_t src_skip = 0;

	if (!vdev->live || !vdev->queues[RXQ].enabled) {
		n->stats.rx_dropped++; /* §5.1.6.3: no buffers before DRIVER_OK */
		return true;
	}
	if (n->vnet_hdr) {
		if (len < HDR_LEN) {
			n->stats.rx_dropped++;
			return true;
		}
		virtq_iov_to_buf(iov, (unsigned)iovcnt, 0, &hdr, HDR_LEN);
		src_skip = HDR_LEN;
	}
	size_t frame_len = len - src_skip;
	bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
	if (n->pool_n) /* defensive: the backend falls back only after a return */
		rx_pool_return(n);
	unsigned nbufs = 0;
	size_t copied = 0; /* frame bytes placed */

	do {
		if (nbufs == vq->size) { /* cannot fit, whatever the driver posts */
			rx_unpop(vq, nbufs);
			n->stats.rx_dropped++;
			log_guest_error_once("virtio-net: receive buffers too small for a %zu-byte frame",
					     frame_len);
			return true;
		}
		struct virtq_chain *c = nbufs ? &n->rx_chain : &n->rx_first;
		int r = virtq_pop(vq, c);
		if (r < 0) {
			virtio_dev_set_broken(vdev, vq->error);
			return true;
		}
		if (r == 0) {
			rx_unpop(vq, nbufs);
			n->rx_waiting = true;
			return false;
		}
		nbufs++;
		if (c->n_out) {
			virtio_dev_set_broken(vdev, "receive chain has device-readable buffers");
			return true;
		}
		const struct iovec *in = c->iov + c->n_out;
		size_t put = 0;
		if (nbufs == 1) {
			/* §5.1.6.3.1: with MRG_RXBUF each buffer holds at least
			 * the header; without, one chain holds the packet. */
			if (c->in_len < HDR_LEN && mrg) {
				virtio_dev_set_broken(vdev, "receive buffer smaller than the header");
				return true;
			}
			if (!mrg && c->in_len < HDR_LEN + frame_len) {
				virtq_push(vq, c->head, 0);
				virtio_queue_done(vdev, RXQ);
				n->stats.rx_dropped++;
				log_guest_error_once("virtio-net: receive buffer of %llu bytes too small "
						     "without MRG_RXBUF", (unsigned long long)c->in_len);
				return true;
			}
			put = virtq_buf_to_iov(in, c->n_in, 0, &hdr, HDR_LEN);
		} else if (c->in_len < HDR_LEN) {
			virtio_dev_set_broken(vdev, "receive buffer smaller than the header");
			return true;
		}
		put += iov_copy(in, c->n_in, put, iov, (unsigned)iovcnt, src_skip + copied,
				frame_len - copied);
		copied += put - (nbufs == 1 ? HDR_LEN : 0);
		n->rx_heads[nbufs - 1] = c->head;
		n->rx_lens[nbufs - 1] = (uint32_t)put;
	} while (copied < frame_len);

	/* §5.1.6.4: num_buffers, 1 without MRG_RXBUF. */
	uint16_t num = htole16((uint16_t)nbufs);
	virtq_buf_to_iov(n->rx_first.iov + n->rx_first.n_out, n->rx_first.n_in,
			 offsetof(struct virtio_net_hdr_v1, num_buffers), &num, sizeof(num));
	for (unsigned i = 0; i < nbufs; i++)
		virtq_push(vq, n->rx_heads[i], n->rx_lens[i]);
	n->stats.rx_frames++;
	/* One interrupt per burst: net_rx_burst_end notifies. */
	n->rx_notify = true;
	return true;
}

/* ---- RX straight from the backend (net_rx_direct_fn) ----
 *
 * The backend reads a frame into buffers the device lends: as many popped
 * receive buffers as hold the largest frame. They stay popped between
 * frames (the pool: always the last pool_n pops of the receiveq, in order),
 * so a frame costs the pops of the buffers it filled, not of 64 KiB worth.
 * The frame arrives with its vnet header from the backend; only
 * num_buffers is ours to write. */

/* Pops buffers until the pool holds the largest frame. false: the driver
 * has not posted enough (or broke the protocol: NEEDS_RESET is set). */
static bool rx_pool_fill(struct virtio_net *n)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[RXQ].vq;
	bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);

	while (n->pool_bytes < HDR_LEN + NET_MAX_FRAME) {
		/* Without MRG_RXBUF one chain must hold the frame. */
		if (n->pool_n == vq->size || (n->pool_n && !mrg))
			return false;
		int r = virtq_pop(vq, &n->rx_chain);
		if (r < 0)
			virtio_dev_set_broken(vdev, vq->error);
		if (r <= 0)
			return false;
		const struct virtq_chain *c = &n->rx_chain;
		if (c->n_out) {
			virtq_unpop(vq);
			virtio_dev_set_broken(vdev, "receive chain has device-readable buffers");
			return false;
		}
		if (c->in_len < HDR_LEN && mrg) { /* §5.1.6.3.1 */
			virtq_unpop(vq);
			virtio_dev_set_broken(vdev, "receive buffer smaller than the header");
			return false;
		}
		if (n->pool_niov + c->n_in > VIRTQ_MAX_SIZE) { /* readv's IOV_MAX */
			virtq_unpop(vq);
			return false;
		}
		memcpy(&n->pool_iov[n->pool_niov], c->iov, c->n_in * sizeof(c->iov[0]));
		n->pool_niov += c->n_in;
		n->pool_heads[n->pool_n] = c->head;
		n->pool_lens[n->pool_n] = (uint32_t)c->in_len;
		n->pool_iovs[n->pool_n] = (uint16_t)c->n_in;
		n->pool_n++;
		n->pool_bytes += c->in_len;
	}
	return true;
}

static ssize_t rx_direct(struct virtio_net *n, net_read_fn read_frame, void *ctx)
{
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[RXQ].vq;

	if (!n->vnet_hdr || !vdev->live || !vdev->queues[RXQ].enabled)
		return 0;
	if (n->pool_short && virtq_avail_idx(vq) == n->pool_short_avail)
		return 0;
	n->pool_short = false;
	if (!rx_pool_fill(n)) {
		if (vdev->live) {
			rx_pool_return(n);
			n->pool_short = true;
			n->pool_short_avail = virtq_avail_idx(vq);
			n->stats.rx_direct_short++;
		}
		return 0;
	}
	ssize_t len = read_frame(ctx, n->pool_iov, (int)n->pool_niov);
	if (len <= (ssize_t)HDR_LEN) {
		if (len <= 0)
			return len ? len : -EAGAIN;
		n->stats.rx_dropped++; /* a runt: no frame behind the header */
		return len;
	}
	/* The frame filled the pool's first buffers in order. */
	unsigned used = 0, used_iov = 0;
	for (size_t left = (size_t)len; left; used++) {
		uint32_t put = n->pool_lens[used] < left ? n->pool_lens[used] : (uint32_t)left;
		n->rx_lens[used] = put;
		left -= put;
		used_iov += n->pool_iovs[used];
		n->pool_bytes -= n->pool_lens[used];
	}
	uint16_t num = htole16((uint16_t)used); /* §5.1.6.4 */
	virtq_buf_to_iov(n->pool_iov, n->pool_iovs[0], offsetof(struct virtio_net_hdr_v1, num_buffers),
			 &num, sizeof(num));
	for (unsigned i = 0; i < used; i++)
		virtq_push(vq, n->pool_heads[i], n->rx_lens[i]);
	n->pool_n -= used;
	n->pool_niov -= used_iov;
	memmove(n->pool_heads, n->pool_heads + used, n->pool_n * sizeof(n->pool_heads[0]));
	memmove(n->pool_lens, n->pool_lens + used, n->pool_n * sizeof(n->pool_lens[0]));
	memmove(n->pool_iovs, n->pool_iovs + used, n->pool_n * sizeof(n->pool_iovs[0]));
	memmove(n->pool_iov, n->pool_iov + used_iov, n->pool_niov * sizeof(n->pool_iov[0]));
	n->stats.rx_frames++;
	n->stats.rx_zero_copy++;
	n->rx_notify = true; /* net_rx_burst_end notifies */
	return len;
}

/* Takes the device lock unless this thread holds it already, in net_send
 * (a backend delivering a frame from inside the send); true if taken. */
static bool rx_lock(struct virtio_net *n)
{
	bool nested = __atomic_load_n(&n->sending, __ATOMIC_ACQUIRE) &&
		      pthread_equal(__atomic_load_n(&n->send_thread, __ATOMIC_RELAXED),
				    pthread_self());
	if (!nested)
		pthread_mutex_lock(&n->vdev.lock);
	return !nested;
}

/* The backend's rx callback (loop thread). */
static bool net_rx(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct virtio_net *n = opaque;
	bool locked = rx_lock(n);
	bool r = rx_deliver(n, iov, iovcnt, len);
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
	return r;
}

static ssize_t net_rx_direct(void *opaque, net_read_fn read_frame, void *ctx)
{
	struct virtio_net *n = opaque;
	bool locked = rx_lock(n);
	ssize_t r = rx_direct(n, read_frame, ctx);
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
	return r;
}

/* The backend read what it had: one used-ring notification for the
 * frames it delivered (event idx may still suppress it). */
static void net_rx_burst_end(void *opaque)
{
	struct virtio_net *n = opaque;
	bool locked = rx_lock(n);
	if (n->rx_notify) {
		n->rx_notify = false;
		virtio_queue_done(&n->vdev, RXQ);
	}
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- virtio_dev_ops ---- */

static void net_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_net *n = to_net(vdev);
	struct virtio_net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	cfg.status = htole16(VIRTIO_NET_S_LINK_UP); /* §5.1.4: with STATUS */
	memset(data, 0, len);
	if (offset < sizeof(cfg))
		memcpy(data, (const uint8_t *)&cfg + offset,
		       len < sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

static void net_config_write(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len)
{
	/* §5.1.4: read-only for a modern driver (mac is legacy-writable). */
}

/* TUN_F_* for what the driver accepts from us (§5.1.3.1: the GUEST_TSO*
 * and GUEST_ECN features need GUEST_CSUM). */
static unsigned guest_offloads(const struct virtio_dev *vdev)
{
	unsigned f = 0;
	if (!virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN))
		f |= TUN_F_TSO_ECN;
	return f;
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	if (!vdev->queues[RXQ].enabled || !vdev->queues[TXQ].enabled) {
		log_guest_error_once("virtio-net: DRIVER_OK without receiveq and transmitq");
		return -EINVAL;
	}
	if (n->vnet_hdr) {
		int r = net_set_offloads(n->backend, guest_offloads(vdev));
		if (r < 0) {
			log_error("virtio-net: cannot set backend offloads: %s", strerror(-r));
			return r;
		}
	}
	/* A frame refused before a reset may still be held: retry it now. */
	n->rx_waiting = false;
	net_rx_resume(n->backend);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	/* Nothing is in flight (TX and RX complete synchronously); a frame the
	 * backend holds for us is dropped when it retries (not live). */
	if (n->vnet_hdr)
		net_set_offloads(n->backend, 0);
	n->rx_notify = false; /* the rings it was for are gone */
	n->pool_n = n->pool_niov = 0;
	n->pool_bytes = 0;
	n->pool_short = false;
	if (n->rx_waiting) {
		n->rx_waiting = false;
		net_rx_resume(n->backend);
	}
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *n = to_net(vdev);

	if (q == TXQ) {
		tx_process(n);
	} else if (q == RXQ && n->rx_waiting) {
		/* New receive buffers: let the backend retry its frame. */
		n->rx_waiting = false;
		net_rx_resume(n->backend);
	}
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
};

/* ---- Lifecycle ---- */

struct virtio_net *virtio_net_create(const struct virtio_net_options *o,
				     const struct guest_mem *mem, struct loop *loop)
{
	static const uint8_t default_mac[6] = VIRTIO_NET_DEFAULT_MAC;
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n) {
		log_error("virtio-net: out of memory");
		return NULL;
	}
	memcpy(n->mac, o->mac_set ? o->mac : default_mac, sizeof(n->mac));

	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MAC) |
			    (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	/* Initialise the device (and its lock) before the backend can call us. */
	virtio_dev_init(&n->vdev, "virtio-net", VIRTIO_ID_NET, 2, QUEUE_SIZE,
			sizeof(struct virtio_net_config), features, &net_ops, n, mem, loop);
	n->backend = net_open(&o->backend, loop, net_rx, n);
	if (!n->backend) {
		virtio_dev_destroy(&n->vdev);
		free(n);
		return NULL;
	}
	net_set_rx_burst_end(n->backend, net_rx_burst_end);
	net_set_rx_direct(n->backend, net_rx_direct);
	n->vnet_hdr = net_has_vnet_hdr(n->backend);
	if (n->vnet_hdr)
		n->vdev.device_features |=
			(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
			(1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN);
	return n;
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n)
{
	return &n->vdev;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	log_debug("virtio-net: %llu frames received (%llu read straight into guest buffers; "
		  "%llu times too few buffers posted for that), %llu dropped; %llu sent, %llu dropped",
		  (unsigned long long)n->stats.rx_frames, (unsigned long long)n->stats.rx_zero_copy,
		  (unsigned long long)n->stats.rx_direct_short,
		  (unsigned long long)n->stats.rx_dropped, (unsigned long long)n->stats.tx_frames,
		  (unsigned long long)n->stats.tx_dropped);
	net_close(n->backend);
	virtio_dev_destroy(&n->vdev);
	free(n);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *st)
{
	pthread_mutex_lock(&n->vdev.lock);
	*st = n->stats;
	pthread_mutex_unlock(&n->vdev.lock);
}
