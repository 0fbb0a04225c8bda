/* Network backends: --net parsing; user mode (slirp) end to end without a
 * guest (ARP, DHCP, hostfwd both ways, held frames, the queue bound); tap in a
 * network namespace of its own (skipped unless root). Packets go only to
 * slirp's virtual network, to loopback, or to our own tap in our namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/net.h"
#include "core/loop.h"
#include "machine/config_devices.h"
#include "support/tap_ns.h"

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- parsing ---- */

static void test_parse_ok(void **state)
{
	static const struct { const char *spec, *ifname, *left; int kind; unsigned n_fwd; } ok[] = {
		{"user", "", "", NET_USER, 0},
		{"user,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-:53", "", "", NET_USER, 2},
		{"tap=tap0", "tap0", "", NET_TAP, 0},
		/* Device options come back untouched, in order. */
		{"model=e1000,tap=iovt-test0123,mac=52:54:00:12:34:56", "iovt-test0123",
		 "model=e1000,mac=52:54:00:12:34:56", NET_TAP, 0},
		{"mac=1,user,hostfwd=:10.0.0.1:80-10.0.2.20:8080", "", "mac=1", NET_USER, 1},
	};
	struct net_options o;
	struct net_hostfwd f;
	char left[128];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(config_parse_net_backend(ok[i].spec, &o, left, sizeof(left)), 0);
		assert_int_equal(o.kind, ok[i].kind);
		assert_string_equal(o.ifname, ok[i].ifname);
		assert_string_equal(left, ok[i].left);
		assert_int_equal(o.n_hostfwd, ok[i].n_fwd);
		for (unsigned k = 0; k < o.n_hostfwd; k++) /* in order, verbatim */
			assert_non_null(strstr(ok[i].spec, o.hostfwd[k]));
	}
	assert_true(!net_parse_hostfwd("tcp::2222-:22", &f) && !f.udp && f.host_port == 2222 &&
		    f.host_addr == htonl(INADDR_ANY) && f.guest_addr == inet_addr("10.0.2.15") &&
		    f.guest_port == 22);
	assert_true(!net_parse_hostfwd("udp:127.0.0.1:5353-10.0.2.16:53", &f) && f.udp &&
		    f.host_addr == inet_addr("127.0.0.1") && f.host_port == 5353 &&
		    f.guest_addr == inet_addr("10.0.2.16") && f.guest_port == 53);
	assert_true(!net_parse_hostfwd(":127.0.0.1:65535-:1", &f) && !f.udp);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "mac=52:54:00:12:34:56", "user,tap=tap0", "user,user", "tap=a,tap=b", "tap",
		"tap=", "tap=0123456789abcdef", "tap=a/b", "tap=a:b", "tap=a b", "tap=.", "user=1",
		"user,,mac=1", "user,", ",user", "hostfwd=tcp::2222-:22", "tap=t,hostfwd=tcp::2-:22",
		"user,hostfwd=", "user,hostfwd=tcp::0-:22", "user,hostfwd=tcp::70000-:22",
		"user,hostfwd=tcp::2222-:0", "user,hostfwd=sctp::2222-:22", "user,hostfwd=tcp::2222",
		"user,hostfwd=tcp:1.2.3:2222-:22", "user,hostfwd=tcp::2222-:22x", "user,hostfwd=tcp::-:22",
		"user,hostfwd=tcp::2222-:", "user,hostfwd=tcp::+22-:22", "user,hostfwd=tcp:2222-:22",
		"user,hostfwd=tcp::2222-:22:1", "user,hostfwd=tcp::2222-10.0.2.256:22",
		"user,hostfwd=tcp::1-:1,hostfwd=tcp::2-:1,hostfwd=tcp::3-:1,hostfwd=tcp::4-:1,"
		"hostfwd=tcp::5-:1,hostfwd=tcp::6-:1,hostfwd=tcp::7-:1,hostfwd=tcp::8-:1,"
		"hostfwd=tcp::9-:1",
		"user,hostfwd=tcp:255.255.255.255:65535-255.255.255.255:65535xxxxxxxxxxxxxxxx",
		"user,model=virtio-net-pci,mac=52:54:00:12:34:56", /* > 32 bytes left over */
		NULL,
	};
	struct net_options o;
	char left[32];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = config_parse_net_backend(bad[i], &o, left, sizeof(left));
		if (ret != -EINVAL)
			fail_msg("config_parse_net_backend(\"%s\") = %d, want -EINVAL",
				 bad[i] ? bad[i] : "(null)", ret);
	}
	/* No leftover buffer: any device option is an error. */
	assert_int_equal(config_parse_net_backend("user,mac=1", &o, NULL, 0), -EINVAL);
}

/* ---- a fake device; no cmocka asserts here: the tap child uses it too ---- */

struct dev {
	struct loop *loop;
	struct net_backend *nb;
	bool (*want)(const uint8_t *f, size_t len); /* frames the test looks for */
	bool accept;        /* take wanted frames (others are always taken) */
	int wanted, refused, others;
	int bursts, unflushed; /* burst ends seen; frames taken since the last */
	int first_burst, last_burst; /* bursts seen when first/last was taken */
	uint8_t first[2048], last[2048]; /* first taken / last seen wanted frame */
	size_t first_len, last_len;
};

/* A burst end always follows frames the device took (never an empty one). */
static void dev_burst_end(void *opaque)
{
	struct dev *d = opaque;
	if (d->unflushed == 0)
		abort();
	d->unflushed = 0;
	d->bursts++;
}

static bool dev_rx(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct dev *d = opaque;
	uint8_t buf[2048];
	size_t off = 0;
	for (int i = 0; i < iovcnt && off + iov[i].iov_len <= sizeof(buf); off += iov[i++].iov_len)
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
	if (!d->want || !d->want(buf, off))
		return ++d->others, ++d->unflushed, true;
	memcpy(d->last, buf, off);
	d->last_len = off;
	loop_stop(d->loop);
	if (!d->accept)
		return ++d->refused, false;
	if (d->wanted++ == 0) {
		memcpy(d->first, buf, off);
		d->first_len = off;
		d->first_burst = d->bursts;
	}
	d->last_burst = d->bursts;
	d->unflushed++;
	return true;
}

static bool timed_out;

static void deadline_cb(void *loop, uint32_t events)
{
	timed_out = true;
	loop_stop(loop);
}

/* Runs the loop until something calls loop_stop or ms pass; true if the
 * time ran out. */
static bool run(struct dev *d, int ms)
{
	struct itimerspec its = {.it_value = {ms / 1000, ms % 1000 * 1000000L}};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	timed_out = false;
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) ||
	    loop_add_fd(d->loop, fd, EPOLLIN, deadline_cb, d->loop) || loop_run(d->loop))
		abort();
	loop_del_fd(d->loop, fd);
	close(fd);
	return timed_out;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t put_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	return 14;
}

/* "Who has 10.0.2.<host>? Tell 10.0.2.15" from the guest. */
static size_t make_arp_request(uint8_t *f, uint8_t host)
{
	size_t n = put_eth(f, bcast, 0x0806);
	memcpy(f + n, (uint8_t[8]){0, 1, 8, 0, 6, 4, 0, 1}, 8); /* Ethernet, IPv4, request */
	memcpy(f + n + 8, guest_mac, 6);
	memcpy(f + n + 14, (uint8_t[14]){10, 0, 2, 15, [10] = 10, 0, 2, host}, 14);
	return n + 28;
}

/* From slirp's gateway (10.0.2.2) or DNS (10.0.2.3) to the guest. */
static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       !memcmp(f, guest_mac, 6) && !memcmp(f + 28, (uint8_t[3]){10, 0, 2}, 3) &&
	       (f[31] == 2 || f[31] == 3) && !memcmp(f + 38, (uint8_t[4]){10, 0, 2, 15}, 4);
}

/* DHCPDISCOVER from the guest: IPv4 0.0.0.0 -> 255.255.255.255 (576 bytes,
 * TTL 64, UDP, header checksum 0x78ae), UDP 68 -> 67 (556 bytes, no
 * checksum), BOOTP request with xid 12345678, the full 312-byte options
 * field: magic cookie, message type 1 (DISCOVER), end. */
static size_t make_dhcp_discover(uint8_t *f)
{
	static const uint8_t hdr[28] = {0x45, 0, 0x02, 0x40, 0, 0, 0, 0, 64, 17, 0x78, 0xae,
					0, 0, 0, 0, 255, 255, 255, 255, 0, 68, 0, 67, 0x02, 0x2c};
	uint8_t *bp = f + 14 + 28;
	memset(f, 0, 14 + 576);
	put_eth(f, bcast, 0x0800);
	memcpy(f + 14, hdr, sizeof(hdr));
	memcpy(bp, (uint8_t[8]){1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78}, 8);
	memcpy(bp + 28, guest_mac, 6);
	memcpy(bp + 236, (uint8_t[8]){99, 130, 83, 99, 53, 1, 1, 255}, 8);
	return 14 + 576;
}

static bool is_dhcp_offer(const uint8_t *f, size_t len)
{
	const uint8_t *bp = f + 14 + 20 + 8;
	if (len < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800 || f[14 + 9] != 17 ||
	    get16(f + 14 + 22) != 68 || bp[0] != 2 || memcmp(bp + 4, "\x12\x34\x56\x78", 4))
		return false;
	for (size_t o = 240; 14 + 28 + o + 2 < len && bp[o] != 0xff;) {
		if (bp[o] == 53 && bp[o + 1] == 1)
			return bp[o + 2] == 2; /* DHCPOFFER */
		o += bp[o] ? 2u + bp[o + 1] : 1; /* 0 is a one-byte pad */
	}
	return false;
}

static uint8_t want_proto; /* for is_ip_to_guest: 6 (TCP) or 17 (UDP) */
static uint16_t want_port;

/* IPv4 to 10.0.2.15, protocol want_proto, destination port want_port; a TCP
 * segment must be a SYN (no ACK). */
static bool is_ip_to_guest(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *l4 = ip + 4 * (ip[0] & 15);
	return len >= 14 + 20 + 8 && get16(f + 12) == 0x0800 && ip[9] == want_proto &&
	       !memcmp(ip + 16, (uint8_t[4]){10, 0, 2, 15}, 4) && get16(l4 + 2) == want_port &&
	       (want_proto != 6 || (len >= (size_t)(l4 - f) + 20 && (l4[13] & 0x12) == 0x02));
}

static struct net_backend *open_user(struct dev *d, const char *spec)
{
	struct net_options o;
	memset(d, 0, sizeof(*d));
	assert_non_null(d->loop = loop_create());
	assert_int_equal(config_parse_net_backend(spec, &o, NULL, 0), 0);
	if ((d->nb = net_open(&o, d->loop, dev_rx, d)))
		net_set_rx_burst_end(d->nb, dev_burst_end);
	return d->nb;
}

static void close_dev(struct dev *d)
{
	assert_int_equal(d->unflushed, 0); /* each taken frame ended a burst */
	net_close(d->nb);
	loop_destroy(d->loop);
}

/* Sends f in two pieces, the way a device gathers a descriptor chain. */
static int send_frame(struct net_backend *nb, const uint8_t *f, size_t len)
{
	struct iovec iov[2] = {{(void *)f, 10}, {(void *)(f + 10), len - 10}};
	return net_send(nb, iov, 2);
}

/* Runs the loop until the device takes one frame that want() matches. */
static void expect_rx(struct dev *d, bool (*want)(const uint8_t *, size_t))
{
	d->want = want;
	d->accept = true;
	d->wanted = 0;
	assert_false(run(d, 5000));
	assert_int_equal(d->wanted, 1);
}

/* ARP for the gateway gets slirp's MAC; DHCPDISCOVER gets an offer of the
 * first lease, 10.0.2.15, from 10.0.2.2. */
static void test_user_arp_dhcp(void **state)
{
	struct dev d;
	uint8_t f[1024];
	struct net_stats st;
	assert_non_null(open_user(&d, "user"));
	assert_false(net_has_vnet_hdr(d.nb));
	assert_int_equal(net_set_offloads(d.nb, 0), 0);
	assert_int_equal(net_set_offloads(d.nb, TUN_F_CSUM), -ENOTSUP);
	assert_int_equal(net_send(d.nb, NULL, 0), -EINVAL);
	assert_int_equal(send_frame(d.nb, f, make_arp_request(f, 2)), 0);
	expect_rx(&d, is_arp_reply);
	assert_memory_equal(d.last + 22, ((uint8_t[6]){0x52, 0x55, 10, 0, 2, 2}), 6);
	assert_memory_equal(d.last + 28, ((uint8_t[4]){10, 0, 2, 2}), 4);
	assert_int_equal(send_frame(d.nb, f, make_dhcp_discover(f)), 0);
	expect_rx(&d, is_dhcp_offer);
	assert_memory_equal(d.last + 14 + 28 + 16, ((uint8_t[4]){10, 0, 2, 15}), 4);
	assert_memory_equal(d.last + 14 + 12, ((uint8_t[4]){10, 0, 2, 2}), 4);
	net_get_stats(d.nb, &st);
	assert_int_equal(st.tx_frames, 2);
	assert_int_equal(st.tx_dropped, 1); /* the empty send */
	assert_int_equal(st.rx_frames, 2 + (uint64_t)d.others);
	close_dev(&d);

	struct net_options o = {.kind = NET_USER, .vnet_hdr = true}; /* no such thing */
	assert_null(net_open(&o, d.loop = loop_create(), dev_rx, &d));
	loop_destroy(d.loop);
}

/* A refused frame is kept and rx is not called again until resume (no busy
 * loop); at most 64 frames wait, the rest are dropped and counted; after
 * resume the refused frame arrives first, then the others in order. */
static void test_user_rx_hold(void **state)
{
	struct dev d;
	uint8_t f[64], held[2048];
	size_t held_len;
	struct net_stats st;
	assert_non_null(open_user(&d, "user"));
	d.want = is_arp_reply;
	for (int i = 0; i < 100; i++) /* the first for the DNS host, 10.0.2.3 */
		assert_int_equal(send_frame(d.nb, f, make_arp_request(f, i ? 2 : 3)), 0);
	assert_false(run(&d, 5000)); /* stops at the refusal */
	assert_int_equal(d.refused, 1);
	assert_memory_equal(d.last + 28, ((uint8_t[4]){10, 0, 2, 3}), 4);
	memcpy(held, d.last, d.last_len);
	held_len = d.last_len;
	assert_true(run(&d, 200)); /* slirp takes all 100 at once */
	assert_int_equal(d.refused, 1);
	net_get_stats(d.nb, &st);
	assert_int_equal(st.tx_frames, 100);
	assert_int_equal(st.rx_dropped, 100 - 64);

	d.accept = true;
	net_rx_resume(d.nb);
	assert_false(run(&d, 5000)); /* all 64 in one go */
	assert_int_equal(d.wanted, 64);
	assert_int_equal(d.first_len, held_len);
	assert_memory_equal(d.first, held, held_len);
	assert_memory_equal(d.last + 28, ((uint8_t[4]){10, 0, 2, 2}), 4);
	net_get_stats(d.nb, &st);
	assert_int_equal(st.rx_frames, 64 + (uint64_t)d.others);
	close_dev(&d);
}

/* A loopback socket of this type bound to port (0: any); -errno on failure. */
static int bind_loopback(int type, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = -errno;
		close(s);
		return err;
	}
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	*bound = ntohs(a.sin_port);
	return s;
}

/* hostfwd: slirp listens on loopback; a connection there becomes a SYN to
 * the guest, a datagram a UDP packet to the guest; closing frees the ports;
 * a port already taken makes net_open fail. */
static void test_user_hostfwd(void **state)
{
	struct dev d;
	uint8_t f[64];
	char spec[128];
	uint16_t tport, uport, port;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	close(bind_loopback(SOCK_STREAM, 0, &tport));
	close(bind_loopback(SOCK_DGRAM, 0, &uport));
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%u-:22,hostfwd=udp:127.0.0.1:%u-:53",
		 tport, uport);
	assert_non_null(open_user(&d, spec));
	assert_int_equal(bind_loopback(SOCK_STREAM, tport, &port), -EADDRINUSE);
	assert_int_equal(bind_loopback(SOCK_DGRAM, uport, &port), -EADDRINUSE);

	/* The guest makes itself known (slirp learns its MAC from the request). */
	assert_int_equal(send_frame(d.nb, f, make_arp_request(f, 2)), 0);
	expect_rx(&d, is_arp_reply);

	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	a.sin_port = htons(tport);
	assert_true(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	want_proto = 6;
	want_port = 22;
	expect_rx(&d, is_ip_to_guest);
	close(c);

	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a.sin_port = htons(uport);
	assert_int_equal(sendto(u, "query", 5, 0, (struct sockaddr *)&a, sizeof(a)), 5);
	want_proto = 17;
	want_port = 53;
	expect_rx(&d, is_ip_to_guest);
	assert_memory_equal(d.last + 14 + 20 + 8, "query", 5);
	close(u);
	close_dev(&d);

	int s = bind_loopback(SOCK_STREAM, tport, &port);
	assert_int_equal(listen(s, 1), 0);
	assert_null(open_user(&d, spec)); /* one clear line: address in use */
	loop_destroy(d.loop);
	close(s);
}

/* ---- tap, in a network namespace of our own (a forked child) ---- */

#define TAP_NAME "iovt-test0"
#define TEST_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */
#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "tap: line %d: %s\n", __LINE__, #c), _exit(1)))

/* Frames from the tap carry the 12-byte virtio_net_hdr_v1 first. */
static bool is_test_frame(const uint8_t *f, size_t len)
{
	return len >= NET_VNET_HDR_LEN + 60 && get16(f + NET_VNET_HDR_LEN + 12) == TEST_ETHERTYPE;
}

/* Injects a 60-byte test frame carrying text into the tap. */
static void inject(const struct tap_ns *t, const char *text)
{
	uint8_t f[60] = {0};
	memcpy(f + put_eth(f, bcast, TEST_ETHERTYPE), text, strlen(text));
	CHECK(tap_ns_inject(t, f, sizeof(f)));
}

/* The device side of a direct read: lends one buffer (in two pieces, as
 * big as the largest frame) when lend is set, else declines. */
static bool lend;
static int direct;
static uint8_t lent[NET_VNET_HDR_LEN + NET_MAX_FRAME];

static ssize_t dev_rx_direct(void *opaque, net_read_fn read_frame, void *ctx)
{
	struct dev *d = opaque;
	if (!lend)
		return 0;
	struct iovec iov[2] = {{lent, 20}, {lent + 20, sizeof(lent) - 20}};
	ssize_t n = read_frame(ctx, iov, 2);
	if (n <= 0)
		return n;
	if (d->want && d->want(lent, (size_t)n)) {
		direct++;
		memcpy(d->last, lent, (size_t)n < sizeof(d->last) ? (size_t)n : sizeof(d->last));
		d->last_len = (size_t)n;
		loop_stop(d->loop);
	} else {
		d->others++;
	}
	d->unflushed++;
	return n;
}

static void tap_child(void)
{
	struct dev d = {.want = is_test_frame};
	struct tap_ns t;
	uint8_t hdr[NET_VNET_HDR_LEN] = {0}, f[60] = {0}, buf[128];
	struct net_stats st;
	CHECK((d.loop = loop_create()));
	/* Not a tap: one clear line, no backend. */
	CHECK(!net_open(&(struct net_options){.kind = NET_TAP, .ifname = "lo"}, d.loop, dev_rx, &d));
	CHECK((d.nb = net_open(&(struct net_options){.kind = NET_TAP, .ifname = TAP_NAME,
						     .vnet_hdr = true}, d.loop, dev_rx, &d)));
	net_set_rx_burst_end(d.nb, dev_burst_end);
	CHECK(net_has_vnet_hdr(d.nb) && net_set_offloads(d.nb, 0) == 0);
	CHECK(net_set_offloads(d.nb, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0);
	CHECK(tap_ns_up(&t, TAP_NAME));

	/* TX: header + frame in pieces. */
	memcpy(f + put_eth(f, bcast, TEST_ETHERTYPE), "iovirt tx", 9);
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {f, 14}, {f + 14, sizeof(f) - 14}};
	CHECK(net_send(d.nb, iov, 3) == 0);
	net_get_stats(d.nb, &st);
	CHECK(st.tx_frames == 1 && st.tx_dropped == 0);
	ssize_t n; /* the packet socket sees the frame */
	while ((n = recv(t.ps, buf, sizeof(buf), 0)) > 0 && (n < 60 || memcmp(buf, f, sizeof(f))))
		;
	CHECK(n >= 60);
	/* RX: the first frame is refused and held; nothing more is read. */
	inject(&t, "iovirt rx 1");
	CHECK(!run(&d, 5000) && d.refused == 1 && d.last_len == NET_VNET_HDR_LEN + 60);
	CHECK(!memcmp(d.last + NET_VNET_HDR_LEN + 14, "iovirt rx 1", 11));
	inject(&t, "iovirt rx 2");
	CHECK(run(&d, 200) && d.refused == 1 && d.wanted == 0);
	/* Resume: the held frame, then the next. */
	d.accept = true;
	net_rx_resume(d.nb);
	CHECK(!run(&d, 5000)); /* both come in one go: one burst, one burst end */
	CHECK(d.wanted == 2 && !memcmp(d.first + NET_VNET_HDR_LEN + 14, "iovirt rx 1", 11));
	CHECK(d.first_burst == d.last_burst && d.unflushed == 0);
	CHECK(!memcmp(d.last + NET_VNET_HDR_LEN + 14, "iovirt rx 2", 11));
	net_get_stats(d.nb, &st);
	CHECK(st.rx_frames == 2 + (uint64_t)d.others && st.rx_dropped == 0);

	/* Direct reads: a frame lands in the lent buffer, header first, and
	 * ends a burst; a device that declines gets it through rx. */
	net_set_rx_direct(d.nb, dev_rx_direct);
	lend = true;
	inject(&t, "iovirt rx 3");
	CHECK(!run(&d, 5000) && direct == 1 && d.wanted == 2 && d.unflushed == 0);
	CHECK(d.last_len == NET_VNET_HDR_LEN + 60);
	CHECK(!memcmp(d.last + NET_VNET_HDR_LEN + 14, "iovirt rx 3", 11));
	lend = false;
	inject(&t, "iovirt rx 4");
	CHECK(!run(&d, 5000) && direct == 1 && d.wanted == 3 && d.unflushed == 0);
	CHECK(!memcmp(d.last + NET_VNET_HDR_LEN + 14, "iovirt rx 4", 11));
	net_get_stats(d.nb, &st);
	CHECK(st.rx_frames == 4 + (uint64_t)d.others && st.rx_dropped == 0);
	net_close(d.nb);
	loop_destroy(d.loop);
	_exit(0);
}

static void test_tap(void **state)
{
	tap_ns_test(tap_child, "tap");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),     cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_user_arp_dhcp), cmocka_unit_test(test_user_rx_hold),
		cmocka_unit_test(test_user_hostfwd),  cmocka_unit_test(test_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
