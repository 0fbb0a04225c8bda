/* NVMe PRP (Physical Region Page) walking (NVMe 1.4 §4.3): turns a
 * command's PRP1/PRP2 into host iovecs over guest RAM, through the
 * guest-memory accessor only. */
#ifndef IOVIRT_DEVICES_NVME_PRP_H
#define IOVIRT_DEVICES_NVME_PRP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/guest_mem.h"

/* Maps len bytes described by prp1/prp2 into iov (at most max entries,
 * host-contiguous pages merged). Returns the entry count, or a negative
 * NVMe status (-NVME_SC_...): a misaligned entry gives PRP Offset Invalid,
 * a page or list outside RAM gives Data Transfer Error, more entries than
 * max gives Invalid Field. Work is bounded by len / page size: a list that
 * points back at itself only repeats pages until len is covered. */
int nvme_prp_map(const struct guest_mem *mem, uint64_t prp1, uint64_t prp2, uint64_t len,
		 struct iovec *iov, unsigned max);

/* Copies len bytes (at most NVME_PRP_COPY_MAX_IOV pages: admin data) between
 * buf and the PRP-described guest buffer. 0 or a negative NVMe status. */
#define NVME_PRP_COPY_MAX_IOV 4
int nvme_prp_copy(const struct guest_mem *mem, uint64_t prp1, uint64_t prp2, void *buf,
		  size_t len, bool to_guest);

#endif
