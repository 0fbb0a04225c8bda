/* The snapshot's state file; see snapshot_file.h. */
#include "migrate/snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/byteorder.h"

#define MAGIC "IOVIRTSN"
#define HEADER_LEN 24
#define SECTION_CRC_AT (2 * SNAP_NAME_MAX + 4 + 8)
#define SECTION_HEADER_LEN (SECTION_CRC_AT + 4 + 4)

/* c updated with len more bytes (c = 0 to start). */
static uint32_t crc_update(uint32_t c, const void *data, size_t len)
{
	const uint8_t *p = data;
	/* zlib takes uInt lengths. */
	while (len) {
		uInt n = len > (1U << 30) ? (1U << 30) : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

uint32_t snap_crc32(const void *data, size_t len)
{
	return crc_update(0, data, len);
}

/* A section's CRC covers its header up to the CRC field too, so that a
 * flipped bit in a name, the version or the length is caught. */
static uint32_t section_crc(const uint8_t *h, const void *data, size_t len)
{
	return crc_update(crc_update(0, h, SECTION_CRC_AT), data, len);
}

/* A name: 1..SNAP_NAME_MAX-1 printable bytes, no space (the reader's
 * rule, so that the writer never writes what the reader refuses). */
static bool name_chars_ok(const char *s, size_t n)
{
	if (n == 0 || n >= SNAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] < 0x21 || (uint8_t)s[i] > 0x7e)
			return false;
	return true;
}

/* ---- writing ---- */

static uint8_t *reserve(struct snap_file_writer *w, size_t n)
{
	if (w->error)
		return NULL;
	if (n > SNAP_MAX_FILE || w->len > SNAP_MAX_FILE - n) {
		w->error = -E2BIG;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->error = -ENOMEM;
			return NULL;
		}
		w->buf = b;
		w->cap = cap;
	}
	uint8_t *p = w->buf + w->len;
	memset(p, 0, n);
	w->len += n;
	return p;
}

void snap_file_writer_init(struct snap_file_writer *w)
{
	memset(w, 0, sizeof(*w));
	reserve(w, HEADER_LEN);
}

void snap_file_writer_free(struct snap_file_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* A section of that id is in the file already (the reader refuses two). */
static bool has_id(const struct snap_file_writer *w, const char *id, size_t il)
{
	size_t pos = HEADER_LEN;
	for (uint32_t i = 0; i < w->count; i++) {
		const uint8_t *h = w->buf + pos;
		if (memcmp(h + SNAP_NAME_MAX, id, il) == 0 &&
		    (il == SNAP_NAME_MAX || h[SNAP_NAME_MAX + il] == 0))
			return true;
		pos += SECTION_HEADER_LEN + (size_t)get_le64(h + 2 * SNAP_NAME_MAX + 4);
	}
	return false;
}

void snap_file_add(struct snap_file_writer *w, const char *kind, const char *id,
		   uint32_t version, const void *data, size_t len)
{
	if (w->error)
		return;
	size_t kl = strlen(kind), il = strlen(id);
	if (!name_chars_ok(kind, kl) || !name_chars_ok(id, il) || w->count == SNAP_MAX_SECTIONS ||
	    has_id(w, id, il)) {
		w->error = -EINVAL;
		return;
	}
	uint8_t *h = reserve(w, SECTION_HEADER_LEN);
	if (!h)
		return;
	memcpy(h, kind, kl);
	memcpy(h + SNAP_NAME_MAX, id, il);
	put_le32(h + 2 * SNAP_NAME_MAX, version);
	put_le64(h + 2 * SNAP_NAME_MAX + 4, len);
	put_le32(h + SECTION_CRC_AT, section_crc(h, data, len));
	uint8_t *p = reserve(w, len);
	if (p && len)
		memcpy(p, data, len);
	if (!w->error)
		w->count++;
}

int snap_file_finish(struct snap_file_writer *w)
{
	if (w->error)
		return w->error;
	memcpy(w->buf, MAGIC, 8);
	put_le32(w->buf + 8, SNAP_FILE_FORMAT);
	put_le32(w->buf + 12, w->count);
	put_le32(w->buf + 16, snap_crc32(w->buf, 16));
	return 0;
}

/* ---- reading ---- */

static int fail(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A name field: a name, NUL-padded. */
static bool name_ok(const uint8_t *p)
{
	size_t n = strnlen((const char *)p, SNAP_NAME_MAX);
	if (!name_chars_ok((const char *)p, n))
		return false;
	for (size_t i = n; i < SNAP_NAME_MAX; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int snap_file_parse(struct snap_file *f, const uint8_t *buf, size_t len, char *why,
		    size_t why_len)
{
	f->count = 0;
	if (len < HEADER_LEN || memcmp(buf, MAGIC, 8) != 0)
		return fail(why, why_len, "not an iovirt snapshot state file (no magic)");
	if (get_le32(buf + 16) != snap_crc32(buf, 16))
		return fail(why, why_len, "its header is corrupt (CRC mismatch)");
	if (get_le32(buf + 20) != 0)
		return fail(why, why_len, "its header is corrupt (reserved field not zero)");
	uint32_t format = get_le32(buf + 8), count = get_le32(buf + 12);
	if (format != SNAP_FILE_FORMAT)
		return fail(why, why_len, "format %u; this iovirt reads format %u", format,
			    SNAP_FILE_FORMAT);
	if (count > SNAP_MAX_SECTIONS)
		return fail(why, why_len, "%u sections (at most %u)", count, SNAP_MAX_SECTIONS);
	size_t pos = HEADER_LEN;
	for (uint32_t i = 0; i < count; i++) {
		if (len - pos < SECTION_HEADER_LEN)
			return fail(why, why_len, "truncated in section %u's header", i);
		const uint8_t *h = buf + pos;
		if (!name_ok(h) || !name_ok(h + SNAP_NAME_MAX))
			return fail(why, why_len, "section %u: its kind or id is not a name", i);
		struct snap_section *s = &f->sections[i];
		memcpy(s->kind, h, SNAP_NAME_MAX);
		memcpy(s->id, h + SNAP_NAME_MAX, SNAP_NAME_MAX);
		s->version = get_le32(h + 2 * SNAP_NAME_MAX);
		uint64_t n = get_le64(h + 2 * SNAP_NAME_MAX + 4);
		pos += SECTION_HEADER_LEN;
		if (n > len - pos)
			return fail(why, why_len, "section %u (%s): %llu bytes, %zu left: truncated", i,
				    s->id, (unsigned long long)n, len - pos);
		s->data = buf + pos;
		s->len = (size_t)n;
		if (get_le32(h + SECTION_CRC_AT) != section_crc(h, s->data, s->len))
			return fail(why, why_len, "section %u (%s): CRC mismatch (the file is corrupt)",
				    i, s->id);
		if (get_le32(h + SECTION_CRC_AT + 4) != 0)
			return fail(why, why_len, "section %u (%s): reserved field not zero", i, s->id);
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(f->sections[j].id, s->id) == 0)
				return fail(why, why_len, "section %u: %s appears twice", i, s->id);
		pos += s->len;
	}
	if (pos != len)
		return fail(why, why_len, "%zu bytes after the last section", len - pos);
	f->count = count;
	return 0;
}

int snap_file_read(struct snap_file *f, const char *path, char *why, size_t why_len)
{
	memset(f, 0, sizeof(*f));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return err;
	}
	struct stat st;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SNAP_MAX_FILE)) {
		snprintf(why, why_len, "%s: not a regular file of at most %llu MiB", path,
			 SNAP_MAX_FILE >> 20);
		ret = -EINVAL;
	}
	size_t len = ret == 0 ? (size_t)st.st_size : 0;
	uint8_t *buf = ret == 0 ? malloc(len ? len : 1) : NULL;
	if (ret == 0 && !buf)
		ret = -ENOMEM;
	for (size_t got = 0; ret == 0 && got < len;) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(why, why_len, "%s: reading: %s", path, strerror(-ret));
		}
		got += n > 0 ? (size_t)n : 0;
	}
	close(fd);
	if (ret == 0) {
		char inner[200];
		ret = snap_file_parse(f, buf, len, inner, sizeof(inner));
		if (ret < 0)
			snprintf(why, why_len, "%s: %s", path, inner);
	} else if (ret == -ENOMEM) {
		snprintf(why, why_len, "%s: out of memory", path);
	}
	if (ret < 0) {
		free(buf);
		return ret;
	}
	f->buf = buf;
	f->len = len;
	return 0;
}

void snap_file_free(struct snap_file *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

const struct snap_section *snap_file_find(const struct snap_file *f, const char *id)
{
	for (unsigned i = 0; i < f->count; i++)
		if (strcmp(f->sections[i].id, id) == 0)
			return &f->sections[i];
	return NULL;
}
