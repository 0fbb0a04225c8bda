/* The tap backend: a host tap device (/dev/net/tun, IFF_TAP|IFF_NO_PI),
 * optionally with IFF_VNET_HDR so that checksum/segmentation offloads pass
 * through as a 12-byte virtio_net_hdr_v1 in front of each frame. With
 * IFF_MULTI_QUEUE each backend is one queue of the tap (a file descriptor
 * of its own; the kernel steers a flow to the queue it was last sent on).
 *
 * TX: writev() on the non-blocking fd, from any thread (a write to a tun fd
 * is one atomic frame). RX: on EPOLLIN the loop thread reads frames straight
 * into the device's buffers when it lends them (zero copy: readv() into
 * guest memory), else into one per-backend buffer handed to rx; when rx
 * refuses, the frame stays in the buffer, EPOLLIN is switched off, and an
 * eventfd written by net_rx_resume() brings the loop back to retry it.
 * A queue of a multiqueue tap can be detached (TUNSETQUEUE): the kernel
 * steers nothing to it and its fd reports an error, so the loop stops
 * watching it until it is attached again. */
#define IOVIRT_NET_BACKEND_IMPL
#include "backends/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

/* Frames read per EPOLLIN callback before letting other fds run. */
#define TAP_RX_BUDGET 64
#define TAP_BUF_LEN (NET_VNET_HDR_LEN + NET_MAX_FRAME)

_Static_assert(sizeof(((struct net_backend *)0)->ifname) == IFNAMSIZ, "ifname size");

struct net_tap {
	struct net_backend nb;
	int fd;
	int resume_fd;       /* eventfd: net_rx_resume() */
	bool fd_added, resume_added;
	bool paused;         /* EPOLLIN off: rx refused buf */
	bool detached;       /* a multiqueue tap's queue taken out (TUNSETQUEUE);
			      * atomic: set from any thread */
	bool dead;           /* the tap reported an error or hang-up */
	bool kernel_datapath; /* vhost reads and writes fd: the loop never does */
	int tx_err_logged, rx_err_logged; /* log each kind of failure once */
	size_t held_len;     /* a frame sits in buf (0: none) */
	unsigned char buf[TAP_BUF_LEN];
};

static struct net_tap *to_tap(struct net_backend *nb)
{
	return (struct net_tap *)nb;
}

static int tap_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	struct net_tap *t = to_tap(nb);
	ssize_t n;

	do
		n = writev(t->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;
		NET_STAT_INC(nb, tx_dropped);
		if (err != EAGAIN && err != EWOULDBLOCK) {
			/* EIO: the interface is down; others: tap gone, bad frame. */
			if (!__atomic_exchange_n(&t->tx_err_logged, 1, __ATOMIC_RELAXED))
				log_warn("%s: write: %s (frames are dropped)", t->nb.ifname, strerror(err));
			return -err;
		}
		return -EAGAIN;
	}
	NET_STAT_INC(nb, tx_frames);
	return 0;
}

static bool tap_detached(const struct net_tap *t)
{
	return __atomic_load_n(&t->detached, __ATOMIC_ACQUIRE);
}

/* A read that got no frame: nothing there yet (EAGAIN), or a failure,
 * logged once. */
static void tap_read_failed(struct net_tap *t, int err)
{
	if (err == EBADFD && tap_detached(t))
		return; /* detached by another thread while we read */
	if (err != EAGAIN && err != EWOULDBLOCK && !t->rx_err_logged) {
		t->rx_err_logged = 1;
		log_warn("%s: read: %s", t->nb.ifname, strerror(err));
	}
}

/* What the loop waits for on fd: frames, unless rx refused the one held
 * (the resume eventfd brings it back) or the queue is detached. Loop
 * thread. */
static void tap_watch(struct net_tap *t)
{
	if (t->fd_added)
		loop_mod_fd(t->nb.loop, t->fd, t->paused || tap_detached(t) ? 0 : EPOLLIN);
}

static ssize_t tap_read_frame(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct net_tap *t = ctx;
	ssize_t n = readv(t->fd, iov, iovcnt);
	return n < 0 ? -errno : n;
}

/* Delivers the held frame, then reads more: at most TAP_RX_BUDGET frames.
 * Returns how many the device took. A frame goes straight into the device's
 * buffers when it lends them (net_rx_direct_fn), else through buf. */
static unsigned tap_receive_burst(struct net_tap *t)
{
	unsigned delivered = 0;
	for (int budget = TAP_RX_BUDGET; budget > 0 && !t->dead; budget--) {
		if (tap_detached(t) && !t->held_len)
			break; /* a detached queue's fd has nothing to read */
		if (!t->held_len && t->nb.rx_direct) {
			ssize_t n = t->nb.rx_direct(t->nb.opaque, tap_read_frame, t);
			if (n > 0) {
				delivered++;
				NET_STAT_INC(&t->nb, rx_frames);
				continue;
			}
			if (n == -EINTR)
				continue;
			if (n < 0) {
				tap_read_failed(t, (int)-n);
				return delivered;
			}
			/* 0: no buffers lent; read into buf below. */
		}
		if (!t->held_len) {
			ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
			if (n < 0) {
				if (errno == EINTR)
					continue;
				tap_read_failed(t, errno);
				return delivered;
			}
			size_t min = t->nb.vnet_hdr ? NET_VNET_HDR_LEN : 0;
			if ((size_t)n <= min) {
				NET_STAT_INC(&t->nb, rx_dropped);
				continue;
			}
			t->held_len = (size_t)n;
		}
		struct iovec iov = {.iov_base = t->buf, .iov_len = t->held_len};
		if (!t->nb.rx(t->nb.opaque, &iov, 1, t->held_len)) {
			if (!t->paused) {
				t->paused = true;
				tap_watch(t);
			}
			return delivered;
		}
		t->held_len = 0;
		delivered++;
		NET_STAT_INC(&t->nb, rx_frames);
		if (t->paused) {
			t->paused = false;
			tap_watch(t);
		}
	}
	return delivered;
}

static void tap_receive(struct net_tap *t)
{
	if (tap_receive_burst(t))
		net_rx_burst_done(&t->nb);
}

static void tap_event(void *opaque, uint32_t events)
{
	struct net_tap *t = opaque;

	if (tap_detached(t)) {
		/* Detached by another thread after the loop last looked: a
		 * detached queue's fd reports an error. Not a failure. */
		tap_watch(t);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The device went away under us: stop watching it (no busy loop);
		 * sends will fail and be counted. */
		log_error("%s: the tap device reported %s; receive stopped", t->nb.ifname,
			  events & EPOLLHUP ? "a hang-up" : "an error");
		t->dead = true;
		loop_del_fd(t->nb.loop, t->fd);
		t->fd_added = false;
		return;
	}
	if (!t->paused)
		tap_receive(t);
}

static void tap_resume_event(void *opaque, uint32_t events)
{
	struct net_tap *t = opaque;
	uint64_t v;

	if (read(t->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	tap_watch(t); /* after an attach: watch fd again */
	if (t->paused)
		tap_receive(t);
}

static void tap_rx_resume(struct net_backend *nb)
{
	uint64_t one = 1;
	if (to_tap(nb)->kernel_datapath)
		return; /* nothing held: the kernel moves the frames */
	ssize_t r = write(to_tap(nb)->resume_fd, &one, sizeof(one));
	(void)r; /* EAGAIN: the counter is saturated, a wake-up is pending */
}

static int tap_set_offloads(struct net_backend *nb, unsigned tun_flags)
{
	struct net_tap *t = to_tap(nb);

	if (!nb->vnet_hdr)
		return tun_flags ? -ENOTSUP : 0;
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0)
		return -errno;
	return 0;
}

/* From any thread (the device's, with its lock held: one caller at a
 * time). Detaching stops the loop's watch at once; attaching wakes the
 * loop thread, which watches fd again (only it knows whether rx is
 * paused). A frame held when the queue goes is still delivered on resume. */
static int tap_set_attached(struct net_backend *nb, bool attached)
{
	struct net_tap *t = to_tap(nb);
	if (tap_detached(t) == !attached)
		return 0; /* the kernel refuses to do it twice (EINVAL) */
	if (!attached) /* first: an error the loop sees from now on is this */
		__atomic_store_n(&t->detached, true, __ATOMIC_RELEASE);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(t->fd, TUNSETQUEUE, &ifr) < 0) {
		int err = errno;
		if (!attached) /* still attached */
			__atomic_store_n(&t->detached, false, __ATOMIC_RELEASE);
		return -err;
	}
	if (attached) {
		__atomic_store_n(&t->detached, false, __ATOMIC_RELEASE);
		tap_rx_resume(nb);
	} else if (t->fd_added) {
		loop_mod_fd(nb->loop, t->fd, 0);
	}
	return 0;
}

static void tap_close(struct net_backend *nb)
{
	struct net_tap *t = to_tap(nb);

	if (t->fd_added)
		loop_del_fd(nb->loop, t->fd);
	if (t->resume_added)
		loop_del_fd(nb->loop, t->resume_fd);
	if (t->fd >= 0)
		close(t->fd);
	if (t->resume_fd >= 0)
		close(t->resume_fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.rx_resume = tap_rx_resume,
	.set_offloads = tap_set_offloads,
	.set_attached = tap_set_attached,
	.close = tap_close,
};

static const char *tunsetiff_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (needs CAP_NET_ADMIN, or a persistent tap owned by this user)";
	case EBUSY:
		return " (in use by another process?)";
	case EINVAL:
		return " (is it a tun device, or a tap with other flags? queues=N needs a tap "
		       "created with multi_queue, or none)";
	default:
		return "";
	}
}

struct net_backend *net_tap_open(const struct net_options *opts, struct loop *loop,
				 net_rx_fn rx, void *opaque)
{
	const char *name = opts->ifname;
	struct net_tap *t = calloc(1, sizeof(*t));
	struct ifreq ifr;
	int err;

	if (!t) {
		log_error("%s: out of memory", name);
		return NULL;
	}
	t->nb = (struct net_backend){
		.ops = &tap_ops, .loop = loop, .rx = rx, .opaque = opaque,
		.vnet_hdr = opts->vnet_hdr, .kernel_fd = -1,
	};
	t->resume_fd = -1;
	snprintf(t->nb.ifname, sizeof(t->nb.ifname), "%s", name);

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_error("%s: /dev/net/tun: %s", name, strerror(errno));
		goto fail;
	}
	if (opts->vnet_hdr) {
		unsigned features = 0;
		if (ioctl(t->fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
			log_error("%s: the kernel's tun driver lacks IFF_VNET_HDR", name);
			goto fail;
		}
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (opts->vnet_hdr ? IFF_VNET_HDR : 0) |
			(opts->multi_queue ? IFF_MULTI_QUEUE : 0);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		log_error("%s: TUNSETIFF: %s%s", name, strerror(err), tunsetiff_hint(err));
		goto fail;
	}
	/* A template name ("tap%d") comes back filled in. */
	snprintf(t->nb.ifname, sizeof(t->nb.ifname), "%s", ifr.ifr_name);
	if (opts->vnet_hdr) {
		int hdr_len = NET_VNET_HDR_LEN;
		if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
			log_error("%s: TUNSETVNETHDRSZ %d: %s", t->nb.ifname, hdr_len, strerror(errno));
			goto fail;
		}
		if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)opts->offloads) < 0) {
			log_error("%s: TUNSETOFFLOAD %#x: %s", t->nb.ifname, opts->offloads,
				  strerror(errno));
			goto fail;
		}
	} else if (opts->offloads) {
		log_error("%s: offloads need the vnet header", t->nb.ifname);
		goto fail;
	}

	t->resume_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->resume_fd < 0) {
		log_error("%s: eventfd: %s", t->nb.ifname, strerror(errno));
		goto fail;
	}
	err = loop_add_fd(loop, t->resume_fd, EPOLLIN, tap_resume_event, t);
	if (err) {
		log_error("%s: event loop: %s", t->nb.ifname, strerror(-err));
		goto fail;
	}
	t->resume_added = true;
	t->nb.kernel_fd = t->fd;
	t->kernel_datapath = opts->kernel_datapath;
	if (t->kernel_datapath)
		return &t->nb;
	err = loop_add_fd(loop, t->fd, EPOLLIN, tap_event, t);
	if (err) {
		log_error("%s: event loop: %s", t->nb.ifname, strerror(-err));
		goto fail;
	}
	t->fd_added = true;
	return &t->nb;

fail:
	tap_close(&t->nb);
	return NULL;
}
