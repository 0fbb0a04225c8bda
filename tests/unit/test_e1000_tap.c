/* The e1000's GSO frames through a real tap (in a network namespace of the
 * test's own, support/tap_ns.h): the device on a tap backend sends a TCP
 * segmentation packet (IPv4, then IPv6) as one GSO frame; the kernel
 * routes it to a second tap without offloads, so it segments it there,
 * and the test reads the segments from that tap. Each must be what the
 * hardware would have sent (lengths, IDs, sequence numbers, FIN/PSH only
 * on the last, correct checksums): this checks the vnet header and the
 * partial checksum against the kernel's own GSO code, not a model of it.
 * Needs root, /dev/net/tun and ip(8): skipped without them. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/e1000.h"
#include "devices/e1000_regs.h"
#include "support/e1000_drv.h"
#include "support/tap_ns.h"

#define CHECK(c) \
	((c) ? (void)0 : (fprintf(stderr, "e1000 tap: line %d: %s\n", __LINE__, #c), _exit(1)))

/* The device's tap is e1k0, on the packet's source network; the packet's
 * destination (e1k_make_tso's 10.0.2.2 / fd00::2) is routed out of out0,
 * a tap without vnet header or offloads that the test reads. */
static const char setup_cmds[] =
	"ip link set e1k0 up && ip link set out0 up && "
	"echo 1 >/proc/sys/net/ipv4/ip_forward && echo 1 >/proc/sys/net/ipv6/conf/all/forwarding && "
	"ip addr add 10.0.2.1/24 dev e1k0 && ip route add 10.0.2.2/32 dev out0 && "
	"ip neigh add 10.0.2.2 lladdr 02:00:00:00:00:99 dev out0 && "
	"ip -6 addr add fd00::1/64 dev e1k0 nodad && ip -6 route add fd00::2/128 dev out0 && "
	"ip -6 neigh add fd00::2 lladdr 02:00:00:00:00:99 dev out0";

static bool v6;

static int open_tap(const char *name)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	CHECK(fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0);
	return fd;
}

/* ifname's MAC address (through a socket: on a tun fd the ioctl answers
 * for that fd's own device). */
static void if_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	CHECK(s >= 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
}

/* The next TCP segment of our packet from out0 (skipping the kernel's own
 * chatter); its length. */
static size_t read_segment(int fd, uint8_t *buf, size_t size)
{
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		CHECK(poll(&p, 1, 5000) == 1);
		ssize_t n = read(fd, buf, size);
		CHECK(n > 0);
		uint16_t type = e1k_get16(buf + 12);
		if ((type == 0x0800 && buf[23] == 6) || (type == 0x86DD && buf[20] == 6))
			return (size_t)n;
	}
}

static void tap_child(void)
{
	static struct e1k_drv *f;
	static uint8_t buf[2048];
	void *state;
	uint8_t mac[6];

	CHECK(e1k_setup(&state) == 0);
	f = state;
	e1000_destroy(f->e);
	struct e1000_options o = {.backend = {.kind = NET_TAP, .ifname = "e1k0"}};
	memcpy(o.mac, e1k_our_mac, 6);
	e1k_attach(f, e1000_create(&o, &f->ram.mem, f->loop));
	int out = open_tap("out0");
	if (system(setup_cmds) != 0)
		_exit(77); /* no ip(8) */
	if_mac("e1k0", mac);

	size_t payload = 30000, mss = 1400, nsegs = (payload + mss - 1) / mss;
	size_t len = e1k_make_tso(f->frame, mac, v6, payload, 0x19);
	struct e1k_ctx c = e1k_tso_ctx(v6, payload, (uint16_t)mss);
	uint8_t popts = TXD_POPTS_TXSM | (v6 ? 0 : TXD_POPTS_IXSM);
	e1k_tx_start(f);
	e1k_txd_ctx(f, 0, &c);
	e1k_txd_data(f, 1, e1k_put_buf(f, f->frame, len), (uint32_t)len,
		     TXD_CMD_TSE | TXD_CMD_EOP | TXD_CMD_RS, popts, 0);
	e1k_tdt(f, 2);
	struct e1000_stats st = e1k_stats(f);
	CHECK(st.tx_frames == nsegs && st.tx_dropped == 0);
	CHECK(st.tx_tso_packets == 1 && st.tx_gso_frames == 1);

	size_t hdr = c.hdrlen, l4 = c.tucss;
	for (size_t s = 0; s < nsegs; s++) {
		size_t seg = payload - s * mss < mss ? payload - s * mss : mss;
		size_t n = read_segment(out, buf, sizeof(buf));
		const uint8_t *ip = buf + 14, *tcp = buf + l4;
		CHECK(n == hdr + seg && e1k_csums_ok(buf, n));
		CHECK(v6 || e1k_get16(ip + 4) == 0x1234 + s);
		CHECK(e1k_get32(tcp + 4) == 0x10000000 + s * mss);
		CHECK(tcp[13] == (s + 1 == nsegs ? 0x19 : 0x10));
		CHECK(!memcmp(tcp + 20, f->frame + hdr + s * mss, seg));
	}
	_exit(0);
}

static void test_tap_gso_v4(void **state)
{
	v6 = false;
	tap_ns_test(tap_child, "e1000 tap GSO IPv4");
}

static void test_tap_gso_v6(void **state)
{
	v6 = true;
	tap_ns_test(tap_child, "e1000 tap GSO IPv6");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tap_gso_v4),
		cmocka_unit_test(test_tap_gso_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
