/* virtio-blk (virtio 1.x §5.2). See blk.h.
 *
 * Anatomy: configuration (features, config space), request parsing and
 * validation (§5.2.6), submission to the backend, completion, reset.
 *
 * A request is a chain: a 16-byte header (struct virtio_blk_outhdr) at the
 * start of the device-readable part, then data (OUT, DISCARD, WRITE_ZEROES)
 * or device-writable data (IN, GET_ID), then the status byte, which is the
 * last device-writable byte (§5.2.6). No framing is assumed (§2.6.4): the
 * header, data and status may share or split descriptors in any way. */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/virtio_blk.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/device.h"
#include "core/log.h"
#include "core/state.h"
#include "virtio/queue_service.h"

#define SECTOR BLK_SECTOR_SIZE
#define HDR_LEN sizeof(struct virtio_blk_outhdr) /* 16 */
#define SEG_LEN sizeof(struct virtio_blk_discard_write_zeroes) /* 16 */
/* Segment size limit: with seg_max segments a request stays far below the
 * backend's INT_MAX bytes per request. */
#define SIZE_MAX_BYTES (1u << 20)
/* Sequential merging (as QEMU's virtio-blk): reads or writes that continue
 * one another, popped in one kick, go to the backend as one I/O of at most
 * MERGE_MAX_BYTES -- a guest streaming 1 MiB requests at depth 32 costs a
 * few large preadv calls instead of 32, and one used-ring notification per
 * group. MERGE_SLOTS merged I/Os per queue can be in flight (each carries
 * IOV_MAX iovecs); beyond that requests go alone. */
#define MERGE_MAX_BYTES (8u << 20)
#define MERGE_SLOTS 4
#define MERGE_IOVS 1024 /* IOV_MAX */
/* DISCARD / WRITE_ZEROES: one segment of at most 2 GiB - 512 (as QEMU). */
#define MAX_DWZ_SECTORS ((1u << 22) - 1)
#define MAX_DWZ_SEG 1

struct vblk_req {
	struct blk_request br;
	struct virtio_blk *blk;
	struct vblk_req *next_free;
	struct vblk_req *next_merged; /* the rest of its merged group */
	uint8_t *status;      /* host pointer to the status byte in guest RAM */
	uint32_t gen;         /* device generation at submission */
	uint32_t used_len;    /* used.len on success, status byte included */
	uint32_t bytes;       /* READ/WRITE: data bytes (0 for the other requests) */
	bool write;           /* bytes go from the guest to the disk */
	uint16_t q, head;
	bool flush_after;     /* FLUSH not negotiated: write-through (§5.2.5.1) */
	struct iovec iov[VIRTIO_BLK_QUEUE_SIZE];
};

/* One backend I/O carrying a group of merged requests. */
struct vblk_merge {
	struct blk_request br;
	struct virtio_blk *blk;
	struct vblk_req *first;       /* the group, linked by next_merged */
	struct vblk_merge *next_free;
	struct iovec iov[MERGE_IOVS];
};

struct vblk_queue {
	struct vblk_req *free;
	bool stalled;         /* work waits for a free request slot */
	bool notify;          /* completions since the backend's last batch end */
	/* The group being collected during one kick. */
	struct vblk_req *batch, *batch_tail;
	unsigned batch_iovs;
	uint64_t batch_end, batch_bytes;
	struct vblk_merge *merge_free;
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct blk_backend *be;
	struct virtio_blk_config cfg; /* as the guest reads it (little-endian) */
	char serial[VIRTIO_BLK_SERIAL_MAX];
	uint64_t capacity;    /* sectors */
	bool readonly;
	bool no_merge;
	bool closing;
	uint32_t gen;         /* bumped on reset: older completions are dropped */
	unsigned inflight;
	pthread_cond_t idle;  /* inflight reached 0 (with vdev.lock) */
	bool draining;        /* a save waits for inflight 0: pop nothing */
	uint64_t merged;      /* requests that went in a merged group */
	struct vblk_req *pool;
	struct vblk_merge *merges;
	struct vblk_queue queues[VIRTIO_MAX_QUEUES];
	struct virtq_chain chain; /* scratch for virtq_pop */
};

static void process_queue(struct virtio_blk *b, unsigned q);

static struct virtio_blk *to_blk(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

/* ---- request slots ---- */

static struct vblk_req *req_get(struct virtio_blk *b, unsigned q)
{
	struct vblk_req *r = b->queues[q].free;
	if (r)
		b->queues[q].free = r->next_free;
	return r;
}

static void req_put(struct virtio_blk *b, struct vblk_req *r)
{
	r->next_free = b->queues[r->q].free;
	b->queues[r->q].free = r;
}

/* Completes r now (lock held): status byte, used entry, slot back. */
static void req_finish(struct virtio_blk *b, struct vblk_req *r, uint8_t status, uint32_t len)
{
	struct dev_counters *cnt = &b->vdev.queues[r->q].counters;
	counter_inc(&cnt->requests);
	if (status == VIRTIO_BLK_S_OK && r->bytes)
		counter_add(r->write ? &cnt->bytes_in : &cnt->bytes_out, r->bytes);
	*r->status = status;
	virtq_push(&b->vdev.queues[r->q].vq, r->head, len);
	req_put(b, r);
}

/* Completes r with the guest's mistake: a request the device refuses. */
static void req_reject(struct virtio_blk *b, struct vblk_req *r, uint8_t status)
{
	counter_inc(&b->vdev.queues[r->q].counters.rejected);
	req_finish(b, r, status, 1);
}

/* dst = bytes [skip, skip + len) of src; returns the count, or -1 if more
 * than max iovecs would be needed. */
static int iov_slice(struct iovec *dst, unsigned max, const struct iovec *src, unsigned n,
		     uint64_t skip, uint64_t len)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint64_t c = l - skip < len ? l - skip : len;
		if (k == max)
			return -1;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[k].iov_len = c;
		k++;
		len -= c;
		skip = 0;
	}
	return (int)k;
}

/* [sector, sector + sectors) inside the disk, overflow-safe. */
static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t sectors)
{
	return sector <= b->capacity && sectors <= b->capacity - sector;
}

/* ---- completion (loop thread) ---- */

/* A failing disk must not flood the log: the guest-event limit. */
static void log_io_error(struct virtio_blk *b, const struct blk_request *br, int result)
{
	log_guest_event(b->vdev.name, "I/O error at sector %llu: %s (reported to the guest)",
			(unsigned long long)(br->offset / SECTOR), strerror(-result));
}

/* Completes the requests of one backend I/O -- one request, or a merged
 * group linked by next_merged -- with its result. Lock held. */
static void finish_io(struct virtio_blk *b, struct vblk_req *first, const struct blk_request *br,
		      int result)
{
	struct virtio_dev *vdev = &b->vdev;
	unsigned q = first->q;
	bool current = first->gen == b->gen && vdev->live && !b->closing;
	if (--b->inflight == 0)
		pthread_cond_broadcast(&b->idle);
	if (current && result < 0)
		log_io_error(b, br, result);
	for (struct vblk_req *r = first, *next; r; r = next) {
		next = r->next_merged;
		r->next_merged = NULL;
		if (current && result < 0)
			counter_inc(&vdev->queues[q].counters.errors);
		if (current)
			req_finish(b, r, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK,
				   result < 0 ? 1 : r->used_len);
		else
			req_put(b, r); /* a reset (or destroy) forgot it: rings untouched */
	}
	if (current)
		b->queues[q].notify = true; /* blk_batch_end notifies, once */
	if (b->queues[q].stalled && vdev->live && !b->closing)
		process_queue(b, q);
}

/* The backend delivered a batch of completions: one used-ring notification
 * per queue that got some, instead of one per request: on a busy host each
 * interrupt can preempt the loop to run the guest before the next request
 * is completed. */
static void blk_batch_end(void *opaque)
{
	struct virtio_blk *b = opaque;
	pthread_mutex_lock(&b->vdev.lock);
	for (unsigned q = 0; q < b->vdev.nqueues; q++) {
		if (b->queues[q].notify) {
			b->queues[q].notify = false;
			virtio_queue_done(&b->vdev, q);
		}
	}
	pthread_mutex_unlock(&b->vdev.lock);
}

static void req_done(struct blk_request *br, int result)
{
	struct vblk_req *r = br->opaque;
	struct virtio_blk *b = r->blk;
	struct virtio_dev *vdev = &b->vdev;

	pthread_mutex_lock(&vdev->lock);
	bool current = r->gen == b->gen && vdev->live && !b->closing;
	if (current && result >= 0 && r->flush_after) {
		/* Write-through: the write is acknowledged once it is stable. */
		r->flush_after = false;
		*br = (struct blk_request){.op = BLK_FLUSH, .complete = req_done, .opaque = r};
		if (blk_submit(b->be, br) == 0) {
			pthread_mutex_unlock(&vdev->lock);
			return;
		}
		result = -EIO;
	}
	finish_io(b, r, br, result);
	pthread_mutex_unlock(&vdev->lock);
}

static void merge_done(struct blk_request *br, int result)
{
	struct vblk_merge *m = br->opaque;
	struct virtio_blk *b = m->blk;
	pthread_mutex_lock(&b->vdev.lock);
	struct vblk_req *first = m->first;
	struct vblk_queue *bq = &b->queues[first->q];
	m->next_free = bq->merge_free;
	bq->merge_free = m;
	finish_io(b, first, br, result);
	pthread_mutex_unlock(&b->vdev.lock);
}

static void batch_flush(struct virtio_blk *b, unsigned q);

/* Hands r to the backend; on refusal completes it with IOERR at once.
 * Requests collected for merging go first: submissions keep ring order. */
static void req_submit(struct virtio_blk *b, struct vblk_req *r)
{
	if (b->queues[r->q].batch)
		batch_flush(b, r->q);
	r->br.complete = req_done;
	r->br.opaque = r;
	r->gen = b->gen;
	int ret = blk_submit(b->be, &r->br);
	if (ret == 0) {
		b->inflight++;
		return;
	}
	/* -EINVAL: a request the backend cannot take (e.g. O_DIRECT alignment). */
	log_guest_error(b->vdev.name, "request refused by the backend: %s",
			     strerror(-ret));
	counter_inc(&b->vdev.queues[r->q].counters.errors);
	req_finish(b, r, VIRTIO_BLK_S_IOERR, 1);
}

/* Submits the group collected on queue q: merged into one backend I/O
 * when it has several requests and a merge slot is free, else one by one. */
static void batch_flush(struct virtio_blk *b, unsigned q)
{
	struct vblk_queue *bq = &b->queues[q];
	struct vblk_req *first = bq->batch;
	bq->batch = bq->batch_tail = NULL;
	bq->batch_iovs = 0;
	bq->batch_bytes = 0;
	struct vblk_merge *m = first && first->next_merged ? bq->merge_free : NULL;
	if (m) {
		int n = 0;
		for (struct vblk_req *r = first; r; r = r->next_merged) {
			memcpy(&m->iov[n], r->iov, (size_t)r->br.iovcnt * sizeof(r->iov[0]));
			n += r->br.iovcnt;
			r->gen = b->gen;
		}
		m->first = first;
		m->br = (struct blk_request){.op = first->br.op, .offset = first->br.offset,
					     .iov = m->iov, .iovcnt = n, .complete = merge_done,
					     .opaque = m};
		if (blk_submit(b->be, &m->br) == 0) {
			bq->merge_free = m->next_free;
			b->inflight++;
			for (struct vblk_req *r = first; r; r = r->next_merged)
				b->merged++;
			return;
		}
	}
	/* Alone (or refused merged: each then gets its own verdict). */
	for (struct vblk_req *r = first, *next; r; r = next) {
		next = r->next_merged;
		r->next_merged = NULL;
		req_submit(b, r);
	}
}

/* Queues a read or write for submission: it joins the group if it
 * continues it, else the group goes and it starts a new one. */
static void batch_add(struct virtio_blk *b, struct vblk_req *r)
{
	struct vblk_queue *bq = &b->queues[r->q];
	if (bq->batch && !(bq->batch->br.op == r->br.op && bq->batch_end == r->br.offset &&
			   bq->batch_iovs + (unsigned)r->br.iovcnt <= MERGE_IOVS &&
			   bq->batch_bytes + r->bytes <= MERGE_MAX_BYTES))
		batch_flush(b, r->q);
	if (bq->batch)
		bq->batch_tail->next_merged = r;
	else
		bq->batch = r;
	bq->batch_tail = r;
	r->next_merged = NULL;
	bq->batch_iovs += (unsigned)r->br.iovcnt;
	bq->batch_bytes += r->bytes;
	bq->batch_end = r->br.offset + r->bytes;
}

/* ---- requests (§5.2.6) ---- */

static void handle_rw(struct virtio_blk *b, struct vblk_req *r, const struct virtq_chain *c,
		      bool write, uint64_t sector)
{
	const struct iovec *src = write ? c->iov : c->iov + c->n_out;
	unsigned n = write ? c->n_out : c->n_in;
	uint64_t skip = write ? HDR_LEN : 0;
	uint64_t len = write ? c->out_len - HDR_LEN : c->in_len - 1;

	if (write && b->readonly) { /* §5.2.6.2 */
		log_guest_error(b->vdev.name, "write to a read-only disk");
		req_reject(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (len % SECTOR || !range_ok(b, sector, len / SECTOR)) {
		log_guest_error(b->vdev.name, "%s of %llu bytes at sector %llu: not whole sectors "
				     "or past the end of the disk",
				     write ? "write" : "read", (unsigned long long)len,
				     (unsigned long long)sector);
		req_reject(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (len == 0) { /* nothing to transfer; the backend refuses empty I/O */
		req_finish(b, r, VIRTIO_BLK_S_OK, 1);
		return;
	}
	int cnt = iov_slice(r->iov, VIRTIO_BLK_QUEUE_SIZE, src, n, skip, len);
	if (cnt <= 0) { /* more segments than seg_max (a big indirect table) */
		log_guest_error(b->vdev.name, "request with more than %d segments",
				     VIRTIO_BLK_QUEUE_SIZE - 2);
		req_reject(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->br = (struct blk_request){
		.op = write ? BLK_WRITE : BLK_READ,
		.offset = sector * SECTOR,
		.iov = r->iov,
		.iovcnt = cnt,
	};
	r->used_len = write ? 1 : (uint32_t)len + 1;
	r->bytes = (uint32_t)len;
	r->write = write;
	r->flush_after = write && !virtio_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH);
	if (r->flush_after || len > MERGE_MAX_BYTES || b->no_merge)
		req_submit(b, r);
	else
		batch_add(b, r);
}

static void handle_get_id(struct virtio_blk *b, struct vblk_req *r, const struct virtq_chain *c)
{
	/* §5.2.6.1: up to VIRTIO_BLK_ID_BYTES, zero padded, no NUL required. */
	size_t n = c->in_len - 1 < sizeof(b->serial) ? c->in_len - 1 : sizeof(b->serial);
	n = virtq_buf_to_iov(c->iov + c->n_out, c->n_in, 0, b->serial, n);
	req_finish(b, r, VIRTIO_BLK_S_OK, (uint32_t)n + 1);
}

/* DISCARD and WRITE_ZEROES (§5.2.6, §5.2.6.2). */
static void handle_dwz(struct virtio_blk *b, struct vblk_req *r, const struct virtq_chain *c,
		       bool wz)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t payload = c->out_len - HDR_LEN;
	uint8_t st = VIRTIO_BLK_S_OK;

	if (!virtio_has_feature(&b->vdev, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD)) {
		st = VIRTIO_BLK_S_UNSUPP;
	} else if (b->readonly) {
		st = VIRTIO_BLK_S_IOERR;
	} else if (payload == 0 || payload % SEG_LEN) {
		st = VIRTIO_BLK_S_IOERR;
	} else if (payload / SEG_LEN > MAX_DWZ_SEG) {
		st = VIRTIO_BLK_S_UNSUPP; /* more segments than max_*_seg */
	} else {
		virtq_iov_to_buf(c->iov, c->n_out, HDR_LEN, &seg, sizeof(seg));
		uint64_t sector = le64toh(seg.sector);
		uint32_t num = le32toh(seg.num_sectors), flags = le32toh(seg.flags);
		/* Unknown flags, or UNMAP on a discard: UNSUPP (§5.2.6.2). */
		if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!wz && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
			st = VIRTIO_BLK_S_UNSUPP;
		else if (num > MAX_DWZ_SECTORS || !range_ok(b, sector, num))
			st = VIRTIO_BLK_S_IOERR;
		else if (num != 0) {
			/* WRITE_ZEROES with or without UNMAP: the backend zeroes,
			 * punching a hole where it can (write_zeroes_may_unmap). */
			r->br = (struct blk_request){
				.op = wz ? BLK_WRITE_ZEROES : BLK_DISCARD,
				.offset = sector * SECTOR,
				.len = (uint64_t)num * SECTOR,
			};
			r->used_len = 1;
			r->flush_after = false;
			req_submit(b, r);
			return;
		}
	}
	if (st == VIRTIO_BLK_S_OK) {
		req_finish(b, r, st, 1);
		return;
	}
	log_guest_error(b->vdev.name, "bad %s request (status %u)", wz ? "write-zeroes" : "discard",
			st);
	req_reject(b, r, st);
}

/* One popped chain. Returns false if the device is now broken. */
static bool handle_chain(struct virtio_blk *b, unsigned q, const struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;

	if (c->n_in == 0) {
		virtio_dev_set_broken(&b->vdev, "request without a status byte");
		return false;
	}
	if (c->out_len < HDR_LEN) {
		virtio_dev_set_broken(&b->vdev, "request shorter than its 16-byte header");
		return false;
	}
	struct vblk_req *r = req_get(b, q); /* the caller checked one is free */
	const struct iovec *last = &c->iov[c->n_out + c->n_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->head = c->head;
	r->bytes = 0;
	virtq_iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
	uint64_t sector = le64toh(hdr.sector);

	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		handle_rw(b, r, c, false, sector);
		break;
	case VIRTIO_BLK_T_OUT:
		handle_rw(b, r, c, true, sector);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->br = (struct blk_request){.op = BLK_FLUSH};
		r->used_len = 1;
		r->flush_after = false;
		req_submit(b, r);
		break;
	case VIRTIO_BLK_T_GET_ID:
		handle_get_id(b, r, c);
		break;
	case VIRTIO_BLK_T_DISCARD:
		handle_dwz(b, r, c, false);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		handle_dwz(b, r, c, true);
		break;
	default:
		req_reject(b, r, VIRTIO_BLK_S_UNSUPP);
		break;
	}
	return true;
}

/* ---- queue service ---- */

static bool blk_can_pop(struct virtio_dev *vdev, unsigned q)
{
	/* Slots still held by requests of a reset generation: the queue
	 * resumes when one completes (kicks stay off till then). */
	return to_blk(vdev)->queues[q].free != NULL;
}

static enum qs_verdict blk_chain(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	return handle_chain(to_blk(vdev), q, chain) ? QS_NEXT : QS_BROKEN;
}

/* The group collected for merging goes before the used ring is signalled:
 * a refused submission completes at once. */
static void blk_submit_batch(struct virtio_dev *vdev, unsigned q)
{
	batch_flush(to_blk(vdev), q);
}

static const struct queue_service_ops blk_service = {
	.handle = blk_chain,
	.can_pop = blk_can_pop,
	.batch_end = blk_submit_batch,
};

/* Pops and starts at most queue-size chains. Lock held. */
static void process_queue(struct virtio_blk *b, unsigned q)
{
	if (b->closing || b->draining)
		return;
	enum qs_result res = queue_service_run(&b->vdev, q, &blk_service, &b->chain);
	b->queues[q].stalled = res == QS_PAUSED;
	blk_flush_submissions(b->be);
}

/* ---- virtio_dev_ops ---- */

static void blk_config_read(struct virtio_dev *vdev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_blk *b = to_blk(vdev);
	if (offset > sizeof(b->cfg) || len > sizeof(b->cfg) - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (const uint8_t *)&b->cfg + offset, len);
}

static void blk_config_write(struct virtio_dev *vdev, unsigned offset, const uint8_t *data,
			     unsigned len)
{
	/* Read-only: no VIRTIO_BLK_F_CONFIG_WCE (§5.2.4). */
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	b->gen++;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		b->queues[q].stalled = b->queues[q].notify = false;
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	if (q < vdev->nqueues)
		process_queue(to_blk(vdev), q);
}

/* ---- state (core/state.h) ---- */

/* How long a save waits for the backend's in-flight requests. */
#define DRAIN_TIMEOUT_S 10

/* Quiesce (core/device.h; ops->quiesce): the model drains, the transport
 * then checks every queue is idle. Called with vdev->lock held from a
 * thread other than the loop's: completions run on the loop thread and
 * take the lock, which the wait releases. Nothing is popped meanwhile; the
 * queues are kicked again after, so a kick that arrived during the wait is
 * served. On the loop thread (or with the loop stopped) requests in flight
 * cannot complete: -EBUSY after DRAIN_TIMEOUT_S. */
static int blk_quiesce(struct virtio_dev *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	if (b->inflight == 0)
		return 0;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DRAIN_TIMEOUT_S;
	b->draining = true;
	while (b->inflight && pthread_cond_timedwait(&b->idle, &b->vdev.lock, &deadline) == 0)
		;
	b->draining = false;
	for (unsigned q = 0; b->vdev.live && q < b->vdev.nqueues; q++)
		virtio_queue_rekick(&b->vdev, q);
	if (b->inflight) {
		log_error("%s: %u requests still in flight after %d s", vdev->name, b->inflight,
			  DRAIN_TIMEOUT_S);
		return -EBUSY;
	}
	return 0;
}

/* After quiesce. Nothing the guest can change lives in the model (no
 * CONFIG_WCE: the cache mode is the host's); the record names the disk it
 * was saved from, so an instance on a different one refuses it, and says
 * nothing was in flight. */
static void blk_save(struct virtio_dev *vdev, struct state_writer *w)
{
	struct virtio_blk *b = to_blk(vdev);
	state_begin(w, "virtio-blk", 1);
	state_put_u64(w, "capacity", b->capacity);
	state_put_bool(w, "readonly", b->readonly);
	state_put_u32(w, "queues", vdev->nqueues);
	state_put_u32(w, "inflight", b->inflight);
	state_end(w);
}

static int blk_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct virtio_blk *b = to_blk(vdev);
	uint64_t capacity;
	uint32_t queues, inflight;
	bool readonly;

	state_enter(r, "virtio-blk", 1, NULL);
	state_get_u64(r, "capacity", &capacity);
	state_get_bool(r, "readonly", &readonly);
	state_get_u32(r, "queues", &queues);
	state_get_u32(r, "inflight", &inflight);
	if (state_failed(r))
		return -EINVAL;
	if (capacity != b->capacity)
		return state_invalid(r, "capacity", "%llu sectors saved, this disk has %llu",
				     (unsigned long long)capacity, (unsigned long long)b->capacity);
	if (readonly != b->readonly)
		return state_invalid(r, "readonly", "saved %s, this disk is %s",
				     readonly ? "read-only" : "writable",
				     b->readonly ? "read-only" : "writable");
	if (queues != vdev->nqueues)
		return state_invalid(r, "queues", "%u saved, this device has %u", queues,
				     vdev->nqueues);
	if (inflight)
		return state_invalid(r, "inflight", "%u requests in flight (a save drains them)",
				     inflight);
	return state_leave(r); /* nothing to apply */
}

static void blk_destroy_op(struct virtio_dev *vdev)
{
	virtio_blk_destroy(to_blk(vdev));
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.load = blk_load,
	.destroy = blk_destroy_op,
};

/* ---- lifecycle ---- */

static void fill_config(struct virtio_blk *b, unsigned nq)
{
	struct virtio_blk_config *c = &b->cfg;
	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->capacity);
	c->size_max = htole32(SIZE_MAX_BYTES);
	c->seg_max = htole32(VIRTIO_BLK_QUEUE_SIZE - 2); /* header and status */
	c->blk_size = htole32(SECTOR);
	c->num_queues = htole16((uint16_t)nq);
	c->max_discard_sectors = htole32(MAX_DWZ_SECTORS);
	c->max_discard_seg = htole32(MAX_DWZ_SEG);
	c->discard_sector_alignment = htole32(1);
	c->max_write_zeroes_sectors = htole32(MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = htole32(MAX_DWZ_SEG);
	c->write_zeroes_may_unmap = 1;
}

struct virtio_blk *virtio_blk_create(const struct virtio_blk_options *o,
				     const struct guest_mem *mem, struct loop *loop)
{
	unsigned nq = o->num_queues ? o->num_queues : 1;
	if (!o->path) {
		log_error("virtio-blk: no image path");
		return NULL;
	}
	if (nq > VIRTIO_MAX_QUEUES) {
		log_error("%s: virtio-blk supports at most %d queues, not %u", o->path,
			  VIRTIO_MAX_QUEUES, nq);
		return NULL;
	}
	if (o->serial && strlen(o->serial) > VIRTIO_BLK_SERIAL_MAX) {
		log_error("%s: serial \"%s\" is longer than %d bytes", o->path, o->serial,
			  VIRTIO_BLK_SERIAL_MAX);
		return NULL;
	}
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (b) {
		b->pool = calloc((size_t)nq * VIRTIO_BLK_QUEUE_SIZE, sizeof(*b->pool));
		b->merges = calloc((size_t)nq * MERGE_SLOTS, sizeof(*b->merges));
	}
	if (!b || !b->pool || !b->merges) {
		log_error("%s: out of memory", o->path);
		if (b) {
			free(b->pool);
			free(b->merges);
		}
		free(b);
		return NULL;
	}
	struct blk_options bo = {.readonly = o->readonly, .cache = o->cache, .engine = o->engine};
	b->be = blk_open(o->path, &bo, loop);
	if (!b->be) {
		free(b->pool);
		free(b->merges);
		free(b);
		return NULL;
	}
	blk_set_batch_end(b->be, blk_batch_end, b);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->idle, &ca);
	pthread_condattr_destroy(&ca);
	b->readonly = o->readonly;
	b->no_merge = o->no_merge;
	b->capacity = blk_size(b->be) / SECTOR;
	if (o->serial)
		memcpy(b->serial, o->serial, strlen(o->serial)); /* rest stays zero */
	for (unsigned i = nq * VIRTIO_BLK_QUEUE_SIZE; i-- > 0;) {
		struct vblk_req *r = &b->pool[i];
		r->blk = b;
		r->q = (uint16_t)(i / VIRTIO_BLK_QUEUE_SIZE);
		req_put(b, r);
	}
	for (unsigned i = 0; i < nq * MERGE_SLOTS; i++) {
		struct vblk_merge *m = &b->merges[i];
		struct vblk_queue *bq = &b->queues[i / MERGE_SLOTS];
		m->blk = b;
		m->next_free = bq->merge_free;
		bq->merge_free = m;
	}
	fill_config(b, nq);

	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH);
	if (o->readonly)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else /* nothing to discard or zero on a read-only disk */
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	if (nq > 1)
		f |= 1ULL << VIRTIO_BLK_F_MQ;
	virtio_dev_init(&b->vdev, "virtio-blk", VIRTIO_ID_BLOCK, nq, VIRTIO_BLK_QUEUE_SIZE,
			sizeof(struct virtio_blk_config), f, &blk_ops, mem, loop);
	return b;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return &b->vdev;
}

uint64_t virtio_blk_merged(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->vdev.lock);
	uint64_t n = b->merged;
	pthread_mutex_unlock(&b->vdev.lock);
	return n;
}

unsigned virtio_blk_inflight(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->vdev.lock);
	unsigned n = b->inflight;
	pthread_mutex_unlock(&b->vdev.lock);
	return n;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->vdev.lock);
	b->closing = true;
	b->gen++;
	pthread_mutex_unlock(&b->vdev.lock);
	blk_close(b->be); /* runs the remaining callbacks, which drop them */
	virtio_dev_destroy(&b->vdev);
	pthread_cond_destroy(&b->idle);
	free(b->pool);
	free(b->merges);
	free(b);
}
