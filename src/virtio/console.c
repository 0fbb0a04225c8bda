/* virtio-console device model (virtio 1.x §5.3), single port. See console.h.
 *
 * Anatomy: fd polling (which events the loop watches, and why), TX
 * (transmitq → output, §5.3.6.2), RX (input → receiveq, §5.3.6.1), the
 * UNIX-socket server, and the virtio_dev_ops glue.
 *
 * Output goes to a socket (sent to with MSG_DONTWAIT) or through a term
 * (vmm/term.h: the user's terminal, or one made for an out_fd here), never
 * blocking: while it is full the chain being written stays popped and the
 * rest of transmitq stays the guest's, until the socket's EPOLLOUT or the
 * term's writable callback.
 *
 * Threads: every callback (fd events, kicks, activate, reset, the term's
 * writable) runs with vdev->lock held; fd events and kicks on the loop
 * thread. Lock order: vdev->lock, then the term's. */
#include "virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/term.h"
#include "core/device.h"
#include "core/log.h"
#include "core/state.h"
#include "virtio/queue_service.h"

#define RXQ 0
#define TXQ 1
#define QUEUE_SIZE 256

/* One fd registered with the loop, and the events it watches now. */
struct con_reg {
	int fd;
	bool added;
	uint32_t events;
};

struct virtio_console {
	struct virtio_dev vdev;
	struct con_reg in, out; /* out is unused when out.fd == in.fd */
	struct term *term;      /* output through a term instead of out.fd */
	bool own_term;          /* made here for an out_fd that is not a socket */
	bool in_open;           /* input not at EOF */
	bool rx_starved;        /* no receive buffers: input not polled */
	bool tx_pending;        /* tx_chain popped, tx_off bytes written */
	bool tx_blocked;        /* output full: waiting for EPOLLOUT */
	size_t tx_off;
	uint32_t tx_skip;       /* the next chain popped was partly written before a save */

	/* socket mode */
	bool server;
	struct con_reg listen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	struct virtio_console_stats stats;
	struct virtq_chain rx_chain, tx_chain;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

static void in_event(void *opaque, uint32_t events);
static void out_event(void *opaque, uint32_t events);
static void tx_process(struct virtio_console *c);

static struct virtio_console *to_con(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_console, vdev);
}

/* ---- Polling ---- */

/* Makes r watch events: added on first need, modified after (handlers are
 * not freed until the loop is destroyed, so toggling never deletes). */
static int reg_set(struct virtio_console *c, struct con_reg *r, uint32_t events, loop_fd_cb cb)
{
	int err = 0;
	if (r->fd < 0)
		return 0;
	if (!r->added) {
		if (!events)
			return 0;
		err = loop_add_fd(c->vdev.loop, r->fd, events, cb, c);
		r->added = err == 0;
	} else if (r->events != events) {
		err = loop_mod_fd(c->vdev.loop, r->fd, events);
	}
	if (err == 0)
		r->events = events;
	return err;
}

static void reg_del(struct virtio_console *c, struct con_reg *r)
{
	if (r->added)
		loop_del_fd(c->vdev.loop, r->fd);
	r->added = false;
	r->events = 0;
}

/* Input is polled only while the guest can take it; output only while a
 * write is blocked. */
static void update_poll(struct virtio_console *c)
{
	uint32_t in_ev = c->in_open && c->vdev.live && !c->rx_starved ? EPOLLIN : 0;
	uint32_t out_ev = c->tx_blocked ? EPOLLOUT : 0;

	if (c->out.fd >= 0 && c->out.fd == c->in.fd) {
		in_ev |= out_ev;
		out_ev = 0;
	}
	if (reg_set(c, &c->in, in_ev, in_event) < 0 && in_ev) {
		log_warn("virtio-console: cannot poll input fd %d; input is off", c->in.fd);
		c->in_open = false;
	}
	if (c->out.fd != c->in.fd && reg_set(c, &c->out, out_ev, out_event) < 0 && out_ev) {
		log_warn("virtio-console: cannot poll output fd %d; output is dropped", c->out.fd);
		c->out.fd = -1;
		c->tx_blocked = false;
	}
}

/* Socket mode: the client went away; take the next one. */
static void client_close(struct virtio_console *c)
{
	reg_del(c, &c->in);
	close(c->in.fd);
	c->in.fd = c->out.fd = -1;
	c->in_open = false;
	c->tx_blocked = false; /* the pending chain is dropped by tx_process */
	reg_set(c, &c->listen, EPOLLIN, NULL);
}

/* ---- TX (§5.3.6.2) ---- */

/* Writes the rest of tx_chain. 1: done (or dropped); 0: output full. */
static int tx_write(struct virtio_console *c)
{
	const struct virtq_chain *ch = &c->tx_chain;

	while (c->tx_off < ch->out_len) {
		size_t left = ch->out_len - c->tx_off;
		if (!c->term && c->out.fd < 0) {
			c->stats.tx_dropped += left;
			return 1;
		}
		uint64_t *bytes_in = &c->vdev.queues[TXQ].counters.bytes_in;
		unsigned n = 0;
		size_t skip = c->tx_off;
		for (unsigned i = 0; i < ch->n_out; i++) {
			if (skip >= ch->iov[i].iov_len) {
				skip -= ch->iov[i].iov_len;
				continue;
			}
			c->iov[n].iov_base = (uint8_t *)ch->iov[i].iov_base + skip;
			c->iov[n++].iov_len = ch->iov[i].iov_len - skip;
			skip = 0;
		}
		if (c->term) {
			size_t w = term_writev(c->term, c->iov, n);
			c->tx_off += w;
			c->stats.tx_bytes += w;
			counter_add(bytes_in, w);
			return c->tx_off == ch->out_len;
		}
		/* A socket: ours (accepted non-blocking) or the caller's,
		 * whose flags stay as they are. */
		struct msghdr mh = {.msg_iov = c->iov, .msg_iovlen = n};
		ssize_t w = sendmsg(c->out.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0) {
			int err = w < 0 ? errno : EIO;
			c->stats.tx_dropped += left;
			counter_inc(&c->vdev.queues[TXQ].counters.errors);
			if (c->server) {
				client_close(c);
			} else {
				static int logged;
				if (!__atomic_exchange_n(&logged, 1, __ATOMIC_RELAXED))
					log_warn("virtio-console: output: %s (output dropped)",
						 strerror(err));
			}
			return 1;
		}
		c->tx_off += (size_t)w;
		c->stats.tx_bytes += (size_t)w;
		counter_add(bytes_in, (size_t)w);
	}
	return 1;
}

/* Writes what is left of the chain held in tx_chain: true when it is
 * done (pushed), false while the output is full (it stays held). */
static bool tx_finish(struct virtio_console *c)
{
	c->tx_blocked = !tx_write(c);
	if (c->tx_blocked)
		return false;
	virtq_push(&c->vdev.queues[TXQ].vq, c->tx_chain.head, 0);
	counter_inc(&c->vdev.queues[TXQ].counters.requests);
	c->tx_pending = false;
	return true;
}

static bool tx_resume(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *c = to_con(vdev);
	return !c->tx_pending || tx_finish(c);
}

static enum qs_verdict tx_chain(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	struct virtio_console *c = to_con(vdev);
	if (chain->n_in) {
		virtio_dev_set_broken(vdev, "transmit chain has device-writable buffers");
		return QS_BROKEN;
	}
	c->tx_pending = true;
	c->tx_off = c->tx_skip;
	c->tx_skip = 0;
	return tx_finish(c) ? QS_NEXT : QS_PAUSE;
}

static const struct queue_service_ops tx_service = {.handle = tx_chain, .resume = tx_resume};

/* Chains are written in ring order; while the output is full the one being
 * written stays held and the queue paused until the output drains. */
static void tx_process(struct virtio_console *c)
{
	if (queue_service_run(&c->vdev, TXQ, &tx_service, &c->tx_chain) != QS_STOPPED)
		update_poll(c);
}

/* ---- RX (§5.3.6.1) ---- */

static bool rx_can_pop(struct virtio_dev *vdev, unsigned q)
{
	return to_con(vdev)->in_open;
}

/* One read per input event, straight into the guest's buffer; the loop is
 * level-triggered and calls again while more is there. */
static enum qs_verdict rx_chain(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	struct virtio_console *c = to_con(vdev);
	struct virtqueue *vq = &vdev->queues[RXQ].vq;
	struct dev_counters *cnt = &vdev->queues[RXQ].counters;

	if (chain->n_out) {
		virtio_dev_set_broken(vdev, "receive chain has device-readable buffers");
		return QS_BROKEN;
	}
	if (chain->in_len == 0) { /* nothing fits: give it back used */
		virtq_push(vq, chain->head, 0);
		counter_inc(&cnt->requests);
		return QS_NEXT;
	}
	ssize_t n = readv(c->in.fd, chain->iov, (int)chain->n_in);
	if (n > 0) {
		virtq_push(vq, chain->head, (uint32_t)n);
		c->stats.rx_bytes += (size_t)n;
		counter_inc(&cnt->requests);
		counter_add(&cnt->bytes_out, (uint64_t)n);
		return QS_PAUSE;
	}
	virtq_unpop(vq);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return QS_PAUSE;
	/* EOF or an error: no more input from this fd. */
	if (c->server) {
		client_close(c);
	} else {
		c->in_open = false;
		update_poll(c);
	}
	return QS_PAUSE;
}

static const struct queue_service_ops rx_service = {.handle = rx_chain, .can_pop = rx_can_pop};

static void rx_fill(struct virtio_console *c)
{
	if (!c->in_open)
		return;
	/* The guest has posted no buffer (kicks are on again, §2.7.10): stop
	 * polling the input until it kicks receiveq. */
	if (queue_service_run(&c->vdev, RXQ, &rx_service, &c->rx_chain) == QS_IDLE) {
		c->rx_starved = true;
		update_poll(c);
	}
}

static void in_event(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vdev.lock);
	c->stats.in_wakeups++;
	int fd = c->in.fd;
	if (events & EPOLLIN)
		rx_fill(c);
	if ((events & EPOLLOUT) && c->in.fd == fd && c->tx_blocked)
		tx_process(c);
	/* A hang-up is reported even for events 0: if we are not reading or
	 * writing it now, stop watching (a later need re-adds it, and the
	 * read or write then sees the end). */
	if ((events & (EPOLLHUP | EPOLLERR)) && c->in.fd == fd && c->in.events == 0) {
		int unread = 0;
		/* A client that left with nothing unread frees the socket
		 * for the next one at once. */
		if (c->server && (ioctl(fd, FIONREAD, &unread) < 0 || unread == 0))
			client_close(c);
		else
			reg_del(c, &c->in);
	}
	/* The client left in the middle of a chain: drop the rest of it. */
	if (c->tx_pending && !c->tx_blocked)
		tx_process(c);
	pthread_mutex_unlock(&c->vdev.lock);
}

static void out_event(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vdev.lock);
	if (c->tx_blocked)
		tx_process(c);
	if ((events & (EPOLLHUP | EPOLLERR)) && c->out.events == 0)
		reg_del(c, &c->out);
	pthread_mutex_unlock(&c->vdev.lock);
}

/* The term has room again. */
static void term_writable(void *opaque)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vdev.lock);
	if (c->tx_blocked)
		tx_process(c);
	pthread_mutex_unlock(&c->vdev.lock);
}

/* ---- UNIX socket server ---- */

static void accept_event(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vdev.lock);
	if (c->in.fd < 0) {
		int fd = accept4(c->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			c->in = (struct con_reg){.fd = fd};
			c->out = (struct con_reg){.fd = fd};
			c->in_open = true;
			c->rx_starved = false;
			reg_set(c, &c->listen, 0, NULL); /* one client at a time */
			update_poll(c);
		}
	} else {
		reg_set(c, &c->listen, 0, NULL);
	}
	pthread_mutex_unlock(&c->vdev.lock);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("%s: socket path too long (at most %zu bytes)", path,
			  sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("%s: socket: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		/* Replace only a socket nobody listens on any more. */
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s: exists and is not a socket", path);
			goto fail;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			log_error("%s: another process is listening on it", path);
			goto fail;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		log_error("%s: cannot listen: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* ---- virtio_dev_ops ---- */

static void con_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len)
{
	/* §5.3.4: cols/rows only with SIZE, max_nr_ports only with MULTIPORT;
	 * emerg_wr is write-only. None offered: all zero. */
	memset(data, 0, len);
}

static void con_config_write(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len)
{
	/* emerg_wr needs VIRTIO_CONSOLE_F_EMERG_WRITE, not offered: ignored. */
}

static int con_activate(struct virtio_dev *vdev)
{
	struct virtio_console *c = to_con(vdev);
	c->rx_starved = false;
	update_poll(c);
	return 0;
}

static void con_reset(struct virtio_dev *vdev)
{
	struct virtio_console *c = to_con(vdev);
	/* The queues are forgotten: so is the chain being written. */
	c->tx_pending = false;
	c->tx_skip = 0;
	c->tx_blocked = false;
	c->rx_starved = false;
	update_poll(c);
}

static void con_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *c = to_con(vdev);

	if (q == TXQ) {
		tx_process(c);
	} else if (q == RXQ && c->rx_starved) {
		c->rx_starved = false; /* new buffers: poll the input again */
		update_poll(c);
	}
}

/* Quiesce (core/device.h; ops->quiesce): a transmit chain held while the
 * output is full goes back to the ring unused (it is the last one popped)
 * and the record says how much of it was written; the next pop, here or in
 * the instance that loads the record, skips that much. So nothing is in
 * flight, nothing is written twice and nothing is lost. */
static int con_quiesce(struct virtio_dev *vdev)
{
	struct virtio_console *c = to_con(vdev);
	if (c->tx_pending) {
		virtq_unpop(&vdev->queues[TXQ].vq);
		c->tx_pending = false;
		c->tx_skip = (uint32_t)c->tx_off; /* <= out_len <= UINT32_MAX */
	}
	return 0;
}

/* The one port has no open/closed state or config events (no MULTIPORT). */
static void con_save(struct virtio_dev *vdev, struct state_writer *w)
{
	struct virtio_console *c = to_con(vdev);
	con_quiesce(vdev); /* idempotent: the record is right even without it */
	state_begin(w, "virtio-console", 1);
	state_put_u32(w, "tx_written", c->tx_skip);
	state_end(w);
}

static int con_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct virtio_console *c = to_con(vdev);
	uint32_t written;
	state_enter(r, "virtio-console", 1, NULL);
	state_get_u32(r, "tx_written", &written);
	if (state_leave(r) < 0)
		return -EINVAL;
	c->tx_skip = written;
	return 0;
}

static void con_destroy_op(struct virtio_dev *vdev)
{
	virtio_console_destroy(to_con(vdev));
}

static const struct virtio_dev_ops con_ops = {
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.reset = con_reset,
	.queue_notify = con_queue_notify,
	.quiesce = con_quiesce,
	.save = con_save,
	.load = con_load,
	.destroy = con_destroy_op,
};

/* ---- Lifecycle ---- */

static struct virtio_console *con_alloc(const struct guest_mem *mem, struct loop *loop)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("virtio-console: out of memory");
		return NULL;
	}
	virtio_dev_init(&c->vdev, "virtio-console", VIRTIO_ID_CONSOLE, 2, QUEUE_SIZE,
			sizeof(struct virtio_console_config),
			(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
				(1ULL << VIRTIO_RING_F_INDIRECT_DESC),
			&con_ops, mem, loop);
	c->in.fd = c->out.fd = c->listen.fd = -1;
	return c;
}

struct virtio_console *virtio_console_create(int in_fd, int out_fd, const struct guest_mem *mem,
					     struct loop *loop)
{
	struct stat st;
	struct virtio_console *c = con_alloc(mem, loop);
	if (!c)
		return NULL;
	c->in.fd = in_fd;
	c->out.fd = out_fd;
	if (out_fd >= 0 && !(fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode))) {
		/* A terminal, pipe or file: written through a term of our own,
		 * which writes it without blocking. */
		c->out.fd = -1;
		c->term = term_open(-1, out_fd, loop, NULL, NULL, NULL);
		c->own_term = true;
		if (!c->term || term_add_writer(c->term, term_writable, c) < 0) {
			log_error("virtio-console: cannot set up output fd %d", out_fd);
			virtio_console_destroy(c);
			return NULL;
		}
	}
	if (in_fd >= 0) {
		/* Registered now, disarmed until DRIVER_OK: this also checks
		 * that the loop can watch it (a regular file it cannot). */
		if (loop_add_fd(loop, in_fd, 0, in_event, c) == 0) {
			c->in.added = true;
			c->in_open = true;
		} else {
			log_info("virtio-console: input fd %d cannot be polled; no input", in_fd);
			c->in.fd = -1;
		}
	}
	return c;
}

struct virtio_console *virtio_console_create_term(struct term *t, const struct guest_mem *mem,
						  struct loop *loop)
{
	struct virtio_console *c = con_alloc(mem, loop);
	if (!c)
		return NULL;
	c->term = t;
	if (term_add_writer(t, term_writable, c) < 0) {
		log_error("virtio-console: the terminal has too many writers");
		c->term = NULL;
		virtio_console_destroy(c);
		return NULL;
	}
	return c;
}

struct virtio_console *virtio_console_create_socket(const char *path, const struct guest_mem *mem,
						    struct loop *loop)
{
	int fd = listen_unix(path);
	if (fd < 0)
		return NULL;
	struct virtio_console *c = con_alloc(mem, loop);
	if (!c) {
		close(fd);
		unlink(path);
		return NULL;
	}
	c->server = true;
	c->listen.fd = fd;
	strcpy(c->path, path); /* fits: listen_unix checked */
	int err = loop_add_fd(loop, fd, EPOLLIN, accept_event, c);
	if (err < 0) {
		log_error("%s: event loop: %s", path, strerror(-err));
		virtio_console_destroy(c);
		return NULL;
	}
	c->listen.added = true;
	c->listen.events = EPOLLIN;
	return c;
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vdev;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	reg_del(c, &c->in);
	if (c->out.fd != c->in.fd)
		reg_del(c, &c->out);
	if (c->server) {
		if (c->in.fd >= 0)
			close(c->in.fd);
		reg_del(c, &c->listen);
		close(c->listen.fd);
		unlink(c->path);
	}
	if (c->term) {
		term_del_writer(c->term, c);
		if (c->own_term)
			term_close(c->term);
	}
	virtio_dev_destroy(&c->vdev);
	free(c);
}

void virtio_console_get_stats(struct virtio_console *c, struct virtio_console_stats *st)
{
	pthread_mutex_lock(&c->vdev.lock);
	*st = c->stats;
	pthread_mutex_unlock(&c->vdev.lock);
}
