/* The io_uring block engine: one ring per backend, completions signalled
 * through an eventfd registered with the ring and watched by the loop.
 * At most URING_QD requests are with the kernel at a time, so the
 * completion queue never overflows; the rest wait on an overflow list. */
#include "backends/block_engine.h"
#include "core/log.h"
#include "core/loop.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define URING_QD 256

struct blk_uring {
	struct io_uring ring;
	int efd;
	unsigned queued;     /* SQEs prepared whose CQE has not been reaped */
	bool kicked;         /* efd written so the loop submits the batch */
	bool in_event;       /* reaping: submission happens at the end anyway */
	struct blk_request *over_head, *over_tail;
};

/* Puts the request's current step in the SQ. Caller ensures queued < QD,
 * which (with QD SQ entries) guarantees a free SQE. */
static void prep(struct blk_backend *b, struct blk_uring *u, struct blk_request *req)
{
	struct blk_step s;
	blk_req_step(b, req, &s);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	switch (s.kind) {
	case BLK_STEP_READV:
		io_uring_prep_readv(sqe, b->fd, s.iov, (unsigned)s.iovcnt, s.off);
		break;
	case BLK_STEP_WRITEV:
		io_uring_prep_writev(sqe, b->fd, s.iov, (unsigned)s.iovcnt, s.off);
		break;
	case BLK_STEP_FSYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_STEP_FALLOCATE:
		io_uring_prep_fallocate(sqe, b->fd, s.mode, (off_t)s.off, (off_t)s.len);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	u->queued++;
}

static void overflow_push(struct blk_uring *u, struct blk_request *req)
{
	req->priv.next = NULL;
	if (u->over_tail)
		u->over_tail->priv.next = req;
	else
		u->over_head = req;
	u->over_tail = req;
}

/* FIFO: a request waiting on the overflow list goes before a new one. */
static void enqueue(struct blk_backend *b, struct blk_uring *u, struct blk_request *req)
{
	if (u->over_head || u->queued >= URING_QD)
		overflow_push(u, req);
	else
		prep(b, u, req);
}

static void drain_overflow(struct blk_backend *b, struct blk_uring *u)
{
	while (u->over_head && u->queued < URING_QD) {
		struct blk_request *req = u->over_head;
		u->over_head = req->priv.next;
		if (!u->over_head)
			u->over_tail = NULL;
		prep(b, u, req);
	}
}

static void submit_ready(struct blk_uring *u)
{
	while (io_uring_sq_ready(&u->ring)) {
		int ret = io_uring_submit(&u->ring);
		if (ret == -EINTR)
			continue;
		if (ret == -EAGAIN) {
			/* Kernel short of memory: try again on the next loop turn. */
			uint64_t one = 1;
			ssize_t w = write(u->efd, &one, sizeof(one));
			(void)w;
			return;
		}
		if (ret < 0) {
			/* The SQEs stay queued; the next completion retries. */
			log_warn("io_uring submit failed: %s", strerror(-ret));
			return;
		}
		if (ret == 0)
			return;
	}
}

/* Handles every completion the ring holds: finished requests get their
 * callback, short or retried ones go back in the queue. */
static void reap(struct blk_backend *b, struct blk_uring *u)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct blk_request *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res, result;
		io_uring_cqe_seen(&u->ring, cqe); /* before the callback re-enters */
		u->queued--;
		drain_overflow(b, u);
		if (blk_req_advance(b, req, res, &result))
			blk_req_complete(b, req, result);
		else
			enqueue(b, u, req);
	}
}

static void uring_event(void *opaque, uint32_t events)
{
	struct blk_backend *b = opaque;
	struct blk_uring *u = b->engine;
	uint64_t v;
	/* Read first: a CQE posted after this re-arms the eventfd. */
	ssize_t r = read(u->efd, &v, sizeof(v));
	(void)r;
	u->kicked = false;
	u->in_event = true;
	reap(b, u);
	submit_ready(u);
	u->in_event = false;
	blk_batch_done(b);
}

static void uring_submit(struct blk_backend *b, struct blk_request *req)
{
	struct blk_uring *u = b->engine;
	enqueue(b, u, req);
	/* Batch: submissions queued during this loop callback go to the
	 * kernel together, when the loop handles the kick (or earlier, on
	 * blk_flush_submissions). */
	if (!u->in_event && !u->kicked && io_uring_sq_ready(&u->ring)) {
		uint64_t one = 1;
		ssize_t w = write(u->efd, &one, sizeof(one));
		(void)w;
		u->kicked = true;
	}
}

static void uring_flush(struct blk_backend *b)
{
	submit_ready(b->engine);
}

static int check_ops(struct io_uring *ring)
{
	static const int needed[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				     IORING_OP_FALLOCATE};
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (!probe)
		return -EOPNOTSUPP;
	int ret = 0;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!io_uring_opcode_supported(probe, needed[i]))
			ret = -EOPNOTSUPP;
	io_uring_free_probe(probe);
	return ret;
}

static int uring_init(struct blk_backend *b)
{
	struct blk_uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		int err = -errno;
		free(u);
		return err;
	}
	/* io_uring may be missing, disabled by sysctl or blocked by seccomp. */
	int ret = io_uring_queue_init(URING_QD, &u->ring, 0);
	if (ret < 0) {
		close(u->efd);
		free(u);
		return ret;
	}
	ret = check_ops(&u->ring);
	if (ret == 0)
		ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret == 0)
		ret = loop_add_fd(b->loop, u->efd, EPOLLIN, uring_event, b);
	if (ret < 0) {
		io_uring_queue_exit(&u->ring);
		close(u->efd);
		free(u);
		return ret;
	}
	b->engine = u;
	return 0;
}

static void uring_fini(struct blk_backend *b)
{
	struct blk_uring *u = b->engine;
	u->in_event = true; /* no kicks: we submit ourselves */
	while (b->inflight) {
		drain_overflow(b, u);
		submit_ready(u);
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&u->ring, &cqe);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			/* Cannot happen with a sane ring; leaking beats hanging. */
			log_error("io_uring wait failed: %s; %u requests lost", strerror(-ret),
				  b->inflight);
			break;
		}
		reap(b, u);
	}
	loop_del_fd(b->loop, u->efd);
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
	b->engine = NULL;
}

const struct blk_engine_ops blk_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.submit = uring_submit,
	.flush = uring_flush,
	.fini = uring_fini,
};
