/* The dirty log of guest RAM written behind KVM's back; see guest_mem_log.h. */
#include "core/guest_mem_log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t log_bytes(uint64_t pages)
{
	return (size_t)((pages + 63) / 64 * 8);
}

int guest_mem_log_start(struct guest_mem *mem)
{
	if (!mem->log_buf) {
		uint64_t end = 0;
		for (unsigned i = 0; i < mem->nr_regions; i++) {
			const struct guest_mem_region *r = &mem->regions[i];
			if (r->gpa + r->size > end)
				end = r->gpa + r->size;
		}
		uint64_t pages = end >> GUEST_MEM_PAGE_SHIFT;
		/* A memfd: a vhost-user backend maps the same bitmap. */
		int fd = memfd_create("iovirt-dirty-log", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		void *p = ftruncate(fd, (off_t)log_bytes(pages)) == 0
				  ? mmap(NULL, log_bytes(pages), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
				  : MAP_FAILED;
		if (p == MAP_FAILED) {
			close(fd);
			return -ENOMEM;
		}
		mem->log_buf = p;
		mem->log_fd = fd;
		mem->log_pages = pages;
	} else {
		memset(mem->log_buf, 0, log_bytes(mem->log_pages));
	}
	__atomic_store_n(&mem->log, mem->log_buf, __ATOMIC_SEQ_CST);
	return 0;
}

void guest_mem_log_stop(struct guest_mem *mem)
{
	__atomic_store_n(&mem->log, NULL, __ATOMIC_SEQ_CST);
}

uint64_t *guest_mem_log_bitmap(const struct guest_mem *mem, size_t *bytes)
{
	uint64_t *log = __atomic_load_n(&mem->log, __ATOMIC_SEQ_CST);
	*bytes = log ? log_bytes(mem->log_pages) : 0;
	return log;
}

void guest_mem_mark(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t *log = __atomic_load_n(&mem->log, __ATOMIC_SEQ_CST);
	if (!log || len == 0)
		return;
	uint64_t first = gpa >> GUEST_MEM_PAGE_SHIFT;
	uint64_t last = (gpa + len - 1) >> GUEST_MEM_PAGE_SHIFT;
	if (gpa + len - 1 < gpa || last >= mem->log_pages)
		last = mem->log_pages - 1; /* callers checked the range: never */
	for (uint64_t p = first; p <= last; p++)
		__atomic_fetch_or(&log[p / 64], 1ULL << (p % 64), __ATOMIC_SEQ_CST);
}

void guest_mem_mark_hva(const struct guest_mem *mem, const void *hva, size_t len)
{
	if (!__atomic_load_n(&mem->log, __ATOMIC_RELAXED))
		return;
	const uint8_t *p = hva;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		if (p >= r->hva && p < r->hva + r->size) {
			guest_mem_mark(mem, r->gpa + (uint64_t)(p - r->hva), len);
			return;
		}
	}
}

uint64_t guest_mem_log_take(struct guest_mem *mem, uint64_t page)
{
	if (!mem->log_buf || page >= mem->log_pages)
		return 0;
	return __atomic_exchange_n(&mem->log_buf[page / 64], 0, __ATOMIC_SEQ_CST);
}

void guest_mem_log_free(struct guest_mem *mem)
{
	if (mem->log_buf)
		munmap(mem->log_buf, log_bytes(mem->log_pages));
	if (mem->log_fd >= 0)
		close(mem->log_fd);
	mem->log_fd = -1;
	mem->log = mem->log_buf = NULL;
	mem->log_pages = 0;
}
