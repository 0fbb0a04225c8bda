// fuzz-sources: src/migrate/migrate_stream.c src/core/guest_mem.c src/core/guest_mem_log.c
/* The live-migration stream as the destination reads it (src/migrate/
 * migrate_stream.c): the input is what a hostile source sends, read from a
 * memfd message by message as machine_migrate_incoming does, with PAGES and
 * ZERO going into a small guest RAM of two regions.
 *
 * Checked invariants: no crash, leak or UB, no write outside RAM (ASan:
 * the regions are their own allocations); a header refused says why; a
 * PAGES message accepted is whole pages inside one region, and RAM there
 * holds exactly the bytes of the input; a ZERO message accepted leaves its
 * pages zero; the reading ends (every message consumes input). */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/guest_mem.h"
#include "migrate/migrate_stream.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define LOW (64 * 1024)
#define HIGH (16 * 1024)
#define HIGH_GPA (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *low, *high;
	static int fd = -1;
	if (!low) {
		low = malloc(LOW);
		high = malloc(HIGH);
		fd = memfd_create("stream", 0);
		CHECK(low && high && fd >= 0);
	}
	memset(low, 0xaa, LOW);
	memset(high, 0xaa, HIGH);
	struct guest_mem mem;
	guest_mem_init_empty(&mem);
	CHECK(guest_mem_add_region(&mem, 0, low, LOW) == 0);
	CHECK(guest_mem_add_region(&mem, HIGH_GPA, high, HIGH) == 0);
	CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);

	for (unsigned n = 0; n < 64; n++) {
		struct mig_header h;
		char why[256] = "";
		off_t at = lseek(fd, 0, SEEK_CUR);
		if (mig_recv_header(fd, true, &h, why, sizeof(why)) < 0) {
			CHECK(why[0] != 0);
			break;
		}
		CHECK(lseek(fd, 0, SEEK_CUR) == at + MIG_HEADER_BYTES);
		if (h.type == MIG_PAGES || h.type == MIG_ZERO) {
			uint64_t gpa, pages = 0;
			int ret = mig_recv_memory(fd, &h, &mem, &pages, why, sizeof(why));
			if (ret < 0) {
				CHECK(why[0] != 0);
				break;
			}
			memcpy(&gpa, data + at + MIG_HEADER_BYTES, 8);
			gpa = le64toh(gpa);
			CHECK(pages >= 1 && gpa % MIG_PAGE_SIZE == 0);
			uint8_t *ram = guest_mem_ptr(&mem, gpa, pages * MIG_PAGE_SIZE);
			CHECK(ram != NULL);
			if (h.type == MIG_PAGES) {
				CHECK((size_t)(at + MIG_HEADER_BYTES + 8) + pages * MIG_PAGE_SIZE <= size);
				CHECK(memcmp(ram, data + at + MIG_HEADER_BYTES + 8,
					     pages * MIG_PAGE_SIZE) == 0);
			} else {
				for (uint64_t i = 0; i < pages * MIG_PAGE_SIZE; i++)
					CHECK(ram[i] == 0);
			}
		} else if (h.len) {
			/* The other messages' payloads: skipped, as far as there is
			 * input (a short one ends the stream). */
			if ((uint64_t)(size - (size_t)(at + MIG_HEADER_BYTES)) < h.len)
				break;
			CHECK(lseek(fd, (off_t)h.len, SEEK_CUR) >= 0);
		}
	}
	return 0;
}
