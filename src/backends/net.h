/* Network backends shared by the NICs (virtio-net, e1000): a tap device or
 * user-mode networking (libslirp). A device model sends frames with
 * net_send() and receives them through its net_rx_fn; it never knows which
 * backend it has (docs/ARCHITECTURE.md, "Backends").
 *
 * Threads: net_send(), net_rx_resume() and net_get_stats() may be called from
 * any thread. The rx callback always runs on the event-loop thread. net_open()
 * and net_close() run while the loop is not running or on the loop thread. */
#ifndef IOVIRT_BACKENDS_NET_H
#define IOVIRT_BACKENDS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct loop;

/* Size of struct virtio_net_hdr_v1 (virtio 1.x 5.1.6, with num_buffers). */
#define NET_VNET_HDR_LEN 12
/* The largest frame a backend hands to rx or accepts from net_send, not
 * counting the vnet header: a 64 KiB GSO packet plus its Ethernet header. */
#define NET_MAX_FRAME (65536 + 256)

/* A received frame for the device; iov is valid only during the call. Return
 * true if consumed; false = the device has no buffers: the backend keeps the
 * frame, stops reading (no busy loop), and retries when net_rx_resume() is
 * called. len is the sum of the iov lengths. */
typedef bool (*net_rx_fn)(void *opaque, const struct iovec *iov, int iovcnt, size_t len);

struct net_backend;

#define NET_MAX_HOSTFWD 8
#define NET_HOSTFWD_LEN 64

struct net_options {
	enum { NET_TAP, NET_USER } kind;
	char ifname[16];   /* tap: the tap device; created by TUNSETIFF if missing */
	bool vnet_hdr;     /* tap: IFF_VNET_HDR, 12-byte virtio_net_hdr_v1 both ways */
	bool multi_queue;  /* tap: IFF_MULTI_QUEUE; each net_open adds a queue */
	/* tap: the kernel moves the frames (vhost): the loop never reads the
	 * tap, net_send and rx are unused; the fd is net_kernel_fd()'s. */
	bool kernel_datapath;
	unsigned offloads; /* tap: TUN_F_* applied at open (needs vnet_hdr) */
	/* user: "tcp::2222-:22", "udp:127.0.0.1:5353-:53" (QEMU syntax). The
	 * network is QEMU's: 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3, DHCP
	 * from 10.0.2.15; IPv6 fec0::/64. */
	char hostfwd[NET_MAX_HOSTFWD][NET_HOSTFWD_LEN];
	unsigned n_hostfwd;
};

/* A tap name the kernel takes (dev_valid_name): 1..15 bytes, not "." or
 * "..", no '/', ':' or white space. */
bool net_ifname_valid(const char *s, size_t len);

/* Parses one QEMU hostfwd rule "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport".
 * Empty hostaddr = any (0.0.0.0), empty guestaddr = 10.0.2.15. Returns 0 or
 * -EINVAL (silently; the caller says what was wrong). Addresses in network
 * byte order, ports in host order. */
struct net_hostfwd {
	bool udp;
	uint32_t host_addr, guest_addr;
	uint16_t host_port, guest_port;
};
int net_parse_hostfwd(const char *rule, struct net_hostfwd *fwd);

/* Opens the backend and registers its fds with loop. NULL after logging one
 * clear line ("tap0: /dev/net/tun: Permission denied"). */
struct net_backend *net_open(const struct net_options *opts, struct loop *loop,
			     net_rx_fn rx, void *opaque);
void net_close(struct net_backend *nb);

/* The tap's interface name (a "tap%d" template filled in); "" for user. */
const char *net_ifname(const struct net_backend *nb);
/* Frames carry a virtio_net_hdr_v1 (12 bytes) in front, both ways. */
bool net_has_vnet_hdr(const struct net_backend *nb);
/* The tap queue's descriptor, for a kernel data path (kernel_datapath:
 * VHOST_NET_SET_BACKEND); -1 for user-mode networking. */
int net_kernel_fd(const struct net_backend *nb);
/* tap, multiqueue: attach or detach this queue (TUNSETQUEUE), so the
 * kernel steers no flow to a queue nobody serves. 0 or -errno. */
int net_set_queue_attached(struct net_backend *nb, bool attached);
/* tap: TUNSETOFFLOAD (needs vnet_hdr unless 0); user: -ENOTSUP unless 0. */
int net_set_offloads(struct net_backend *nb, unsigned tun_flags);
/* Sends one frame gathered from iov (which may point into guest RAM; it is
 * not used after the call returns). 0 or -errno; a failed frame is dropped
 * and counted in tx_dropped (-EAGAIN: the backend is full). */
int net_send(struct net_backend *nb, const struct iovec *iov, int iovcnt);
/* After a live migration: a RARP broadcast from mac (as QEMU's
 * announce), so that switches and bridges learn the guest's new port. */
void net_announce(struct net_backend *nb, const uint8_t mac[6]);
/* The device has receive buffers again. Callable from any thread. */
void net_rx_resume(struct net_backend *nb);

/* Optional: called on the loop thread after a burst of rx calls (frames a
 * backend read in one go), before the loop waits again, so a device can
 * raise one interrupt for the burst instead of one per frame. A device
 * that registers it may defer its rx notification to it: every frame the
 * device took (rx returned true) is followed by a burst end -- nested ones
 * (delivered during net_send) at once. It may also come after a burst in
 * which nothing was taken. */
typedef void (*net_rx_burst_end_fn)(void *opaque);
void net_set_rx_burst_end(struct net_backend *nb, net_rx_burst_end_fn fn);

/* Optional zero-copy receive, for backends that read frames from a file
 * descriptor (tap): the device lends receive buffers -- in guest memory --
 * big enough for any frame (NET_VNET_HDR_LEN + NET_MAX_FRAME bytes), the
 * backend reads the next frame straight into them, and the device keeps
 * the buffers the frame filled. The device calls read_frame at most once;
 * it returns what readv() would, as -errno on failure. rx_direct returns:
 *   > 0  a frame of that many bytes was read (the device took or dropped it);
 *   0    the device cannot lend buffers now (too few posted, not running):
 *        nothing was read, the backend reads into its own buffer and uses rx;
 *   < 0  read_frame's -errno (-EAGAIN: nothing to read).
 * Runs on the loop thread, like rx; rx's burst-end rule applies to it. */
typedef ssize_t (*net_read_fn)(void *ctx, const struct iovec *iov, int iovcnt);
typedef ssize_t (*net_rx_direct_fn)(void *opaque, net_read_fn read_frame, void *ctx);
void net_set_rx_direct(struct net_backend *nb, net_rx_direct_fn fn);

struct net_stats {
	uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
};
void net_get_stats(const struct net_backend *nb, struct net_stats *st);

/* ---- For the backend implementations (net_tap.c, net_slirp.c) only. ---- */
#ifdef IOVIRT_NET_BACKEND_IMPL
struct net_backend_ops {
	int (*send)(struct net_backend *nb, const struct iovec *iov, int iovcnt);
	void (*rx_resume)(struct net_backend *nb);
	int (*set_offloads)(struct net_backend *nb, unsigned tun_flags); /* may be NULL */
	int (*set_attached)(struct net_backend *nb, bool attached);      /* may be NULL */
	void (*close)(struct net_backend *nb);
};

/* The first member of each backend's own struct. */
struct net_backend {
	const struct net_backend_ops *ops;
	struct loop *loop;
	net_rx_fn rx;
	net_rx_burst_end_fn rx_burst_end; /* may be NULL */
	net_rx_direct_fn rx_direct;       /* may be NULL; used by tap */
	void *opaque;
	bool vnet_hdr;
	char ifname[16];                  /* tap */
	int kernel_fd;                    /* tap: its fd; user: -1 */
	uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped; /* atomic */
};

/* Ends a burst of rx calls (see net_set_rx_burst_end). */
static inline void net_rx_burst_done(struct net_backend *nb)
{
	if (nb->rx_burst_end)
		nb->rx_burst_end(nb->opaque);
}

#define NET_STAT_INC(nb, field) __atomic_fetch_add(&(nb)->field, 1, __ATOMIC_RELAXED)

/* Each fills in the common fields itself (net_open validated opts). */
struct net_backend *net_tap_open(const struct net_options *opts, struct loop *loop,
				 net_rx_fn rx, void *opaque);
struct net_backend *net_slirp_open(const struct net_options *opts, struct loop *loop,
				   net_rx_fn rx, void *opaque);
#endif

#endif
