/* virtio-net against a fake driver (real split rings in fake guest RAM, a
 * fake transport that records interrupts) on the user-mode backend: a
 * DHCPDISCOVER through the transmitq comes back as a DHCPOFFER in receive
 * buffers (one chain, or several with MRG_RXBUF); a frame refused for lack
 * of buffers is held until buffers are posted and receiveq kicked; oversize
 * and malformed chains; protocol violations set NEEDS_RESET. Packets only go
 * to slirp's virtual network (10.0.2.0/24). */
#include <arpa/inet.h>
#include <endian.h>
#include <linux/virtio_net.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/net.h"
#include "virtio/virtio.h"
#include "vmm/loop.h"

/* ---- a fake driver ---- */

#define RAM_SIZE  0x100000ULL /* 1 MiB */
#define QSIZE     16
#define BUF_START 0x10000ULL
#define HDR       12

struct drv {
	struct guest_mem mem;
	uint8_t *ram;
	struct virtio_dev *vdev;
	uint16_t avail_idx[2], next_desc[2], used_seen[2];
	uint64_t buf_next;
	int signals[2], config_signals;
};

static uint64_t desc_gpa(unsigned q) { return 0x4000ULL * q; }
static uint64_t avail_gpa(unsigned q) { return 0x4000ULL * q + 0x1000; }
static uint64_t used_gpa(unsigned q) { return 0x4000ULL * q + 0x2000; }

static void *gpa(struct drv *d, uint64_t a) { return d->ram + a; }

static void fake_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	struct drv *d = vdev->transport_opaque;
	d->signals[q]++;
}

static void fake_signal_config(struct virtio_dev *vdev)
{
	struct drv *d = vdev->transport_opaque;
	d->config_signals++;
}

static const struct virtio_transport_ops fake_transport = {
	.signal_queue = fake_signal_queue,
	.signal_config = fake_signal_config,
};

static void drv_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
	d->ram = calloc(1, RAM_SIZE);
	assert_non_null(d->ram);
	guest_mem_init_empty(&d->mem);
	assert_int_equal(guest_mem_add_region(&d->mem, 0, d->ram, RAM_SIZE), 0);
	d->buf_next = BUF_START;
}

/* §3.1.1 driver initialisation, with the features in want that are offered. */
static void drv_start(struct drv *d, struct virtio_dev *vdev, uint64_t want)
{
	d->vdev = vdev;
	vdev->transport = &fake_transport;
	vdev->transport_opaque = d;
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdev->acked_features = vdev->device_features & want;
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < 2; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		vq->size = QSIZE;
		vq->desc = desc_gpa(q);
		vq->avail = avail_gpa(q);
		vq->used = used_gpa(q);
		vq->enabled = true;
	}
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&vdev->lock);
	assert_true(vdev->live);
}

static uint64_t drv_alloc(struct drv *d, size_t len)
{
	uint64_t a = d->buf_next;
	d->buf_next += (len + 15) & ~15ULL;
	assert_true(d->buf_next <= RAM_SIZE);
	return a;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Makes one chain of n segments available on q; returns its head. */
static uint16_t drv_add(struct drv *d, unsigned q, const struct seg *s, unsigned n)
{
	struct virtq_desc *desc = gpa(d, desc_gpa(q));
	uint16_t head = d->next_desc[q];
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		desc[idx].addr = htole64(s[i].gpa);
		desc[idx].len = htole32(s[i].len);
		desc[idx].flags = htole16((uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)));
		desc[idx].next = htole16((uint16_t)((idx + 1) % QSIZE));
	}
	d->next_desc[q] = (uint16_t)((head + n) % QSIZE);
	struct virtq_avail *av = gpa(d, avail_gpa(q));
	av->ring[d->avail_idx[q] % QSIZE] = htole16(head);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	av->idx = htole16(++d->avail_idx[q]);
	return head;
}

/* What the transport does on a kick. */
static void drv_kick(struct drv *d, unsigned q)
{
	struct virtio_dev *vdev = d->vdev;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->live && vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static uint16_t used_idx(struct drv *d, unsigned q)
{
	const struct virtq_used *u = gpa(d, used_gpa(q));
	return le16toh(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE));
}

/* The next used element of q, or false if none. */
static bool drv_used(struct drv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	const struct virtq_used *u = gpa(d, used_gpa(q));
	if (used_idx(d, q) == d->used_seen[q])
		return false;
	const struct virtq_used_elem *e = &u->ring[d->used_seen[q]++ % QSIZE];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	return true;
}

/* ---- running the loop ---- */

struct waiter {
	struct loop *loop;
	int tfd, ticks, max_ticks;
	bool (*done)(struct drv *);
	struct drv *d;
};

static void waiter_tick(void *opaque, uint32_t events)
{
	struct waiter *w = opaque;
	uint64_t v;
	assert_true(read(w->tfd, &v, sizeof(v)) == sizeof(v));
	if (++w->ticks >= w->max_ticks || (w->done && w->done(w->d)))
		loop_stop(w->loop);
}

/* Runs the loop until done(d) (checked every 10 ms) or ms pass. */
static void run_loop(struct loop *loop, struct drv *d, bool (*done)(struct drv *), int ms)
{
	struct waiter w = {.loop = loop, .max_ticks = ms / 10, .done = done, .d = d};
	struct itimerspec its = {{0, 10000000}, {0, 10000000}};
	w.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	assert_true(w.tfd >= 0);
	assert_int_equal(timerfd_settime(w.tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_add_fd(loop, w.tfd, EPOLLIN, waiter_tick, &w), 0);
	assert_int_equal(loop_run(loop), 0);
	loop_del_fd(loop, w.tfd);
	close(w.tfd);
}

static bool rx_arrived(struct drv *d) { return used_idx(d, 0) != d->used_seen[0]; }

/* ---- frames ---- */

static const uint8_t test_mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
#define BOOTP_LEN (236 + 312)

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t make_dhcp_discover(uint8_t *f)
{
	uint16_t ulen = 8 + BOOTP_LEN, tlen = 20 + ulen;
	memset(f, 0, 14 + tlen);
	memset(f, 0xff, 6);
	memcpy(f + 6, test_mac, 6);
	f[12] = 0x08; /* IPv4 */
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tlen >> 8);
	ip[3] = (uint8_t)tlen;
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	memset(ip + 16, 0xff, 4);
	uint16_t c = ip_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	uint8_t *bp = udp + 8;
	bp[0] = 1; /* BOOTREQUEST */
	bp[1] = 1;
	bp[2] = 6;
	memcpy(bp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bp + 28, test_mac, 6);
	memcpy(bp + 236, "\x63\x82\x53\x63", 4);
	memcpy(bp + 240, "\x35\x01\x01\xff", 4);
	return 14 + tlen;
}

static bool is_dhcp_offer(const uint8_t *f, size_t len)
{
	if (len < 14 + 20 + 8 + 244 || f[12] != 0x08 || f[13] != 0 || f[14 + 9] != 17)
		return false;
	const uint8_t *udp = f + 14 + (f[14] & 15) * 4;
	if (udp[3] != 68)
		return false;
	const uint8_t *bp = udp + 8;
	if (bp[0] != 2 || memcmp(bp + 236, "\x63\x82\x53\x63", 4))
		return false;
	for (size_t o = 240; bp + o + 2 < f + len && bp[o] != 0xff; o += bp[o] ? 2u + bp[o + 1] : 1u)
		if (bp[o] == 53)
			return bp[o + 2] == 2;
	return false;
}

/* ---- fixture ---- */

struct fx {
	struct drv d;
	struct loop *loop;
	struct virtio_net *n;
	uint8_t frame[2048];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_net_options o = {.mac_set = true};
	assert_non_null(f);
	drv_init(&f->d);
	f->loop = loop_create();
	assert_non_null(f->loop);
	o.backend.kind = NET_USER;
	memcpy(o.mac, test_mac, 6);
	f->n = virtio_net_create(&o, &f->d.mem, f->loop);
	assert_non_null(f->n);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_net_destroy(f->n);
	loop_destroy(f->loop);
	free(f->d.ram);
	free(f);
	return 0;
}

#define BASE_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) | \
		       (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define ALL_FEATURES (~0ULL)

static void send_discover(struct fx *f)
{
	size_t len = make_dhcp_discover(f->frame);
	uint64_t h = drv_alloc(&f->d, HDR), b = drv_alloc(&f->d, len);
	memset(gpa(&f->d, h), 0, HDR);
	memcpy(gpa(&f->d, b), f->frame, len);
	struct seg s[2] = {{h, HDR, false}, {b, (uint32_t)len, false}};
	uint16_t head = drv_add(&f->d, 1, s, 2);
	drv_kick(&f->d, 1);
	uint32_t id, ulen;
	assert_true(drv_used(&f->d, 1, &id, &ulen));
	assert_int_equal(id, head);
	assert_int_equal(ulen, 0);
}

/* Posts n receive chains of size bytes each; returns the first's address. */
static uint64_t post_rx(struct fx *f, unsigned n, uint32_t size)
{
	uint64_t first = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = drv_alloc(&f->d, size);
		struct seg s = {b, size, true};
		if (!i)
			first = b;
		drv_add(&f->d, 0, &s, 1);
	}
	return first;
}

/* Collects one received packet (num_buffers chains) into buf; returns its
 * length including the header. Chains are size bytes, posted from base. */
static size_t collect(struct fx *f, uint64_t base, uint32_t size, uint8_t *buf, size_t cap)
{
	uint32_t id, len;
	size_t total = 0;
	assert_true(drv_used(&f->d, 0, &id, &len));
	unsigned nbufs = 1;
	for (unsigned i = 0; i < nbufs; i++) {
		if (i)
			assert_true(drv_used(&f->d, 0, &id, &len));
		assert_true(len <= size && total + len <= cap);
		/* chains were posted one descriptor each, in order */
		memcpy(buf + total, gpa(&f->d, base + (uint64_t)id * ((size + 15) & ~15u)), len);
		if (i == 0) {
			const struct virtio_net_hdr_v1 *h = (const void *)buf;
			nbufs = le16toh(h->num_buffers);
			assert_true(nbufs >= 1 && nbufs <= QSIZE);
			assert_int_equal(h->flags, 0);
			assert_int_equal(h->gso_type, VIRTIO_NET_HDR_GSO_NONE);
		}
		total += len;
	}
	return total;
}

/* ---- tests ---- */

static void test_features_config(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = virtio_net_dev(f->n);
	uint64_t feat = vdev->device_features;
	struct virtio_net_config cfg;

	assert_true(vdev->device_id == VIRTIO_ID_NET && vdev->nqueues == 2);
	assert_int_equal(vdev->config_size, sizeof(struct virtio_net_config));
	assert_true(feat & (1ULL << VIRTIO_F_VERSION_1));
	assert_true(feat & (1ULL << VIRTIO_NET_F_MAC));
	assert_true(feat & (1ULL << VIRTIO_NET_F_STATUS));
	assert_true(feat & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	assert_true(feat & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	assert_true(feat & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	/* No vnet header on the user backend: no offloads. */
	assert_false(feat & (1ULL << VIRTIO_NET_F_CSUM));
	assert_false(feat & (1ULL << VIRTIO_NET_F_GUEST_CSUM));

	vdev->ops->config_read(vdev, 0, (uint8_t *)&cfg, sizeof(cfg));
	assert_memory_equal(cfg.mac, test_mac, 6);
	assert_int_equal(le16toh(cfg.status), VIRTIO_NET_S_LINK_UP);
}

static void test_dhcp(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t base = post_rx(f, 4, 2048);
	drv_kick(&f->d, 0);
	send_discover(f);
	assert_true(f->d.signals[1] >= 1);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(rx_arrived(&f->d));
	size_t len = collect(f, base, 2048, pkt, sizeof(pkt));
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
	/* slirp broadcasts the offer (the client has no address yet) */
	assert_true(!memcmp(pkt + HDR, test_mac, 6) || !memcmp(pkt + HDR, "\xff\xff\xff\xff\xff\xff", 6));
	assert_true(f->d.signals[0] >= 1);

	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_true(st.rx_frames >= 1);
}

/* MRG_RXBUF: 128-byte buffers; the ~600-byte offer spans several. */
static void test_dhcp_mergeable(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t base = post_rx(f, QSIZE, 128);
	send_discover(f);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	size_t len = collect(f, base, 128, pkt, sizeof(pkt));
	const struct virtio_net_hdr_v1 *h = (const void *)pkt;
	assert_true(le16toh(h->num_buffers) >= 5);
	assert_int_equal(len, HDR + 14 + 20 + 8 + BOOTP_LEN);
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
}

/* Without MRG_RXBUF a chain too small for the packet is returned empty
 * and the frame dropped; a big enough one gets the packet, num_buffers 1. */
static void test_small_buffer_no_mrg(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];
	uint32_t id, len;

	drv_start(&f->d, virtio_net_dev(f->n), BASE_FEATURES);
	post_rx(f, 1, 100);
	send_discover(f);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(drv_used(&f->d, 0, &id, &len));
	assert_int_equal(len, 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_true(f->d.vdev->live);

	uint64_t base = post_rx(f, 1, 1600);
	send_discover(f);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(drv_used(&f->d, 0, &id, &len));
	assert_int_equal(id, 1);
	memcpy(pkt, gpa(&f->d, base), len);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)pkt)->num_buffers), 1);
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
}

/* No receive buffers: the offer is refused and held by the backend; posting
 * buffers without a kick does not deliver it (nothing polls); the kick does. */
static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	send_discover(f);
	run_loop(f->loop, &f->d, NULL, 300);
	assert_int_equal(used_idx(&f->d, 0), 0);

	uint64_t base = post_rx(f, 2, 2048);
	run_loop(f->loop, &f->d, NULL, 200);
	assert_int_equal(used_idx(&f->d, 0), 0);

	drv_kick(&f->d, 0);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	size_t len = collect(f, base, 2048, pkt, sizeof(pkt));
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.rx_dropped, 0);
}

static void test_tx_oversize(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;
	struct virtio_net_stats st;

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t h = drv_alloc(&f->d, HDR);
	uint64_t b = drv_alloc(&f->d, VIRTIO_NET_MAX_TX_FRAME + 1);
	/* one byte too many, in two descriptors */
	struct seg s[3] = {{h, HDR, false}, {b, 60000, false},
			   {b + 60000, VIRTIO_NET_MAX_TX_FRAME + 1 - 60000, false}};
	uint16_t head = drv_add(&f->d, 1, s, 3);
	/* exactly the maximum: handed to the backend */
	struct seg ok[2] = {{h, HDR, false}, {b, VIRTIO_NET_MAX_TX_FRAME, false}};
	drv_add(&f->d, 1, ok, 2);
	/* shorter than the header */
	struct seg tiny = {h, HDR - 1, false};
	drv_add(&f->d, 1, &tiny, 1);
	drv_kick(&f->d, 1);

	assert_true(drv_used(&f->d, 1, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_true(drv_used(&f->d, 1, &id, &len));
	assert_true(drv_used(&f->d, 1, &id, &len));
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_oversize, 1);
	assert_int_equal(st.tx_malformed, 1);
	assert_int_equal(st.tx_frames, 1);
	assert_true(f->d.vdev->live);
	assert_false(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_tx_writable_is_broken(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t h = drv_alloc(&f->d, 64);
	struct seg s[2] = {{h, HDR, false}, {h + 16, 48, true}};
	drv_add(&f->d, 1, s, 2);
	drv_kick(&f->d, 1);
	assert_false(drv_used(&f->d, 1, &id, &len));
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(f->d.vdev->live);
	assert_int_equal(f->d.config_signals, 1);
}

static void test_rx_readable_is_broken(void **state)
{
	struct fx *f = *state;

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t b = drv_alloc(&f->d, 2048);
	struct seg s = {b, 2048, false};
	drv_add(&f->d, 0, &s, 1);
	send_discover(f);
	run_loop(f->loop, &f->d, NULL, 300);
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(used_idx(&f->d, 0), 0);
}

/* After a reset the device forgets everything; it starts again cleanly. */
static void test_reset(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES);
	send_discover(f); /* the offer is held: no buffers */
	run_loop(f->loop, &f->d, NULL, 200);
	pthread_mutex_lock(&f->d.vdev->lock);
	virtio_dev_write_status(f->d.vdev, 0);
	pthread_mutex_unlock(&f->d.vdev->lock);
	assert_false(f->d.vdev->live);
	run_loop(f->loop, &f->d, NULL, 200); /* the held offer is dropped */

	struct drv *d = &f->d;
	memset(d->ram, 0, 0x10000);
	memset(d->avail_idx, 0, sizeof(d->avail_idx));
	memset(d->next_desc, 0, sizeof(d->next_desc));
	memset(d->used_seen, 0, sizeof(d->used_seen));
	drv_start(d, virtio_net_dev(f->n), ALL_FEATURES);
	uint64_t base = post_rx(f, 2, 2048);
	send_discover(f);
	run_loop(f->loop, d, rx_arrived, 5000);
	size_t len = collect(f, base, 2048, pkt, sizeof(pkt));
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.rx_dropped, 1);
}

static void test_bad_backend(void **state)
{
	struct drv d;
	struct virtio_net_options o = {0};
	struct loop *loop = loop_create();
	drv_init(&d);
	o.backend.kind = NET_USER;
	o.backend.vnet_hdr = true; /* the user backend has none */
	assert_null(virtio_net_create(&o, &d.mem, loop));
	loop_destroy(loop);
	free(d.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_buffer_no_mrg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_is_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_readable_is_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test(test_bad_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
