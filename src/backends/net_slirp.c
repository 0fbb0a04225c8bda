/* The user-mode backend: libslirp gives the guest QEMU's "-net user" network
 * (10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15) with
 * host sockets behind it and no privileges needed.
 *
 * All slirp calls run on the loop thread. How slirp is driven from epoll:
 *  - After every slirp entry point, slirp_pollfds_fill() reports the sockets
 *    it wants watched and the longest it may sleep (at most 1 s; 2 ms while
 *    TCP has a delayed ACK pending). The sockets go into a private epoll set
 *    whose one fd is registered with the loop (so slirp's fd numbers never
 *    touch the loop's handler list), updated by difference; the sleep limit
 *    and slirp's own timers arm one timerfd (re-arming clears its readiness).
 *  - When the private set or the timerfd wakes the loop, a cycle runs:
 *    queued TX frames go to slirp_input(), poll(fds, 0) reads the exact
 *    revents for the fill's indexes, slirp_pollfds_poll() consumes them (and
 *    runs slirp's TCP timers), due slirp timers fire, and the fill is redone.
 *  - net_send() may come from any thread (the e1000 transmits on a vCPU), so
 *    it copies the frame into a bounded queue and kicks an eventfd; the same
 *    eventfd carries net_rx_resume().
 *  - Frames for the guest go straight to rx; a refused frame (and any frame
 *    after it, to keep order) waits in a bounded queue until net_rx_resume();
 *    beyond the bound they are dropped and counted (TCP retransmits). */
#define IOVIRT_NET_BACKEND_IMPL
#include "backends/net.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <libslirp.h>

#include "core/log.h"
#include "core/loop.h"

#define SLIRP_TX_QUEUE 256 /* frames from net_send not yet given to slirp */
#define SLIRP_RX_QUEUE 64  /* frames for the guest while rx refuses */

struct frame {
	struct frame *next;
	size_t len;
	unsigned char data[];
};

struct fifo {
	struct frame *head, **tail;
	unsigned count;
};

/* slirp >= 4.7 with SlirpConfig version 4 creates its timers through
 * timer_new_opaque (4.7 has one, for IPv6 router advertisements); they fire
 * through slirp_handle_timer(). */
#define SLIRP_TIMERS 4
struct slirp_timer {
	bool used, armed;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
};

struct watch { uint32_t want, reg; }; /* per fd: what slirp wants, what epoll has */

enum { FD_EPOLL, FD_TIMER, FD_KICK, NFDS };

struct net_slirp {
	struct net_backend nb;
	Slirp *slirp;
	int fd[NFDS];        /* private epoll set, timerfd, eventfd */
	struct pollfd *pfds; /* the last slirp_pollfds_fill; index = slirp's idx */
	unsigned npfds, pfds_cap;
	struct watch *w;     /* indexed by fd number */
	unsigned nw;
	struct slirp_timer timers[SLIRP_TIMERS];
	bool ctl_error_logged;
	int resume_pending;  /* atomic: net_rx_resume() was called */
	pthread_mutex_t tx_lock;
	struct fifo txq;     /* under tx_lock */
	struct fifo rxq;     /* loop thread only */
};

static int64_t now_ns(void *unused)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fifo_push(struct fifo *q, struct frame *f)
{
	f->next = NULL;
	*q->tail = f;
	q->tail = &f->next;
	q->count++;
}

static void frames_free(struct frame *f)
{
	for (struct frame *next; f; f = next) {
		next = f->next;
		free(f);
	}
}

static void kick(struct net_slirp *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->fd[FD_KICK], &one, sizeof(one));
	(void)r; /* EAGAIN: saturated, a wake-up is pending anyway */
}

static void watch_ctl(struct net_slirp *s, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	int op = !events ? EPOLL_CTL_DEL : s->w[fd].reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int ret = epoll_ctl(s->fd[FD_EPOLL], op, fd, &ev);

	/* A stale view (an fd number slirp closed and reused): the other way. */
	if (ret < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
		ret = epoll_ctl(s->fd[FD_EPOLL], EPOLL_CTL_ADD, fd, &ev);
	else if (ret < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
		ret = epoll_ctl(s->fd[FD_EPOLL], EPOLL_CTL_MOD, fd, &ev);
	if (ret < 0 && op != EPOLL_CTL_DEL && !s->ctl_error_logged) {
		s->ctl_error_logged = true; /* it is still polled on each tick */
		log_warn("user: epoll_ctl(slirp fd %d): %s", fd, strerror(errno));
	}
	s->w[fd].reg = events;
}

/* Makes the private epoll set match what the fill asked for. The table is
 * as long as slirp's highest fd number: a short scan. */
static void watch_sync(struct net_slirp *s)
{
	for (unsigned fd = 0; fd < s->nw; fd++) {
		if (s->w[fd].want != s->w[fd].reg)
			watch_ctl(s, (int)fd, s->w[fd].want);
		s->w[fd].want = 0;
	}
}

_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLPRI == POLLPRI, "epoll bits");

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *s = opaque;
	if (fd < 0)
		return -1;
	if ((unsigned)fd >= s->nw) {
		unsigned n = (unsigned)fd + 64;
		struct watch *w = realloc(s->w, n * sizeof(*w));
		if (!w)
			return -1; /* slirp leaves this fd out this time */
		memset(w + s->nw, 0, (n - s->nw) * sizeof(*w));
		s->w = w;
		s->nw = n;
	}
	if (s->npfds == s->pfds_cap) {
		unsigned cap = s->pfds_cap ? s->pfds_cap * 2 : 32;
		struct pollfd *p = realloc(s->pfds, cap * sizeof(*p));
		if (!p)
			return -1;
		s->pfds = p;
		s->pfds_cap = cap;
	}
	short ev = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
			   (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
			   (events & SLIRP_POLL_PRI ? POLLPRI : 0));
	s->pfds[s->npfds] = (struct pollfd){.fd = fd, .events = ev};
	s->w[fd].want |= (uint32_t)ev; /* a duplicate fd merges */
	return (int)s->npfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct net_slirp *s = opaque;
	if (idx < 0 || (unsigned)idx >= s->npfds)
		return 0;
	short r = s->pfds[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* slirp announces a new socket (an older one with its number is gone) or a
 * socket it is about to close. */
static void cb_register_poll_fd(int fd, void *opaque)
{
	struct net_slirp *s = opaque;
	if (fd >= 0 && (unsigned)fd < s->nw)
		s->w[fd].reg = 0;
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct net_slirp *s = opaque;
	if (fd >= 0 && (unsigned)fd < s->nw && s->w[fd].reg)
		watch_ctl(s, fd, 0);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_slirp *s = opaque;
	for (int i = 0; i < SLIRP_TIMERS; i++) {
		if (!s->timers[i].used) {
			s->timers[i] = (struct slirp_timer){.used = true, .id = id, .cb_opaque = cb_opaque};
			return &s->timers[i];
		}
	}
	log_error("user: libslirp wants more than %d timers", SLIRP_TIMERS);
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	if (timer)
		*(struct slirp_timer *)timer = (struct slirp_timer){0};
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;
	if (t && t->used) {
		t->armed = true;
		t->expire_ms = expire_ms; /* the timerfd is re-armed when slirp returns */
	}
}

static void timers_run(struct net_slirp *s)
{
	int64_t now = now_ns(NULL) / 1000000;
	for (int i = 0; i < SLIRP_TIMERS; i++) {
		struct slirp_timer *t = &s->timers[i];
		if (t->armed && t->expire_ms <= now) {
			t->armed = false;
			slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
		}
	}
}

/* Asks slirp what to watch and for how long; done after every slirp entry. */
static void slirp_refill(struct net_slirp *s)
{
	uint32_t timeout = UINT32_MAX;
	int64_t deadline = INT64_MAX;
	struct itimerspec its = {{0, 0}, {0, 0}};

	s->npfds = 0;
	slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
	watch_sync(s);
	if (timeout != UINT32_MAX)
		deadline = now_ns(NULL) + (int64_t)timeout * 1000000;
	for (int i = 0; i < SLIRP_TIMERS; i++)
		if (s->timers[i].armed && s->timers[i].expire_ms < deadline / 1000000)
			deadline = s->timers[i].expire_ms * 1000000;
	if (deadline != INT64_MAX) {
		if (deadline <= 0)
			deadline = 1; /* 0 would disarm; a past time fires at once */
		its.it_value.tv_sec = deadline / 1000000000;
		its.it_value.tv_nsec = deadline % 1000000000;
	}
	timerfd_settime(s->fd[FD_TIMER], TFD_TIMER_ABSTIME, &its, NULL);
}

static void slirp_cycle(struct net_slirp *s)
{
	int ret = 0;

	/* Take what is queued now (senders may keep adding: bounded work). */
	pthread_mutex_lock(&s->tx_lock);
	struct frame *f = s->txq.head;
	s->txq = (struct fifo){.tail = &s->txq.head};
	pthread_mutex_unlock(&s->tx_lock);
	for (struct frame *g = f; g; g = g->next)
		slirp_input(s->slirp, g->data, (int)g->len);
	frames_free(f);
	if (s->npfds) {
		do
			ret = poll(s->pfds, s->npfds, 0);
		while (ret < 0 && errno == EINTR);
	}
	slirp_pollfds_poll(s->slirp, ret < 0, cb_get_revents, s);
	timers_run(s);
	slirp_refill(s);
}

/* Hands held frames to the device while it takes them. */
static void rx_flush(struct net_slirp *s)
{
	struct frame *f;
	while ((f = s->rxq.head)) {
		struct iovec iov = {.iov_base = f->data, .iov_len = f->len};
		if (!s->nb.rx(s->nb.opaque, &iov, 1, f->len))
			break;
		NET_STAT_INC(&s->nb, rx_frames);
		s->rxq.head = f->next;
		if (!s->rxq.head)
			s->rxq.tail = &s->rxq.head;
		s->rxq.count--;
		free(f);
	}
	net_rx_burst_done(&s->nb);
}

/* The private epoll set or the timerfd (whose refill re-arms it). */
static void slirp_event(void *opaque, uint32_t events)
{
	slirp_cycle(opaque);
}

static void slirp_kick_event(void *opaque, uint32_t events)
{
	struct net_slirp *s = opaque;
	uint64_t v;
	if (read(s->fd[FD_KICK], &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("user: eventfd: %s", strerror(errno));
	if (__atomic_exchange_n(&s->resume_pending, 0, __ATOMIC_ACQ_REL))
		rx_flush(s);
	slirp_cycle(s);
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *s = opaque;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	if (!s->rxq.count && s->nb.rx(s->nb.opaque, &iov, 1, len)) {
		NET_STAT_INC(&s->nb, rx_frames);
		/* slirp may call this from inside net_send: no burst to wait for. */
		net_rx_burst_done(&s->nb);
		return (ssize_t)len;
	}
	struct frame *f = s->rxq.count < SLIRP_RX_QUEUE ? malloc(sizeof(*f) + len) : NULL;
	if (!f) {
		NET_STAT_INC(&s->nb, rx_dropped);
		return (ssize_t)len;
	}
	f->len = len;
	memcpy(f->data, buf, len);
	fifo_push(&s->rxq, f);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	log_guest_error("user network", "%s", msg);
}

/* Socket buffer space freed up and slirp wants another poll. This runs
 * inside a slirp call, which a refill follows; the kick adds a cycle. */
static void cb_notify(void *opaque)
{
	kick(opaque);
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = now_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static int slirp_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	struct net_slirp *s = (struct net_slirp *)nb;
	size_t len = 0, off = 0;
	bool was_empty, queued;
	struct frame *f;
	for (int i = 0; i < iovcnt; len += iov[i++].iov_len)
		if (iov[i].iov_len > NET_MAX_FRAME - len)
			return NET_STAT_INC(nb, tx_dropped), -EMSGSIZE;
	if (!(f = malloc(sizeof(*f) + len)))
		return NET_STAT_INC(nb, tx_dropped), -ENOMEM;
	f->len = len;
	for (int i = 0; i < iovcnt; off += iov[i++].iov_len)
		if (iov[i].iov_len)
			memcpy(f->data + off, iov[i].iov_base, iov[i].iov_len);
	pthread_mutex_lock(&s->tx_lock);
	was_empty = s->txq.count == 0;
	if ((queued = s->txq.count < SLIRP_TX_QUEUE))
		fifo_push(&s->txq, f);
	pthread_mutex_unlock(&s->tx_lock);
	if (!queued) {
		free(f);
		return NET_STAT_INC(nb, tx_dropped), -EAGAIN;
	}
	NET_STAT_INC(nb, tx_frames);
	if (was_empty)
		kick(s);
	return 0;
}

static void slirp_rx_resume(struct net_backend *nb)
{
	struct net_slirp *s = (struct net_slirp *)nb;
	__atomic_store_n(&s->resume_pending, 1, __ATOMIC_RELEASE);
	kick(s);
}

static void slirp_close(struct net_backend *nb)
{
	struct net_slirp *s = (struct net_slirp *)nb;
	for (int i = 0; i < NFDS; i++) /* ENOENT if never added: the fd is ours */
		if (s->fd[i] >= 0)
			loop_del_fd(nb->loop, s->fd[i]);
	if (s->slirp)
		slirp_cleanup(s->slirp); /* frees its timers, unregisters its fds */
	for (int i = 0; i < NFDS; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	frames_free(s->txq.head);
	frames_free(s->rxq.head);
	free(s->pfds);
	free(s->w);
	pthread_mutex_destroy(&s->tx_lock);
	free(s);
}

static const struct net_backend_ops slirp_ops = {
	.send = slirp_send,
	.rx_resume = slirp_rx_resume,
	.close = slirp_close,
};

static int add_hostfwd(struct net_slirp *s, const char *rule)
{
	struct net_hostfwd f;
	char host[INET_ADDRSTRLEN] = "?";
	if (net_parse_hostfwd(rule, &f))
		return log_error("user: bad hostfwd '%s'", rule), -EINVAL;
	inet_ntop(AF_INET, &f.host_addr, host, sizeof(host));
	errno = EADDRINUSE; /* slirp keeps bind()'s errno, in case it does not */
	if (slirp_add_hostfwd(s->slirp, f.udp, (struct in_addr){f.host_addr}, f.host_port,
			      (struct in_addr){f.guest_addr}, f.guest_port) < 0) {
		log_error("user: hostfwd %s: cannot listen on %s %s:%u: %s", rule,
			  f.udp ? "udp" : "tcp", host, f.host_port, strerror(errno));
		return -EADDRINUSE;
	}
	return 0;
}

#define IP4(a, b, c, d) {.s_addr = htonl((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))}
#define FEC0(last) {.s6_addr = {0xfe, 0xc0, [15] = (last)}}

struct net_backend *net_slirp_open(const struct net_options *opts, struct loop *loop,
				   net_rx_fn rx, void *opaque)
{
	static const loop_fd_cb handlers[NFDS] = {slirp_event, slirp_event, slirp_kick_event};
	/* QEMU's defaults for -netdev user. */
	const SlirpConfig cfg = {
		.version = 4,
		.in_enabled = true, .vnetwork = IP4(10, 0, 2, 0), .vnetmask = IP4(255, 255, 255, 0),
		.vhost = IP4(10, 0, 2, 2), .vdhcp_start = IP4(10, 0, 2, 15),
		.vnameserver = IP4(10, 0, 2, 3),
		.in6_enabled = true, .vprefix_addr6 = FEC0(0), .vprefix_len = 64,
		.vhost6 = FEC0(2), .vnameserver6 = FEC0(3),
	};
	struct net_slirp *s = calloc(1, sizeof(*s));
	int err = 0;

	if (!s)
		return log_error("user: out of memory"), NULL;
	s->nb = (struct net_backend){.ops = &slirp_ops, .loop = loop, .rx = rx, .opaque = opaque,
				     .kernel_fd = -1};
	pthread_mutex_init(&s->tx_lock, NULL);
	s->txq.tail = &s->txq.head;
	s->rxq.tail = &s->rxq.head;
	s->fd[FD_EPOLL] = epoll_create1(EPOLL_CLOEXEC);
	s->fd[FD_TIMER] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->fd[FD_KICK] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->fd[FD_EPOLL] < 0 || s->fd[FD_TIMER] < 0 || s->fd[FD_KICK] < 0) {
		log_error("user: cannot set up: %s", strerror(errno));
		goto fail;
	}
	s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
	if (!s->slirp) {
		log_error("user: libslirp %s: slirp_new failed", slirp_version_string());
		goto fail;
	}
	for (unsigned i = 0; i < opts->n_hostfwd; i++)
		if (add_hostfwd(s, opts->hostfwd[i]))
			goto fail;
	for (int i = 0; i < NFDS && !err; i++)
		err = loop_add_fd(loop, s->fd[i], EPOLLIN, handlers[i], s);
	if (err) {
		log_error("user: event loop: %s", strerror(-err));
		goto fail;
	}
	slirp_refill(s);
	return &s->nb;

fail:
	slirp_close(&s->nb);
	return NULL;
}
