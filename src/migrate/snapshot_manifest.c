/* The snapshot's manifest; see snapshot_manifest.h. */
#include "migrate/snapshot_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing ---- */

static json_object *u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

char *snap_manifest_to_json(const struct snap_manifest *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_int((int)m->format));
	json_object_object_add(o, "iovirt", json_object_new_string(m->iovirt));
	json_object_object_add(o, "created", json_object_new_string(m->created));
	if (m->cwd[0])
		json_object_object_add(o, "cwd", json_object_new_string(m->cwd));
	json_object *args = json_object_new_array();
	for (unsigned i = 0; i < m->nargs; i++)
		json_object_array_add(args, json_object_new_string(m->args[i]));
	json_object_object_add(o, "machine", args);
	json_object *mem = json_object_new_array();
	for (unsigned i = 0; i < m->nmem; i++) {
		json_object *r = json_object_new_object();
		json_object_object_add(r, "gpa", u64(m->mem[i].gpa));
		json_object_object_add(r, "size", u64(m->mem[i].size));
		json_object_object_add(r, "file", json_object_new_string(m->mem[i].file));
		json_object_object_add(r, "data_bytes", u64(m->mem[i].data_bytes));
		json_object_array_add(mem, r);
	}
	json_object_object_add(o, "memory", mem);
	json_object_object_add(o, "vcpus", json_object_new_int((int)m->vcpus));
	json_object *devs = json_object_new_array();
	for (unsigned i = 0; i < m->ndev; i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "id", json_object_new_string(m->dev[i].id));
		json_object_object_add(d, "kind", json_object_new_string(m->dev[i].kind));
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
	json_object *st = json_object_new_object();
	json_object_object_add(st, "file", json_object_new_string(m->state_file));
	json_object_object_add(st, "bytes", u64(m->state_bytes));
	json_object_object_add(st, "crc32", u64(m->state_crc));
	json_object_object_add(o, "state", st);

	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = text ? strdup(text) : NULL;
	json_object_put(o);
	return copy;
}

int snap_manifest_write(const char *path, const struct snap_manifest *m, char *why,
			size_t why_len)
{
	char *text = snap_manifest_to_json(m);
	int ret = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		ret = -errno;
	size_t len = text ? strlen(text) : 0;
	if (ret == 0 && (!text || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1))
		ret = text ? (errno ? -errno : -EIO) : -ENOMEM;
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(text);
	if (ret < 0)
		snprintf(why, why_len, "%s: %s", path, strerror(-ret));
	return ret;
}

/* ---- reading ---- */

struct parse {
	char *why;
	size_t why_len;
	bool failed;
};

static void bad(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct parse *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, p->why_len, fmt, ap);
	va_end(ap);
}

/* o's member key of type t, or NULL (and the error). */
static json_object *member(struct parse *p, json_object *o, const char *where, const char *key,
			   json_type t)
{
	json_object *v = NULL;
	if (p->failed)
		return NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t)) {
		bad(p, "%s%s: missing or not %s", where, key,
		    t == json_type_string ? "a string" : t == json_type_int ? "a number"
						   : t == json_type_array ? "a list"
									  : "an object");
		return NULL;
	}
	return v;
}

static uint64_t get_u64(struct parse *p, json_object *o, const char *where, const char *key)
{
	json_object *v = member(p, o, where, key, json_type_int);
	if (!v)
		return 0;
	/* json-c reads a number above INT64_MAX as INT64_MAX here. */
	if (json_object_get_int64(v) < 0) {
		bad(p, "%s%s: negative", where, key);
		return 0;
	}
	return json_object_get_uint64(v);
}

/* A u32 member: a larger number is refused, not truncated (format
 * 4294967297 is not format 1). */
static uint32_t get_u32(struct parse *p, json_object *o, const char *where, const char *key)
{
	uint64_t v = get_u64(p, o, where, key);
	if (!p->failed && v > UINT32_MAX) {
		bad(p, "%s%s: %llu is too large", where, key, (unsigned long long)v);
		return 0;
	}
	return (uint32_t)v;
}

static void get_string(struct parse *p, json_object *o, const char *where, const char *key,
		       char *out, size_t cap)
{
	json_object *v = member(p, o, where, key, json_type_string);
	if (!v)
		return;
	int len = json_object_get_string_len(v);
	const char *s = json_object_get_string(v);
	if (len <= 0 || (size_t)len >= cap || memchr(s, 0, (size_t)len)) {
		bad(p, "%s%s: must be 1 to %zu characters", where, key, cap - 1);
		return;
	}
	memcpy(out, s, (size_t)len);
	out[len] = 0;
}

/* A file name in the snapshot's directory: no path, no dot files. */
static void get_file_name(struct parse *p, json_object *o, const char *where, const char *key,
			  char *out, size_t cap)
{
	get_string(p, o, where, key, out, cap);
	if (!p->failed && (strchr(out, '/') || out[0] == '.'))
		bad(p, "%s%s: '%s' is not a plain file name", where, key, out);
}

static json_object *list(struct parse *p, json_object *o, const char *key, unsigned max,
			 unsigned *n)
{
	json_object *a = member(p, o, "", key, json_type_array);
	*n = 0;
	if (!a)
		return NULL;
	size_t len = json_object_array_length(a);
	if (len > max) {
		bad(p, "%s: %zu entries (at most %u)", key, len, max);
		return NULL;
	}
	*n = (unsigned)len;
	return a;
}

static void parse_root(struct parse *p, json_object *o, struct snap_manifest *m)
{
	char where[48];
	m->format = get_u32(p, o, "", "format");
	if (!p->failed && m->format != SNAP_MANIFEST_FORMAT) {
		bad(p, "format %u; this iovirt reads format %u", m->format, SNAP_MANIFEST_FORMAT);
		return;
	}
	get_string(p, o, "", "iovirt", m->iovirt, sizeof(m->iovirt));
	get_string(p, o, "", "created", m->created, sizeof(m->created));
	json_object *cwd;
	/* Optional: a manifest without it restores where it is run. */
	if (!p->failed && json_object_object_get_ex(o, "cwd", &cwd)) {
		get_string(p, o, "", "cwd", m->cwd, sizeof(m->cwd));
		if (!p->failed && m->cwd[0] != '/')
			bad(p, "cwd: '%s' is not an absolute path", m->cwd);
	}

	unsigned n;
	json_object *a = list(p, o, "machine", SNAP_MAX_ARGS, &n);
	if (a) {
		m->args = calloc(n + 1, sizeof(char *));
		if (!m->args)
			bad(p, "out of memory");
	}
	for (unsigned i = 0; a && !p->failed && i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *s = json_object_get_string(v);
		int len = json_object_get_string_len(v);
		if (!json_object_is_type(v, json_type_string) || len > SNAP_MAX_ARG_LEN ||
		    memchr(s, 0, (size_t)len)) {
			bad(p, "machine[%u]: not an option string", i);
			break;
		}
		if (!(m->args[i] = strdup(s)))
			bad(p, "out of memory");
		else
			m->nargs++;
	}

	a = list(p, o, "memory", SNAP_MAX_REGIONS, &n);
	if (a && n == 0)
		bad(p, "memory: no RAM region");
	for (unsigned i = 0; a && !p->failed && i < n; i++) {
		json_object *r = json_object_array_get_idx(a, i);
		snprintf(where, sizeof(where), "memory[%u].", i);
		struct snap_region *sr = &m->mem[i];
		if (!json_object_is_type(r, json_type_object)) {
			bad(p, "memory[%u]: not an object", i);
			break;
		}
		sr->gpa = get_u64(p, r, where, "gpa");
		sr->size = get_u64(p, r, where, "size");
		sr->data_bytes = get_u64(p, r, where, "data_bytes");
		get_file_name(p, r, where, "file", sr->file, sizeof(sr->file));
		if (!p->failed)
			m->nmem++;
	}
	m->vcpus = get_u32(p, o, "", "vcpus");

	a = list(p, o, "devices", SNAP_MAX_DEVICES, &n);
	for (unsigned i = 0; a && !p->failed && i < n; i++) {
		json_object *d = json_object_array_get_idx(a, i);
		snprintf(where, sizeof(where), "devices[%u].", i);
		if (!json_object_is_type(d, json_type_object)) {
			bad(p, "devices[%u]: not an object", i);
			break;
		}
		get_string(p, d, where, "id", m->dev[i].id, sizeof(m->dev[i].id));
		get_string(p, d, where, "kind", m->dev[i].kind, sizeof(m->dev[i].kind));
		if (!p->failed)
			m->ndev++;
	}
	json_object *st = member(p, o, "", "state", json_type_object);
	if (st) {
		get_file_name(p, st, "state.", "file", m->state_file, sizeof(m->state_file));
		m->state_bytes = get_u64(p, st, "state.", "bytes");
		m->state_crc = get_u32(p, st, "state.", "crc32");
	}
}

int snap_manifest_parse(struct snap_manifest *m, const char *text, size_t len, char *why,
			size_t why_len)
{
	memset(m, 0, sizeof(*m));
	struct parse p = {.why = why, .why_len = why_len};
	if (len > SNAP_MAX_MANIFEST) {
		snprintf(why, why_len, "more than %u bytes", SNAP_MAX_MANIFEST);
		return -EINVAL;
	}
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		/* json-c stops at the first complete value: trailing bytes are
		 * refused too (the writer ends with one newline). */
		bool only_space = o && json_tokener_get_error(tok) == json_tokener_success;
		for (size_t i = only_space ? json_tokener_get_parse_end(tok) : len; i < len; i++)
			if (text[i] != '\n' && text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
				only_space = false;
		if (!only_space)
			bad(&p, "not JSON (%s)", tok ? json_tokener_error_desc(json_tokener_get_error(tok))
						    : "out of memory");
	}
	if (!p.failed && !json_object_is_type(o, json_type_object))
		bad(&p, "not a JSON object");
	if (!p.failed)
		parse_root(&p, o, m);
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	if (p.failed) {
		snap_manifest_free(m);
		return -EINVAL;
	}
	return 0;
}

int snap_manifest_read(struct snap_manifest *m, const char *path, char *why, size_t why_len)
{
	memset(m, 0, sizeof(*m));
	FILE *f = fopen(path, "re");
	if (!f) {
		int err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return err;
	}
	char *buf = malloc(SNAP_MAX_MANIFEST + 1);
	size_t len = buf ? fread(buf, 1, SNAP_MAX_MANIFEST + 1, f) : 0;
	int err = ferror(f);
	fclose(f);
	int ret;
	char inner[200];
	if (!buf || err) {
		snprintf(why, why_len, "%s: %s", path, buf ? "cannot read it" : "out of memory");
		ret = buf ? -EIO : -ENOMEM;
	} else if ((ret = snap_manifest_parse(m, buf, len, inner, sizeof(inner))) < 0) {
		snprintf(why, why_len, "%s: %s", path, inner);
	}
	free(buf);
	return ret;
}

int snap_manifest_same_args(const struct snap_manifest *m, const char *const *args,
			    unsigned nargs, char *why, size_t why_len)
{
	for (unsigned i = 0; i < nargs || i < m->nargs; i++) {
		const char *given = i < nargs ? args[i] : "(nothing)";
		const char *saved = i < m->nargs ? m->args[i] : "(nothing)";
		if (strcmp(given, saved) != 0) {
			snprintf(why, why_len, "the machine has '%s' where this one has '%s' "
				 "(option word %u)", saved, given, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

void snap_manifest_free(struct snap_manifest *m)
{
	for (unsigned i = 0; m->args && i < m->nargs; i++)
		free(m->args[i]);
	free(m->args);
	m->args = NULL;
	m->nargs = 0;
}
