/* virtio-console against a fake driver (real split rings in fake guest RAM,
 * a fake transport that records interrupts): output reaches the fd or the
 * socket client, input fills the guest's receive buffers; with no buffers
 * the input fd is not polled (the loop stays idle) and nothing is lost; a
 * hung-up input does not spin; protocol violations set NEEDS_RESET; the
 * UNIX-socket server replaces stale sockets and refuses live ones. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/console.h"
#include "virtio/virtio.h"
#include "vmm/loop.h"

/* ---- a fake driver ---- */

#define RAM_SIZE  0x100000ULL /* 1 MiB */
#define QSIZE     16
#define BUF_START 0x10000ULL

struct drv {
	struct guest_mem mem;
	uint8_t *ram;
	struct virtio_dev *vdev;
	uint16_t avail_idx[2], next_desc[2], used_seen[2];
	uint64_t buf_next;
	int signals[2], config_signals;
};

static uint64_t desc_gpa(unsigned q) { return 0x4000ULL * q; }
static uint64_t avail_gpa(unsigned q) { return 0x4000ULL * q + 0x1000; }
static uint64_t used_gpa(unsigned q) { return 0x4000ULL * q + 0x2000; }

static void *gpa(struct drv *d, uint64_t a) { return d->ram + a; }

static void fake_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	struct drv *d = vdev->transport_opaque;
	d->signals[q]++;
}

static void fake_signal_config(struct virtio_dev *vdev)
{
	struct drv *d = vdev->transport_opaque;
	d->config_signals++;
}

static const struct virtio_transport_ops fake_transport = {
	.signal_queue = fake_signal_queue,
	.signal_config = fake_signal_config,
};

static void drv_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
	d->ram = calloc(1, RAM_SIZE);
	assert_non_null(d->ram);
	guest_mem_init_empty(&d->mem);
	assert_int_equal(guest_mem_add_region(&d->mem, 0, d->ram, RAM_SIZE), 0);
	d->buf_next = BUF_START;
}

/* §3.1.1 driver initialisation, with the features in want that are offered. */
static void drv_start(struct drv *d, struct virtio_dev *vdev, uint64_t want)
{
	d->vdev = vdev;
	vdev->transport = &fake_transport;
	vdev->transport_opaque = d;
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdev->acked_features = vdev->device_features & want;
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < 2; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		vq->size = QSIZE;
		vq->desc = desc_gpa(q);
		vq->avail = avail_gpa(q);
		vq->used = used_gpa(q);
		vq->enabled = true;
	}
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
	pthread_mutex_unlock(&vdev->lock);
	assert_true(vdev->live);
}

static uint64_t drv_alloc(struct drv *d, size_t len)
{
	uint64_t a = d->buf_next;
	d->buf_next += (len + 15) & ~15ULL;
	assert_true(d->buf_next <= RAM_SIZE);
	return a;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Makes one chain of n segments available on q; returns its head. */
static uint16_t drv_add(struct drv *d, unsigned q, const struct seg *s, unsigned n)
{
	struct virtq_desc *desc = gpa(d, desc_gpa(q));
	uint16_t head = d->next_desc[q];
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		desc[idx].addr = htole64(s[i].gpa);
		desc[idx].len = htole32(s[i].len);
		desc[idx].flags = htole16((uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)));
		desc[idx].next = htole16((uint16_t)((idx + 1) % QSIZE));
	}
	d->next_desc[q] = (uint16_t)((head + n) % QSIZE);
	struct virtq_avail *av = gpa(d, avail_gpa(q));
	av->ring[d->avail_idx[q] % QSIZE] = htole16(head);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	av->idx = htole16(++d->avail_idx[q]);
	return head;
}

/* What the transport does on a kick. */
static void drv_kick(struct drv *d, unsigned q)
{
	struct virtio_dev *vdev = d->vdev;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->live && vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static uint16_t used_idx(struct drv *d, unsigned q)
{
	const struct virtq_used *u = gpa(d, used_gpa(q));
	return le16toh(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE));
}

/* The next used element of q, or false if none. */
static bool drv_used(struct drv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	const struct virtq_used *u = gpa(d, used_gpa(q));
	if (used_idx(d, q) == d->used_seen[q])
		return false;
	const struct virtq_used_elem *e = &u->ring[d->used_seen[q]++ % QSIZE];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	return true;
}

/* ---- running the loop ---- */

struct waiter {
	struct loop *loop;
	int tfd, ticks, max_ticks;
	bool (*done)(struct drv *);
	struct drv *d;
};

static void waiter_tick(void *opaque, uint32_t events)
{
	struct waiter *w = opaque;
	uint64_t v;
	assert_true(read(w->tfd, &v, sizeof(v)) == sizeof(v));
	if (++w->ticks >= w->max_ticks || (w->done && w->done(w->d)))
		loop_stop(w->loop);
}

/* Runs the loop until done(d) (checked every 10 ms) or ms pass. */
static void run_loop(struct loop *loop, struct drv *d, bool (*done)(struct drv *), int ms)
{
	struct waiter w = {.loop = loop, .max_ticks = ms / 10, .done = done, .d = d};
	struct itimerspec its = {{0, 10000000}, {0, 10000000}};
	w.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	assert_true(w.tfd >= 0);
	assert_int_equal(timerfd_settime(w.tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_add_fd(loop, w.tfd, EPOLLIN, waiter_tick, &w), 0);
	assert_int_equal(loop_run(loop), 0);
	loop_del_fd(loop, w.tfd);
	close(w.tfd);
}

static bool rx_arrived(struct drv *d) { return used_idx(d, 0) != d->used_seen[0]; }

#define FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
		  (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

struct fx {
	struct drv d;
	struct loop *loop;
	struct virtio_console *c;
	int sp[2]; /* sp[0]: the console's in and out; sp[1]: the user */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	drv_init(&f->d);
	f->loop = loop_create();
	assert_non_null(f->loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sp), 0);
	f->c = virtio_console_create(f->sp[0], f->sp[0], &f->d.mem, f->loop);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_console_destroy(f->c);
	loop_destroy(f->loop);
	close(f->sp[0]);
	if (f->sp[1] >= 0)
		close(f->sp[1]);
	free(f->d.ram);
	free(f);
	return 0;
}

/* Guest output of text in two descriptors on transmitq. */
static uint16_t guest_write(struct fx *f, const char *text)
{
	size_t len = strlen(text), half = len / 2;
	uint64_t b = drv_alloc(&f->d, len);
	memcpy(gpa(&f->d, b), text, len);
	struct seg s[2] = {{b, (uint32_t)half, false}, {b + half, (uint32_t)(len - half), false}};
	uint16_t head = drv_add(&f->d, 1, s, 2);
	drv_kick(&f->d, 1);
	return head;
}

static uint64_t post_rx(struct fx *f, uint32_t size)
{
	uint64_t b = drv_alloc(&f->d, size);
	struct seg s = {b, size, true};
	drv_add(&f->d, 0, &s, 1);
	return b;
}

static void test_device(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = virtio_console_dev(f->c);
	uint8_t cfg[12];

	assert_int_equal(vdev->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(vdev->nqueues, 2);
	assert_int_equal(vdev->config_size, 12);
	assert_false(vdev->device_features & (1ULL << VIRTIO_CONSOLE_F_SIZE));
	assert_false(vdev->device_features & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
	memset(cfg, 0xaa, sizeof(cfg));
	vdev->ops->config_read(vdev, 0, cfg, sizeof(cfg));
	for (unsigned i = 0; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
}

static void test_tx(void **state)
{
	struct fx *f = *state;
	char buf[64] = {0};
	uint32_t id, len;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	uint16_t head = guest_write(f, "hello, console\n");
	assert_true(drv_used(&f->d, 1, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_true(f->d.signals[1] >= 1);
	assert_int_equal(read(f->sp[1], buf, sizeof(buf)), 15);
	assert_string_equal(buf, "hello, console\n");

	struct virtio_console_stats st;
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.tx_bytes, 15);
}

static void test_rx(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	uint64_t b = post_rx(f, 64);
	drv_kick(&f->d, 0);
	assert_int_equal(write(f->sp[1], "abc", 3), 3);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(drv_used(&f->d, 0, &id, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(gpa(&f->d, b), "abc", 3);
	assert_true(f->d.signals[0] >= 1);
}

/* No receive buffers: the input is not polled (one wake-up, then idle) and
 * stays in the socket; posting buffers and kicking receiveq delivers it. */
static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	struct virtio_console_stats st;
	uint32_t id, len;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	assert_int_equal(write(f->sp[1], "xyz", 3), 3);
	run_loop(f->loop, &f->d, NULL, 300);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.in_wakeups, 1);
	assert_int_equal(st.rx_bytes, 0);

	/* Buffers without a kick: still nothing polls. */
	uint64_t b = post_rx(f, 2);
	run_loop(f->loop, &f->d, NULL, 100);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.in_wakeups, 1);

	drv_kick(&f->d, 0);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(drv_used(&f->d, 0, &id, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(gpa(&f->d, b), "xy", 2);
	/* The buffer is full again: idle again, and the last byte waits. */
	run_loop(f->loop, &f->d, NULL, 100);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 3);
	b = post_rx(f, 8);
	drv_kick(&f->d, 0);
	run_loop(f->loop, &f->d, rx_arrived, 5000);
	assert_true(drv_used(&f->d, 0, &id, &len));
	assert_int_equal(len, 1);
	assert_memory_equal(gpa(&f->d, b), "z", 1);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.rx_bytes, 3);
}

/* The user hangs up: no busy loop, output is dropped, the VM goes on. */
static void test_hangup(void **state)
{
	struct fx *f = *state;
	struct virtio_console_stats st;
	uint32_t id, len;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	close(f->sp[1]);
	f->sp[1] = -1;
	run_loop(f->loop, &f->d, NULL, 300);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 3);
	guest_write(f, "lost");
	assert_true(drv_used(&f->d, 1, &id, &len));
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.tx_dropped, 4);
	post_rx(f, 8);
	drv_kick(&f->d, 0);
	run_loop(f->loop, &f->d, NULL, 200);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 4);
	assert_true(f->d.vdev->live);
}

static void test_tx_writable_is_broken(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	uint64_t b = drv_alloc(&f->d, 32);
	struct seg s[2] = {{b, 4, false}, {b + 16, 16, true}};
	drv_add(&f->d, 1, s, 2);
	drv_kick(&f->d, 1);
	assert_false(drv_used(&f->d, 1, &id, &len));
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(f->d.config_signals, 1);
}

static void test_rx_readable_is_broken(void **state)
{
	struct fx *f = *state;

	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	uint64_t b = drv_alloc(&f->d, 32);
	struct seg s = {b, 32, false};
	drv_add(&f->d, 0, &s, 1);
	assert_int_equal(write(f->sp[1], "q", 1), 1);
	run_loop(f->loop, &f->d, NULL, 200);
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(used_idx(&f->d, 0), 0);
}

/* Output that does not fit in a non-blocking fd waits for EPOLLOUT. */
static void test_tx_blocked(void **state)
{
	struct fx *f = *state;
	static char big[300000], got[300000];
	uint32_t id, len;
	size_t n = 0;

	assert_int_equal(fcntl(f->sp[0], F_SETFL, O_NONBLOCK), 0);
	drv_start(&f->d, virtio_console_dev(f->c), FEATURES);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	uint64_t b = drv_alloc(&f->d, sizeof(big));
	memcpy(gpa(&f->d, b), big, sizeof(big));
	struct seg s = {b, sizeof(big), false};
	drv_add(&f->d, 1, &s, 1);
	drv_kick(&f->d, 1);
	assert_false(drv_used(&f->d, 1, &id, &len)); /* the socket is full */
	while (n < sizeof(got)) {
		ssize_t r = read(f->sp[1], got + n, sizeof(got) - n);
		assert_true(r > 0);
		n += (size_t)r;
		run_loop(f->loop, &f->d, NULL, 20);
	}
	assert_memory_equal(got, big, sizeof(big));
	assert_true(drv_used(&f->d, 1, &id, &len));
}

/* ---- the UNIX-socket server ---- */

static void sock_path(char *p, size_t len)
{
	snprintf(p, len, "/tmp/iovirt-test-console-%d.sock", (int)getpid());
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_socket(void **state)
{
	struct drv d;
	char path[108], buf[32] = {0};
	uint32_t id, len;
	struct virtio_console_stats st;
	struct loop *loop = loop_create();

	drv_init(&d);
	sock_path(path, sizeof(path));
	/* a stale socket: bound, nobody listening */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	unlink(path);
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);

	struct virtio_console *c = virtio_console_create_socket(path, &d.mem, loop);
	assert_non_null(c);
	/* a second server on a live socket is refused */
	assert_null(virtio_console_create_socket(path, &d.mem, loop));
	drv_start(&d, virtio_console_dev(c), FEATURES);

	/* nobody connected: output is dropped */
	uint64_t b = drv_alloc(&d, 8);
	memcpy(gpa(&d, b), "early", 5);
	struct seg s = {b, 5, false};
	drv_add(&d, 1, &s, 1);
	drv_kick(&d, 1);
	assert_true(drv_used(&d, 1, &id, &len));
	virtio_console_get_stats(c, &st);
	assert_int_equal(st.tx_dropped, 5);

	int cl = connect_to(path);
	assert_true(cl >= 0);
	run_loop(loop, &d, NULL, 100); /* accept */
	memcpy(gpa(&d, b), "hi", 2);
	s.len = 2;
	drv_add(&d, 1, &s, 1);
	drv_kick(&d, 1);
	assert_true(drv_used(&d, 1, &id, &len));
	assert_int_equal(read(cl, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");

	uint64_t rb = drv_alloc(&d, 16);
	struct seg r = {rb, 16, true};
	drv_add(&d, 0, &r, 1);
	drv_kick(&d, 0);
	assert_int_equal(write(cl, "ping", 4), 4);
	run_loop(loop, &d, rx_arrived, 5000);
	assert_true(drv_used(&d, 0, &id, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(gpa(&d, rb), "ping", 4);

	/* the client leaves; the next one is served */
	close(cl);
	run_loop(loop, &d, NULL, 100);
	cl = connect_to(path);
	assert_true(cl >= 0);
	run_loop(loop, &d, NULL, 100);
	memcpy(gpa(&d, b), "again", 5);
	s.len = 5;
	drv_add(&d, 1, &s, 1);
	drv_kick(&d, 1);
	assert_int_equal(read(cl, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "again", 5);
	close(cl);

	virtio_console_destroy(c);
	struct stat stt;
	assert_int_equal(stat(path, &stt), -1); /* removed */
	loop_destroy(loop);
	free(d.ram);
}

static void test_socket_bad_path(void **state)
{
	struct drv d;
	char path[] = "/tmp/iovirt-test-console-XXXXXX";
	struct loop *loop = loop_create();
	drv_init(&d);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_null(virtio_console_create_socket(path, &d.mem, loop)); /* a regular file */
	unlink(path);
	assert_null(virtio_console_create_socket("/nonexistent-dir/x.sock", &d.mem, loop));
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_null(virtio_console_create_socket(longp, &d.mem, loop));
	loop_destroy(loop);
	free(d.ram);
}

/* An input that cannot be polled (a regular file) is no input. */
static void test_unpollable_input(void **state)
{
	struct drv d;
	struct loop *loop = loop_create();
	drv_init(&d);
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct virtio_console *c = virtio_console_create(fd, -1, &d.mem, loop);
	assert_non_null(c);
	drv_start(&d, virtio_console_dev(c), FEATURES);
	virtio_console_destroy(c);
	close(fd);
	loop_destroy(loop);
	free(d.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_writable_is_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_readable_is_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_blocked, setup, teardown),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_socket_bad_path),
		cmocka_unit_test(test_unpollable_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
