/* Device state records (docs/ARCHITECTURE.md "State"): what a device model
 * saves through the device contract and loads into a fresh instance.
 *
 * A record is self-describing and endian-fixed: a sequence of named items,
 * each a type byte, a name (1..63 bytes, length-prefixed) and a
 * little-endian value. Sections group fields and carry a version; a section
 * written as optional may be skipped by a reader that does not know it, so
 * a newer iovirt can add state without breaking older readers, and a reader
 * treats an optional section that is absent as "defaults". A section whose
 * version is newer than the reader's is refused.
 *
 *   item     := type:u8 namelen:u8 name value
 *   U8..U64  := 1, 2, 4, 8 bytes LE
 *   BYTES    := len:u32 LE, len bytes
 *   BEGIN    := version:u16 LE, flags:u8 (STATE_OPTIONAL)
 *   END      := (no name, no value: namelen 0)
 *
 * The reader treats its input as hostile: every length is checked against
 * what is left, nesting is bounded, and the first error is sticky (later
 * calls fail and leave their outputs zeroed), so a loader can read all its
 * fields and check once. The error names the device and the field:
 * "nvme0: field sq.3.tail: 70000 is out of range (at most 1023)". */
#ifndef IOVIRT_CORE_STATE_H
#define IOVIRT_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum state_type {
	STATE_U8 = 1,
	STATE_U16 = 2,
	STATE_U32 = 3,
	STATE_U64 = 4,
	STATE_BYTES = 5,
	STATE_BEGIN = 6,
	STATE_END = 7,
};

#define STATE_NAME_MAX 63
#define STATE_MAX_DEPTH 8
#define STATE_OPTIONAL 0x01     /* BEGIN flag: a reader may skip the section */

struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	unsigned depth;
	int error;                  /* sticky: -ENOMEM, -EINVAL (bad name, unbalanced) */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);

void state_begin(struct state_writer *w, const char *name, uint16_t version);
void state_begin_optional(struct state_writer *w, const char *name, uint16_t version);
void state_end(struct state_writer *w);
void state_put_u8(struct state_writer *w, const char *name, uint8_t v);
void state_put_u16(struct state_writer *w, const char *name, uint16_t v);
void state_put_u32(struct state_writer *w, const char *name, uint32_t v);
void state_put_u64(struct state_writer *w, const char *name, uint64_t v);
void state_put_bool(struct state_writer *w, const char *name, bool v);
void state_put_bytes(struct state_writer *w, const char *name, const void *data, size_t len);

/* 0 with every section closed, else the first error. */
int state_writer_finish(struct state_writer *w);

struct state_reader {
	const uint8_t *buf;
	size_t len, pos;
	unsigned depth;
	const char *device;         /* names the device in errors: "nvme0" */
	char section[STATE_MAX_DEPTH][STATE_NAME_MAX + 1];
	bool failed;
	char error[256];
};

void state_reader_init(struct state_reader *r, const void *buf, size_t len,
		       const char *device);

/* Enters the required section name; refuses a version above max_version.
 * 0, or -EINVAL (error set). *version may be NULL. */
int state_enter(struct state_reader *r, const char *name, uint16_t max_version,
		uint16_t *version);
/* An optional section: 1 entered, 0 absent here (nothing consumed), or
 * -EINVAL. */
int state_enter_optional(struct state_reader *r, const char *name, uint16_t max_version,
			 uint16_t *version);
/* Leaves the current section: skips optional sections the reader did not
 * ask for, refuses anything else left in it. 0 or -EINVAL. */
int state_leave(struct state_reader *r);

/* The next item must be the field name of that type; else -EINVAL. The
 * output is zeroed on any failure. */
int state_get_u8(struct state_reader *r, const char *name, uint8_t *v);
int state_get_u16(struct state_reader *r, const char *name, uint16_t *v);
int state_get_u32(struct state_reader *r, const char *name, uint32_t *v);
int state_get_u64(struct state_reader *r, const char *name, uint64_t *v);
int state_get_bool(struct state_reader *r, const char *name, bool *v);
/* Exactly len bytes; a different length is an error. */
int state_get_bytes(struct state_reader *r, const char *name, void *data, size_t len);
/* Up to max bytes; *len gets the stored length. */
int state_get_bytes_max(struct state_reader *r, const char *name, void *data, size_t max,
			size_t *len);

/* A u32/u64 field that must lie in [min, max]. */
int state_get_u32_range(struct state_reader *r, const char *name, uint32_t *v, uint32_t min,
			uint32_t max);
int state_get_u64_range(struct state_reader *r, const char *name, uint64_t *v, uint64_t min,
			uint64_t max);

/* A loader's own check failed on field name: records the error (the
 * device, the section path and name are prefixed) and returns -EINVAL. */
int state_invalid(struct state_reader *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The whole input must have been consumed (after the last leave). */
int state_reader_finish(struct state_reader *r);

static inline bool state_failed(const struct state_reader *r)
{
	return r->failed;
}

static inline const char *state_error(const struct state_reader *r)
{
	return r->failed ? r->error : "";
}

#endif
