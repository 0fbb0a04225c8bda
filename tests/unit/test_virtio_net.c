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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "support/loop_wait.h"
#include "support/tap_ns.h"
#include "support/virtio_drv.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

/* ---- a fake driver ---- */

#define RAM_SIZE  0x100000ULL /* 1 MiB */
#define QSIZE     16
#define HDR       12

static bool rx_arrived(void *d) { return drv_ring_has_used(&((struct virtio_drv *)d)->vq[0]); }

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
	struct virtio_drv d;
	struct loop *loop;
	struct virtio_net *n;
	uint8_t frame[2048];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_net_options o = {.mac_set = true};
	assert_non_null(f);
	virtio_drv_init(&f->d, RAM_SIZE);
	f->loop = loop_create();
	assert_non_null(f->loop);
	o.backend.kind = NET_USER;
	memcpy(o.mac, test_mac, 6);
	f->n = virtio_net_create(&o, &f->d.ram.mem, f->loop);
	assert_non_null(f->n);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_net_destroy(f->n);
	loop_destroy(f->loop);
	virtio_drv_destroy(&f->d);
	free(f);
	return 0;
}

#define BASE_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) | \
		       (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define ALL_FEATURES (~0ULL)

static void send_discover(struct fx *f)
{
	size_t len = make_dhcp_discover(f->frame);
	uint64_t h = fake_ram_alloc(&f->d.ram, HDR), b = fake_ram_alloc(&f->d.ram, len);
	memset(fake_ram_ptr(&f->d.ram, h), 0, HDR);
	memcpy(fake_ram_ptr(&f->d.ram, b), f->frame, len);
	struct drv_seg s[2] = {{h, HDR, false}, {b, (uint32_t)len, false}};
	uint16_t head = drv_ring_add(&f->d.vq[1], s, 2);
	fake_transport_kick(f->d.vdev, 1);
	uint32_t id, ulen;
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &ulen));
	assert_int_equal(id, head);
	assert_int_equal(ulen, 0);
}

/* Posts n receive chains of size bytes each; returns the first's address. */
static uint64_t post_rx(struct fx *f, unsigned n, uint32_t size)
{
	uint64_t first = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = fake_ram_alloc(&f->d.ram, size);
		struct drv_seg s = {b, size, true};
		if (!i)
			first = b;
		drv_ring_add(&f->d.vq[0], &s, 1);
	}
	return first;
}

/* Collects one received packet (num_buffers chains) into buf; returns its
 * length including the header. Chains are size bytes, posted from base. */
static size_t collect(struct fx *f, uint64_t base, uint32_t size, uint8_t *buf, size_t cap)
{
	uint32_t id, len;
	size_t total = 0;
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	unsigned nbufs = 1;
	for (unsigned i = 0; i < nbufs; i++) {
		if (i)
			assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
		assert_true(len <= size && total + len <= cap);
		/* chains were posted one descriptor each, in order */
		memcpy(buf + total, fake_ram_ptr(&f->d.ram, base + (uint64_t)id * ((size + 15) & ~15u)), len);
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

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t base = post_rx(f, 4, 2048);
	fake_transport_kick(f->d.vdev, 0);
	send_discover(f);
	assert_true(f->d.tr.signals[1] >= 1);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(rx_arrived(&f->d));
	size_t len = collect(f, base, 2048, pkt, sizeof(pkt));
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
	/* slirp broadcasts the offer (the client has no address yet) */
	assert_true(!memcmp(pkt + HDR, test_mac, 6) || !memcmp(pkt + HDR, "\xff\xff\xff\xff\xff\xff", 6));
	assert_true(f->d.tr.signals[0] >= 1);

	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_true(st.rx_frames >= 1);
	/* receiveq's counters: the offer's bytes, its header included */
	const struct dev_counters *rx = &f->d.vdev->queues[0].counters;
	assert_true(counter_read(&rx->requests) >= 1);
	assert_true(counter_read(&rx->bytes_out) >= len);
}

/* MRG_RXBUF: 128-byte buffers; the ~600-byte offer spans several. */
static void test_dhcp_mergeable(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t base = post_rx(f, QSIZE, 128);
	send_discover(f);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
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

	virtio_drv_start(&f->d, virtio_net_dev(f->n), BASE_FEATURES, 2, QSIZE);
	post_rx(f, 1, 100);
	send_discover(f);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	assert_int_equal(len, 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_true(f->d.vdev->live);

	uint64_t base = post_rx(f, 1, 1600);
	send_discover(f);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	assert_int_equal(id, 1);
	memcpy(pkt, fake_ram_ptr(&f->d.ram, base), len);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)pkt)->num_buffers), 1);
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
}

/* No receive buffers: the offer is refused and held by the backend; posting
 * buffers without a kick does not deliver it (nothing polls); the kick does. */
static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	send_discover(f);
	loop_run_until(f->loop, NULL, NULL, 300);
	assert_int_equal(drv_ring_used_idx(&f->d.vq[0]), 0);

	uint64_t base = post_rx(f, 2, 2048);
	loop_run_until(f->loop, NULL, NULL, 200);
	assert_int_equal(drv_ring_used_idx(&f->d.vq[0]), 0);

	fake_transport_kick(f->d.vdev, 0);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
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

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t h = fake_ram_alloc(&f->d.ram, HDR);
	uint64_t b = fake_ram_alloc(&f->d.ram, VIRTIO_NET_MAX_TX_FRAME + 1);
	/* one byte too many, in two descriptors */
	struct drv_seg s[3] = {{h, HDR, false}, {b, 60000, false},
			   {b + 60000, VIRTIO_NET_MAX_TX_FRAME + 1 - 60000, false}};
	uint16_t head = drv_ring_add(&f->d.vq[1], s, 3);
	/* exactly the maximum: handed to the backend */
	struct drv_seg ok[2] = {{h, HDR, false}, {b, VIRTIO_NET_MAX_TX_FRAME, false}};
	drv_ring_add(&f->d.vq[1], ok, 2);
	/* shorter than the header */
	struct drv_seg tiny = {h, HDR - 1, false};
	drv_ring_add(&f->d.vq[1], &tiny, 1);
	fake_transport_kick(f->d.vdev, 1);

	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_oversize, 1);
	assert_int_equal(st.tx_malformed, 1);
	assert_int_equal(st.tx_frames, 1);
	/* transmitq's counters: three chains completed, two refused, the
	 * frame sent counted in bytes from the guest */
	const struct dev_counters *cnt = &f->d.vdev->queues[1].counters;
	assert_int_equal(counter_read(&cnt->requests), 3);
	assert_int_equal(counter_read(&cnt->rejected), 2);
	assert_int_equal(counter_read(&cnt->bytes_in), VIRTIO_NET_MAX_TX_FRAME);
	assert_true(f->d.vdev->live);
	assert_false(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_tx_writable_is_broken(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t h = fake_ram_alloc(&f->d.ram, 64);
	struct drv_seg s[2] = {{h, HDR, false}, {h + 16, 48, true}};
	drv_ring_add(&f->d.vq[1], s, 2);
	fake_transport_kick(f->d.vdev, 1);
	assert_false(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(f->d.vdev->live);
	assert_int_equal(f->d.tr.config_signals, 1);
}

static void test_rx_readable_is_broken(void **state)
{
	struct fx *f = *state;

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t b = fake_ram_alloc(&f->d.ram, 2048);
	struct drv_seg s = {b, 2048, false};
	drv_ring_add(&f->d.vq[0], &s, 1);
	send_discover(f);
	loop_run_until(f->loop, NULL, NULL, 300);
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(drv_ring_used_idx(&f->d.vq[0]), 0);
}

/* After a reset the device forgets everything; it starts again cleanly. */
static void test_reset(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[4096];

	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	send_discover(f); /* the offer is held: no buffers */
	loop_run_until(f->loop, NULL, NULL, 200);
	virtio_drv_reset(f->d.vdev);
	assert_false(f->d.vdev->live);
	loop_run_until(f->loop, NULL, NULL, 200); /* the held offer is dropped */

	struct virtio_drv *d = &f->d;
	/* A fresh start: the rings are zeroed and their counters start over. */
	virtio_drv_start(d, virtio_net_dev(f->n), ALL_FEATURES, 2, QSIZE);
	uint64_t base = post_rx(f, 2, 2048);
	send_discover(f);
	loop_run_until(f->loop, rx_arrived, d, 5000);
	size_t len = collect(f, base, 2048, pkt, sizeof(pkt));
	assert_true(is_dhcp_offer(pkt + HDR, len - HDR));
	struct virtio_net_stats st;
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.rx_dropped, 1);
}

static void test_bad_backend(void **state)
{
	struct virtio_drv d;
	struct virtio_net_options o = {0};
	struct loop *loop = loop_create();
	virtio_drv_init(&d, RAM_SIZE);
	o.backend.kind = NET_USER;
	o.backend.vnet_hdr = true; /* the user backend has none */
	assert_null(virtio_net_create(&o, &d.ram.mem, loop));
	loop_destroy(loop);
	virtio_drv_destroy(&d);
}

/* ---- zero-copy receive from a tap, in a network namespace of our own ---- */

#define TAP_NAME "iovt-vnet0"
#define TEST_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */
#define ZC_QSIZE 256
#define ZC_BUF 512
#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "tap test: line %d: %s\n", __LINE__, #c), _exit(1)))

static uint8_t zc_sent[2048];

/* Sends a len-byte broadcast test frame, its payload a pattern from seed. */
static void zc_inject(const struct tap_ns *t, size_t len, uint8_t seed)
{
	memset(zc_sent, 0xff, 6);
	memcpy(zc_sent + 6, test_mac, 6);
	zc_sent[12] = TEST_ETHERTYPE >> 8;
	zc_sent[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		zc_sent[i] = (uint8_t)(seed + i);
	CHECK(tap_ns_inject(t, zc_sent, len));
}

static unsigned zc_want;
static bool zc_arrived(void *arg)
{
	return drv_ring_used_idx(&((struct virtio_drv *)arg)->vq[0]) >= zc_want;
}

/* Waits for the next test frame (others are skipped) and checks it: the
 * chains it took (one descriptor of ZC_BUF bytes each, posted in order from
 * base) are first_id, first_id + 1, ..., num_buffers says how many, and the
 * bytes are what was sent. */
static void zc_expect(struct fx *f, uint64_t base, size_t len, unsigned first_id)
{
	uint8_t pkt[2048];
	for (;;) {
		uint32_t id, ulen;
		size_t total = 0;
		zc_want = drv_ring_used_idx(&f->d.vq[0]) + 1;
		loop_run_until(f->loop, zc_arrived, &f->d, 5000);
		CHECK(drv_ring_pop_used(&f->d.vq[0], &id, &ulen));
		unsigned first = id, nbufs = 1;
		for (unsigned i = 0; i < nbufs; i++) {
			if (i) {
				zc_want = drv_ring_used_idx(&f->d.vq[0]);
				CHECK(drv_ring_pop_used(&f->d.vq[0], &id, &ulen) && id == first + i);
			}
			CHECK(ulen <= ZC_BUF && total + ulen <= sizeof(pkt));
			memcpy(pkt + total, fake_ram_ptr(&f->d.ram, base + (uint64_t)id * ZC_BUF), ulen);
			if (i == 0)
				nbufs = le16toh(((struct virtio_net_hdr_v1 *)pkt)->num_buffers);
			total += ulen;
		}
		if (total >= HDR + 14 && pkt[HDR + 12] == TEST_ETHERTYPE >> 8 &&
		    pkt[HDR + 13] == (TEST_ETHERTYPE & 0xff)) {
			CHECK(first == first_id && nbufs == (HDR + len + ZC_BUF - 1) / ZC_BUF);
			CHECK(total == HDR + len && !memcmp(pkt + HDR, zc_sent, len));
			return;
		}
		first_id += nbufs; /* something else came first */
	}
}

/* A tap test's child: virtio-net with pairs queue pairs on the tap
 * ifname (vnet header on), which is up in the child's namespace. */
static struct fx *child_start(struct tap_ns *t, const char *ifname, unsigned pairs)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_net_options o = {.mac_set = true, .queue_pairs = pairs};
	CHECK(f);
	virtio_drv_init(&f->d, RAM_SIZE);
	CHECK((f->loop = loop_create()));
	o.backend.kind = NET_TAP;
	o.backend.vnet_hdr = true;
	snprintf(o.backend.ifname, sizeof(o.backend.ifname), "%s", ifname);
	memcpy(o.mac, test_mac, 6);
	CHECK((f->n = virtio_net_create(&o, &f->d.ram.mem, f->loop)));
	CHECK(tap_ns_up(t, ifname));
	return f;
}

/* The end of a tap test's child: everything checked. */
static void child_passed(struct fx *f)
{
	virtio_net_destroy(f->n);
	loop_destroy(f->loop);
	virtio_drv_destroy(&f->d);
	free(f);
	_exit(0);
}

static void zero_copy_child(void)
{
	struct virtio_net_stats st;
	struct tap_ns t;
	struct fx *f = child_start(&t, TAP_NAME, 1);

	/* 128 KiB of mergeable buffers: frames are read straight into them, in
	 * the order they were posted, each taking the buffers it fills. */
	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, ZC_QSIZE);
	uint64_t base = post_rx(f, ZC_QSIZE, ZC_BUF);
	zc_inject(&t, 1400, 1);
	zc_expect(f, base, 1400, 0); /* 12 + 1400 bytes: 3 buffers */
	zc_inject(&t, 60, 2);
	zc_expect(f, base, 60, 3);
	virtio_net_get_stats(f->n, &st);
	CHECK(st.rx_zero_copy == st.rx_frames && st.rx_frames >= 2 && st.rx_dropped == 0);
	/* The buffers lent to the direct read are popped but not busy: a
	 * pause must not wait for frames that may never come (net_busy). */
	struct virtio_dev *vd = virtio_net_dev(f->n);
	unsigned q = 99, inflight = 0;
	CHECK(!virtio_dev_idle(vd, &q, &inflight) && q == 0 && inflight > 0);
	CHECK(vd->ops->busy && !vd->ops->busy(vd));

	/* Fewer buffers than the largest frame needs: the frame goes through
	 * the backend's buffer and is copied, in the same buffers it would have
	 * taken; once enough are posted, reads go straight in again, starting
	 * at the first buffer not used yet (the lent ones were given back). */
	virtio_drv_reset(virtio_net_dev(f->n));
	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 2, ZC_QSIZE);
	base = post_rx(f, 8, ZC_BUF);
	uint64_t copied = st.rx_frames - st.rx_zero_copy;
	uint64_t short_before = st.rx_direct_short;
	zc_inject(&t, 1400, 3);
	zc_expect(f, base, 1400, 0);
	/* The shortage is noted once: with no buffers posted since, the next
	 * frame is copied without lending (and giving back) the rest again. */
	zc_inject(&t, 60, 5);
	zc_expect(f, base, 60, 3);
	virtio_net_get_stats(f->n, &st);
	CHECK(st.rx_frames - st.rx_zero_copy >= copied + 2);
	CHECK(st.rx_direct_short == short_before + 1);
	uint64_t zero_copy = st.rx_zero_copy;
	post_rx(f, 200, ZC_BUF); /* ids 8.., right after the first 8 in RAM */
	fake_transport_kick(f->d.vdev, 0);
	zc_inject(&t, 60, 4);
	zc_expect(f, base, 60, 4);
	virtio_net_get_stats(f->n, &st);
	CHECK(st.rx_zero_copy > zero_copy && st.rx_dropped == 0);

	child_passed(f);
}

static void test_tap_zero_copy_rx(void **state)
{
	tap_ns_test(zero_copy_child, "zero copy");
}

/* ---- multiqueue: two pairs on a multiqueue tap ---- */

#define MQ_TAP "iovt-vnetmq"
#define MQ_QSIZE 64
#define MQ_BUF 2048
#define MQ_FLOWS 32
#define CTRLQ 4
static unsigned mq_ctrlq = CTRLQ; /* where the driver put the control queue */

/* An IPv4/UDP frame of flow i (source port 1000 + i): the tap's queue
 * steering hashes the addresses and ports, so the flows spread. */
static size_t mq_frame(uint8_t *f, unsigned i)
{
	memset(f, 0, 64);
	memcpy(f, test_mac, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 22;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x63\x00\x01\x0a\x63\x00\x02", 8);
	uint8_t *udp = ip + 20;
	udp[0] = (uint8_t)((1000 + i) >> 8);
	udp[1] = (uint8_t)(1000 + i);
	udp[3] = 9;
	udp[5] = 8 + 22;
	return 14 + 20 + 8 + 22;
}

static struct drv_ring *mq_rx[2];
static unsigned mq_want;
static bool mq_arrived(void *arg)
{
	(void)arg;
	return (unsigned)(uint16_t)(drv_ring_used_idx(mq_rx[0]) - mq_rx[0]->used_seen) +
		       (uint16_t)(drv_ring_used_idx(mq_rx[1]) - mq_rx[1]->used_seen) >= mq_want;
}

/* Injects MQ_FLOWS frames of different flows and counts, per receiveq,
 * the frames that arrive (and that each is one of them, intact); the
 * buffers they took are posted again. */
static void mq_spread(struct fx *f, const struct tap_ns *t, uint64_t base[2], unsigned got[2])
{
	uint8_t frame[64];
	for (unsigned i = 0; i < MQ_FLOWS; i++)
		CHECK(tap_ns_inject(t, frame, mq_frame(frame, i)));
	mq_want = MQ_FLOWS;
	loop_run_until(f->loop, mq_arrived, NULL, 5000);
	CHECK(mq_arrived(NULL));
	for (unsigned q = 0; q < 2; q++) {
		uint32_t id, len;
		got[q] = 0;
		while (drv_ring_pop_used(mq_rx[q], &id, &len)) {
			const uint8_t *p = fake_ram_ptr(&f->d.ram, base[q] + (uint64_t)id * MQ_BUF);
			unsigned flow = (unsigned)(p[HDR + 34] << 8 | p[HDR + 35]) - 1000;
			CHECK(len == HDR + mq_frame(frame, flow) && flow < MQ_FLOWS);
			CHECK(!memcmp(p + HDR, frame, len - HDR));
			got[q]++;
			/* Post it again: descriptors are reused in ring order. */
			struct drv_seg s = {base[q] + (uint64_t)id * MQ_BUF, MQ_BUF, true};
			CHECK(drv_ring_add(mq_rx[q], &s, 1) == id);
		}
	}
}

/* Posts the receive buffers of both pairs' receiveqs (vq 0 and 2). */
static void mq_post(struct fx *f, uint64_t base[2])
{
	for (unsigned q = 0; q < 2; q++)
		for (unsigned i = 0; i < MQ_QSIZE; i++) {
			struct drv_seg s = {fake_ram_alloc(&f->d.ram, MQ_BUF), MQ_BUF, true};
			if (!i)
				base[q] = s.gpa;
			drv_ring_add(mq_rx[q], &s, 1);
		}
}

/* Sends a control command (header + data) and returns its ack byte. */
static uint8_t mq_ctrl(struct fx *f, uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint64_t b = fake_ram_alloc(&f->d.ram, 2 + len), ack = fake_ram_alloc(&f->d.ram, 1);
	uint8_t *p = fake_ram_ptr(&f->d.ram, b);
	p[0] = class;
	p[1] = cmd;
	memcpy(p + 2, data, len);
	*(uint8_t *)fake_ram_ptr(&f->d.ram, ack) = 0xaa;
	struct drv_seg s[2] = {{b, 2 + len, false}, {ack, 1, true}};
	uint16_t head = drv_ring_add(&f->d.vq[mq_ctrlq], s, 2);
	fake_transport_kick(f->d.vdev, mq_ctrlq);
	uint32_t id, ulen;
	CHECK(drv_ring_pop_used(&f->d.vq[mq_ctrlq], &id, &ulen) && id == head && ulen == 1);
	return *(uint8_t *)fake_ram_ptr(&f->d.ram, ack);
}

static uint8_t mq_set_pairs(struct fx *f, uint16_t pairs)
{
	uint16_t le = htole16(pairs);
	return mq_ctrl(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &le, sizeof(le));
}

static void mq_start(struct fx *f, uint64_t base[2])
{
	virtio_drv_start(&f->d, virtio_net_dev(f->n), ALL_FEATURES, 5, MQ_QSIZE);
	mq_rx[0] = &f->d.vq[0];
	mq_rx[1] = &f->d.vq[2];
	mq_post(f, base);
}

static void multiqueue_child(void)
{
	struct virtio_net_config cfg;
	struct tap_ns t;
	uint64_t base[2];
	unsigned got[2];
	struct fx *f = child_start(&t, MQ_TAP, 2);
	struct virtio_dev *vdev = virtio_net_dev(f->n);

	/* Two pairs and a control queue; max_virtqueue_pairs says 2. */
	CHECK(vdev->nqueues == 5);
	CHECK(vdev->device_features & (1ULL << VIRTIO_NET_F_MQ));
	CHECK(vdev->device_features & (1ULL << VIRTIO_NET_F_CTRL_VQ));
	vdev->ops->config_read(vdev, 0, (uint8_t *)&cfg, sizeof(cfg));
	CHECK(le16toh(cfg.max_virtqueue_pairs) == 2);

	/* Until the driver says otherwise it uses one pair: every frame goes
	 * to the first receiveq, and comes on the first tap queue (the
	 * second is detached: none read there and redirected). */
	struct virtio_net_stats st;
	mq_start(f, base);
	mq_spread(f, &t, base, got);
	CHECK(got[0] == MQ_FLOWS && got[1] == 0);
	virtio_net_get_stats(f->n, &st);
	CHECK(st.rx_redirected == 0);

	/* Bad commands are refused (ERR) and change nothing. */
	CHECK(mq_set_pairs(f, 3) == VIRTIO_NET_ERR);
	CHECK(mq_set_pairs(f, 0) == VIRTIO_NET_ERR);
	CHECK(mq_ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\1", 1) == VIRTIO_NET_ERR);
	CHECK(mq_ctrl(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2", 1) ==
	      VIRTIO_NET_ERR);
	mq_spread(f, &t, base, got);
	CHECK(got[0] == MQ_FLOWS && got[1] == 0);

	/* Two pairs: the flows spread over both receiveqs (32 flows all on
	 * one queue: 1 in 2^31). */
	CHECK(mq_set_pairs(f, 2) == VIRTIO_NET_OK);
	mq_spread(f, &t, base, got);
	CHECK(got[0] > 0 && got[1] > 0 && got[0] + got[1] == MQ_FLOWS);

	/* The second pair's transmitq reaches the tap. */
	uint8_t frame[64];
	size_t len = mq_frame(frame, 77);
	uint64_t h = fake_ram_alloc(&f->d.ram, HDR + len);
	memset(fake_ram_ptr(&f->d.ram, h), 0, HDR);
	memcpy((uint8_t *)fake_ram_ptr(&f->d.ram, h) + HDR, frame, len);
	struct drv_seg s = {h, (uint32_t)(HDR + len), false};
	drv_ring_add(&f->d.vq[3], &s, 1);
	fake_transport_kick(vdev, 3);
	uint8_t in[128];
	bool seen = false;
	for (int tries = 0; tries < 64 && !seen; tries++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(t.ps, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		CHECK(r >= 0);
		seen = from.sll_pkttype != PACKET_OUTGOING && (size_t)r == len && !memcmp(in, frame, len);
	}
	CHECK(seen);

	/* A driver that takes CTRL_VQ but not MQ finds the control queue
	 * right after the first pair (§5.1.2); the pairs command is refused. */
	virtio_drv_reset(vdev);
	virtio_drv_start(&f->d, vdev, ALL_FEATURES & ~(1ULL << VIRTIO_NET_F_MQ), 3, MQ_QSIZE);
	mq_ctrlq = 2;
	CHECK(mq_set_pairs(f, 2) == VIRTIO_NET_ERR);
	mq_ctrlq = CTRLQ;

	/* A reset goes back to one pair, the second tap queue detached again;
	 * a driver setting two pairs once more gets it back. */
	virtio_drv_reset(vdev);
	mq_start(f, base);
	mq_spread(f, &t, base, got);
	CHECK(got[0] == MQ_FLOWS && got[1] == 0);
	CHECK(mq_set_pairs(f, 2) == VIRTIO_NET_OK);
	mq_spread(f, &t, base, got);
	CHECK(got[0] > 0 && got[1] > 0 && got[0] + got[1] == MQ_FLOWS);
	CHECK(mq_set_pairs(f, 1) == VIRTIO_NET_OK);
	mq_spread(f, &t, base, got);
	CHECK(got[0] == MQ_FLOWS && got[1] == 0);
	virtio_net_get_stats(f->n, &st);
	CHECK(st.rx_redirected == 0);

	/* A command without its ack byte breaks the protocol: NEEDS_RESET. */
	uint64_t b = fake_ram_alloc(&f->d.ram, 4);
	struct drv_seg bad = {b, 4, false};
	drv_ring_add(&f->d.vq[CTRLQ], &bad, 1);
	fake_transport_kick(vdev, CTRLQ);
	CHECK(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);

	child_passed(f);
}

static void test_tap_multiqueue(void **state)
{
	tap_ns_test(multiqueue_child, "multiqueue");
}

/* More than one pair needs a tap: the user-mode backend has one queue. */
static void test_multiqueue_needs_tap(void **state)
{
	struct virtio_drv d;
	struct loop *loop = loop_create();
	struct virtio_net_options o = {.queue_pairs = 2};
	virtio_drv_init(&d, RAM_SIZE);
	o.backend.kind = NET_USER;
	assert_null(virtio_net_create(&o, &d.ram.mem, loop));
	o.backend.kind = NET_TAP;
	o.queue_pairs = VIRTIO_NET_MAX_QUEUE_PAIRS + 1;
	snprintf(o.backend.ifname, sizeof(o.backend.ifname), "iovt-never");
	assert_null(virtio_net_create(&o, &d.ram.mem, loop));
	virtio_drv_destroy(&d);
	loop_destroy(loop);
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
		cmocka_unit_test(test_tap_zero_copy_rx),
		cmocka_unit_test(test_tap_multiqueue),
		cmocka_unit_test(test_multiqueue_needs_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
