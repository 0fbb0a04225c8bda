/* virtio-console against a fake driver (real split rings in fake guest RAM,
 * a fake transport that records interrupts): output reaches the fd or the
 * socket client, input fills the guest's receive buffers; with no buffers
 * the input fd is not polled (the loop stays idle) and nothing is lost; a
 * hung-up input does not spin; protocol violations set NEEDS_RESET; the
 * UNIX-socket server replaces stale sockets and refuses live ones; output
 * to a pipe nobody reads never blocks the loop. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "support/loop_wait.h"
#include "support/virtio_drv.h"
#include "virtio/console.h"
#include "virtio/virtio.h"

/* ---- a fake driver ---- */

#define RAM_SIZE  0x100000ULL /* 1 MiB */
#define QSIZE     16

static bool rx_arrived(void *d) { return drv_ring_has_used(&((struct virtio_drv *)d)->vq[0]); }

#define FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
		  (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

struct fx {
	struct virtio_drv d;
	struct loop *loop;
	struct virtio_console *c;
	int sp[2]; /* sp[0]: the console's in and out; sp[1]: the user */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	virtio_drv_init(&f->d, RAM_SIZE);
	f->loop = loop_create();
	assert_non_null(f->loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sp), 0);
	f->c = virtio_console_create(f->sp[0], f->sp[0], &f->d.ram.mem, f->loop);
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
	virtio_drv_destroy(&f->d);
	free(f);
	return 0;
}

/* Guest output of text in two descriptors on transmitq. */
static uint16_t guest_write(struct fx *f, const char *text)
{
	size_t len = strlen(text), half = len / 2;
	uint64_t b = fake_ram_alloc(&f->d.ram, len);
	memcpy(fake_ram_ptr(&f->d.ram, b), text, len);
	struct drv_seg s[2] = {{b, (uint32_t)half, false}, {b + half, (uint32_t)(len - half), false}};
	uint16_t head = drv_ring_add(&f->d.vq[1], s, 2);
	fake_transport_kick(f->d.vdev, 1);
	return head;
}

static uint64_t post_rx(struct fx *f, uint32_t size)
{
	uint64_t b = fake_ram_alloc(&f->d.ram, size);
	struct drv_seg s = {b, size, true};
	drv_ring_add(&f->d.vq[0], &s, 1);
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

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	uint16_t head = guest_write(f, "hello, console\n");
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_true(f->d.tr.signals[1] >= 1);
	assert_int_equal(read(f->sp[1], buf, sizeof(buf)), 15);
	assert_string_equal(buf, "hello, console\n");

	struct virtio_console_stats st;
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.tx_bytes, 15);
	const struct dev_counters *cnt = &f->d.vdev->queues[1].counters;
	assert_int_equal(counter_read(&cnt->requests), 1);
	assert_int_equal(counter_read(&cnt->bytes_in), 15);
}

static void test_rx(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	uint64_t b = post_rx(f, 64);
	fake_transport_kick(f->d.vdev, 0);
	assert_int_equal(write(f->sp[1], "abc", 3), 3);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(fake_ram_ptr(&f->d.ram, b), "abc", 3);
	assert_true(f->d.tr.signals[0] >= 1);
	const struct dev_counters *cnt = &f->d.vdev->queues[0].counters;
	assert_int_equal(counter_read(&cnt->requests), 1);
	assert_int_equal(counter_read(&cnt->bytes_out), 3);
}

/* No receive buffers: the input is not polled (one wake-up, then idle) and
 * stays in the socket; posting buffers and kicking receiveq delivers it. */
static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	struct virtio_console_stats st;
	uint32_t id, len;

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	assert_int_equal(write(f->sp[1], "xyz", 3), 3);
	loop_run_until(f->loop, NULL, NULL, 300);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.in_wakeups, 1);
	assert_int_equal(st.rx_bytes, 0);

	/* Buffers without a kick: still nothing polls. */
	uint64_t b = post_rx(f, 2);
	loop_run_until(f->loop, NULL, NULL, 100);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.in_wakeups, 1);

	fake_transport_kick(f->d.vdev, 0);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(fake_ram_ptr(&f->d.ram, b), "xy", 2);
	/* The buffer is full again: idle again, and the last byte waits. */
	loop_run_until(f->loop, NULL, NULL, 100);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 3);
	b = post_rx(f, 8);
	fake_transport_kick(f->d.vdev, 0);
	loop_run_until(f->loop, rx_arrived, &f->d, 5000);
	assert_true(drv_ring_pop_used(&f->d.vq[0], &id, &len));
	assert_int_equal(len, 1);
	assert_memory_equal(fake_ram_ptr(&f->d.ram, b), "z", 1);
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.rx_bytes, 3);
}

/* The user hangs up: no busy loop, output is dropped, the VM goes on. */
static void test_hangup(void **state)
{
	struct fx *f = *state;
	struct virtio_console_stats st;
	uint32_t id, len;

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	close(f->sp[1]);
	f->sp[1] = -1;
	loop_run_until(f->loop, NULL, NULL, 300);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 3);
	guest_write(f, "lost");
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	virtio_console_get_stats(f->c, &st);
	assert_int_equal(st.tx_dropped, 4);
	post_rx(f, 8);
	fake_transport_kick(f->d.vdev, 0);
	loop_run_until(f->loop, NULL, NULL, 200);
	virtio_console_get_stats(f->c, &st);
	assert_true(st.in_wakeups <= 4);
	assert_true(f->d.vdev->live);
}

static void test_tx_writable_is_broken(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	uint64_t b = fake_ram_alloc(&f->d.ram, 32);
	struct drv_seg s[2] = {{b, 4, false}, {b + 16, 16, true}};
	drv_ring_add(&f->d.vq[1], s, 2);
	fake_transport_kick(f->d.vdev, 1);
	assert_false(drv_ring_pop_used(&f->d.vq[1], &id, &len));
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(f->d.tr.config_signals, 1);
}

static void test_rx_readable_is_broken(void **state)
{
	struct fx *f = *state;

	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	uint64_t b = fake_ram_alloc(&f->d.ram, 32);
	struct drv_seg s = {b, 32, false};
	drv_ring_add(&f->d.vq[0], &s, 1);
	assert_int_equal(write(f->sp[1], "q", 1), 1);
	loop_run_until(f->loop, NULL, NULL, 200);
	assert_true(f->d.vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(drv_ring_used_idx(&f->d.vq[0]), 0);
}

/* Output that does not fit in a non-blocking fd waits for EPOLLOUT. */
static void test_tx_blocked(void **state)
{
	struct fx *f = *state;
	static char big[300000], got[300000];
	uint32_t id, len;
	size_t n = 0;

	assert_int_equal(fcntl(f->sp[0], F_SETFL, O_NONBLOCK), 0);
	virtio_drv_start(&f->d, virtio_console_dev(f->c), FEATURES, 2, QSIZE);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	uint64_t b = fake_ram_alloc(&f->d.ram, sizeof(big));
	memcpy(fake_ram_ptr(&f->d.ram, b), big, sizeof(big));
	struct drv_seg s = {b, sizeof(big), false};
	drv_ring_add(&f->d.vq[1], &s, 1);
	fake_transport_kick(f->d.vdev, 1);
	assert_false(drv_ring_pop_used(&f->d.vq[1], &id, &len)); /* the socket is full */
	while (n < sizeof(got)) {
		ssize_t r = read(f->sp[1], got + n, sizeof(got) - n);
		assert_true(r > 0);
		n += (size_t)r;
		loop_run_until(f->loop, NULL, NULL, 20);
	}
	assert_memory_equal(got, big, sizeof(big));
	assert_true(drv_ring_pop_used(&f->d.vq[1], &id, &len));
}

static bool tx_used(void *d) { return drv_ring_has_used(&((struct virtio_drv *)d)->vq[1]); }

/* A blocking pipe nobody reads (a paused terminal, a slow reader): the
 * kick returns at once, the guest's chains stay unconsumed while the pipe
 * and the output buffer are full, and everything arrives, in order, once
 * the pipe is read. Without non-blocking output the kick never returns
 * (the alarm fails the test). */
static void test_tx_pipe_unread(void **state)
{
	static char big[300000], got[300000 + 5];
	struct virtio_drv d;
	struct loop *loop = loop_create();
	uint32_t id, len;
	int p[2];
	size_t n = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0); /* the test's end */
	virtio_drv_init(&d, RAM_SIZE);
	struct virtio_console *c = virtio_console_create(-1, p[1], &d.ram.mem, loop);
	assert_non_null(c);
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK); /* the caller's fd is untouched */
	virtio_drv_start(&d, virtio_console_dev(c), FEATURES, 2, QSIZE);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	uint64_t b = fake_ram_alloc(&d.ram, sizeof(big) + 5);
	memcpy(fake_ram_ptr(&d.ram, b), big, sizeof(big));
	memcpy(fake_ram_ptr(&d.ram, b + sizeof(big)), "tail!", 5);
	struct drv_seg s1 = {b, sizeof(big), false}, s2 = {b + sizeof(big), 5, false};
	drv_ring_add(&d.vq[1], &s1, 1);
	drv_ring_add(&d.vq[1], &s2, 1);
	alarm(20);
	fake_transport_kick(d.vdev, 1);
	loop_run_until(loop, NULL, NULL, 50);
	alarm(0);
	assert_false(drv_ring_pop_used(&d.vq[1], &id, &len)); /* both still the guest's */

	while (n < sizeof(got)) {
		ssize_t r = read(p[0], got + n, sizeof(got) - n);
		if (r > 0)
			n += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
		loop_run_until(loop, NULL, NULL, 10);
	}
	assert_memory_equal(got, big, sizeof(big));
	assert_memory_equal(got + sizeof(big), "tail!", 5);
	loop_run_until(loop, tx_used, &d, 1000);
	assert_true(drv_ring_pop_used(&d.vq[1], &id, &len));
	assert_true(drv_ring_pop_used(&d.vq[1], &id, &len));
	struct virtio_console_stats st;
	virtio_console_get_stats(c, &st);
	assert_int_equal(st.tx_bytes, sizeof(got));
	assert_int_equal(st.tx_dropped, 0);

	virtio_console_destroy(c);
	close(p[0]);
	close(p[1]);
	loop_destroy(loop);
	virtio_drv_destroy(&d);
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
	struct virtio_drv d;
	char path[108], buf[32] = {0};
	uint32_t id, len;
	struct virtio_console_stats st;
	struct loop *loop = loop_create();

	virtio_drv_init(&d, RAM_SIZE);
	sock_path(path, sizeof(path));
	/* a stale socket: bound, nobody listening */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	unlink(path);
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);

	struct virtio_console *c = virtio_console_create_socket(path, &d.ram.mem, loop);
	assert_non_null(c);
	/* a second server on a live socket is refused */
	assert_null(virtio_console_create_socket(path, &d.ram.mem, loop));
	virtio_drv_start(&d, virtio_console_dev(c), FEATURES, 2, QSIZE);

	/* nobody connected: output is dropped */
	uint64_t b = fake_ram_alloc(&d.ram, 8);
	memcpy(fake_ram_ptr(&d.ram, b), "early", 5);
	struct drv_seg s = {b, 5, false};
	drv_ring_add(&d.vq[1], &s, 1);
	fake_transport_kick(d.vdev, 1);
	assert_true(drv_ring_pop_used(&d.vq[1], &id, &len));
	virtio_console_get_stats(c, &st);
	assert_int_equal(st.tx_dropped, 5);

	int cl = connect_to(path);
	assert_true(cl >= 0);
	loop_run_until(loop, NULL, NULL, 100); /* accept */
	memcpy(fake_ram_ptr(&d.ram, b), "hi", 2);
	s.len = 2;
	drv_ring_add(&d.vq[1], &s, 1);
	fake_transport_kick(d.vdev, 1);
	assert_true(drv_ring_pop_used(&d.vq[1], &id, &len));
	assert_int_equal(read(cl, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");

	uint64_t rb = fake_ram_alloc(&d.ram, 16);
	struct drv_seg r = {rb, 16, true};
	drv_ring_add(&d.vq[0], &r, 1);
	fake_transport_kick(d.vdev, 0);
	assert_int_equal(write(cl, "ping", 4), 4);
	loop_run_until(loop, rx_arrived, &d, 5000);
	assert_true(drv_ring_pop_used(&d.vq[0], &id, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(fake_ram_ptr(&d.ram, rb), "ping", 4);

	/* the client leaves; the next one is served */
	close(cl);
	loop_run_until(loop, NULL, NULL, 100);
	cl = connect_to(path);
	assert_true(cl >= 0);
	loop_run_until(loop, NULL, NULL, 100);
	memcpy(fake_ram_ptr(&d.ram, b), "again", 5);
	s.len = 5;
	drv_ring_add(&d.vq[1], &s, 1);
	fake_transport_kick(d.vdev, 1);
	assert_int_equal(read(cl, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "again", 5);
	close(cl);

	virtio_console_destroy(c);
	struct stat stt;
	assert_int_equal(stat(path, &stt), -1); /* removed */
	loop_destroy(loop);
	virtio_drv_destroy(&d);
}

static void test_socket_bad_path(void **state)
{
	struct virtio_drv d;
	char path[] = "/tmp/iovirt-test-console-XXXXXX";
	struct loop *loop = loop_create();
	virtio_drv_init(&d, RAM_SIZE);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_null(virtio_console_create_socket(path, &d.ram.mem, loop)); /* a regular file */
	unlink(path);
	assert_null(virtio_console_create_socket("/nonexistent-dir/x.sock", &d.ram.mem, loop));
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_null(virtio_console_create_socket(longp, &d.ram.mem, loop));
	loop_destroy(loop);
	virtio_drv_destroy(&d);
}

/* An input that cannot be polled (a regular file) is no input. */
static void test_unpollable_input(void **state)
{
	struct virtio_drv d;
	struct loop *loop = loop_create();
	virtio_drv_init(&d, RAM_SIZE);
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct virtio_console *c = virtio_console_create(fd, -1, &d.ram.mem, loop);
	assert_non_null(c);
	virtio_drv_start(&d, virtio_console_dev(c), FEATURES, 2, QSIZE);
	virtio_console_destroy(c);
	close(fd);
	loop_destroy(loop);
	virtio_drv_destroy(&d);
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
		cmocka_unit_test(test_tx_pipe_unread),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_socket_bad_path),
		cmocka_unit_test(test_unpollable_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
