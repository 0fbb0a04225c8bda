/* Guest RAM in a snapshot (src/migrate/snapshot_mem.c): a region with
 * data pages, zero pages and untouched pages saves to a file of the
 * region's size holding only the data pages (holes elsewhere, where the
 * file system has holes); it loads back equal by reading and by a private
 * mapping (whose writes never reach the file); a region restored by
 * mapping saves again whole even when the page cache dropped the file;
 * a file of the wrong size or a missing file is refused naming the path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate/snapshot_mem.h"

#define PAGE 4096u
#define REGION (4u << 20)
#define PAGES (REGION / PAGE)

/* Pages with data; the region also has pages written then zeroed (1, 100,
 * 1022) and pages never touched (the rest). */
static const unsigned data_pages[] = {0, 2, 3, 10, 511, 1023};
#define NDATA (sizeof(data_pages) / sizeof(data_pages[0]))

static char dir[64];

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/iovirt-snapmem-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	static const char *const names[] = {"mem.bin", "again.bin", "probe.bin", "wrong.bin"};
	char p[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(p, sizeof(p), names[i]);
		unlink(p);
	}
	return rmdir(dir);
}

static uint8_t *fresh_region(void)
{
	void *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	/* 4 KiB pages, so that untouched pages stay untouched. */
	madvise(p, REGION, MADV_NOHUGEPAGE);
	return p;
}

static uint8_t *guest_region(void)
{
	uint8_t *r = fresh_region();
	for (size_t i = 0; i < NDATA; i++) {
		uint8_t *pg = r + (size_t)data_pages[i] * PAGE;
		for (unsigned b = 0; b < PAGE; b += 61)
			pg[b] = (uint8_t)(data_pages[i] + b + 1);
		pg[PAGE - 1] = 0xee;
	}
	static const unsigned zeroed[] = {1, 100, 1022};
	for (size_t i = 0; i < 3; i++) {
		uint8_t *pg = r + (size_t)zeroed[i] * PAGE;
		pg[7] = 1;
		pg[7] = 0;
	}
	return r;
}

/* Whether files in dir report holes through SEEK_DATA (a file system
 * without holes reports all of the file as data). */
static bool holes_supported(void)
{
	char p[128];
	path_of(p, sizeof(p), "probe.bin");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(pwrite(fd, "x", 1, 512 << 10), 1);
	assert_int_equal(fsync(fd), 0);
	bool ok = lseek(fd, 0, SEEK_DATA) == (512 << 10);
	close(fd);
	unlink(p);
	return ok;
}

static off_t file_size(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static void test_save_sparse(void **state)
{
	uint8_t *r = guest_region();
	char p[128], why[200] = "";
	path_of(p, sizeof(p), "mem.bin");
	uint64_t data = 0;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	assert_int_equal(file_size(p), REGION);
	assert_int_equal(data, NDATA * PAGE);
	/* Untouched pages were not read (which would map them). */
	unsigned char vec[PAGES];
	assert_int_equal(mincore(r, REGION, vec), 0);
	assert_int_equal(vec[500] & 1, 0);
	assert_int_equal(vec[PAGES - 2] & 1, 1);

	/* The file holds the region, byte for byte. */
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t *copy = malloc(REGION);
	assert_non_null(copy);
	assert_int_equal(pread(fd, copy, REGION, 0), REGION);
	assert_memory_equal(copy, r, REGION);

	if (holes_supported()) {
		/* Data exactly at the data pages: every other page is a hole. */
		bool is_data[PAGES] = {false};
		for (size_t i = 0; i < NDATA; i++)
			is_data[data_pages[i]] = true;
		for (unsigned pg = 0; pg < PAGES; pg++) {
			off_t at = (off_t)pg * PAGE;
			off_t next = lseek(fd, at, SEEK_DATA);
			if (is_data[pg] != (next == at))
				fail_msg("page %u: SEEK_DATA gives %lld", pg, (long long)next);
		}
	} else {
		print_message("(no holes in %s: hole layout not checked)\n", dir);
	}
	free(copy);
	close(fd);
	munmap(r, REGION);
}

/* RAM in a shared memfd (vhost-user): saved and loaded back equal, and
 * saving does not fill the memfd's holes. */
static void test_memfd_ram(void **state)
{
	int mfd = memfd_create("snap-test", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, REGION), 0);
	uint8_t *r = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(r != MAP_FAILED);
	for (size_t i = 0; i < NDATA; i++)
		r[(size_t)data_pages[i] * PAGE + 9] = (uint8_t)(i + 1);
	struct stat before, after;
	assert_int_equal(fstat(mfd, &before), 0);
	char p[128], why[200] = "";
	path_of(p, sizeof(p), "mem.bin");
	uint64_t data;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	assert_int_equal(data, NDATA * PAGE);
	assert_int_equal(fstat(mfd, &after), 0);
	assert_int_equal(after.st_blocks, before.st_blocks);
	/* With the memfd given, its SEEK_DATA says where the data is: the
	 * same pages, still without filling a hole. */
	assert_int_equal(snap_mem_save(p, r, REGION, mfd, 0, &data, why, sizeof(why)), 0);
	assert_int_equal(data, NDATA * PAGE);
	assert_int_equal(fstat(mfd, &after), 0);
	assert_int_equal(after.st_blocks, before.st_blocks);
	uint8_t *fresh = fresh_region();
	assert_int_equal(snap_mem_load(p, fresh, REGION, SNAP_MEM_READ, why, sizeof(why)), 0);
	assert_memory_equal(fresh, r, REGION);
	munmap(fresh, REGION);
	munmap(r, REGION);
	close(mfd);
}

static void test_load_read(void **state)
{
	uint8_t *r = guest_region();
	char p[128], why[200] = "";
	path_of(p, sizeof(p), "mem.bin");
	uint64_t data;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	uint8_t *fresh = fresh_region();
	assert_int_equal(snap_mem_load(p, fresh, REGION, SNAP_MEM_READ, why, sizeof(why)), 0);
	assert_memory_equal(fresh, r, REGION);
	munmap(fresh, REGION);
	munmap(r, REGION);
}

static void test_load_map_private(void **state)
{
	uint8_t *r = guest_region();
	char p[128], why[200] = "";
	path_of(p, sizeof(p), "mem.bin");
	uint64_t data;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	uint8_t *fresh = fresh_region();
	assert_int_equal(snap_mem_load(p, fresh, REGION, SNAP_MEM_MAP, why, sizeof(why)), 0);
	assert_memory_equal(fresh, r, REGION);

	/* The guest writes: its copy changes, the file does not. */
	memset(fresh, 0x5a, PAGE);
	fresh[5 * PAGE] = 1;
	fresh[REGION - 1] = 2;
	uint8_t *copy = malloc(REGION);
	assert_non_null(copy);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, copy, REGION, 0), REGION);
	close(fd);
	assert_memory_equal(copy, r, REGION);
	assert_int_equal(fresh[5 * PAGE], 1);
	free(copy);
	munmap(fresh, REGION);
	munmap(r, REGION);
}

/* Snapshot → restore by mapping → snapshot: the pages the guest did not
 * touch since are the old file's, and must be in the new one even when
 * the page cache no longer holds them. */
static void test_resave_after_map(void **state)
{
	uint8_t *r = guest_region();
	char p[128], again[128], why[200] = "";
	path_of(p, sizeof(p), "mem.bin");
	path_of(again, sizeof(again), "again.bin");
	uint64_t data;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	uint8_t *restored = fresh_region();
	assert_int_equal(snap_mem_load(p, restored, REGION, SNAP_MEM_MAP, why, sizeof(why)), 0);
	restored[3 * PAGE + 1] ^= 0xff;  /* the guest ran a little */
	r[3 * PAGE + 1] ^= 0xff;
	/* Memory pressure: the file's clean pages leave the page cache. */
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);

	assert_int_equal(snap_mem_save(again, restored, REGION, -1, 0, &data, why, sizeof(why)), 0);
	assert_int_equal(data, NDATA * PAGE);
	uint8_t *back = fresh_region();
	assert_int_equal(snap_mem_load(again, back, REGION, SNAP_MEM_READ, why, sizeof(why)), 0);
	assert_memory_equal(back, r, REGION);
	munmap(back, REGION);
	munmap(restored, REGION);
	munmap(r, REGION);
}

static void test_refused_files(void **state)
{
	uint8_t *r = guest_region();
	uint8_t *fresh = fresh_region();
	char p[128], why[200] = "";
	path_of(p, sizeof(p), "wrong.bin");
	uint64_t data;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), 0);
	/* A file of another size, in either mode: refused, the region as it was. */
	static const off_t sizes[] = {REGION + PAGE, REGION - PAGE, 0};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(truncate(p, sizes[k]), 0);
		for (int mode = SNAP_MEM_READ; mode <= SNAP_MEM_MAP; mode++) {
			why[0] = 0;
			assert_int_equal(snap_mem_load(p, fresh, REGION, mode, why, sizeof(why)),
					 -EINVAL);
			assert_non_null(strstr(why, p));
			fresh[0] = 9;  /* still our own anonymous memory */
			assert_int_equal(fresh[0], 9);
			fresh[0] = 0;
		}
	}
	/* A directory is no RAM file either. */
	why[0] = 0;
	assert_int_equal(snap_mem_load(dir, fresh, REGION, SNAP_MEM_READ, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, dir));

	path_of(p, sizeof(p), "missing.bin");
	for (int mode = SNAP_MEM_READ; mode <= SNAP_MEM_MAP; mode++) {
		why[0] = 0;
		assert_int_equal(snap_mem_load(p, fresh, REGION, mode, why, sizeof(why)), -ENOENT);
		assert_non_null(strstr(why, p));
	}
	for (unsigned i = 0; i < REGION; i += PAGE)
		assert_int_equal(fresh[i], 0);

	/* Saving where it cannot. */
	snprintf(p, sizeof(p), "%s/no/such/dir/mem.bin", dir);
	why[0] = 0;
	assert_int_equal(snap_mem_save(p, r, REGION, -1, 0, &data, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, p));
	assert_int_equal(data, 0);
	munmap(fresh, REGION);
	munmap(r, REGION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_sparse),
		cmocka_unit_test(test_memfd_ram),
		cmocka_unit_test(test_load_read),
		cmocka_unit_test(test_load_map_private),
		cmocka_unit_test(test_resave_after_map),
		cmocka_unit_test(test_refused_files),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
