/* State records (src/core/state.c): every item type round trips, sections
 * nest, optional sections are skipped or found absent, newer versions and
 * every truncated, corrupted or over-nested record are refused with an
 * error naming the device, the section path and the field, errors are
 * sticky and zero what later calls return, and the writer refuses what it
 * cannot encode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/state.h"

/* Offsets of item heads in the full record, taken while writing it. */
struct layout {
	size_t a, f, g, opt, sub, end;
};

/* Every item type, a required sub-section with range and bytes_max
 * fields, and last (where a reader that does not know it skips it on
 * leave) an optional section with a section inside. */
static void write_full(struct state_writer *w, struct layout *at)
{
	static const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
	static const uint8_t mac[] = {0x52, 0x54, 0x00};
	struct layout dummy;
	if (!at)
		at = &dummy;
	state_writer_init(w);
	state_begin(w, "dev", 2);
	at->a = w->len;
	state_put_u8(w, "a", 0xa5);
	state_put_u16(w, "b", 0xbeef);
	state_put_u32(w, "c", 0xdeadbeef);
	state_put_u64(w, "d", 0x0123456789abcdefULL);
	state_put_bool(w, "e", true);
	at->f = w->len;
	state_put_bytes(w, "f", hello, sizeof(hello));
	at->g = w->len;
	state_put_bytes(w, "g", NULL, 0);
	at->sub = w->len;
	state_begin(w, "sub", 1);
	state_put_u32(w, "r", 50);
	state_put_u64(w, "s", 1000);
	state_put_bytes(w, "m", mac, sizeof(mac));
	state_end(w);
	at->opt = w->len;
	state_begin_optional(w, "opt", 1);
	state_put_u32(w, "x", 7);
	state_begin(w, "inner", 1);
	state_put_u8(w, "y", 1);
	state_end(w);
	state_end(w);
	at->end = w->len;
	state_end(w);
	assert_int_equal(state_writer_finish(w), 0);
}

struct full {
	uint8_t a;
	uint16_t b;
	uint32_t c, x, r;
	uint64_t d, s;
	bool e;
	uint8_t f[5], y, m[8];
	size_t mlen;
	uint16_t version;
	int opt;
};

/* The reader that knows the whole schema; 0 or -EINVAL. */
static int read_full(const void *buf, size_t len, struct full *o, struct state_reader *r)
{
	memset(o, 0x5a, sizeof(*o));
	state_reader_init(r, buf, len, "test0");
	state_enter(r, "dev", 2, &o->version);
	state_get_u8(r, "a", &o->a);
	state_get_u16(r, "b", &o->b);
	state_get_u32(r, "c", &o->c);
	state_get_u64(r, "d", &o->d);
	state_get_bool(r, "e", &o->e);
	state_get_bytes(r, "f", o->f, sizeof(o->f));
	state_get_bytes(r, "g", NULL, 0);
	state_enter(r, "sub", 1, NULL);
	state_get_u32_range(r, "r", &o->r, 1, 64);
	state_get_u64_range(r, "s", &o->s, 1000, 1000);
	state_get_bytes_max(r, "m", o->m, sizeof(o->m), &o->mlen);
	state_leave(r);
	o->opt = state_enter_optional(r, "opt", 1, NULL);
	if (o->opt == 1) {
		state_get_u32(r, "x", &o->x);
		state_enter(r, "inner", 1, NULL);
		state_get_u8(r, "y", &o->y);
		state_leave(r);
		state_leave(r);
	}
	state_leave(r);
	return state_reader_finish(r);
}

/* A reader of the same record that predates "opt": leave skips it. */
static int read_without_opt(const void *buf, size_t len, struct state_reader *r)
{
	struct full o;
	state_reader_init(r, buf, len, "test0");
	state_enter(r, "dev", 2, NULL);
	state_get_u8(r, "a", &o.a);
	state_get_u16(r, "b", &o.b);
	state_get_u32(r, "c", &o.c);
	state_get_u64(r, "d", &o.d);
	state_get_bool(r, "e", &o.e);
	state_get_bytes(r, "f", o.f, sizeof(o.f));
	state_get_bytes(r, "g", NULL, 0);
	state_enter(r, "sub", 1, NULL);
	state_get_u32_range(r, "r", &o.r, 1, 64);
	state_get_u64_range(r, "s", &o.s, 1000, 1000);
	state_get_bytes_max(r, "m", o.m, sizeof(o.m), &o.mlen);
	state_leave(r);
	state_leave(r);
	return state_reader_finish(r);
}

static void test_round_trip_every_type(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	struct full o;
	write_full(&w, NULL);
	assert_int_equal(read_full(w.buf, w.len, &o, &r), 0);
	assert_false(state_failed(&r));
	assert_string_equal(state_error(&r), "");
	assert_int_equal(o.version, 2);
	assert_int_equal(o.a, 0xa5);
	assert_int_equal(o.b, 0xbeef);
	assert_int_equal(o.c, 0xdeadbeef);
	assert_true(o.d == 0x0123456789abcdefULL);
	assert_true(o.e);
	assert_memory_equal(o.f, "hello", 5);
	assert_int_equal(o.opt, 1);
	assert_int_equal(o.x, 7);
	assert_int_equal(o.y, 1);
	assert_int_equal(o.r, 50);
	assert_int_equal(o.s, 1000);
	assert_int_equal(o.mlen, 3);
	assert_memory_equal(o.m, "\x52\x54\x00\0\0\0\0\0", 8);
	state_writer_free(&w);
}

/* The encoding is fixed (little-endian, as state.h documents): a record
 * written on one host reads on another. */
static void test_encoding_is_fixed(void **unused)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin_optional(&w, "s", 0x0102);
	state_put_u16(&w, "v", 0xa1b2);
	state_put_bytes(&w, "b", "xy", 2);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	static const uint8_t want[] = {
		STATE_BEGIN, 1, 's', 0x02, 0x01, STATE_OPTIONAL,
		STATE_U16, 1, 'v', 0xb2, 0xa1,
		STATE_BYTES, 1, 'b', 2, 0, 0, 0, 'x', 'y',
		STATE_END, 0,
	};
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.buf, want, sizeof(want));
	state_writer_free(&w);
}

static void test_nested_sections_and_versions(void **unused)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, "l0", 3);
	for (int i = 1; i < STATE_MAX_DEPTH; i++)
		state_begin(&w, "ln", (uint16_t)(10 + i));
	state_put_u8(&w, "deep", 42);
	for (int i = 0; i < STATE_MAX_DEPTH; i++)
		state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);

	struct state_reader r;
	uint16_t version;
	uint8_t v;
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "l0", 3, &version), 0);
	assert_int_equal(version, 3);
	for (int i = 1; i < STATE_MAX_DEPTH; i++) {
		assert_int_equal(state_enter(&r, "ln", 100, &version), 0);
		assert_int_equal(version, 10 + i);
	}
	assert_int_equal(state_get_u8(&r, "deep", &v), 0);
	assert_int_equal(v, 42);
	for (int i = 0; i < STATE_MAX_DEPTH; i++)
		assert_int_equal(state_leave(&r), 0);
	assert_int_equal(state_reader_finish(&r), 0);
	state_writer_free(&w);
}

static void test_optional_section_skipped(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	write_full(&w, NULL);
	assert_int_equal(read_without_opt(w.buf, w.len, &r), 0);
	assert_false(state_failed(&r));
	state_writer_free(&w);

	state_writer_init(&w);
	state_begin(&w, "dev", 1);
	state_put_u8(&w, "a", 1);
	state_begin_optional(&w, "newer", 9);  /* a version this reader never knew */
	state_put_u64(&w, "n", 5);
	state_begin(&w, "nested", 1);
	state_put_bytes(&w, "blob", "abc", 3);
	state_end(&w);
	state_end(&w);
	state_begin_optional(&w, "newer2", 1);
	state_end(&w);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	uint8_t a;
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "dev", 1, NULL), 0);
	assert_int_equal(state_get_u8(&r, "a", &a), 0);
	assert_int_equal(state_leave(&r), 0);
	assert_int_equal(state_reader_finish(&r), 0);
	state_writer_free(&w);
}

static void test_optional_section_absent(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	state_writer_init(&w);
	state_begin(&w, "dev", 1);
	state_put_u8(&w, "a", 1);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);

	uint8_t a;
	uint16_t version = 77;
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "dev", 1, NULL), 0);
	/* Absent before a field, and at the section's end: nothing consumed. */
	size_t pos = r.pos;
	assert_int_equal(state_enter_optional(&r, "extra", 1, &version), 0);
	assert_int_equal(version, 0);
	assert_int_equal(r.pos, pos);
	assert_int_equal(state_get_u8(&r, "a", &a), 0);
	pos = r.pos;
	assert_int_equal(state_enter_optional(&r, "extra", 1, NULL), 0);
	assert_int_equal(r.pos, pos);
	assert_int_equal(state_leave(&r), 0);
	/* At the end of the input, too. */
	assert_int_equal(state_enter_optional(&r, "extra", 1, NULL), 0);
	assert_int_equal(state_reader_finish(&r), 0);
	assert_false(state_failed(&r));

	/* A required section that is absent is an error naming it. */
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "other", 1, NULL), -EINVAL);
	assert_non_null(strstr(state_error(&r), "test0: field other: expected the section"));
	state_writer_free(&w);
}

static void test_newer_version_refused(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	state_writer_init(&w);
	state_begin(&w, "outer", 1);
	state_begin(&w, "queue", 3);
	state_end(&w);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	uint16_t version = 9;
	state_reader_init(&r, w.buf, w.len, "nvme0");
	assert_int_equal(state_enter(&r, "outer", 1, NULL), 0);
	assert_int_equal(state_enter(&r, "queue", 2, &version), -EINVAL);
	assert_int_equal(version, 0);
	assert_non_null(strstr(state_error(&r), "nvme0: field outer.queue: section version 3 is "
					       "newer than this iovirt reads (2)"));
	/* The same as optional: still refused, not skipped. */
	state_reader_init(&r, w.buf, w.len, "nvme0");
	assert_int_equal(state_enter(&r, "outer", 1, NULL), 0);
	assert_int_equal(state_enter_optional(&r, "queue", 2, NULL), -EINVAL);
	assert_non_null(strstr(state_error(&r), "queue"));
	state_writer_free(&w);
}

static void test_every_truncation_refused(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	struct full o;
	write_full(&w, NULL);
	for (size_t len = 0; len < w.len; len++) {
		/* A copy of exactly len bytes: ASan sees any read past it. */
		uint8_t *cut = test_malloc(len ? len : 1);
		memcpy(cut, w.buf, len);
		assert_int_equal(read_full(cut, len, &o, &r), -EINVAL);
		assert_true(state_failed(&r));
		assert_non_null(strstr(state_error(&r), "test0: field "));
		assert_int_equal(read_without_opt(cut, len, &r), -EINVAL);
		assert_true(state_failed(&r));
		test_free(cut);
	}
	state_writer_free(&w);
}

/* Reads the full record with one byte replaced. */
static int read_patched(const struct state_writer *w, size_t at, uint8_t value,
			struct state_reader *r)
{
	static uint8_t copy[512];
	struct full o;
	assert_true(w->len <= sizeof(copy));
	memcpy(copy, w->buf, w->len);
	copy[at] = value;
	return read_full(copy, w->len, &o, r);
}

static void test_corrupted_items_refused(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	struct layout at;
	write_full(&w, &at);

	/* Type byte of "a": unknown types, and a known but wrong one. */
	static const uint8_t bad_types[] = {0, 8, 0xff};
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		assert_int_equal(read_patched(&w, at.a, bad_types[i], &r), -EINVAL);
		assert_non_null(strstr(state_error(&r), "test0: field dev.a: item type"));
		assert_non_null(strstr(state_error(&r), "unknown (corrupted)"));
	}
	assert_int_equal(read_patched(&w, at.a, STATE_U16, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.a: expected a u8, found u16 a"));

	/* Name length of "a": 0, over the maximum, past the end. */
	assert_int_equal(read_patched(&w, at.a + 1, 0, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.a: item name length 0 is invalid"));
	assert_int_equal(read_patched(&w, at.a + 1, STATE_NAME_MAX + 1, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.a: item name length 64 is invalid"));
	/* A longer name that fits reads as another field's name. */
	assert_int_equal(read_patched(&w, at.a + 1, 2, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.a: "));

	/* Bytes length of "f": each of its four bytes set high. */
	size_t flen = at.f + 3; /* type, namelen, 'f' */
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(read_patched(&w, flen + i, 0xff, &r), -EINVAL);
		assert_non_null(strstr(state_error(&r), "dev.f: "));
	}
	assert_int_equal(read_patched(&w, flen + 3, 0xff, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "do not fit in the record (truncated)"));
	/* One shorter than written: the rest is taken as an item head. */
	assert_int_equal(read_patched(&w, flen, 4, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.f: 4 bytes, 5 expected"));

	/* Unknown section flags; a bool that is not 0 or 1. */
	assert_int_equal(read_patched(&w, at.opt + 2 + 3 + 2, 0x80, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.opt: section flags 0x80 are unknown"));
	assert_int_equal(read_patched(&w, at.f - 1, 2, &r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.e: 2 is not a boolean"));

	/* Every byte with every single bit flipped: refused or read, never a
	 * crash (ASan), and a refusal always says why. */
	for (size_t i = 0; i < w.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			if (read_patched(&w, i, w.buf[i] ^ (uint8_t)(1u << bit), &r) < 0)
				assert_non_null(strstr(state_error(&r), "test0: field "));
		}
	}
	state_writer_free(&w);
}

static void test_range_and_bytes_max_refused(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	state_writer_init(&w);
	state_put_u32(&w, "n", 70000);
	state_put_u64(&w, "big", 5);
	state_put_bytes(&w, "blob", "abcdef", 6);
	assert_int_equal(state_writer_finish(&w), 0);

	uint32_t n = 1;
	state_reader_init(&r, w.buf, w.len, "nvme0");
	assert_int_equal(state_get_u32_range(&r, "n", &n, 0, 1023), -EINVAL);
	assert_int_equal(n, 0);
	assert_string_equal(state_error(&r),
			    "nvme0: field n: 70000 is out of range (0 to 1023)");

	uint64_t big = 1;
	state_reader_init(&r, w.buf, w.len, "nvme0");
	assert_int_equal(state_get_u32_range(&r, "n", &n, 0, 70000), 0);
	assert_int_equal(state_get_u64_range(&r, "big", &big, 6, 10), -EINVAL);
	assert_true(big == 0);
	assert_non_null(strstr(state_error(&r), "big: 5 is out of range (6 to 10)"));

	uint8_t buf[4];
	size_t len = 9;
	state_reader_init(&r, w.buf, w.len, "nvme0");
	state_get_u32(&r, "n", &n);
	state_get_u64(&r, "big", &big);
	assert_int_equal(state_get_bytes_max(&r, "blob", buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(len, 0);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_non_null(strstr(state_error(&r), "blob: 6 bytes, at most 4 expected"));
	state_writer_free(&w);
}

/* Nesting: the writer stops at STATE_MAX_DEPTH, and a hand-made record
 * deeper than that is refused by enter and by the skip in leave. */
static void test_nesting_depth_limit(void **unused)
{
	struct state_writer w;
	state_writer_init(&w);
	for (int i = 0; i <= STATE_MAX_DEPTH; i++)
		state_begin(&w, "s", 1);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);

	uint8_t rec[(STATE_MAX_DEPTH + 2) * 6 + (STATE_MAX_DEPTH + 2) * 2];
	size_t n = 0;
	for (int i = 0; i < STATE_MAX_DEPTH + 2; i++) {
		const uint8_t begin[] = {STATE_BEGIN, 1, 's', 1, 0, STATE_OPTIONAL};
		memcpy(rec + n, begin, sizeof(begin));
		n += sizeof(begin);
	}
	for (int i = 0; i < STATE_MAX_DEPTH + 2; i++) {
		rec[n++] = STATE_END;
		rec[n++] = 0;
	}
	struct state_reader r;
	state_reader_init(&r, rec, n, "test0");
	int i = 0;
	while (state_enter(&r, "s", 1, NULL) == 0)
		i++;
	assert_int_equal(i, STATE_MAX_DEPTH);
	assert_non_null(strstr(state_error(&r), "sections nested too deep"));

	/* The outer section known, the rest optional and unknown: skipped
	 * until the nesting is too deep. */
	state_reader_init(&r, rec, n, "test0");
	assert_int_equal(state_enter(&r, "s", 1, NULL), 0);
	assert_int_equal(state_leave(&r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "test0: field s.s: sections nested too deep"));
}

static void test_error_names_device_section_field(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	state_writer_init(&w);
	state_begin(&w, "nvme", 1);
	state_begin(&w, "sq", 1);
	state_put_u32(&w, "tail", 70000);
	state_end(&w);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	uint32_t tail;
	state_reader_init(&r, w.buf, w.len, "nvme0");
	state_enter(&r, "nvme", 1, NULL);
	state_enter(&r, "sq", 1, NULL);
	assert_int_equal(state_get_u32_range(&r, "tail", &tail, 0, 1023), -EINVAL);
	assert_string_equal(state_error(&r),
			    "nvme0: field nvme.sq.tail: 70000 is out of range (0 to 1023)");

	/* state_invalid: a loader's own check, prefixed the same way. */
	state_reader_init(&r, w.buf, w.len, "nvme0");
	state_enter(&r, "nvme", 1, NULL);
	assert_int_equal(state_invalid(&r, "mode", "%d is not a mode", 3), -EINVAL);
	assert_string_equal(state_error(&r), "nvme0: field nvme.mode: 3 is not a mode");

	/* No device given: a placeholder, never a NULL in the message. */
	state_reader_init(&r, w.buf, 1, NULL);
	assert_int_equal(state_enter(&r, "nvme", 1, NULL), -EINVAL);
	assert_non_null(strstr(state_error(&r), "device: field nvme: "));
	state_writer_free(&w);
}

static void test_error_is_sticky_and_zeroes(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	struct layout at;
	write_full(&w, &at);
	state_reader_init(&r, w.buf, w.len, "test0");
	state_enter(&r, "dev", 2, NULL);
	uint16_t wrong;
	assert_int_equal(state_get_u16(&r, "a", &wrong), -EINVAL);  /* a is a u8 */
	assert_int_equal(wrong, 0);
	char first[sizeof(r.error)];
	memcpy(first, r.error, sizeof(first));
	size_t pos = r.pos;

	/* Every call now fails, zeroes its output, consumes nothing and keeps
	 * the first message. */
	uint8_t u8 = 1, bytes[5] = {1, 1, 1, 1, 1};
	uint16_t u16 = 1, version = 1;
	uint32_t u32 = 1;
	uint64_t u64 = 1;
	bool b = true;
	size_t len = 1;
	assert_int_equal(state_get_u8(&r, "a", &u8), -EINVAL);
	assert_int_equal(state_get_u16(&r, "b", &u16), -EINVAL);
	assert_int_equal(state_get_u32(&r, "c", &u32), -EINVAL);
	assert_int_equal(u8 | u16 | u32, 0);
	u32 = 1;
	assert_int_equal(state_get_u32_range(&r, "c", &u32, 0, 10), -EINVAL);
	assert_int_equal(u32, 0);
	assert_int_equal(state_get_u64(&r, "d", &u64), -EINVAL);
	assert_true(u64 == 0);
	u64 = 1;
	assert_int_equal(state_get_u64_range(&r, "d", &u64, 0, 10), -EINVAL);
	assert_true(u64 == 0);
	assert_int_equal(state_get_bool(&r, "e", &b), -EINVAL);
	assert_false(b);
	assert_int_equal(state_get_bytes(&r, "f", bytes, sizeof(bytes)), -EINVAL);
	assert_memory_equal(bytes, "\0\0\0\0\0", 5);
	memset(bytes, 1, sizeof(bytes));
	assert_int_equal(state_get_bytes_max(&r, "f", bytes, sizeof(bytes), &len), -EINVAL);
	assert_memory_equal(bytes, "\0\0\0\0\0", 5);
	assert_int_equal(len, 0);
	assert_int_equal(state_enter(&r, "opt", 1, &version), -EINVAL);
	assert_int_equal(version, 0);
	assert_int_equal(state_enter_optional(&r, "opt", 1, NULL), -EINVAL);
	assert_int_equal(state_leave(&r), -EINVAL);
	assert_int_equal(state_reader_finish(&r), -EINVAL);
	assert_int_equal(r.pos, pos);
	assert_string_equal(r.error, first);
	assert_non_null(strstr(first, "test0: field dev.a: expected a u16, found u8 a"));
	state_writer_free(&w);
}

static void test_finish_refuses_leftovers(void **unused)
{
	struct state_writer w;
	struct state_reader r;
	state_writer_init(&w);
	state_begin(&w, "dev", 1);
	state_end(&w);
	state_put_u8(&w, "extra", 1);
	assert_int_equal(state_writer_finish(&w), 0);

	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "dev", 1, NULL), 0);
	assert_int_equal(state_leave(&r), 0);
	assert_int_equal(state_reader_finish(&r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "8 bytes after the record"));

	/* A section not left, and leave without a section. */
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_enter(&r, "dev", 1, NULL), 0);
	assert_int_equal(state_reader_finish(&r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "section not left"));
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_leave(&r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "no section to leave"));

	/* A field the reader does not ask for is not skipped by leave. */
	state_writer_free(&w);
	state_writer_init(&w);
	state_begin(&w, "dev", 1);
	state_put_u8(&w, "unasked", 1);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), 0);
	state_reader_init(&r, w.buf, w.len, "test0");
	state_enter(&r, "dev", 1, NULL);
	assert_int_equal(state_leave(&r), -EINVAL);
	assert_non_null(strstr(state_error(&r), "dev.unasked: u8 unasked is unknown"));
	state_writer_free(&w);
}

static void test_writer_errors(void **unused)
{
	struct state_writer w;
	/* An end without a begin. */
	state_writer_init(&w);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);
	/* A begin without an end. */
	state_writer_init(&w);
	state_begin(&w, "open", 1);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);
	/* Empty and NULL names. */
	state_writer_init(&w);
	state_put_u8(&w, "", 1);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);
	state_writer_init(&w);
	state_begin(&w, NULL, 1);
	state_end(&w);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);
	/* 63 bytes is the longest name; 64 is refused. */
	char name[STATE_NAME_MAX + 2];
	memset(name, 'n', sizeof(name));
	name[STATE_NAME_MAX] = 0;
	state_writer_init(&w);
	state_put_u32(&w, name, 1);
	assert_int_equal(state_writer_finish(&w), 0);
	struct state_reader r;
	uint32_t v;
	state_reader_init(&r, w.buf, w.len, "test0");
	assert_int_equal(state_get_u32(&r, name, &v), 0);
	assert_int_equal(v, 1);
	state_writer_free(&w);
	name[STATE_NAME_MAX] = 'n';
	name[STATE_NAME_MAX + 1] = 0;
	state_writer_init(&w);
	state_put_u32(&w, name, 1);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	/* The error is sticky: later good items do not clear it. */
	state_put_u8(&w, "ok", 1);
	assert_int_equal(state_writer_finish(&w), -EINVAL);
	state_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_encoding_is_fixed),
		cmocka_unit_test(test_nested_sections_and_versions),
		cmocka_unit_test(test_optional_section_skipped),
		cmocka_unit_test(test_optional_section_absent),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_corrupted_items_refused),
		cmocka_unit_test(test_range_and_bytes_max_refused),
		cmocka_unit_test(test_nesting_depth_limit),
		cmocka_unit_test(test_error_names_device_section_field),
		cmocka_unit_test(test_error_is_sticky_and_zeroes),
		cmocka_unit_test(test_finish_refuses_leftovers),
		cmocka_unit_test(test_writer_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
