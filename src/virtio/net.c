/* virtio-net device model (virtio 1.x §5.1). See net.h.
 *
 * Anatomy: device logic (features, config, header handling), TX (transmitq
 * → backend), RX (backend → receiveq), the control queue (multiqueue), and
 * the virtio_dev_ops glue.
 *
 * Queue pairs: pair i is receiveq 2i and transmitq 2i+1, with a backend of
 * its own (tap queue i); the control queue comes last (§5.1.2: 2N with MQ
 * negotiated, else 2: a driver may take CTRL_VQ without MQ). A tap queue
 * is attached only while the driver uses its pair (the first always), so
 * the kernel steers flows to the pairs in use; a frame that still arrives
 * on the backend of a pair the driver does not use (one read before the
 * detach, or a detach that failed) goes to an active receiveq (i mod active
 * pairs, §5.1.6.5.5: nothing is queued past them).
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
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/device.h"
#include "core/inet_csum.h"
#include "core/iov.h"
#include "core/log.h"
#include "core/state.h"
#include "virtio/queue_service.h"
#include "virtio/vhost/vhost.h"

#define HDR_LEN sizeof(struct virtio_net_hdr_v1) /* §5.1.6: 12 bytes with VERSION_1 */
#define QUEUE_SIZE 256
#define CTRL_QUEUE_SIZE 64
_Static_assert(2 * VIRTIO_NET_MAX_QUEUE_PAIRS + 1 <= VIRTIO_MAX_QUEUES, "queue count");

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_VNET_HDR_LEN, "vnet header size");
_Static_assert(VIRTIO_NET_MAX_TX_FRAME <= NET_MAX_FRAME, "backend frame bound");

/* One receiveq/transmitq pair and the backend queue it reads and writes. */
struct vnet_pair {
	struct virtio_net *n;
	unsigned rxq, txq;      /* queue indexes: 2i, 2i+1 */
	struct net_backend *backend;
	bool rx_notify;         /* frames placed on rxq since the last burst end */
	/* Receive buffers of rxq popped ahead for direct reads (rx_pool_fill). */
	unsigned pool_n, pool_niov;
	size_t pool_bytes;
	uint16_t pool_heads[VIRTQ_MAX_SIZE], pool_iovs[VIRTQ_MAX_SIZE];
	uint32_t pool_lens[VIRTQ_MAX_SIZE];
	struct iovec pool_iov[VIRTQ_MAX_SIZE];
	/* The pool could not be filled at this avail idx: until the driver
	 * posts more, frames go the copy way without popping again. */
	bool pool_short;
	uint16_t pool_short_avail;
	/* vhost=on: the kernel serves both queues (rings 0 = rx, 1 = tx). */
	struct vhost vhost;
	bool vhost_opened;
};

struct virtio_net {
	struct virtio_dev vdev;
	bool vnet_hdr;          /* the backends carry virtio_net_hdr_v1 */
	uint8_t mac[6];
	unsigned npairs;        /* offered (max_virtqueue_pairs) */
	unsigned active_pairs;  /* in use by the driver: 1 until MQ_VQ_PAIRS_SET */
	unsigned ctrlq;         /* control queue index, as negotiated (activate) */
	struct vnet_pair *pairs;
	bool vhost;             /* the kernel moves the frames (vhost-net) */

	/* TX in progress on this thread: a nested rx must not lock again. */
	bool sending;
	pthread_t send_thread;
	bool rx_waiting;        /* we refused a frame: resume on an RX kick */

	struct virtio_net_stats stats;
	/* Scratch for the loop thread (all use is under vdev.lock). */
	struct virtq_chain tx_chain, rx_first, rx_chain;
	struct iovec tx_iov[VIRTQ_MAX_SIZE];
	uint16_t rx_heads[VIRTQ_MAX_SIZE];
	uint32_t rx_lens[VIRTQ_MAX_SIZE];
	uint8_t bounce[VIRTIO_NET_MAX_TX_FRAME]; /* software checksum */
};

static struct virtio_net *to_net(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_net, vdev);
}

/* ---- TX (§5.1.6.2) ---- */

/* Sends one popped transmitq chain. 0: done (sent or dropped and counted,
 * on cnt too); -EINVAL: the chain violates the protocol (device-writable
 * buffers). */
static int tx_chain(struct virtio_net *n, struct net_backend *backend, const struct virtq_chain *c,
		    struct dev_counters *cnt)
{
	struct virtio_net_hdr_v1 hdr;
	int iovcnt;

	/* §2.7.4.2 / §5.1.6.2: transmit buffers are device-readable only. */
	if (c->n_in)
		return -EINVAL;
	if (c->out_len < HDR_LEN) {
		n->stats.tx_malformed++;
		counter_inc(&cnt->rejected);
		log_guest_error("virtio-net", "transmit chain of %llu bytes has no header",
				     (unsigned long long)c->out_len);
		return 0;
	}
	size_t frame_len = c->out_len - HDR_LEN;
	if (frame_len > VIRTIO_NET_MAX_TX_FRAME) {
		n->stats.tx_oversize++;
		counter_inc(&cnt->rejected);
		log_guest_error("virtio-net", "transmit frame of %zu bytes dropped (max %u)",
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
			counter_inc(&cnt->rejected);
			log_guest_error("virtio-net", "GSO frame without HOST_TSO negotiated");
			return 0;
		}
		if (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			/* CSUM is only offered with a vnet header; should a
			 * driver ask anyway, finish the checksum here (§5.1.6.2:
			 * sum from csum_start on, stored at csum_offset). */
			uint16_t start = le16toh(hdr.csum_start), off = le16toh(hdr.csum_offset);
			if ((size_t)start + off + 2 > frame_len) {
				n->stats.tx_malformed++;
				counter_inc(&cnt->rejected);
				log_guest_error("virtio-net", "csum_start/csum_offset past the frame");
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
		counter_inc(&cnt->rejected);
		log_guest_error("virtio-net", "empty transmit frame");
		return 0;
	}

	__atomic_store_n(&n->send_thread, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&n->sending, true, __ATOMIC_RELEASE);
	int r = net_send(backend, iov, iovcnt);
	__atomic_store_n(&n->sending, false, __ATOMIC_RELEASE);
	if (r < 0) {
		n->stats.tx_dropped++;
		counter_inc(&cnt->errors);
	} else {
		n->stats.tx_frames++;
		counter_add(&cnt->bytes_in, frame_len);
	}
	return 0;
}

static enum qs_verdict tx_handle(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	struct virtio_net *n = to_net(vdev);
	struct dev_counters *cnt = &vdev->queues[q].counters;
	if (tx_chain(n, n->pairs[q / 2].backend, chain, cnt) < 0) {
		virtio_dev_set_broken(vdev, "transmit chain has device-writable buffers");
		return QS_BROKEN;
	}
	/* §5.1.6.2: the used length of a transmit buffer is 0. */
	virtq_push(&vdev->queues[q].vq, chain->head, 0);
	counter_inc(&cnt->requests);
	return QS_NEXT;
}

static const struct queue_service_ops tx_service = {.handle = tx_handle};

/* Queue kick on transmitq. */
static void tx_process(struct vnet_pair *p)
{
	queue_service_run(&p->n->vdev, p->txq, &tx_service, &p->n->tx_chain);
}

/* ---- RX (§5.1.6.3, §5.1.6.4) ---- */

/* A frame of bytes (its header included) delivered in chains buffers. */
static void rx_count(struct dev_counters *cnt, unsigned chains, uint64_t bytes)
{
	counter_add(&cnt->requests, chains);
	counter_add(&cnt->bytes_out, bytes);
}

static void rx_unpop(struct virtqueue *vq, unsigned count)
{
	while (count--)
		virtq_unpop(vq);
}

/* Gives the pool back to the ring (the direct path's buffers, below: the
 * last pops, so unpopping returns exactly them). */
static void rx_pool_return(struct vnet_pair *p)
{
	rx_unpop(&p->n->vdev.queues[p->rxq].vq, p->pool_n);
	p->pool_n = p->pool_niov = 0;
	p->pool_bytes = 0;
}

/* Delivers one frame: [virtio_net_hdr_v1][frame] over one chain, or with
 * MRG_RXBUF over as many as it takes (num_buffers says how many). Returns
 * false if the guest has not posted enough buffers: nothing is consumed. */
static bool rx_deliver(struct vnet_pair *p, const struct iovec *iov, int iovcnt, size_t len)
{
	struct virtio_net *n = p->n;
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[p->rxq].vq;
	struct virtio_net_hdr_v1 hdr = {0};
	size_t src_skip = 0;

	if (!vdev->live || !vdev->queues[p->rxq].enabled) {
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
	if (p->pool_n) /* defensive: the backend falls back only after a return */
		rx_pool_return(p);
	unsigned nbufs = 0;
	size_t copied = 0; /* frame bytes placed */

	do {
		if (nbufs == vq->size) { /* cannot fit, whatever the driver posts */
			rx_unpop(vq, nbufs);
			n->stats.rx_dropped++;
			counter_inc(&vdev->queues[p->rxq].counters.rejected);
			log_guest_error("virtio-net", "receive buffers too small for a %zu-byte frame",
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
				virtio_queue_done(vdev, p->rxq);
				n->stats.rx_dropped++;
				counter_inc(&vdev->queues[p->rxq].counters.requests);
				counter_inc(&vdev->queues[p->rxq].counters.rejected);
				log_guest_error("virtio-net", "receive buffer of %llu bytes too small "
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
		virtq_fill(vq, n->rx_heads[i], n->rx_lens[i]);
	rx_count(&vdev->queues[p->rxq].counters, nbufs, HDR_LEN + frame_len);
	n->stats.rx_frames++;
	/* One used idx store and one interrupt per burst: net_rx_burst_end
	 * publishes and notifies. */
	p->rx_notify = true;
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
static bool rx_pool_fill(struct vnet_pair *p)
{
	struct virtio_net *n = p->n;
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[p->rxq].vq;
	bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);

	while (p->pool_bytes < HDR_LEN + NET_MAX_FRAME) {
		/* Without MRG_RXBUF one chain must hold the frame. */
		if (p->pool_n == vq->size || (p->pool_n && !mrg))
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
		if (p->pool_niov + c->n_in > VIRTQ_MAX_SIZE) { /* readv's IOV_MAX */
			virtq_unpop(vq);
			return false;
		}
		memcpy(&p->pool_iov[p->pool_niov], c->iov, c->n_in * sizeof(c->iov[0]));
		p->pool_niov += c->n_in;
		p->pool_heads[p->pool_n] = c->head;
		p->pool_lens[p->pool_n] = (uint32_t)c->in_len;
		p->pool_iovs[p->pool_n] = (uint16_t)c->n_in;
		p->pool_n++;
		p->pool_bytes += c->in_len;
	}
	return true;
}

static ssize_t rx_direct(struct vnet_pair *p, net_read_fn read_frame, void *ctx)
{
	struct virtio_net *n = p->n;
	struct virtio_dev *vdev = &n->vdev;
	struct virtqueue *vq = &vdev->queues[p->rxq].vq;

	if (!n->vnet_hdr || !vdev->live || !vdev->queues[p->rxq].enabled)
		return 0;
	if (p->pool_short && virtq_avail_idx(vq) == p->pool_short_avail)
		return 0;
	p->pool_short = false;
	if (!rx_pool_fill(p)) {
		if (vdev->live) {
			rx_pool_return(p);
			p->pool_short = true;
			p->pool_short_avail = virtq_avail_idx(vq);
			n->stats.rx_direct_short++;
		}
		return 0;
	}
	ssize_t len = read_frame(ctx, p->pool_iov, (int)p->pool_niov);
	if (len <= (ssize_t)HDR_LEN) {
		if (len <= 0)
			return len ? len : -EAGAIN;
		n->stats.rx_dropped++; /* a runt: no frame behind the header */
		return len;
	}
	/* The frame filled the pool's first buffers in order. */
	unsigned used = 0, used_iov = 0;
	for (size_t left = (size_t)len; left; used++) {
		uint32_t put = p->pool_lens[used] < left ? p->pool_lens[used] : (uint32_t)left;
		n->rx_lens[used] = put;
		left -= put;
		used_iov += p->pool_iovs[used];
		p->pool_bytes -= p->pool_lens[used];
	}
	uint16_t num = htole16((uint16_t)used); /* §5.1.6.4 */
	virtq_buf_to_iov(p->pool_iov, p->pool_iovs[0], offsetof(struct virtio_net_hdr_v1, num_buffers),
			 &num, sizeof(num));
	for (unsigned i = 0; i < used; i++)
		virtq_fill(vq, p->pool_heads[i], n->rx_lens[i]);
	rx_count(&vdev->queues[p->rxq].counters, used, (uint64_t)len);
	p->pool_n -= used;
	p->pool_niov -= used_iov;
	memmove(p->pool_heads, p->pool_heads + used, p->pool_n * sizeof(p->pool_heads[0]));
	memmove(p->pool_lens, p->pool_lens + used, p->pool_n * sizeof(p->pool_lens[0]));
	memmove(p->pool_iovs, p->pool_iovs + used, p->pool_n * sizeof(p->pool_iovs[0]));
	memmove(p->pool_iov, p->pool_iov + used_iov, p->pool_niov * sizeof(p->pool_iov[0]));
	n->stats.rx_frames++;
	n->stats.rx_zero_copy++;
	p->rx_notify = true; /* net_rx_burst_end publishes and notifies */
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

/* The pair whose receiveq takes what pair p's backend reads: p itself
 * while the driver uses it, else one that it uses (lock held). */
static struct vnet_pair *rx_target(struct vnet_pair *p)
{
	struct virtio_net *n = p->n;
	unsigned i = (unsigned)(p - n->pairs);
	return i < n->active_pairs ? p : &n->pairs[i % n->active_pairs];
}

/* The backend's rx callback (loop thread); opaque is the backend's pair. */
static bool net_rx(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct virtio_net *n = ((struct vnet_pair *)opaque)->n;
	bool locked = rx_lock(n);
	struct vnet_pair *to = rx_target(opaque);
	bool r = rx_deliver(to, iov, iovcnt, len);
	if (r && to != opaque)
		n->stats.rx_redirected++;
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
	return r;
}

static ssize_t net_rx_direct(void *opaque, net_read_fn read_frame, void *ctx)
{
	struct virtio_net *n = ((struct vnet_pair *)opaque)->n;
	bool locked = rx_lock(n);
	struct vnet_pair *to = rx_target(opaque);
	ssize_t r = rx_direct(to, read_frame, ctx);
	if (r > 0 && to != opaque)
		n->stats.rx_redirected++;
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
	return r;
}

/* A multiqueue tap's queue is attached only while the driver uses its
 * pair, so the kernel steers no flow to a queue nobody reads; the first
 * stays attached (a tap with none attached has no carrier). Lock held. */
static int pair_attach(struct vnet_pair *p, bool on)
{
	struct virtio_net *n = p->n;
	if (p == &n->pairs[0])
		return 0;
	int r = net_set_queue_attached(p->backend, on);
	if (r == -ENOTSUP)
		return 0; /* a backend without queues to steer */
	if (r < 0)
		log_error("virtio-net: %s: cannot %s tap queue %u: %s", net_ifname(p->backend),
			  on ? "attach" : "detach", (unsigned)(p - n->pairs), strerror(-r));
	return r;
}

/* The userspace data path: the queues of the pairs in use attached, the
 * others not. A failure is logged and survivable: a queue left attached
 * has its frames redirected, one left detached gets none. Lock held. */
static void attach_active_pairs(struct virtio_net *n)
{
	for (unsigned i = 1; i < n->npairs; i++)
		pair_attach(&n->pairs[i], i < n->active_pairs);
}

/* A backend read what it had: per receiveq it filled, one used idx store
 * for the whole burst and one notification (event idx may still suppress
 * it): virtio_queue_done publishes before it decides. */
static void net_rx_burst_end(void *opaque)
{
	struct virtio_net *n = ((struct vnet_pair *)opaque)->n;
	bool locked = rx_lock(n);
	for (unsigned i = 0; i < n->npairs; i++) {
		struct vnet_pair *p = &n->pairs[i];
		if (p->rx_notify) {
			p->rx_notify = false;
			virtio_queue_done(&n->vdev, p->rxq);
		}
	}
	if (locked)
		pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- Kernel data path (vhost-net) ---- */

/* The features whose work is in the rings, so the kernel must know them. */
#define VHOST_NET_RING_FEATURES                                                   \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF))

static int vhost_set_backend(struct vnet_pair *p, int fd)
{
	for (unsigned ring = 0; ring < 2; ring++) {
		struct vhost_vring_file f = {.index = ring, .fd = fd};
		if (ioctl(p->vhost.fd, VHOST_NET_SET_BACKEND, &f) < 0)
			return -errno;
	}
	return 0;
}

/* Pair p's queues to the kernel (on) or back (off); its tap queue is
 * attached while it runs. Lock held. */
static int vhost_pair_run(struct vnet_pair *p, bool on)
{
	struct virtio_net *n = p->n;
	if (!on) {
		if (!p->vhost.running)
			return 0;
		vhost_set_backend(p, -1);
		vhost_stop(&p->vhost);
		pair_attach(p, false);
		return 0;
	}
	if (p->vhost.running)
		return 0;
	if (!n->vdev.queues[p->rxq].enabled || !n->vdev.queues[p->txq].enabled) {
		log_guest_error("virtio-net", "queue pair %u used without its queues enabled",
				     p->rxq / 2);
		return -EINVAL;
	}
	int ret = pair_attach(p, true);
	if (ret == 0)
		ret = vhost_start(&p->vhost, n->vdev.acked_features);
	if (ret == 0 && (ret = vhost_set_backend(p, net_kernel_fd(p->backend))) < 0) {
		log_error("virtio-net: VHOST_NET_SET_BACKEND %s: %s", net_ifname(p->backend),
			  strerror(-ret));
		vhost_stop(&p->vhost);
	}
	if (ret < 0)
		pair_attach(p, false);
	return ret;
}

/* The pairs below active run in the kernel, the others not. Lock held. */
static int vhost_apply_pairs(struct virtio_net *n)
{
	for (unsigned i = 0; i < n->npairs; i++) {
		int r = vhost_pair_run(&n->pairs[i], i < n->active_pairs);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- Control queue (§5.1.6.5), offered with more than one pair ---- */

/* The frames held for a receiveq that is no longer used (a backend that
 * waited for its buffers): let them go to an active one. */
static void resume_backends(struct virtio_net *n)
{
	n->rx_waiting = false;
	for (unsigned i = 0; i < n->npairs; i++)
		net_rx_resume(n->pairs[i].backend);
}

static void set_active_pairs(struct virtio_net *n, unsigned pairs)
{
	/* Buffers lent from receiveqs going out of use go back to the ring. */
	for (unsigned i = pairs; i < n->active_pairs; i++)
		rx_pool_return(&n->pairs[i]);
	n->active_pairs = pairs;
	if (!n->vhost)
		attach_active_pairs(n);
	else if (vhost_apply_pairs(n) < 0)
		virtio_dev_set_broken(&n->vdev, "vhost could not take the queue pairs");
	resume_backends(n);
}

/* Runs one command; returns its ack (VIRTIO_NET_OK or _ERR). */
static uint8_t ctrl_command(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_ctrl_hdr hdr;
	virtq_iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
	size_t data_len = c->out_len - sizeof(hdr);

	if (hdr.class == VIRTIO_NET_CTRL_MQ && hdr.cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
	    virtio_has_feature(&n->vdev, VIRTIO_NET_F_MQ)) {
		struct virtio_net_ctrl_mq mq;
		if (data_len != sizeof(mq))
			return VIRTIO_NET_ERR;
		virtq_iov_to_buf(c->iov, c->n_out, sizeof(hdr), &mq, sizeof(mq));
		unsigned pairs = le16toh(mq.virtqueue_pairs);
		if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > n->npairs)
			return VIRTIO_NET_ERR; /* §5.1.6.5.5 */
		set_active_pairs(n, pairs);
		return VIRTIO_NET_OK;
	}
	/* Classes of features not offered (RX mode, MAC, VLAN, announce...). */
	return VIRTIO_NET_ERR;
}

static enum qs_verdict ctrl_handle(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct dev_counters *cnt = &vdev->queues[q].counters;
	/* §5.1.6.5: class and command readable, then a writable ack. */
	if (c->out_len < sizeof(struct virtio_net_ctrl_hdr) || c->in_len < 1) {
		virtio_dev_set_broken(vdev, "control command without header or ack byte");
		return QS_BROKEN;
	}
	uint8_t ack = ctrl_command(to_net(vdev), c);
	virtq_buf_to_iov(c->iov + c->n_out, c->n_in, 0, &ack, 1);
	virtq_push(&vdev->queues[q].vq, c->head, 1);
	counter_inc(&cnt->requests);
	if (ack != VIRTIO_NET_OK)
		counter_inc(&cnt->rejected);
	return QS_NEXT;
}

static const struct queue_service_ops ctrl_service = {.handle = ctrl_handle};

/* ---- virtio_dev_ops ---- */

static void net_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_net *n = to_net(vdev);
	struct virtio_net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	cfg.status = htole16(VIRTIO_NET_S_LINK_UP); /* §5.1.4: with STATUS */
	cfg.max_virtqueue_pairs = htole16((uint16_t)n->npairs); /* with MQ */
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

	if (!vdev->queues[n->pairs[0].rxq].enabled || !vdev->queues[n->pairs[0].txq].enabled) {
		log_guest_error("virtio-net", "DRIVER_OK without receiveq and transmitq");
		return -EINVAL;
	}
	if (n->vnet_hdr) {
		/* Offloads belong to the tap device, not to one of its queues. */
		int r = net_set_offloads(n->pairs[0].backend, guest_offloads(vdev));
		if (r < 0) {
			log_error("virtio-net: cannot set backend offloads: %s", strerror(-r));
			return r;
		}
	}
	n->ctrlq = virtio_has_feature(vdev, VIRTIO_NET_F_MQ) ? 2 * n->npairs : 2;
	if (n->vhost)
		return vhost_apply_pairs(n);
	/* A frame refused before a reset may still be held: retry it now. */
	resume_backends(n);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	/* Nothing is in flight (TX and RX complete synchronously); a frame a
	 * backend holds for us is dropped when it retries (not live). */
	if (n->vnet_hdr)
		net_set_offloads(n->pairs[0].backend, 0);
	for (unsigned i = 0; i < n->npairs; i++) {
		struct vnet_pair *p = &n->pairs[i];
		p->rx_notify = false; /* the rings it was for are gone */
		p->pool_n = p->pool_niov = 0;
		p->pool_bytes = 0;
		p->pool_short = false;
	}
	n->active_pairs = 1; /* §5.1.6.5.5: until the driver sets more */
	for (unsigned i = 0; n->vhost && i < n->npairs; i++)
		vhost_pair_run(&n->pairs[i], false);
	if (!n->vhost)
		attach_active_pairs(n);
	if (n->rx_waiting)
		resume_backends(n);
}

static void net_irq_moved(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	for (unsigned i = 0; n->vhost && i < n->npairs; i++)
		vhost_irq_moved(&n->pairs[i].vhost);
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *n = to_net(vdev);

	if (virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ) && q == n->ctrlq) {
		queue_service_run(vdev, n->ctrlq, &ctrl_service, &n->tx_chain);
	} else if (n->vhost) {
		/* A kick the loop saw before vhost took the queue: the kernel
		 * has it too. */
	} else if (q & 1) {
		tx_process(&n->pairs[q / 2]);
	} else if (n->rx_waiting) {
		/* New receive buffers: let the backends retry their frames. */
		resume_backends(n);
	}
}

/* ---- State (core/state.h) ---- */

/* Quiesce (core/device.h; ops->quiesce): TX and the control queue
 * complete within their kick; the receive buffers lent to the direct path
 * (the pool) are the last pops of their receiveq and go back unused. With
 * vhost-net, the pairs come back from the kernel (vhost_stop takes each
 * ring's position) and their tap queues are detached until unquiesce. */
static int net_quiesce(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	for (unsigned i = 0; i < n->npairs; i++) {
		if (n->pairs[i].vhost_opened)
			vhost_pair_run(&n->pairs[i], false);
		rx_pool_return(&n->pairs[i]);
		struct virtio_queue *rxq = &vdev->queues[n->pairs[i].rxq];
		if (vdev->live && rxq->enabled) /* a burst cut short: its fills published */
			virtq_flush(&rxq->vq);
	}
	return 0;
}

/* Busy: a chain popped and not pushed, other than the receive pool (lent
 * to the direct path, unused until a frame comes: it goes back at
 * quiesce). Without this a pause would wait for frames that may never
 * come. */
static bool net_busy(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	unsigned pooled = 0;
	for (unsigned i = 0; i < n->npairs; i++)
		pooled += n->pairs[i].pool_n;
	unsigned inuse = 0;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		inuse += vdev->queues[q].vq.inuse;
	return inuse > pooled;
}

/* After a save: the pairs in use go back to the kernel from where they
 * stopped, and each of their queues kicks itself (a kick that came while
 * the kernel did not have the ring). */
static void net_unquiesce(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	if (!vdev->live || !n->npairs || !n->pairs[0].vhost_opened)
		return;
	if (vhost_apply_pairs(n) < 0) {
		virtio_dev_set_broken(vdev, "vhost-net did not take the rings back after a save");
		return;
	}
	for (unsigned i = 0; i < n->active_pairs; i++) {
		virtio_queue_rekick(vdev, n->pairs[i].rxq);
		virtio_queue_rekick(vdev, n->pairs[i].txq);
	}
}

/* The guest can change only the pairs in use (MQ_VQ_PAIRS_SET); MAC and
 * link status are saved so the device reads the same after a load. No
 * RX-mode or MAC-table state: CTRL_RX and CTRL_MAC are not offered. */
static void net_save(struct virtio_dev *vdev, struct state_writer *w)
{
	struct virtio_net *n = to_net(vdev);
	net_quiesce(vdev); /* idempotent: the record is right even without it */
	state_begin(w, "virtio-net", 1);
	state_put_bytes(w, "mac", n->mac, sizeof(n->mac));
	state_put_u16(w, "status", VIRTIO_NET_S_LINK_UP);
	state_put_u32(w, "queue_pairs", n->npairs);
	state_put_u32(w, "active_pairs", n->active_pairs);
	state_put_u32(w, "ctrlq", n->ctrlq);
	state_end(w);
}

static int net_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct virtio_net *n = to_net(vdev);
	uint8_t mac[6];
	uint16_t status;
	uint32_t pairs, active, ctrlq;

	state_enter(r, "virtio-net", 1, NULL);
	state_get_bytes(r, "mac", mac, sizeof(mac));
	state_get_u16(r, "status", &status);
	state_get_u32(r, "queue_pairs", &pairs);
	state_get_u32_range(r, "active_pairs", &active, 1, n->npairs);
	state_get_u32(r, "ctrlq", &ctrlq);
	if (state_failed(r))
		return -EINVAL;
	if (status != VIRTIO_NET_S_LINK_UP)
		return state_invalid(r, "status", "0x%x: only link up (0x%x) is supported", status,
				     VIRTIO_NET_S_LINK_UP);
	if (pairs != n->npairs)
		return state_invalid(r, "queue_pairs", "%u saved, this device has %u", pairs,
				     n->npairs);
	if (ctrlq != 0 && ctrlq != 2 && ctrlq != 2 * n->npairs) /* 0: never activated */
		return state_invalid(r, "ctrlq", "%u is not 2 or %u", ctrlq, 2 * n->npairs);
	if (state_leave(r) < 0)
		return -EINVAL;
	memcpy(n->mac, mac, sizeof(n->mac));
	n->ctrlq = ctrlq;
	n->active_pairs = active;
	if (!n->vhost) /* with vhost, activation starts the pairs in use */
		attach_active_pairs(n);
	return 0;
}

static void net_destroy_op(struct virtio_dev *vdev)
{
	virtio_net_destroy(to_net(vdev));
}

/* vhost-net writes received frames and used rings itself: each pair's
 * kernel device logs into the migration's bitmap while it is given one. */
static int net_dirty_log(struct virtio_dev *vdev, uint64_t *log)
{
	struct virtio_net *n = to_net(vdev);
	int ret = 0;
	for (unsigned i = 0; ret == 0 && i < n->npairs; i++)
		if (n->pairs[i].vhost_opened)
			ret = vhost_set_log(&n->pairs[i].vhost, log);
	return ret;
}

/* One RARP from the guest's MAC on the first pair's backend: the tap the
 * guest's traffic leaves by (vhost-net writes to the same tap). */
static void net_announce_op(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	if (n->npairs && n->pairs[0].backend)
		net_announce(n->pairs[0].backend, n->mac);
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.irq_moved = net_irq_moved,
	.queue_notify = net_queue_notify,
	.quiesce = net_quiesce,
	.unquiesce = net_unquiesce,
	.dirty_log = net_dirty_log,
	.busy = net_busy,
	.announce = net_announce_op,
	.save = net_save,
	.load = net_load,
	.destroy = net_destroy_op,
};

/* ---- Lifecycle ---- */

static void close_backends(struct virtio_net *n)
{
	for (unsigned i = 0; i < n->npairs; i++) {
		struct vnet_pair *p = &n->pairs[i];
		if (p->vhost_opened) {
			vhost_pair_run(p, false);
			vhost_close(&p->vhost);
		}
		if (p->backend)
			net_close(p->backend);
	}
}

/* vhost=on: a /dev/vhost-net per pair; the device offers no ring feature
 * the kernel lacks. */
static int open_vhost(struct virtio_net *n)
{
	for (unsigned i = 0; i < n->npairs; i++) {
		struct vnet_pair *p = &n->pairs[i];
		if (vhost_open(&p->vhost, "/dev/vhost-net", &n->vdev, p->rxq, 2) < 0)
			return -1;
		p->vhost_opened = true;
	}
	uint64_t kernel = n->pairs[0].vhost.features;
	if (!(kernel & (1ULL << VIRTIO_F_VERSION_1))) {
		log_error("virtio-net: /dev/vhost-net lacks VIRTIO_F_VERSION_1 (host kernel too old)");
		return -1;
	}
	n->vdev.device_features &= ~(VHOST_NET_RING_FEATURES & ~kernel);
	return 0;
}

/* Opens one backend per pair; a tap with more than one is opened as a
 * multiqueue tap, its later queues by the name the first one got, and
 * detached until the driver uses their pairs. */
static int open_backends(struct virtio_net *n, const struct virtio_net_options *o,
			 struct loop *loop)
{
	struct net_options bo = o->backend;
	bo.multi_queue = n->npairs > 1;
	bo.kernel_datapath = n->vhost;
	for (unsigned i = 0; i < n->npairs; i++) {
		struct vnet_pair *p = &n->pairs[i];
		p->backend = net_open(&bo, loop, net_rx, p);
		if (!p->backend)
			return -1;
		net_set_rx_burst_end(p->backend, net_rx_burst_end);
		net_set_rx_direct(p->backend, net_rx_direct);
		snprintf(bo.ifname, sizeof(bo.ifname), "%s", net_ifname(p->backend));
		if (pair_attach(p, false) < 0)
			return -1;
	}
	n->vnet_hdr = net_has_vnet_hdr(n->pairs[0].backend);
	return 0;
}

struct virtio_net *virtio_net_create(const struct virtio_net_options *o,
				     const struct guest_mem *mem, struct loop *loop)
{
	static const uint8_t default_mac[6] = VIRTIO_NET_DEFAULT_MAC;
	unsigned npairs = o->queue_pairs ? o->queue_pairs : 1;
	if (npairs > VIRTIO_NET_MAX_QUEUE_PAIRS) {
		log_error("virtio-net: %u queue pairs asked, at most %u", npairs,
			  VIRTIO_NET_MAX_QUEUE_PAIRS);
		return NULL;
	}
	if (npairs > 1 && o->backend.kind != NET_TAP) {
		log_error("virtio-net: more than one queue pair needs a tap backend");
		return NULL;
	}
	if (o->vhost && (o->backend.kind != NET_TAP || !o->backend.vnet_hdr)) {
		log_error("virtio-net: vhost needs a tap backend with the vnet header");
		return NULL;
	}
	struct virtio_net *n = calloc(1, sizeof(*n));
	struct vnet_pair *pairs = calloc(npairs, sizeof(*pairs));
	if (!n || !pairs) {
		log_error("virtio-net: out of memory");
		free(n);
		free(pairs);
		return NULL;
	}
	memcpy(n->mac, o->mac_set ? o->mac : default_mac, sizeof(n->mac));
	n->pairs = pairs;
	n->npairs = npairs;
	n->active_pairs = 1;
	n->vhost = o->vhost;
	for (unsigned i = 0; i < npairs; i++)
		pairs[i] = (struct vnet_pair){.n = n, .rxq = 2 * i, .txq = 2 * i + 1};

	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MAC) |
			    (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	unsigned nqueues = 2 * npairs;
	if (npairs > 1) {
		features |= (1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_MQ);
		nqueues++;
	}
	/* Initialise the device (and its lock) before a backend can call us. */
	virtio_dev_init(&n->vdev, "virtio-net", VIRTIO_ID_NET, nqueues, QUEUE_SIZE,
			sizeof(struct virtio_net_config), features, &net_ops, mem, loop);
	if (npairs > 1) /* where a driver with MQ finds the control queue */
		n->vdev.queues[2 * npairs].max_size = n->vdev.queues[2 * npairs].size =
			CTRL_QUEUE_SIZE;
	if (open_backends(n, o, loop) < 0 || (n->vhost && open_vhost(n) < 0)) {
		close_backends(n);
		virtio_dev_destroy(&n->vdev);
		free(pairs);
		free(n);
		return NULL;
	}
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
		  "%llu times too few buffers posted for that; %llu from the tap queue of a pair "
		  "not in use), %llu dropped; %llu sent, %llu dropped",
		  (unsigned long long)n->stats.rx_frames, (unsigned long long)n->stats.rx_zero_copy,
		  (unsigned long long)n->stats.rx_direct_short,
		  (unsigned long long)n->stats.rx_redirected,
		  (unsigned long long)n->stats.rx_dropped, (unsigned long long)n->stats.tx_frames,
		  (unsigned long long)n->stats.tx_dropped);
	close_backends(n);
	virtio_dev_destroy(&n->vdev);
	free(n->pairs);
	free(n);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *st)
{
	pthread_mutex_lock(&n->vdev.lock);
	*st = n->stats;
	pthread_mutex_unlock(&n->vdev.lock);
}
