/* The virtio models' own state (ops->save / ops->load; the virtio common
 * state and the whole-device round trip are the transport's): for each of
 * blk, net, console and rng, save → load into a fresh instance → save gives
 * the same bytes, and hostile records (every truncation, wrong types,
 * out-of-range values) are refused naming the device and the field, the
 * instance unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/state.h"
#include "support/fake_ram.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"

#define RAM_SIZE (1u << 20)
#define IMG_SIZE (1u << 20)
#define DEV "dev0" /* the name the reader gives the device in errors */

/* ---- helpers ---- */

static void save(struct virtio_dev *vdev, struct state_writer *w)
{
	state_writer_init(w);
	pthread_mutex_lock(&vdev->lock); /* as the transport calls it */
	vdev->ops->save(vdev, w);
	pthread_mutex_unlock(&vdev->lock);
	assert_int_equal(state_writer_finish(w), 0);
}

static int load(struct virtio_dev *vdev, const void *buf, size_t len, struct state_reader *r)
{
	state_reader_init(r, buf, len, DEV);
	pthread_mutex_lock(&vdev->lock);
	int ret = vdev->ops->load(vdev, r);
	pthread_mutex_unlock(&vdev->lock);
	if (ret == 0)
		ret = state_reader_finish(r);
	return ret;
}

static void assert_same(const struct state_writer *a, const struct state_writer *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/* from's record loads into to, and to then saves the same bytes. */
static void round_trip(struct virtio_dev *from, struct virtio_dev *to)
{
	struct state_writer a, b;
	struct state_reader r;
	save(from, &a);
	assert_true(a.len > 0);
	assert_int_equal(load(to, a.buf, a.len, &r), 0);
	save(to, &b);
	assert_same(&a, &b);
	state_writer_free(&a);
	state_writer_free(&b);
}

/* The record is refused, naming the device (and field, unless NULL), and
 * vdev saves the same as before. */
static void refused(struct virtio_dev *vdev, const void *buf, size_t len, const char *field)
{
	struct state_writer before, after;
	struct state_reader r;
	save(vdev, &before);
	state_reader_init(&r, buf, len, DEV);
	pthread_mutex_lock(&vdev->lock);
	int ret = vdev->ops->load(vdev, &r);
	pthread_mutex_unlock(&vdev->lock);
	assert_true(ret < 0);
	assert_true(state_failed(&r));
	assert_non_null(strstr(state_error(&r), DEV ": "));
	if (field && !strstr(state_error(&r), field))
		fail_msg("error \"%s\" does not name %s", state_error(&r), field);
	save(vdev, &after);
	assert_same(&before, &after);
	state_writer_free(&before);
	state_writer_free(&after);
}

/* Every strict prefix of vdev's own record is refused. */
static void truncations_refused(struct virtio_dev *vdev)
{
	struct state_writer w;
	save(vdev, &w);
	for (size_t len = 0; len < w.len; len++)
		refused(vdev, w.buf, len, NULL);
	state_writer_free(&w);
}

/* A record built by fn, refused on field. */
static void built_refused(struct virtio_dev *vdev, void (*fn)(struct state_writer *, int), int v,
			  const char *field)
{
	struct state_writer w;
	state_writer_init(&w);
	fn(&w, v);
	assert_int_equal(state_writer_finish(&w), 0);
	refused(vdev, w.buf, w.len, field);
	state_writer_free(&w);
}

/* ---- virtio-rng: an empty section ---- */

static void rng_record(struct state_writer *w, int v)
{
	state_begin(w, "virtio-rng", v == 1 ? 2 : 1); /* 1: a newer version */
	if (v == 2)
		state_put_u32(w, "unknown", 1); /* 2: a field this version lacks */
	state_end(w);
}

static void test_rng(void **state)
{
	struct fake_ram ram;
	fake_ram_init(&ram, RAM_SIZE, 0);
	struct virtio_rng *a = virtio_rng_create(&ram.mem, NULL);
	struct virtio_rng *b = virtio_rng_create(&ram.mem, NULL);
	assert_non_null(a);
	assert_non_null(b);
	round_trip(virtio_rng_dev(a), virtio_rng_dev(b));
	truncations_refused(virtio_rng_dev(b));
	built_refused(virtio_rng_dev(b), rng_record, 1, "virtio-rng");
	built_refused(virtio_rng_dev(b), rng_record, 2, "unknown");
	/* The transport frees a model through the contract. */
	virtio_rng_dev(a)->ops->destroy(virtio_rng_dev(a));
	virtio_rng_destroy(b);
	fake_ram_destroy(&ram);
}

/* ---- virtio-console ---- */

enum { CON_WRONG_TYPE, CON_MISSING, CON_WRONG_NAME };

static void con_record(struct state_writer *w, int v)
{
	state_begin(w, "virtio-console", 1);
	if (v == CON_WRONG_TYPE)
		state_put_u16(w, "tx_written", 3);
	else if (v == CON_WRONG_NAME)
		state_put_u32(w, "rx_written", 3);
	state_end(w);
}

static void con_written(struct state_writer *w, uint32_t n)
{
	state_begin(w, "virtio-console", 1);
	state_put_u32(w, "tx_written", n);
	state_end(w);
}

static void test_console(void **state)
{
	struct fake_ram ram;
	fake_ram_init(&ram, RAM_SIZE, 0);
	struct virtio_console *a = virtio_console_create(-1, -1, &ram.mem, NULL);
	struct virtio_console *b = virtio_console_create(-1, -1, &ram.mem, NULL);
	assert_non_null(a);
	assert_non_null(b);
	struct virtio_dev *da = virtio_console_dev(a), *db = virtio_console_dev(b);
	round_trip(da, db);

	/* A record with part of a chain written: it is applied, and saved
	 * back the same (a fresh instance saves 0 instead). */
	struct state_writer w, fresh;
	struct state_reader r;
	state_writer_init(&w);
	con_written(&w, 1234);
	assert_int_equal(state_writer_finish(&w), 0);
	save(db, &fresh);
	assert_false(fresh.len == w.len && !memcmp(fresh.buf, w.buf, w.len));
	assert_int_equal(load(db, w.buf, w.len, &r), 0);
	round_trip(db, da);
	struct state_writer back;
	save(da, &back);
	assert_same(&w, &back);

	truncations_refused(db);
	built_refused(db, con_record, CON_WRONG_TYPE, "tx_written");
	built_refused(db, con_record, CON_MISSING, "tx_written");
	built_refused(db, con_record, CON_WRONG_NAME, "rx_written");
	state_writer_free(&w);
	state_writer_free(&fresh);
	state_writer_free(&back);
	da->ops->destroy(da);
	virtio_console_destroy(b);
	fake_ram_destroy(&ram);
}

/* ---- virtio-net ---- */

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

enum { NET_PAIRS_OVER, NET_ACTIVE_ZERO, NET_ACTIVE_OVER, NET_LINK_DOWN, NET_CTRLQ, NET_MAC_SHORT };

static void net_record(struct state_writer *w, int v)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 1, 2, 3};
	state_begin(w, "virtio-net", 1);
	state_put_bytes(w, "mac", mac, v == NET_MAC_SHORT ? 5 : 6);
	state_put_u16(w, "status", v == NET_LINK_DOWN ? 0 : VIRTIO_NET_S_LINK_UP);
	state_put_u32(w, "queue_pairs", v == NET_PAIRS_OVER ? VIRTIO_NET_MAX_QUEUE_PAIRS + 1 : 1);
	state_put_u32(w, "active_pairs", v == NET_ACTIVE_ZERO ? 0 : v == NET_ACTIVE_OVER ? 2 : 1);
	state_put_u32(w, "ctrlq", v == NET_CTRLQ ? 7 : 2);
	state_end(w);
}

static struct virtio_net *net_new(struct fake_ram *ram, struct loop *loop, const uint8_t *mac)
{
	struct virtio_net_options o = {.mac_set = mac != NULL};
	o.backend.kind = NET_USER;
	if (mac)
		memcpy(o.mac, mac, 6);
	struct virtio_net *n = virtio_net_create(&o, &ram->mem, loop);
	assert_non_null(n);
	return n;
}

static void read_mac(struct virtio_dev *vdev, uint8_t mac[6])
{
	vdev->ops->config_read(vdev, 0, mac, 6); /* §5.1.4: mac first */
}

static void test_net(void **state)
{
	struct fake_ram ram;
	fake_ram_init(&ram, RAM_SIZE, 0);
	struct loop *loop = loop_create();
	assert_non_null(loop);
	struct virtio_net *a = net_new(&ram, loop, mac_a);
	struct virtio_net *b = net_new(&ram, loop, NULL); /* the default MAC */
	struct virtio_dev *da = virtio_net_dev(a), *db = virtio_net_dev(b);
	uint8_t mac[6];

	read_mac(db, mac);
	assert_memory_not_equal(mac, mac_a, 6);
	round_trip(da, db);
	read_mac(db, mac);
	assert_memory_equal(mac, mac_a, 6); /* the guest reads the saved MAC */

	truncations_refused(db);
	built_refused(db, net_record, NET_PAIRS_OVER, "queue_pairs");
	built_refused(db, net_record, NET_ACTIVE_ZERO, "active_pairs");
	built_refused(db, net_record, NET_ACTIVE_OVER, "active_pairs");
	built_refused(db, net_record, NET_LINK_DOWN, "status");
	built_refused(db, net_record, NET_CTRLQ, "ctrlq");
	built_refused(db, net_record, NET_MAC_SHORT, "mac");
	read_mac(db, mac);
	assert_memory_equal(mac, mac_a, 6); /* no refused record applied its MAC */

	da->ops->destroy(da);
	virtio_net_destroy(b);
	loop_destroy(loop);
	fake_ram_destroy(&ram);
}

/* ---- virtio-blk ---- */

struct blk_fx {
	char path[2][32];
	struct loop *loop;
	struct fake_ram ram;
};

static struct virtio_blk *blk_new(struct blk_fx *f, unsigned i, bool readonly)
{
	struct virtio_blk_options o = {.path = f->path[i], .readonly = readonly};
	struct virtio_blk *b = virtio_blk_create(&o, &f->ram.mem, f->loop);
	assert_non_null(b);
	return b;
}

enum { BLK_CAPACITY, BLK_READONLY, BLK_QUEUES, BLK_INFLIGHT, BLK_BOOL };

static void blk_record(struct state_writer *w, int v)
{
	state_begin(w, "virtio-blk", 1);
	state_put_u64(w, "capacity", v == BLK_CAPACITY ? IMG_SIZE / 512 + 1 : IMG_SIZE / 512);
	state_put_u8(w, "readonly", v == BLK_BOOL ? 2 : v == BLK_READONLY);
	state_put_u32(w, "queues", v == BLK_QUEUES ? VIRTIO_MAX_QUEUES + 1 : 1);
	state_put_u32(w, "inflight", v == BLK_INFLIGHT ? 3 : 0);
	state_end(w);
}

static void test_blk(void **state)
{
	struct blk_fx f;
	fake_ram_init(&f.ram, RAM_SIZE, 0);
	for (unsigned i = 0; i < 2; i++) {
		strcpy(f.path[i], "/tmp/iovirt-blkst-XXXXXX");
		int fd = mkstemp(f.path[i]);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
		close(fd);
	}
	f.loop = loop_create();
	assert_non_null(f.loop);
	struct virtio_blk *a = blk_new(&f, 0, false), *b = blk_new(&f, 1, false);
	struct virtio_dev *da = virtio_blk_dev(a), *db = virtio_blk_dev(b);

	round_trip(da, db);
	truncations_refused(db);
	built_refused(db, blk_record, BLK_CAPACITY, "capacity");
	built_refused(db, blk_record, BLK_READONLY, "readonly");
	built_refused(db, blk_record, BLK_BOOL, "readonly");
	built_refused(db, blk_record, BLK_QUEUES, "queues");
	built_refused(db, blk_record, BLK_INFLIGHT, "inflight");
	assert_int_equal(virtio_blk_inflight(a), 0);
	da->ops->destroy(da);

	/* A read-only disk's record does not load into a writable one. */
	struct virtio_blk *ro = blk_new(&f, 0, true);
	struct state_writer w;
	save(virtio_blk_dev(ro), &w);
	refused(db, w.buf, w.len, "readonly");
	state_writer_free(&w);

	virtio_blk_destroy(ro);
	virtio_blk_destroy(b);
	loop_destroy(f.loop);
	for (unsigned i = 0; i < 2; i++)
		unlink(f.path[i]);
	fake_ram_destroy(&f.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_console),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_blk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
