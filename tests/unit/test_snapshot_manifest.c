/* The snapshot's manifest (src/migrate/snapshot_manifest.c): written and
 * read back equal, every field (options with spaces, commas, quotes and
 * UTF-8 included); hostile manifests — missing members, wrong types,
 * negative or too large numbers, file names that leave the directory,
 * too many or too long entries, embedded NULs, non-JSON, trailing bytes,
 * another format — refused with a line naming the field, and nothing left
 * allocated (ASan checks). */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate/snapshot_manifest.h"

static char *args[] = {
	"--memory", "512M", "--disk", "path=/var/lib/my disk,with commas.img",
	"--cmdline", "console=ttyS0 quiet \"quoted\" 'single' back\\slash",
	"", "ünïcödé ✓ 日本語", "tab\tand\nnewline",
};
#define NARGS (sizeof(args) / sizeof(args[0]))

static void fill(struct snap_manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->format = SNAP_MANIFEST_FORMAT;
	snprintf(m->iovirt, sizeof(m->iovirt), "0.1.0 (git abc123-dirty)");
	snprintf(m->created, sizeof(m->created), "2026-01-02T03:04:05Z");
	m->args = args;
	m->nargs = NARGS;
	m->mem[0] = (struct snap_region){.gpa = 0, .size = 3ULL << 30, .data_bytes = 4096,
					 .file = "mem-0.bin"};
	m->mem[1] = (struct snap_region){.gpa = 4ULL << 30, .size = (1ULL << 40) + 8192,
					 .data_bytes = 0, .file = "mem-1.bin"};
	m->nmem = 2;
	m->vcpus = 4;
	static const char *const devs[][2] = {
		{"serial0", "serial"}, {"virtio-blk0", "virtio-blk"}, {"e1000-0", "e1000"}};
	for (unsigned i = 0; i < 3; i++) {
		snprintf(m->dev[i].id, sizeof(m->dev[i].id), "%s", devs[i][0]);
		snprintf(m->dev[i].kind, sizeof(m->dev[i].kind), "%s", devs[i][1]);
	}
	m->ndev = 3;
	snprintf(m->state_file, sizeof(m->state_file), "state.bin");
	m->state_bytes = 81234;
	m->state_crc = 0xffffffffu;
}

static char path[64];
static char *base_text;   /* what snap_manifest_write wrote for fill() */
static size_t base_len;

static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/iovirt-manifest-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	struct snap_manifest m;
	fill(&m);
	char why[200];
	if (snap_manifest_write(path, &m, why, sizeof(why)) < 0)
		return -1;
	base_text = slurp(path, &base_len);
	return 0;
}

static int teardown(void **state)
{
	free(base_text);
	return unlink(path);
}

static void test_write_read_equal(void **state)
{
	struct snap_manifest want, got;
	fill(&want);
	char why[200] = "";
	assert_int_equal(snap_manifest_read(&got, path, why, sizeof(why)), 0);
	assert_int_equal(got.format, want.format);
	assert_string_equal(got.iovirt, want.iovirt);
	assert_string_equal(got.created, want.created);
	assert_int_equal(got.nargs, NARGS);
	for (unsigned i = 0; i < NARGS; i++)
		assert_string_equal(got.args[i], want.args[i]);
	assert_null(got.args[NARGS]);
	assert_int_equal(got.nmem, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(got.mem[i].gpa, want.mem[i].gpa);
		assert_int_equal(got.mem[i].size, want.mem[i].size);
		assert_int_equal(got.mem[i].data_bytes, want.mem[i].data_bytes);
		assert_string_equal(got.mem[i].file, want.mem[i].file);
	}
	assert_int_equal(got.vcpus, 4);
	assert_int_equal(got.ndev, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_string_equal(got.dev[i].id, want.dev[i].id);
		assert_string_equal(got.dev[i].kind, want.dev[i].kind);
	}
	assert_string_equal(got.state_file, "state.bin");
	assert_int_equal(got.state_bytes, 81234);
	assert_int_equal(got.state_crc, 0xffffffffu);
	snap_manifest_free(&got);
	assert_null(got.args);
	/* Human-readable: one option per line, not escaped past JSON's needs. */
	assert_non_null(strstr(base_text, "\"ünïcödé ✓ 日本語\""));
	assert_non_null(strstr(base_text, "path=/var/lib/my disk,with commas.img"));
}

static void test_no_devices_no_args(void **state)
{
	struct snap_manifest m, got;
	fill(&m);
	m.nargs = 0;
	m.ndev = 0;
	char p[80], why[200] = "";
	snprintf(p, sizeof(p), "%s.2", path);
	assert_int_equal(snap_manifest_write(p, &m, why, sizeof(why)), 0);
	assert_int_equal(snap_manifest_read(&got, p, why, sizeof(why)), 0);
	assert_int_equal(got.nargs, 0);
	assert_int_equal(got.ndev, 0);
	assert_int_equal(got.nmem, 2);
	snap_manifest_free(&got);
	unlink(p);
}

/* base_text with one member of the object at `where` ("" the root,
 * "memory.0", "state"...) replaced by the JSON `with` (NULL: removed),
 * parsed: refused, naming `field`. */
static void refused_with(const char *where, const char *key, const char *with,
			 const char *field)
{
	json_object *root = json_tokener_parse(base_text);
	assert_non_null(root);
	json_object *o = root;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", where);
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok;
	     tok = strtok_r(NULL, ".", &save)) {
		json_object *next = json_object_is_type(o, json_type_array)
					    ? json_object_array_get_idx(o, (size_t)atoi(tok))
					    : json_object_object_get(o, tok);
		assert_non_null(next);
		o = next;
	}
	if (with) {
		json_object *v = json_tokener_parse(with);
		assert_true(v || strcmp(with, "null") == 0);
		json_object_object_add(o, key, v);
	} else {
		json_object_object_del(o, key);
	}
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	struct snap_manifest m;
	char why[200] = "";
	int ret = snap_manifest_parse(&m, text, strlen(text), why, sizeof(why));
	if (ret != -EINVAL || !strstr(why, field))
		fail_msg("%s.%s = %s: got %d '%s', wanted '%s'", where, key, with ? with : "(none)",
			 ret, why, field);
	assert_null(m.args);
	json_object_put(root);
}

static void test_hostile_members_refused(void **state)
{
	static const struct {
		const char *where, *key, *with, *field;
	} cases[] = {
		{"", "format", NULL, "format"},
		{"", "format", "\"1\"", "format"},
		{"", "format", "2", "format 2"},
		{"", "format", "0", "format 0"},
		{"", "format", "-1", "format: negative"},
		{"", "format", "1.0", "format"},
		{"", "format", "4294967297", "format"},
		{"", "iovirt", NULL, "iovirt"},
		{"", "iovirt", "5", "iovirt"},
		{"", "iovirt", "\"\"", "iovirt"},
		{"", "iovirt", "\"0.1\\u0000evil\"", "iovirt"},
		{"", "created", "null", "created"},
		{"", "created", "[\"x\"]", "created"},
		{"", "machine", NULL, "machine"},
		{"", "machine", "\"--memory 512M\"", "machine"},
		{"", "machine", "{}", "machine"},
		{"", "machine", "[1]", "machine[0]"},
		{"", "machine", "[\"a\", null]", "machine[1]"},
		{"", "machine", "[\"a\", [\"b\"]]", "machine[1]"},
		{"", "machine", "[\"a\\u0000b\"]", "machine[0]"},
		{"", "memory", NULL, "memory"},
		{"", "memory", "[]", "memory"},
		{"", "memory", "{}", "memory"},
		{"", "memory", "[1]", "memory[0]"},
		{"memory.0", "gpa", NULL, "memory[0].gpa"},
		{"memory.1", "gpa", "\"0\"", "memory[1].gpa"},
		{"memory.0", "size", "-4096", "memory[0].size"},
		{"memory.0", "size", "1.5", "memory[0].size"},
		{"memory.0", "data_bytes", "true", "memory[0].data_bytes"},
		{"memory.1", "file", NULL, "memory[1].file"},
		{"memory.1", "file", "\"../mem-1.bin\"", "memory[1].file"},
		{"memory.1", "file", "\"/etc/passwd\"", "memory[1].file"},
		{"memory.1", "file", "\"sub/mem\"", "memory[1].file"},
		{"memory.1", "file", "\".hidden\"", "memory[1].file"},
		{"memory.1", "file", "\".\"", "memory[1].file"},
		{"memory.1", "file", "\"\"", "memory[1].file"},
		{"memory.1", "file", "\"mem\\u0000/../x\"", "memory[1].file"},
		{"", "vcpus", NULL, "vcpus"},
		{"", "vcpus", "-2", "vcpus"},
		{"", "vcpus", "\"2\"", "vcpus"},
		{"", "vcpus", "4294967298", "vcpus"},
		{"", "devices", NULL, "devices"},
		{"", "devices", "{\"id\": \"x\"}", "devices"},
		{"", "devices", "[\"serial0\"]", "devices[0]"},
		{"devices.2", "id", NULL, "devices[2].id"},
		{"devices.1", "kind", "7", "devices[1].kind"},
		{"devices.0", "id", "\"\"", "devices[0].id"},
		{"devices.0", "id", "\"123456789012345678901234\"", "devices[0].id"},
		{"devices.0", "kind", "\"se\\u0000rial\"", "devices[0].kind"},
		{"", "state", NULL, "state"},
		{"", "state", "\"state.bin\"", "state"},
		{"state", "file", NULL, "state.file"},
		{"state", "file", "\"../../etc/shadow\"", "state.file"},
		{"state", "file", "\".state.bin\"", "state.file"},
		{"state", "bytes", "-1", "state.bytes"},
		{"state", "bytes", "\"81234\"", "state.bytes"},
		{"state", "crc32", "4294967296", "state.crc32"},
		{"state", "crc32", "-1", "state.crc32"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused_with(cases[i].where, cases[i].key, cases[i].with, cases[i].field);
}

/* A JSON string of n copies of c. */
static char *long_string(size_t n, char c)
{
	char *s = malloc(n + 3);
	assert_non_null(s);
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = 0;
	return s;
}

/* A JSON list of n copies of item. */
static char *long_list(size_t n, const char *item)
{
	size_t il = strlen(item);
	char *s = malloc(n * (il + 1) + 3);
	assert_non_null(s);
	char *p = s;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, item, il);
		p += il;
	}
	*p++ = ']';
	*p = 0;
	return s;
}

static void test_too_long_and_too_many_refused(void **state)
{
	char *s = long_string(sizeof(((struct snap_manifest *)0)->iovirt), 'v');
	refused_with("", "iovirt", s, "iovirt");
	free(s);
	s = long_string(sizeof(((struct snap_manifest *)0)->created), '1');
	refused_with("", "created", s, "created");
	free(s);
	s = long_string(SNAP_FILE_NAME_MAX, 'm');
	refused_with("memory.0", "file", s, "memory[0].file");
	refused_with("state", "file", s, "state.file");
	free(s);
	s = long_string(SNAP_NAME_MAX, 'k');
	refused_with("devices.1", "kind", s, "devices[1].kind");
	free(s);

	/* One option over the cap; the cap itself fits (below). */
	char *arg = long_string(SNAP_MAX_ARG_LEN + 1, 'a');
	char *list = malloc(strlen(arg) + 3);
	assert_non_null(list);
	sprintf(list, "[%s]", arg);
	refused_with("", "machine", list, "machine[0]");
	free(list);
	free(arg);

	list = long_list(SNAP_MAX_ARGS + 1, "\"--x\"");
	refused_with("", "machine", list, "machine");
	free(list);
	list = long_list(SNAP_MAX_REGIONS + 1,
			 "{\"gpa\": 0, \"size\": 4096, \"file\": \"m\", \"data_bytes\": 0}");
	refused_with("", "memory", list, "memory");
	free(list);
	list = long_list(SNAP_MAX_DEVICES + 1, "{\"id\": \"d\", \"kind\": \"k\"}");
	refused_with("", "devices", list, "devices");
	free(list);
}

/* The caps themselves are accepted, and read back. */
static void test_limits_accepted(void **state)
{
	struct snap_manifest m, got;
	fill(&m);
	static char big[SNAP_MAX_ARG_LEN + 1];
	memset(big, 'x', SNAP_MAX_ARG_LEN);
	/* (256 options of 4 KiB would pass the manifest's 1 MiB cap.) */
	static char *many[SNAP_MAX_ARGS];
	for (unsigned i = 0; i < SNAP_MAX_ARGS; i++)
		many[i] = i == SNAP_MAX_ARGS - 1 ? big : "--opt";
	m.args = many;
	m.nargs = SNAP_MAX_ARGS;
	m.nmem = SNAP_MAX_REGIONS;
	for (unsigned i = 0; i < SNAP_MAX_REGIONS; i++) {
		m.mem[i] = m.mem[0];
		snprintf(m.mem[i].file, sizeof(m.mem[i].file), "%063u", i);
	}
	m.ndev = SNAP_MAX_DEVICES;
	for (unsigned i = 0; i < SNAP_MAX_DEVICES; i++) {
		snprintf(m.dev[i].id, sizeof(m.dev[i].id), "%023u", i);
		snprintf(m.dev[i].kind, sizeof(m.dev[i].kind), "kind");
	}
	char p[80], why[200] = "";
	snprintf(p, sizeof(p), "%s.3", path);
	assert_int_equal(snap_manifest_write(p, &m, why, sizeof(why)), 0);
	assert_int_equal(snap_manifest_read(&got, p, why, sizeof(why)), 0);
	assert_int_equal(got.nargs, SNAP_MAX_ARGS);
	assert_string_equal(got.args[SNAP_MAX_ARGS - 1], big);
	assert_int_equal(got.nmem, SNAP_MAX_REGIONS);
	assert_string_equal(got.mem[7].file, m.mem[7].file);
	assert_int_equal(got.ndev, SNAP_MAX_DEVICES);
	assert_string_equal(got.dev[63].id, m.dev[63].id);
	snap_manifest_free(&got);
	unlink(p);
}

static void parse_refused(const char *text, size_t len, const char *field)
{
	struct snap_manifest m;
	char why[200] = "";
	int ret = snap_manifest_parse(&m, text, len, why, sizeof(why));
	if (ret != -EINVAL || !strstr(why, field))
		fail_msg("%zu bytes: got %d '%s', wanted '%s'", len, ret, why, field);
	assert_null(m.args);
}

static void test_not_json_refused(void **state)
{
	parse_refused("", 0, "JSON");
	parse_refused("hello", 5, "JSON");
	parse_refused("[1, 2]", 6, "object");
	parse_refused("\"format\"", 8, "object");
	parse_refused("{} {}", 5, "JSON");
	parse_refused("{\"format\": 1", 12, "JSON");
	/* Nested past the tokener's depth. */
	char deep[64];
	size_t n = 0;
	deep[n++] = '{';
	deep[n++] = '"';
	deep[n++] = 'a';
	deep[n++] = '"';
	deep[n++] = ':';
	for (int i = 0; i < 20; i++)
		deep[n++] = '[';
	for (int i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	parse_refused(deep, n, "JSON");

	/* Trailing garbage after the manifest, or a NUL in it. */
	char *t = malloc(base_len + 8);
	assert_non_null(t);
	memcpy(t, base_text, base_len);
	memcpy(t + base_len, "x", 1);
	parse_refused(t, base_len + 1, "JSON");
	memcpy(t + base_len, "\n\n{}", 4);
	parse_refused(t, base_len + 4, "JSON");
	memcpy(t + base_len, "\0", 1);
	parse_refused(t, base_len + 1, "JSON");
	/* A raw NUL inside a string. */
	memcpy(t, base_text, base_len);
	char *at = strstr(t, "0.1.0");
	assert_non_null(at);
	at[1] = 0;
	parse_refused(t, base_len, "");
	/* Trailing white space is fine (the writer ends with a newline). */
	memcpy(t, base_text, base_len);
	memcpy(t + base_len, " \t\r\n", 4);
	struct snap_manifest m;
	char why[200];
	assert_int_equal(snap_manifest_parse(&m, t, base_len + 4, why, sizeof(why)), 0);
	snap_manifest_free(&m);
	free(t);

	/* Over the size cap, whatever it holds. */
	char *huge = malloc(SNAP_MAX_MANIFEST + 1);
	assert_non_null(huge);
	memset(huge, ' ', SNAP_MAX_MANIFEST + 1);
	memcpy(huge, base_text, base_len);
	parse_refused(huge, SNAP_MAX_MANIFEST + 1, "bytes");
	free(huge);
}

/* Every prefix of a good manifest: refused (or, once only white space is
 * missing, accepted), never a crash or a leak. */
static void test_every_prefix(void **state)
{
	size_t end = base_len;
	while (end && (base_text[end - 1] == '\n' || base_text[end - 1] == ' '))
		end--;
	for (size_t len = 0; len < base_len; len++) {
		char *cut = malloc(len ? len : 1);
		assert_non_null(cut);
		memcpy(cut, base_text, len);
		struct snap_manifest m;
		char why[200] = "";
		int ret = snap_manifest_parse(&m, cut, len, why, sizeof(why));
		if (len < end) {
			if (ret != -EINVAL || why[0] == 0)
				fail_msg("prefix %zu: got %d '%s'", len, ret, why);
			assert_null(m.args);
		} else {
			assert_int_equal(ret, 0);
			snap_manifest_free(&m);
		}
		free(cut);
	}
}

static void test_read_refuses_missing_and_names_path(void **state)
{
	struct snap_manifest m;
	char p[80], why[200] = "";
	snprintf(p, sizeof(p), "%s.missing", path);
	assert_int_equal(snap_manifest_read(&m, p, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, p));
	assert_null(m.args);

	snprintf(p, sizeof(p), "%s.bad", path);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("{\"format\": 2}", f);
	fclose(f);
	assert_int_equal(snap_manifest_read(&m, p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, p));
	assert_non_null(strstr(why, "format 2"));
	unlink(p);

	/* Writing where it cannot: refused naming the path. */
	assert_int_equal(snap_manifest_write("/nonexistent-dir/manifest.json", &(struct snap_manifest){0},
					     why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "/nonexistent-dir/manifest.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_equal),
		cmocka_unit_test(test_no_devices_no_args),
		cmocka_unit_test(test_hostile_members_refused),
		cmocka_unit_test(test_too_long_and_too_many_refused),
		cmocka_unit_test(test_limits_accepted),
		cmocka_unit_test(test_not_json_refused),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_read_refuses_missing_and_names_path),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
