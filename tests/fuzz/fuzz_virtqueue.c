// fuzz-sources: src/virtio/virtqueue.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/log.c
/* The split virtqueue against a hostile driver: the fuzzer's bytes choose the
 * queue size, the negotiated features and where the three rings lie, then a
 * short script of device operations and driver writes (the driver changing
 * rings between pops), and the rest is guest RAM — descriptors, indirect
 * tables, avail ring, all of it.
 *
 * Guest RAM is two mallocs of their exact size with a gap between them, so
 * ASan sees any access outside guest RAM. Checked invariants: no crash, UB
 * or leak; every popped chain's iovecs lie inside guest RAM and add up to
 * out_len/in_len (<= UINT32_MAX); a refused chain leaves the queue broken
 * and every later pop refused; the work is bounded.
 *
 * Input: [0] queue size (log2 % 11; if >= 0xf0, [9] as is), [1] features,
 * [2..7] ring offsets, [8] which region each ring is in, [10] script
 * length, then 4 bytes per operation, then RAM. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_mem.h"
#include "virtio/virtqueue.h"

#define RAM_A_GPA  0x0ULL
#define RAM_A_SIZE 0xC000ULL  /* [0, 48K) */
#define RAM_B_GPA  0x10000ULL /* a 16K gap, then [64K, 80K) */
#define RAM_B_SIZE 0x4000ULL
#define HDR        11
#define MAX_OPS    64

enum { F_EVENT_IDX = 1, F_INDIRECT = 2, F_ALIGN = 4, F_KICKS_OFF = 8 };

static struct virtq_chain chain;
static uint8_t scratch[4096];

struct ram {
	uint8_t *a, *b;
};

static bool inside(const uint8_t *p, size_t len, const uint8_t *base, size_t size)
{
	return p >= base && (size_t)(p - base) <= size && len <= size - (size_t)(p - base);
}

static void check_chain(const struct virtqueue *vq, const struct virtq_chain *c,
			const struct ram *ram)
{
	if (c->head >= vq->size || c->n_out + c->n_in > VIRTQ_MAX_SIZE ||
	    c->out_len + c->in_len > UINT32_MAX)
		abort();
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		if (len == 0 || !(inside(p, len, ram->a, RAM_A_SIZE) ||
				  inside(p, len, ram->b, RAM_B_SIZE)))
			abort();
		if (i < c->n_out)
			out += len;
		else
			in += len;
	}
	if (out != c->out_len || in != c->in_len)
		abort();
}

/* Chains popped and not yet pushed (a device with requests in flight). */
static uint16_t held[VIRTQ_MAX_SIZE];
static unsigned nheld;

static size_t expect_copied(uint64_t total, size_t skip)
{
	if (skip >= total)
		return 0;
	return total - skip < sizeof(scratch) ? (size_t)(total - skip) : sizeof(scratch);
}

/* What a device does with a chain: read the request (from skip bytes in),
 * write a reply (likewise). */
static uint32_t consume(const struct virtq_chain *c, size_t skip)
{
	size_t n = virtq_iov_to_buf(c->iov, c->n_out, skip, scratch, sizeof(scratch));
	if (n != expect_copied(c->out_len, skip))
		abort();
	memset(scratch, 0xa5, sizeof(scratch));
	size_t w = virtq_buf_to_iov(c->iov + c->n_out, c->n_in, skip, scratch, sizeof(scratch));
	if (w != expect_copied(c->in_len, skip))
		abort();
	return (uint32_t)w;
}

/* One pop, then push at once or hold the chain; after a refusal, the queue
 * must stay refused. */
static int pop_one(struct virtqueue *vq, const struct ram *ram, size_t skip, bool hold)
{
	int r = virtq_pop(vq, &chain);
	if (r == 1) {
		check_chain(vq, &chain, ram);
		uint32_t w = consume(&chain, skip);
		if (!hold)
			virtq_push(vq, chain.head, w);
		else if (nheld < VIRTQ_MAX_SIZE)
			held[nheld++] = chain.head;
		else
			abort(); /* more in flight than any queue can have */
	} else if (r == -EIO) {
		if (!vq->broken || !vq->error || virtq_pop(vq, &chain) != -EIO ||
		    virtq_has_work(vq))
			abort();
	} else if (r != 0 || vq->broken) {
		abort();
	}
	return r;
}

static uint64_t ring_gpa(const uint8_t *p, bool in_b)
{
	uint64_t off = (uint64_t)p[0] | (uint64_t)p[1] << 8;
	return (in_b ? RAM_B_GPA : RAM_A_GPA) + off;
}

static void run(const uint8_t *data, size_t size, struct ram *ram, struct guest_mem *mem)
{
	/* Mostly valid sizes; sometimes any byte (0, 3, 255...). */
	uint16_t qsize = data[0] < 0xf0 ? (uint16_t)(1u << (data[0] % 11)) : data[9];
	uint8_t feat = data[1];
	uint64_t desc = ring_gpa(data + 2, data[8] & 1);
	uint64_t avail = ring_gpa(data + 4, data[8] & 2);
	uint64_t used = ring_gpa(data + 6, data[8] & 4);
	if (feat & F_ALIGN) {
		desc &= ~15ULL;
		avail &= ~1ULL;
		used &= ~3ULL;
	}
	unsigned nops = data[10] % (MAX_OPS + 1);
	size_t script = HDR + 4 * (size_t)nops;
	if (script > size)
		return;
	const uint8_t *ops = data + HDR;
	/* The rest is RAM: A, then B; what is not given stays zero. */
	size_t rest = size - script, na = rest < RAM_A_SIZE ? rest : RAM_A_SIZE;
	memcpy(ram->a, data + script, na);
	memcpy(ram->b, data + script + na, rest - na < RAM_B_SIZE ? rest - na : RAM_B_SIZE);

	struct virtqueue vq;
	if (virtq_init(&vq, mem, qsize, desc, avail, used, feat & F_EVENT_IDX, feat & F_INDIRECT))
		return;
	if (feat & F_KICKS_OFF)
		virtq_disable_kicks(&vq);

	nheld = 0;
	bool popped = false; /* unpop is only for the chain just popped */
	for (unsigned k = 0; k < nops; k++) {
		const uint8_t *op = ops + 4 * k;
		uint16_t arg = (uint16_t)(op[1] | op[2] << 8);
		bool was_popped = popped;
		popped = false;
		switch (op[0] % 11) {
		case 0: /* pop and hold: a request in flight */
			popped = pop_one(&vq, ram, arg, true) == 1;
			break;
		case 1: /* the device's usual loop: bounded by the queue size */
			for (unsigned n = 0; n <= vq.size && pop_one(&vq, ram, arg, false) == 1; n++)
				;
			break;
		case 10: /* complete the oldest held request */
			if (nheld) {
				virtq_push(&vq, held[0], op[3]);
				memmove(held, held + 1, --nheld * sizeof(held[0]));
			}
			break;
		case 2: /* the driver writes a byte anywhere (e.g. a descriptor) */
			ram->a[arg % RAM_A_SIZE] = op[3];
			break;
		case 3: { /* the driver makes op[3] more buffers available */
			uint16_t *idx = guest_mem_ptr(mem, avail + 2, 2);
			if (idx)
				__atomic_store_n(idx, (uint16_t)(*idx + op[3]), __ATOMIC_RELAXED);
			break;
		}
		case 4:
			(void)virtq_should_notify(&vq);
			break;
		case 5:
			virtq_disable_kicks(&vq);
			break;
		case 6:
			(void)virtq_enable_kicks(&vq);
			break;
		case 7:
			if (was_popped) {
				virtq_unpop(&vq);
				nheld--;
			}
			break;
		case 8: /* the driver writes used_event (or flags) */
			if (op[3] & 1) {
				uint16_t *ev = guest_mem_ptr(mem, avail + 4 + 2ULL * qsize, 2);
				if (ev)
					*ev = arg;
			} else {
				uint16_t *fl = guest_mem_ptr(mem, avail, 2);
				if (fl)
					*fl = arg;
			}
			break;
		default:
			(void)virtq_has_work(&vq);
			break;
		}
	}
	/* Drain: at most size chains can be pending. */
	for (unsigned n = 0; n <= vq.size && pop_one(&vq, ram, 0, false) == 1; n++)
		;
	while (nheld)
		virtq_push(&vq, held[--nheld], 0);
	(void)virtq_should_notify(&vq);
	(void)virtq_enable_kicks(&vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	struct ram ram = {malloc(RAM_A_SIZE), malloc(RAM_B_SIZE)};
	if (!ram.a || !ram.b)
		abort();
	memset(ram.a, 0, RAM_A_SIZE);
	memset(ram.b, 0, RAM_B_SIZE);
	struct guest_mem mem;
	guest_mem_init_empty(&mem);
	if (guest_mem_add_region(&mem, RAM_A_GPA, ram.a, RAM_A_SIZE) ||
	    guest_mem_add_region(&mem, RAM_B_GPA, ram.b, RAM_B_SIZE))
		abort();
	run(data, size, &ram, &mem);
	free(ram.a);
	free(ram.b);
	return 0;
}
