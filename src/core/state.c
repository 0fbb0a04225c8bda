/* Device state records: see state.h for the encoding. */
#include "core/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---- */

void state_writer_init(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void state_writer_free(struct state_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void put_raw(struct state_writer *w, const void *data, size_t len)
{
	if (w->error || len == 0) /* END has no name: data is NULL */
		return;
	if (len > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < len) {
			if (cap > SIZE_MAX / 2) {
				w->error = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		uint8_t *p = realloc(w->buf, cap);
		if (!p) {
			w->error = -ENOMEM;
			return;
		}
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
}

static void put_le(struct state_writer *w, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_raw(w, b, bytes);
}

static void put_head(struct state_writer *w, enum state_type type, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if ((type != STATE_END && n == 0) || n > STATE_NAME_MAX) {
		if (!w->error)
			w->error = -EINVAL;
		return;
	}
	uint8_t head[2] = {(uint8_t)type, (uint8_t)n};
	put_raw(w, head, 2);
	put_raw(w, name, n);
}

static void begin(struct state_writer *w, const char *name, uint16_t version, uint8_t flags)
{
	if (w->depth >= STATE_MAX_DEPTH) {
		if (!w->error)
			w->error = -EINVAL;
		return;
	}
	put_head(w, STATE_BEGIN, name);
	put_le(w, version, 2);
	put_le(w, flags, 1);
	w->depth++;
}

void state_begin(struct state_writer *w, const char *name, uint16_t version)
{
	begin(w, name, version, 0);
}

void state_begin_optional(struct state_writer *w, const char *name, uint16_t version)
{
	begin(w, name, version, STATE_OPTIONAL);
}

void state_end(struct state_writer *w)
{
	if (w->depth == 0) {
		if (!w->error)
			w->error = -EINVAL;
		return;
	}
	put_head(w, STATE_END, NULL);
	w->depth--;
}

void state_put_u8(struct state_writer *w, const char *name, uint8_t v)
{
	put_head(w, STATE_U8, name);
	put_le(w, v, 1);
}

void state_put_u16(struct state_writer *w, const char *name, uint16_t v)
{
	put_head(w, STATE_U16, name);
	put_le(w, v, 2);
}

void state_put_u32(struct state_writer *w, const char *name, uint32_t v)
{
	put_head(w, STATE_U32, name);
	put_le(w, v, 4);
}

void state_put_u64(struct state_writer *w, const char *name, uint64_t v)
{
	put_head(w, STATE_U64, name);
	put_le(w, v, 8);
}

void state_put_bool(struct state_writer *w, const char *name, bool v)
{
	state_put_u8(w, name, v ? 1 : 0);
}

void state_put_bytes(struct state_writer *w, const char *name, const void *data, size_t len)
{
	if (len > UINT32_MAX) {
		if (!w->error)
			w->error = -EINVAL;
		return;
	}
	put_head(w, STATE_BYTES, name);
	put_le(w, len, 4);
	put_raw(w, data, len);
}

int state_writer_finish(struct state_writer *w)
{
	if (!w->error && w->depth != 0)
		w->error = -EINVAL;
	return w->error;
}

/* ---- reader ---- */

void state_reader_init(struct state_reader *r, const void *buf, size_t len, const char *device)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	r->device = device ? device : "device";
}

static const char *type_name(unsigned type)
{
	static const char *const names[] = {
		[STATE_U8] = "u8",       [STATE_U16] = "u16",     [STATE_U32] = "u32",
		[STATE_U64] = "u64",     [STATE_BYTES] = "bytes", [STATE_BEGIN] = "section",
		[STATE_END] = "section end",
	};
	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown item";
}

/* "nvme0: field nvme.sq.tail: " + the message; the first error wins. */
static int fail(struct state_reader *r, const char *name, const char *fmt, va_list ap)
{
	if (r->failed)
		return -EINVAL;
	r->failed = true;
	size_t n = (size_t)snprintf(r->error, sizeof(r->error), "%s: field ", r->device);
	for (unsigned i = 0; i < r->depth && n < sizeof(r->error); i++)
		n += (size_t)snprintf(r->error + n, sizeof(r->error) - n, "%s.", r->section[i]);
	if (n < sizeof(r->error))
		n += (size_t)snprintf(r->error + n, sizeof(r->error) - n, "%s: ",
				      name && *name ? name : "(record)");
	if (n < sizeof(r->error))
		vsnprintf(r->error + n, sizeof(r->error) - n, fmt, ap);
	return -EINVAL;
}

int state_invalid(struct state_reader *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = fail(r, name, fmt, ap);
	va_end(ap);
	return ret;
}

/* One item's head as read from the input; the value follows at r->pos. */
struct item {
	unsigned type;
	char name[STATE_NAME_MAX + 1];
};

static uint64_t load_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Reads the next item's head at *pos without committing; false (error
 * set) if the input ends or the head is malformed. */
static bool peek_head(struct state_reader *r, size_t *pos, struct item *it, const char *want)
{
	if (r->len - *pos < 2)
		return state_invalid(r, want, "the record ends here (truncated)"), false;
	it->type = r->buf[*pos];
	unsigned n = r->buf[*pos + 1];
	if (it->type < STATE_U8 || it->type > STATE_END)
		return state_invalid(r, want, "item type %u is unknown (corrupted)", it->type), false;
	if (n > STATE_NAME_MAX || (it->type != STATE_END && n == 0) ||
	    (it->type == STATE_END && n != 0))
		return state_invalid(r, want, "item name length %u is invalid (corrupted)", n), false;
	if (r->len - *pos - 2 < n)
		return state_invalid(r, want, "the record ends inside a name (truncated)"), false;
	memcpy(it->name, r->buf + *pos + 2, n);
	it->name[n] = 0;
	if (memchr(it->name, 0, n))
		return state_invalid(r, want, "item name has a NUL byte (corrupted)"), false;
	*pos += 2 + n;
	return true;
}

/* Bytes of the value that follows a head of this type at pos; false (error
 * set) if it does not fit. */
static bool value_size(struct state_reader *r, size_t pos, unsigned type, const char *name,
		       size_t *size)
{
	static const size_t fixed[] = {[STATE_U8] = 1, [STATE_U16] = 2, [STATE_U32] = 4,
				       [STATE_U64] = 8, [STATE_BEGIN] = 3, [STATE_END] = 0};
	size_t need = type == STATE_BYTES ? 4 : fixed[type];
	if (r->len - pos < need)
		return state_invalid(r, name, "the record ends inside a value (truncated)"), false;
	if (type == STATE_BYTES) {
		uint64_t len = load_le(r->buf + pos, 4);
		if (r->len - pos - 4 < len)
			return state_invalid(r, name, "%llu bytes do not fit in the record (truncated)",
					     (unsigned long long)len), false;
		need += (size_t)len;
	}
	*size = need;
	return true;
}

/* Reads field name of type: its value starts at *value. */
static bool get_field(struct state_reader *r, const char *name, unsigned type, const uint8_t **value,
		      size_t *size)
{
	if (r->failed)
		return false;
	size_t pos = r->pos;
	struct item it;
	if (!peek_head(r, &pos, &it, name))
		return false;
	if (it.type != type || strcmp(it.name, name) != 0) {
		if (it.type == STATE_END)
			state_invalid(r, name, "missing (the section ends)");
		else
			state_invalid(r, name, "expected a %s, found %s %s", type_name(type),
				      type_name(it.type), it.name);
		return false;
	}
	if (!value_size(r, pos, type, name, size))
		return false;
	*value = r->buf + pos;
	r->pos = pos + *size;
	return true;
}

static int get_uint(struct state_reader *r, const char *name, unsigned type, unsigned bytes,
		    uint64_t *v)
{
	const uint8_t *p;
	size_t size;
	*v = 0;
	if (!get_field(r, name, type, &p, &size))
		return -EINVAL;
	*v = load_le(p, bytes);
	return 0;
}

int state_get_u8(struct state_reader *r, const char *name, uint8_t *v)
{
	uint64_t x;
	int ret = get_uint(r, name, STATE_U8, 1, &x);
	*v = (uint8_t)x;
	return ret;
}

int state_get_u16(struct state_reader *r, const char *name, uint16_t *v)
{
	uint64_t x;
	int ret = get_uint(r, name, STATE_U16, 2, &x);
	*v = (uint16_t)x;
	return ret;
}

int state_get_u32(struct state_reader *r, const char *name, uint32_t *v)
{
	uint64_t x;
	int ret = get_uint(r, name, STATE_U32, 4, &x);
	*v = (uint32_t)x;
	return ret;
}

int state_get_u64(struct state_reader *r, const char *name, uint64_t *v)
{
	return get_uint(r, name, STATE_U64, 8, v);
}

int state_get_bool(struct state_reader *r, const char *name, bool *v)
{
	uint8_t x;
	*v = false;
	if (state_get_u8(r, name, &x) < 0)
		return -EINVAL;
	if (x > 1)
		return state_invalid(r, name, "%u is not a boolean", x);
	*v = x;
	return 0;
}

int state_get_bytes_max(struct state_reader *r, const char *name, void *data, size_t max,
			size_t *len)
{
	const uint8_t *p;
	size_t size;
	*len = 0;
	if (max)
		memset(data, 0, max);
	if (!get_field(r, name, STATE_BYTES, &p, &size))
		return -EINVAL;
	if (size - 4 > max)
		return state_invalid(r, name, "%zu bytes, at most %zu expected", size - 4, max);
	if (size > 4)
		memcpy(data, p + 4, size - 4);
	*len = size - 4;
	return 0;
}

int state_get_bytes(struct state_reader *r, const char *name, void *data, size_t len)
{
	size_t got;
	if (state_get_bytes_max(r, name, data, len, &got) < 0)
		return -EINVAL;
	if (got != len) {
		memset(data, 0, len);
		return state_invalid(r, name, "%zu bytes, %zu expected", got, len);
	}
	return 0;
}

int state_get_u32_range(struct state_reader *r, const char *name, uint32_t *v, uint32_t min,
			uint32_t max)
{
	if (state_get_u32(r, name, v) < 0)
		return -EINVAL;
	if (*v < min || *v > max) {
		uint32_t bad = *v;
		*v = 0;
		return state_invalid(r, name, "%u is out of range (%u to %u)", bad, min, max);
	}
	return 0;
}

int state_get_u64_range(struct state_reader *r, const char *name, uint64_t *v, uint64_t min,
			uint64_t max)
{
	if (state_get_u64(r, name, v) < 0)
		return -EINVAL;
	if (*v < min || *v > max) {
		uint64_t bad = *v;
		*v = 0;
		return state_invalid(r, name, "%llu is out of range (%llu to %llu)",
				     (unsigned long long)bad, (unsigned long long)min,
				     (unsigned long long)max);
	}
	return 0;
}

/* Enters a section whose head is at r->pos; optional: absent is 0. */
static int enter(struct state_reader *r, const char *name, uint16_t max_version, uint16_t *version,
		 bool optional)
{
	if (version)
		*version = 0;
	if (r->failed)
		return -EINVAL;
	if (r->depth >= STATE_MAX_DEPTH)
		return state_invalid(r, name, "sections nested too deep");
	size_t pos = r->pos;
	struct item it;
	if (optional && r->len - pos < 2)
		return 0;
	if (!peek_head(r, &pos, &it, name))
		return -EINVAL;
	if (it.type != STATE_BEGIN || strcmp(it.name, name) != 0) {
		if (optional)
			return 0;
		return state_invalid(r, name, "expected the section, found %s %s",
				     type_name(it.type), it.name);
	}
	size_t size;
	if (!value_size(r, pos, STATE_BEGIN, name, &size))
		return -EINVAL;
	uint16_t v = (uint16_t)load_le(r->buf + pos, 2);
	uint8_t flags = r->buf[pos + 2];
	if (flags & ~STATE_OPTIONAL)
		return state_invalid(r, name, "section flags 0x%x are unknown", flags);
	if (v > max_version)
		return state_invalid(r, name,
				     "section version %u is newer than this iovirt reads (%u)", v,
				     max_version);
	r->pos = pos + size;
	snprintf(r->section[r->depth], sizeof(r->section[0]), "%s", name);
	r->depth++;
	if (version)
		*version = v;
	return optional ? 1 : 0;
}

int state_enter(struct state_reader *r, const char *name, uint16_t max_version, uint16_t *version)
{
	return enter(r, name, max_version, version, false);
}

int state_enter_optional(struct state_reader *r, const char *name, uint16_t max_version,
			 uint16_t *version)
{
	return enter(r, name, max_version, version, true);
}

/* Skips the optional section whose BEGIN head ends at pos (value next),
 * nested ones included; false (error set) on anything malformed. */
static bool skip_section(struct state_reader *r, size_t *pos, const char *name)
{
	unsigned depth = 1;
	size_t size;
	if (!value_size(r, *pos, STATE_BEGIN, name, &size))
		return false;
	*pos += size;
	while (depth) {
		struct item it;
		if (!peek_head(r, pos, &it, name))
			return false;
		if (!value_size(r, *pos, it.type, name, &size))
			return false;
		*pos += size;
		if (it.type == STATE_BEGIN && ++depth > STATE_MAX_DEPTH)
			return state_invalid(r, name, "sections nested too deep"), false;
		if (it.type == STATE_END)
			depth--;
	}
	return true;
}

int state_leave(struct state_reader *r)
{
	if (r->failed)
		return -EINVAL;
	if (r->depth == 0)
		return state_invalid(r, NULL, "no section to leave");
	for (;;) {
		size_t pos = r->pos;
		struct item it;
		if (!peek_head(r, &pos, &it, NULL))
			return -EINVAL;
		if (it.type == STATE_END) {
			r->pos = pos;
			r->depth--;
			return 0;
		}
		if (it.type == STATE_BEGIN && r->len - pos >= 3 && (r->buf[pos + 2] & STATE_OPTIONAL)) {
			char skipped[STATE_NAME_MAX + 1];
			memcpy(skipped, it.name, sizeof(skipped));
			if (!skip_section(r, &pos, skipped))
				return -EINVAL;
			r->pos = pos;
			continue;
		}
		return state_invalid(r, it.name, "%s %s is unknown to this iovirt",
				     type_name(it.type), it.name);
	}
}

int state_reader_finish(struct state_reader *r)
{
	if (r->failed)
		return -EINVAL;
	if (r->depth != 0)
		return state_invalid(r, NULL, "section not left");
	if (r->pos != r->len)
		return state_invalid(r, NULL, "%zu bytes after the record", r->len - r->pos);
	return 0;
}
