/* Faulting in a large buffer before writing it: one madvise instead of a
 * page fault per 4 KiB page. Loading a kernel writes tens of MiB at once,
 * and where page faults are expensive (nested or emulated hosts, where each
 * costs tens of microseconds) the faults were most of the load's time. */
#ifndef IOVIRT_CORE_MEM_POPULATE_H
#define IOVIRT_CORE_MEM_POPULATE_H

#include <stddef.h>

/* Populates the whole pages inside [addr, addr + len) writable. Best effort:
 * a kernel without MADV_POPULATE_WRITE (before 5.14) faults them later. */
void mem_populate_write(void *addr, size_t len);

#endif
