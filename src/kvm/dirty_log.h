/* Which guest pages the vCPUs wrote, for live migration (issue 22): KVM's
 * dirty log on every RAM memslot, gathered into one bitmap per region that
 * a migration pass reads and clears.
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (Linux 5.8+), KVM_GET_DIRTY_LOG
 * only reports, and dirty_log_sync re-protects exactly the pages it
 * reported (KVM_CLEAR_DIRTY_LOG) just after copying their bits, so a page
 * written again after the sync is reported by the next one; without the
 * capability KVM_GET_DIRTY_LOG reports and re-protects in one step, which
 * is the same to the caller.
 *
 * KVM's log sees the vCPUs' writes only: guest RAM written by iovirt's
 * device models and by vhost-net is in the guest_mem log
 * (core/guest_mem_log.h), which each sync takes in too. */
#ifndef IOVIRT_KVM_DIRTY_LOG_H
#define IOVIRT_KVM_DIRTY_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest_mem.h"

struct vm;

struct dirty_log {
	unsigned nregions;
	uint64_t *bits[GUEST_MEM_MAX_REGIONS]; /* a bit per 4 KiB page, region by region */
	uint64_t pages[GUEST_MEM_MAX_REGIONS];
	bool manual;                           /* KVM_CLEAR_DIRTY_LOG re-protects */
};

/* Turns the log on for every RAM memslot; no page is dirty yet. From a
 * thread outside the seccomp filters. 0, or -errno after one line. */
int dirty_log_start(struct vm *vm, struct dirty_log *dl);

/* Adds the pages written since the last sync (or the start) to dl->bits
 * and re-protects them, and moves the guest_mem log's bits in. *dirty gets how many pages are set in dl->bits
 * now. 0, or -errno after one line. */
int dirty_log_sync(struct vm *vm, struct dirty_log *dl, uint64_t *dirty);

/* Whether page (4 KiB index) of region is set; clears it. */
bool dirty_log_take(struct dirty_log *dl, unsigned region, uint64_t page);

/* Turns the log off and frees dl. */
void dirty_log_stop(struct vm *vm, struct dirty_log *dl);

#endif
