/* Network backends: the common entry points and hostfwd rules. The
 * backends themselves are net_tap.c (a host tap device) and net_slirp.c
 * (user-mode networking through libslirp); the --net option is parsed in
 * machine/config_devices.c. */
#define IOVIRT_NET_BACKEND_IMPL
#include "backends/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>

#include "core/log.h"

/* QEMU's default guest address (the first DHCP lease): 10.0.2.15. */
#define NET_USER_GUEST_ADDR "10.0.2.15"

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* An IPv4 address in s[0..len), or dflt when empty. */
static int parse_addr(const char *s, size_t len, const char *dflt, uint32_t *addr)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;
	if (len == 0) {
		s = dflt;
		len = strlen(dflt);
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = a.s_addr;
	return 0;
}

int net_parse_hostfwd(const char *rule, struct net_hostfwd *fwd)
{
	struct net_hostfwd f = {0};
	const char *p = rule, *sep;

	if (!rule)
		return -EINVAL;
	/* protocol ':' */
	sep = strchr(p, ':');
	if (!sep)
		return -EINVAL;
	if (sep - p == 3 && !strncmp(p, "udp", 3))
		f.udp = true;
	else if (!(sep == p || (sep - p == 3 && !strncmp(p, "tcp", 3))))
		return -EINVAL;
	p = sep + 1;
	/* hostaddr ':' hostport '-' */
	sep = strchr(p, ':');
	if (!sep || parse_addr(p, (size_t)(sep - p), "0.0.0.0", &f.host_addr))
		return -EINVAL;
	p = sep + 1;
	sep = strchr(p, '-');
	if (!sep || parse_port(p, (size_t)(sep - p), &f.host_port))
		return -EINVAL;
	p = sep + 1;
	/* guestaddr ':' guestport */
	sep = strchr(p, ':');
	if (!sep || parse_addr(p, (size_t)(sep - p), NET_USER_GUEST_ADDR, &f.guest_addr))
		return -EINVAL;
	p = sep + 1;
	if (parse_port(p, strlen(p), &f.guest_port))
		return -EINVAL;
	*fwd = f;
	return 0;
}

/* The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/',
 * ':' or white space. */
bool net_ifname_valid(const char *s, size_t len)
{
	if (len == 0 || len >= IFNAMSIZ || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '/' || c == ':' || c <= ' ' || c >= 0x7f)
			return false;
	}
	return true;
}

struct net_backend *net_open(const struct net_options *opts, struct loop *loop,
			     net_rx_fn rx, void *opaque)
{
	if (!opts || !loop || !rx) {
		log_error("net: internal error: net_open without options, loop or rx");
		return NULL;
	}
	switch (opts->kind) {
	case NET_TAP:
		if (!net_ifname_valid(opts->ifname, strnlen(opts->ifname, sizeof(opts->ifname)))) {
			log_error("net: bad tap device name");
			return NULL;
		}
		return net_tap_open(opts, loop, rx, opaque);
	case NET_USER:
		if (opts->vnet_hdr || opts->offloads) {
			log_error("user: the user-mode backend has no vnet header or offloads");
			return NULL;
		}
		if (opts->multi_queue) {
			log_error("user: the user-mode backend has one queue (multiqueue needs a tap)");
			return NULL;
		}
		if (opts->kernel_datapath) {
			log_error("user: user-mode networking runs in the VMM (vhost needs a tap)");
			return NULL;
		}
		if (opts->n_hostfwd > NET_MAX_HOSTFWD) {
			log_error("user: at most %d hostfwd rules", NET_MAX_HOSTFWD);
			return NULL;
		}
		return net_slirp_open(opts, loop, rx, opaque);
	}
	log_error("net: unknown backend kind %d", (int)opts->kind);
	return NULL;
}

void net_set_rx_burst_end(struct net_backend *nb, net_rx_burst_end_fn fn)
{
	nb->rx_burst_end = fn;
}

void net_set_rx_direct(struct net_backend *nb, net_rx_direct_fn fn)
{
	nb->rx_direct = fn;
}

void net_close(struct net_backend *nb)
{
	if (nb)
		nb->ops->close(nb);
}

const char *net_ifname(const struct net_backend *nb)
{
	return nb->ifname;
}

int net_kernel_fd(const struct net_backend *nb)
{
	return nb->kernel_fd;
}

int net_set_queue_attached(struct net_backend *nb, bool attached)
{
	return nb->ops->set_attached ? nb->ops->set_attached(nb, attached) : -ENOTSUP;
}

bool net_has_vnet_hdr(const struct net_backend *nb)
{
	return nb->vnet_hdr;
}

int net_set_offloads(struct net_backend *nb, unsigned tun_flags)
{
	if (!nb->ops->set_offloads) /* no vnet header, so nothing to offload */
		return tun_flags ? -ENOTSUP : 0;
	return nb->ops->set_offloads(nb, tun_flags);
}

int net_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	if (iovcnt <= 0 || iovcnt > IOV_MAX || !iov) {
		NET_STAT_INC(nb, tx_dropped);
		return -EINVAL;
	}
	return nb->ops->send(nb, iov, iovcnt);
}

void net_announce(struct net_backend *nb, const uint8_t mac[6])
{
	/* Ethernet, then RARP (RFC 903): a "request reverse" for mac, padded
	 * to the 60-byte minimum; a tap with vnet headers gets an empty one. */
	uint8_t frame[NET_VNET_HDR_LEN + 60] = {0};
	size_t h = net_has_vnet_hdr(nb) ? NET_VNET_HDR_LEN : 0;
	uint8_t *f = frame + h;
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	static const uint8_t rarp[] = {0x80, 0x35, 0, 1, 0x08, 0x00, 6, 4, 0, 3};
	memcpy(f + 12, rarp, sizeof(rarp));
	memcpy(f + 22, mac, 6);  /* sender hardware address */
	memcpy(f + 32, mac, 6);  /* target hardware address */
	struct iovec iov = {frame, h + 60};
	if (net_send(nb, &iov, 1) < 0)
		log_warn("announcing the guest's address after the migration failed");
}

void net_rx_resume(struct net_backend *nb)
{
	nb->ops->rx_resume(nb);
}

void net_get_stats(const struct net_backend *nb, struct net_stats *st)
{
	st->tx_frames = __atomic_load_n(&nb->tx_frames, __ATOMIC_RELAXED);
	st->tx_dropped = __atomic_load_n(&nb->tx_dropped, __ATOMIC_RELAXED);
	st->rx_frames = __atomic_load_n(&nb->rx_frames, __ATOMIC_RELAXED);
	st->rx_dropped = __atomic_load_n(&nb->rx_dropped, __ATOMIC_RELAXED);
}
