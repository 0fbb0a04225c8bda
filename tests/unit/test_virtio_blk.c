/* virtio-blk against fake guest RAM, real split rings built in it, a fake
 * transport and a real temporary image: requests go through the ring to the
 * backend and back (virtio 1.x §5.2.6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>

#include "support/loop_wait.h"
#include "support/virtio_drv.h"
#include "virtio/blk.h"

#define RAM_SIZE (1u << 20)
#define IMG_SIZE (1u << 20)
#define IMG_SECTORS (IMG_SIZE / 512)
#define SERIAL "iovirt-serial-01"

struct ctx {
	char path[64];
	struct virtio_drv drv; /* fake RAM, fake transport, the ring */
	struct loop *loop;
	int tick_fd;
	struct virtio_blk *blk;
	struct virtio_dev *vdev;
	bool no_merge;         /* open with merge=off */
};

static void on_tick(void *opaque, uint32_t events);

static uint64_t alloc_buf(struct ctx *c, uint32_t len) { return fake_ram_alloc(&c->drv.ram, len); }

static void *hva(struct ctx *c, uint64_t gpa) { return fake_ram_ptr(&c->drv.ram, gpa); }

/* Driver side: reset, then activate with the given features and one queue. */
static void activate(struct ctx *c, uint64_t features, uint16_t qsize)
{
	virtio_drv_reset(c->vdev);
	virtio_drv_start(&c->drv, c->vdev, features, 1, qsize);
}

static int open_dev(struct ctx *c, bool readonly, enum blk_engine engine)
{
	struct virtio_blk_options o = {.path = c->path, .readonly = readonly, .serial = SERIAL,
				       .engine = engine, .no_merge = c->no_merge};
	c->blk = virtio_blk_create(&o, &c->drv.ram.mem, c->loop);
	if (!c->blk)
		return -1;
	c->vdev = virtio_blk_dev(c->blk);
	fake_transport_attach(&c->drv.tr, c->vdev);
	activate(c, c->vdev->device_features, 64);
	return 0;
}

static int setup_engine(void **state, bool readonly, enum blk_engine engine, bool no_merge)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->no_merge = no_merge;
	strcpy(c->path, "/var/tmp/iovirt-vblk-XXXXXX");
	int fd = mkstemp(c->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	virtio_drv_init(&c->drv, RAM_SIZE);
	c->loop = loop_create();
	assert_non_null(c->loop);
	c->tick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(c->tick_fd >= 0);
	assert_int_equal(loop_add_fd(c->loop, c->tick_fd, EPOLLIN, on_tick, c), 0);
	assert_int_equal(open_dev(c, readonly, engine), 0);
	*state = c;
	return 0;
}

static int setup(void **state) { return setup_engine(state, false, BLK_ENGINE_AUTO, false); }
/* The thread-pool engine too: completions from other threads. */
static int setup_threads(void **state)
{
	return setup_engine(state, false, BLK_ENGINE_THREADS, false);
}
static int setup_ro(void **state) { return setup_engine(state, true, BLK_ENGINE_AUTO, false); }
static int setup_nomerge(void **state) { return setup_engine(state, false, BLK_ENGINE_AUTO, true); }

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_blk_destroy(c->blk);
	loop_destroy(c->loop);
	close(c->tick_fd);
	unlink(c->path);
	virtio_drv_destroy(&c->drv);
	free(c);
	return 0;
}

static void on_tick(void *opaque, uint32_t events)
{
	struct ctx *c = opaque;
	uint64_t v;
	assert_int_equal(read(c->tick_fd, &v, sizeof(v)), sizeof(v));
	loop_stop(c->loop);
}

/* Runs the loop until every backend request completed (10 s at most). Each
 * turn handles one whole batch of events: the tick's handler stops the loop
 * after the batch (stopping first could starve the backend's fd). */
static void drain(struct ctx *c)
{
	time_t end = time(NULL) + 10;
	uint64_t one = 1;
	while (virtio_blk_inflight(c->blk)) {
		assert_true(time(NULL) < end);
		assert_int_equal(write(c->tick_fd, &one, sizeof(one)), sizeof(one));
		assert_int_equal(loop_run(c->loop), 0);
	}
}

static uint16_t used_idx(struct ctx *c) { return drv_ring_used_idx(&c->drv.vq[0]); }

/* The next used entry: asserts its head, returns its len. */
static uint32_t next_used(struct ctx *c, uint16_t head)
{
	struct drv_ring *r = &c->drv.vq[0];
	uint32_t id, len;
	assert_true(drv_ring_pop_used(r, &id, &len));
	assert_int_equal(id, head);
	/* Like Linux: interrupt me for the next one (used_event, §2.7.10). */
	drv_ring_set_used_event(r, r->used_seen);
	return len;
}

static uint64_t header(struct ctx *c, uint32_t type, uint64_t sector)
{
	uint64_t g = alloc_buf(c, 16);
	*(struct virtio_blk_outhdr *)hva(c, g) = (struct virtio_blk_outhdr){type, 0, sector};
	return g;
}

/* One request: header, one data buffer (or none), status. Returns the
 * status byte; *used gets used.len. */
static uint8_t request(struct ctx *c, uint32_t type, uint64_t sector, uint64_t data,
		       uint32_t len, uint32_t *used)
{
	uint64_t st = alloc_buf(c, 1);
	*(uint8_t *)hva(c, st) = 0xff;
	struct drv_seg b[3] = {{header(c, type, sector), 16, false}};
	unsigned n = 1;
	if (len)
		b[n++] = (struct drv_seg){data, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID};
	b[n++] = (struct drv_seg){st, 1, true};
	uint16_t head = drv_ring_add(&c->drv.vq[0], b, n);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	uint32_t l = next_used(c, head);
	if (used)
		*used = l;
	return *(uint8_t *)hva(c, st);
}

static uint64_t pattern(struct ctx *c, uint32_t len, uint8_t seed)
{
	uint64_t g = alloc_buf(c, len);
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)hva(c, g))[i] = (uint8_t)(seed + i * 7);
	return g;
}

static void test_config_and_features(void **state)
{
	struct ctx *c = *state;
	struct virtio_blk_config cfg;
	pthread_mutex_lock(&c->vdev->lock);
	c->vdev->ops->config_read(c->vdev, 0, (uint8_t *)&cfg, sizeof(cfg));
	pthread_mutex_unlock(&c->vdev->lock);
	assert_int_equal(cfg.capacity, IMG_SECTORS);
	assert_int_equal(cfg.blk_size, 512);
	assert_int_equal(cfg.seg_max, VIRTIO_BLK_QUEUE_SIZE - 2);
	assert_int_equal(cfg.max_discard_seg, 1);
	assert_int_equal(c->vdev->config_size, sizeof(cfg));
	uint64_t f = c->vdev->device_features, want = (1ULL << VIRTIO_F_VERSION_1) |
		(1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
		(1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
		(1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_BLK_F_SEG_MAX);
	assert_int_equal(f & want, want);
	assert_false(f & ((1ULL << VIRTIO_BLK_F_RO) | (1ULL << VIRTIO_BLK_F_MQ)));
}

static void test_write_read_back(void **state)
{
	struct ctx *c = *state;
	uint32_t used;
	uint64_t w = pattern(c, 2048, 1);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 10, w, 2048, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	/* On disk. */
	uint8_t file[2048];
	FILE *f = fopen(c->path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 10 * 512, SEEK_SET), 0);
	assert_int_equal(fread(file, 1, sizeof(file), f), sizeof(file));
	fclose(f);
	assert_memory_equal(file, hva(c, w), 2048);
	/* Back through the ring, into two writable buffers. */
	uint64_t r1 = alloc_buf(c, 512), r2 = alloc_buf(c, 1536), st = alloc_buf(c, 1);
	struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_IN, 10), 16, false},
			  {r1, 512, true}, {r2, 1536, true}, {st, 1, true}};
	uint16_t head = drv_ring_add(&c->drv.vq[0], b, 4);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	assert_int_equal(next_used(c, head), 2049);
	assert_int_equal(*(uint8_t *)hva(c, st), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(c, r1), hva(c, w), 512);
	assert_memory_equal(hva(c, r2), (uint8_t *)hva(c, w) + 512, 1536);
	assert_int_equal(c->drv.tr.queue_signals, 2);
}

/* Queues a request without kicking; returns its head and its status address. */
static uint16_t queue_request(struct ctx *c, uint32_t type, uint64_t sector, uint64_t data,
			      uint32_t len, uint64_t *st)
{
	*st = alloc_buf(c, 1);
	*(uint8_t *)hva(c, *st) = 0xff;
	struct drv_seg b[] = {{header(c, type, sector), 16, false},
			      {data, len, type == VIRTIO_BLK_T_IN}, {*st, 1, true}};
	return drv_ring_add(&c->drv.vq[0], b, 3);
}

/* Pops n used entries, in whatever order the backend finished them, and
 * checks each head of heads[] came back once with used.len want_len. */
static void expect_used(struct ctx *c, const uint16_t *heads, int n, uint32_t want_len)
{
	bool seen[8] = {false};
	assert_true(n <= 8);
	for (int k = 0; k < n; k++) {
		struct drv_ring *r = &c->drv.vq[0];
		uint32_t id, len;
		assert_true(drv_ring_pop_used(r, &id, &len));
		drv_ring_set_used_event(r, r->used_seen);
		int i = 0;
		while (i < n && (heads[i] != id || seen[i]))
			i++;
		assert_true(i < n);
		seen[i] = true;
		assert_int_equal(len, want_len);
	}
}

/* Writes n patterned buffers of len bytes (their addresses to w[]) at
 * sectors[], in one kick; every status OK. */
static void write_all(struct ctx *c, int n, const uint64_t *sectors, uint32_t len, uint64_t *w)
{
	uint64_t st[16];
	uint16_t head[16];
	assert_true(n <= 16);
	for (int i = 0; i < n; i++) {
		w[i] = pattern(c, len, (uint8_t)(i * 40 + 3));
		head[i] = queue_request(c, VIRTIO_BLK_T_OUT, sectors[i], w[i], len, &st[i]);
	}
	fake_transport_notify(c->vdev, 0);
	drain(c);
	expect_used(c, head, n, 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(*(uint8_t *)hva(c, st[i]), VIRTIO_BLK_S_OK);
}

/* Reads the n buffers of write_all back in one kick: statuses OK, used
 * lengths len + 1, data as written. */
static void read_back(struct ctx *c, int n, const uint64_t *sectors, uint32_t len,
		      const uint64_t *w)
{
	uint64_t rd[16], rst[16];
	uint16_t head[16];
	assert_true(n <= 16);
	for (int i = 0; i < n; i++) {
		rd[i] = alloc_buf(c, len);
		head[i] = queue_request(c, VIRTIO_BLK_T_IN, sectors[i], rd[i], len, &rst[i]);
	}
	fake_transport_notify(c->vdev, 0);
	drain(c);
	expect_used(c, head, n, len + 1);
	for (int i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)hva(c, rst[i]), VIRTIO_BLK_S_OK);
		assert_memory_equal(hva(c, rd[i]), hva(c, w[i]), len);
	}
}

/* Requests that continue one another, popped in one kick, reach the backend
 * merged; each still gets its own data, status and used entry; a
 * request elsewhere on the disk, or of the other direction, breaks a group. */
static void test_sequential_requests_merge(void **state)
{
	struct ctx *c = *state;
	enum { N = 6, LEN = 4096 };
	uint64_t w[N], st[N], rd[2];
	uint16_t head[2];
	/* Writes at sectors 100, 108, 116, 124 (a run), 300 (apart), 132. */
	const uint64_t sector[N] = {100, 108, 116, 124, 300, 132};
	write_all(c, N, sector, LEN, w);
	uint64_t merged = virtio_blk_merged(c->blk);
	assert_int_equal(merged, 4); /* the first four went as one I/O */
	/* Read them all back in one kick: again merged where adjacent. */
	read_back(c, N, sector, LEN, w);
	assert_int_equal(virtio_blk_merged(c->blk), merged + 4);
	/* A write then a read of the next sectors: different directions, no merge. */
	rd[1] = alloc_buf(c, LEN);
	head[0] = queue_request(c, VIRTIO_BLK_T_OUT, 500, w[0], LEN, &st[0]);
	head[1] = queue_request(c, VIRTIO_BLK_T_IN, 508, rd[1], LEN, &st[1]);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	uint16_t h0 = head[0], h1 = head[1];
	struct drv_ring *r = &c->drv.vq[0];
	for (int k = 0; k < 2; k++) {
		uint32_t id, len;
		assert_true(drv_ring_pop_used(r, &id, &len));
		drv_ring_set_used_event(r, r->used_seen);
		assert_true(id == h0 || id == h1);
		assert_int_equal(len, id == h0 ? 1 : LEN + 1);
	}
	assert_int_equal(virtio_blk_merged(c->blk), merged + 4);
}

/* merge=off: adjacent requests each go as their own I/O, with the same
 * data and statuses. */
static void test_merge_off(void **state)
{
	struct ctx *c = *state;
	enum { N = 4, LEN = 4096 };
	const uint64_t sector[N] = {100, 108, 116, 124};
	uint64_t w[N];
	write_all(c, N, sector, LEN, w);
	read_back(c, N, sector, LEN, w);
	assert_int_equal(virtio_blk_merged(c->blk), 0);
}

/* A merged group past the end of the disk: its requests fail alone, the
 * rest of the group still succeed. */
static void test_merged_group_with_a_bad_request(void **state)
{
	struct ctx *c = *state;
	uint64_t st[3], d = pattern(c, 4096, 9);
	uint16_t h0 = queue_request(c, VIRTIO_BLK_T_OUT, IMG_SECTORS - 16, d, 4096, &st[0]);
	uint16_t h1 = queue_request(c, VIRTIO_BLK_T_OUT, IMG_SECTORS - 8, d, 4096, &st[1]);
	uint16_t h2 = queue_request(c, VIRTIO_BLK_T_OUT, IMG_SECTORS, d, 4096, &st[2]);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	/* The out-of-range one completes first (at once, never submitted). */
	assert_int_equal(next_used(c, h2), 1);
	assert_int_equal(*(uint8_t *)hva(c, st[2]), VIRTIO_BLK_S_IOERR);
	const uint16_t rest[] = {h0, h1};
	expect_used(c, rest, 2, 1);
	assert_int_equal(*(uint8_t *)hva(c, st[0]), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)hva(c, st[1]), VIRTIO_BLK_S_OK);
}

static void test_write_through_without_flush_feature(void **state)
{
	struct ctx *c = *state;
	activate(c, c->vdev->device_features & ~(1ULL << VIRTIO_BLK_F_FLUSH), 64);
	uint64_t w = pattern(c, 512, 9), r = alloc_buf(c, 512);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 0, w, 512, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, r, 512, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(c, r), hva(c, w), 512);
}

static void test_flush(void **state)
{
	struct ctx *c = *state;
	uint32_t used;
	assert_int_equal(request(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
}

static void test_get_id(void **state)
{
	struct ctx *c = *state;
	uint32_t used;
	uint64_t id = alloc_buf(c, 20);
	memset(hva(c, id), 0xaa, 20);
	assert_int_equal(request(c, VIRTIO_BLK_T_GET_ID, 0, id, 20, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	char want[20] = SERIAL;
	assert_memory_equal(hva(c, id), want, 20);
}

static uint64_t dwz_seg(struct ctx *c, uint64_t sector, uint32_t n, uint32_t flags)
{
	uint64_t g = alloc_buf(c, 16);
	*(struct virtio_blk_discard_write_zeroes *)hva(c, g) =
		(struct virtio_blk_discard_write_zeroes){sector, n, flags};
	return g;
}

static void test_discard(void **state)
{
	struct ctx *c = *state;
	uint64_t w = pattern(c, 4096, 3);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 64, w, 4096, NULL), VIRTIO_BLK_S_OK);
	uint64_t s = dwz_seg(c, 64, 8, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 16, NULL), VIRTIO_BLK_S_OK);
	/* §5.2.6.2: UNMAP on a discard, unknown flags, too many segments. */
	s = dwz_seg(c, 64, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 16, NULL), VIRTIO_BLK_S_UNSUPP);
	s = dwz_seg(c, 64, 8, 0x80);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 16, NULL), VIRTIO_BLK_S_UNSUPP);
	s = alloc_buf(c, 32);
	memset(hva(c, s), 0, 32);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 32, NULL), VIRTIO_BLK_S_UNSUPP);
	s = dwz_seg(c, IMG_SECTORS - 4, 8, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 16, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, s, 8, NULL), VIRTIO_BLK_S_IOERR);
}

static void test_write_zeroes(void **state)
{
	struct ctx *c = *state;
	uint64_t w = pattern(c, 8192, 5), r = alloc_buf(c, 8192);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 100, w, 8192, NULL), VIRTIO_BLK_S_OK);
	uint64_t s = dwz_seg(c, 101, 3, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 16, NULL), VIRTIO_BLK_S_OK);
	s = dwz_seg(c, 108, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(request(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 16, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 100, r, 8192, NULL), VIRTIO_BLK_S_OK);
	uint8_t *got = hva(c, r), *orig = hva(c, w);
	static const uint8_t zero[4096];
	assert_memory_equal(got, orig, 512);
	assert_memory_equal(got + 512, zero, 3 * 512);
	assert_memory_equal(got + 2048, orig + 2048, 2048);
	assert_memory_equal(got + 4096, zero, 4096);
}

static void test_out_of_range_and_bad_length(void **state)
{
	struct ctx *c = *state;
	uint64_t d = alloc_buf(c, 1024);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, d, 1024, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, IMG_SECTORS, d, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, UINT64_MAX, d, 512, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, UINT64_MAX / 512, d, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, d, 700, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 0, d, 100, NULL), VIRTIO_BLK_S_IOERR);
	/* The last sector itself is fine; so is an empty transfer. */
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, d, 512, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, IMG_SECTORS, 0, 0, NULL), VIRTIO_BLK_S_OK);
	assert_true(c->vdev->live);
}

/* A backend failure (here the image shrank under us: reads make no progress)
 * is an I/O error for that request only. */
static void test_backend_error_is_ioerr(void **state)
{
	struct ctx *c = *state;
	uint64_t d = alloc_buf(c, 4096);
	assert_int_equal(truncate(c->path, 4096), 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 64, d, 4096, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, d, 4096, NULL), VIRTIO_BLK_S_OK);
	assert_true(c->vdev->live);
}

static void test_unsupported_type(void **state)
{
	struct ctx *c = *state;
	uint32_t used;
	assert_int_equal(request(c, 0x55, 0, 0, 0, &used), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(used, 1);
	assert_int_equal(request(c, VIRTIO_BLK_T_SCSI_CMD, 0, 0, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_true(c->vdev->live);
}

static void test_readonly(void **state)
{
	struct ctx *c = *state;
	uint64_t f = c->vdev->device_features;
	assert_true(f & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	uint64_t d = pattern(c, 512, 2);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 0, d, 512, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, d, 512, NULL), VIRTIO_BLK_S_OK);
	uint64_t s = dwz_seg(c, 0, 1, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 16, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL), VIRTIO_BLK_S_OK);
}

static void test_missing_status_byte_breaks_device(void **state)
{
	struct ctx *c = *state;
	uint64_t d = alloc_buf(c, 512);
	struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_OUT, 0), 16, false}, {d, 512, false}};
	drv_ring_add(&c->drv.vq[0], b, 2);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	assert_int_equal(used_idx(c), 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(c->vdev->live);
	assert_int_equal(c->drv.tr.config_signals, 1);
	/* Dead until reset; a reset brings it back. */
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used_idx(c), 0);
	activate(c, c->vdev->device_features, 64);
	assert_int_equal(request(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL), VIRTIO_BLK_S_OK);
}

static void test_short_header_breaks_device(void **state)
{
	struct ctx *c = *state;
	uint64_t st = alloc_buf(c, 1);
	struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_IN, 0), 15, false}, {st, 1, true}};
	drv_ring_add(&c->drv.vq[0], b, 2);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used_idx(c), 0);
	assert_true(c->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* §2.6.4: no framing. The header in three pieces, data sharing a descriptor
 * with the header's tail, and the status byte at the end of a data buffer. */
static void test_split_header_and_shared_descriptors(void **state)
{
	struct ctx *c = *state;
	uint64_t w = pattern(c, 1024, 7);
	uint64_t out = alloc_buf(c, 16 + 1024);
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_OUT, .sector = 20};
	memcpy(hva(c, out), &h, 16);
	memcpy((uint8_t *)hva(c, out) + 16, hva(c, w), 1024);
	uint64_t st = alloc_buf(c, 1);
	struct drv_seg b[] = {{out, 5, false}, {out + 5, 7, false}, {out + 12, 4 + 100, false},
			  {out + 116, 924, false}, {st, 1, true}};
	uint16_t head = drv_ring_add(&c->drv.vq[0], b, 5);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	assert_int_equal(next_used(c, head), 1);
	assert_int_equal(*(uint8_t *)hva(c, st), VIRTIO_BLK_S_OK);

	uint64_t in = alloc_buf(c, 1025), hdr = header(c, VIRTIO_BLK_T_IN, 20);
	struct drv_seg r[] = {{hdr, 9, false}, {hdr + 9, 7, false}, {in, 1025, true}};
	head = drv_ring_add(&c->drv.vq[0], r, 3);
	fake_transport_notify(c->vdev, 0);
	drain(c);
	assert_int_equal(next_used(c, head), 1025);
	assert_memory_equal(hva(c, in), hva(c, w), 1024);
	assert_int_equal(((uint8_t *)hva(c, in))[1024], VIRTIO_BLK_S_OK);
}

/* Many requests queued in one kick complete, each with its own status. */
static void test_batch(void **state)
{
	struct ctx *c = *state;
	uint64_t st[16];
	for (int i = 0; i < 16; i++) {
		uint64_t d = pattern(c, 4096, (uint8_t)i);
		st[i] = alloc_buf(c, 1);
		struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_OUT, 8u * (unsigned)i), 16, false},
				  {d, 4096, false}, {st[i], 1, true}};
		drv_ring_add(&c->drv.vq[0], b, 3);
	}
	fake_transport_notify(c->vdev, 0);
	drain(c);
	assert_int_equal(used_idx(c), 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(*(uint8_t *)hva(c, st[i]), VIRTIO_BLK_S_OK);
}

/* A reset with requests in flight: their completions must not touch the
 * (new) rings. With every request slot held by the old generation, new work
 * waits for slots and then runs. */
static void test_reset_with_requests_in_flight(void **state)
{
	struct ctx *c = *state;
	activate(c, c->vdev->device_features, VIRTIO_BLK_QUEUE_SIZE);
	uint64_t tables = alloc_buf(c, 32u * VIRTIO_BLK_QUEUE_SIZE);
	uint64_t hdr = header(c, VIRTIO_BLK_T_FLUSH, 0), st = alloc_buf(c, 1);
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++) {
		struct virtq_desc *t = hva(c, tables + 32u * i);
		t[0] = (struct virtq_desc){.addr = hdr, .len = 16, .flags = VIRTQ_DESC_F_NEXT,
					   .next = 1};
		t[1] = (struct virtq_desc){.addr = st, .len = 1, .flags = VIRTQ_DESC_F_WRITE};
		struct drv_seg b = {tables + 32u * i, 32, false};
		uint16_t head = drv_ring_add(&c->drv.vq[0], &b, 1);
		drv_ring_desc(&c->drv.vq[0])[head].flags = VIRTQ_DESC_F_INDIRECT;
	}
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(virtio_blk_inflight(c->blk), VIRTIO_BLK_QUEUE_SIZE);
	assert_int_equal(used_idx(c), 0);

	activate(c, c->vdev->device_features, VIRTIO_BLK_QUEUE_SIZE); /* resets first */
	unsigned signals = c->drv.tr.queue_signals;
	struct drv_seg flush[] = {{header(c, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
	uint16_t head = drv_ring_add(&c->drv.vq[0], flush, 2);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(used_idx(c), 0); /* no free slot yet: not even submitted */
	assert_int_equal(virtio_blk_inflight(c->blk), VIRTIO_BLK_QUEUE_SIZE);
	drain(c);
	assert_int_equal(used_idx(c), 1); /* only the new request */
	assert_int_equal(next_used(c, head), 1);
	assert_int_equal(c->drv.tr.queue_signals, signals + 1);
}

/* The queue's counters: requests completed, bytes each way, refusals. */
static void test_counters(void **state)
{
	struct ctx *c = *state;
	const struct dev_counters *cnt = &c->vdev->queues[0].counters;
	uint64_t w = pattern(c, 4096, 1), r = alloc_buf(c, 4096);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 8, w, 4096, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 8, r, 4096, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(c, 0x55, 0, 0, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, IMG_SECTORS, r, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(counter_read(&cnt->requests), 4);
	assert_int_equal(counter_read(&cnt->bytes_in), 4096);
	assert_int_equal(counter_read(&cnt->bytes_out), 4096);
	assert_int_equal(counter_read(&cnt->rejected), 2);
	assert_int_equal(counter_read(&cnt->errors), 0);
}

struct quiesce_arg {
	struct virtio_dev *vdev;
	int ret;
	bool done;
};

/* As the transport's save: quiesce with the lock held, off the loop thread. */
static void *quiesce_thread(void *p)
{
	struct quiesce_arg *a = p;
	pthread_mutex_lock(&a->vdev->lock);
	a->ret = a->vdev->ops->quiesce(a->vdev);
	pthread_mutex_unlock(&a->vdev->lock);
	__atomic_store_n(&a->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool quiesced(void *p)
{
	return __atomic_load_n(&((struct quiesce_arg *)p)->done, __ATOMIC_ACQUIRE);
}

/* Quiesce waits for the backend's requests (the loop delivers them
 * meanwhile), pops nothing new, and leaves nothing in flight to save. */
static void test_quiesce_completes_requests_in_flight(void **state)
{
	struct ctx *c = *state;
	uint64_t st = alloc_buf(c, 8);
	uint16_t heads[8];
	for (unsigned i = 0; i < 8; i++) {
		struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_OUT, i), 16, false},
				      {pattern(c, 512, (uint8_t)i), 512, false}, {st + i, 1, true}};
		heads[i] = drv_ring_add(&c->drv.vq[0], b, 3);
	}
	fake_transport_notify(c->vdev, 0);
	assert_true(virtio_blk_inflight(c->blk) > 0);

	struct quiesce_arg a = {.vdev = c->vdev, .ret = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, quiesce_thread, &a), 0);
	loop_run_until(c->loop, quiesced, &a, 10000);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.ret, 0);
	assert_int_equal(virtio_blk_inflight(c->blk), 0);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(next_used(c, heads[i]), 1);
		assert_int_equal(*(uint8_t *)hva(c, st + i), VIRTIO_BLK_S_OK);
	}
	assert_int_equal(c->vdev->queues[0].vq.inuse, 0);
	assert_int_equal(counter_read(&c->vdev->queues[0].counters.bytes_in), 8 * 512);
}

/* Destroy with requests in flight: the callbacks run inside and drop them. */
static void test_destroy_with_requests_in_flight(void **state)
{
	struct ctx *c = *state;
	uint64_t d = pattern(c, 65536, 4), st = alloc_buf(c, 1);
	struct drv_seg b[] = {{header(c, VIRTIO_BLK_T_OUT, 0), 16, false}, {d, 65536, false},
			  {st, 1, true}};
	drv_ring_add(&c->drv.vq[0], b, 3);
	fake_transport_notify(c->vdev, 0);
	assert_int_equal(virtio_blk_inflight(c->blk), 1);
	virtio_blk_destroy(c->blk);
	assert_int_equal(used_idx(c), 0);
	assert_int_equal(open_dev(c, false, BLK_ENGINE_AUTO), 0); /* lock released */
}

static void test_options(void **state)
{
	struct ctx *c = *state;
	struct virtio_blk_options o = {.path = c->path, .serial = "123456789012345678901"};
	assert_null(virtio_blk_create(&o, &c->drv.ram.mem, c->loop));
	o = (struct virtio_blk_options){.path = "/nonexistent/iovirt.img"};
	assert_null(virtio_blk_create(&o, &c->drv.ram.mem, c->loop));
	o = (struct virtio_blk_options){.path = c->path, .readonly = true, .num_queues = 4};
	assert_null(virtio_blk_create(&o, &c->drv.ram.mem, c->loop)); /* locked by the open device */
}

#define T(test, setup_fn) cmocka_unit_test_setup_teardown(test, setup_fn, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_and_features, setup),
		T(test_write_read_back, setup),
		T(test_sequential_requests_merge, setup),
		T(test_sequential_requests_merge, setup_threads),
		T(test_merged_group_with_a_bad_request, setup),
		T(test_merge_off, setup_nomerge),
		T(test_write_read_back, setup_threads),
		T(test_write_through_without_flush_feature, setup),
		T(test_flush, setup),
		T(test_get_id, setup),
		T(test_discard, setup),
		T(test_write_zeroes, setup),
		T(test_write_zeroes, setup_threads),
		T(test_out_of_range_and_bad_length, setup),
		T(test_backend_error_is_ioerr, setup),
		T(test_unsupported_type, setup),
		T(test_readonly, setup_ro),
		T(test_missing_status_byte_breaks_device, setup),
		T(test_short_header_breaks_device, setup),
		T(test_split_header_and_shared_descriptors, setup),
		T(test_batch, setup),
		T(test_reset_with_requests_in_flight, setup),
		T(test_reset_with_requests_in_flight, setup_threads),
		T(test_destroy_with_requests_in_flight, setup),
		T(test_counters, setup),
		T(test_quiesce_completes_requests_in_flight, setup),
		T(test_quiesce_completes_requests_in_flight, setup_threads),
		T(test_options, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
