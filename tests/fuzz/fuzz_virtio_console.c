// fuzz-sources: src/virtio/console.c src/virtio/queue_service.c src/core/state.c src/virtio/virtio.c src/virtio/virtqueue.c src/backends/term.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/log.c src/core/loop.c tests/fuzz/harness.c tests/fuzz/virtio_drv.c
/* virtio-console against a hostile driver: the fuzzer's bytes are guest
 * RAM (the split rings, their descriptors, indirect tables and buffers)
 * and choose the features, the queue size and the output: a socket (sent
 * to directly) or a pipe (written through a term, vmm/term.h), both with
 * little room so that output fills up and resumes. The device runs on the
 * real event loop: input arrives on a socket (the input's tail), the
 * queues are kicked, the host side reads some output between rounds, and
 * the device is reset and kicked again.
 *
 * There is no multiport: the device offers no VIRTIO_CONSOLE_F_MULTIPORT,
 * so there are no control queues to fuzz.
 *
 * Checked invariants: no access outside guest RAM (RAM is one malloc of
 * its exact size), no crash or UB, no hang (the loop rounds are bounded),
 * output never more than the guest's buffers held, and the device either
 * live or NEEDS_RESET. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "virtio/console.h"
#include "virtio/virtio.h"
#include "virtio_drv.h"

#define RAM_SIZE 0x10000
/* Rings packed at the start of RAM so that short inputs reach them:
 * receiveq at 0, transmitq at 0x200 (descriptors, avail +0x100, used
 * +0x140: room for 16 entries). */
static const uint64_t ring_slot[2] = {0x000, 0x200};

static void sig_queue(struct virtio_dev *vdev, unsigned q)
{
}

static void sig_config(struct virtio_dev *vdev)
{
}

static const struct virtio_transport_ops transport = {
	.signal_queue = sig_queue,
	.signal_config = sig_config,
};

static void notify(struct virtio_dev *vdev, unsigned q)
{
	pthread_mutex_lock(&vdev->lock);
	if (vdev->live && vdev->queues[q].enabled)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static void start(struct virtio_dev *vdev, uint64_t want, uint16_t qsize)
{
	struct fuzz_ring rings[VIRTIO_MAX_QUEUES];
	for (unsigned q = 0; q < vdev->nqueues && q < VIRTIO_MAX_QUEUES; q++)
		rings[q] = (struct fuzz_ring){qsize, ring_slot[q], ring_slot[q] + 0x100,
					      ring_slot[q] + 0x140};
	fuzz_virtio_start(vdev, want | (1ULL << VIRTIO_F_VERSION_1), rings, vdev->nqueues);
}

static void check(struct virtio_dev *vdev)
{
	if (vdev->live && (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		abort();
}

/* Reads up to max bytes of output (the user catching up a little). */
static size_t drain(int fd, size_t max)
{
	static uint8_t buf[4096];
	size_t got = 0;
	while (got < max) {
		ssize_t r = read(fd, buf, max - got < sizeof(buf) ? max - got : sizeof(buf));
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Closes the user's end of the output. */
static void hang_up(int *reader, int sp[2], int p[2])
{
	if (*reader < 0)
		return;
	close(*reader);
	if (*reader == sp[1])
		sp[1] = -1;
	else
		p[0] = -1;
	*reader = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct loop *loop;
	struct guest_mem mem;
	int sp[2], p[2] = {-1, -1};

	if (!loop) {
		fuzz_quiet_log();
		loop = fuzz_loop();
		signal(SIGPIPE, SIG_IGN); /* as main() does: a reader gone is EPIPE */
	}
	if (size < 4)
		return 0;
	uint8_t flags = data[0];
	uint16_t qsize = (uint16_t)(1u << (data[1] % 5)); /* 1..16: fits the packed rings */
	size_t in_len = data[2] % 64;
	size_t drain_step = (size_t)(data[3] + 1) * 64;
	data += 4;
	size -= 4;

	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	guest_mem_init_empty(&mem);
	guest_mem_add_region(&mem, 0, ram, RAM_SIZE);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		abort();
	int small = 4096;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	int out_fd = sp[0], reader = sp[1];
	if (flags & 1) {
		/* A blocking pipe, as a terminal or a shell pipe would be. */
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		fcntl(p[1], F_SETPIPE_SZ, 4096);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		out_fd = p[1];
		reader = p[0];
	}
	struct virtio_console *c = virtio_console_create(sp[0], out_fd, &mem, loop);
	if (!c)
		abort();
	struct virtio_dev *vdev = virtio_console_dev(c);
	vdev->transport = &transport;
	uint64_t want = (flags & 2 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |
			(flags & 4 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0);
	start(vdev, want, qsize);

	uint8_t cfg[16];
	pthread_mutex_lock(&vdev->lock);
	vdev->ops->config_read(vdev, 0, cfg, vdev->config_size < 16 ? vdev->config_size : 16);
	vdev->ops->config_write(vdev, 8, cfg, 4); /* emerg_wr, not offered */
	pthread_mutex_unlock(&vdev->lock);

	/* Input from the user: the input's tail. */
	if (in_len > size)
		in_len = size;
	if (in_len && write(sp[1], data + size - in_len, in_len) < 0)
		abort();
	size_t out = 0;
	for (unsigned round = 0; round < 6; round++) {
		notify(vdev, round & 1);
		check(vdev);
		fuzz_loop_round();
		check(vdev);
		out += drain(reader, drain_step);
	}
	if (flags & 8) {
		/* The user hangs up: output is dropped from now on. */
		hang_up(&reader, sp, p);
	}
	notify(vdev, 1);
	fuzz_loop_round();
	check(vdev);

	/* Reset, then kick again: nothing is processed. */
	pthread_mutex_lock(&vdev->lock);
	virtio_dev_write_status(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
	notify(vdev, 1);
	fuzz_loop_round();
	if (vdev->live)
		abort();
	if (reader >= 0)
		out += drain(reader, SIZE_MAX);

	struct virtio_console_stats st;
	virtio_console_get_stats(c, &st);
	if (out > st.tx_bytes)
		abort();
	/* Gone before the device: a term would give its buffer a second. */
	hang_up(&reader, sp, p);
	virtio_console_destroy(c);
	close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	free(ram);
	return 0;
}
