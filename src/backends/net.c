/* Network backends: the common entry points and the parsing of the backend
 * part of a --net spec. The backends themselves are net_tap.c (a host tap
 * device) and net_slirp.c (user-mode networking through libslirp). */
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
static bool valid_ifname(const char *s, size_t len)
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

static bool item_is(const char *item, size_t len, const char *key)
{
	size_t klen = strlen(key);
	return len >= klen && !strncmp(item, key, klen);
}

int net_parse_backend(const char *spec, struct net_options *opts, char *leftover,
		      size_t leftover_len)
{
	size_t out = 0;
	bool have_backend = false;

	memset(opts, 0, sizeof(*opts));
	if (leftover && leftover_len)
		leftover[0] = '\0';
	if (!spec || !*spec) {
		log_error("--net: empty spec (want user[,hostfwd=RULE] or tap=NAME)");
		return -EINVAL;
	}
	for (const char *p = spec;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0) {
			log_error("--net %s: empty option", spec);
			return -EINVAL;
		}
		if (len == 4 && !strncmp(p, "user", 4)) {
			if (have_backend)
				goto two_backends;
			have_backend = true;
			opts->kind = NET_USER;
		} else if (item_is(p, len, "user=")) {
			log_error("--net %s: user takes no value", spec);
			return -EINVAL;
		} else if (len == 3 && !strncmp(p, "tap", 3)) {
			log_error("--net %s: tap needs a device name: tap=NAME", spec);
			return -EINVAL;
		} else if (item_is(p, len, "tap=")) {
			if (have_backend)
				goto two_backends;
			if (!valid_ifname(p + 4, len - 4)) {
				log_error("--net %s: bad tap device name '%.*s' (1-15 characters, "
					  "no '/', ':' or spaces)", spec, (int)(len - 4), p + 4);
				return -EINVAL;
			}
			have_backend = true;
			opts->kind = NET_TAP;
			memcpy(opts->ifname, p + 4, len - 4);
			opts->ifname[len - 4] = '\0';
		} else if (item_is(p, len, "hostfwd=")) {
			const char *rule = p + 8;
			size_t rlen = len - 8;
			struct net_hostfwd fwd;
			if (opts->n_hostfwd == NET_MAX_HOSTFWD) {
				log_error("--net %s: at most %d hostfwd rules", spec, NET_MAX_HOSTFWD);
				return -EINVAL;
			}
			char *dst = opts->hostfwd[opts->n_hostfwd];
			if (rlen >= NET_HOSTFWD_LEN) {
				log_error("--net %s: hostfwd rule too long", spec);
				return -EINVAL;
			}
			memcpy(dst, rule, rlen);
			dst[rlen] = '\0';
			if (net_parse_hostfwd(dst, &fwd)) {
				log_error("--net %s: bad hostfwd '%s' (want [tcp|udp]:[hostaddr]:hostport-"
					  "[guestaddr]:guestport, ports 1-65535)", spec, dst);
				return -EINVAL;
			}
			opts->n_hostfwd++;
		} else {
			/* Not ours: hand back to the caller, in order. */
			size_t need = (out ? 1 : 0) + len + 1;
			if (!leftover || out + need > leftover_len) {
				log_error("--net %s: too many device options", spec);
				return -EINVAL;
			}
			if (out)
				leftover[out++] = ',';
			memcpy(leftover + out, p, len);
			out += len;
			leftover[out] = '\0';
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!have_backend) {
		log_error("--net %s: no backend (want user or tap=NAME)", spec);
		return -EINVAL;
	}
	if (opts->kind != NET_USER && opts->n_hostfwd) {
		log_error("--net %s: hostfwd= needs the user backend", spec);
		return -EINVAL;
	}
	return 0;

two_backends:
	log_error("--net %s: more than one backend (user, tap=NAME)", spec);
	return -EINVAL;
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
		if (!valid_ifname(opts->ifname, strnlen(opts->ifname, sizeof(opts->ifname)))) {
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
