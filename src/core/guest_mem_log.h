/* The dirty log of guest RAM written behind KVM's back (issue 22): while
 * a migration runs, every write iovirt's device models make into guest
 * RAM (used rings and the buffers they return, NVMe completions and read
 * data, e1000 receive descriptors and frames) sets the bit of each page it
 * touched, and so do vhost-net, which is handed the same bitmap
 * (VHOST_SET_LOG_BASE: a bit per 4 KiB page of guest-physical address,
 * little-endian words, which is the layout below), and a vhost-user
 * backend, which maps it from its memfd (LOG_SHMFD).
 *
 * Marks are made after the data is in place: a pass that takes a page's
 * bit and copies the page then copies the data too, or finds the bit set
 * again. The pointer is read once per mark with sequential consistency,
 * so a writer that found the log off finished its write before the log
 * was turned on, and the first pass (all of RAM) copies it.
 *
 * Any thread may mark; the migration takes bits (an atomic exchange per
 * word). Not marking a write corrupts the migrated guest silently, so a
 * device that writes guest RAM through a pointer of its own marks it. */
#ifndef IOVIRT_CORE_GUEST_MEM_LOG_H
#define IOVIRT_CORE_GUEST_MEM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

#define GUEST_MEM_PAGE_SHIFT 12

/* Turns the log on, every bit clear (the bitmap is allocated once, kept
 * until guest_mem_destroy: a late marker may still hold the pointer). 0 or
 * -ENOMEM. From the one thread that runs migrations. */
int guest_mem_log_start(struct guest_mem *mem);
void guest_mem_log_stop(struct guest_mem *mem);
/* The bitmap as vhost wants it, and its size in bytes; NULL while off.
 * mem->log_fd is the memfd it lives in (offset 0), for vhost-user. */
uint64_t *guest_mem_log_bitmap(const struct guest_mem *mem, size_t *bytes);

/* Whether the log is on: a device may skip working out what it wrote. */
static inline bool guest_mem_logging(const struct guest_mem *mem)
{
	return __atomic_load_n(&mem->log, __ATOMIC_SEQ_CST) != NULL;
}

/* [gpa, gpa+len) was written. No-op while the log is off. */
void guest_mem_mark(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* The same for host memory inside a RAM region (an iovec of guest RAM). */
void guest_mem_mark_hva(const struct guest_mem *mem, const void *hva, size_t len);

/* Moves the bits of the 64 pages from page (a multiple of 64, an index of
 * guest-physical pages) out of the log: the word, cleared. */
uint64_t guest_mem_log_take(struct guest_mem *mem, uint64_t page);

/* guest_mem_destroy's part. */
void guest_mem_log_free(struct guest_mem *mem);

#endif
