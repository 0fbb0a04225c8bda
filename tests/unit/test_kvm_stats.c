/* The KVM binary stats parser (kvm/kvm_stats.c) on synthetic stats files in
 * a memfd, laid out as Documentation/virt/kvm/api.rst "KVM_GET_STATS_FD"
 * describes: a good one read by name, then hostile layouts (offsets out of
 * range, name size 0, huge counts, every truncation) refused with one line
 * and no out-of-bounds read (ASan). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <cmocka.h>

#include "kvm/kvm_stats.h"
#include "support/capture.h"

#define NAME_SIZE 48
#define DESC_SIZE (sizeof(struct kvm_stats_desc) + NAME_SIZE)
#define NDESC 3
#define ID_OFF 24
#define DESC_OFF 64
#define DATA_OFF (DESC_OFF + NDESC * DESC_SIZE)
#define FILE_LEN (DATA_OFF + 6 * 8)

/* The file a kernel would give: exits (cumulative), halt_exits, and a
 * four-bucket histogram. */
struct layout {
	uint8_t buf[FILE_LEN];
	size_t len;
};

static struct kvm_stats_desc *desc_at(struct layout *l, unsigned i)
{
	return (struct kvm_stats_desc *)(l->buf + DESC_OFF + i * DESC_SIZE);
}

static void good_layout(struct layout *l)
{
	memset(l, 0, sizeof(*l));
	l->len = FILE_LEN;
	struct kvm_stats_header h = {
		.name_size = NAME_SIZE, .num_desc = NDESC, .id_offset = ID_OFF,
		.desc_offset = DESC_OFF, .data_offset = DATA_OFF,
	};
	memcpy(l->buf, &h, sizeof(h));
	memcpy(l->buf + ID_OFF, "kvm-4242", 9);
	static const struct { const char *name; uint32_t offset; uint16_t size; } d[NDESC] = {
		{"exits", 0, 1}, {"halt_exits", 8, 1}, {"halt_poll_success_hist", 16, 4},
	};
	for (unsigned i = 0; i < NDESC; i++) {
		struct kvm_stats_desc *k = desc_at(l, i);
		k->flags = KVM_STATS_TYPE_CUMULATIVE;
		k->size = d[i].size;
		k->offset = d[i].offset;
		strcpy(k->name, d[i].name);
	}
	static const uint64_t data[6] = {1000, 42, 1, 2, 3, 4};
	memcpy(l->buf + DATA_OFF, data, sizeof(data));
}

static int file_of(const struct layout *l)
{
	int fd = memfd_create("kvm-stats", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, l->buf, l->len), (ssize_t)l->len);
	return fd;
}

/* A sink that records "scope name=value;" per stat. */
struct record {
	char text[1024];
	size_t len;
	int n;
};

static void record_emit(void *opaque, const char *device, const char *scope, const char *name,
			uint64_t value)
{
	struct record *r = opaque;
	r->len += (size_t)snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s/%s %s=%llu;",
				   device, scope, name, (unsigned long long)value);
	r->n++;
}

static void test_good_layout_is_read_by_name(void **state)
{
	(void)state;
	struct layout l;
	good_layout(&l);
	int fd = file_of(&l);
	struct kvm_stats s;
	assert_int_equal(kvm_stats_parse(&s, fd, "VM"), 0);
	assert_int_equal(s.n, NDESC);
	struct record r = {0};
	struct counter_sink sink = {record_emit, &r};
	assert_int_equal(kvm_stats_emit(&s, &sink, "kvm", "vm"), 0);
	assert_int_equal(r.n, NDESC);
	assert_string_equal(r.text, "kvm/vm exits=1000;kvm/vm halt_exits=42;"
				    "kvm/vm halt_poll_success_hist=10;");
	/* The data is read again on every emit. */
	uint64_t more = 1001;
	assert_int_equal(pwrite(fd, &more, sizeof(more), DATA_OFF), (ssize_t)sizeof(more));
	memset(&r, 0, sizeof(r));
	assert_int_equal(kvm_stats_emit(&s, &sink, "kvm", "vcpu0"), 0);
	assert_non_null(strstr(r.text, "kvm/vcpu0 exits=1001;"));
	kvm_stats_close(&s);
	assert_int_equal(s.fd, -1);
}

struct refusal {
	struct layout *l;
	int ret;
};

static void parse_it(void *arg)
{
	struct refusal *f = arg;
	struct kvm_stats s;
	f->ret = kvm_stats_parse(&s, file_of(f->l), "vCPU 3");
	if (f->ret == 0)
		kvm_stats_close(&s);
}

/* Parses l, expects a refusal whose one line names the object and says
 * what (a part of the reason). */
static void expect_refused(struct layout *l, const char *what)
{
	struct refusal f = {l, 0};
	char *err = capture_stderr(parse_it, &f);
	if (f.ret != -EINVAL)
		fail_msg("layout for '%s' was not refused (ret %d)", what, f.ret);
	if (!strstr(err, "vCPU 3: KVM stats") || !strstr(err, what))
		fail_msg("refusal for '%s' said: %s", what, err);
	assert_int_equal(count_occurrences(err, "\n"), 1);
	free(err);
}

static void set_header(struct layout *l, size_t field, uint32_t v)
{
	memcpy(l->buf + field, &v, sizeof(v));
}

static void test_hostile_headers_are_refused(void **state)
{
	(void)state;
	struct layout l;
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, name_size), 0);
	expect_refused(&l, "name size");
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, name_size), 1u << 30);
	expect_refused(&l, "name size");
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, num_desc), UINT32_MAX);
	expect_refused(&l, "too many descriptors");
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, num_desc), KVM_STATS_MAX_DESC);
	expect_refused(&l, "past the end of the file");
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, desc_offset), UINT32_MAX);
	expect_refused(&l, "descriptors lie past the end");
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, data_offset), UINT32_MAX - 8);
	expect_refused(&l, "data block lies past the end");
}

static void test_hostile_descriptors_are_refused(void **state)
{
	(void)state;
	struct layout l;
	good_layout(&l);
	desc_at(&l, 1)->offset = UINT32_MAX - 7;
	expect_refused(&l, "past the data block's limit");
	good_layout(&l);
	desc_at(&l, 2)->offset = KVM_STATS_MAX_DATA - 8;
	desc_at(&l, 2)->size = 4;
	expect_refused(&l, "past the data block's limit");
	good_layout(&l);
	desc_at(&l, 0)->offset = 8 * 64; /* inside the limit, past the file's end */
	expect_refused(&l, "data block lies past the end");
	good_layout(&l);
	desc_at(&l, 0)->offset = 3;
	expect_refused(&l, "aligned");
	good_layout(&l);
	desc_at(&l, 0)->size = 0;
	expect_refused(&l, "size is 0");
	good_layout(&l);
	desc_at(&l, 0)->size = UINT16_MAX;
	expect_refused(&l, "too large");
	good_layout(&l);
	memset(desc_at(&l, 1)->name, 'a', NAME_SIZE); /* no NUL */
	expect_refused(&l, "name");
	good_layout(&l);
	desc_at(&l, 1)->name[0] = '\0';
	expect_refused(&l, "name");
	good_layout(&l);
	strcpy(desc_at(&l, 1)->name, "exits\n=9");
	expect_refused(&l, "name");
}

static void quiet_parse(void *arg)
{
	struct refusal *f = arg;
	struct kvm_stats s;
	f->ret = kvm_stats_parse(&s, file_of(f->l), "VM");
	if (f->ret == 0)
		kvm_stats_close(&s);
}

static void test_every_truncation_is_refused(void **state)
{
	(void)state;
	struct layout l;
	for (size_t len = 0; len < FILE_LEN; len++) {
		good_layout(&l);
		l.len = len;
		struct refusal f = {&l, 0};
		free(capture_stderr(quiet_parse, &f));
		if (f.ret != -EINVAL)
			fail_msg("a stats file cut to %zu of %zu bytes was accepted", len,
				 (size_t)FILE_LEN);
	}
	good_layout(&l);
	struct refusal f = {&l, -1};
	free(capture_stderr(quiet_parse, &f));
	assert_int_equal(f.ret, 0);
}

/* An empty file (no statistics) is fine and emits nothing. */
static void test_no_statistics(void **state)
{
	(void)state;
	struct layout l;
	good_layout(&l);
	set_header(&l, offsetof(struct kvm_stats_header, num_desc), 0);
	struct kvm_stats s;
	assert_int_equal(kvm_stats_parse(&s, file_of(&l), "VM"), 0);
	struct record r = {0};
	struct counter_sink sink = {record_emit, &r};
	assert_int_equal(kvm_stats_emit(&s, &sink, "kvm", "vm"), 0);
	assert_int_equal(r.n, 0);
	kvm_stats_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_layout_is_read_by_name),
		cmocka_unit_test(test_hostile_headers_are_refused),
		cmocka_unit_test(test_hostile_descriptors_are_refused),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_no_statistics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
