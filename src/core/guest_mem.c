#include "core/guest_mem.h"
#include "core/guest_mem_log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

void guest_mem_init_empty(struct guest_mem *mem)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->log_fd = -1;
}

int guest_mem_add_region(struct guest_mem *mem, uint64_t gpa, void *hva, uint64_t size)
{
	if (mem->nr_regions >= GUEST_MEM_MAX_REGIONS || size == 0 || gpa + size < gpa)
		return -EINVAL;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	mem->regions[mem->nr_regions++] = (struct guest_mem_region){
		.gpa = gpa, .size = size, .hva = hva};
	mem->ram_size += size;
	return 0;
}

static void lay_out(struct guest_mem *mem, uint8_t *p, uint64_t ram_size)
{
	uint64_t low = ram_size < GUEST_MEM_PCI_HOLE_START ? ram_size : GUEST_MEM_PCI_HOLE_START;
	guest_mem_add_region(mem, 0, p, low);
	if (ram_size > low)
		guest_mem_add_region(mem, GUEST_MEM_4G, p + low, ram_size - low);
}

/* Guest RAM starts on a 2 MiB boundary: KVM maps a transparent huge page
 * of guest RAM as one 2 MiB page only where guest-physical and host-virtual
 * addresses agree modulo 2 MiB, and mmap promises just 4 KiB alignment
 * (QEMU aligns its RAM the same way). Measured: 4 KiB nested page faults
 * per I/O without it. */
#define RAM_ALIGN (2ULL << 20)

static void *map_aligned(uint64_t size, int flags, int fd)
{
	uint8_t *raw = mmap(NULL, size + RAM_ALIGN, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return MAP_FAILED;
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + RAM_ALIGN - 1) & ~(uintptr_t)(RAM_ALIGN - 1));
	if (mmap(p, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
		int err = errno;
		munmap(raw, size + RAM_ALIGN);
		errno = err;
		return MAP_FAILED;
	}
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	uint64_t tail = (uint64_t)(raw + size + RAM_ALIGN - (p + size));
	if (tail)
		munmap(p + size, tail);
	return p;
}

int guest_mem_init(struct guest_mem *mem, uint64_t ram_size, enum guest_mem_backing backing)
{
	guest_mem_init_empty(mem);
	if (ram_size == 0)
		return -EINVAL;

	void *p;
	int fd = -1;
	if (backing == GUEST_MEM_ANON) {
		/* MAP_NORESERVE: guest RAM is touched lazily; only what the
		 * guest uses costs host memory. */
		p = map_aligned(ram_size, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
		if (p == MAP_FAILED)
			return -errno;
		madvise(p, ram_size, MADV_HUGEPAGE);
	} else {
		unsigned flags = MFD_CLOEXEC | (backing == GUEST_MEM_HUGETLB ? MFD_HUGETLB : 0);
		fd = memfd_create("iovirt-ram", flags);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)ram_size) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		/* Hugetlb pages are reserved now (a later fault would be
		 * SIGBUS); a shared memfd, like anonymous RAM, fills lazily. */
		int reserve = backing == GUEST_MEM_HUGETLB ? 0 : MAP_NORESERVE;
		p = map_aligned(ram_size, MAP_SHARED | reserve, fd);
		if (p == MAP_FAILED) {
			int err = -errno;
			close(fd);
			return err;
		}
	}
	madvise(p, ram_size, MADV_DONTDUMP);
	mem->memfd = fd;
	mem->mapping = p;
	mem->mapping_size = ram_size;
	/* The split at the PCI hole (3 GiB) is 1 GiB aligned, so huge pages
	 * stay whole in both regions. */
	lay_out(mem, p, ram_size);
	return 0;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	guest_mem_log_free(mem);
	if (mem->mapping)
		munmap(mem->mapping, mem->mapping_size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	guest_mem_init_empty(mem);
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		/* gpa - r->gpa cannot underflow once gpa >= r->gpa; comparing
		 * against the remaining size avoids computing gpa + len. */
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off >= r->size)
			continue;
		if (len > r->size - off)
			return NULL;
		return r->hva + off;
	}
	return NULL;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	const void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	guest_mem_mark(mem, gpa, len); /* after the data: see guest_mem_log.h */
	return 0;
}
