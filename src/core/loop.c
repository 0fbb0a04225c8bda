#include "core/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct loop_handler {
	int fd;
	loop_fd_cb cb;
	void *opaque;
	struct loop_handler *next;
};

struct loop {
	int epfd;
	int stopfd;      /* eventfd: written by loop_stop() */
	pthread_mutex_t lock;
	struct loop_handler *handlers;
	struct loop_handler *retired; /* freed at destroy: a callback may be mid-flight */
};

struct loop *loop_create(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->stopfd < 0)
		goto fail;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stopfd, &ev) < 0)
		goto fail;
	return loop;
fail:
	loop_destroy(loop);
	return NULL;
}

static void free_list(struct loop_handler *h)
{
	while (h) {
		struct loop_handler *next = h->next;
		free(h);
		h = next;
	}
}

void loop_destroy(struct loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->stopfd >= 0)
		close(loop->stopfd);
	free_list(loop->handlers);
	free_list(loop->retired);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque)
{
	struct loop_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct loop_handler){.fd = fd, .cb = cb, .opaque = opaque};
	struct epoll_event ev = {.events = events, .data.ptr = h};
	pthread_mutex_lock(&loop->lock);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		pthread_mutex_unlock(&loop->lock);
		free(h);
		return err;
	}
	h->next = loop->handlers;
	loop->handlers = h;
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

static struct loop_handler *find_handler(struct loop *loop, int fd, struct loop_handler ***link)
{
	for (struct loop_handler **p = &loop->handlers; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			if (link)
				*link = p;
			return *p;
		}
	}
	return NULL;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	int ret = -ENOENT;
	pthread_mutex_lock(&loop->lock);
	struct loop_handler *h = find_handler(loop, fd, NULL);
	if (h) {
		struct epoll_event ev = {.events = events, .data.ptr = h};
		ret = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int loop_del_fd(struct loop *loop, int fd)
{
	int ret = -ENOENT;
	struct loop_handler **link;
	pthread_mutex_lock(&loop->lock);
	struct loop_handler *h = find_handler(loop, fd, &link);
	if (h) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		*link = h->next;
		/* An event for it may already sit in the batch being processed;
		 * keep the handler alive (callback disarmed) until destroy. */
		h->cb = NULL;
		h->next = loop->retired;
		loop->retired = h;
		ret = 0;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[32];
	for (;;) {
		int n = epoll_wait(loop->epfd, events, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct loop_handler *h = events[i].data.ptr;
			if (!h) {
				uint64_t v;
				if (read(loop->stopfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					return -errno;
				return 0;
			}
			loop_fd_cb cb = __atomic_load_n(&h->cb, __ATOMIC_ACQUIRE);
			if (cb)
				cb(h->opaque, events[i].events);
		}
	}
}

void loop_stop(struct loop *loop)
{
	uint64_t one = 1;
	/* write() is async-signal-safe; a full counter still wakes the loop. */
	ssize_t r = write(loop->stopfd, &one, sizeof(one));
	(void)r;
}
