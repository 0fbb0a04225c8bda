/* Raw-image block backend shared by virtio-blk and emulated NVMe:
 * asynchronous requests on io_uring (or a thread pool where io_uring is not
 * available), completions delivered on the event loop thread. */
#ifndef IOVIRT_BACKENDS_BLOCK_H
#define IOVIRT_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct loop;

#define BLK_SECTOR_SIZE 512

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_DISCARD, BLK_WRITE_ZEROES };

/* Backend-private progress of a request; blk_submit initialises it and the
 * caller must not touch it while the request is in flight. */
struct blk_request_priv {
	struct blk_request *next; /* engine queues (intrusive: no allocation) */
	uint64_t done;            /* bytes transferred so far (short I/O) */
	uint64_t total;           /* bytes the request covers */
	int stage;                /* WRITE_ZEROES: zero-range, punch, or writes */
	int result;               /* threads engine: result awaiting delivery */
	struct iovec part;        /* remainder of a partially done segment */
	/* Flush ordering (block_flush.c): a write's place in submission
	 * order; for a flush, the first write it does not wait for. */
	uint64_t seq;
	struct blk_request *wprev, *wnext; /* writes in flight, oldest first */
};

struct blk_request {
	enum blk_op op;
	uint64_t offset;                      /* bytes */
	const struct iovec *iov; int iovcnt;  /* READ/WRITE: iovcnt 1..IOV_MAX */
	uint64_t len;                         /* DISCARD/WRITE_ZEROES */
	/* result: bytes for READ/WRITE, 0 for the others, or -errno. Runs on
	 * the loop thread (or inside blk_close), exactly once per request that
	 * blk_submit accepted; it may submit further requests. */
	void (*complete)(struct blk_request *req, int result);
	void *opaque;
	struct blk_request_priv priv;
};

enum blk_cache { BLK_CACHE_WRITEBACK, BLK_CACHE_NONE /* O_DIRECT */ };
enum blk_engine { BLK_ENGINE_AUTO, BLK_ENGINE_URING, BLK_ENGINE_THREADS };

struct blk_options {
	bool readonly;
	enum blk_cache cache;
	enum blk_engine engine;
};

struct blk_backend;

/* Opens path and takes an OFD lock on it (exclusive, or shared when
 * readonly) so a second iovirt on the same image fails; the size must be a
 * multiple of 512. On error logs one line naming path and the reason and
 * returns NULL. */
struct blk_backend *blk_open(const char *path, const struct blk_options *opts,
			     struct loop *loop);
/* Waits for every in-flight request and runs its callback (here, on the
 * calling thread); requests submitted from those callbacks are refused with
 * -ESHUTDOWN. Call from the loop thread (not from inside a completion
 * callback of this backend) or after the loop stopped. */
void blk_close(struct blk_backend *b);

/* A live migration's handover of the images (issue 22), process-wide:
 * the destination opens them unlocked (blk_defer_locks before they are
 * opened) and locks them once the source has flushed and unlocked its
 * own (blk_images_unlock); a source whose migration failed locks them
 * again. 0, or -errno after one line naming the image. */
void blk_defer_locks(bool defer);
int blk_images_lock(void);
int blk_images_unlock(void);

uint64_t blk_size(const struct blk_backend *b);
bool blk_readonly(const struct blk_backend *b);
const char *blk_engine_name(const struct blk_backend *b); /* "io_uring" / "threads" */

/* Queues req; returns 0 (the callback will fire exactly once) or -errno:
 * -EROFS for a modifying op on a read-only image, -EINVAL for a range
 * outside the image, an empty or oversized (> INT_MAX bytes, > IOV_MAX
 * segments) request, or with cache=none an offset, length or buffer not
 * aligned to the device's direct-I/O block (512 or 4096). Loop thread only.
 * A FLUSH makes stable every modifying request submitted before it (their
 * callbacks run before its own); once the image failed to sync, every
 * later FLUSH fails too. */
int blk_submit(struct blk_backend *b, struct blk_request *req);

/* Optional: fn(opaque) runs on the loop thread after the engine delivered a
 * batch of completions (their callbacks ran), so a device can notify its
 * guest once for all of them. Completions delivered by blk_close are not
 * followed by it. */
typedef void (*blk_batch_end_fn)(void *opaque);
void blk_set_batch_end(struct blk_backend *b, blk_batch_end_fn fn, void *opaque);

/* Submits queued work now. Optional: without it, requests queued during one
 * loop callback go to the kernel together right after it returns. */
void blk_flush_submissions(struct blk_backend *b);

#endif
