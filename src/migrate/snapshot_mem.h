/* Guest RAM in a snapshot (issue 21): one file per RAM region, as large as
 * the region, holding its pages at their offsets. Pages that are zero are
 * not written, so they stay holes in a sparse file: a guest that touched
 * 100 MiB of 2 GiB takes about 100 MiB of disk.
 *
 * Restoring reads the data back (SEEK_DATA/SEEK_HOLE: holes are not read,
 * the fresh guest RAM is zero already) or maps the file copy-on-write over
 * the region, so pages come in as the guest touches them; mapping works
 * only over private anonymous RAM (a shared memfd must hold the data for
 * the other processes that map it). */
#ifndef IOVIRT_MIGRATE_SNAPSHOT_MEM_H
#define IOVIRT_MIGRATE_SNAPSHOT_MEM_H

#include <stddef.h>
#include <stdint.h>

enum snap_mem_mode {
	SNAP_MEM_READ = 0,  /* read into the region */
	SNAP_MEM_MAP,       /* MAP_PRIVATE | MAP_FIXED over the region */
};

/* Writes the region (hva page-aligned, size a multiple of pages) to path,
 * fsynced. src_fd, src_off: the memfd the region maps and where (its
 * SEEK_DATA says which pages hold data, swapped out or not), or -1 for
 * private RAM. *data_bytes gets what was written (the rest are holes). 0,
 * or -errno with one line in why. */
int snap_mem_save(const char *path, const uint8_t *hva, uint64_t size, int src_fd,
		  uint64_t src_off, uint64_t *data_bytes, char *why, size_t why_len);

/* Fills the region from path, which must be exactly size bytes. 0, or
 * -errno with one line in why. */
int snap_mem_load(const char *path, uint8_t *hva, uint64_t size, enum snap_mem_mode mode,
		  char *why, size_t why_len);

#endif
