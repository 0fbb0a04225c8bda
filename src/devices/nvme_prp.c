/* NVMe PRP lists (§4.3). PRP1 holds the first data page, with an offset
 * (dword aligned). If the transfer needs one more page, PRP2 is that page;
 * if it needs more, PRP2 points at a list of page addresses (qword aligned,
 * possibly with an offset) whose last entry in each memory page points at
 * the next list page while more than one page of data remains. */
#include "devices/nvme_prp.h"

#include <stdbool.h>
#include <string.h>

#include "core/guest_mem_log.h"
#include "devices/nvme_spec.h"

#define PAGE_MASK ((uint64_t)NVME_PAGE_SIZE - 1)

/* Appends [gpa, gpa+len) to iov, merging with the previous entry when it
 * continues it in host memory. 0 or a negative status. */
static int add_segment(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
		       struct iovec *iov, unsigned max, unsigned *n)
{
	uint8_t *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -NVME_SC_DATA_XFER_ERROR;
	if (*n > 0) {
		struct iovec *last = &iov[*n - 1];
		if ((uint8_t *)last->iov_base + last->iov_len == p) {
			last->iov_len += len;
			return 0;
		}
	}
	if (*n == max)
		return -NVME_SC_INVALID_FIELD;
	iov[*n].iov_base = p;
	iov[*n].iov_len = len;
	(*n)++;
	return 0;
}

static int read_entry(const struct guest_mem *mem, uint64_t gpa, uint64_t *entry)
{
	if (guest_mem_read(mem, gpa, entry, sizeof(*entry)) < 0)
		return -NVME_SC_DATA_XFER_ERROR;
	return 0;
}

int nvme_prp_map(const struct guest_mem *mem, uint64_t prp1, uint64_t prp2, uint64_t len,
		 struct iovec *iov, unsigned max)
{
	unsigned n = 0;
	if (len == 0)
		return 0;
	if (prp1 & 3)
		return -NVME_SC_PRP_OFFSET_INVALID;
	uint64_t first = NVME_PAGE_SIZE - (prp1 & PAGE_MASK);
	if (first > len)
		first = len;
	int ret = add_segment(mem, prp1, first, iov, max, &n);
	if (ret < 0)
		return ret;
	len -= first;
	if (len == 0)
		return (int)n;

	if (len <= NVME_PAGE_SIZE) {
		/* PRP2 is the second (and last) data page. */
		if (prp2 & PAGE_MASK)
			return -NVME_SC_PRP_OFFSET_INVALID;
		ret = add_segment(mem, prp2, len, iov, max, &n);
		return ret < 0 ? ret : (int)n;
	}

	/* PRP2 is a list pointer. */
	uint64_t list = prp2;
	if (list & 7)
		return -NVME_SC_PRP_OFFSET_INVALID;
	bool just_chained = false;
	while (len > 0) {
		uint64_t entry;
		/* The last entry of a list page chains on if data remains
		 * beyond the page it would describe. */
		bool last_in_page = ((list + 8) & PAGE_MASK) == 0;
		ret = read_entry(mem, list, &entry);
		if (ret < 0)
			return ret;
		if (last_in_page && len > NVME_PAGE_SIZE) {
			/* A list page must describe at least one data page
			 * before chaining again: that bounds the walk. */
			if ((entry & 7) || just_chained)
				return -NVME_SC_PRP_OFFSET_INVALID;
			list = entry;
			just_chained = true;
			continue;
		}
		just_chained = false;
		if (entry & PAGE_MASK)
			return -NVME_SC_PRP_OFFSET_INVALID;
		uint64_t chunk = len < NVME_PAGE_SIZE ? len : NVME_PAGE_SIZE;
		ret = add_segment(mem, entry, chunk, iov, max, &n);
		if (ret < 0)
			return ret;
		len -= chunk;
		list += 8;
	}
	return (int)n;
}

int nvme_prp_copy(const struct guest_mem *mem, uint64_t prp1, uint64_t prp2, void *buf,
		  size_t len, bool to_guest)
{
	struct iovec iov[NVME_PRP_COPY_MAX_IOV];
	int n = nvme_prp_map(mem, prp1, prp2, len, iov, NVME_PRP_COPY_MAX_IOV);
	if (n < 0)
		return n;
	uint8_t *p = buf;
	for (int i = 0; i < n; i++) {
		if (to_guest) {
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
			guest_mem_mark_hva(mem, iov[i].iov_base, iov[i].iov_len);
		} else
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}
