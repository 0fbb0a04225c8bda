/* The portable block engine: a few worker threads doing the blocking
 * system calls; finished requests go on a mutex-protected list and an
 * eventfd wakes the loop thread, which runs the callbacks. Queues are
 * intrusive lists through the requests, so nothing is allocated per I/O. */
#include "backends/block_engine.h"
#include "core/log.h"
#include "core/loop.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define THREADS_WORKERS 4

struct req_list {
	struct blk_request *head, *tail;
};

struct blk_threads {
	struct blk_backend *b;
	pthread_mutex_t lock;
	pthread_cond_t work_cond; /* pending gained a request, or stop */
	pthread_cond_t done_cond; /* done gained a request (for fini) */
	struct req_list pending, done;
	bool stop;
	int efd;
	int nworkers;
	pthread_t workers[THREADS_WORKERS];
};

static void list_push(struct req_list *l, struct blk_request *req)
{
	req->priv.next = NULL;
	if (l->tail)
		l->tail->priv.next = req;
	else
		l->head = req;
	l->tail = req;
}

static struct blk_request *list_pop(struct req_list *l)
{
	struct blk_request *req = l->head;
	if (req) {
		l->head = req->priv.next;
		if (!l->head)
			l->tail = NULL;
	}
	return req;
}

static int do_step(int fd, const struct blk_step *s)
{
	ssize_t r;
	switch (s->kind) {
	case BLK_STEP_READV:
		r = preadv(fd, s->iov, s->iovcnt, (off_t)s->off);
		break;
	case BLK_STEP_WRITEV:
		r = pwritev(fd, s->iov, s->iovcnt, (off_t)s->off);
		break;
	case BLK_STEP_FSYNC:
		r = fdatasync(fd);
		break;
	case BLK_STEP_FALLOCATE:
		r = fallocate(fd, s->mode, (off_t)s->off, (off_t)s->len);
		break;
	default:
		return -EINVAL;
	}
	/* r <= INT_MAX: requests are capped at INT_MAX bytes at submit. */
	return r < 0 ? -errno : (int)r;
}

static void *worker(void *opaque)
{
	struct blk_threads *t = opaque;
	sandbox_enter(SANDBOX_BLOCK_WORKER);
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->pending.head && !t->stop)
			pthread_cond_wait(&t->work_cond, &t->lock);
		struct blk_request *req = list_pop(&t->pending);
		if (!req)
			break; /* stopping, and nothing left */
		pthread_mutex_unlock(&t->lock);

		struct blk_step s;
		int result;
		do {
			blk_req_step(t->b, req, &s);
		} while (!blk_req_advance(t->b, req, do_step(t->b->fd, &s), &result));

		pthread_mutex_lock(&t->lock);
		req->priv.result = result;
		bool was_empty = !t->done.head;
		list_push(&t->done, req);
		pthread_cond_signal(&t->done_cond);
		/* One wakeup per batch: the loop takes the whole list at once. */
		if (was_empty) {
			uint64_t one = 1;
			ssize_t w = write(t->efd, &one, sizeof(one));
			(void)w; /* a full counter is still readable */
		}
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void complete_list(struct blk_backend *b, struct blk_request *req)
{
	while (req) {
		struct blk_request *next = req->priv.next; /* the callback may reuse req */
		blk_req_complete(b, req, req->priv.result);
		req = next;
	}
}

static struct blk_request *take_done(struct blk_threads *t)
{
	pthread_mutex_lock(&t->lock);
	struct blk_request *list = t->done.head;
	t->done.head = t->done.tail = NULL;
	pthread_mutex_unlock(&t->lock);
	return list;
}

static void threads_event(void *opaque, uint32_t events)
{
	struct blk_backend *b = opaque;
	struct blk_threads *t = b->engine;
	uint64_t v;
	/* Read before taking the list, so a push after the take re-arms it. */
	ssize_t r = read(t->efd, &v, sizeof(v));
	(void)r;
	complete_list(b, take_done(t));
	blk_batch_done(b);
}

static void threads_submit(struct blk_backend *b, struct blk_request *req)
{
	struct blk_threads *t = b->engine;
	pthread_mutex_lock(&t->lock);
	list_push(&t->pending, req);
	pthread_cond_signal(&t->work_cond);
	pthread_mutex_unlock(&t->lock);
}

static void stop_workers(struct blk_threads *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->work_cond);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->nworkers; i++)
		pthread_join(t->workers[i], NULL);
	t->nworkers = 0;
}

static void free_threads(struct blk_threads *t)
{
	if (t->efd >= 0)
		close(t->efd);
	pthread_cond_destroy(&t->done_cond);
	pthread_cond_destroy(&t->work_cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int threads_init(struct blk_backend *b)
{
	struct blk_threads *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->b = b;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work_cond, NULL);
	pthread_cond_init(&t->done_cond, NULL);
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->efd < 0) {
		int err = -errno;
		free_threads(t);
		return err;
	}

	/* Workers take no signals: those are for the main and vCPU threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = 0;
	for (int i = 0; i < THREADS_WORKERS && ret == 0; i++) {
		ret = -pthread_create(&t->workers[i], NULL, worker, t);
		if (ret == 0) {
			pthread_setname_np(t->workers[i], "blk-worker");
			t->nworkers++;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0)
		ret = loop_add_fd(b->loop, t->efd, EPOLLIN, threads_event, b);
	if (ret < 0) {
		stop_workers(t);
		free_threads(t);
		return ret;
	}
	b->engine = t;
	return 0;
}

static void threads_fini(struct blk_backend *b)
{
	struct blk_threads *t = b->engine;
	/* blk_submit refuses new work now; deliver what is in flight here. */
	while (b->inflight) {
		pthread_mutex_lock(&t->lock);
		while (!t->done.head)
			pthread_cond_wait(&t->done_cond, &t->lock);
		pthread_mutex_unlock(&t->lock);
		complete_list(b, take_done(t));
	}
	stop_workers(t);
	loop_del_fd(b->loop, t->efd);
	free_threads(t);
	b->engine = NULL;
}

const struct blk_engine_ops blk_threads_ops = {
	.name = "threads",
	.init = threads_init,
	.submit = threads_submit,
	.flush = NULL,
	.fini = threads_fini,
};
