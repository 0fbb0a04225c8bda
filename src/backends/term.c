#include "backends/term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/iov.h"
#include "core/log.h"

#define TERM_MAX_WRITERS 4
#define CLOSE_DRAIN_MS   1000 /* what is still buffered at exit gets this long */

struct term_writer {
	term_writable_fn fn;
	void *opaque;
};

struct term {
	int in_fd;
	bool raw;               /* this term put in_fd in raw mode */
	int wake_fd;            /* eventfd: receiver drained */
	struct loop *loop;
	term_deliver_fn deliver;
	term_quit_fn quit;
	void *opaque;
	int escape_state;
	bool input_paused;
	bool input_closed;
	uint8_t pending[256];   /* filtered input the guest has not taken yet */
	size_t pending_len, pending_off;

	/* Output, under out_lock: our own non-blocking description of the
	 * output (-1: none), and what it has not taken yet. */
	pthread_mutex_t out_lock;
	int out_fd;
	bool out_sock;          /* sent to with MSG_DONTWAIT | MSG_NOSIGNAL */
	bool out_polled;        /* registered with the loop (a regular file is not) */
	bool out_watching;      /* EPOLLOUT armed */
	bool out_dead;          /* failed or hung up: output is dropped */
	bool out_waiting;       /* a writer was refused room: wake them */
	uint8_t out_buf[TERM_OUT_BUF];
	size_t out_head, out_len;
	struct term_writer writers[TERM_MAX_WRITERS];
	struct term_stats stats;
};

/* One saved terminal per process: atexit() and signal paths restore it. */
static struct termios saved_termios;
static int saved_fd = -1;

void term_restore_global(void)
{
	if (saved_fd >= 0) {
		tcsetattr(saved_fd, TCSAFLUSH, &saved_termios);
		saved_fd = -1;
	}
}

static int enter_raw_mode(int fd)
{
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &saved_termios) < 0)
		return -errno;
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST | ONLCR; /* our own log lines still start at column 0 */
	saved_fd = fd;
	atexit(term_restore_global);
	if (tcsetattr(fd, TCSAFLUSH, &raw) < 0) {
		saved_fd = -1;
		return -errno;
	}
	return 0;
}

size_t term_filter_input(int *state, const uint8_t *in, size_t len, uint8_t *out, int *quit)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		if (*state) {
			*state = 0;
			if (c == 'x' || c == 'X') {
				*quit = 1;
				return n;
			}
			if (c == TERM_ESCAPE_CHAR)
				out[n++] = c;
			/* Unknown escapes are swallowed, as in QEMU. */
			continue;
		}
		if (c == TERM_ESCAPE_CHAR) {
			*state = 1;
			continue;
		}
		out[n++] = c;
	}
	return n;
}

/* ---- Output: never blocks the caller, nor the loop ---- */

/* Our own description of fd, non-blocking without touching the caller's:
 * O_NONBLOCK on a terminal's shared description would reach the shell and
 * every other process writing to it. A tty, pipe or FIFO is opened again
 * through /proc; a socket is sent to with MSG_DONTWAIT; a regular file or
 * an fd that is non-blocking already is dup'ed. -1 if none. */
static int open_output(int fd, bool *sock)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	*sock = S_ISSOCK(st.st_mode);
	int fl = fcntl(fd, F_GETFL);
	if (*sock || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || (fl >= 0 && (fl & O_NONBLOCK)))
		return fcntl(fd, F_DUPFD_CLOEXEC, 0);
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (nfd >= 0)
		return nfd;
	log_warn("console output fd %d: cannot open it non-blocking (%s); while its reader"
		 " does not read, the guest's vCPUs and iovirt's event loop wait for it", fd,
		 strerror(errno));
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static ssize_t out_writev(struct term *t, const struct iovec *iov, unsigned n)
{
	ssize_t w;
	do {
		if (t->out_sock) {
			struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
			w = sendmsg(t->out_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			w = writev(t->out_fd, iov, (int)n);
		}
	} while (w < 0 && errno == EINTR);
	return w;
}

/* The output failed or hung up: from now on it takes everything and drops
 * it (the guest goes on without a reader), and nothing is polled. */
static void out_kill(struct term *t)
{
	t->out_dead = true;
	t->stats.dropped += t->out_len;
	t->out_len = 0;
	t->out_waiting = true; /* writers waiting for room move on */
	if (t->out_polled)
		loop_del_fd(t->loop, t->out_fd);
	t->out_polled = t->out_watching = false;
}

static void set_output_watch(struct term *t)
{
	bool on = t->out_len > 0;
	if (t->out_polled && t->out_watching != on &&
	    loop_mod_fd(t->loop, t->out_fd, on ? EPOLLOUT : 0) == 0)
		t->out_watching = on;
}

/* Writes what the output takes now of the buffer. */
static void out_flush(struct term *t)
{
	while (t->out_len && !t->out_dead) {
		size_t first = TERM_OUT_BUF - t->out_head;
		if (first > t->out_len)
			first = t->out_len;
		struct iovec iov[2] = {{t->out_buf + t->out_head, first},
				       {t->out_buf, t->out_len - first}};
		ssize_t w = out_writev(t, iov, iov[1].iov_len ? 2 : 1);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			out_kill(t);
			break;
		}
		t->stats.written += (size_t)w;
		t->out_head = (t->out_head + (size_t)w) % TERM_OUT_BUF;
		t->out_len -= (size_t)w;
	}
	set_output_watch(t);
}

/* Takes what fits of iov: written at once when nothing is buffered before
 * it, else (or the rest) copied into the buffer. */
static size_t out_put(struct term *t, const struct iovec *iov, unsigned n)
{
	size_t total = 0, taken = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (t->out_fd < 0 || t->out_dead) {
		t->stats.dropped += total;
		return total;
	}
	if (!t->out_len && total) {
		ssize_t w = out_writev(t, iov, n);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			out_kill(t);
			t->stats.dropped += total;
			return total;
		}
		if (w > 0) {
			taken = (size_t)w;
			t->stats.written += taken;
		}
	}
	while (taken < total && t->out_len < TERM_OUT_BUF) {
		size_t tail = (t->out_head + t->out_len) % TERM_OUT_BUF;
		size_t room = tail >= t->out_head ? TERM_OUT_BUF - tail : t->out_head - tail;
		size_t c = iov_to_buf(iov, n, taken, t->out_buf + tail, room);
		t->out_len += c;
		taken += c;
	}
	if (taken < total)
		t->out_waiting = true;
	set_output_watch(t);
	return taken;
}

static void on_output(void *opaque, uint32_t events)
{
	struct term *t = opaque;
	struct term_writer w[TERM_MAX_WRITERS];

	pthread_mutex_lock(&t->out_lock);
	if (events & EPOLLOUT)
		out_flush(t);
	/* Reported even unwatched: a reader that left is gone for good. */
	if ((events & (EPOLLERR | EPOLLHUP)) && !t->out_dead)
		out_kill(t);
	/* Writers hear of room once there is a fair amount of it. */
	bool wake = t->out_waiting && t->out_len <= TERM_OUT_BUF / 2;
	if (wake)
		t->out_waiting = false;
	memcpy(w, t->writers, sizeof(w));
	pthread_mutex_unlock(&t->out_lock);
	for (unsigned i = 0; wake && i < TERM_MAX_WRITERS; i++)
		if (w[i].fn)
			w[i].fn(w[i].opaque);
}

/* At exit: what is still buffered gets a little while to go out. */
static void out_drain(struct term *t)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&t->out_lock);
	for (;;) {
		out_flush(t);
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (!t->out_len || t->out_dead || ms >= CLOSE_DRAIN_MS)
			break;
		struct pollfd p = {.fd = t->out_fd, .events = POLLOUT};
		poll(&p, 1, (int)(CLOSE_DRAIN_MS - ms));
	}
	t->stats.dropped += t->out_len;
	t->out_len = 0;
	pthread_mutex_unlock(&t->out_lock);
}

/* ---- Input ---- */

static void set_input_watch(struct term *t, bool on)
{
	if (t->input_closed || t->input_paused == !on)
		return;
	t->input_paused = !on;
	loop_mod_fd(t->loop, t->in_fd, on ? EPOLLIN : 0);
}

/* Pushes pending input to the guest; pauses reading while it is full. */
static void flush_pending(struct term *t)
{
	while (t->pending_off < t->pending_len) {
		size_t n = t->deliver(t->opaque, t->pending + t->pending_off,
				      t->pending_len - t->pending_off);
		if (n == 0)
			break;
		t->pending_off += n;
	}
	if (t->pending_off == t->pending_len) {
		t->pending_off = t->pending_len = 0;
		set_input_watch(t, true);
	} else {
		set_input_watch(t, false);
	}
}

static void on_input(void *opaque, uint32_t events)
{
	struct term *t = opaque;
	uint8_t raw[sizeof(t->pending)];
	ssize_t n = read(t->in_fd, raw, sizeof(raw));
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF (e.g. stdin from /dev/null): the guest simply gets no input. */
		loop_del_fd(t->loop, t->in_fd);
		t->input_closed = true;
		return;
	}
	int quit = 0;
	t->pending_len = term_filter_input(&t->escape_state, raw, (size_t)n, t->pending, &quit);
	t->pending_off = 0;
	if (quit) {
		t->pending_len = 0;
		t->quit(t->opaque);
		return;
	}
	flush_pending(t);
}

static void on_wake(void *opaque, uint32_t events)
{
	struct term *t = opaque;
	uint64_t v;
	if (read(t->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	flush_pending(t);
}

struct term *term_open(int in_fd, int out_fd, struct loop *loop, term_deliver_fn deliver,
		       term_quit_fn quit, void *opaque)
{
	struct term *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct term){.in_fd = in_fd, .loop = loop, .deliver = deliver, .quit = quit,
			   .opaque = opaque, .wake_fd = -1, .input_closed = true};
	pthread_mutex_init(&t->out_lock, NULL);
	t->out_fd = open_output(out_fd, &t->out_sock);
	if (out_fd >= 0 && t->out_fd < 0)
		log_warn("console output fd %d: %s; output is dropped", out_fd, strerror(errno));
	/* epoll refuses regular files: they never make us wait anyway. */
	t->out_polled = t->out_fd >= 0 && loop_add_fd(loop, t->out_fd, 0, on_output, t) == 0;
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0 || loop_add_fd(loop, t->wake_fd, EPOLLIN, on_wake, t) < 0)
		goto fail;
	if (in_fd >= 0) {
		if (enter_raw_mode(in_fd) < 0)
			goto fail;
		t->raw = isatty(in_fd);
		/* epoll refuses regular files; they are read as EOF-less input
		 * nobody needs, so input then stays off. */
		if (loop_add_fd(loop, in_fd, EPOLLIN, on_input, t) == 0)
			t->input_closed = false;
	}
	return t;
fail:
	term_close(t);
	return NULL;
}

void term_close(struct term *t)
{
	if (!t)
		return;
	if (!t->input_closed)
		loop_del_fd(t->loop, t->in_fd);
	if (t->wake_fd >= 0) {
		loop_del_fd(t->loop, t->wake_fd);
		close(t->wake_fd);
	}
	if (t->out_fd >= 0) {
		out_drain(t);
		if (t->out_polled)
			loop_del_fd(t->loop, t->out_fd);
		close(t->out_fd);
	}
	if (t->raw)
		term_restore_global();
	pthread_mutex_destroy(&t->out_lock);
	free(t);
}

size_t term_writev(struct term *t, const struct iovec *iov, unsigned n)
{
	pthread_mutex_lock(&t->out_lock);
	size_t taken = out_put(t, iov, n);
	pthread_mutex_unlock(&t->out_lock);
	return taken;
}

void term_write(struct term *t, const uint8_t *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};
	pthread_mutex_lock(&t->out_lock);
	size_t taken = out_put(t, &iov, 1);
	t->stats.dropped += len - taken;
	pthread_mutex_unlock(&t->out_lock);
}

int term_add_writer(struct term *t, term_writable_fn fn, void *opaque)
{
	int ret = -ENOSPC;
	pthread_mutex_lock(&t->out_lock);
	for (unsigned i = 0; i < TERM_MAX_WRITERS && ret; i++) {
		if (!t->writers[i].fn) {
			t->writers[i] = (struct term_writer){fn, opaque};
			ret = 0;
		}
	}
	pthread_mutex_unlock(&t->out_lock);
	return ret;
}

void term_del_writer(struct term *t, void *opaque)
{
	pthread_mutex_lock(&t->out_lock);
	for (unsigned i = 0; i < TERM_MAX_WRITERS; i++)
		if (t->writers[i].opaque == opaque)
			t->writers[i] = (struct term_writer){0};
	pthread_mutex_unlock(&t->out_lock);
}

void term_get_stats(struct term *t, struct term_stats *st)
{
	pthread_mutex_lock(&t->out_lock);
	*st = t->stats;
	st->buffered = t->out_len;
	pthread_mutex_unlock(&t->out_lock);
}

void term_resume_input(struct term *t)
{
	uint64_t one = 1;
	ssize_t r = write(t->wake_fd, &one, sizeof(one));
	(void)r;
}
