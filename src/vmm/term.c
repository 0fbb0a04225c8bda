#include "vmm/term.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

struct term {
	int in_fd, out_fd;
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
	pthread_mutex_t out_lock;
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
	*t = (struct term){.in_fd = in_fd, .out_fd = out_fd, .loop = loop, .deliver = deliver,
			   .quit = quit, .opaque = opaque, .wake_fd = -1, .input_closed = true};
	pthread_mutex_init(&t->out_lock, NULL);
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0 || loop_add_fd(loop, t->wake_fd, EPOLLIN, on_wake, t) < 0)
		goto fail;
	if (in_fd >= 0) {
		if (enter_raw_mode(in_fd) < 0)
			goto fail;
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
	term_restore_global();
	pthread_mutex_destroy(&t->out_lock);
	free(t);
}

void term_write(struct term *t, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&t->out_lock);
	while (len > 0) {
		ssize_t n = write(t->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the reader went away: drop console output */
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&t->out_lock);
}

void term_resume_input(struct term *t)
{
	uint64_t one = 1;
	ssize_t r = write(t->wake_fd, &one, sizeof(one));
	(void)r;
}
