/* vhost-user (src/vhost/vhost_user.c) and the vhost-user-blk device, against
 * a fake backend: a thread on the other end of the UNIX socket that speaks
 * the protocol as qemu-storage-daemon does, records what it was sent, and
 * can be told to misbehave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/state.h"
#include "support/capture.h"
#include "support/loop_wait.h"
#include "support/virtio_drv.h"
#include "virtio/vhost/vhost.h"
#include "virtio/vhost/vhost_priv.h"
#include "virtio/vhost_user_blk.h"
#include "virtio/virtio_pci.h"

#define RAM_SIZE (1ULL << 20)
#define CAPACITY 12345ULL
#define PATTERN_GPA 0x80000ULL

/* How the fake backend misbehaves. */
enum fault {
	FAULT_NONE,
	FAULT_WRONG_REPLY,   /* GET_FEATURES answered as another request */
	FAULT_BIG_REPLY,     /* GET_FEATURES with a payload larger than a u64 */
	FAULT_HANGUP_EARLY,  /* closes the socket instead of answering GET_FEATURES */
	FAULT_NACK_MEMTABLE, /* REPLY_ACK of SET_MEM_TABLE says failure */
	FAULT_HANGUP_LATE,   /* closes the socket once both rings run */
	FAULT_RESTART,       /* keeps an in-flight log; closes the socket once both
			      * rings run, then takes the next connection */
};

struct backend {
	char path[108];
	int listen_fd, fd;
	enum fault fault;
	pthread_t thread;
	/* What it saw (the thread writes, the test reads after joining or
	 * under the lock). */
	pthread_mutex_t lock;
	unsigned requests[64], nrequests;
	uint64_t protocol_set, features_set;
	bool mem_pattern_ok;     /* the memfd at mmap_offset shows guest RAM */
	uint64_t ring_desc[4];   /* SET_VRING_ADDR, per ring: the frontend's address */
	int kick_fd[4], call_fd[4];
	unsigned enabled[4], base_asked[4];
	uint16_t vring_base[4];  /* what GET_VRING_BASE answers: where it stopped */
	/* FAULT_RESTART: per connection (0, then 1). */
	unsigned session;
	unsigned base_set[2][4], enabled_in[2][4];
	unsigned inflight_gets;
	ino_t inflight_made, inflight_set[2]; /* the log's memfd: made, received */
	unsigned inflight_queues, inflight_qsize;
	int backend_req_fd;     /* SET_BACKEND_REQ_FD: our end for requests of our own */
	uint64_t capacity;      /* what GET_CONFIG says */
	/* The reply to this request goes out a byte every 300 ms (0: none). */
	uint32_t trickle_req;
	/* This request is handled only 1.5 s after it came (0: none). */
	uint32_t stall_req;
	uint32_t config_set_flags, config_set_offset; /* the last SET_CONFIG's */
	uint8_t config_set_byte;
	bool closed;            /* the connection ended (iovirt dropped it) */
};

static struct backend be;

static bool read_msg(int fd, uint8_t *buf, size_t cap, int *fds, unsigned *nfds)
{
	struct iovec iov = {.iov_base = buf, .iov_len = 12};
	char control[CMSG_SPACE(8 * sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			    .msg_controllen = sizeof(control)};
	if (recvmsg(fd, &mh, MSG_WAITALL) != 12)
		return false;
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS) {
			*nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	uint32_t size;
	memcpy(&size, buf + 8, 4);
	if (size > cap - 12)
		return false;
	return size == 0 || recv(fd, buf + 12, size, MSG_WAITALL) == (ssize_t)size;
}

/* The reply, all at once, or (be.trickle_req) a byte every 300 ms until
 * it is all out or iovirt hangs up. */
static void reply(int fd, uint32_t req, const void *payload, uint32_t size)
{
	uint8_t out[512];
	uint32_t hdr[3] = {req, 0x1 | 0x4, size};
	memcpy(out, hdr, 12);
	memcpy(out + 12, payload, size);
	if (req != be.trickle_req) {
		assert_int_equal(write(fd, out, 12 + size), 12 + size);
		return;
	}
	pthread_mutex_unlock(&be.lock); /* the test reads be meanwhile */
	for (uint32_t i = 0; i < 12 + size; i++) {
		if (send(fd, out + i, 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(300 * 1000);
	}
	pthread_mutex_lock(&be.lock);
}

static void reply_u64(int fd, uint32_t req, uint64_t v)
{
	reply(fd, req, &v, 8);
}

/* GET_INFLIGHT_FD's reply: the log's size and offset, its memfd along. */
static void reply_inflight(int fd, const uint8_t *p)
{
	uint8_t out[12 + 24];
	uint32_t hdr[3] = {31, 0x1 | 0x4, 24};
	uint64_t size = 4096, offset = 0;
	memcpy(out, hdr, 12);
	memcpy(out + 12, &size, 8);
	memcpy(out + 20, &offset, 8);
	memcpy(out + 28, p + 16, 8); /* num_queues, queue_size, padding: as asked */
	int log = memfd_create("fake-inflight", MFD_CLOEXEC);
	assert_true(log >= 0);
	assert_int_equal(ftruncate(log, 4096), 0);
	struct stat st;
	assert_int_equal(fstat(log, &st), 0);
	be.inflight_made = st.st_ino;
	struct iovec iov = {.iov_base = out, .iov_len = sizeof(out)};
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			    .msg_controllen = sizeof(control)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &log, sizeof(int));
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)sizeof(out));
	close(log);
}

/* The memory table: map region 0's fd at its offset; guest RAM must show
 * the pattern the test put at PATTERN_GPA. */
static bool check_mem_table(const uint8_t *p, int fd)
{
	uint32_t n;
	uint64_t r[4];
	memcpy(&n, p, 4);
	memcpy(r, p + 8, sizeof(r));
	if (n != 1 || r[0] != 0 || r[1] != RAM_SIZE)
		return false;
	uint8_t *m = mmap(NULL, r[1], PROT_READ, MAP_SHARED, fd, (off_t)r[3]);
	if (m == MAP_FAILED)
		return false;
	bool ok = !memcmp(m + PATTERN_GPA, "vhost-user!", 11);
	munmap(m, r[1]);
	return ok;
}

/* One connection, until the frontend or a fault ends it. */
static void serve(void)
{
	uint8_t buf[512];
	int fds[8];
	unsigned nfds;
	while (read_msg(be.fd, buf, sizeof(buf), fds, &nfds)) {
		uint32_t req, flags;
		memcpy(&req, buf, 4);
		memcpy(&flags, buf + 4, 4);
		const uint8_t *p = buf + 12;
		uint64_t u64 = 0;
		memcpy(&u64, p, 8);
		uint32_t index = (uint32_t)(u64 & 0xff);
		bool nack = false;
		pthread_mutex_lock(&be.lock);
		if (req == be.stall_req) {
			pthread_mutex_unlock(&be.lock);
			usleep(4000 * 1000);
			pthread_mutex_lock(&be.lock);
		}
		if (be.nrequests < 64)
			be.requests[be.nrequests++] = req;
		switch (req) {
		case 1: /* GET_FEATURES */
			if (be.fault == FAULT_HANGUP_EARLY) {
				pthread_mutex_unlock(&be.lock);
				goto out;
			}
			if (be.fault == FAULT_WRONG_REPLY)
				reply_u64(be.fd, 2, 0);
			else if (be.fault == FAULT_BIG_REPLY)
				reply(be.fd, 1, buf, 64);
			else
				reply_u64(be.fd, 1,
					  (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
						  (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << 30) |
						  (1ULL << VIRTIO_BLK_F_SEG_MAX) |
						  (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_MQ) |
						  (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |
						  (1ULL << VIRTIO_F_RING_PACKED));
			break;
		case 2: be.features_set = u64; break;
		case 5: be.mem_pattern_ok = nfds == 1 && check_mem_table(p, fds[0]);
			nack = be.fault == FAULT_NACK_MEMTABLE;
			break;
		case 9: { /* SET_VRING_ADDR: index, flags, desc, used, avail, log */
			uint32_t i;
			memcpy(&i, p, 4);
			if (i < 4)
				memcpy(&be.ring_desc[i], p + 8, 8);
			break;
		}
		case 10: { /* SET_VRING_BASE */
			uint32_t st[2];
			memcpy(st, p, 8);
			if (st[0] < 4 && be.session < 2)
				be.base_set[be.session][st[0]] = st[1];
			break;
		}
		case 11: { /* GET_VRING_BASE */
			uint32_t st[2];
			memcpy(st, p, 8);
			if (st[0] < 4)
				be.base_asked[st[0]]++;
			st[1] = st[0] < 4 ? be.vring_base[st[0]] : 0;
			reply(be.fd, 11, st, 8);
			break;
		}
		case 12: case 13:
			if (index < 4 && !(u64 & (1ULL << 8)) && nfds == 1) {
				int *slot = &(req == 12 ? be.kick_fd : be.call_fd)[index];
				if (*slot >= 0)
					close(*slot);
				*slot = fds[0];
			}
			break;
		case 15: /* MQ, REPLY_ACK, BACKEND_REQ, CONFIG, a bit iovirt does not
			  * want (11); and INFLIGHT_SHMFD when it keeps an in-flight log */
			reply_u64(be.fd, 15, (1ULL << 0) | (1ULL << 3) | (1ULL << 5) | (1ULL << 9) |
						     (1ULL << 11) |
						     (be.fault == FAULT_RESTART ? 1ULL << 12 : 0));
			break;
		case 21: /* SET_BACKEND_REQ_FD */
			if (nfds == 1) {
				if (be.backend_req_fd >= 0)
					close(be.backend_req_fd);
				be.backend_req_fd = fds[0];
			}
			break;
		case 16: be.protocol_set = u64; break;
		case 17: reply_u64(be.fd, 17, 4); break;
		case 18: { /* SET_VRING_ENABLE */
			uint32_t st[2];
			memcpy(st, p, 8);
			if (st[0] < 4)
				be.enabled[st[0]] = st[1];
			if (st[0] < 4 && be.session < 2)
				be.enabled_in[be.session][st[0]] = st[1];
			break;
		}
		case 31: /* GET_INFLIGHT_FD: num_queues, queue_size at +16 */
			be.inflight_gets++;
			memcpy(&be.inflight_queues, p + 16, 2);
			memcpy(&be.inflight_qsize, p + 18, 2);
			reply_inflight(be.fd, p);
			break;
		case 32: { /* SET_INFLIGHT_FD */
			struct stat st;
			if (nfds == 1 && fstat(fds[0], &st) == 0 && be.session < 2)
				be.inflight_set[be.session] = st.st_ino;
			if (nfds == 1)
				close(fds[0]);
			break;
		}
		case 25: /* SET_CONFIG: offset, size, flags, payload */
			be.config_set_flags = flags;
			memcpy(&be.config_set_offset, p, 4);
			be.config_set_byte = p[12];
			break;
		case 24: { /* GET_CONFIG: offset, size, flags, payload */
			uint8_t cfg[12 + 256];
			memcpy(cfg, p, 12);
			uint32_t size;
			memcpy(&size, p + 4, 4);
			memset(cfg + 12, 0, 256);
			struct virtio_blk_config c = {.capacity = htole64(be.capacity),
						      .num_queues = htole16(2)};
			memcpy(cfg + 12, &c, size < sizeof(c) ? size : sizeof(c));
			reply(be.fd, 24, cfg, 12 + size);
			break;
		}
		default: break;
		}
		if (flags & (1U << 3)) /* NEED_REPLY */
			reply_u64(be.fd, req, nack ? 1 : 0);
		bool hang = (be.fault == FAULT_HANGUP_LATE ||
			     (be.fault == FAULT_RESTART && be.session == 0)) &&
			    be.enabled[1];
		pthread_mutex_unlock(&be.lock);
		if (hang)
			break;
	}
out:
	pthread_mutex_lock(&be.lock);
	close(be.fd);
	be.fd = -1;
	be.closed = true;
	pthread_mutex_unlock(&be.lock);
}

static void *backend_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(be.listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&be.lock);
		be.fd = fd;
		be.closed = false;
		for (int i = 0; i < 4; i++)
			be.enabled[i] = 0;
		pthread_mutex_unlock(&be.lock);
		serve();
		if (be.fault != FAULT_RESTART || be.session > 0)
			return NULL;
		pthread_mutex_lock(&be.lock);
		be.session++; /* the process "restarts": the next connection */
		pthread_mutex_unlock(&be.lock);
	}
}

static void backend_start(enum fault fault)
{
	memset(&be, 0, sizeof(be));
	pthread_mutex_init(&be.lock, NULL);
	be.fault = fault;
	be.capacity = CAPACITY;
	be.backend_req_fd = -1;
	for (int i = 0; i < 4; i++)
		be.kick_fd[i] = be.call_fd[i] = -1;
	snprintf(be.path, sizeof(be.path), "/tmp/iovirt-vu-test-%d.sock", getpid());
	unlink(be.path);
	be.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, be.path, strlen(be.path) + 1);
	assert_int_equal(bind(be.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(be.listen_fd, 1), 0);
	assert_int_equal(pthread_create(&be.thread, NULL, backend_main, NULL), 0);
}

static void backend_stop(void)
{
	shutdown(be.listen_fd, SHUT_RDWR);
	pthread_join(be.thread, NULL);
	close(be.listen_fd);
	unlink(be.path);
	if (be.backend_req_fd >= 0)
		close(be.backend_req_fd);
	for (int i = 0; i < 4; i++) {
		if (be.kick_fd[i] >= 0)
			close(be.kick_fd[i]);
		if (be.call_fd[i] >= 0)
			close(be.call_fd[i]);
	}
}

struct fx {
	struct virtio_drv d;
	struct loop *loop;
	int kick[4];
};

/* A driver whose guest RAM is a shared memfd, as vhost-user needs. */
static void fx_init(struct fx *f)
{
	virtio_drv_init(&f->d, RAM_SIZE);
	free(f->d.ram.host);
	assert_int_equal(guest_mem_init(&f->d.ram.mem, RAM_SIZE, GUEST_MEM_SHARED), 0);
	f->d.ram.host = f->d.ram.mem.mapping;
	memcpy(f->d.ram.host + PATTERN_GPA, "vhost-user!", 11);
	f->loop = loop_create();
	assert_non_null(f->loop);
}

static void fx_destroy(struct fx *f)
{
	loop_destroy(f->loop);
	guest_mem_destroy(&f->d.ram.mem);
	f->d.ram.host = NULL;
}

/* The transport's notify eventfds, which vhost hands to the backend. */
static void fx_kick_fds(struct fx *f, struct virtio_dev *vdev)
{
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		f->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		vdev->queues[q].kick_fd = f->kick[q];
	}
}

/* A backend with the given fault and a disk on it (reconnect_s). */
static struct vhost_user_blk *fx_disk(struct fx *f, enum fault fault, unsigned reconnect_s)
{
	fx_init(f);
	backend_start(fault);
	struct vhost_user_blk *b = vhost_user_blk_create(be.path, reconnect_s, &f->d.ram.mem, f->loop);
	assert_non_null(b);
	fx_kick_fds(f, vhost_user_blk_dev(b));
	return b;
}

/* ... and a driver that brought both rings to DRIVER_OK. */
static struct vhost_user_blk *fx_running(struct fx *f, enum fault fault, unsigned reconnect_s)
{
	struct vhost_user_blk *b = fx_disk(f, fault, reconnect_s);
	virtio_drv_start(&f->d, vhost_user_blk_dev(b), ~0ULL, 2, 64);
	return b;
}

/* The disk, the backend and the driver's side gone. */
static void fx_finish(struct fx *f, struct vhost_user_blk *b)
{
	vhost_user_blk_destroy(b);
	backend_stop();
	for (unsigned q = 0; q < 2; q++)
		close(f->kick[q]);
	fx_destroy(f);
}

static bool signalled(void *arg)
{
	return ((struct fx *)arg)->d.tr.signals[0] > 0;
}

static bool config_signalled(void *arg)
{
	return ((struct fx *)arg)->d.tr.config_signals > 0;
}

static void test_blk_end_to_end(void **state)
{
	struct fx f;
	fx_init(&f);
	backend_start(FAULT_NONE);
	struct vhost_user_blk *b = vhost_user_blk_create(be.path, 0, &f.d.ram.mem, f.loop);
	assert_non_null(b);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);

	/* What the guest sees is the backend's disk: its capacity, two
	 * queues (its config says 2 of the 4 it could serve), its features
	 * less the protocol bit and what iovirt's transport lacks. */
	assert_int_equal(vdev->nqueues, 2);
	struct virtio_blk_config cfg;
	vdev->ops->config_read(vdev, 0, (uint8_t *)&cfg, 24);
	assert_int_equal(le64toh(cfg.capacity), CAPACITY);
	vdev->ops->config_read(vdev, offsetof(struct virtio_blk_config, num_queues),
			       (uint8_t *)&cfg.num_queues, 2);
	assert_int_equal(le16toh(cfg.num_queues), 2);
	assert_true(vdev->device_features & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_true(vdev->device_features & (1ULL << VIRTIO_BLK_F_MQ));
	assert_false(vdev->device_features & (1ULL << 30));
	assert_false(vdev->device_features & (1ULL << VIRTIO_F_RING_PACKED));
	/* A driver's write to a read-only field (capacity) changes nothing. */
	uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	vdev->ops->config_write(vdev, 0, junk, 8);
	vdev->ops->config_read(vdev, 0, (uint8_t *)&cfg, 8);
	assert_int_equal(le64toh(cfg.capacity), CAPACITY);
	/* Of the protocol features only MQ, REPLY_ACK, BACKEND_REQ and CONFIG
	 * are taken; the backend got a channel for requests of its own. */
	assert_int_equal(be.protocol_set, (1ULL << 0) | (1ULL << 3) | (1ULL << 5) | (1ULL << 9));
	assert_true(be.backend_req_fd >= 0);

	/* DRIVER_OK: guest RAM by memfd, the rings by the addresses this
	 * process has them at, the notify eventfds as kicks, and enabled. */
	fx_kick_fds(&f, vdev);
	virtio_drv_start(&f.d, vdev, ~0ULL, 2, 64);
	pthread_mutex_lock(&be.lock);
	assert_true(be.mem_pattern_ok);
	assert_true(be.features_set & (1ULL << 30));
	assert_false(be.features_set & (1ULL << VIRTIO_F_RING_PACKED));
	for (unsigned q = 0; q < 2; q++) {
		assert_int_equal(be.ring_desc[q],
				 (uint64_t)(uintptr_t)fake_ram_ptr(&f.d.ram, f.d.vq[q].desc));
		assert_int_equal(be.enabled[q], 1);
		assert_true(be.kick_fd[q] >= 0 && be.call_fd[q] >= 0);
	}
	int kick = be.kick_fd[0], call = be.call_fd[0];
	pthread_mutex_unlock(&be.lock);

	/* A driver's kick reaches the backend; its call interrupts the
	 * driver (relayed by the loop: the fake transport has no irqfds). */
	uint64_t one = 1;
	assert_int_equal(write(f.kick[0], &one, 8), 8);
	struct pollfd pfd = {.fd = kick, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(write(call, &one, 8), 8);
	loop_run_until(f.loop, signalled, &f, 2000);
	assert_int_equal(f.d.tr.signals[0], 1);

	/* The backend resizes the disk and says so on its channel (asking for
	 * a reply): the reply comes, the guest sees the new capacity (the
	 * queue count unchanged) and a config interrupt. A request iovirt
	 * does not know is refused. */
	pthread_mutex_lock(&be.lock);
	be.capacity = 2 * CAPACITY;
	int req = be.backend_req_fd;
	pthread_mutex_unlock(&be.lock);
	uint32_t change[3] = {2, 0x1 | 0x8, 0};
	assert_int_equal(write(req, change, 12), 12);
	loop_run_until(f.loop, config_signalled, &f, 2000);
	assert_int_equal(f.d.tr.config_signals, 1);
	uint32_t ack[5];
	assert_int_equal(recv(req, ack, 20, MSG_WAITALL), 20);
	assert_int_equal(ack[0], 2);
	assert_true(ack[1] & 0x4);
	assert_int_equal(ack[3] | ack[4], 0);
	vdev->ops->config_read(vdev, 0, (uint8_t *)&cfg, 8);
	assert_int_equal(le64toh(cfg.capacity), 2 * CAPACITY);
	vdev->ops->config_read(vdev, offsetof(struct virtio_blk_config, num_queues),
			       (uint8_t *)&cfg.num_queues, 2);
	assert_int_equal(le16toh(cfg.num_queues), 2);
	uint32_t unknown[3] = {99, 0x1 | 0x8, 0};
	assert_int_equal(write(req, unknown, 12), 12);
	struct pollfd rp = {.fd = req, .events = POLLIN};
	for (int i = 0; i < 200 && poll(&rp, 1, 0) == 0; i++)
		loop_run_until(f.loop, config_signalled, &f, 10);
	assert_int_equal(recv(req, ack, 20, MSG_WAITALL), 20);
	assert_int_equal(ack[0], 99);
	assert_int_equal(ack[3], 1); /* refused */
	assert_int_equal(f.d.tr.config_signals, 1);

	/* Reset: each running ring is stopped with GET_VRING_BASE. */
	virtio_drv_reset(vdev);
	assert_int_equal(be.base_asked[0], 1);
	assert_int_equal(be.base_asked[1], 1);
	fx_finish(&f, b);
}

/* The backend's call fd of ring i, and its request count. */
static int be_call_fd(unsigned i, unsigned *nrequests)
{
	pthread_mutex_lock(&be.lock);
	int fd = be.call_fd[i];
	*nrequests = be.nrequests;
	pthread_mutex_unlock(&be.lock);
	return fd;
}

/* Waits (10 s at most: a stalled request takes 4) until the backend has
 * taken n requests: those that ask for no reply are not waited for by
 * iovirt. */
static void be_wait_requests(unsigned n)
{
	unsigned got = 0;
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&be.lock);
		got = be.nrequests;
		pthread_mutex_unlock(&be.lock);
		if (got >= n)
			return;
		usleep(10 * 1000);
	}
	fail_msg("the backend took %u requests, not %u", got, n);
}

/* The eventfd's count (0 when nothing was written). */
static uint64_t drain(int fd)
{
	uint64_t n = 0;
	return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* The driver moves a running ring's interrupt (another MSI-X vector, then
 * none, as with MSI-X turned off): the backend is told the new target at
 * once, and signals reach the driver there and not at the old one. */
static void test_irq_moved(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_disk(&f, FAULT_NONE, 0);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	f.d.tr.irqfds = true;
	for (unsigned v = 0; v < FAKE_TRANSPORT_MAX_VECTORS; v++)
		f.d.tr.vector_fd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vdev->queues[0].msix_vector = 0;
	vdev->queues[1].msix_vector = 1;
	virtio_drv_start(&f.d, vdev, ~0ULL, 2, 64);
	assert_int_equal(f.d.tr.irqfd_gets, 2);

	/* The backend signals the vector's irqfd itself. */
	uint64_t one = 1;
	unsigned before, after;
	int call = be_call_fd(0, &before);
	assert_int_equal(write(call, &one, 8), 8);
	assert_int_equal(drain(f.d.tr.vector_fd[0]), 1);

	/* Queue 0 to vector 2: one SET_VRING_CALL (ring 1 keeps its own),
	 * one catch-up signal, and the backend's next signal lands on 2. */
	pthread_mutex_lock(&vdev->lock);
	vdev->queues[0].msix_vector = 2;
	virtio_dev_irq_moved(vdev);
	pthread_mutex_unlock(&vdev->lock);
	be_wait_requests(before + 1);
	call = be_call_fd(0, &after);
	assert_int_equal(after, before + 1);
	assert_int_equal(be.requests[before], 13);
	assert_int_equal(f.d.tr.signals[0], 1);
	assert_int_equal(write(call, &one, 8), 8);
	assert_int_equal(drain(f.d.tr.vector_fd[2]), 1);
	assert_int_equal(drain(f.d.tr.vector_fd[0]), 0);

	/* No vector: the backend's signals come through the loop again. */
	pthread_mutex_lock(&vdev->lock);
	vdev->queues[0].msix_vector = VIRTIO_NO_VECTOR;
	virtio_dev_irq_moved(vdev);
	pthread_mutex_unlock(&vdev->lock);
	be_wait_requests(before + 2);
	call = be_call_fd(0, &after);
	assert_int_equal(after, before + 2);
	assert_int_equal(f.d.tr.signals[0], 2);
	assert_int_equal(write(call, &one, 8), 8);
	for (int i = 0; i < 200 && f.d.tr.signals[0] < 3; i++)
		loop_run_until(f.loop, NULL, NULL, 10);
	assert_int_equal(f.d.tr.signals[0], 3);
	assert_int_equal(drain(f.d.tr.vector_fd[2]), 0);

	/* Every irqfd taken was given back by the reset. */
	virtio_drv_reset(vdev);
	assert_int_equal(f.d.tr.irqfd_puts, f.d.tr.irqfd_gets);
	for (unsigned v = 0; v < FAKE_TRANSPORT_MAX_VECTORS; v++)
		close(f.d.tr.vector_fd[v]);
	fx_finish(&f, b);
}

/* A backend that answers out of step or hangs up during the handshake:
 * no device, one line, no crash. */
static void test_bad_handshakes(void **state)
{
	static const enum fault faults[] = {FAULT_WRONG_REPLY, FAULT_BIG_REPLY, FAULT_HANGUP_EARLY};
	for (unsigned i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct fx f;
		fx_init(&f);
		backend_start(faults[i]);
		assert_null(vhost_user_blk_create(be.path, 0, &f.d.ram.mem, f.loop));
		backend_stop();
		fx_destroy(&f);
	}
}

static void quiesce_call(void *arg)
{
	struct virtio_dev *vdev = arg;
	vdev->ops->quiesce(vdev);
}

/* The backend served requests 0..n-1 of ring q: the driver posted them
 * and the backend pushed them (avail and used indices in guest RAM). */
static void be_served(struct fx *f, unsigned q, uint16_t posted, uint16_t done)
{
	struct vring_avail *avail = fake_ram_ptr(&f->d.ram, f->d.vq[q].avail);
	struct vring_used *used = fake_ram_ptr(&f->d.ram, f->d.vq[q].used);
	avail->idx = htole16(posted);
	used->idx = htole16(done);
	pthread_mutex_lock(&be.lock);
	be.vring_base[q] = posted;
	pthread_mutex_unlock(&be.lock);
}

/* Saving a vhost-user-blk: quiesce takes the rings back from the backend
 * (GET_VRING_BASE) and the positions it reached become the queues'; the
 * backend gets the rings again from there (SET_VRING_BASE) with a kick
 * for what came meanwhile. A backend that does not finish what it popped
 * leaves those requests in flight: the save is refused. */
static void test_blk_save_positions(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_running(&f, FAULT_NONE, 0);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	be_served(&f, 0, 3, 3);
	be_served(&f, 1, 5, 5);

	pthread_mutex_lock(&vdev->lock);
	assert_int_equal(vdev->ops->quiesce(vdev), 0);
	for (unsigned q = 0; q < 2; q++) {
		uint16_t want = q ? 5 : 3;
		assert_int_equal(vdev->queues[q].vq.last_avail_idx, want);
		assert_int_equal(vdev->queues[q].vq.used_idx, want);
		assert_int_equal(vdev->queues[q].vq.inuse, 0);
	}
	pthread_mutex_lock(&be.lock);
	int kick0 = be.kick_fd[0];
	pthread_mutex_unlock(&be.lock);
	vdev->ops->unquiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	pthread_mutex_lock(&be.lock);
	assert_int_equal(be.base_set[0][0], 3);
	assert_int_equal(be.base_set[0][1], 5);
	assert_int_equal(be.enabled[0], 1);
	int kick = be.kick_fd[0];
	pthread_mutex_unlock(&be.lock);
	(void)kick0;
	struct pollfd pfd = {.fd = kick, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1); /* the queue kicked itself */

	/* One request of ring 1 popped and never pushed. */
	unsigned had = vhost_user_timeout_ms;
	vhost_user_timeout_ms = 200;
	be_served(&f, 1, 7, 6);
	pthread_mutex_lock(&vdev->lock);
	char *out = capture_stderr(quiesce_call, vdev);
	assert_non_null(strstr(out, "1 requests unfinished when the backend stopped"));
	free(out);
	assert_int_equal(vdev->queues[1].vq.inuse, 1);
	vdev->ops->unquiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	vhost_user_timeout_ms = had;
	fx_finish(&f, b);
}

/* No backend listening, or guest RAM the backend could not map. */
static void test_no_backend(void **state)
{
	struct fx f;
	fx_init(&f);
	assert_null(vhost_user_blk_create("/tmp/iovirt-vu-test-nobody.sock", 0, &f.d.ram.mem, f.loop));
	struct fake_ram private_ram;
	fake_ram_init(&private_ram, RAM_SIZE, 0);
	backend_start(FAULT_NONE);
	assert_null(vhost_user_blk_create(be.path, 0, &private_ram.mem, f.loop));
	backend_stop();
	fake_ram_destroy(&private_ram);
	fx_destroy(&f);
}

/* A driver's DRIVER_OK that the device is expected to refuse: it asks
 * for a reset instead of going live. */
static void fx_driver_ok_fails(struct fx *f, struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	fake_transport_attach(&f->d.tr, vdev);
	virtio_dev_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdev->acked_features = vdev->device_features;
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_FEATURES_OK);
	virtio_dev_write_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(vdev->live);
	pthread_mutex_unlock(&vdev->lock);
}

/* The backend refuses the memory table (REPLY_ACK): DRIVER_OK fails and
 * the device asks for a reset. */
static void test_nack_needs_reset(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_disk(&f, FAULT_NACK_MEMTABLE, 0);
	fx_driver_ok_fails(&f, vhost_user_blk_dev(b));
	fx_finish(&f, b);
}

static bool needs_reset(void *arg)
{
	struct virtio_dev *vdev = arg;
	pthread_mutex_lock(&vdev->lock);
	bool r = vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET;
	pthread_mutex_unlock(&vdev->lock);
	return r;
}

/* The backend process goes away while the guest uses the disk, and it
 * kept no in-flight log: even with reconnection on, a new backend could
 * not know what to resubmit, so the device asks for a reset, and the
 * reset does not wait on the dead socket. */
static void test_backend_gone(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_running(&f, FAULT_HANGUP_LATE, 1);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	assert_true(vdev->live);
	pthread_join(be.thread, NULL); /* it hung up once both rings ran */
	loop_run_until(f.loop, needs_reset, vdev, 2000);
	assert_true(needs_reset(vdev));
	virtio_drv_reset(vdev);
	vhost_user_blk_destroy(b);
	close(be.listen_fd);
	unlink(be.path);
	for (unsigned q = 0; q < 2; q++)
		close(f.kick[q]);
	fx_destroy(&f);
}

static bool rejoined(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&be.lock);
	bool r = be.session == 1 && be.enabled_in[1][0] && be.enabled_in[1][1];
	pthread_mutex_unlock(&be.lock);
	return r;
}

/* The backend process restarts while the rings run, and it keeps an
 * in-flight log: iovirt connects again and the new process gets the same
 * log (so it resubmits what the old one left unfinished) and each ring
 * from the driver's used index; the driver sees no reset. */
static void test_backend_restart(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_running(&f, FAULT_RESTART, 1);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	/* The log: asked for once, for both queues, rings as large as the
	 * device allows; handed to the first backend. */
	pthread_mutex_lock(&be.lock);
	assert_int_equal(be.inflight_gets, 1);
	assert_int_equal(be.inflight_queues, 2);
	assert_int_equal(be.inflight_qsize, vdev->queues[0].max_size);
	assert_true(be.inflight_made != 0 && be.inflight_set[0] == be.inflight_made);
	assert_int_equal(be.base_set[0][0], 0);
	pthread_mutex_unlock(&be.lock);

	/* The first backend completed 5 requests on ring 0 before it went. */
	uint16_t five = htole16(5);
	memcpy(fake_ram_ptr(&f.d.ram, f.d.vq[0].used + 2), &five, 2);
	loop_run_until(f.loop, rejoined, NULL, 5000);
	assert_true(rejoined(NULL));

	pthread_mutex_lock(&be.lock);
	assert_int_equal(be.inflight_gets, 1);                 /* not a new log */
	assert_true(be.inflight_set[1] == be.inflight_made); /* the same one */
	assert_int_equal(be.base_set[1][0], 5);                /* from the used index */
	assert_int_equal(be.base_set[1][1], 0);
	assert_true(be.mem_pattern_ok);
	int kick = be.kick_fd[0];
	pthread_mutex_unlock(&be.lock);
	pthread_mutex_lock(&vdev->lock);
	assert_true(vdev->live);
	assert_false(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	pthread_mutex_unlock(&vdev->lock);

	/* The driver's kicks reach the new process. */
	uint64_t one = 1;
	assert_int_equal(write(f.kick[0], &one, 8), 8);
	struct pollfd pfd = {.fd = kick, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);

	/* A reset now stops the new process's rings. */
	virtio_drv_reset(vdev);
	assert_int_equal(be.base_asked[0], 1);
	assert_int_equal(be.base_asked[1], 1);
	fx_finish(&f, b);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool dropped(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&be.lock);
	bool r = be.closed;
	pthread_mutex_unlock(&be.lock);
	return r;
}

/* A backend that trickles its reply to GET_VRING_BASE, a byte every
 * 300 ms (each read gets something; the 20 bytes would take 6 s): the
 * driver's reset (a vCPU thread, device lock held) waits one deadline at
 * most, the connection is dropped, and the device goes on (reset, DRIVER_OK
 * again fails cleanly into NEEDS_RESET: the backend is gone). */
static void test_trickle_reset(void **state)
{
	unsigned had = vhost_user_timeout_ms;
	vhost_user_timeout_ms = 1000;
	struct fx f;
	struct vhost_user_blk *b = fx_running(&f, FAULT_NONE, 0);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	pthread_mutex_lock(&be.lock);
	be.trickle_req = 11;
	pthread_mutex_unlock(&be.lock);
	double t0 = now_s();
	virtio_drv_reset(vdev);
	/* Bounds, not timings: a deadline of 1 s against a reply that takes 6 s,
	 * with room for a loaded machine and the sanitizers. */
	double took = now_s() - t0;
	assert_true(took < 4.0);
	assert_int_equal(vdev->status, 0);
	/* The loop takes the dropped connection as a backend gone. */
	loop_run_until(f.loop, dropped, NULL, 3000);
	assert_true(dropped(NULL));
	loop_run_until(f.loop, NULL, NULL, 50);
	fx_driver_ok_fails(&f, vdev);
	vhost_user_timeout_ms = had;
	fx_finish(&f, b);
}

/* The same on the loop thread: the backend announces a config change and
 * trickles its answer to the GET_CONFIG that follows. The loop is back
 * within the deadline, the connection dropped; the guest's config space
 * is the old one. */
static void test_trickle_config_change(void **state)
{
	unsigned had = vhost_user_timeout_ms;
	vhost_user_timeout_ms = 1000;
	struct fx f;
	struct vhost_user_blk *b = fx_disk(&f, FAULT_NONE, 0);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	pthread_mutex_lock(&be.lock);
	be.trickle_req = 24;
	be.capacity = 2 * CAPACITY;
	int req = be.backend_req_fd;
	pthread_mutex_unlock(&be.lock);
	uint32_t change[3] = {2, 0x1, 0};
	assert_int_equal(write(req, change, 12), 12);
	double t0 = now_s();
	loop_run_until(f.loop, dropped, NULL, 5000);
	assert_true(dropped(NULL));
	assert_true(now_s() - t0 < 4.0); /* against 6 s without the deadline */
	uint64_t cap;
	vdev->ops->config_read(vdev, 0, (uint8_t *)&cap, 8);
	assert_int_equal(le64toh(cap), CAPACITY);
	vhost_user_timeout_ms = had;
	fx_finish(&f, b);
}

/* The driver's write of the write-back cache byte (a vCPU thread, lock
 * held) goes to the backend without a reply asked for, so a backend that
 * takes 4 s over it does not hold the vCPU; the guest reads back what
 * it wrote. */
static void test_config_write_no_wait(void **state)
{
	struct fx f;
	struct vhost_user_blk *b = fx_running(&f, FAULT_NONE, 0);
	struct virtio_dev *vdev = vhost_user_blk_dev(b);
	assert_true(virtio_has_feature(vdev, VIRTIO_BLK_F_CONFIG_WCE));
	unsigned before, after;
	be_call_fd(0, &before);
	pthread_mutex_lock(&be.lock);
	be.stall_req = 25;
	pthread_mutex_unlock(&be.lock);
	unsigned wce = offsetof(struct virtio_blk_config, wce);
	uint8_t one = 1, got = 0;
	double t0 = now_s();
	pthread_mutex_lock(&vdev->lock);
	vdev->ops->config_write(vdev, wce, &one, 1);
	pthread_mutex_unlock(&vdev->lock);
	assert_true(now_s() - t0 < 2.0); /* against the backend's 4 s */
	vdev->ops->config_read(vdev, wce, &got, 1);
	assert_int_equal(got, 1);
	be_wait_requests(before + 1);
	be_call_fd(0, &after);
	pthread_mutex_lock(&be.lock);
	assert_int_equal(be.requests[before], 25);
	assert_int_equal(be.config_set_offset, wce);
	assert_int_equal(be.config_set_byte, 1);
	assert_false(be.config_set_flags & (1U << 3)); /* no NEED_REPLY */
	pthread_mutex_unlock(&be.lock);
	fx_finish(&f, b);
}

/* Who may have guest RAM: iovirt's own user or root, no one else. */
static void test_peer_allowed(void **state)
{
	assert_true(vhost_user_peer_allowed(1000, 1000));
	assert_true(vhost_user_peer_allowed(0, 1000));
	assert_true(vhost_user_peer_allowed(0, 0));
	assert_false(vhost_user_peer_allowed(1001, 1000));
	assert_false(vhost_user_peer_allowed(1000, 0));
	assert_false(vhost_user_peer_allowed(65534, 1000));
	/* This process at the other end: allowed, and its uid is seen. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uid_t peer = 12345;
	assert_int_equal(vhost_user_check_peer(sv[0], &peer), 0);
	assert_int_equal(peer, geteuid());
	close(sv[0]);
	close(sv[1]);
	/* Not a socket: an error, not a pass. */
	uid_t none;
	assert_true(vhost_user_check_peer(STDIN_FILENO, &none) < 0 ||
		    vhost_user_peer_allowed(none, geteuid()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_end_to_end),
		cmocka_unit_test(test_bad_handshakes),
		cmocka_unit_test(test_no_backend),
		cmocka_unit_test(test_blk_save_positions),
		cmocka_unit_test(test_nack_needs_reset),
		cmocka_unit_test(test_backend_gone),
		cmocka_unit_test(test_backend_restart),
		cmocka_unit_test(test_irq_moved),
		cmocka_unit_test(test_trickle_reset),
		cmocka_unit_test(test_trickle_config_change),
		cmocka_unit_test(test_config_write_no_wait),
		cmocka_unit_test(test_peer_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
