/* Flushes, the same for both engines. Linux reports a writeback error to
 * only one of two concurrent fdatasync calls on a file (the error sequence
 * lives in the open file), so with two in flight one can succeed for data
 * the other saw lost. Hence one fdatasync in flight per backend: a flush
 * gets the result of the next one that starts after it arrived, which
 * starts only once every write submitted before the flush has completed,
 * and a failure fails every flush from then on. */
#include "backends/block_engine.h"

#include <errno.h>
#include <stddef.h>

const struct blk_fsync_hooks *blk_fsync_hooks;

static void fifo_push(struct blk_req_fifo *f, struct blk_request *req)
{
	req->priv.next = NULL;
	if (f->tail)
		f->tail->priv.next = req;
	else
		f->head = req;
	f->tail = req;
}

static void sync_done(struct blk_request *sync, int result);

/* Starts the fdatasync for the waiting flushes whose writes are done, if
 * none is in flight. Flushes are in arrival order, so those are a prefix;
 * the rest (and any that come now) wait for the one after. */
void blk_flush_start(struct blk_backend *b)
{
	struct blk_flusher *f = &b->flusher;
	uint64_t oldest = f->writes ? f->writes->priv.seq : f->next_seq;
	struct blk_request *req = f->waiting.head;
	if (f->syncing || !req || req->priv.seq > oldest)
		return;
	f->riding.head = req;
	while (req->priv.next && req->priv.next->priv.seq <= oldest)
		req = req->priv.next;
	f->riding.tail = req;
	f->waiting.head = req->priv.next;
	if (!f->waiting.head)
		f->waiting.tail = NULL;
	req->priv.next = NULL;

	f->syncing = true;
	f->sync = (struct blk_request){.op = BLK_FLUSH, .complete = sync_done, .opaque = b};
	b->inflight++; /* blk_close waits for it like any request */
	b->ops->submit(b, &f->sync);
}

static void sync_done(struct blk_request *sync, int result)
{
	struct blk_backend *b = sync->opaque;
	struct blk_flusher *f = &b->flusher;
	struct blk_request *req = f->riding.head;
	f->riding = (struct blk_req_fifo){.head = NULL};
	f->syncing = false;
	blk_flush_start(b); /* for the flushes that came meanwhile */
	while (req) {
		struct blk_request *next = req->priv.next; /* the callback may reuse req */
		blk_req_complete(b, req, result);
		req = next;
	}
}

void blk_flush_submit(struct blk_backend *b, struct blk_request *req)
{
	req->priv.seq = b->flusher.next_seq;
	fifo_push(&b->flusher.waiting, req);
	blk_flush_start(b);
}

void blk_flush_write_begin(struct blk_backend *b, struct blk_request *req)
{
	struct blk_flusher *f = &b->flusher;
	struct blk_request_priv *p = &req->priv;
	p->seq = f->next_seq++;
	p->wnext = NULL;
	p->wprev = f->writes_tail;
	if (f->writes_tail)
		f->writes_tail->priv.wnext = req;
	else
		f->writes = req;
	f->writes_tail = req;
}

void blk_flush_write_end(struct blk_backend *b, struct blk_request *req)
{
	struct blk_flusher *f = &b->flusher;
	struct blk_request_priv *p = &req->priv;
	if (p->wprev)
		p->wprev->priv.wnext = p->wnext;
	else
		f->writes = p->wnext;
	if (p->wnext)
		p->wnext->priv.wprev = p->wprev;
	else
		f->writes_tail = p->wprev;
}

void blk_fsync_issued(struct blk_backend *b, struct blk_request *req)
{
	if (blk_fsync_hooks && blk_fsync_hooks->issued)
		blk_fsync_hooks->issued(b, req);
}

bool blk_fsync_done(struct blk_backend *b, struct blk_request *req, int res, int *result)
{
	if (blk_fsync_hooks && blk_fsync_hooks->result)
		res = blk_fsync_hooks->result(b, req, res);
	/* After a failed fdatasync the kernel may have dropped the dirty pages
	 * and a retry would report success for lost data, so every later flush
	 * fails too: never acknowledge what is not stable. */
	if (res < 0)
		__atomic_store_n(&b->flush_failed, 1, __ATOMIC_RELAXED);
	else if (__atomic_load_n(&b->flush_failed, __ATOMIC_RELAXED))
		res = -EIO;
	*result = res;
	return true;
}
