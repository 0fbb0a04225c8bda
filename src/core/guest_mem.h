/* Guest physical memory (docs/ARCHITECTURE.md "Guest memory").
 *
 * guest_mem_ptr() is the only place a guest-physical address becomes a host
 * pointer: it returns one only if [gpa, gpa+len) lies wholly inside one RAM
 * region, computed without overflow; otherwise NULL. No other code does
 * arithmetic on guest addresses. */
#ifndef IOVIRT_CORE_GUEST_MEM_H
#define IOVIRT_CORE_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

/* RAM below 4 GiB stops at the 32-bit PCI hole; the rest goes above 4 GiB. */
#define GUEST_MEM_PCI_HOLE_START 0xC0000000ULL
#define GUEST_MEM_4G 0x100000000ULL

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size;  /* total bytes of RAM */
	int memfd;          /* -1 for memory the caller owns */
	void *mapping;      /* the whole RAM mapping, for munmap */
	size_t mapping_size;
	/* The dirty log of writes into guest RAM that KVM does not see
	 * (core/guest_mem_log.h): NULL while off (read atomically). */
	uint64_t *log;
	uint64_t *log_buf;  /* kept from the first start to guest_mem_destroy */
	int log_fd;         /* the memfd log_buf maps (vhost-user maps it too) */
	uint64_t log_pages; /* bits in log_buf: the page after the last RAM page */
};

/* How guest RAM is backed. */
enum guest_mem_backing {
	/* Private anonymous memory with transparent hugepages (as QEMU and
	 * Firecracker): measured several times faster than a shared memfd
	 * for host writes into guest RAM (virtio-blk reads). */
	GUEST_MEM_ANON = 0,
	GUEST_MEM_SHARED,   /* a memfd another process can map (vhost-user) */
	GUEST_MEM_HUGETLB,  /* a hugetlbfs memfd, pages reserved up front */
};

/* Allocates ram_size bytes of guest RAM and lays it out around the PCI
 * hole. Returns 0 or -errno. */
int guest_mem_init(struct guest_mem *mem, uint64_t ram_size, enum guest_mem_backing backing);
void guest_mem_destroy(struct guest_mem *mem);

/* For tests and fuzzers: describe caller-owned memory as guest RAM. */
void guest_mem_init_empty(struct guest_mem *mem);
int guest_mem_add_region(struct guest_mem *mem, uint64_t gpa, void *hva, uint64_t size);

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy helpers built on guest_mem_ptr(); 0, or -EFAULT if out of RAM. */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len);

#endif
