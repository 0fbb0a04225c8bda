/* Raw-image block backend: opening, locking and validating the image,
 * checking requests, and the per-request state machine (short I/O,
 * write-zeroes fallbacks) both engines share; flushes are block_flush.c. */
#include "backends/block.h"
#include "backends/block_engine.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Source for WRITE_ZEROES when neither fallocate mode works; aligned so it
 * also serves O_DIRECT. */
static const uint8_t zero_buf[64 * 1024] __attribute__((aligned(4096)));

static int image_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}

/* The direct-I/O alignment the file needs: a 512-byte read at offset 0
 * works with a 512-byte logical block size; 4K-sector devices need 4096.
 * glibc 2.36 has no statx dio fields, so ask the kernel by trying. Also
 * catches filesystems that accept O_DIRECT at open but refuse it on I/O. */
static int probe_direct_align(int fd, uint64_t size, unsigned *align)
{
	*align = BLK_SECTOR_SIZE;
	if (size < 4096)
		return 0;
	void *buf = aligned_alloc(4096, 4096);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	if (pread(fd, buf, BLK_SECTOR_SIZE, 0) < 0) {
		ret = -errno;
		if (ret == -EINVAL && pread(fd, buf, 4096, 0) >= 0) {
			*align = 4096;
			ret = 0;
		}
	}
	free(buf);
	return ret;
}

/* OFD locks belong to the open file description, so they conflict with a
 * second blk_open even in the same process, and die with the VMM. */
/* Every image this process has open, for a migration's handover of their
 * locks (blk_images_unlock), and whether blk_open locks (--incoming does
 * not until the source has let go). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blk_backend *open_images;
static bool defer_locks;

static int lock_image(const char *path, int fd, bool readonly)
{
	struct flock fl = {.l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	int err = errno;
	if (err == EAGAIN || err == EACCES) {
		log_error("%s: locked by another process (is another iovirt using it?)", path);
		return -err;
	}
	if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) {
		/* Some network filesystems cannot lock: run, but say so. */
		log_warn("%s: cannot lock (%s); make sure nothing else uses it", path, strerror(err));
		return 0;
	}
	log_error("%s: cannot lock: %s", path, strerror(err));
	return -err;
}

static int start_engine(struct blk_backend *b, enum blk_engine want)
{
	if (want != BLK_ENGINE_THREADS) {
		b->ops = &blk_uring_ops;
		int ret = b->ops->init(b);
		if (ret == 0)
			return 0;
		if (want == BLK_ENGINE_URING) {
			log_error("%s: io_uring unavailable: %s", b->path, strerror(-ret));
			return ret;
		}
		log_debug("%s: io_uring unavailable (%s), using threads", b->path, strerror(-ret));
	}
	b->ops = &blk_threads_ops;
	int ret = b->ops->init(b);
	if (ret < 0)
		log_error("%s: cannot start I/O threads: %s", b->path, strerror(-ret));
	return ret;
}

struct blk_backend *blk_open(const char *path, const struct blk_options *opts, struct loop *loop)
{
	static const struct blk_options defaults;
	if (!opts)
		opts = &defaults;
	bool direct = opts->cache == BLK_CACHE_NONE;
	int flags = (opts->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
	struct blk_backend *b = NULL;
	uint64_t size = 0;
	unsigned align = 1;
	struct stat st;
	int ret;

	if (!loop) {
		log_error("%s: no event loop for completions", path);
		return NULL;
	}
	int fd = open(path, flags);
	if (fd < 0) {
		if (errno == EINVAL && direct)
			log_error("%s: the filesystem does not support O_DIRECT (cache=none)", path);
		else
			log_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		log_error("%s: %s", path, strerror(errno));
		goto fail;
	}
	ret = image_size(fd, &st, &size);
	if (ret == -EINVAL) {
		log_error("%s: not a regular file or block device", path);
		goto fail;
	} else if (ret < 0) {
		log_error("%s: cannot get size: %s", path, strerror(-ret));
		goto fail;
	}
	pthread_mutex_lock(&open_lock);
	bool deferred = defer_locks;
	pthread_mutex_unlock(&open_lock);
	if (!deferred && lock_image(path, fd, opts->readonly) < 0)
		goto fail;
	if (size % BLK_SECTOR_SIZE) {
		log_error("%s: size %llu is not a multiple of %d bytes", path,
			  (unsigned long long)size, BLK_SECTOR_SIZE);
		goto fail;
	}
	if (direct) {
		ret = probe_direct_align(fd, size, &align);
		if (ret == -EINVAL) {
			log_error("%s: the filesystem does not support O_DIRECT (cache=none)", path);
			goto fail;
		} else if (ret < 0) {
			log_error("%s: %s", path, strerror(-ret));
			goto fail;
		}
	}

	b = calloc(1, sizeof(*b));
	if (!b || !(b->path = strdup(path))) {
		log_error("%s: out of memory", path);
		goto fail;
	}
	b->fd = fd;
	b->size = size;
	b->readonly = opts->readonly;
	b->align = align;
	b->loop = loop;
	b->locked = !deferred;
	if (start_engine(b, opts->engine) < 0)
		goto fail;
	pthread_mutex_lock(&open_lock);
	b->next_open = open_images;
	open_images = b;
	pthread_mutex_unlock(&open_lock);
	log_debug("%s: %llu bytes, %s engine%s", path, (unsigned long long)size, b->ops->name,
		  direct ? ", O_DIRECT" : "");
	return b;
fail:
	if (b)
		free(b->path);
	free(b);
	close(fd);
	return NULL;
}

void blk_close(struct blk_backend *b)
{
	if (!b)
		return;
	b->closing = true;
	pthread_mutex_lock(&open_lock);
	for (struct blk_backend **p = &open_images; *p; p = &(*p)->next_open)
		if (*p == b) {
			*p = b->next_open;
			break;
		}
	pthread_mutex_unlock(&open_lock);
	b->ops->fini(b);
	close(b->fd); /* drops the OFD lock */
	free(b->path);
	free(b);
}

void blk_defer_locks(bool defer)
{
	pthread_mutex_lock(&open_lock);
	defer_locks = defer;
	pthread_mutex_unlock(&open_lock);
}

int blk_images_lock(void)
{
	int ret = 0;
	pthread_mutex_lock(&open_lock);
	defer_locks = false;
	for (struct blk_backend *b = open_images; b && ret == 0; b = b->next_open)
		if (!b->locked && (ret = lock_image(b->path, b->fd, b->readonly)) == 0)
			b->locked = true;
	pthread_mutex_unlock(&open_lock);
	return ret;
}

int blk_images_unlock(void)
{
	int ret = 0;
	pthread_mutex_lock(&open_lock);
	for (struct blk_backend *b = open_images; b && ret == 0; b = b->next_open) {
		if (!b->locked)
			continue;
		/* What the guest was told is written reaches the image first:
		 * the next holder may be on another host. */
		if (!b->readonly && fdatasync(b->fd) < 0) {
			ret = -errno;
			log_error("%s: flushing it for the handover: %s", b->path, strerror(errno));
			break;
		}
		struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
		if (fcntl(b->fd, F_OFD_SETLK, &fl) == 0)
			b->locked = false;
	}
	pthread_mutex_unlock(&open_lock);
	return ret;
}

uint64_t blk_size(const struct blk_backend *b) { return b->size; }
static bool modifies(enum blk_op op)
{
	return op == BLK_WRITE || op == BLK_DISCARD || op == BLK_WRITE_ZEROES;
}
bool blk_readonly(const struct blk_backend *b) { return b->readonly; }
const char *blk_engine_name(const struct blk_backend *b) { return b->ops->name; }

/* [off, off+len) lies inside the image (overflow-safe) and, with O_DIRECT,
 * is aligned. len 0 is refused: no engine step can make progress on it. */
static int check_range(const struct blk_backend *b, uint64_t off, uint64_t len)
{
	if (len == 0 || off > b->size || len > b->size - off)
		return -EINVAL;
	if (off % b->align || len % b->align)
		return -EINVAL;
	return 0;
}

static int check_iov(const struct blk_backend *b, const struct blk_request *req, uint64_t *total)
{
	if (!req->iov || req->iovcnt < 1 || req->iovcnt > IOV_MAX)
		return -EINVAL;
	uint64_t sum = 0;
	for (int i = 0; i < req->iovcnt; i++) {
		const struct iovec *v = &req->iov[i];
		/* The result is an int; INT_MAX also stops the sum overflowing. */
		if (v->iov_len > INT_MAX - sum)
			return -EINVAL;
		if ((uintptr_t)v->iov_base % b->align || v->iov_len % b->align)
			return -EINVAL;
		sum += v->iov_len;
	}
	*total = sum;
	return 0;
}

int blk_submit(struct blk_backend *b, struct blk_request *req)
{
	uint64_t total = 0;
	int ret;

	if (!req || !req->complete)
		return -EINVAL;
	if (b->closing)
		return -ESHUTDOWN;
	if (modifies(req->op) && b->readonly)
		return -EROFS;
	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		ret = check_iov(b, req, &total);
		if (ret == 0)
			ret = check_range(b, req->offset, total);
		break;
	case BLK_FLUSH:
		ret = 0;
		break;
	case BLK_DISCARD:
	case BLK_WRITE_ZEROES:
		total = req->len;
		ret = check_range(b, req->offset, total);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0)
		return ret;

	req->priv = (struct blk_request_priv){.total = total};
	if (req->op == BLK_WRITE_ZEROES) {
		/* Skip fallocate modes this file already refused. */
		if (__atomic_load_n(&b->no_zero_range, __ATOMIC_RELAXED))
			req->priv.stage = __atomic_load_n(&b->no_punch, __ATOMIC_RELAXED) ? 2 : 1;
	}
	b->inflight++;
	if (req->op == BLK_FLUSH) {
		blk_flush_submit(b, req);
		return 0;
	}
	if (modifies(req->op))
		blk_flush_write_begin(b, req);
	b->ops->submit(b, req);
	return 0;
}

void blk_flush_submissions(struct blk_backend *b)
{
	if (b->ops->flush)
		b->ops->flush(b);
}

/* The part of the iovec not yet transferred: a tail of the caller's array,
 * or, mid-segment, the rest of that one segment (the next step picks up the
 * tail). Nothing is copied but one iovec. */
static void remaining_iov(struct blk_request *req, struct blk_step *s)
{
	uint64_t skip = req->priv.done;
	int i = 0;
	while (i < req->iovcnt - 1 && skip >= req->iov[i].iov_len)
		skip -= req->iov[i++].iov_len;
	if (skip) {
		req->priv.part.iov_base = (uint8_t *)req->iov[i].iov_base + skip;
		req->priv.part.iov_len = req->iov[i].iov_len - skip;
		s->iov = &req->priv.part;
		s->iovcnt = 1;
	} else {
		s->iov = req->iov + i;
		s->iovcnt = req->iovcnt - i;
	}
}

void blk_req_step(struct blk_backend *b, struct blk_request *req, struct blk_step *s)
{
	struct blk_request_priv *p = &req->priv;
	*s = (struct blk_step){.off = req->offset + p->done, .len = req->len};
	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		s->kind = req->op == BLK_READ ? BLK_STEP_READV : BLK_STEP_WRITEV;
		remaining_iov(req, s);
		break;
	case BLK_FLUSH:
		s->kind = BLK_STEP_FSYNC;
		blk_fsync_issued(b, req);
		break;
	case BLK_DISCARD:
		s->kind = BLK_STEP_FALLOCATE;
		s->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	case BLK_WRITE_ZEROES:
		if (p->stage < 2) {
			s->kind = BLK_STEP_FALLOCATE;
			s->mode = (p->stage == 0 ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) |
				  FALLOC_FL_KEEP_SIZE;
		} else {
			uint64_t left = p->total - p->done;
			p->part.iov_base = (void *)zero_buf;
			p->part.iov_len = left < sizeof(zero_buf) ? left : sizeof(zero_buf);
			s->kind = BLK_STEP_WRITEV;
			s->iov = &p->part;
			s->iovcnt = 1;
		}
		break;
	}
}

/* Bytes moved by a read/write step; true (with *result set on error) when
 * the request is finished. */
static bool advance_bytes(struct blk_request_priv *p, int res, int *result)
{
	*result = 0;
	if (res < 0) {
		*result = res;
		return true;
	}
	if (res == 0) {
		/* No progress: the file shrank under us, or the device is full. */
		*result = -EIO;
		return true;
	}
	p->done += (uint64_t)res;
	return p->done >= p->total;
}

bool blk_req_advance(struct blk_backend *b, struct blk_request *req, int res, int *result)
{
	struct blk_request_priv *p = &req->priv;
	if (res == -EINTR || res == -EAGAIN)
		return false; /* same step again */
	switch (req->op) {
	case BLK_FLUSH:
		return blk_fsync_done(b, req, res, result);
	case BLK_READ:
	case BLK_WRITE:
		if (!advance_bytes(p, res, result))
			return false;
		if (*result == 0)
			*result = (int)p->total; /* <= INT_MAX: checked at submit */
		return true;
	case BLK_DISCARD:
		/* Discard is a hint; a file that cannot punch holes keeps data. */
		*result = res == -EOPNOTSUPP ? 0 : res;
		return true;
	case BLK_WRITE_ZEROES:
		if (p->stage == 2)
			return advance_bytes(p, res, result);
		if (res == -EOPNOTSUPP) {
			__atomic_store_n(p->stage == 0 ? &b->no_zero_range : &b->no_punch, 1,
					 __ATOMIC_RELAXED);
			p->stage++;
			if (p->stage == 1 && __atomic_load_n(&b->no_punch, __ATOMIC_RELAXED))
				p->stage = 2;
			return false;
		}
		*result = res;
		return true;
	}
	*result = -EINVAL;
	return true;
}

void blk_req_complete(struct blk_backend *b, struct blk_request *req, int result)
{
	bool wrote = modifies(req->op);
	b->inflight--;
	if (wrote)
		blk_flush_write_end(b, req);
	req->complete(req, result);
	/* After the callback: a flush that waited for this write starts only
	 * once the write's own completion went out. */
	if (wrote)
		blk_flush_start(b);
}

void blk_set_batch_end(struct blk_backend *b, blk_batch_end_fn fn, void *opaque)
{
	b->batch_end = fn;
	b->batch_opaque = opaque;
}

void blk_batch_done(struct blk_backend *b)
{
	if (b->batch_end && !b->closing)
		b->batch_end(b->batch_opaque);
}
