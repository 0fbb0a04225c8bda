/* The live-migration stream (issue 22): what one iovirt sends another over
 * a connected socket (TCP or UNIX), as messages with a type and a length.
 *
 *   message := type:u32 reserved:u32 (0) len:u64 payload[len]   (LE)
 *
 *   source -> destination
 *     HELLO   "IOVIRTMG" version:u32 manifest (JSON, as a snapshot's:
 *             the machine's options, RAM layout, vCPUs, devices)
 *     PAGES   gpa:u64 data (a whole number of 4 KiB pages, at most
 *             MIG_MAX_PAGES of them, inside one RAM region)
 *     ZERO    gpa:u64 count:u64 (pages that are zero now, inside one
 *             RAM region)
 *     STATE   the snapshot's state file (migrate/snapshot_file.h): the
 *             VM's, each vCPU's and each device's records
 *     CANCEL  why (text): the source gives up; its VM runs on there
 *   destination -> source
 *     ACCEPT  (empty) the machines match, send on
 *     REFUSE  why (text): they do not
 *     DONE    (empty) everything loaded: the guest runs here now
 *     FAILED  why (text): the destination could not load it
 *
 * The destination reads the stream as hostile: unknown types, lengths
 * over the caps, pages outside RAM or straddling regions are refused with
 * one line, and nothing more is read. */
#ifndef IOVIRT_MIGRATE_MIGRATE_STREAM_H
#define IOVIRT_MIGRATE_MIGRATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "migrate/migrate_url.h"

#define MIG_MAGIC "IOVIRTMG"
#define MIG_VERSION 1
#define MIG_PAGE_SIZE 4096ULL
#define MIG_MAX_PAGES 256            /* per PAGES message: 1 MiB */
#define MIG_MAX_TEXT 4096            /* REFUSE, FAILED, CANCEL */
#define MIG_MAX_HELLO (1U << 20)
#define MIG_HEADER_BYTES 16

enum mig_type {
	MIG_HELLO = 1,
	MIG_ACCEPT,
	MIG_REFUSE,
	MIG_PAGES,
	MIG_ZERO,
	MIG_STATE,
	MIG_CANCEL,
	MIG_DONE,
	MIG_FAILED,
};

struct mig_header {
	uint32_t type;
	uint64_t len;
};

/* Sends a message: header and payload. 0, or -errno. */
int mig_send(int fd, enum mig_type type, const void *payload, size_t len);
/* PAGES: count pages at gpa, from hva. 0, or -errno. */
int mig_send_pages(int fd, uint64_t gpa, const void *hva, uint64_t count);
int mig_send_zero(int fd, uint64_t gpa, uint64_t count);
/* A text message (REFUSE, FAILED, CANCEL) from a format. */
int mig_send_text(int fd, enum mig_type type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads the next header; the type must be one the reader expects from
 * its peer (from_source: HELLO...CANCEL, else ACCEPT...FAILED) and the
 * length within the type's cap. 0, -EPIPE at a clean end of stream, or
 * -EINVAL/-errno with one line in why. */
int mig_recv_header(int fd, bool from_source, struct mig_header *h, char *why, size_t why_len);
/* Reads exactly len bytes. 0, -EPIPE at end of stream, or -errno. */
int mig_read_full(int fd, void *buf, size_t len);
/* A text payload (h->len bytes, at most MIG_MAX_TEXT) into buf, NUL
 * terminated, anything unprintable replaced. 0 or -errno. */
int mig_recv_text(int fd, const struct mig_header *h, char *buf, size_t cap);

/* The destination's side of PAGES and ZERO: the payload read straight
 * into guest RAM after every check (gpa page-aligned, the range inside
 * one region). *pages gets how many pages it covered. 0, or -EINVAL /
 * -errno with one line in why. */
int mig_recv_memory(int fd, const struct mig_header *h, const struct guest_mem *mem,
		    uint64_t *pages, char *why, size_t why_len);

#endif
