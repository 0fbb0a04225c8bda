#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backends/block_engine.h"

static int no_uring(struct blk_backend *b)
{
	(void)b;
	return -ENOSYS;
}

const struct blk_engine_ops blk_uring_ops = {.name = "io_uring (stub)", .init = no_uring};

static struct loop *loop;
static int tick_fd = -1;

void fuzz_quiet_log(void)
{
	if (getenv("FUZZ_VERBOSE"))
		return;
	FILE *null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
}

void fuzz_temp_image(const char *tag, size_t size, char *path, size_t path_len)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/var/tmp";
	snprintf(path, path_len, "%s/iovirt-fuzz-%s-XXXXXX", dir, tag);
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	close(fd);
}

static void on_tick(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
	uint64_t v;
	if (read(tick_fd, &v, sizeof(v)) < 0)
		abort();
	loop_stop(loop);
}

struct loop *fuzz_loop(void)
{
	loop = loop_create();
	tick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!loop || tick_fd < 0 || loop_add_fd(loop, tick_fd, EPOLLIN, on_tick, NULL) < 0)
		abort();
	return loop;
}

void fuzz_loop_round(void)
{
	uint64_t one = 1;
	if (write(tick_fd, &one, sizeof(one)) < 0 || loop_run(loop) < 0)
		abort();
}

void fuzz_loop_drain(bool (*busy)(void), int min_rounds)
{
	time_t end = time(NULL) + 20;
	for (int round = 0; round < min_rounds || busy(); round++) {
		if (time(NULL) > end)
			abort();
		fuzz_loop_round();
	}
}

static volatile uint8_t sink;

size_t fuzz_touch_iov(const struct iovec *iov, int iovcnt, int max_iovcnt)
{
	size_t total = 0;
	uint8_t x = 0;
	if (iovcnt < 1 || iovcnt > max_iovcnt)
		abort();
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			x ^= p[j];
		total += iov[i].iov_len;
	}
	sink = x;
	return total;
}
