/* Split virtqueues against a fake guest RAM: good chains (direct, indirect,
 * mixed, zero-length), the used ring, notification decisions with and
 * without event idx, kick suppression, and every hostile chain the driver
 * can build — each refused with -EIO, the queue broken, and (ASan watching
 * RAM that is exactly its malloc'd size) no access outside guest RAM. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "core/guest_mem.h"
#include "virtio/virtqueue.h"

/* Guest RAM: A [0, 64K), a gap, B [128K, 144K), and BIG, 2 GiB of address
 * space at 4 GiB that is never touched (PROT_NONE), for length limits. */
#define RAM_A_SIZE 0x10000ULL
#define RAM_B_GPA  0x20000ULL
#define RAM_B_SIZE 0x4000ULL
#define BIG_GPA    0x100000000ULL
#define BIG_SIZE   0x80000000ULL

#define DESC_GPA   0x0000ULL
#define ITABLE_GPA 0x3000ULL /* indirect tables */
#define AVAIL_GPA  0x1000ULL
#define USED_GPA   0x2000ULL
#define BUF_GPA    0x4000ULL
#define QSIZE      8

struct fx {
	struct guest_mem mem;
	uint8_t *a, *b;
	void *big;
	struct virtqueue vq;
	struct virtq_chain *c;
	uint16_t avail_idx; /* the driver's */
};

static void *host(struct fx *f, uint64_t gpa)
{
	void *p = guest_mem_ptr(&f->mem, gpa, 1);
	assert_non_null(p);
	return p;
}

static void vq_reinit(struct fx *f, uint16_t size, bool event_idx, bool indirect)
{
	assert_int_equal(virtq_init(&f->vq, &f->mem, size, DESC_GPA, AVAIL_GPA, USED_GPA,
				    event_idx, indirect), 0);
	memset(f->a, 0, 0x4000); /* rings and indirect tables */
	f->avail_idx = 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->a = calloc(1, RAM_A_SIZE);
	f->b = calloc(1, RAM_B_SIZE);
	f->c = calloc(1, sizeof(*f->c));
	f->big = mmap(NULL, BIG_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(f->a && f->b && f->c && f->big != MAP_FAILED);
	guest_mem_init_empty(&f->mem);
	assert_int_equal(guest_mem_add_region(&f->mem, 0, f->a, RAM_A_SIZE), 0);
	assert_int_equal(guest_mem_add_region(&f->mem, RAM_B_GPA, f->b, RAM_B_SIZE), 0);
	assert_int_equal(guest_mem_add_region(&f->mem, BIG_GPA, f->big, BIG_SIZE), 0);
	vq_reinit(f, QSIZE, false, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	munmap(f->big, BIG_SIZE);
	free(f->a);
	free(f->b);
	free(f->c);
	free(f);
	return 0;
}

/* The driver's side, as a guest would write it (little-endian). */
static void put_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {htole64(addr), htole32(len), htole16(flags), htole16(next)};
	memcpy(host(f, table + 16ULL * i), &d, sizeof(d));
}

static void desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc(f, DESC_GPA, i, addr, len, flags, next);
}

static uint16_t *avail_field(struct fx *f, unsigned i) /* 0 flags, 1 idx, 2+ ring */
{
	return host(f, AVAIL_GPA + 2ULL * i);
}

static void offer(struct fx *f, uint16_t head)
{
	*avail_field(f, 2 + (f->avail_idx % f->vq.size)) = htole16(head);
	f->avail_idx++;
	*avail_field(f, 1) = htole16(f->avail_idx);
}

static uint16_t used_idx(struct fx *f) { return le16toh(*(uint16_t *)host(f, USED_GPA + 2)); }
static uint16_t used_flags(struct fx *f) { return le16toh(*(uint16_t *)host(f, USED_GPA)); }
static uint16_t avail_event(struct fx *f)
{
	return le16toh(*(uint16_t *)host(f, USED_GPA + 4 + 8ULL * f->vq.size));
}
static void set_used_event(struct fx *f, uint16_t v) { *avail_field(f, 2 + f->vq.size) = htole16(v); }

static void used_elem(struct fx *f, unsigned slot, uint32_t *id, uint32_t *len)
{
	const uint32_t *e = host(f, USED_GPA + 4 + 8ULL * slot);
	*id = le32toh(e[0]);
	*len = le32toh(e[1]);
}

/* Expects the chain at the next avail slot to be refused for reason. */
static void expect_refused(struct fx *f, const char *reason)
{
	uint16_t last = f->vq.last_avail_idx;
	assert_int_equal(virtq_pop(&f->vq, f->c), -EIO);
	assert_true(f->vq.broken);
	assert_non_null(f->vq.error);
	assert_non_null(strstr(f->vq.error, reason));
	assert_int_equal(f->vq.last_avail_idx, last);
	/* Broken stays broken, whatever the driver does next. */
	desc(f, 0, BUF_GPA, 16, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), -EIO);
	assert_false(virtq_has_work(&f->vq));
}

/* --- virtq_init ------------------------------------------------------ */

static void test_init_validation(void **state)
{
	struct fx *f = *state;
	struct virtqueue vq;
	const struct guest_mem *m = &f->mem;

	for (unsigned s = 1; s <= VIRTQ_MAX_SIZE; s <<= 1)
		assert_int_equal(virtq_init(&vq, m, (uint16_t)s, 0, 0x4000, 0x5000, false, false), 0);
	assert_int_equal(virtq_init(&vq, m, 0, 0, 0x1000, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 3, 0, 0x1000, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 24, 0, 0x1000, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 2048, 0, 0x8000, 0xc000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 0xffff, 0, 0x1000, 0x2000, false, false), -EINVAL);
	/* Alignment (§2.7): desc 16, avail 2, used 4. */
	assert_int_equal(virtq_init(&vq, m, 8, 8, 0x1000, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0, 0x1001, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0, 0x1000, 0x2002, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0x10, 0x1002, 0x2004, false, false), 0);
	/* In the gap, straddling into it, or wrapping the address space. */
	assert_int_equal(virtq_init(&vq, m, 8, 0x18000, 0x1000, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0, 0xfffc, 0x2000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0, 0x1000, 0xfff0, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, m, 8, 0xfffffffffffffff0ULL, 0x1000, 0x2000, false, false),
			 -EINVAL);
	/* A failed init leaves the queue as it was. */
	struct virtqueue before;
	memcpy(&before, &f->vq, sizeof(before));
	assert_int_equal(virtq_init(&f->vq, m, 8, 8, 0x1000, 0x2000, true, true), -EINVAL);
	assert_memory_equal(&before, &f->vq, sizeof(before));
}

/* Each ring ending exactly at the end of RAM is fine; one byte less of RAM
 * and it is refused. Each RAM here is exactly its malloc'd size. */
static void edge_case(unsigned part, uint64_t bytes, bool fits)
{
	const uint64_t base = 0x40000, off = 16; /* aligned for every part */
	uint64_t ram_size = off + bytes - (fits ? 0 : 1);
	uint8_t *ram = calloc(1, ram_size);
	uint8_t *other = calloc(1, 0x1000);
	assert_true(ram && other);
	struct guest_mem mem;
	guest_mem_init_empty(&mem);
	assert_int_equal(guest_mem_add_region(&mem, base, ram, ram_size), 0);
	assert_int_equal(guest_mem_add_region(&mem, 0, other, 0x1000), 0);
	uint64_t g[3] = {0x0, 0x400, 0x800}; /* desc, avail, used in "other" */
	g[part] = base + off;
	struct virtqueue vq;
	int r = virtq_init(&vq, &mem, 16, g[0], g[1], g[2], true, true);
	assert_int_equal(r, fits ? 0 : -EINVAL);
	if (fits) { /* touch the ring's last bytes through the queue */
		virtq_push(&vq, 3, 7);
		virtq_enable_kicks(&vq); /* writes avail_event, the used ring's end */
		assert_false(virtq_has_work(&vq));
		(void)virtq_should_notify(&vq);
	}
	free(ram);
	free(other);
}

static void test_init_ram_edge(void **state)
{
	edge_case(0, VIRTQ_DESC_BYTES(16), true);
	edge_case(0, VIRTQ_DESC_BYTES(16), false);
	edge_case(1, VIRTQ_AVAIL_BYTES(16), true);
	edge_case(1, VIRTQ_AVAIL_BYTES(16), false);
	edge_case(2, VIRTQ_USED_BYTES(16), true);
	edge_case(2, VIRTQ_USED_BYTES(16), false);
}

/* A ring may not span two adjacent regions either. */
static void test_init_spans_regions(void **state)
{
	uint8_t *r1 = calloc(1, 0x1000), *r2 = calloc(1, 0x1000);
	assert_true(r1 && r2);
	struct guest_mem mem;
	guest_mem_init_empty(&mem);
	assert_int_equal(guest_mem_add_region(&mem, 0, r1, 0x1000), 0);
	assert_int_equal(guest_mem_add_region(&mem, 0x1000, r2, 0x1000), 0);
	struct virtqueue vq;
	assert_int_equal(virtq_init(&vq, &mem, 16, 0xf80, 0x1100, 0x1200, false, false), -EINVAL);
	assert_int_equal(virtq_init(&vq, &mem, 16, 0xf00, 0x1100, 0x1200, false, false), 0);
	free(r1);
	free(r2);
}

/* --- good chains ------------------------------------------------------ */

static void test_pop_empty(void **state)
{
	struct fx *f = *state;
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_false(f->vq.broken);
}

static void test_direct_out_in(void **state)
{
	struct fx *f = *state;
	/* 2 readable (one in region B), then 2 writable, through scattered
	 * descriptor indices. */
	desc(f, 5, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 2, RAM_B_GPA + 0x10, 200, VIRTQ_DESC_F_NEXT, 7);
	desc(f, 7, BUF_GPA + 0x1000, 300, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	desc(f, 0, RAM_B_GPA + RAM_B_SIZE - 400, 400, VIRTQ_DESC_F_WRITE, 6);
	offer(f, 5);
	assert_true(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	struct virtq_chain *c = f->c;
	assert_int_equal(c->head, 5);
	assert_int_equal(c->n_out, 2);
	assert_int_equal(c->n_in, 2);
	assert_int_equal(c->out_len, 300);
	assert_int_equal(c->in_len, 700);
	assert_ptr_equal(c->iov[0].iov_base, f->a + BUF_GPA);
	assert_int_equal(c->iov[0].iov_len, 100);
	assert_ptr_equal(c->iov[1].iov_base, f->b + 0x10);
	assert_ptr_equal(c->iov[2].iov_base, f->a + BUF_GPA + 0x1000);
	assert_ptr_equal(c->iov[3].iov_base, f->b + RAM_B_SIZE - 400);
	assert_int_equal(c->iov[3].iov_len, 400);
	assert_int_equal(f->vq.last_avail_idx, 1);
	assert_int_equal(f->vq.inuse, 1);
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	/* The whole writable part can be written (ASan checks the bounds). */
	static uint8_t big[700];
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(virtq_buf_to_iov(c->iov + c->n_out, c->n_in, 0, big, sizeof(big)), 700);
	assert_int_equal(f->b[RAM_B_SIZE - 1], 0x5a);
}

static void test_zero_length(void **state)
{
	struct fx *f = *state;
	/* Zero-length descriptors contribute nothing, wherever they point. */
	desc(f, 0, 0xdead0000000ULL, 0, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 2, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, 3);
	desc(f, 3, UINT64_MAX, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
	desc(f, 4, BUF_GPA + 64, 20, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, 1);
	assert_int_equal(f->c->n_in, 1);
	assert_int_equal(f->c->out_len, 10);
	assert_int_equal(f->c->in_len, 20);
	assert_ptr_equal(f->c->iov[1].iov_base, f->a + BUF_GPA + 64);
	/* A chain of one empty descriptor: a chain with no buffers at all. */
	desc(f, 6, 0, 0, 0, 0);
	offer(f, 6);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 6);
	assert_int_equal(f->c->n_out + f->c->n_in, 0);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;
	/* The WRITE flag on the descriptor that refers to the table is
	 * ignored (§2.7.5.3.2); the table chains out of order. */
	desc(f, 3, ITABLE_GPA, 4 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, ITABLE_GPA, 2, BUF_GPA + 16, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	put_desc(f, ITABLE_GPA, 3, RAM_B_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 3);
	assert_int_equal(f->c->n_out, 1);
	assert_int_equal(f->c->n_in, 2);
	assert_int_equal(f->c->out_len, 16);
	assert_int_equal(f->c->in_len, 513);
	assert_ptr_equal(f->c->iov[2].iov_base, f->b);
}

static void test_direct_then_indirect(void **state)
{
	struct fx *f = *state;
	/* Zero or more direct descriptors, then one indirect (§2.7.5.3.2). */
	desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, ITABLE_GPA, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA + 8, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, ITABLE_GPA, 1, BUF_GPA + 16, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, 2);
	assert_int_equal(f->c->n_in, 1);
}

static void test_chain_of_queue_size(void **state)
{
	struct fx *f = *state;
	/* Exactly size descriptors: the longest legal direct chain. */
	for (unsigned i = 0; i < QSIZE; i++)
		desc(f, i, BUF_GPA + i, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, QSIZE);
	/* Indirect: the referring descriptor plus size-1 entries = size hops. */
	desc(f, 0, ITABLE_GPA, 16 * (QSIZE - 1), VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < QSIZE - 1; i++)
		put_desc(f, ITABLE_GPA, i, BUF_GPA, 2, i + 2 < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, QSIZE - 1);
	assert_int_equal(f->c->out_len, 2 * (QSIZE - 1));
}

static void test_length_limit(void **state)
{
	struct fx *f = *state;
	/* 0x7fffffff + 0x80000000 = UINT32_MAX: the largest legal chain. */
	desc(f, 0, BIG_GPA, 0x7fffffff, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, BIG_GPA, 0x80000000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->out_len + f->c->in_len, UINT32_MAX);
	/* One byte more is refused. */
	desc(f, 0, BIG_GPA, 0x80000000, VIRTQ_DESC_F_NEXT, 1);
	offer(f, 0);
	expect_refused(f, "4 GiB");
}

/* --- used ring, wrap-around ------------------------------------------ */

static void test_push_used(void **state)
{
	struct fx *f = *state;
	desc(f, 1, BUF_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 4, BUF_GPA + 4, 4, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 1);
	offer(f, 4);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->vq.inuse, 2);
	/* Completed out of order. */
	virtq_push(&f->vq, 4, 3);
	assert_int_equal(used_idx(f), 1);
	virtq_push(&f->vq, 1, 4);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(f->vq.inuse, 0);
	uint32_t id, len;
	used_elem(f, 0, &id, &len);
	assert_int_equal(id, 4);
	assert_int_equal(len, 3);
	used_elem(f, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 4);
}

/* A batch of fills is invisible to the driver until one flush publishes
 * it; the notification decision publishes first. */
static void test_fill_flush(void **state)
{
	struct fx *f = *state;
	vq_reinit(f, QSIZE, true, true);
	set_used_event(f, 0);
	for (uint16_t i = 0; i < 3; i++) {
		desc(f, i, BUF_GPA + 4ULL * i, 4, VIRTQ_DESC_F_WRITE, 0);
		offer(f, i);
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	}
	virtq_fill(&f->vq, 2, 4);
	virtq_fill(&f->vq, 0, 1);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->vq.inuse, 1);
	virtq_flush(&f->vq);
	assert_int_equal(used_idx(f), 2);
	uint32_t id, len;
	used_elem(f, 1, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 1);
	virtq_flush(&f->vq); /* nothing new: no change */
	assert_int_equal(used_idx(f), 2);
	assert_true(virtq_should_notify(&f->vq));
	/* Filled, not flushed: should_notify publishes before it decides. */
	virtq_fill(&f->vq, 1, 4);
	assert_int_equal(used_idx(f), 2);
	set_used_event(f, 2);
	assert_true(virtq_should_notify(&f->vq));
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(f->vq.inuse, 0);
}

static void test_wraparound(void **state)
{
	struct fx *f = *state;
	/* Indices near the 16-bit wrap (as after a restore): ring slots and
	 * idx wrap together. */
	f->vq.last_avail_idx = f->vq.used_idx = 0xfffd;
	f->avail_idx = 0xfffd;
	desc(f, 2, BUF_GPA, 1, 0, 0);
	for (unsigned round = 0; round < 3 * QSIZE; round++) {
		offer(f, 2);
		assert_true(virtq_has_work(&f->vq));
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		virtq_push(&f->vq, 2, round);
		uint16_t ui = used_idx(f);
		assert_int_equal(ui, (uint16_t)(0xfffd + round + 1));
		uint32_t id, len;
		used_elem(f, (uint16_t)(ui - 1) % QSIZE, &id, &len);
		assert_int_equal(id, 2);
		assert_int_equal(len, round);
	}
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	/* A full ring: exactly size entries outstanding is legal. */
	for (unsigned i = 0; i < QSIZE; i++) {
		desc(f, i, BUF_GPA, 1, 0, 0);
		offer(f, (uint16_t)i);
	}
	for (unsigned i = 0; i < QSIZE; i++) {
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(f->c->head, i);
	}
	assert_int_equal(f->vq.inuse, QSIZE);
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_false(f->vq.broken);
}

static void test_unpop(void **state)
{
	struct fx *f = *state;
	desc(f, 3, BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	virtq_unpop(&f->vq);
	assert_int_equal(f->vq.inuse, 0);
	assert_true(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 3);
	virtq_unpop(&f->vq);
	virtq_unpop(&f->vq); /* nothing more to give back */
	assert_int_equal(f->vq.last_avail_idx, 0);
}

static void test_iov_copy(void **state)
{
	uint8_t a[3] = {1, 2, 3}, b[1] = {0}, c[4] = {4, 5, 6, 7};
	const struct iovec iov[3] = {{a, 3}, {b, 0}, {c, 4}};
	uint8_t out[16];
	memset(out, 0, sizeof(out));
	assert_int_equal(virtq_iov_to_buf(iov, 3, 0, out, sizeof(out)), 7);
	assert_memory_equal(out, ((uint8_t[]){1, 2, 3, 4, 5, 6, 7}), 7);
	assert_int_equal(virtq_iov_to_buf(iov, 3, 2, out, 3), 3);
	assert_memory_equal(out, ((uint8_t[]){3, 4, 5}), 3);
	assert_int_equal(virtq_iov_to_buf(iov, 3, 3, out, 16), 4);
	assert_int_equal(virtq_iov_to_buf(iov, 3, 7, out, 16), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 3, 100, out, 16), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 2, 0, out, 16), 3); /* only n iovecs */
	const uint8_t in[8] = {9, 9, 9, 9, 9, 9, 9, 9};
	assert_int_equal(virtq_buf_to_iov(iov, 3, 1, in, 8), 6);
	assert_memory_equal(a, ((uint8_t[]){1, 9, 9}), 3);
	assert_memory_equal(c, ((uint8_t[]){9, 9, 9, 9}), 4);
	assert_int_equal(virtq_buf_to_iov(iov, 3, 0, in, 0), 0);
}

/* --- notifications ----------------------------------------------------- */

static void push_one(struct fx *f)
{
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	virtq_push(&f->vq, 0, 1);
}

static void test_notify_flags(void **state)
{
	struct fx *f = *state;
	push_one(f);
	assert_true(virtq_should_notify(&f->vq));
	*avail_field(f, 0) = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_one(f);
	assert_false(virtq_should_notify(&f->vq));
	set_used_event(f, 0xffff); /* ignored without event idx */
	*avail_field(f, 0) = 0;
	push_one(f);
	assert_true(virtq_should_notify(&f->vq));
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = *state;
	vq_reinit(f, QSIZE, true, true);
	/* NO_INTERRUPT is ignored with event idx (§2.7.7.2). */
	*avail_field(f, 0) = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(f, 0);
	push_one(f); /* used idx 0 -> 1: entry 0 written, used_event 0 */
	assert_true(virtq_should_notify(&f->vq));
	/* Driver wants to hear when entry 2 is written (idx reaches 3). */
	set_used_event(f, 2);
	push_one(f); /* idx 2 */
	assert_false(virtq_should_notify(&f->vq));
	push_one(f); /* idx 3: crossed */
	assert_true(virtq_should_notify(&f->vq));
	/* Nothing pushed since: no notification. */
	assert_false(virtq_should_notify(&f->vq));
	/* A batch that crosses used_event in the middle. */
	set_used_event(f, 4);
	push_one(f);
	push_one(f);
	push_one(f); /* 3 -> 6 covers entry 4 */
	assert_true(virtq_should_notify(&f->vq));
	/* used_event behind the batch (driver is slow): no notification. */
	set_used_event(f, 5);
	push_one(f);
	push_one(f); /* 6 -> 8 */
	assert_false(virtq_should_notify(&f->vq));
	/* used_event across the 16-bit wrap. */
	f->vq.used_idx = f->vq.signalled_used = 0xfffe;
	set_used_event(f, 0xffff);
	push_one(f); /* writes entry 0xfffe */
	assert_false(virtq_should_notify(&f->vq));
	push_one(f); /* writes entry 0xffff, idx wraps to 0 */
	assert_true(virtq_should_notify(&f->vq));
}

static void test_kicks_flags(void **state)
{
	struct fx *f = *state;
	virtq_disable_kicks(&f->vq);
	assert_int_equal(used_flags(f), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_kicks(&f->vq));
	assert_int_equal(used_flags(f), 0);
	/* Work arriving while kicks were off is reported on enable. */
	virtq_disable_kicks(&f->vq);
	desc(f, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	assert_true(virtq_enable_kicks(&f->vq));
	assert_int_equal(used_flags(f), 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_false(virtq_enable_kicks(&f->vq));
	assert_int_equal(avail_event(f), 0); /* untouched without event idx */
}

static void test_kicks_event_idx(void **state)
{
	struct fx *f = *state;
	vq_reinit(f, QSIZE, true, true);
	desc(f, 0, BUF_GPA, 1, 0, 0);
	/* Kicks on: each pop asks for a kick at the next entry. */
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(avail_event(f), 1);
	/* Kicks off: avail_event stays behind, flags stay 0 (§2.7.10.2). */
	virtq_disable_kicks(&f->vq);
	assert_int_equal(used_flags(f), 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(avail_event(f), 1);
	assert_false(virtq_enable_kicks(&f->vq));
	assert_int_equal(avail_event(f), 2);
	virtq_disable_kicks(&f->vq);
	offer(f, 0);
	assert_true(virtq_enable_kicks(&f->vq));
	assert_int_equal(avail_event(f), 2);
	assert_int_equal(used_flags(f), 0);
}

/* --- hostile rings and chains ---------------------------------------- */

static void test_bad_avail_idx(void **state)
{
	struct fx *f = *state;
	desc(f, 0, BUF_GPA, 1, 0, 0);
	*avail_field(f, 1) = htole16(QSIZE + 1);
	f->avail_idx = QSIZE + 1;
	expect_refused(f, "avail idx");
}

static void test_bad_avail_idx_backwards(void **state)
{
	struct fx *f = *state;
	push_one(f);
	*avail_field(f, 1) = htole16(0); /* "decremented": a jump of 0xffff */
	f->avail_idx = 0;
	expect_refused(f, "avail idx");
}

static void test_bad_head(void **state)
{
	struct fx *f = *state;
	offer(f, QSIZE);
	expect_refused(f, "head");
}

static void test_bad_head_ffff(void **state)
{
	struct fx *f = *state;
	offer(f, 0xffff);
	expect_refused(f, "head");
}

static void test_too_many_in_flight(void **state)
{
	struct fx *f = *state;
	desc(f, 0, BUF_GPA, 1, 0, 0);
	for (unsigned i = 0; i < QSIZE; i++)
		offer(f, 0); /* the same head again and again, never used */
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	offer(f, 0);
	expect_refused(f, "in flight");
}

static void test_loop(void **state)
{
	struct fx *f = *state;
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_refused(f, "longer than the queue size");
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;
	desc(f, 4, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, 4); /* even empty ones count */
	offer(f, 4);
	expect_refused(f, "longer than the queue size");
}

static void test_indirect_too_long(void **state)
{
	struct fx *f = *state;
	/* A table may hold more entries than the queue size: Linux's
	 * virtio-blk fills one with seg_max + 2 (header, data, status). */
	desc(f, 0, ITABLE_GPA, 16 * (QSIZE + 1), VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < QSIZE + 1; i++)
		put_desc(f, ITABLE_GPA, i, BUF_GPA, 1, i < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, QSIZE + 1);
	virtq_push(&f->vq, f->c->head, 0);
	/* But never more than iovirt's largest queue: the chain's iovec and
	 * the work per kick stay bounded. */
	desc(f, 0, 0x5000, 16 * (VIRTQ_MAX_SIZE + 1), VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_refused(f, "indirect table longer");
}

static void test_too_many_buffers(void **state)
{
	struct fx *f = *state;
	/* size-1 direct buffers, then a full indirect table of VIRTQ_MAX_SIZE:
	 * each part is within its budget, together they would overrun the
	 * chain's iovec array. */
	for (unsigned i = 0; i < QSIZE - 1; i++)
		desc(f, i, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	desc(f, QSIZE - 1, 0x8000, 16 * VIRTQ_MAX_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
		put_desc(f, 0x8000, i, BUF_GPA, 1, i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(f, 0);
	expect_refused(f, "too many buffers");
	/* One direct buffer fewer fits exactly. */
	vq_reinit(f, QSIZE, false, true);
	for (unsigned i = 0; i < QSIZE - 2; i++)
		desc(f, i, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	const unsigned n = VIRTQ_MAX_SIZE - (QSIZE - 2);
	desc(f, QSIZE - 2, 0x8000, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, 0x8000, n - 1, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->n_out, VIRTQ_MAX_SIZE);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 16 * 2, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, ITABLE_GPA, 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_refused(f, "longer than the queue size");
}

static void test_nested_indirect(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 16 * 2, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, ITABLE_GPA, 1, ITABLE_GPA, 16 * 2, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_refused(f, "indirect table inside an indirect table");
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;
	vq_reinit(f, QSIZE, false, false);
	desc(f, 0, ITABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "not negotiated");
}

static void test_indirect_len_zero(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_refused(f, "multiple of 16");
}

static void test_indirect_len_not_multiple(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "multiple of 16");
}

static void test_indirect_outside_ram(void **state)
{
	struct fx *f = *state;
	/* Starts in RAM A, runs 16 bytes into the gap. */
	desc(f, 0, RAM_A_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, RAM_A_SIZE - 16, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "indirect table not wholly in guest RAM");
}

static void test_indirect_in_gap(void **state)
{
	struct fx *f = *state;
	desc(f, 0, 0x18000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_refused(f, "indirect table not wholly in guest RAM");
}

static void test_indirect_huge(void **state)
{
	struct fx *f = *state;
	/* A table bigger than RAM A whose gpa + len wraps. */
	desc(f, 0, UINT64_MAX - 15, 0xfffffff0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_refused(f, "indirect table not wholly in guest RAM");
}

static void test_next_and_indirect(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, BUF_GPA, 1, 0, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "NEXT and INDIRECT");
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "device-readable descriptor after a device-writable");
}

static void test_readable_after_writable_indirect(void **state)
{
	struct fx *f = *state;
	/* Writable direct descriptor, then a table that starts readable. */
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, ITABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "device-readable descriptor after a device-writable");
}

static void test_buffer_in_gap(void **state)
{
	struct fx *f = *state;
	desc(f, 0, 0x18000, 1, 0, 0);
	offer(f, 0);
	expect_refused(f, "buffer not wholly inside");
}

static void test_buffer_past_ram_end(void **state)
{
	struct fx *f = *state;
	/* Ends one byte past region B: ASan would catch a write there. */
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, RAM_B_GPA + RAM_B_SIZE - 16, 17, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_refused(f, "buffer not wholly inside");
}

static void test_buffer_wraps(void **state)
{
	struct fx *f = *state;
	/* addr + len wraps around 2^64 into RAM A. */
	desc(f, 0, UINT64_MAX - 0xff, 0x1000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_refused(f, "buffer not wholly inside");
}

static void test_buffer_in_indirect_outside(void **state)
{
	struct fx *f = *state;
	desc(f, 0, ITABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, ITABLE_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, ITABLE_GPA, 1, RAM_A_SIZE - 1, 2, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_refused(f, "buffer not wholly inside");
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;
	desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(f, 0);
	expect_refused(f, "next descriptor index out of range");
}

static void test_next_out_of_range_indirect(void **state)
{
	struct fx *f = *state;
	/* The table has 2 entries; next = 2 would read past it. */
	desc(f, 0, RAM_B_GPA + RAM_B_SIZE - 32, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, RAM_B_GPA + RAM_B_SIZE - 32, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	offer(f, 0);
	expect_refused(f, "next descriptor index out of range");
}

static void test_chain_sum_overflow(void **state)
{
	struct fx *f = *state;
	/* Three descriptors of 2 GiB - 1 through an indirect table: the sum
	 * passes 2^32 on the third and is refused before it wraps. */
	desc(f, 0, ITABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	for (unsigned i = 0; i < 3; i++)
		put_desc(f, ITABLE_GPA, i, BIG_GPA, 0x7fffffff, i < 2 ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(f, 0);
	expect_refused(f, "4 GiB");
}

static void test_big_queue_hostile(void **state)
{
	struct fx *f = *state;
	/* Size 1024 (the most): a 1024-long loop through every descriptor. */
	uint8_t *ram = calloc(1, 0x8000);
	assert_non_null(ram);
	struct guest_mem mem;
	guest_mem_init_empty(&mem);
	assert_int_equal(guest_mem_add_region(&mem, 0, ram, 0x8000), 0);
	struct virtqueue vq;
	assert_int_equal(virtq_init(&vq, &mem, VIRTQ_MAX_SIZE, 0, 0x4000, 0x5000, true, true), 0);
	struct virtq_desc *d = (struct virtq_desc *)ram;
	for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
		d[i] = (struct virtq_desc){htole64(0x7000), htole32(1), htole16(VIRTQ_DESC_F_NEXT),
					   htole16((uint16_t)((i + 1) % VIRTQ_MAX_SIZE))};
	uint16_t *avail = (uint16_t *)(ram + 0x4000);
	avail[1] = htole16(1);
	avail[2] = htole16(5);
	assert_int_equal(virtq_pop(&vq, f->c), -EIO);
	assert_true(vq.broken);
	/* Without the loop: 1024 iovecs, the whole chain array. */
	d[(5 + VIRTQ_MAX_SIZE - 1) % VIRTQ_MAX_SIZE].flags = 0;
	assert_int_equal(virtq_init(&vq, &mem, VIRTQ_MAX_SIZE, 0, 0x4000, 0x5000, true, true), 0);
	assert_int_equal(virtq_pop(&vq, f->c), 1);
	assert_int_equal(f->c->n_out, VIRTQ_MAX_SIZE);
	free(ram);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_validation),
		T(test_init_ram_edge),
		T(test_init_spans_regions),
		T(test_pop_empty),
		T(test_direct_out_in),
		T(test_zero_length),
		T(test_indirect),
		T(test_direct_then_indirect),
		T(test_chain_of_queue_size),
		T(test_length_limit),
		T(test_push_used),
		T(test_fill_flush),
		T(test_wraparound),
		T(test_unpop),
		T(test_iov_copy),
		T(test_notify_flags),
		T(test_notify_event_idx),
		T(test_kicks_flags),
		T(test_kicks_event_idx),
		T(test_bad_avail_idx),
		T(test_bad_avail_idx_backwards),
		T(test_bad_head),
		T(test_bad_head_ffff),
		T(test_too_many_in_flight),
		T(test_loop),
		T(test_self_loop),
		T(test_indirect_too_long),
		T(test_too_many_buffers),
		T(test_indirect_loop),
		T(test_nested_indirect),
		T(test_indirect_not_negotiated),
		T(test_indirect_len_zero),
		T(test_indirect_len_not_multiple),
		T(test_indirect_outside_ram),
		T(test_indirect_in_gap),
		T(test_indirect_huge),
		T(test_next_and_indirect),
		T(test_readable_after_writable),
		T(test_readable_after_writable_indirect),
		T(test_buffer_in_gap),
		T(test_buffer_past_ram_end),
		T(test_buffer_wraps),
		T(test_buffer_in_indirect_outside),
		T(test_next_out_of_range),
		T(test_next_out_of_range_indirect),
		T(test_chain_sum_overflow),
		T(test_big_queue_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
