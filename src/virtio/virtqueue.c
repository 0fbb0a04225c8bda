/* Split virtqueues (virtio 1.x §2.7). See virtqueue.h.
 *
 * The rings live in guest RAM and a running guest changes them under us, so:
 * - every guest-shared ring field is read once with an atomic (volatile)
 *   load, and a value is checked only after it was copied to a local; a
 *   descriptor is copied whole before any of its fields is looked at;
 * - ordering follows §2.7.13 (driver side) mirrored for the device: acquire
 *   after reading avail->idx, release before publishing used->idx, and a full
 *   barrier between publishing and reading the driver's suppression fields;
 * - every guest address goes through guest_mem_ptr(), and the walk over a
 *   chain is bounded: the queue size, plus one indirect table of at most
 *   VIRTQ_MAX_SIZE descriptors. */
#include "virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/guest_mem.h"
#include "core/guest_mem_log.h"
#include "core/iov.h"
#include "core/log.h"

/* A guest that breaks its queues on purpose, resets and does it again must
 * not flood the host's log: refusals go through log_guest_error's limit. */

static uint16_t ring_rd16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void ring_wr16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

/* Marks the queue broken with what went wrong and where: the avail slot and
 * head, and the descriptor (index in its table, and the table's address). */
static int vq_fail(struct virtqueue *vq, const char *what, uint16_t head,
		   uint64_t table_gpa, uint32_t index)
{
	vq->broken = true;
	vq->error = what;
	/* The ring is named by where it lives: a virtqueue knows no device. */
	char ring[40];
	snprintf(ring, sizeof(ring), "virtqueue 0x%llx", (unsigned long long)vq->desc_gpa);
	log_guest_error(ring, "(size %u) %s: avail slot %u, head %u, descriptor %u of table "
			"0x%llx; queue needs reset",
			vq->size, what, (unsigned)(vq->last_avail_idx & (vq->size - 1)),
			(unsigned)head, (unsigned)index, (unsigned long long)table_gpa);
	return -EIO;
}

const char *virtq_check(const struct guest_mem *mem, uint16_t size, uint64_t desc,
			uint64_t avail, uint64_t used)
{
	/* §2.7: Queue Size is a power of 2 (at most 32768; ours at most
	 * VIRTQ_MAX_SIZE); the alignment column of "Queue Part Sizes". */
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return "size";
	if ((desc & 15) || !guest_mem_ptr(mem, desc, VIRTQ_DESC_BYTES(size)))
		return "desc";
	if ((avail & 1) || !guest_mem_ptr(mem, avail, VIRTQ_AVAIL_BYTES(size)))
		return "avail";
	if ((used & 3) || !guest_mem_ptr(mem, used, VIRTQ_USED_BYTES(size)))
		return "used";
	return NULL;
}

int virtq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size,
	       uint64_t desc, uint64_t avail, uint64_t used, bool event_idx, bool indirect)
{
	if (virtq_check(mem, size, desc, avail, used))
		return -EINVAL;
	void *d = guest_mem_ptr(mem, desc, VIRTQ_DESC_BYTES(size));
	void *a = guest_mem_ptr(mem, avail, VIRTQ_AVAIL_BYTES(size));
	void *u = guest_mem_ptr(mem, used, VIRTQ_USED_BYTES(size));

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->size = size;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->used_event = &vq->avail->ring[size];
	vq->avail_event = (uint16_t *)&vq->used->ring[size];
	return 0;
}

/* A descriptor copied out of guest memory (little-endian, §2.7.5). The
 * compiler barrier makes every later use read the copy, never the guest's
 * memory again, so what was checked is what is used. */
static void desc_copy(struct virtq_desc *d, const uint8_t *src)
{
	memcpy(d, src, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Walks the chain at head into c (§2.7.5, §2.7.5.3). Every descriptor
 * visited spends one hop of a budget — the queue size in the descriptor
 * table, the table's length (at most VIRTQ_MAX_SIZE) in an indirect one — so
 * a loop (forbidden, §2.7.5.2) ends too. Zero or more direct descriptors may
 * precede one indirect one (§2.7.5.3.2); together they may not make more
 * than VIRTQ_MAX_SIZE buffers. */
static int walk_chain(struct virtqueue *vq, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint64_t table_gpa = vq->desc_gpa;
	uint32_t table_n = vq->size;
	uint32_t i = head;
	bool in_indirect = false, seen_write = false;
	uint64_t total = 0;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;

	/* Descriptors this chain may still visit: the queue size, then, in an
	 * indirect table, that table's length (as QEMU and Linux's vhost
	 * count: drivers fill a table with up to seg_max + 2 entries). */
	unsigned budget = vq->size;
	for (;;) {
		struct virtq_desc d;

		if (budget-- == 0)
			return vq_fail(vq, "chain longer than the queue size (or a loop)",
				       head, table_gpa, i);
		desc_copy(&d, table + (size_t)i * sizeof(d));

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: only if negotiated; one level; not with
			 * NEXT. §2.7.5.3.2: the device ignores WRITE here. The
			 * table is a whole number of descriptors (§2.7.5.3). */
			if (!vq->indirect)
				return vq_fail(vq, "INDIRECT descriptor but VIRTIO_F_INDIRECT_DESC "
					       "not negotiated", head, table_gpa, i);
			if (in_indirect)
				return vq_fail(vq, "indirect table inside an indirect table",
					       head, table_gpa, i);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vq_fail(vq, "NEXT and INDIRECT on one descriptor",
					       head, table_gpa, i);
			if (d.len == 0 || d.len % sizeof(d))
				return vq_fail(vq, "indirect table length is not a non-zero "
					       "multiple of 16", head, table_gpa, i);
			const uint8_t *t = guest_mem_ptr(vq->mem, d.addr, d.len);
			if (!t)
				return vq_fail(vq, "indirect table not wholly in guest RAM",
					       head, table_gpa, i);
			if (d.len / sizeof(d) > VIRTQ_MAX_SIZE)
				return vq_fail(vq, "indirect table longer than the maximum queue size",
					       head, table_gpa, i);
			table = t;
			table_gpa = d.addr;
			table_n = d.len / sizeof(d);
			budget = table_n;
			in_indirect = true;
			i = 0; /* §2.7.5.3: the table's chain starts at entry 0 */
			continue;
		}

		/* §2.7.4.2: device-readable descriptors before device-writable. */
		if (d.flags & VIRTQ_DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return vq_fail(vq, "device-readable descriptor after a device-writable one",
				       head, table_gpa, i);

		/* §2.7.5.2: no chain longer than 2^32 bytes in total. */
		total += d.len;
		if (total > UINT32_MAX)
			return vq_fail(vq, "chain longer than 4 GiB", head, table_gpa, i);

		if (d.len != 0) { /* zero-length: allowed, nothing to map */
			void *p = guest_mem_ptr(vq->mem, d.addr, d.len);
			if (!p)
				return vq_fail(vq, "buffer not wholly inside one guest RAM region",
					       head, table_gpa, i);
			unsigned n = c->n_out + c->n_in;
			if (n >= VIRTQ_MAX_SIZE) /* direct part + a full indirect table */
				return vq_fail(vq, "too many buffers", head, table_gpa, i);
			c->iov[n].iov_base = p;
			c->iov[n].iov_len = d.len;
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				c->n_in++;
				c->in_len += d.len;
			} else {
				c->n_out++;
				c->out_len += d.len;
			}
		}

		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= table_n)
			return vq_fail(vq, "next descriptor index out of range",
				       head, table_gpa, i);
		i = d.next;
	}
}

/* The used ring is the device's to write: all of it is marked in the
 * dirty log whenever one of its fields changes (a few pages at most). */
static void mark_used_ring(struct virtqueue *vq)
{
	guest_mem_mark(vq->mem, vq->used_gpa, VIRTQ_USED_BYTES(vq->size) + 2);
}

/* While a migration logs iovirt's writes: the first len bytes of the
 * chain's device-writable buffers, which the device has just filled. The
 * chain is walked again (the guest may not change it while the device
 * owns it; one that does loses only its own data). */
static void mark_written(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	static __thread struct virtq_chain again;
	if (!guest_mem_logging(vq->mem) || len == 0)
		return;
	bool broken = vq->broken;
	const char *error = vq->error;
	if (walk_chain(vq, head, &again) < 0) {
		vq->broken = broken; /* this was not the device's own walk */
		vq->error = error;
		return;
	}
	for (unsigned i = again.n_out; i < again.n_out + again.n_in && len; i++) {
		size_t n = again.iov[i].iov_len < len ? again.iov[i].iov_len : len;
		guest_mem_mark_hva(vq->mem, again.iov[i].iov_base, n);
		len -= (uint32_t)n;
	}
}

int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain)
{
	if (vq->broken)
		return -EIO;

	/* §2.7.6: avail->idx is read once per pop. The driver never has more
	 * than size entries outstanding (§2.7.13: the ring is as big as the
	 * descriptor table); a jump further is a corrupt ring. */
	uint16_t avail_idx = ring_rd16(&vq->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return vq_fail(vq, "avail idx moved more than the queue size ahead",
			       0, vq->desc_gpa, 0);
	/* Every chain in flight holds at least its head descriptor: more than
	 * size of them means the driver reused descriptors the device owns. */
	if (vq->inuse >= vq->size)
		return vq_fail(vq, "more chains in flight than the queue size",
			       0, vq->desc_gpa, 0);

	/* The ring entry and the descriptors are read after idx (the driver
	 * wrote them before its barrier and idx, §2.7.13.3.1). */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint16_t head = ring_rd16(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	if (head >= vq->size)
		return vq_fail(vq, "head descriptor index out of range", head, vq->desc_gpa, head);

	int r = walk_chain(vq, head, chain);
	if (r < 0)
		return r;
	vq->last_avail_idx++;
	vq->inuse++;

	/* §2.7.10: with event idx, ask for a kick when the driver makes the
	 * next buffer available — unless kicks are off while we process. The
	 * full barrier orders this store before the next pop's load of idx, so
	 * a buffer made available meanwhile is either seen or kicked. */
	if (vq->event_idx && !vq->kicks_disabled) {
		ring_wr16(vq->avail_event, vq->last_avail_idx);
		mark_used_ring(vq);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return 1;
}

void virtq_unpop(struct virtqueue *vq)
{
	if (vq->inuse == 0)
		return;
	vq->last_avail_idx--;
	vq->inuse--;
}

void virtq_fill(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	mark_written(vq, head, len);
	struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&e->id, htole32((uint32_t)head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
	vq->used_idx++;
	if (vq->inuse)
		vq->inuse--;
}

void virtq_flush(struct virtqueue *vq)
{
	if (vq->published_used == vq->used_idx)
		return;
	/* §2.7.8.2: the elements (and the data written into the buffers)
	 * before the index: a release barrier between them. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ring_wr16(&vq->used->idx, vq->used_idx);
	vq->published_used = vq->used_idx;
	mark_used_ring(vq);
}

void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	virtq_fill(vq, head, len);
	virtq_flush(vq);
}

bool virtq_should_notify(struct virtqueue *vq)
{
	virtq_flush(vq);
	/* The used idx store must be visible before we read what the driver
	 * asked for, or driver and device can both miss the update. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	/* §2.7.7.2 without event idx: the driver's NO_INTERRUPT hint. */
	if (!vq->event_idx)
		return !(ring_rd16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);

	/* §2.7.7.2 with event idx: notify if used idx crossed used_event since
	 * the last notification: vring_need_event(used_event, new, old). */
	uint16_t old = vq->signalled_used, new_idx = vq->used_idx;
	bool valid = vq->signalled_used_valid;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	uint16_t event = ring_rd16(vq->used_event);
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtq_disable_kicks(struct virtqueue *vq)
{
	vq->kicks_disabled = true;
	/* §2.7.10.2: with event idx, flags stay 0 and leaving avail_event
	 * behind is enough (the driver kicks only when its idx crosses it). */
	if (!vq->event_idx) {
		vq->used_flags |= VIRTQ_USED_F_NO_NOTIFY;
		ring_wr16(&vq->used->flags, vq->used_flags);
		mark_used_ring(vq);
	}
}

bool virtq_enable_kicks(struct virtqueue *vq)
{
	vq->kicks_disabled = false;
	if (vq->event_idx) {
		ring_wr16(vq->avail_event, vq->last_avail_idx);
	} else {
		vq->used_flags &= (uint16_t)~VIRTQ_USED_F_NO_NOTIFY;
		ring_wr16(&vq->used->flags, vq->used_flags);
	}
	mark_used_ring(vq);
	/* Store (kicks on) before load (avail idx): a buffer the driver made
	 * available while kicks were off is seen here, or the driver sees kicks
	 * on and kicks. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_work(vq);
}

bool virtq_has_work(struct virtqueue *vq)
{
	if (vq->broken)
		return false;
	return ring_rd16(&vq->avail->idx) != vq->last_avail_idx;
}

uint16_t virtq_avail_idx(struct virtqueue *vq)
{
	return ring_rd16(&vq->avail->idx);
}

uint16_t virtq_used_idx(struct virtqueue *vq)
{
	return ring_rd16(&vq->used->idx);
}

void virtq_restore(struct virtqueue *vq, uint16_t last_avail_idx, uint16_t used_idx,
		   uint16_t signalled_used, bool signalled_used_valid)
{
	vq->last_avail_idx = last_avail_idx;
	vq->used_idx = vq->published_used = used_idx;
	vq->signalled_used = signalled_used;
	vq->signalled_used_valid = signalled_used_valid;
	vq->inuse = 0;
}

size_t virtq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	return iov_to_buf(iov, n, skip, buf, len);
}

size_t virtq_buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	return buf_to_iov(iov, n, skip, buf, len);
}
