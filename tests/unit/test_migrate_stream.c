/* The live-migration stream (src/migrate/migrate_stream.c) between two
 * ends of a socketpair: URLs, every message type's length rules, the
 * direction rules, pages and zero ranges into guest RAM, and the refusals
 * of pages outside RAM or across regions. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate/migrate_stream.h"

static int pair[2];

static int setup(void **state)
{
	return socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
}

static int teardown(void **state)
{
	close(pair[0]);
	close(pair[1]);
	return 0;
}

static void raw(uint32_t type, uint32_t reserved, uint64_t len)
{
	uint32_t h[4] = {htole32(type), htole32(reserved), htole32((uint32_t)len),
			 htole32((uint32_t)(len >> 32))};
	assert_int_equal(write(pair[0], h, sizeof(h)), sizeof(h));
}

static void test_urls(void **state)
{
	assert_true(mig_url_valid("tcp:127.0.0.1:6000"));
	assert_true(mig_url_valid("tcp:[::1]:6000"));
	assert_true(mig_url_valid("tcp:host.example:1"));
	assert_true(mig_url_valid("unix:/tmp/m.sock"));
	assert_false(mig_url_valid("tcp:127.0.0.1"));
	assert_false(mig_url_valid("tcp::6000"));
	assert_false(mig_url_valid("tcp:127.0.0.1:0"));
	assert_false(mig_url_valid("tcp:127.0.0.1:65536"));
	assert_false(mig_url_valid("tcp:127.0.0.1:60x"));
	assert_false(mig_url_valid("unix:"));
	assert_false(mig_url_valid("file:///tmp/x"));
	assert_false(mig_url_valid(""));
	char why[200];
	assert_true(mig_connect("unix:/nonexistent/iovirt-test.sock", why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "/nonexistent/iovirt-test.sock"));
}

static void test_listen_connect(void **state)
{
	char why[200], path[] = "/tmp/iovirt-unit-migXXXXXX", url[64];
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	snprintf(url, sizeof(url), "unix:%s", path);
	int l = mig_listen(url, why, sizeof(why)); /* replaces the stale file */
	assert_true(l >= 0);
	/* It was bound under a temporary name and renamed once listening:
	 * nothing of that name is left. */
	char bound[128];
	snprintf(bound, sizeof(bound), "%s.%d", path, (int)getpid());
	assert_int_equal(access(bound, F_OK), -1);
	int c = mig_connect(url, why, sizeof(why));
	assert_true(c >= 0);
	int a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(mig_send_text(c, MIG_CANCEL, "because %d", 7), 0);
	struct mig_header h;
	assert_int_equal(mig_recv_header(a, true, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, MIG_CANCEL);
	char text[64];
	assert_int_equal(mig_recv_text(a, &h, text, sizeof(text)), 0);
	assert_string_equal(text, "because 7");
	close(a);
	close(c);
	close(l);
	unlink(path);
	int t = mig_listen("tcp:127.0.0.1:0", why, sizeof(why));
	assert_true(t < 0); /* port 0 is not a URL iovirt takes */
}

/* Each type's length: one accepted, one refused; a type from the wrong
 * side, an unknown type and a reserved word refused. */
static void test_header_rules(void **state)
{
	static const struct { uint32_t type; uint64_t good, bad; bool from_source; } rules[] = {
		{MIG_HELLO, 12, 11, true},
		{MIG_PAGES, 8 + 4096, 8 + 4095, true},
		{MIG_PAGES, 8 + 4096 * MIG_MAX_PAGES, 8 + 4096 * (MIG_MAX_PAGES + 1), true},
		{MIG_ZERO, 16, 24, true},
		{MIG_STATE, 1, 0, true},
		{MIG_CANCEL, MIG_MAX_TEXT, MIG_MAX_TEXT + 1, true},
		{MIG_ACCEPT, 0, 1, false},
		{MIG_DONE, 0, 8, false},
		{MIG_FAILED, 5, MIG_MAX_TEXT + 1, false},
		{MIG_REFUSE, 0, 1ULL << 40, false},
	};
	char why[200];
	struct mig_header h;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		raw(rules[i].type, 0, rules[i].good);
		assert_int_equal(mig_recv_header(pair[1], rules[i].from_source, &h, why, sizeof(why)),
				 0);
		assert_int_equal(h.type, rules[i].type);
		assert_int_equal(h.len, rules[i].good);
		raw(rules[i].type, 0, rules[i].bad);
		assert_int_equal(mig_recv_header(pair[1], rules[i].from_source, &h, why, sizeof(why)),
				 -EINVAL);
		assert_non_null(strstr(why, "length"));
		raw(rules[i].type, 0, rules[i].good);
		assert_int_equal(mig_recv_header(pair[1], !rules[i].from_source, &h, why, sizeof(why)),
				 -EINVAL);
		assert_non_null(strstr(why, "never sends"));
	}
	raw(99, 0, 0);
	assert_int_equal(mig_recv_header(pair[1], true, &h, why, sizeof(why)), -EINVAL);
	raw(MIG_ZERO, 1, 16);
	assert_int_equal(mig_recv_header(pair[1], true, &h, why, sizeof(why)), -EINVAL);
	close(pair[0]);
	pair[0] = -1;
	assert_int_equal(mig_recv_header(pair[1], true, &h, why, sizeof(why)), -EPIPE);
	assert_non_null(strstr(why, "closed"));
}

static uint8_t low[4 * 4096], high[2 * 4096];

static void two_regions(struct guest_mem *mem)
{
	guest_mem_init_empty(mem);
	assert_int_equal(guest_mem_add_region(mem, 0, low, sizeof(low)), 0);
	assert_int_equal(guest_mem_add_region(mem, 0x100000, high, sizeof(high)), 0);
}

static int recv_memory(struct guest_mem *mem, uint64_t *pages, char *why)
{
	struct mig_header h;
	int ret = mig_recv_header(pair[1], true, &h, why, 200);
	return ret < 0 ? ret : mig_recv_memory(pair[1], &h, mem, pages, why, 200);
}

static void test_pages_and_zero(void **state)
{
	struct guest_mem mem;
	two_regions(&mem);
	memset(low, 0x55, sizeof(low));
	static uint8_t data[2 * 4096];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	char why[200];
	uint64_t pages = 0;
	assert_int_equal(mig_send_pages(pair[0], 0x1000, data, 2), 0);
	assert_int_equal(recv_memory(&mem, &pages, why), 0);
	assert_int_equal(pages, 2);
	assert_memory_equal(low + 0x1000, data, sizeof(data));
	assert_int_equal(low[0], 0x55); /* the page before: untouched */
	assert_int_equal(low[0x3000], 0x55);

	assert_int_equal(mig_send_zero(pair[0], 0x1000, 3), 0);
	assert_int_equal(recv_memory(&mem, &pages, why), 0);
	assert_int_equal(pages, 3);
	for (size_t i = 0x1000; i < 0x4000; i++)
		assert_int_equal(low[i], 0);
	assert_int_equal(low[0xfff], 0x55);

	assert_int_equal(mig_send_pages(pair[0], 0x100000, data, 2), 0);
	assert_int_equal(recv_memory(&mem, &pages, why), 0);
	assert_memory_equal(high, data, sizeof(data));
}

/* Outside RAM, across the end of a region, unaligned, zero pages: each
 * refused naming the range; RAM untouched. */
static void test_memory_refusals(void **state)
{
	struct guest_mem mem;
	two_regions(&mem);
	memset(low, 0x55, sizeof(low));
	memset(high, 0x66, sizeof(high));
	static uint8_t data[2 * 4096];
	char why[200];
	uint64_t pages;
	static const struct { uint64_t gpa, count; bool zero; } bad[] = {
		{0x3000, 2, false},   /* past the low region's end */
		{0x4000, 1, false},   /* in the gap */
		{0x101000, 2, false}, /* past the high region's end */
		{0x800, 1, false},    /* unaligned */
		{0x3000, 2, true},
		{0x0, 0, true},       /* no pages */
		{0x100000, 1ULL << 60, true},
		{UINT64_MAX & ~0xfffULL, 1, true},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (bad[i].zero)
			assert_int_equal(mig_send_zero(pair[0], bad[i].gpa, bad[i].count), 0);
		else
			assert_int_equal(mig_send_pages(pair[0], bad[i].gpa, data, bad[i].count), 0);
		assert_int_equal(recv_memory(&mem, &pages, why), -EINVAL);
		assert_non_null(strstr(why, "not whole pages inside one RAM region"));
		/* The refused payload stays unread: a new pair for the next. */
		teardown(state);
		setup(state);
	}
	for (size_t i = 0; i < sizeof(low); i++)
		assert_int_equal(low[i], 0x55);
	for (size_t i = 0; i < sizeof(high); i++)
		assert_int_equal(high[i], 0x66);
}

/* A PAGES message cut short: the stream's end, said as such. */
static void test_cut_stream(void **state)
{
	struct guest_mem mem;
	two_regions(&mem);
	raw(MIG_PAGES, 0, 8 + 4096);
	uint64_t gpa = 0;
	assert_int_equal(write(pair[0], &gpa, 8), 8);
	assert_int_equal(write(pair[0], low, 100), 100);
	close(pair[0]);
	pair[0] = -1;
	char why[200];
	uint64_t pages;
	assert_int_equal(recv_memory(&mem, &pages, why), -EPIPE);
	assert_non_null(strstr(why, "ended inside a PAGES message"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_listen_connect),
		cmocka_unit_test_setup_teardown(test_header_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages_and_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_stream, setup, teardown),
	};
	return cmocka_run_group_tests_name("migrate stream", tests, NULL, NULL);
}
