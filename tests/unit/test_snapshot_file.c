/* The snapshot's state file (src/migrate/snapshot_file.c): sections round
 * trip; every truncated prefix, every flipped bit, duplicate ids, lengths
 * past the end, trailing bytes and an unknown format are refused with a
 * line naming the header or the section; the writer refuses bad names and
 * too many sections (and stays refused); snap_file_read refuses a missing
 * file, a directory and a file over the cap, naming the path. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate/snapshot_file.h"

#define HEADER_LEN 24
#define SECTION_HEADER_LEN 68

static const uint8_t vm_rec[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t cpu_rec[] = {0xaa, 0x55};
static uint8_t blk_rec[300];

/* Three sections (one empty), finished; the caller frees w. */
static void write_three(struct snap_file_writer *w)
{
	for (size_t i = 0; i < sizeof(blk_rec); i++)
		blk_rec[i] = (uint8_t)(i * 7 + 1);
	snap_file_writer_init(w);
	snap_file_add(w, "vm", "vm", 1, vm_rec, sizeof(vm_rec));
	snap_file_add(w, "vcpu", "vcpu0", 2, cpu_rec, sizeof(cpu_rec));
	snap_file_add(w, "console", "console0", 7, NULL, 0);
	snap_file_add(w, "virtio-blk", "virtio-blk0", 3, blk_rec, sizeof(blk_rec));
	assert_int_equal(snap_file_finish(w), 0);
}

/* Where section i's header starts in write_three's file. */
static size_t section_at(unsigned i)
{
	static const size_t lens[] = {sizeof(vm_rec), sizeof(cpu_rec), 0, sizeof(blk_rec)};
	size_t at = HEADER_LEN;
	for (unsigned j = 0; j < i; j++)
		at += SECTION_HEADER_LEN + lens[j];
	return at;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_round_trip(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	assert_int_equal(w.len, section_at(4));
	struct snap_file f;
	char why[200] = "";
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), 0);
	assert_int_equal(f.count, 4);

	const struct snap_section *s = snap_file_find(&f, "vcpu0");
	assert_non_null(s);
	assert_string_equal(s->kind, "vcpu");
	assert_int_equal(s->version, 2);
	assert_int_equal(s->len, sizeof(cpu_rec));
	assert_memory_equal(s->data, cpu_rec, sizeof(cpu_rec));

	s = snap_file_find(&f, "virtio-blk0");
	assert_non_null(s);
	assert_string_equal(s->kind, "virtio-blk");
	assert_int_equal(s->version, 3);
	assert_int_equal(s->len, sizeof(blk_rec));
	assert_memory_equal(s->data, blk_rec, sizeof(blk_rec));

	s = snap_file_find(&f, "console0");
	assert_non_null(s);
	assert_int_equal(s->version, 7);
	assert_int_equal(s->len, 0);

	s = snap_file_find(&f, "vm");
	assert_non_null(s);
	assert_memory_equal(s->data, vm_rec, sizeof(vm_rec));
	/* Sections stay in the order they were written. */
	assert_string_equal(f.sections[0].id, "vm");
	assert_string_equal(f.sections[3].id, "virtio-blk0");
	assert_null(snap_file_find(&f, "vcpu1"));
	assert_null(snap_file_find(&f, "vcpu"));
	snap_file_writer_free(&w);
}

static void test_empty_file_round_trips(void **state)
{
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	assert_int_equal(snap_file_finish(&w), 0);
	assert_int_equal(w.len, HEADER_LEN);
	struct snap_file f;
	char why[200];
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), 0);
	assert_int_equal(f.count, 0);
	assert_null(snap_file_find(&f, "vm"));
	snap_file_writer_free(&w);
}

/* Every prefix shorter than the file: refused, with a line naming the
 * header (too short for its magic) or the section it stops in. */
static void test_every_prefix_refused(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	for (size_t len = 0; len < w.len; len++) {
		/* A copy of exactly len bytes, so ASan sees any read past it. */
		uint8_t *cut = malloc(len ? len : 1);
		assert_non_null(cut);
		memcpy(cut, w.buf, len);
		struct snap_file f;
		char why[200] = "";
		assert_int_equal(snap_file_parse(&f, cut, len, why, sizeof(why)), -EINVAL);
		assert_int_equal(f.count, 0);
		assert_true(why[0] != 0);
		if (len < HEADER_LEN) {
			assert_non_null(strstr(why, "magic"));
		} else {
			unsigned sec = 0;
			while (sec < 3 && len >= section_at(sec + 1))
				sec++;
			char name[16];
			snprintf(name, sizeof(name), "section %u", sec);
			if (!strstr(why, name))
				fail_msg("prefix %zu: '%s' does not name %s", len, why, name);
		}
		free(cut);
	}
	snap_file_writer_free(&w);
}

/* Every single bit flipped anywhere: refused, naming the magic, the
 * header or the section the byte is in. */
static void test_every_bit_flip_refused(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	uint8_t *copy = malloc(w.len);
	assert_non_null(copy);
	for (size_t at = 0; at < w.len; at++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, w.buf, w.len);
			copy[at] ^= (uint8_t)(1u << bit);
			struct snap_file f;
			char why[200] = "";
			int ret = snap_file_parse(&f, copy, w.len, why, sizeof(why));
			if (ret != -EINVAL)
				fail_msg("byte %zu bit %d: accepted (%d)", at, bit, ret);
			assert_int_equal(f.count, 0);
			const char *want;
			char name[16];
			if (at < 8) {
				want = "magic";
			} else if (at < HEADER_LEN) {
				want = "header";
			} else {
				unsigned sec = 0;
				while (sec < 3 && at >= section_at(sec + 1))
					sec++;
				snprintf(name, sizeof(name), "section %u", sec);
				want = name;
			}
			if (!strstr(why, want))
				fail_msg("byte %zu bit %d: '%s' does not name %s", at, bit, why, want);
		}
	}
	free(copy);
	snap_file_writer_free(&w);
}

static void test_duplicate_id_refused(void **state)
{
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	snap_file_add(&w, "vcpu", "vcpu0", 1, cpu_rec, sizeof(cpu_rec));
	snap_file_add(&w, "serial", "serial0", 1, vm_rec, sizeof(vm_rec));
	snap_file_add(&w, "vcpu", "vcpu9", 1, vm_rec, sizeof(vm_rec));
	assert_int_equal(snap_file_finish(&w), 0);
	/* The writer refuses a duplicate: rename the third section's id to
	 * vcpu0 by hand, with its CRC (60 header bytes, then the payload). */
	uint8_t *h = w.buf + 24 + 2 * 68 + sizeof(cpu_rec) + sizeof(vm_rec);
	assert_memory_equal(h + 24, "vcpu9", 6);
	h[24 + 4] = '0';
	uint8_t joined[60 + sizeof(vm_rec)];
	memcpy(joined, h, 60);
	memcpy(joined + 60, vm_rec, sizeof(vm_rec));
	uint32_t c = htole32(snap_crc32(joined, sizeof(joined)));
	memcpy(h + 60, &c, 4);
	struct snap_file f;
	char why[200] = "";
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "section 2"));
	assert_non_null(strstr(why, "vcpu0"));
	assert_non_null(strstr(why, "twice"));
	assert_int_equal(f.count, 0);
	snap_file_writer_free(&w);
}

/* A length past the end, with a matching CRC (so that only the length
 * check can catch it): refused as truncated. */
static void test_length_past_end_refused(void **state)
{
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	snap_file_add(&w, "vm", "vm", 1, vm_rec, sizeof(vm_rec));
	assert_int_equal(snap_file_finish(&w), 0);
	static const uint64_t lens[] = {sizeof(vm_rec) + 1, 1ULL << 40, UINT64_MAX};
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint8_t *p = w.buf + HEADER_LEN + 48 + 4;
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(lens[k] >> (8 * i));
		struct snap_file f;
		char why[200] = "";
		assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "section 0 (vm)"));
		assert_non_null(strstr(why, "truncated"));
	}
	snap_file_writer_free(&w);
}

static void test_trailing_bytes_refused(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	uint8_t *longer = calloc(1, w.len + 1);
	assert_non_null(longer);
	memcpy(longer, w.buf, w.len);
	struct snap_file f;
	char why[200] = "";
	assert_int_equal(snap_file_parse(&f, longer, w.len + 1, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1 bytes after the last section"));
	free(longer);
	snap_file_writer_free(&w);
}

/* Another format, or more sections than the cap, with a header CRC that
 * matches: refused for what it is. */
static void test_unknown_format_and_count_refused(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	struct snap_file f;
	char why[200] = "";
	put_le32(w.buf + 8, 2);
	put_le32(w.buf + 16, snap_crc32(w.buf, 16));
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "format 2"));

	put_le32(w.buf + 8, SNAP_FILE_FORMAT);
	put_le32(w.buf + 12, SNAP_MAX_SECTIONS + 1);
	put_le32(w.buf + 16, snap_crc32(w.buf, 16));
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "sections"));

	/* Fewer sections than there are: the rest is trailing bytes. */
	put_le32(w.buf + 12, 3);
	put_le32(w.buf + 16, snap_crc32(w.buf, 16));
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "after the last section"));
	snap_file_writer_free(&w);
}

/* The writer refuses what the reader would refuse, and stays refused. */
static void test_writer_refuses_bad_names(void **state)
{
	static const char *const bad[] = {
		"", "123456789012345678901234", "with space", "tab\there", "\x7f",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		for (int as_id = 0; as_id < 2; as_id++) {
			struct snap_file_writer w;
			snap_file_writer_init(&w);
			snap_file_add(&w, "vm", "vm", 1, vm_rec, sizeof(vm_rec));
			size_t len = w.len;
			snap_file_add(&w, as_id ? "vcpu" : bad[k], as_id ? bad[k] : "vcpu0", 1,
				      cpu_rec, sizeof(cpu_rec));
			assert_int_equal(w.error, -EINVAL);
			assert_int_equal(w.len, len);
			/* Sticky: a good section after it is not added. */
			snap_file_add(&w, "serial", "serial0", 1, vm_rec, sizeof(vm_rec));
			assert_int_equal(w.len, len);
			assert_int_equal(w.count, 1);
			assert_int_equal(snap_file_finish(&w), -EINVAL);
			snap_file_writer_free(&w);
		}
	}
	/* The longest name fits. */
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	snap_file_add(&w, "12345678901234567890123", "abcdefghijklmnopqrstuvw", 1, NULL, 0);
	assert_int_equal(snap_file_finish(&w), 0);
	struct snap_file f;
	char why[200];
	assert_int_equal(snap_file_parse(&f, w.buf, w.len, why, sizeof(why)), 0);
	assert_non_null(snap_file_find(&f, "abcdefghijklmnopqrstuvw"));
	snap_file_writer_free(&w);
}

/* The writer refuses an id it has already written (the reader would
 * refuse the file), a prefix of it being another id. */
static void test_writer_refuses_duplicate_id(void **state)
{
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	snap_file_add(&w, "vcpu", "vcpu1", 1, "ab", 2);
	snap_file_add(&w, "vcpu", "vcpu", 1, "c", 1);
	snap_file_add(&w, "vcpu", "vcpu10", 1, NULL, 0);
	assert_int_equal(w.error, 0);
	assert_int_equal(w.count, 3);
	snap_file_add(&w, "nvme", "vcpu1", 1, "x", 1);
	assert_int_equal(w.error, -EINVAL);
	assert_int_equal(w.count, 3);
	snap_file_writer_free(&w);
}

static void test_writer_section_cap(void **state)
{
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	char id[16];
	for (unsigned i = 0; i < SNAP_MAX_SECTIONS; i++) {
		snprintf(id, sizeof(id), "dev%u", i);
		snap_file_add(&w, "dev", id, i, &i, sizeof(i));
	}
	assert_int_equal(w.error, 0);
	assert_int_equal(w.count, SNAP_MAX_SECTIONS);
	size_t len = w.len;
	snap_file_add(&w, "dev", "one-more", 1, NULL, 0);
	assert_int_equal(w.error, -EINVAL);
	assert_int_equal(w.len, len);
	assert_int_equal(snap_file_finish(&w), -EINVAL);

	/* The full file (before the refused one) reads back whole. */
	w.error = 0;
	assert_int_equal(snap_file_finish(&w), 0);
	struct snap_file *f = malloc(sizeof(*f));
	assert_non_null(f);
	char why[200];
	assert_int_equal(snap_file_parse(f, w.buf, w.len, why, sizeof(why)), 0);
	assert_int_equal(f->count, SNAP_MAX_SECTIONS);
	const struct snap_section *s = snap_file_find(f, "dev255");
	assert_non_null(s);
	assert_int_equal(s->version, 255);
	free(f);
	snap_file_writer_free(&w);
}

/* A private directory for the file tests, removed at the end. */
static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/iovirt-snapfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char path[128];
	static const char *const names[] = {"state.bin", "big.bin", "sub"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
	return rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_read_file(void **state)
{
	struct snap_file_writer w;
	write_three(&w);
	char path[128];
	snprintf(path, sizeof(path), "%s/state.bin", dir);
	write_file(path, w.buf, w.len);
	struct snap_file f;
	char why[200] = "";
	assert_int_equal(snap_file_read(&f, path, why, sizeof(why)), 0);
	assert_int_equal(f.count, 4);
	assert_int_equal(f.len, w.len);
	const struct snap_section *s = snap_file_find(&f, "virtio-blk0");
	assert_non_null(s);
	assert_memory_equal(s->data, blk_rec, sizeof(blk_rec));
	snap_file_free(&f);
	assert_null(f.buf);
	assert_int_equal(f.count, 0);

	/* Corrupt on disk: refused naming the path and the section. */
	w.buf[section_at(1) + SECTION_HEADER_LEN] ^= 1;
	write_file(path, w.buf, w.len);
	assert_int_equal(snap_file_read(&f, path, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, path));
	assert_non_null(strstr(why, "section 1 (vcpu0)"));
	assert_null(f.buf);
	snap_file_writer_free(&w);
}

static void test_read_refuses_missing_dir_and_big(void **state)
{
	struct snap_file f;
	char path[128], why[200] = "";
	snprintf(path, sizeof(path), "%s/nope.bin", dir);
	assert_int_equal(snap_file_read(&f, path, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, path));
	assert_null(f.buf);

	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	why[0] = 0;
	assert_int_equal(snap_file_read(&f, path, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, path));
	assert_null(f.buf);

	/* Sparse: over the cap without the disk space. */
	snprintf(path, sizeof(path), "%s/big.bin", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)SNAP_MAX_FILE + 1), 0);
	close(fd);
	why[0] = 0;
	assert_int_equal(snap_file_read(&f, path, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, path));
	assert_non_null(strstr(why, "256 MiB"));
	assert_null(f.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_file_round_trips),
		cmocka_unit_test(test_every_prefix_refused),
		cmocka_unit_test(test_every_bit_flip_refused),
		cmocka_unit_test(test_duplicate_id_refused),
		cmocka_unit_test(test_length_past_end_refused),
		cmocka_unit_test(test_trailing_bytes_refused),
		cmocka_unit_test(test_unknown_format_and_count_refused),
		cmocka_unit_test(test_writer_refuses_bad_names),
		cmocka_unit_test(test_writer_refuses_duplicate_id),
		cmocka_unit_test(test_writer_section_cap),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_refuses_missing_dir_and_big),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
