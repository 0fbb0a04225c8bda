/* The snapshot's state file (issue 21): every saved record of a VM in one
 * file, each in a section that names what it is and carries its own CRC.
 *
 *   file    := header section*
 *   header  := magic "IOVIRTSN" (8), format:u32, count:u32, crc32:u32 of
 *              the 16 bytes before it, reserved:u32 (0)      — 24 bytes
 *   section := kind[24] id[24] (NUL-padded), version:u32, len:u64,
 *              crc32:u32 of the 60 bytes before it and the payload,
 *              reserved:u32 (0), payload[len]
 *
 * All little-endian. The kind says what wrote the record ("vm", "vcpu",
 * "virtio-blk"...), the id which instance ("vcpu0", "virtio-blk0"); the
 * payload is the record itself (core/state.h). The reader takes the file
 * as hostile: magic, format, every length against what is left and the
 * caps below, every CRC, names NUL-terminated and unique — one line says
 * what is wrong, nothing is used from a file that fails. */
#ifndef IOVIRT_MIGRATE_SNAPSHOT_FILE_H
#define IOVIRT_MIGRATE_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_FILE_FORMAT 1
#define SNAP_NAME_MAX 24              /* kind and id, NUL included */
#define SNAP_MAX_SECTIONS 256
#define SNAP_MAX_FILE (256ULL << 20)  /* what a reader loads at most */

struct snap_section {
	char kind[SNAP_NAME_MAX];
	char id[SNAP_NAME_MAX];
	uint32_t version;
	const uint8_t *data;             /* into the file's buffer */
	size_t len;
};

/* A file being written, in memory until snap_file_write. */
struct snap_file_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	int error;                       /* sticky: -ENOMEM, -EINVAL, -E2BIG */
};

void snap_file_writer_init(struct snap_file_writer *w);
void snap_file_writer_free(struct snap_file_writer *w);
/* Appends a section (kind and id at most SNAP_NAME_MAX - 1 bytes). */
void snap_file_add(struct snap_file_writer *w, const char *kind, const char *id,
		   uint32_t version, const void *data, size_t len);
/* The whole file in w->buf (header count and CRC filled in): 0 or the
 * first error. */
int snap_file_finish(struct snap_file_writer *w);

/* A file read and checked. */
struct snap_file {
	uint8_t *buf;
	size_t len;
	struct snap_section sections[SNAP_MAX_SECTIONS];
	unsigned count;
};

/* Parses buf (len bytes, kept: the sections point into it) into f. 0, or
 * -EINVAL with one line in why ("section 3 (virtio-blk0): CRC mismatch"). */
int snap_file_parse(struct snap_file *f, const uint8_t *buf, size_t len, char *why,
		    size_t why_len);

/* Reads path (at most SNAP_MAX_FILE) and parses it; f->buf is malloc'd.
 * 0, or -errno with one line in why naming the file. */
int snap_file_read(struct snap_file *f, const char *path, char *why, size_t why_len);
void snap_file_free(struct snap_file *f);

/* CRC-32 (zlib's): each section's, and the whole file's in the manifest. */
uint32_t snap_crc32(const void *data, size_t len);

/* The section of instance id, or NULL. */
const struct snap_section *snap_file_find(const struct snap_file *f, const char *id);

#endif
