/* Saving and loading a virtio device through the device contract
 * (src/virtio/virtio_pci.c, virtio_state.c): virtio-rng and virtio-blk (and
 * virtio-net on user networking and virtio-console, round trips only) on
 * the real PCI transport, driven through BAR0 as a driver would, with
 * their rings in fake guest RAM (support/drv_ring.h) that stays put while
 * one instance is saved and a fresh one loads the record, as guest RAM
 * would be restored before the devices. No KVM (vm_fd -1, no MSI routes:
 * interrupts are INTx). */
#include <endian.h>
#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/device.h"
#include "core/state.h"
#include "support/drv_ring.h"
#include "support/fake_ram.h"
#include "support/loop_wait.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio_pci.h"

#define RAM_SIZE (1u << 20)
#define IMG_SIZE (1u << 20)
#define QSIZE 16
#define RING_GPA 0x0ULL          /* desc; avail +4 KiB; used +8 KiB */
#define BUF_GPA 0x10000ULL

enum model { RNG, BLK, NET, CONSOLE };

struct inst {
	struct virtio_pci *vp;
	struct virtio_dev *vdev;
	struct virtio_blk *blk;
};

struct fx {
	enum model model;
	char path[64];
	struct fake_ram ram;
	struct loop *loop;
	struct drv_ring ring;
	struct drv_ring ring1;   /* virtio-net's transmitq: a pair needs both */
	struct inst a;
};

/* ---- instances ---------------------------------------------------------- */

static struct inst make(struct fx *f)
{
	struct inst in = {0};
	if (f->model == RNG) {
		struct virtio_rng *r = virtio_rng_create(&f->ram.mem, f->loop);
		assert_non_null(r);
		in.vdev = virtio_rng_dev(r);
	} else if (f->model == NET) {
		struct virtio_net_options o = {.mac_set = true, .mac = {0x52, 0x54, 0, 1, 2, 3}};
		o.backend.kind = NET_USER;
		struct virtio_net *n = virtio_net_create(&o, &f->ram.mem, f->loop);
		assert_non_null(n);
		in.vdev = virtio_net_dev(n);
	} else if (f->model == CONSOLE) {
		struct virtio_console *c = virtio_console_create(-1, -1, &f->ram.mem, f->loop);
		assert_non_null(c);
		in.vdev = virtio_console_dev(c);
	} else {
		struct virtio_blk_options o = {.path = f->path, .no_merge = true};
		in.blk = virtio_blk_create(&o, &f->ram.mem, f->loop);
		assert_non_null(in.blk);
		in.vdev = virtio_blk_dev(in.blk);
	}
	in.vp = virtio_pci_create(in.vdev, NULL, -1);
	assert_non_null(in.vp);
	return in;
}

static struct device *dev_of(struct inst *in)
{
	return virtio_pci_device(in->vp);
}

static void drop(struct inst *in)
{
	device_destroy(dev_of(in));
	memset(in, 0, sizeof(*in));
}

static int setup_model(void **state, enum model m)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->model = m;
	strcpy(f->path, "/var/tmp/iovirt-vstate-XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	fake_ram_init(&f->ram, RAM_SIZE, BUF_GPA);
	f->loop = loop_create();
	assert_non_null(f->loop);
	f->a = make(f);
	*state = f;
	return 0;
}

static int setup_rng(void **state) { return setup_model(state, RNG); }
static int setup_blk(void **state) { return setup_model(state, BLK); }
static int setup_net(void **state) { return setup_model(state, NET); }
static int setup_console(void **state) { return setup_model(state, CONSOLE); }

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->a.vp)
		drop(&f->a);
	loop_destroy(f->loop);
	unlink(f->path);
	fake_ram_destroy(&f->ram);
	free(f);
	return 0;
}

/* ---- the driver, through BAR0 ------------------------------------------- */

static void wr(struct inst *in, unsigned off, unsigned len, uint64_t v)
{
	struct pci_bar *bar = &in->vp->pci.bars[0];
	uint8_t b[8];
	iobus_store_le(b, len, v);
	bar->ops->write(bar->opaque, off, b, len);
}

#define COMMON(field) (VIRTIO_PCI_COMMON_OFF + (field))

static void wr64(struct inst *in, unsigned lo, uint64_t v)
{
	wr(in, COMMON(lo), 4, (uint32_t)v);
	wr(in, COMMON(lo + 4), 4, v >> 32);
}

/* §3.1.1 with the device's features and queue 0 at RING_GPA; and, as
 * the guest's PCI code would, the interrupt line in config space and an
 * MSI-X vector's message (so those sections differ from a fresh one's). */
static void bring_up(struct fx *f, struct inst *in)
{
	uint64_t feat = in->vdev->device_features;
	uint8_t line = 11, msg[4] = {0x21, 0x43, 0, 0};
	pci_config_write(&in->vp->pci, PCI_INTERRUPT_LINE, &line, 1);
	struct pci_bar *msix_bar = &in->vp->pci.bars[1];
	msix_bar->ops->write(msix_bar->opaque, 8, msg, 4); /* vector 0's data */
	wr(in, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 0);
	wr(in, COMMON(VIRTIO_PCI_COMMON_STATUS), 1,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(in, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	wr(in, COMMON(VIRTIO_PCI_COMMON_GF), 4, (uint32_t)feat);
	wr(in, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	wr(in, COMMON(VIRTIO_PCI_COMMON_GF), 4, feat >> 32);
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK;
	wr(in, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, s);
	drv_ring_init(&f->ring, &f->ram, QSIZE, RING_GPA, RING_GPA + 0x1000, RING_GPA + 0x2000);
	wr(in, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 0);
	wr(in, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, QSIZE);
	wr64(in, VIRTIO_PCI_COMMON_Q_DESCLO, f->ring.desc);
	wr64(in, VIRTIO_PCI_COMMON_Q_AVAILLO, f->ring.avail);
	wr64(in, VIRTIO_PCI_COMMON_Q_USEDLO, f->ring.used);
	wr(in, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
	if (f->model == NET) {
		drv_ring_init(&f->ring1, &f->ram, QSIZE, RING_GPA + 0x3000, RING_GPA + 0x4000,
			      RING_GPA + 0x5000);
		wr(in, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 1);
		wr(in, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, QSIZE);
		wr64(in, VIRTIO_PCI_COMMON_Q_DESCLO, f->ring1.desc);
		wr64(in, VIRTIO_PCI_COMMON_Q_AVAILLO, f->ring1.avail);
		wr64(in, VIRTIO_PCI_COMMON_Q_USEDLO, f->ring1.used);
		wr(in, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
	}
	wr(in, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, s | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(in->vdev->live);
}

static void kick(struct inst *in)
{
	wr(in, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
}

struct want {
	struct fx *f;
	uint16_t used;
};

static bool used_reached(void *arg)
{
	struct want *w = arg;
	return drv_ring_used_idx(&w->f->ring) == w->used;
}

/* Runs the loop until the device used n entries in all (5 s at most). */
static void wait_used(struct fx *f, uint16_t n)
{
	struct want w = {f, n};
	loop_run_until(f->loop, used_reached, &w, 5000);
	assert_int_equal(drv_ring_used_idx(&f->ring), n);
}

/* A virtio-blk request (§5.2.6): header, data, status; returns its head. */
static uint16_t blk_req(struct fx *f, uint32_t type, uint64_t sector, uint64_t data,
			uint32_t len, uint64_t status)
{
	uint64_t hdr = fake_ram_alloc(&f->ram, 16);
	struct virtio_blk_outhdr *h = fake_ram_ptr(&f->ram, hdr);
	h->type = htole32(type);
	h->sector = htole64(sector);
	*(uint8_t *)fake_ram_ptr(&f->ram, status) = 0xff;
	struct drv_seg s[3] = {{hdr, 16, false},
			       {data, len, type == VIRTIO_BLK_T_IN},
			       {status, 1, true}};
	return drv_ring_add(&f->ring, s, 3);
}

static uint16_t rng_req(struct fx *f, uint32_t len)
{
	struct drv_seg s = {fake_ram_alloc(&f->ram, len), len, true};
	return drv_ring_add(&f->ring, &s, 1);
}

/* ---- records ------------------------------------------------------------ */

static void save(struct inst *in, struct state_writer *w)
{
	state_writer_init(w);
	assert_int_equal(device_save(dev_of(in), w), 0);
	assert_int_equal(state_writer_finish(w), 0);
}

/* Loads buf into in; 0 or -EINVAL with the error copied to err. */
static int load(struct inst *in, const void *buf, size_t len, char *err, size_t errlen)
{
	struct state_reader r;
	state_reader_init(&r, buf, len, dev_of(in)->id);
	int ret = device_load(dev_of(in), &r);
	if (ret == 0)
		ret = state_reader_finish(&r);
	if (err)
		snprintf(err, errlen, "%s", state_error(&r));
	assert_true(ret == 0 || state_failed(&r));
	return ret;
}

static void assert_same(const struct state_writer *a, const struct state_writer *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/* The value of the first item name of type in a record. */
static uint8_t *field(struct state_writer *w, uint8_t type, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i + 2 + n <= w->len; i++)
		if (w->buf[i] == type && w->buf[i + 1] == n && !memcmp(w->buf + i + 2, name, n))
			return w->buf + i + 2 + n;
	fail_msg("no field %s in the record", name);
	return NULL;
}

/* The value of the last item name of type. */
static uint8_t *last_field(struct state_writer *w, uint8_t type, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = w->len - 2 - n + 1; i-- > 0;)
		if (w->buf[i] == type && w->buf[i + 1] == n && !memcmp(w->buf + i + 2, name, n))
			return w->buf + i + 2 + n;
	fail_msg("no field %s in the record", name);
	return NULL;
}

/* A record refused: the error names the device and what, and the fresh
 * instance saves what it saved before. */
static void assert_refused(struct fx *f, struct state_writer *rec, const char *what)
{
	struct inst b = make(f);
	struct state_writer before, after;
	save(&b, &before);
	char err[256];
	assert_int_equal(load(&b, rec->buf, rec->len, err, sizeof(err)), -EINVAL);
	if (!strstr(err, dev_of(&b)->id) || !strstr(err, what))
		fail_msg("error \"%s\" does not name %s", err, what);
	save(&b, &after);
	assert_same(&before, &after);
	state_writer_free(&before);
	state_writer_free(&after);
	drop(&b);
}

/* ---- round trips ---------------------------------------------------------- */

/* The saved instance goes first, as in a restore: a disk image is
 * locked by the one that has it open. */
static void round_trip(struct fx *f)
{
	struct state_writer w1, w2;
	save(&f->a, &w1);
	drop(&f->a);
	f->a = make(f);
	assert_int_equal(load(&f->a, w1.buf, w1.len, NULL, 0), 0);
	save(&f->a, &w2);
	assert_same(&w1, &w2);
	state_writer_free(&w1);
	state_writer_free(&w2);
}

static void test_rng_round_trip_fresh(void **state)
{
	struct fx *f = *state;
	round_trip(f); /* a device the driver never touched */
}

static void test_rng_round_trip_live(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	rng_req(f, 64);
	rng_req(f, 32);
	kick(&f->a);
	wait_used(f, 2);
	/* The selectors are state too. */
	wr(&f->a, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 1);
	wr(&f->a, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 5);
	round_trip(f);
}

static void test_blk_round_trip_live(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	uint64_t data = fake_ram_alloc(&f->ram, 512), st = fake_ram_alloc(&f->ram, 16);
	blk_req(f, VIRTIO_BLK_T_OUT, 3, data, 512, st);
	kick(&f->a);
	wait_used(f, 1);
	round_trip(f);
}

/* virtio-net (receiveq 0 live, receive buffers posted and lent to the
 * direct path) and virtio-console (receiveq 0 live, buffers posted): the
 * whole record — transport, virtio state, the model's section — comes
 * back byte for byte in a fresh instance. */
static void test_net_round_trip_live(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	for (unsigned i = 0; i < 4; i++)
		drv_ring_add(&f->ring, (struct drv_seg[]){{fake_ram_alloc(&f->ram, 2048), 2048, true}}, 1);
	kick(&f->a);
	loop_run_until(f->loop, NULL, NULL, 50);
	round_trip(f);
}

static void test_console_round_trip_live(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	for (unsigned i = 0; i < 2; i++)
		drv_ring_add(&f->ring, (struct drv_seg[]){{fake_ram_alloc(&f->ram, 256), 256, true}}, 1);
	kick(&f->a);
	loop_run_until(f->loop, NULL, NULL, 50);
	round_trip(f);
}

/* Saved with one request completed and one made available but not yet
 * seen; after the save the driver posts more. The fresh instance serves
 * them all, and the data is what was written. */
static void test_blk_mid_io(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	uint64_t w1 = fake_ram_alloc(&f->ram, 512), w2 = fake_ram_alloc(&f->ram, 512);
	uint64_t r1 = fake_ram_alloc(&f->ram, 512), r2 = fake_ram_alloc(&f->ram, 512);
	uint64_t r3 = fake_ram_alloc(&f->ram, 512);
	uint64_t st[5];
	for (unsigned i = 0; i < 5; i++)
		st[i] = fake_ram_alloc(&f->ram, 16);
	memset(fake_ram_ptr(&f->ram, w1), 0x11, 512);
	memset(fake_ram_ptr(&f->ram, w2), 0x22, 512);

	uint16_t h[5];
	h[0] = blk_req(f, VIRTIO_BLK_T_OUT, 1, w1, 512, st[0]);
	kick(&f->a);
	wait_used(f, 1);
	drv_ring_set_used_event(&f->ring, 1); /* interrupt me past the first */
	h[1] = blk_req(f, VIRTIO_BLK_T_OUT, 2, w2, 512, st[1]); /* no kick yet */

	struct state_writer rec;
	save(&f->a, &rec);
	drop(&f->a);
	h[2] = blk_req(f, VIRTIO_BLK_T_IN, 1, r1, 512, st[2]);

	struct inst b = make(f);
	f->a = b; /* teardown frees it */
	assert_int_equal(load(&b, rec.buf, rec.len, NULL, 0), 0);
	assert_true(b.vdev->live);
	/* What was available at the load is served without a kick. */
	wait_used(f, 3);
	/* And the driver's next kick works. */
	h[3] = blk_req(f, VIRTIO_BLK_T_IN, 2, r2, 512, st[3]);
	h[4] = blk_req(f, VIRTIO_BLK_T_IN, 5, r3, 512, st[4]);
	kick(&b);
	wait_used(f, 5);

	/* Each request used once (the backend may complete out of order). */
	unsigned seen = 0;
	for (unsigned n = 0; n < 5; n++) {
		uint32_t id, len;
		assert_true(drv_ring_pop_used(&f->ring, &id, &len));
		bool found = false;
		for (unsigned i = 0; i < 5; i++) {
			if (h[i] != id)
				continue;
			assert_false(seen & 1u << i);
			seen |= 1u << i;
			assert_int_equal(*(uint8_t *)fake_ram_ptr(&f->ram, st[i]), VIRTIO_BLK_S_OK);
			found = true;
		}
		assert_true(found);
	}
	assert_int_equal(seen, 0x1f);
	assert_false(drv_ring_has_used(&f->ring));
	uint8_t want[512];
	memset(want, 0x11, 512);
	assert_memory_equal(fake_ram_ptr(&f->ram, r1), want, 512);
	memset(want, 0x22, 512);
	assert_memory_equal(fake_ram_ptr(&f->ram, r2), want, 512);
	memset(want, 0, 512);
	assert_memory_equal(fake_ram_ptr(&f->ram, r3), want, 512);
	/* The image holds the second write: it was served by the new instance. */
	FILE *img = fopen(f->path, "rb");
	assert_non_null(img);
	uint8_t got[512];
	assert_int_equal(fseek(img, 2 * 512, SEEK_SET), 0);
	assert_int_equal(fread(got, 1, 512, img), 512);
	fclose(img);
	memset(want, 0x22, 512);
	assert_memory_equal(got, want, 512);

	/* Counted on the new instance's queue: a kick, interrupts (INTx). */
	assert_true(counter_read(&b.vdev->queues[0].counters.kicks) >= 1);
	assert_true(counter_read(&b.vdev->queues[0].counters.interrupts) >= 1);
	state_writer_free(&rec);
}

/* A device with a request popped and not completed refuses to save. */
static void test_blk_inflight_refused(void **state)
{
	struct fx *f = *state;
	bring_up(f, &f->a);
	f->a.vdev->queues[0].vq.inuse = 1; /* as if popped, backend busy */
	struct state_writer w;
	state_writer_init(&w);
	assert_int_equal(device_save(dev_of(&f->a), &w), -EBUSY);
	f->a.vdev->queues[0].vq.inuse = 0;
	state_writer_free(&w);
}

/* ---- hostile records -------------------------------------------------------- */

static void live_record(struct fx *f, struct state_writer *w)
{
	bring_up(f, &f->a);
	rng_req(f, 16);
	kick(&f->a);
	wait_used(f, 1);
	save(&f->a, w);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	struct inst b = make(f);
	struct state_writer before, after;
	save(&b, &before);
	for (size_t n = 0; n < rec.len; n++) {
		char err[256];
		assert_int_equal(load(&b, rec.buf, n, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "virtio-rng"));
		assert_non_null(strstr(err, "field"));
	}
	save(&b, &after);
	assert_same(&before, &after);
	state_writer_free(&before);
	state_writer_free(&after);
	state_writer_free(&rec);
	drop(&b);
}

/* Every byte flipped: refused (instance unchanged) or accepted; never a
 * crash. */
static void test_corrupted(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	unsigned refused = 0;
	for (size_t i = 0; i < rec.len; i++) {
		struct inst b = make(f);
		struct state_writer before, after;
		save(&b, &before);
		rec.buf[i] ^= 0xff;
		if (load(&b, rec.buf, rec.len, NULL, 0) < 0) {
			refused++;
			save(&b, &after);
			assert_same(&before, &after);
			state_writer_free(&after);
		}
		rec.buf[i] ^= 0xff;
		state_writer_free(&before);
		drop(&b);
	}
	assert_true(refused > rec.len / 2);
	state_writer_free(&rec);
}

static void test_queue_size_3(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	uint8_t *v = field(&rec, STATE_U16, "size");
	v[0] = 3;
	v[1] = 0;
	assert_refused(f, &rec, "q0.size");
	state_writer_free(&rec);
}

static void test_avail_too_far_ahead(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	/* The restored ring says the driver is more than a ring ahead. */
	struct virtq_avail *a = drv_ring_avail(&f->ring);
	a->idx = htole16((uint16_t)(le16toh(a->idx) + QSIZE + 1));
	assert_refused(f, &rec, "q0.last_avail_idx");
	state_writer_free(&rec);
}

static void test_ring_outside_ram(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	uint64_t outside = htole64(RAM_SIZE);
	memcpy(field(&rec, STATE_U64, "desc"), &outside, 8);
	assert_refused(f, &rec, "q0.desc");
	state_writer_free(&rec);
}

static void test_unknown_feature(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	uint8_t *v = field(&rec, STATE_U64, "features");
	v[6] |= 0x04; /* bit 50 */
	assert_refused(f, &rec, "virtio.features");
	state_writer_free(&rec);
}

static void test_bad_status_and_vector(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	uint8_t *st = field(&rec, STATE_U8, "status");
	uint8_t good = *st;
	*st |= 0x10; /* no such status bit */
	assert_refused(f, &rec, "virtio.status");
	*st = good;
	uint8_t *vec = field(&rec, STATE_U16, "msix_vector");
	vec[0] = 60;
	vec[1] = 0;
	assert_refused(f, &rec, "q0.msix_vector");
	state_writer_free(&rec);
}

/* Refused after the PCI function was applied (the model's section is
 * wrong): the instance still goes back to what it was. */
static void test_model_section_refused(void **state)
{
	struct fx *f = *state;
	struct state_writer rec;
	live_record(f, &rec);
	/* Rename the model's section: its loader does not find it. */
	last_field(&rec, STATE_BEGIN, "virtio-rng")[-1] = 'X';
	assert_refused(f, &rec, "virtio-rng");
	state_writer_free(&rec);
}

/* ---- the contract ----------------------------------------------------------- */

struct sink_rec {
	unsigned n;
	bool saw_q0_kicks, saw_exits;
	uint64_t q0_kicks, q0_interrupts;
};

static void emit(void *opaque, const char *device, const char *scope, const char *name,
		 uint64_t value)
{
	struct sink_rec *s = opaque;
	s->n++;
	assert_string_equal(device, "virtio-rng");
	if (!strcmp(scope, "") && !strcmp(name, "exits"))
		s->saw_exits = true;
	if (!strcmp(scope, "q0") && !strcmp(name, "kicks")) {
		s->saw_q0_kicks = true;
		s->q0_kicks = value;
	}
	if (!strcmp(scope, "q0") && !strcmp(name, "interrupts"))
		s->q0_interrupts = value;
}

static void test_contract(void **state)
{
	struct fx *f = *state;
	struct device *d = dev_of(&f->a);
	assert_string_equal(d->ops->kind, "virtio-rng");
	assert_ptr_equal(container_of(d, struct virtio_pci, dev), f->a.vp);
	bring_up(f, &f->a);
	rng_req(f, 16);
	kick(&f->a);
	wait_used(f, 1);
	drv_ring_set_used_event(&f->ring, 1); /* interrupt me for the next */
	rng_req(f, 16);
	kick(&f->a);
	wait_used(f, 2);
	/* The device's own re-kick is not the driver's. */
	virtio_queue_rekick(f->a.vdev, 0);
	loop_run_until(f->loop, NULL, NULL, 50);
	assert_int_equal(counter_read(&f->a.vdev->queues[0].rekicks), 0);
	struct sink_rec s = {0};
	struct counter_sink sink = {emit, &s};
	device_counters(d, &sink);
	assert_int_equal(s.n, 16); /* the device's eight, q0's eight */
	assert_true(s.saw_exits && s.saw_q0_kicks);
	assert_int_equal(s.q0_kicks, 2);
	assert_int_equal(s.q0_interrupts, 2);
	device_reset(d);
	assert_false(f->a.vdev->live);
	assert_int_equal(f->a.vdev->status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rng_round_trip_fresh, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_rng_round_trip_live, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_blk_round_trip_live, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_mid_io, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_net_round_trip_live, setup_net, teardown),
		cmocka_unit_test_setup_teardown(test_console_round_trip_live, setup_console, teardown),
		cmocka_unit_test_setup_teardown(test_blk_inflight_refused, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_corrupted, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_queue_size_3, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_avail_too_far_ahead, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_ring_outside_ram, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_feature, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_bad_status_and_vector, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_model_section_refused, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_contract, setup_rng, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
