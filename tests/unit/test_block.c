/* The raw-image block backend on both engines, against real files under
 * /var/tmp (O_DIRECT needs a real filesystem); and the request state machine
 * both share (short I/O, fallbacks, sticky flush errors) driven directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block.h"
#include "backends/block_engine.h"
#include "core/loop.h"

#define MIB (1024 * 1024)

struct ctx {
	enum blk_engine engine;
	struct loop *loop;
	char dir[64], path[128], errpath[128];
	int completed, expected;
	int batches, completed_at_batch; /* batch-end calls; completions seen by the last */
};

struct io {
	struct blk_request req;
	struct ctx *c;
	int calls, result;
};

static void io_done(struct blk_request *req, int result)
{
	struct io *io = req->opaque;
	io->calls++;
	io->result = result;
	if (++io->c->completed == io->c->expected)
		loop_stop(io->c->loop);
}

static void io_init(struct io *io, struct ctx *c, enum blk_op op, uint64_t off,
		    const struct iovec *iov, int iovcnt, uint64_t len)
{
	*io = (struct io){.c = c};
	io->req = (struct blk_request){.op = op, .offset = off, .iov = iov, .iovcnt = iovcnt,
				       .len = len, .complete = io_done, .opaque = io};
}

/* Runs the loop on this thread until n completions (in total) arrived. */
static void wait_for(struct ctx *c, int n)
{
	c->expected = n;
	if (c->completed < n)
		assert_int_equal(loop_run(c->loop), 0);
	assert_int_equal(c->completed, n);
}

/* One request, start to finish; returns its result. */
static int do_io(struct ctx *c, struct blk_backend *b, enum blk_op op, uint64_t off,
		 const struct iovec *iov, int iovcnt, uint64_t len)
{
	struct io io;
	io_init(&io, c, op, off, iov, iovcnt, len);
	assert_int_equal(blk_submit(b, &io.req), 0);
	blk_flush_submissions(b);
	wait_for(c, c->completed + 1);
	assert_int_equal(io.calls, 1);
	return io.result;
}

/* A submission that must be refused: returns blk_submit's answer. */
static int refused(struct ctx *c, struct blk_backend *b, enum blk_op op, uint64_t off,
		   const struct iovec *iov, int iovcnt, uint64_t len)
{
	struct io io;
	io_init(&io, c, op, off, iov, iovcnt, len);
	return blk_submit(b, &io.req);
}

static int rw(struct ctx *c, struct blk_backend *b, enum blk_op op, uint64_t off, void *p, size_t n)
{
	struct iovec v = {p, n};
	return do_io(c, b, op, off, &v, 1, 0);
}

static void make_image(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0); /* sparse */
	close(fd);
}

static struct blk_backend *open_img(struct ctx *c, const char *path, bool ro, enum blk_cache cache)
{
	struct blk_options o = {.readonly = ro, .cache = cache, .engine = c->engine};
	return blk_open(path, &o, c->loop);
}

/* Opens with stderr captured; returns the backend, *msg gets the log. */
static struct blk_backend *open_capture(struct ctx *c, const char *path, bool ro,
					enum blk_cache cache, char *msg, size_t msglen)
{
	fflush(stderr);
	int saved = dup(2), fd = open(c->errpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	struct blk_backend *b = open_img(c, path, ro, cache);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, msg, msglen - 1, 0);
	msg[n > 0 ? n : 0] = 0;
	close(fd);
	return b;
}

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->engine = *(enum blk_engine *)*state;
	strcpy(c->dir, "/var/tmp/iovirt-blk-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/disk.img", c->dir);
	snprintf(c->errpath, sizeof(c->errpath), "%s/stderr.txt", c->dir);
	c->loop = loop_create();
	assert_non_null(c->loop);
	alarm(60); /* a lost completion must fail the run, not hang it */
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];
	alarm(0);
	blk_fsync_hooks = NULL;
	loop_destroy(c->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
	free(c);
	return 0;
}

/* Open that must succeed; skips the io_uring runs where it is unavailable.
 * AUTO must pick one of the two. */
static struct blk_backend *open_ok(struct ctx *c, const char *path, bool ro)
{
	struct blk_backend *b = open_img(c, path, ro, BLK_CACHE_WRITEBACK);
	if (!b && c->engine == BLK_ENGINE_URING)
		skip();
	assert_non_null(b);
	const char *name = blk_engine_name(b);
	if (c->engine != BLK_ENGINE_AUTO)
		name = c->engine == BLK_ENGINE_URING ? "io_uring" : "threads";
	assert_string_equal(blk_engine_name(b), name);
	return b;
}

/* A fresh sparse image of size bytes, opened. */
static struct blk_backend *image(struct ctx *c, off_t size, bool ro)
{
	make_image(c->path, size);
	return open_ok(c, c->path, ro);
}

static void assert_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], 0);
}

static void file_read(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void test_rw_roundtrip(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, MIB, false);
	assert_true(blk_size(b) == MIB && !blk_readonly(b));

	/* Odd segment sizes: buffered I/O needs no alignment. */
	static uint8_t src[12345], dst[12345];
	fill_random(src, sizeof(src), 1);
	struct iovec w[3] = {{src, 100}, {src + 100, 5000}, {src + 5100, 7245}};
	struct io io;
	io_init(&io, c, BLK_WRITE, 4000, w, 3, 0);
	assert_int_equal(blk_submit(b, &io.req), 0);
	wait_for(c, 1); /* no blk_flush_submissions: the kick must suffice */
	assert_int_equal(io.result, (int)sizeof(src));

	struct iovec r[2] = {{dst, 7000}, {dst + 7000, 5345}};
	assert_int_equal(do_io(c, b, BLK_READ, 4000, r, 2, 0), (int)sizeof(dst));
	assert_memory_equal(src, dst, sizeof(src));
	assert_int_equal(do_io(c, b, BLK_FLUSH, 0, NULL, 0, 0), 0);
	blk_close(b);

	file_read(c->path, dst, sizeof(dst), 4000); /* it really is in the file */
	assert_memory_equal(src, dst, sizeof(src));
}

static void test_discard(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, 4 * MIB, false);
	uint8_t *buf = malloc(MIB);
	memset(buf, 0xab, MIB);
	assert_int_equal(rw(c, b, BLK_WRITE, MIB, buf, MIB), MIB);
	assert_int_equal(do_io(c, b, BLK_FLUSH, 0, NULL, 0, 0), 0);
	struct stat before, after;
	assert_int_equal(stat(c->path, &before), 0);
	assert_true(before.st_blocks >= MIB / 512);
	assert_int_equal(do_io(c, b, BLK_DISCARD, MIB, NULL, 0, MIB), 0);
	assert_int_equal(stat(c->path, &after), 0);
	assert_true(after.st_blocks <= before.st_blocks - MIB / 512);
	assert_int_equal(rw(c, b, BLK_READ, MIB, buf, MIB), MIB);
	assert_zero(buf, MIB);
	free(buf);
	blk_close(b);
}

static void test_write_zeroes(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, MIB, false);
	static uint8_t src[65536], dst[65536];
	fill_random(src, sizeof(src), 2);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] |= 1; /* no zero bytes: zeros below are the backend's */
	assert_int_equal(rw(c, b, BLK_WRITE, 0, src, sizeof(src)), (int)sizeof(src));
	assert_int_equal(do_io(c, b, BLK_WRITE_ZEROES, 4096, NULL, 0, 8192), 0);
	assert_int_equal(do_io(c, b, BLK_WRITE_ZEROES, 20000, NULL, 0, 1000), 0); /* unaligned */
	assert_int_equal(rw(c, b, BLK_READ, 0, dst, sizeof(dst)), (int)sizeof(dst));
	for (size_t i = 0; i < sizeof(dst); i++) {
		bool zeroed = (i >= 4096 && i < 12288) || (i >= 20000 && i < 21000);
		assert_int_equal(dst[i], zeroed ? 0 : src[i]);
	}
	assert_int_equal(blk_size(b), MIB); /* KEEP_SIZE */
	blk_close(b);
}

/* An open that must fail with exactly one line of log containing want. */
static void open_fails(struct ctx *c, const char *path, bool ro, const char *want)
{
	char msg[1024];
	assert_null(open_capture(c, path, ro, BLK_CACHE_WRITEBACK, msg, sizeof(msg)));
	assert_non_null(strstr(msg, want));
	assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);
}

static void test_readonly(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, MIB, true);
	assert_true(blk_readonly(b));
	uint8_t buf[512];
	struct iovec v = {buf, sizeof(buf)};
	assert_int_equal(refused(c, b, BLK_WRITE, 0, &v, 1, 0), -EROFS);
	assert_int_equal(refused(c, b, BLK_DISCARD, 0, NULL, 0, 512), -EROFS);
	assert_int_equal(refused(c, b, BLK_WRITE_ZEROES, 0, NULL, 0, 512), -EROFS);
	assert_int_equal(rw(c, b, BLK_READ, 0, buf, sizeof(buf)), 512);
	assert_int_equal(do_io(c, b, BLK_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(c->completed, 2); /* refused requests never complete */

	/* Readers share the image; a writer does not get it. */
	struct blk_backend *b2 = open_ok(c, c->path, true);
	open_fails(c, c->path, false, "locked by another process");
	blk_close(b2);
	blk_close(b);
}

static void test_out_of_range(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, MIB, false);
	static uint8_t buf[1024];
	struct iovec v = {buf, 1024};
	struct { enum blk_op op; uint64_t off; const struct iovec *iov; int cnt; uint64_t len; } bad[] = {
		{BLK_READ, MIB - 512, &v, 1, 0},       /* runs past the end */
		{BLK_WRITE, MIB, &v, 1, 0},            /* starts at the end */
		{BLK_READ, UINT64_MAX - 100, &v, 1, 0}, /* offset + len wraps */
		{BLK_READ, 0, &v, 0, 0},               /* no segments */
		{BLK_READ, 0, NULL, 1, 0},
		{BLK_WRITE, 0, &v, IOV_MAX + 1, 0},    /* too many segments (not read) */
		{BLK_DISCARD, 0, NULL, 0, 0},          /* empty */
		{BLK_DISCARD, MIB - 512, NULL, 0, 1024},
		{BLK_WRITE_ZEROES, 512, NULL, 0, UINT64_MAX},
		{(enum blk_op)99, 0, NULL, 0, 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(refused(c, b, bad[i].op, bad[i].off, bad[i].iov, bad[i].cnt,
					 bad[i].len), -EINVAL);
	struct io io;
	io_init(&io, c, BLK_READ, 0, &v, 1, 0);
	io.req.complete = NULL;
	assert_int_equal(blk_submit(b, &io.req), -EINVAL);
	assert_int_equal(c->completed, 0);
	/* The last sector is in range. */
	assert_int_equal(rw(c, b, BLK_READ, MIB - 512, buf, 512), 512);
	blk_close(b);
}

static void test_open_errors(void **state)
{
	struct ctx *c = *state;
	char want[256], missing[160];

	make_image(c->path, 1000);
	snprintf(want, sizeof(want), "%s: size 1000 is not a multiple of 512 bytes", c->path);
	open_fails(c, c->path, false, want);

	snprintf(missing, sizeof(missing), "%s/nope.img", c->dir);
	snprintf(want, sizeof(want), "%s: No such file or directory", missing);
	open_fails(c, missing, false, want);

	struct blk_backend *b = image(c, MIB, false);
	snprintf(want, sizeof(want), "%s: locked by another process (is another iovirt using it?)",
		 c->path);
	open_fails(c, c->path, false, want);
	open_fails(c, c->path, true, want); /* readers too */
	blk_close(b);
	blk_close(open_ok(c, c->path, false)); /* closing released the lock */
}

#define NREQ 512 /* more than the io_uring queue depth */

static void test_many_inflight(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, NREQ * 4096, false);
	uint8_t *buf = malloc(NREQ * 4096);
	struct iovec *v = calloc(NREQ, sizeof(*v));
	struct io *io = calloc(NREQ, sizeof(*io));
	/* Write, read back, then write again and close without running the
	 * loop: blk_close must deliver every callback itself. */
	for (int pass = 0; pass < 3; pass++) {
		enum blk_op op = pass == 1 ? BLK_READ : BLK_WRITE;
		for (int i = 0; i < NREQ; i++)
			memset(buf + i * 4096, pass == 0 ? i & 0xff : pass == 1 ? 0 : ~i & 0xff, 4096);
		int base = c->completed;
		for (int i = 0; i < NREQ; i++) {
			v[i] = (struct iovec){buf + i * 4096, 4096};
			io_init(&io[i], c, op, (uint64_t)i * 4096, &v[i], 1, 0);
			assert_int_equal(blk_submit(b, &io[i].req), 0);
		}
		if (pass < 2) {
			blk_flush_submissions(b);
			wait_for(c, base + NREQ);
		} else {
			c->expected = -1;
			blk_close(b);
			assert_int_equal(c->completed, base + NREQ);
		}
		for (int i = 0; i < NREQ; i++) {
			assert_int_equal(io[i].calls, 1);
			assert_int_equal(io[i].result, 4096);
		}
		if (pass == 1)
			for (int i = 0; i < NREQ * 4096; i++)
				assert_int_equal(buf[i], (i / 4096) & 0xff);
	}
	uint8_t back[4096];
	file_read(c->path, back, 4096, (NREQ - 1) * 4096);
	assert_int_equal(back[4095], ~(NREQ - 1) & 0xff);
	free(io);
	free(v);
	free(buf);
}

static void count_batch(void *opaque)
{
	struct ctx *c = opaque;
	c->batches++;
	c->completed_at_batch = c->completed;
}

/* The engines end each batch of completions with the batch-end callback
 * (devices notify their guest there): the last completion is always
 * followed by one; blk_close delivers what is left without it. */
static void test_batch_end(void **state)
{
	struct ctx *c = *state;
	enum { N = 64 };
	struct blk_backend *b = image(c, N * 4096, false);
	blk_set_batch_end(b, count_batch, c);
	uint8_t *buf = calloc(N, 4096);
	struct iovec v[N];
	struct io io[N];
	for (int i = 0; i < N; i++) {
		v[i] = (struct iovec){buf + i * 4096, 4096};
		io_init(&io[i], c, BLK_WRITE, (uint64_t)i * 4096, &v[i], 1, 0);
		assert_int_equal(blk_submit(b, &io[i].req), 0);
	}
	blk_flush_submissions(b);
	wait_for(c, N);
	assert_true(c->batches >= 1);
	assert_int_equal(c->completed_at_batch, N);
	int batches = c->batches;
	for (int i = 0; i < 4; i++) {
		io_init(&io[i], c, BLK_READ, (uint64_t)i * 4096, &v[i], 1, 0);
		assert_int_equal(blk_submit(b, &io[i].req), 0);
	}
	c->expected = -1;
	blk_close(b);
	assert_int_equal(c->completed, N + 4);
	assert_int_equal(c->batches, batches);
	free(buf);
}

static void test_direct(void **state)
{
	struct ctx *c = *state;
	char msg[1024];
	make_image(c->path, MIB);
	struct blk_backend *b = open_capture(c, c->path, false, BLK_CACHE_NONE, msg, sizeof(msg));
	if (!b) {
		print_message("O_DIRECT unavailable here, skipped: %s", msg);
		assert_true(strstr(msg, "O_DIRECT") || c->engine == BLK_ENGINE_URING);
		skip();
	}
	static _Alignas(4096) uint8_t src[8192], dst[8192];
	fill_random(src, 8192, 3);
	struct iovec w[2] = {{src, 4096}, {src + 4096, 4096}};
	assert_int_equal(do_io(c, b, BLK_WRITE, 8192, w, 2, 0), 8192);
	assert_int_equal(do_io(c, b, BLK_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(rw(c, b, BLK_READ, 8192, dst, 8192), 8192);
	assert_memory_equal(src, dst, 8192);
	assert_int_equal(do_io(c, b, BLK_WRITE_ZEROES, 8192, NULL, 0, 4096), 0);
	assert_int_equal(rw(c, b, BLK_READ, 8192, dst, 4096), 4096);
	assert_zero(dst, 4096);
	struct iovec odd_off = {dst, 4096}, odd_buf = {dst + 1, 4096}, odd_len = {dst, 100}; /* refused */
	assert_int_equal(refused(c, b, BLK_READ, 100, &odd_off, 1, 0), -EINVAL);
	assert_int_equal(refused(c, b, BLK_READ, 0, &odd_buf, 1, 0), -EINVAL);
	assert_int_equal(refused(c, b, BLK_READ, 0, &odd_len, 1, 0), -EINVAL);
	assert_int_equal(refused(c, b, BLK_DISCARD, 512, NULL, 0, 100), -EINVAL);
	blk_close(b);
}

/* Fault injection at the fdatasync seam: counts the calls and how many
 * were in flight at once; the fail_nth result to arrive is -EIO, 50 ms
 * late (the kernel reports a writeback error to one fdatasync only). */
static struct {
	int fail_nth;
	const struct io *write; /* whose completions the first call saw */
	int issued, results, in_flight, max_in_flight, write_calls_at_issue;
} fs;

static void fsync_issued(struct blk_backend *b, const struct blk_request *req)
{
	int n = __atomic_add_fetch(&fs.in_flight, 1, __ATOMIC_SEQ_CST);
	int max = __atomic_load_n(&fs.max_in_flight, __ATOMIC_SEQ_CST);
	while (n > max && !__atomic_compare_exchange_n(&fs.max_in_flight, &max, n, false,
						       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	if (__atomic_add_fetch(&fs.issued, 1, __ATOMIC_SEQ_CST) == 1 && fs.write)
		fs.write_calls_at_issue = __atomic_load_n(&fs.write->calls, __ATOMIC_SEQ_CST);
}

static int fsync_result(struct blk_backend *b, const struct blk_request *req, int res)
{
	if (__atomic_add_fetch(&fs.results, 1, __ATOMIC_SEQ_CST) == fs.fail_nth) {
		usleep(50 * 1000);
		res = -EIO;
	}
	__atomic_sub_fetch(&fs.in_flight, 1, __ATOMIC_SEQ_CST);
	return res;
}

static const struct blk_fsync_hooks fault_hooks = {fsync_issued, fsync_result};

static void inject_fsync_failure(int nth, const struct io *write)
{
	memset(&fs, 0, sizeof(fs));
	fs.fail_nth = nth;
	fs.write = write;
	blk_fsync_hooks = &fault_hooks;
}

/* A write, then two flushes at once, and the first fdatasync fails: both
 * flushes fail (the second may not take the word of an fdatasync that
 * overlapped the failed one), and so does every later one. The flushes'
 * fdatasync starts after the write completed. */
static void test_flush_error_fails_every_flush(void **state)
{
	struct ctx *c = *state;
	struct blk_backend *b = image(c, MIB, false);
	static uint8_t buf[4096];
	struct iovec v = {buf, sizeof(buf)};
	struct io w, f[2];
	io_init(&w, c, BLK_WRITE, 0, &v, 1, 0);
	inject_fsync_failure(1, &w);
	assert_int_equal(blk_submit(b, &w.req), 0);
	for (int i = 0; i < 2; i++) {
		io_init(&f[i], c, BLK_FLUSH, 0, NULL, 0, 0);
		assert_int_equal(blk_submit(b, &f[i].req), 0);
	}
	blk_flush_submissions(b);
	wait_for(c, 3);
	assert_int_equal(w.result, 4096);
	assert_int_equal(f[0].result, -EIO);
	assert_int_equal(f[1].result, -EIO);
	assert_int_equal(fs.max_in_flight, 1);
	assert_int_equal(fs.write_calls_at_issue, 1);
	assert_int_equal(do_io(c, b, BLK_FLUSH, 0, NULL, 0, 0), -EIO);
	blk_close(b);
}

/* Flushes that arrive while an fdatasync is in flight wait for the next
 * one: eight at once take two fdatasyncs, and when the second fails only
 * the seven that waited for it fail. blk_close delivers a flush still
 * waiting for a write. */
static void test_flush_waits_for_next_fdatasync(void **state)
{
	struct ctx *c = *state;
	enum { N = 8 };
	struct blk_backend *b = image(c, MIB, false);
	inject_fsync_failure(2, NULL);
	struct io f[N];
	for (int i = 0; i < N; i++) {
		io_init(&f[i], c, BLK_FLUSH, 0, NULL, 0, 0);
		assert_int_equal(blk_submit(b, &f[i].req), 0);
	}
	blk_flush_submissions(b);
	wait_for(c, N);
	assert_int_equal(fs.issued, 2);
	assert_int_equal(fs.max_in_flight, 1);
	assert_int_equal(f[0].result, 0);
	for (int i = 1; i < N; i++)
		assert_int_equal(f[i].result, -EIO);

	static uint8_t buf[4096];
	struct iovec v = {buf, sizeof(buf)};
	struct io w;
	io_init(&w, c, BLK_WRITE, 0, &v, 1, 0);
	io_init(&f[0], c, BLK_FLUSH, 0, NULL, 0, 0);
	assert_int_equal(blk_submit(b, &w.req), 0);
	assert_int_equal(blk_submit(b, &f[0].req), 0);
	c->expected = -1;
	blk_close(b);
	assert_int_equal(w.calls, 1);
	assert_int_equal(f[0].calls, 1);
	assert_int_equal(f[0].result, -EIO);
}

/* Steps req once, checks the step (first segment's base and length when
 * given), then feeds it res; returns whether req finished. */
static bool step(struct blk_backend *b, struct blk_request *req, enum blk_step_kind kind,
		 uint64_t off, const void *base, size_t len, int res, int *result)
{
	struct blk_step s;
	blk_req_step(b, req, &s);
	assert_int_equal(s.kind, kind);
	assert_int_equal(s.off, off);
	if (base)
		assert_ptr_equal(s.iov[0].iov_base, base);
	if (len)
		assert_int_equal(s.iov[0].iov_len, len);
	return blk_req_advance(b, req, res, result);
}

/* The state machine, fed made-up results: short transfers resume at the
 * right place, EINTR retries, no progress is an error. */
static void test_state_machine(void **state)
{
	struct blk_backend fb = {.size = MIB, .align = 1};
	static uint8_t a[100], bb[200], cc[300];
	struct iovec v[3] = {{a, 100}, {bb, 200}, {cc, 300}};
	struct blk_request req = {.op = BLK_READ, .offset = 1000, .iov = v, .iovcnt = 3,
				  .priv.total = 600};
	int result = 1;
	assert_false(step(&fb, &req, BLK_STEP_READV, 1000, a, 100, 150, &result)); /* ends in bb */
	assert_false(step(&fb, &req, BLK_STEP_READV, 1150, bb + 50, 150, -EINTR, &result));
	assert_false(step(&fb, &req, BLK_STEP_READV, 1150, bb + 50, 150, 150, &result));
	assert_true(step(&fb, &req, BLK_STEP_READV, 1300, cc, 300, 300, &result));
	assert_int_equal(result, 600);

	req.priv = (struct blk_request_priv){.total = 600};
	assert_false(blk_req_advance(&fb, &req, 100, &result));
	assert_true(blk_req_advance(&fb, &req, 0, &result));
	assert_int_equal(result, -EIO);

	/* Write-zeroes falls back zero-range -> punch -> writing zeros, and
	 * remembers what the file refused. */
	struct blk_request z = {.op = BLK_WRITE_ZEROES, .len = 100000, .priv.total = 100000};
	assert_false(step(&fb, &z, BLK_STEP_FALLOCATE, 0, NULL, 0, -EOPNOTSUPP, &result));
	assert_false(step(&fb, &z, BLK_STEP_FALLOCATE, 0, NULL, 0, -EOPNOTSUPP, &result));
	assert_true(fb.no_zero_range && fb.no_punch);
	assert_false(step(&fb, &z, BLK_STEP_WRITEV, 0, NULL, 65536, 65536, &result));
	assert_true(step(&fb, &z, BLK_STEP_WRITEV, 65536, NULL, 34464, 34464, &result));
	assert_int_equal(result, 0);

	/* Discard is a hint; after a failed fdatasync no later flush may
	 * claim success (the kernel may have dropped the dirty pages). */
	struct blk_request d = {.op = BLK_DISCARD, .len = 512, .priv.total = 512};
	assert_true(blk_req_advance(&fb, &d, -EOPNOTSUPP, &result));
	assert_int_equal(result, 0);

	struct blk_request f = {.op = BLK_FLUSH};
	assert_true(blk_req_advance(&fb, &f, 0, &result));
	assert_int_equal(result, 0);
	assert_true(blk_req_advance(&fb, &f, -EIO, &result));
	assert_true(blk_req_advance(&fb, &f, 0, &result));
	assert_int_equal(result, -EIO);
}

static enum blk_engine eng_auto = BLK_ENGINE_AUTO;
static enum blk_engine eng_uring = BLK_ENGINE_URING, eng_threads = BLK_ENGINE_THREADS;

/* Every file-backed test once per engine, named after it. */
#define BOTH(fn)                                                      \
	{#fn "/io_uring", fn, setup, teardown, &eng_uring},           \
	{#fn "/threads", fn, setup, teardown, &eng_threads}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_rw_roundtrip),
		BOTH(test_discard),
		BOTH(test_write_zeroes),
		BOTH(test_readonly),
		BOTH(test_out_of_range),
		BOTH(test_open_errors),
		BOTH(test_many_inflight),
		BOTH(test_batch_end),
		BOTH(test_direct),
		BOTH(test_flush_error_fails_every_flush),
		BOTH(test_flush_waits_for_next_fdatasync),
		{"test_rw_roundtrip/auto", test_rw_roundtrip, setup, teardown, &eng_auto},
		cmocka_unit_test(test_state_machine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
