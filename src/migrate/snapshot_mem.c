/* Guest RAM in a snapshot; see snapshot_mem.h. */
#include "migrate/snapshot_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ULL

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

static int write_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		size_t n = len > (1ULL << 30) ? (1ULL << 30) : (size_t)len;
		ssize_t got = pwrite(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		p += got;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

enum backing {
	PRIVATE_ANON,  /* plain guest RAM */
	SHARED,        /* a memfd (vhost-user) */
	OTHER,         /* a file mapped privately (restored by mapping), mixed */
};

/* What backs [hva, hva + size), from /proc/self/maps (OTHER if unsure). */
static enum backing backing_of(const uint8_t *hva, uint64_t size)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return OTHER;
	uintptr_t at = (uintptr_t)hva, end = at + size;
	int kinds = 0;  /* bit 0: private anonymous seen, bit 1: shared seen */
	char line[4400];
	while (at < end && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, ino;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s %*x %*x:%*x %lu", &lo, &hi, perms, &ino) != 4)
			break;
		if (hi <= at)
			continue;
		if (lo > at)
			break;  /* a gap */
		kinds |= perms[3] == 's' ? 2 : ino == 0 ? 1 : 4;
		at = hi;
	}
	fclose(f);
	if (at < end)
		return OTHER;
	return kinds == 1 ? PRIVATE_ANON : kinds == 2 ? SHARED : OTHER;
}

/* Private anonymous RAM: a page holds data only if present or swapped out
 * (/proc/self/pagemap bits 63, 62); the others were never touched (or
 * were dropped) and read as zero. -1 if pagemap cannot be read. */
static int pagemap_touched(const uint8_t *hva, uint64_t pages, unsigned char *touched)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	uint64_t e[512];
	int ret = 0;
	for (uint64_t i = 0; i < pages && ret == 0;) {
		uint64_t n = pages - i < 512 ? pages - i : 512;
		ssize_t got = pread(fd, e, n * sizeof(e[0]),
				    (off_t)(((uintptr_t)hva / PAGE + i) * sizeof(e[0])));
		if (got <= 0 || got % sizeof(e[0])) {
			ret = -1;
			break;
		}
		for (uint64_t j = 0; j < (uint64_t)got / sizeof(e[0]); j++)
			touched[i + j] = (e[j] >> 62) ? 1 : 0;
		i += (uint64_t)got / sizeof(e[0]);
	}
	close(fd);
	return ret;
}

/* A shared memfd's pages with data, from the file itself: SEEK_DATA
 * counts pages swapped out too (mincore does not). -1 if it cannot. */
static int memfd_touched(int fd, uint64_t off, uint64_t size, unsigned char *touched)
{
	memset(touched, 0, size / PAGE);
	for (uint64_t at = off; at < off + size;) {
		off_t data = lseek(fd, (off_t)at, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -1;
		if ((uint64_t)data >= off + size)
			return 0;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole <= data)
			return -1;
		uint64_t end = (uint64_t)hole < off + size ? (uint64_t)hole : off + size;
		for (uint64_t p = ((uint64_t)data - off) / PAGE; p < (end - off + PAGE - 1) / PAGE; p++)
			touched[p] = 1;
		at = end;
	}
	return 0;
}

/* Which pages may hold data, without reading the others (reading a hole
 * of a memfd allocates it). Never reports a page with data as untouched:
 * a region restored by mapping a file has the file's pages where the
 * guest did not write, resident or not, so there every page is read. */
static void touched_pages(const uint8_t *hva, uint64_t size, int src_fd, uint64_t src_off,
			  unsigned char *touched)
{
	uint64_t pages = size / PAGE;
	switch (backing_of(hva, size)) {
	case PRIVATE_ANON:
		if (pagemap_touched(hva, pages, touched) == 0)
			return;
		break;
	case SHARED:
		if (src_fd >= 0 && memfd_touched(src_fd, src_off, size, touched) == 0)
			return;
		/* Without the file: its page cache, resident pages only (one
		 * swapped out would be missed; reading every page instead
		 * would allocate every hole). */
		if (mincore((void *)hva, size, touched) == 0)
			return;
		break;
	case OTHER:
		break;
	}
	memset(touched, 1, pages);
}

int snap_mem_save(const char *path, const uint8_t *hva, uint64_t size, int src_fd,
		  uint64_t src_off, uint64_t *data_bytes, char *why, size_t why_len)
{
	*data_bytes = 0;
	uint64_t pages = size / PAGE;
	unsigned char *resident = malloc(pages ? pages : 1);
	if (!resident) {
		snprintf(why, why_len, "%s: out of memory", path);
		return -ENOMEM;
	}
	touched_pages(hva, size, src_fd, src_off, resident);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret = fd < 0 ? -errno : 0;
	if (ret == 0 && ftruncate(fd, (off_t)size) < 0)
		ret = -errno;
	uint64_t run = 0, run_len = 0;
	for (uint64_t i = 0; ret == 0 && i <= pages; i++) {
		bool data = i < pages && (resident[i] & 1) && !page_is_zero(hva + i * PAGE);
		if (data) {
			if (run_len == 0)
				run = i;
			run_len++;
			continue;
		}
		if (run_len) {
			ret = write_all(fd, hva + run * PAGE, run_len * PAGE, run * PAGE);
			*data_bytes += run_len * PAGE;
			run_len = 0;
		}
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(resident);
	if (ret < 0)
		snprintf(why, why_len, "%s: %s", path, strerror(-ret));
	return ret;
}

static int read_range(int fd, uint8_t *hva, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len > (1ULL << 30) ? (1ULL << 30) : (size_t)len;
		ssize_t got = pread(fd, hva + off, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* The data ranges only: a hole is zero in the file and in fresh RAM. */
static int read_data(int fd, uint8_t *hva, uint64_t size)
{
	uint64_t off = 0;
	while (off < size) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: only holes left */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > size || hole < data)
			return -EIO;
		int ret = read_range(fd, hva, (uint64_t)data, (uint64_t)(hole - data));
		if (ret < 0)
			return ret;
		off = (uint64_t)hole;
	}
	return 0;
}

int snap_mem_load(const char *path, uint8_t *hva, uint64_t size, enum snap_mem_mode mode,
		  char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return err;
	}
	struct stat st;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)) {
		snprintf(why, why_len, "%s: %llu bytes, the RAM region it fills is %llu", path,
			 (unsigned long long)st.st_size, (unsigned long long)size);
		close(fd);
		return -EINVAL;
	}
	if (ret == 0 && mode == SNAP_MEM_MAP) {
		void *p = mmap(hva, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED |
			       MAP_NORESERVE, fd, 0);
		ret = p == MAP_FAILED ? -errno : 0;
	} else if (ret == 0) {
		ret = read_data(fd, hva, size);
	}
	close(fd);
	if (ret < 0)
		snprintf(why, why_len, "%s: %s", path, strerror(-ret));
	return ret;
}
