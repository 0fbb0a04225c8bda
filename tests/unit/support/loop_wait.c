#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/loop_wait.h"

struct waiter {
	struct loop *loop;
	int tfd, ticks, max_ticks;
	bool (*done)(void *);
	void *arg;
};

static void waiter_tick(void *opaque, uint32_t events)
{
	struct waiter *w = opaque;
	uint64_t v;
	assert_true(read(w->tfd, &v, sizeof(v)) == sizeof(v));
	if (++w->ticks >= w->max_ticks || (w->done && w->done(w->arg)))
		loop_stop(w->loop);
}

void loop_run_until(struct loop *loop, bool (*done)(void *arg), void *arg, int ms)
{
	struct waiter w = {.loop = loop, .max_ticks = ms / 10, .done = done, .arg = arg};
	struct itimerspec its = {{0, 10000000}, {0, 10000000}};
	w.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	assert_true(w.tfd >= 0);
	assert_int_equal(timerfd_settime(w.tfd, 0, &its, NULL), 0);
	assert_int_equal(loop_add_fd(loop, w.tfd, EPOLLIN, waiter_tick, &w), 0);
	assert_int_equal(loop_run(loop), 0);
	loop_del_fd(loop, w.tfd);
	close(w.tfd);
}
