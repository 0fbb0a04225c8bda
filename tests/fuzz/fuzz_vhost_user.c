// fuzz-sources: src/virtio/vhost/vhost_user.c src/virtio/vhost/vhost.c src/virtio/virtio.c src/virtio/virtqueue.c src/core/iov.c src/core/guest_mem.c src/core/guest_mem_log.c src/core/loop.c src/core/log.c tests/fuzz/harness.c
/* vhost-user against a hostile backend: the fuzzer's bytes are what the
 * backend sends, on the socket (the replies to the handshake's
 * GET_FEATURES, GET_PROTOCOL_FEATURES and acks, to GET_CONFIG,
 * GET_QUEUE_NUM, GET_INFLIGHT_FD, GET_VRING_BASE) and on the channel
 * iovirt gives it for requests of its own (BACKEND_REQ: config changes,
 * unknown requests), with whatever sizes, flags and lengths they say. The
 * real parser reads them from a socket pair whose far end holds them all,
 * with a deadline of 0: what is not there yet never comes, and a reply cut
 * short fails at once as a too slow one does (the backend counts as gone,
 * the hang-up path runs). The channel's end is shut after its bytes (a
 * request cut short there ends the channel). Optionally a descriptor rides with the bytes from a chosen
 * offset on (the in-flight log's memfd), and the rings of one or two
 * queues are started and stopped as at DRIVER_OK and reset.
 *
 * Input: flags, config length, socket part's length (2 bytes LE), the
 * offset the descriptor comes at (2 bytes LE, beyond the part: none); the
 * socket part; the rest for the backend's channel.
 *
 * Checked invariants: no crash, UB, leak or access outside a buffer, and
 * no descriptor left open after a run (the lowest free one is the same
 * before and after). FUZZ_VERBOSE=1 shows the log. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "virtio/vhost/vhost.h"
#include "virtio/vhost/vhost_priv.h"

#define RAM_SIZE 0x10000
#define QSIZE 16
#define HDR 6

enum {
	F_START_RINGS = 1 << 0, /* vhost_start and vhost_stop, else the calls one by one */
	F_TWO_QUEUES = 1 << 1,
	F_RECONNECT = 1 << 2,
	F_SET_CONFIG = 1 << 3,
};

static struct guest_mem mem;
static struct loop *loop;
static int kick_fd[2];
static unsigned config_len;

static int lowest_free(void)
{
	int fd = dup(0);
	if (fd < 0)
		abort();
	close(fd);
	return fd;
}

static void on_config_change(struct vhost *v)
{
	uint8_t cfg[256];
	vhost_user_get_config(v, cfg, config_len);
}

static const struct virtio_dev_ops no_ops;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	vhost_user_timeout_ms = 0;
	loop = fuzz_loop();
	if (guest_mem_init(&mem, RAM_SIZE, GUEST_MEM_SHARED) < 0)
		abort();
	for (int i = 0; i < 2; i++)
		if ((kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			abort();
	return 0;
}

/* Writes len bytes to fd, a descriptor riding with them from offset at
 * on (none when at >= len); stops where the socket is full. */
static void send_part(int fd, const uint8_t *p, size_t len, size_t at, int with)
{
	size_t first = at < len ? at : len;
	if (first && send(fd, p, first, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)first)
		return;
	if (first == len)
		return;
	struct iovec iov = {.iov_base = (void *)(p + first), .iov_len = len - first};
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			    .msg_controllen = sizeof(control)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &with, sizeof(int));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
}

/* Reads what iovirt sent the backend, closing the descriptors that came
 * with it; returns the backend channel's end (-1: none came). */
static int drain_sent(int fd)
{
	int channel = -1;
	for (;;) {
		uint8_t buf[4096];
		char control[CMSG_SPACE(8 * sizeof(int))];
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				    .msg_controllen = sizeof(control)};
		if (recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return channel;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (unsigned i = 0; i < n; i++) {
				int got;
				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				struct stat st;
				if (channel < 0 && fstat(got, &st) == 0 && S_ISSOCK(st.st_mode))
					channel = got;
				else
					close(got);
			}
		}
	}
}

/* What a device does with the backend between open and close: DRIVER_OK
 * and reset, or the calls they make one by one. */
static void exercise(struct vhost *v, struct virtio_dev *vdev, uint8_t flags, unsigned nq)
{
	uint8_t cfg[256];
	unsigned queues;
	vhost_user_get_config(v, cfg, config_len);
	vhost_user_queue_num(v, &queues);
	pthread_mutex_lock(&vdev->lock);
	if (flags & F_START_RINGS) {
		for (unsigned q = 0; q < nq; q++) {
			vdev->queues[q].enabled = true;
			vdev->queues[q].size = QSIZE;
			vdev->queues[q].desc = 0x1000ULL * (3 * q + 1);
			vdev->queues[q].avail = 0x1000ULL * (3 * q + 2);
			vdev->queues[q].used = 0x1000ULL * (3 * q + 3);
			vdev->queues[q].kick_fd = kick_fd[q];
		}
		vdev->live = true;
		if (vhost_start(v, ~0ULL) == 0)
			vhost_stop(v);
	} else {
		struct vhost_vring_state base = {.index = 0};
		vhost_user_set_inflight(v);
		vhost_user_call(v, VHOST_GET_VRING_BASE, &base);
	}
	if (flags & F_SET_CONFIG)
		vhost_user_set_config(v, 0, cfg, config_len);
	pthread_mutex_unlock(&vdev->lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	uint8_t flags = data[0];
	config_len = data[1];
	size_t part = (size_t)data[2] | (size_t)data[3] << 8;
	size_t fd_at = (size_t)data[4] | (size_t)data[5] << 8;
	data += HDR;
	size -= HDR;
	if (part > size)
		part = size;
	unsigned nq = flags & F_TWO_QUEUES ? 2 : 1;
	int free_fd = lowest_free();

	struct virtio_dev vdev;
	virtio_dev_init(&vdev, "fuzz", 2, nq, QSIZE, 0, 0, &no_ops, &mem, loop);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	int log = memfd_create("fuzz-inflight", MFD_CLOEXEC);
	if (log < 0)
		abort();
	send_part(sv[1], data, part, fd_at, log);
	close(log);

	struct vhost v;
	if (vhost_user_open_fd(&v, sv[0], "fuzz.sock", &vdev, 0, nq,
			       flags & F_RECONNECT ? 1 : 0) == 0) {
		v.config_change = on_config_change;
		exercise(&v, &vdev, flags, nq);
		int channel = drain_sent(sv[1]);
		if (channel >= 0) {
			send_part(channel, data + part, size - part, SIZE_MAX, -1);
			shutdown(channel, SHUT_WR);
		}
		/* The channel's requests (one a round) and any hang-up. */
		fuzz_loop_round();
		for (int i = 0; i < 64 && v.backend_fd >= 0; i++)
			fuzz_loop_round();
		if (channel >= 0)
			close(channel);
		pthread_mutex_lock(&vdev.lock);
		vhost_stop(&v);
		pthread_mutex_unlock(&vdev.lock);
		vhost_close(&v);
	}
	int channel = drain_sent(sv[1]); /* a failed open's */
	if (channel >= 0)
		close(channel);
	close(sv[1]);
	virtio_dev_destroy(&vdev);
	if (lowest_free() != free_fd)
		abort(); /* a descriptor leaked */
	return 0;
}
