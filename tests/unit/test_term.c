/* The console's Ctrl-A escape filter: passthrough, quit, literal Ctrl-A,
 * escapes split across reads, unknown escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/term.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_literal_escape),
		cmocka_unit_test(test_split_escape),
		cmocka_unit_test(test_unknown_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
