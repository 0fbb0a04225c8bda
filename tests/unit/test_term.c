/* The console's Ctrl-A escape filter: passthrough, quit, literal Ctrl-A,
 * escapes split across reads, unknown escapes. Its output: never blocks on
 * a full pipe, buffers a bounded amount, wakes waiting writers. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/term.h"
#include "support/loop_wait.h"

#define ESC TERM_ESCAPE_CHAR

struct filt {
	int state, quit;
	uint8_t out[64];
	size_t n;
};

/* Filters one read; out is pre-filled so stray writes show. */
static size_t feed(struct filt *f, const void *in, size_t len)
{
	memset(f->out, 0xee, sizeof(f->out));
	f->n = term_filter_input(&f->state, in, len, f->out, &f->quit);
	assert_true(f->n <= len);
	return f->n;
}

static void test_passthrough(void **state)
{
	struct filt f = {0};
	const uint8_t in[] = {'l', 's', '\r', 0x00, 0x02, 0x1b, '[', 'A', 0x7f, 0xff, 'x'};
	assert_int_equal(feed(&f, in, sizeof(in)), sizeof(in));
	assert_memory_equal(f.out, in, sizeof(in));
	assert_int_equal(f.out[sizeof(in)], 0xee);
	assert_int_equal(f.state, 0);
	assert_int_equal(f.quit, 0);
	assert_int_equal(feed(&f, in, 0), 0); /* empty read */
	assert_int_equal(f.out[0], 0xee);
}

static void test_quit(void **state)
{
	struct filt f = {0};
	const uint8_t in[] = {'a', 'b', ESC, 'x', 'c', 'd'};
	assert_int_equal(feed(&f, in, sizeof(in)), 2); /* stops at the quit */
	assert_memory_equal(f.out, "ab", 2);
	assert_int_equal(f.out[2], 0xee);
	assert_int_equal(f.quit, 1);

	struct filt g = {0};
	const uint8_t upper[] = {ESC, 'X', 'z'};
	assert_int_equal(feed(&g, upper, sizeof(upper)), 0);
	assert_int_equal(g.quit, 1);
	assert_int_equal(g.state, 0);

	/* A plain 'x' does nothing. */
	struct filt h = {0};
	assert_int_equal(feed(&h, "xx", 2), 2);
	assert_int_equal(h.quit, 0);
}

static void test_literal_escape(void **state)
{
	struct filt f = {0};
	const uint8_t in[] = {'a', ESC, ESC, 'b'};
	assert_int_equal(feed(&f, in, sizeof(in)), 3);
	const uint8_t want[] = {'a', ESC, 'b'};
	assert_memory_equal(f.out, want, sizeof(want));
	assert_int_equal(f.state, 0);
	assert_int_equal(f.quit, 0);

	/* Two pairs give two Ctrl-As; an odd one leaves an escape pending. */
	const uint8_t three[] = {ESC, ESC, ESC, ESC, ESC};
	assert_int_equal(feed(&f, three, sizeof(three)), 2);
	assert_int_equal(f.out[0], ESC);
	assert_int_equal(f.out[1], ESC);
	assert_int_equal(f.state, 1);
	/* ...and 'x' next is then a quit, not a literal. */
	assert_int_equal(feed(&f, "x", 1), 0);
	assert_int_equal(f.quit, 1);
}

static void test_split_escape(void **state)
{
	struct filt f = {0};
	const uint8_t first[] = {'h', 'i', ESC};
	assert_int_equal(feed(&f, first, sizeof(first)), 2);
	assert_memory_equal(f.out, "hi", 2);
	assert_int_equal(f.state, 1); /* escape pending across the reads */
	assert_int_equal(f.quit, 0);
	assert_int_equal(feed(&f, "x!", 2), 0);
	assert_int_equal(f.quit, 1);

	struct filt g = {0};
	const uint8_t esc = ESC;
	assert_int_equal(feed(&g, &esc, 1), 0);
	assert_int_equal(g.state, 1);
	assert_int_equal(feed(&g, &esc, 1), 1); /* the pair, split: one Ctrl-A */
	assert_int_equal(g.out[0], ESC);
	assert_int_equal(g.state, 0);
	assert_int_equal(feed(&g, "x", 1), 1); /* no longer an escape */
	assert_int_equal(g.out[0], 'x');
	assert_int_equal(g.quit, 0);
}

static void test_unknown_escape(void **state)
{
	struct filt f = {0};
	const uint8_t in[] = {'a', ESC, 'h', 'b', ESC, 'c', ESC, '\r', 'd'};
	assert_int_equal(feed(&f, in, sizeof(in)), 3);
	assert_memory_equal(f.out, "abd", 3);
	assert_int_equal(f.out[3], 0xee);
	assert_int_equal(f.state, 0);
	assert_int_equal(f.quit, 0);

	/* Swallowed also when split across reads. */
	const uint8_t esc = ESC;
	assert_int_equal(feed(&f, &esc, 1), 0);
	assert_int_equal(feed(&f, "qr", 2), 1);
	assert_int_equal(f.out[0], 'r');
	assert_int_equal(f.quit, 0);
}

static void count_wake(void *opaque)
{
	(*(int *)opaque)++;
}

/* A blocking pipe nobody reads: a serial-style write returns at once,
 * keeps TERM_OUT_BUF bytes and drops the rest (counted); a writer that can
 * wait is refused while full, woken when the pipe is read, and everything
 * kept arrives in order. */
static void test_output_never_blocks(void **state)
{
	static uint8_t big[200000], got[200000];
	struct loop *loop = loop_create();
	struct term_stats st;
	int p[2], wakes = 0;
	size_t n = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	struct term *t = term_open(-1, p[1], loop, NULL, NULL, NULL);
	assert_non_null(t);
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK); /* the caller's fd is untouched */
	assert_int_equal(term_add_writer(t, count_wake, &wakes), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	alarm(20);
	term_write(t, big, sizeof(big));
	struct iovec iov = {(void *)"0123456789", 10};
	assert_int_equal(term_writev(t, &iov, 1), 0);
	alarm(0);
	term_get_stats(t, &st);
	assert_int_equal(st.buffered, TERM_OUT_BUF);
	assert_true(st.dropped > 0);
	assert_int_equal(st.written + st.buffered + st.dropped, sizeof(big));
	size_t kept = st.written + st.buffered;

	loop_run_until(loop, NULL, NULL, 20);
	assert_int_equal(wakes, 0); /* still full */
	for (int idle = 0; idle < 20;) {
		ssize_t r = read(p[0], got + n, sizeof(got) - n);
		if (r > 0) {
			n += (size_t)r;
			idle = 0;
		} else {
			assert_true(r < 0 && errno == EAGAIN);
			idle++;
		}
		loop_run_until(loop, NULL, NULL, 5);
	}
	assert_int_equal(n, kept);
	assert_memory_equal(got, big, kept);
	assert_true(wakes >= 1);
	assert_int_equal(term_writev(t, &iov, 1), 10);
	assert_int_equal(read(p[0], got, sizeof(got)), 10);

	term_del_writer(t, &wakes);
	term_close(t);
	close(p[0]);
	close(p[1]);
	loop_destroy(loop);
}

/* The reader leaves while a writer waits for room: the writer is woken,
 * and from then on everything is taken and dropped (the guest goes on). */
static void test_output_reader_gone(void **state)
{
	static uint8_t big[200000];
	struct loop *loop = loop_create();
	struct term_stats st;
	int p[2], wakes = 0;

	signal(SIGPIPE, SIG_IGN); /* as main() does */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct term *t = term_open(-1, p[1], loop, NULL, NULL, NULL);
	assert_non_null(t);
	assert_int_equal(term_add_writer(t, count_wake, &wakes), 0);
	struct iovec iov = {big, sizeof(big)};
	size_t taken = term_writev(t, &iov, 1);
	assert_true(taken < sizeof(big));
	close(p[0]);
	loop_run_until(loop, NULL, NULL, 50);
	assert_int_equal(wakes, 1);
	assert_int_equal(term_writev(t, &iov, 1), sizeof(big));
	term_write(t, big, 10);
	loop_run_until(loop, NULL, NULL, 20);
	term_get_stats(t, &st);
	assert_int_equal(st.buffered, 0);
	assert_int_equal(st.written + st.dropped, taken + sizeof(big) + 10);
	term_close(t);
	close(p[1]);
	loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_literal_escape),
		cmocka_unit_test(test_split_escape),
		cmocka_unit_test(test_unknown_escape),
		cmocka_unit_test(test_output_never_blocks),
		cmocka_unit_test(test_output_reader_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
