/* Internal to src/backends/block*.c: the backend struct, the engine
 * interface, and the per-request state machine both engines share. */
#ifndef IOVIRT_BACKENDS_BLOCK_ENGINE_H
#define IOVIRT_BACKENDS_BLOCK_ENGINE_H

#include "backends/block.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct blk_engine_ops {
	const char *name;
	/* Sets up b->engine; returns 0 or -errno (nothing left allocated). */
	int (*init)(struct blk_backend *b);
	/* Starts the request's current step (see blk_req_step). */
	void (*submit)(struct blk_backend *b, struct blk_request *req);
	void (*flush)(struct blk_backend *b);
	/* Completes everything in flight (callbacks run), then frees. */
	void (*fini)(struct blk_backend *b);
};

extern const struct blk_engine_ops blk_uring_ops;
extern const struct blk_engine_ops blk_threads_ops;

struct blk_req_fifo {
	struct blk_request *head, *tail;
};

/* Flushes (block_flush.c), loop thread only: one fdatasync in flight. */
struct blk_flusher {
	struct blk_request sync;      /* that fdatasync: ours, not a caller's */
	bool syncing;
	struct blk_req_fifo riding;   /* flushes it answers */
	struct blk_req_fifo waiting;  /* flushes for a later one */
	struct blk_request *writes, *writes_tail; /* modifying requests in flight */
	uint64_t next_seq;
};

struct blk_backend {
	int fd;
	char *path;
	uint64_t size;
	bool readonly;
	bool closing;
	unsigned align;           /* O_DIRECT offset/length/buffer alignment, or 1 */
	unsigned inflight;        /* accepted, callback not yet run (loop thread) */
	int no_zero_range;        /* atomics: learnt fallocate limitations */
	int no_punch;
	int flush_failed;         /* sticky: see blk_fsync_done */
	struct loop *loop;
	const struct blk_engine_ops *ops;
	void *engine;
	blk_batch_end_fn batch_end; /* may be NULL */
	void *batch_opaque;
	struct blk_flusher flusher;
	struct blk_backend *next_open; /* the process's open images (block.c) */
	bool locked;              /* holds its OFD lock */
};

/* One system call's worth of a request. */
enum blk_step_kind { BLK_STEP_READV, BLK_STEP_WRITEV, BLK_STEP_FSYNC, BLK_STEP_FALLOCATE };
struct blk_step {
	enum blk_step_kind kind;
	const struct iovec *iov;
	int iovcnt;
	uint64_t off;
	uint64_t len;  /* FALLOCATE */
	int mode;      /* FALLOCATE */
};

/* What the request's next system call is. */
void blk_req_step(struct blk_backend *b, struct blk_request *req, struct blk_step *s);
/* Feeds the step's result (bytes or -errno); returns true and sets *result
 * when the request is finished, false when another step is needed. May be
 * called from a worker thread. */
bool blk_req_advance(struct blk_backend *b, struct blk_request *req, int res, int *result);
/* Runs the callback; loop thread (or blk_close) only. */
void blk_req_complete(struct blk_backend *b, struct blk_request *req, int result);
/* An engine delivered a batch of completions (loop thread). */
void blk_batch_done(struct blk_backend *b);

/* block_flush.c, loop thread: a FLUSH blk_submit accepted (it never goes
 * to the engine as such); a WRITE, DISCARD or WRITE_ZEROES accepted, and
 * finished (before its callback); then, after that callback, a chance for
 * the flushes that waited for it to start. */
void blk_flush_submit(struct blk_backend *b, struct blk_request *req);
void blk_flush_write_begin(struct blk_backend *b, struct blk_request *req);
void blk_flush_write_end(struct blk_backend *b, struct blk_request *req);
void blk_flush_start(struct blk_backend *b);
/* An fdatasync step is about to go to the kernel; and what it returned
 * (not EINTR/EAGAIN: retried), as blk_req_advance takes it. Any thread. */
void blk_fsync_issued(struct blk_backend *b, struct blk_request *req);
bool blk_fsync_done(struct blk_backend *b, struct blk_request *req, int res, int *result);

/* Tests only (fault injection; NULL in iovirt): issued sees each fdatasync
 * step as it goes to the kernel, result what it returned, and gives what
 * the backend takes it to have returned. Either may be NULL; both may run
 * on a worker thread. */
struct blk_fsync_hooks {
	void (*issued)(struct blk_backend *b, const struct blk_request *req);
	int (*result)(struct blk_backend *b, const struct blk_request *req, int res);
};
extern const struct blk_fsync_hooks *blk_fsync_hooks;

#endif
