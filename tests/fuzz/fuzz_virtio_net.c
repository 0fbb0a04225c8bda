// fuzz-sources: src/virtio/net.c src/virtio/queue_service.c src/core/state.c src/virtio/vhost/vhost.c src/virtio/vhost/vhost_user.c src/virtio/virtio.c src/virtio/virtqueue.c src/core/iov.c src/core/inet_csum.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/log.c src/core/loop.c tests/fuzz/harness.c tests/fuzz/virtio_drv.c
/* virtio-net against a hostile driver: the fuzzer's bytes are guest RAM
 * (the split rings, their descriptors and buffers) and choose the features
 * and whether the device has two queue pairs and a control queue; the
 * device then processes the transmitqs and control commands, receives
 * frames (also from the fuzzer's bytes) into the receiveqs, is kicked,
 * reset and fed again.
 *
 * The backend is a fake linked in place of src/backends/net.c (the API of
 * backends/net.h, implemented here): the user-mode backend would hand
 * fuzzed frames to libslirp, which connects to any address the frames name
 * (net.h offers no "restricted" mode), and a fuzzer must not reach the
 * network. The fake checks what the device sends: every byte readable
 * (ASan), the size bounded, the iovec count sane.
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of its
 * exact size), no crash or UB, bounded frames, and the device is either live
 * or NEEDS_RESET. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net.h"
#include "harness.h"
#include "virtio/net.h"
#include "virtio/virtio.h"
#include "virtio_drv.h"

/* ---- the fake backend ---- */

struct net_backend {
	net_rx_fn rx;
	net_rx_burst_end_fn burst_end;
	net_rx_direct_fn rx_direct;
	void *opaque;
	bool vnet_hdr;
	bool waiting; /* rx refused a frame: retry on resume */
};

static struct net_backend fakes[VIRTIO_NET_MAX_QUEUE_PAIRS]; /* one per queue pair */
static unsigned nfakes;

struct net_backend *net_open(const struct net_options *opts, struct loop *loop, net_rx_fn rx,
			     void *opaque)
{
	if (nfakes == VIRTIO_NET_MAX_QUEUE_PAIRS)
		abort();
	fakes[nfakes] = (struct net_backend){.rx = rx, .opaque = opaque, .vnet_hdr = opts->vnet_hdr};
	return &fakes[nfakes++];
}

const char *net_ifname(const struct net_backend *nb)
{
	return "fake";
}

void net_close(struct net_backend *nb)
{
}

void net_set_rx_burst_end(struct net_backend *nb, net_rx_burst_end_fn fn)
{
	nb->burst_end = fn;
}

void net_set_rx_direct(struct net_backend *nb, net_rx_direct_fn fn)
{
	nb->rx_direct = fn;
}

bool net_has_vnet_hdr(const struct net_backend *nb)
{
	return nb->vnet_hdr;
}

int net_set_offloads(struct net_backend *nb, unsigned tun_flags)
{
	return nb->vnet_hdr || !tun_flags ? 0 : -EOPNOTSUPP;
}

/* The kernel data path (vhost) is not fuzzed here: the kernel parses
 * those rings itself. */
int net_kernel_fd(const struct net_backend *nb)
{
	return -1;
}

int net_set_queue_attached(struct net_backend *nb, bool attached)
{
	return -EOPNOTSUPP;
}

int net_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	if (fuzz_touch_iov(iov, iovcnt, IOV_MAX) > NET_MAX_FRAME + (nb->vnet_hdr ? NET_VNET_HDR_LEN : 0))
		abort();
	return 0;
}

/* Only a migration's destination announces; the fuzzer never migrates. */
void net_announce(struct net_backend *nb, const uint8_t mac[6])
{
	abort();
}

void net_rx_resume(struct net_backend *nb)
{
	nb->waiting = false;
}

void net_get_stats(const struct net_backend *nb, struct net_stats *st)
{
	memset(st, 0, sizeof(*st));
}

/* ---- the driver side ---- */

#define RAM_SIZE 0x20000 /* 128 KiB: room for an oversize frame */
/* Rings packed at the start of RAM so that short inputs reach them: 512
 * bytes per queue (descriptors, avail at +0x100, used at +0x140), in the
 * order transmitq 0, receiveq 0, then receiveq 1, transmitq 1, control. */
static const uint64_t ring_slot[5] = {0x200, 0x000, 0x400, 0x600, 0x800};

static void sig_queue(struct virtio_dev *vdev, unsigned q)
{
}

static void sig_config(struct virtio_dev *vdev)
{
}

static const struct virtio_transport_ops transport = {
	.signal_queue = sig_queue,
	.signal_config = sig_config,
};

static void notify(struct virtio_dev *vdev, unsigned q)
{
	pthread_mutex_lock(&vdev->lock);
	if (vdev->live && vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

/* A tap's readv of the frame into the buffers the device lends: they must
 * hold the largest frame (net.h), lie in guest RAM (ASan) and be at most
 * IOV_MAX. */
struct pending {
	const uint8_t *data;
	size_t len;
};

static ssize_t read_frame(void *ctx, const struct iovec *iov, int iovcnt)
{
	const struct pending *p = ctx;
	size_t total = 0, done = 0;
	if (iovcnt <= 0 || iovcnt > IOV_MAX)
		abort();
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total < NET_VNET_HDR_LEN + NET_MAX_FRAME)
		abort();
	for (int i = 0; i < iovcnt && done < p->len; i++) {
		size_t put = iov[i].iov_len < p->len - done ? iov[i].iov_len : p->len - done;
		memcpy(iov[i].iov_base, p->data + done, put);
		done += put;
	}
	return p->len ? (ssize_t)done : -EAGAIN;
}

static bool use_direct; /* offer frames through rx_direct first */

/* Hands a frame to the device as backend (queue pair) b would. */
static void deliver(unsigned pair, const uint8_t *data, size_t len)
{
	struct net_backend *fake = &fakes[pair % nfakes];
	struct pending p = {data, len};
	if (use_direct && !fake->waiting && fake->rx_direct) {
		ssize_t r = fake->rx_direct(fake->opaque, read_frame, &p);
		if (r > (ssize_t)len || (r < 0 && r != -EAGAIN))
			abort();
		if (r != 0) {
			if (fake->burst_end)
				fake->burst_end(fake->opaque);
			return;
		}
	}
	struct iovec iov[3];
	size_t a = len / 3, b = len / 2;
	iov[0] = (struct iovec){(void *)data, a};
	iov[1] = (struct iovec){(void *)(data + a), b - a};
	iov[2] = (struct iovec){(void *)(data + b), len - b};
	if (!fake->waiting && !fake->rx(fake->opaque, iov, 3, len))
		fake->waiting = true;
	if (fake->burst_end)
		fake->burst_end(fake->opaque);
}

static void start(struct virtio_dev *vdev, uint64_t want, uint16_t qsize)
{
	struct fuzz_ring rings[VIRTIO_MAX_QUEUES];
	for (unsigned q = 0; q < vdev->nqueues && q < VIRTIO_MAX_QUEUES; q++)
		rings[q] = (struct fuzz_ring){qsize, ring_slot[q], ring_slot[q] + 0x100,
					      ring_slot[q] + 0x140};
	fuzz_virtio_start(vdev, want | (1ULL << VIRTIO_F_VERSION_1), rings, vdev->nqueues);
}

static void check(struct virtio_dev *vdev)
{
	if (vdev->live && (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem mem;
	struct virtio_net_options o;

	if (size < 4)
		return 0;
	uint8_t flags = data[0];
	uint16_t qsize = (uint16_t)(1u << (data[1] % 5)); /* 1..16: fits the packed rings */
	uint16_t frame_len = (uint16_t)(data[2] | data[3] << 8);
	data += 4;
	size -= 4;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);

	memset(&o, 0, sizeof(o));
	o.backend.kind = NET_TAP; /* the fake's; a tap may have queue pairs */
	o.backend.vnet_hdr = flags & 1;
	o.queue_pairs = flags & 64 ? 2 : 1;
	use_direct = flags & 32;
	nfakes = 0;
	struct virtio_net *n = virtio_net_create(&o, &mem, NULL);
	if (!n)
		abort();
	struct virtio_dev *vdev = virtio_net_dev(n);
	vdev->transport = &transport;

	uint64_t want = (flags & 2 ? 1ULL << VIRTIO_NET_F_MRG_RXBUF : 0) |
			(flags & 4 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |
			(flags & 8 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0) |
			(flags & 16 ? 0xffffffULL : 0); /* every device feature */
	start(vdev, want, qsize);

	/* Config space reads at every offset. */
	for (unsigned off = 0; off < vdev->config_size; off++) {
		uint8_t b[4];
		pthread_mutex_lock(&vdev->lock);
		vdev->ops->config_read(vdev, off, b, off + 4 <= vdev->config_size ? 4 : 1);
		pthread_mutex_unlock(&vdev->lock);
	}

	/* The frame the backend receives: the input's tail, any length. */
	size_t flen = frame_len % (NET_MAX_FRAME + 1);
	uint8_t *frame = malloc(flen + 1);
	if (!frame)
		abort();
	for (size_t i = 0; i < flen; i++)
		frame[i] = size ? data[(size - 1 - i % size)] : (uint8_t)i;

	/* With two pairs: the control queue first (it may turn the second
	 * pair on), every frame also through the second backend. */
	unsigned pairs = o.queue_pairs;
	if (pairs > 1)
		notify(vdev, 4);
	check(vdev);
	for (unsigned b = 0; b < pairs; b++)
		notify(vdev, 2 * b + 1);
	check(vdev);
	for (unsigned b = 0; b < pairs; b++)
		deliver(b, frame, flen);
	check(vdev);
	for (unsigned b = 0; b < pairs; b++)
		notify(vdev, 2 * b);
	for (unsigned b = 0; b < pairs; b++) {
		deliver(b, frame, flen);
		deliver(b, frame, flen / 7);
	}
	check(vdev);
	if (pairs > 1)
		notify(vdev, 4);
	for (unsigned b = 0; b < pairs; b++)
		notify(vdev, 2 * b + 1);
	check(vdev);

	/* Reset, then feed again: everything is dropped. */
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned b = 0; b < pairs; b++)
		deliver(b, frame, flen);
	if (vdev->live)
		abort();

	virtio_net_destroy(n);
	free(frame);
	free(ram);
	return 0;
}
