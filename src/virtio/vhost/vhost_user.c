/* vhost-user: the vhost protocol over a UNIX socket to a backend process
 * (QEMU's docs/interop/vhost-user.rst; qemu-storage-daemon, SPDK, DPDK
 * serve it). vhost.c speaks in kernel vhost requests (linux/vhost.h);
 * vhost_user_call() turns each into the matching message -- the payloads
 * of ring state, ring addresses and features have the kernel's layout --
 * passing file descriptors (memory, kick, call, error) as SCM_RIGHTS.
 *
 * The backend is another process, not the guest, but it is not trusted
 * with iovirt's memory safety either, nor with its time: a reply must name
 * the request, carry the reply flag and exactly the payload size that
 * request expects, and all of it must arrive within one deadline for the
 * exchange (vhost_user_timeout_ms, however the bytes trickle in); anything
 * else fails the call and drops the connection (one line logged), which
 * then takes the hang-up path below. The socket is non-blocking: every
 * wait is a poll() for the time the deadline leaves. Requests from a vCPU
 * thread (config writes, interrupt moves) ask for no reply at all, and a
 * reset or DRIVER_OK waits one deadline at most in all (vhost_user_begin).
 * Only a process of iovirt's own user, or root, is talked to
 * (SO_PEERCRED): a stranger at the socket's path never gets guest RAM.
 *
 * A backend that hangs up (it crashed, or is being upgraded) is connected
 * to again every reconnect_s seconds: the new process gets the handshake,
 * the guest RAM table, the in-flight log the old one kept (INFLIGHT_SHMFD:
 * which requests it had taken and not completed, so it resubmits them) and
 * each running ring from the driver's used index. The guest sees its I/O
 * pause, not fail. Without the in-flight log, or with reconnect_s = 0, a
 * hang-up while the rings run makes the device NEEDS_RESET: a new backend
 * could neither know what to resubmit nor avoid completing a request
 * twice. */
#include "virtio/vhost/vhost.h"
#include "virtio/vhost/vhost_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vhost.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/guest_mem_log.h"
#include "core/log.h"

/* Requests (vhost-user.rst, "Front-end message types"). */
enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
};

/* Requests the backend sends ("Back-end message types"). */
enum {
	VU_BACKEND_CONFIG_CHANGE_MSG = 2,
};

/* Feature bits of the protocol, not of the device. */
#define VU_F_PROTOCOL_FEATURES 30 /* in GET_FEATURES: protocol features negotiable */
#define VU_PROTOCOL_F_MQ 0        /* GET_QUEUE_NUM */
#define VU_PROTOCOL_F_LOG_SHMFD 1 /* SET_LOG_BASE with the log's memfd */
#define VU_PROTOCOL_F_REPLY_ACK 3 /* NEED_REPLY honoured */
#define VU_PROTOCOL_F_BACKEND_REQ 5 /* the backend's own requests, on a channel we give it */
#define VU_PROTOCOL_F_CONFIG 9    /* GET_CONFIG / SET_CONFIG */
#define VU_PROTOCOL_F_INFLIGHT_SHMFD 12 /* GET_INFLIGHT_FD / SET_INFLIGHT_FD */

#define VU_VERSION 0x1U
#define VU_FLAG_REPLY (1U << 2)
#define VU_FLAG_NEED_REPLY (1U << 3)
#define VU_VRING_NOFD (1ULL << 8)
#define VU_MAX_REGIONS 8
#define VU_CONFIG_MAX 256

/* Long enough for a backend that drains its in-flight I/O before it
 * answers GET_VRING_BASE; well short of a guest's soft-lockup watchdog
 * (20 s), as a reset or DRIVER_OK waits this long at most. */
unsigned vhost_user_timeout_ms = 5000;
/* How long a request on the backend's own channel may take to arrive
 * once it began (the loop reads it). */
#define VU_BACKEND_REQ_MS 1000

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vu_config {
	uint32_t offset, size, flags;
	uint8_t payload[VU_CONFIG_MAX];
};

/* The in-flight log's place in the fd that comes with it (24 bytes, the
 * tail padded, as backends declare it). */
struct vu_inflight {
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
};

struct vu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct {
			uint32_t nregions, padding;
			struct vu_region regions[VU_MAX_REGIONS];
		} mem;
		struct vu_config config;
		struct vu_inflight inflight;
		struct {
			uint64_t mmap_size, mmap_offset;
		} log;
	} p;
} __attribute__((packed));

#define VU_HDR_SIZE offsetof(struct vu_msg, p)

_Static_assert(sizeof(struct vhost_vring_state) == 8, "vring state layout");
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vring address layout");
_Static_assert(sizeof(struct vu_inflight) == 24, "inflight layout");

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_after(unsigned ms)
{
	return now_ns() + ms * 1000000ULL;
}

/* Waits until fd is ready for events, or -ETIMEDOUT once the deadline
 * has passed. */
static int wait_ready(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t ms = (deadline - now + 999999) / 1000000;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (n > 0)
			return 0; /* ready, or hung up: the read or write says which */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* The connection is out of step or the backend too slow: no more calls,
 * and the shutdown has the loop's hang-up watch (on_hangup) take it as a
 * backend gone. */
static int vu_fail(struct vhost *v, uint32_t request, int err)
{
	/* While the connection is being set up its caller says why it failed. */
	if (v->hup_watched && !v->user_dead && err != -ECONNRESET && err != -EPIPE)
		log_error("%s: vhost-user backend at %s, request %u: %s; dropping the connection",
			  v->vdev->name, v->path, request,
			  err == -ETIMEDOUT ? "no complete reply in time" : strerror(-err));
	v->user_dead = true;
	if (v->fd >= 0)
		shutdown(v->fd, SHUT_RDWR);
	return err;
}

/* Starts an exchange: its deadline, unless an operation has one. */
static int vu_send(struct vhost *v, struct vu_msg *m, const int *fds, unsigned nfds)
{
	struct iovec iov = {.iov_base = m, .iov_len = VU_HDR_SIZE + m->size};
	char control[CMSG_SPACE(VU_MAX_REGIONS * sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	m->flags |= VU_VERSION;
	if (v->user_dead)
		return -ECONNRESET;
	if (!v->op_depth)
		v->deadline_ns = deadline_after(vhost_user_timeout_ms);
	while (iov.iov_len) {
		/* MSG_NOSIGNAL: a backend gone is an error, not SIGPIPE */
		ssize_t n = sendmsg(v->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		int ret = n < 0 ? -errno : 0;
		if (ret == -EAGAIN)
			ret = wait_ready(v->fd, POLLOUT, v->deadline_ns);
		if (ret < 0 && ret != -EINTR)
			return vu_fail(v, m->request, ret);
		if (n <= 0)
			continue;
		/* A part went, and the descriptors with it. */
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			int ret = errno == EINTR    ? 0
				  : errno == EAGAIN ? wait_ready(fd, POLLIN, deadline)
						    : -errno;
			if (ret < 0)
				return ret;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the header's first bytes with recvmsg, for the one file
 * descriptor that may come with them (fd NULL: none may); then the rest.
 * Any other descriptor that came is closed. */
static int read_hdr(int sock, struct vu_msg *m, int *fd, uint64_t deadline)
{
	char control[CMSG_SPACE(VU_MAX_REGIONS * sizeof(int))];
	struct iovec iov = {.iov_base = m, .iov_len = VU_HDR_SIZE};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			    .msg_controllen = sizeof(control)};
	ssize_t n;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0) {
		int ret = errno == EINTR    ? 0
			  : errno == EAGAIN ? wait_ready(sock, POLLIN, deadline)
					    : -errno;
		if (ret < 0)
			return ret;
	}
	if (n == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < nfds; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd && *fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
	return read_full(sock, (uint8_t *)m + n, VU_HDR_SIZE - (size_t)n, deadline);
}

void vhost_user_begin(struct vhost *v, bool no_reply)
{
	if (!v->user || v->op_depth++)
		return;
	v->deadline_ns = deadline_after(vhost_user_timeout_ms);
	v->no_reply = no_reply;
}

void vhost_user_end(struct vhost *v)
{
	if (v->user && v->op_depth && --v->op_depth == 0)
		v->no_reply = false;
}

/* Reads the reply to request, whose payload must be exactly size bytes,
 * by the exchange's deadline; fd (or NULL) takes the descriptor that may
 * come with it (-1: none). After a failure the byte stream cannot be
 * trusted to be in step: the connection counts as gone (vu_fail) and
 * later calls fail at once. */
static int vu_recv_fd(struct vhost *v, uint32_t request, struct vu_msg *m, uint32_t size, int *fd)
{
	if (fd)
		*fd = -1;
	int ret = v->user_dead ? -ECONNRESET : read_hdr(v->fd, m, fd, v->deadline_ns);
	if (ret == 0 && (m->request != request || !(m->flags & VU_FLAG_REPLY) ||
			 m->size != size || size > sizeof(m->p)))
		ret = -EPROTO;
	if (ret == 0)
		ret = read_full(v->fd, &m->p, size, v->deadline_ns);
	if (ret < 0) {
		vu_fail(v, request, ret);
		if (fd && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
	}
	return ret;
}

static int vu_recv(struct vhost *v, uint32_t request, struct vu_msg *m, uint32_t size)
{
	return vu_recv_fd(v, request, m, size, NULL);
}

/* A message without a reply of its own: with REPLY_ACK negotiated the
 * backend confirms it (u64 0 = done), else (or in a no_reply operation)
 * it is taken on trust. */
static int vu_set(struct vhost *v, struct vu_msg *m, const int *fds, unsigned nfds)
{
	bool ack = (v->protocol_features & (1ULL << VU_PROTOCOL_F_REPLY_ACK)) && !v->no_reply;
	if (ack)
		m->flags |= VU_FLAG_NEED_REPLY;
	int ret = vu_send(v, m, fds, nfds);
	if (ret < 0 || !ack)
		return ret;
	uint32_t request = m->request;
	if ((ret = vu_recv(v, request, m, sizeof(m->p.u64))) < 0)
		return ret;
	return m->p.u64 == 0 ? 0 : -EIO;
}

static int vu_get_u64(struct vhost *v, uint32_t request, uint64_t *out)
{
	struct vu_msg m = {.request = request};
	int ret = vu_send(v, &m, NULL, 0);
	if (ret == 0)
		ret = vu_recv(v, request, &m, sizeof(m.p.u64));
	if (ret == 0)
		*out = m.p.u64;
	return ret;
}

static int vu_set_u64(struct vhost *v, uint32_t request, uint64_t value)
{
	struct vu_msg m = {.request = request, .size = sizeof(m.p.u64), .p.u64 = value};
	return vu_set(v, &m, NULL, 0);
}

/* The kernel's memory table as vhost-user's: each region is the guest RAM
 * memfd at an offset, which the backend maps itself. */
static int vu_set_mem_table(struct vhost *v, const struct vhost_memory *table)
{
	const struct guest_mem *mem = v->vdev->mem;
	struct vu_msg m = {.request = VU_SET_MEM_TABLE};
	int fds[VU_MAX_REGIONS];
	if (mem->memfd < 0 || table->nregions > VU_MAX_REGIONS)
		return -EINVAL;
	m.p.mem.nregions = table->nregions;
	for (unsigned i = 0; i < table->nregions; i++) {
		const struct vhost_memory_region *r = &table->regions[i];
		m.p.mem.regions[i] = (struct vu_region){
			.gpa = r->guest_phys_addr,
			.size = r->memory_size,
			.uaddr = r->userspace_addr,
			.mmap_offset = r->userspace_addr - (uint64_t)(uintptr_t)mem->mapping,
		};
		fds[i] = mem->memfd;
	}
	m.size = (uint32_t)(offsetof(struct vu_msg, p.mem.regions) - VU_HDR_SIZE +
			    table->nregions * sizeof(struct vu_region));
	return vu_set(v, &m, fds, table->nregions);
}

static int vu_set_ring_fd(struct vhost *v, uint32_t request, const struct vhost_vring_file *f)
{
	struct vu_msg m = {.request = request, .size = sizeof(m.p.u64), .p.u64 = f->index};
	if (f->fd < 0)
		m.p.u64 |= VU_VRING_NOFD;
	int ret = vu_set(v, &m, &f->fd, f->fd < 0 ? 0 : 1);
	/* With protocol features a ring starts disabled: it runs once it has
	 * its kick, as a kernel ring does. */
	if (ret == 0 && request == VU_SET_VRING_KICK && f->fd >= 0 &&
	    (v->features & (1ULL << VU_F_PROTOCOL_FEATURES))) {
		struct vu_msg e = {.request = VU_SET_VRING_ENABLE, .size = sizeof(e.p.state),
				   .p.state = {.index = f->index, .num = 1}};
		ret = vu_set(v, &e, NULL, 0);
	}
	return ret;
}

int vhost_user_call(struct vhost *v, unsigned long req, void *arg)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	switch (req) {
	case VHOST_SET_OWNER:
		m.request = VU_SET_OWNER;
		return vu_set(v, &m, NULL, 0);
	case VHOST_GET_FEATURES:
		return vu_get_u64(v, VU_GET_FEATURES, arg);
	case VHOST_SET_FEATURES: {
		/* The protocol-features bit stays set once negotiated. */
		uint64_t f = *(uint64_t *)arg |
			     (v->features & (1ULL << VU_F_PROTOCOL_FEATURES));
		return vu_set_u64(v, VU_SET_FEATURES, f);
	}
	case VHOST_SET_MEM_TABLE:
		return vu_set_mem_table(v, arg);
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
		m.request = req == VHOST_SET_VRING_NUM ? VU_SET_VRING_NUM : VU_SET_VRING_BASE;
		m.size = sizeof(m.p.state);
		m.p.state = *(struct vhost_vring_state *)arg;
		return vu_set(v, &m, NULL, 0);
	case VHOST_GET_VRING_BASE: {
		m.request = VU_GET_VRING_BASE;
		m.size = sizeof(m.p.state);
		m.p.state = *(struct vhost_vring_state *)arg;
		int ret = vu_send(v, &m, NULL, 0);
		if (ret == 0)
			ret = vu_recv(v, VU_GET_VRING_BASE, &m, sizeof(m.p.state));
		if (ret == 0)
			((struct vhost_vring_state *)arg)->num = m.p.state.num;
		return ret;
	}
	case VHOST_SET_VRING_ADDR:
		m.request = VU_SET_VRING_ADDR;
		m.size = sizeof(m.p.addr);
		m.p.addr = *(struct vhost_vring_addr *)arg;
		return vu_set(v, &m, NULL, 0);
	case VHOST_SET_VRING_KICK:
		return vu_set_ring_fd(v, VU_SET_VRING_KICK, arg);
	case VHOST_SET_VRING_CALL:
		return vu_set_ring_fd(v, VU_SET_VRING_CALL, arg);
	case VHOST_SET_VRING_ERR:
		return vu_set_ring_fd(v, VU_SET_VRING_ERR, arg);
	default:
		return -ENOTSUP;
	}
}

bool vhost_user_peer_allowed(uid_t peer, uid_t self)
{
	return peer == self || peer == 0;
}

int vhost_user_check_peer(int fd, uid_t *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*peer = cred.uid;
	return vhost_user_peer_allowed(cred.uid, geteuid()) ? 0 : -EPERM;
}

/* A connection to the socket at v->path, non-blocking (every wait is
 * wait_ready's), to a process that may have guest RAM; -EPERM after one
 * line (one while the backend is away) when it may not. */
static int vu_connect(struct vhost *v)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(v->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, v->path, strlen(v->path) + 1);
	/* Non-blocking from the start: a blocking connect() waits for as long
	 * as a listener that never accepts keeps its backlog full, and this
	 * runs on the loop when reconnecting; then it fails with EAGAIN and
	 * the next tick tries again. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	uid_t peer = 0;
	int ret;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		ret = -errno;
	else
		ret = vhost_user_check_peer(fd, &peer);
	if (ret == -EPERM && !v->peer_refused)
		log_error("%s: vhost-user socket %s: the backend runs as uid %u, neither iovirt's "
			  "(%u) nor root; refusing it guest RAM",
			  v->vdev->name, v->path, (unsigned)peer, (unsigned)geteuid());
	v->peer_refused = ret == -EPERM;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The protocol features iovirt uses: more than one queue, a reply to every
 * message, the device's config space, the in-flight log, and a channel for
 * the backend's own requests (config changes). */
#define VU_PROTOCOL_WANTED                                                          \
	((1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_REPLY_ACK) |                 \
	 (1ULL << VU_PROTOCOL_F_LOG_SHMFD) |          \
	 (1ULL << VU_PROTOCOL_F_CONFIG) | (1ULL << VU_PROTOCOL_F_INFLIGHT_SHMFD) | \
	 (1ULL << VU_PROTOCOL_F_BACKEND_REQ))

/* After SET_OWNER and GET_FEATURES on a new connection: agrees on the
 * protocol features (those of want the backend has). */
static int negotiate_protocol(struct vhost *v, uint64_t want)
{
	v->protocol_features = 0; /* nothing agreed on this connection yet */
	if (!(v->features & (1ULL << VU_F_PROTOCOL_FEATURES)))
		return 0;
	uint64_t pf = 0;
	int ret = vu_get_u64(v, VU_GET_PROTOCOL_FEATURES, &pf);
	if (ret == 0)
		ret = vu_set_u64(v, VU_SET_PROTOCOL_FEATURES, pf & want);
	if (ret == 0)
		v->protocol_features = pf & want;
	return ret;
}

/* An fd the loop watches, closed (and -1). */
static void drop_watched_fd(struct vhost *v, int *fd)
{
	if (*fd < 0)
		return;
	loop_del_fd(v->vdev->loop, *fd);
	close(*fd);
	*fd = -1;
}

static void close_backend_channel(struct vhost *v)
{
	drop_watched_fd(v, &v->backend_fd);
}

/* A request from the backend (loop thread). Only a config change is
 * known; anything else is refused when a reply is asked for. A message
 * that is malformed, too large or not all there within
 * VU_BACKEND_REQ_MS of its first byte ends the channel. */
static void on_backend_request(void *opaque, uint32_t events)
{
	struct vhost *v = opaque;
	struct vu_msg m;
	(void)events;
	uint64_t deadline = deadline_after(VU_BACKEND_REQ_MS);
	int ret = read_full(v->backend_fd, &m, VU_HDR_SIZE, deadline);
	if (ret == 0 && m.size > sizeof(m.p))
		ret = -EPROTO;
	if (ret == 0)
		ret = read_full(v->backend_fd, &m.p, m.size, deadline);
	if (ret < 0) {
		if (ret != -ECONNRESET)
			log_error("%s: vhost-user backend request channel: %s; closing it",
				  v->vdev->name, strerror(-ret));
		close_backend_channel(v);
		return;
	}
	bool known = m.request == VU_BACKEND_CONFIG_CHANGE_MSG && v->config_change;
	/* The reply goes first: a backend that waits for it may not answer
	 * the GET_CONFIG the change leads to until it has it. */
	if (m.flags & VU_FLAG_NEED_REPLY) {
		struct vu_msg r = {.request = m.request, .flags = VU_VERSION | VU_FLAG_REPLY,
				   .size = sizeof(r.p.u64), .p.u64 = known ? 0 : 1};
		/* Not waited for: a backend that does not read them loses them. */
		ssize_t n = send(v->backend_fd, &r, VU_HDR_SIZE + r.size,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n; /* a backend gone is seen on the next read */
	}
	if (!known) {
		log_debug("%s: vhost-user backend request %u not supported", v->vdev->name,
			  m.request);
		return;
	}
	pthread_mutex_lock(&v->vdev->lock);
	v->config_change(v);
	pthread_mutex_unlock(&v->vdev->lock);
}

/* With BACKEND_REQ: one end of a socket pair for the backend's requests. */
static int open_backend_channel(struct vhost *v)
{
	if (!(v->protocol_features & (1ULL << VU_PROTOCOL_F_BACKEND_REQ)))
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* Our end only: a request cut short must not hold the loop. */
	struct vu_msg m = {.request = VU_SET_BACKEND_REQ_FD};
	int ret = fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ? -errno : vu_set(v, &m, &sv[1], 1);
	close(sv[1]);
	if (ret == 0)
		ret = loop_add_fd(v->vdev->loop, sv[0], EPOLLIN, on_backend_request, v);
	if (ret < 0) {
		close(sv[0]);
		return ret;
	}
	v->backend_fd = sv[0];
	return 0;
}

static void on_hangup(void *opaque, uint32_t events);

static void watch_hangup(struct vhost *v)
{
	if (loop_add_fd(v->vdev->loop, v->fd, EPOLLRDHUP, on_hangup, v) == 0)
		v->hup_watched = true;
}

static void stop_reconnecting(struct vhost *v)
{
	drop_watched_fd(v, &v->reconnect_timer);
}

/* A new backend process on the socket (fd, connected): the handshake, and
 * the rings where they were. 0; -ENOTSUP: it cannot stand in for the old
 * one (features or queues missing); else a transport error. Lock held. */
static int rejoin(struct vhost *v, int fd)
{
	uint64_t had_features = v->features, had_protocol = v->protocol_features;
	v->fd = fd;
	v->user_dead = false;
	vhost_user_begin(v, false); /* the loop waits one deadline at most */
	struct vu_msg m = {.request = VU_SET_OWNER};
	int ret = vu_send(v, &m, NULL, 0);
	if (ret == 0)
		ret = vu_get_u64(v, VU_GET_FEATURES, &v->features);
	if (ret == 0 && (v->features & had_features) != had_features)
		ret = -ENOTSUP;
	if (ret == 0)
		ret = negotiate_protocol(v, had_protocol);
	if (ret == 0 && v->protocol_features != had_protocol)
		ret = -ENOTSUP;
	unsigned queues = 1;
	if (ret == 0 && (ret = vhost_user_queue_num(v, &queues)) == 0 && queues < v->nq)
		ret = -ENOTSUP;
	if (ret == 0)
		ret = open_backend_channel(v);
	if (ret == 0)
		ret = vhost_resume(v);
	vhost_user_end(v);
	if (ret < 0) {
		close_backend_channel(v);
		v->features = had_features;
		v->protocol_features = had_protocol;
		v->user_dead = true;
		v->fd = -1;
		close(fd);
	}
	return ret;
}

/* Every reconnect_s seconds while the backend is away. */
static void on_reconnect_tick(void *opaque, uint32_t events)
{
	struct vhost *v = opaque;
	uint64_t ticks;
	(void)events;
	if (read(v->reconnect_timer, &ticks, sizeof(ticks)) < 0)
		return;
	int fd = vu_connect(v);
	if (fd < 0)
		return; /* not back yet (or a stranger there) */
	pthread_mutex_lock(&v->vdev->lock);
	int ret = rejoin(v, fd);
	if (ret == 0) {
		stop_reconnecting(v);
		watch_hangup(v);
		v->reconnects++;
		log_info("%s: reconnected to the vhost-user backend at %s%s", v->vdev->name,
			 v->path, v->running ? "; its rings go on where they were" : "");
	} else if (ret == -ENOTSUP) {
		stop_reconnecting(v);
		log_error("%s: the vhost-user backend now at %s lacks features or queues the "
			  "disk has; giving up on it",
			  v->vdev->name, v->path);
		if (v->vdev->live)
			virtio_dev_set_broken(v->vdev, "its vhost-user backend came back different");
	}
	pthread_mutex_unlock(&v->vdev->lock);
}

static int start_reconnecting(struct vhost *v)
{
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t < 0)
		return -errno;
	struct itimerspec its = {.it_value = {.tv_sec = v->reconnect_s},
				 .it_interval = {.tv_sec = v->reconnect_s}};
	int ret = timerfd_settime(t, 0, &its, NULL) < 0 ? -errno : 0;
	if (ret == 0)
		ret = loop_add_fd(v->vdev->loop, t, EPOLLIN, on_reconnect_tick, v);
	if (ret < 0) {
		close(t);
		return ret;
	}
	v->reconnect_timer = t;
	return 0;
}

/* The backend hung up (it exited, crashed or is being restarted). */
static void on_hangup(void *opaque, uint32_t events)
{
	struct vhost *v = opaque;
	(void)events;
	loop_del_fd(v->vdev->loop, v->fd);
	v->hup_watched = false;
	pthread_mutex_lock(&v->vdev->lock);
	v->user_dead = true;
	close_backend_channel(v);
	/* Running rings can be handed to a new backend only with the log of
	 * what the old one had in flight. */
	bool resumable = !v->running || v->inflight_fd >= 0;
	if (v->reconnect_s && resumable && start_reconnecting(v) == 0) {
		close(v->fd);
		v->fd = -1;
		log_error("%s: the vhost-user backend at %s hung up; connecting again every %u s",
			  v->vdev->name, v->path, v->reconnect_s);
	} else {
		log_error("%s: the vhost-user backend at %s hung up%s", v->vdev->name, v->path,
			  v->reconnect_s && !resumable
				  ? " (it keeps no in-flight log, INFLIGHT_SHMFD: its rings cannot "
				    "go to a new one)"
				  : "");
		if (v->vdev->live)
			virtio_dev_set_broken(v->vdev, "its vhost-user backend is gone");
	}
	pthread_mutex_unlock(&v->vdev->lock);
}

static int user_init(struct vhost *v, const char *path, struct virtio_dev *vdev, unsigned first,
		     unsigned nq, unsigned reconnect_s)
{
	vhost_init(v, vdev, first, nq);
	v->user = true;
	v->reconnect_s = reconnect_s;
	snprintf(v->path, sizeof(v->path), "%s", path);
	if (vdev->mem->memfd < 0) {
		log_error("%s: vhost-user needs guest RAM the backend can map (a shared memfd)",
			  vdev->name);
		return -EINVAL;
	}
	return 0;
}

/* The handshake on a new connection (fd, taken), and the watch for its
 * hang-up. */
static int handshake(struct vhost *v, int fd)
{
	v->fd = fd;
	int ret = vhost_setup(v, v->path);
	if (ret < 0)
		return ret;
	if ((ret = negotiate_protocol(v, VU_PROTOCOL_WANTED)) < 0 ||
	    (ret = open_backend_channel(v)) < 0) {
		log_error("%s: %s: negotiating vhost-user protocol features: %s", v->vdev->name,
			  v->path, strerror(-ret));
		vhost_close(v);
		return ret;
	}
	watch_hangup(v);
	return 0;
}

int vhost_user_open(struct vhost *v, const char *path, struct virtio_dev *vdev, unsigned first,
		    unsigned nq, unsigned reconnect_s)
{
	int ret = user_init(v, path, vdev, first, nq, reconnect_s);
	if (ret < 0)
		return ret;
	int fd = vu_connect(v);
	if (fd < 0) {
		if (fd != -EPERM) /* that one is logged */
			log_error("%s: vhost-user socket %s: %s", vdev->name, path, strerror(-fd));
		return fd;
	}
	return handshake(v, fd);
}

int vhost_user_open_fd(struct vhost *v, int fd, const char *path, struct virtio_dev *vdev,
		       unsigned first, unsigned nq, unsigned reconnect_s)
{
	int ret = user_init(v, path, vdev, first, nq, reconnect_s);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return handshake(v, fd);
}

void vhost_user_unwatch(struct vhost *v)
{
	if (v->hup_watched)
		loop_del_fd(v->vdev->loop, v->fd);
	v->hup_watched = false;
	stop_reconnecting(v);
	close_backend_channel(v);
}

bool vhost_user_away(const struct vhost *v)
{
	return v->user && v->reconnect_timer >= 0;
}

bool vhost_user_can_log(const struct vhost *v)
{
	return (v->protocol_features & (1ULL << VU_PROTOCOL_F_LOG_SHMFD)) &&
	       (v->features & (1ULL << VHOST_F_LOG_ALL));
}

int vhost_user_set_log_base(struct vhost *v)
{
	const struct guest_mem *mem = v->vdev->mem;
	size_t bytes;
	if (!guest_mem_log_bitmap(mem, &bytes) || mem->log_fd < 0)
		return -EINVAL;
	struct vu_msg m = {.request = VU_SET_LOG_BASE, .size = sizeof(m.p.log),
			   .p.log = {.mmap_size = bytes, .mmap_offset = 0}};
	/* With LOG_SHMFD the backend always answers (libvhost-user with a
	 * u64, the spec with nothing): one reply, whatever its length. */
	int ret = vu_send(v, &m, &mem->log_fd, 1);
	if (ret == 0)
		ret = v->user_dead ? -ECONNRESET : read_hdr(v->fd, &m, NULL, v->deadline_ns);
	if (ret == 0 && (m.request != VU_SET_LOG_BASE || !(m.flags & VU_FLAG_REPLY) ||
			 m.size > sizeof(m.p.u64)))
		ret = -EPROTO;
	if (ret == 0)
		ret = read_full(v->fd, &m.p, m.size, v->deadline_ns);
	if (ret < 0)
		vu_fail(v, VU_SET_LOG_BASE, ret);
	return ret;
}

int vhost_user_set_inflight(struct vhost *v)
{
	if (!(v->protocol_features & (1ULL << VU_PROTOCOL_F_INFLIGHT_SHMFD)))
		return 0;
	/* One log for the queues this serves, each as large as the ring can
	 * be (the driver may pick a smaller one). */
	struct vu_inflight want = {.num_queues = (uint16_t)v->nq,
				   .queue_size = v->vdev->queues[v->first].max_size};
	struct vu_msg m = {.request = VU_GET_INFLIGHT_FD, .size = sizeof(want), .p.inflight = want};
	if (v->inflight_fd < 0) {
		int fd = -1;
		int ret = vu_send(v, &m, NULL, 0);
		if (ret == 0)
			ret = vu_recv_fd(v, VU_GET_INFLIGHT_FD, &m, sizeof(m.p.inflight), &fd);
		if (ret == 0 && (fd < 0 || m.p.inflight.mmap_size == 0)) {
			if (fd >= 0)
				close(fd);
			ret = -EPROTO;
		}
		if (ret < 0)
			return ret;
		v->inflight_fd = fd;
		v->inflight_size = m.p.inflight.mmap_size;
		v->inflight_offset = m.p.inflight.mmap_offset;
	}
	memset(&m, 0, sizeof(m));
	m.request = VU_SET_INFLIGHT_FD;
	m.size = sizeof(m.p.inflight);
	m.p.inflight = want;
	m.p.inflight.mmap_size = v->inflight_size;
	m.p.inflight.mmap_offset = v->inflight_offset;
	return vu_set(v, &m, &v->inflight_fd, 1);
}

void vhost_user_drop_inflight(struct vhost *v)
{
	if (v->inflight_fd >= 0)
		close(v->inflight_fd);
	v->inflight_fd = -1;
	v->inflight_size = v->inflight_offset = 0;
}

int vhost_user_queue_num(struct vhost *v, unsigned *n)
{
	if (!(v->protocol_features & (1ULL << VU_PROTOCOL_F_MQ))) {
		*n = 1;
		return 0;
	}
	uint64_t q = 0;
	int ret = vu_get_u64(v, VU_GET_QUEUE_NUM, &q);
	if (ret == 0 && q == 0)
		ret = -EPROTO;
	if (ret == 0)
		*n = q > 0xffff ? 0xffff : (unsigned)q;
	return ret;
}

/* A GET_CONFIG or SET_CONFIG message for len bytes at offset of the
 * device's config space. */
static int vu_config_msg(const struct vhost *v, struct vu_msg *m, uint32_t request,
			 unsigned offset, unsigned len)
{
	if (!(v->protocol_features & (1ULL << VU_PROTOCOL_F_CONFIG)))
		return -ENOTSUP;
	if (len > VU_CONFIG_MAX)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->request = request;
	m->size = (uint32_t)(offsetof(struct vu_config, payload) + len);
	m->p.config.offset = offset;
	m->p.config.size = len;
	return 0;
}

int vhost_user_get_config(struct vhost *v, void *buf, unsigned len)
{
	struct vu_msg m;
	int ret = vu_config_msg(v, &m, VU_GET_CONFIG, 0, len);
	if (ret == 0)
		ret = vu_send(v, &m, NULL, 0);
	if (ret == 0)
		ret = vu_recv(v, VU_GET_CONFIG, &m, (uint32_t)(offsetof(struct vu_config, payload) + len));
	if (ret == 0 && m.p.config.size != len)
		ret = -EPROTO;
	if (ret == 0)
		memcpy(buf, m.p.config.payload, len);
	return ret;
}

int vhost_user_set_config(struct vhost *v, unsigned offset, const void *buf, unsigned len)
{
	struct vu_msg m;
	int ret = vu_config_msg(v, &m, VU_SET_CONFIG, offset, len);
	if (ret < 0)
		return ret;
	memcpy(m.p.config.payload, buf, len);
	/* From a vCPU thread: nothing waited for but the send. */
	vhost_user_begin(v, true);
	ret = vu_set(v, &m, NULL, 0);
	vhost_user_end(v);
	return ret;
}
