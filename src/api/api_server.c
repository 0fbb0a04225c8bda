/* The control plane's server (api.h): HTTP/1.1 by libmicrohttpd on a UNIX
 * socket this file makes, served by one thread of its own ("api"), which
 * enters the SANDBOX_API seccomp filter before it reads a byte from a
 * client. libmicrohttpd runs in its external-polling epoll mode: the thread
 * polls the daemon's epoll fd and an eventfd that asks it to stop, so that
 * the thread is ours to name, confine and join. The requests themselves
 * are answered by api_handle (api_routes.c); this file only adapts. */
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_routes.h"
#include "core/log.h"
#include "sandbox/sandbox.h"

#define API_MAX_CONNECTIONS 128
#define API_IDLE_TIMEOUT_S 10
/* A chunked body (no Content-Length) past API_MAX_BODY is read and dropped
 * to answer 413; one that goes on past this is cut off instead. */
#define API_DISCARD_MAX (16 * API_MAX_BODY)

struct api_server {
	struct MHD_Daemon *mhd;
	const struct api_vm_ops *ops;
	void *vm;
	char *path;
	int epoll_fd;   /* libmicrohttpd's */
	int stop_fd;    /* eventfd: the thread returns */
	pthread_t thread;
};

/* One request's body as it arrives. */
struct request {
	char *body;
	size_t len;     /* bytes kept (at most API_MAX_BODY) */
	size_t total;   /* bytes sent */
};

/* Whether path can be bound: free, or a stale socket (removed here). 0, or
 * -errno after one line naming path. */
static int claim_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s: exists and is not a socket", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("%s: socket: %s", path, strerror(errno));
		return -errno;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	close(fd);
	if (ret == 0) {
		log_error("%s: another iovirt is listening there", path);
		return -EADDRINUSE;
	}
	if (ret != -ECONNREFUSED) {
		log_error("%s: %s", path, strerror(-ret));
		return ret;
	}
	/* Nobody listens: left by an iovirt that died. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("%s: removing the stale socket: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* A listening socket at path, mode 0600 from the start: Linux gives the
 * file the socket inode's mode, so fchmod before bind leaves no moment at
 * which another user could connect (umask is the whole process's). */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sa.sun_path)) {
		log_error("%s: a UNIX socket path is 1 to %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, n + 1);
	int ret = claim_path(path);
	if (ret < 0)
		return ret;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("%s: socket: %s", path, strerror(errno));
		return -errno;
	}
	const char *step = NULL;
	bool bound = false;
	if (fchmod(fd, 0600) < 0)
		step = "fchmod";
	else if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		step = "bind";
	else if ((bound = true, listen(fd, SOMAXCONN) < 0))
		step = "listen";
	if (step) {
		ret = -errno;
		log_error("%s: %s: %s", path, step, strerror(errno));
		if (bound)
			unlink(path);
		close(fd);
		return ret;
	}
	return fd;
}

static enum MHD_Result send_response(struct MHD_Connection *c, struct api_response *r)
{
	struct MHD_Response *resp;
	if (r->body) {
		resp = MHD_create_response_from_buffer(strlen(r->body), r->body,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			r->body = NULL; /* libmicrohttpd frees it */
	} else {
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	api_response_free(r);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* libmicrohttpd calls this once when the headers are in, then once per
 * piece of body, then once more with none. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct request *rq = *con_cls;
	struct api_response r;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		/* A body announced too large is refused before it is read. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
		if (announced > API_MAX_BODY) {
			api_handle(s->ops, s->vm, method, url, NULL,
				   announced > SIZE_MAX ? SIZE_MAX : (size_t)announced, &r);
			return send_response(c, &r);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		if (rq->total + n <= API_MAX_BODY) {
			if (!rq->body && !(rq->body = malloc(API_MAX_BODY)))
				return MHD_NO;
			memcpy(rq->body + rq->len, upload, n);
			rq->len += n;
		} else if (rq->total + n > API_DISCARD_MAX) {
			return MHD_NO;
		}
		rq->total += n;
		*upload_size = 0;
		return MHD_YES;
	}
	api_handle(s->ops, s->vm, method, url, rq->body, rq->total, &r);
	return send_response(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct request *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void *serve(void *opaque)
{
	struct api_server *s = opaque;
	sandbox_enter(SANDBOX_API);
	struct pollfd fds[2] = {{s->epoll_fd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
	for (;;) {
		MHD_UNSIGNED_LONG_LONG ms;
		int timeout = -1;
		if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			log_error("api: poll: %s", strerror(errno));
			break;
		}
		if (fds[1].revents)
			break;
		MHD_run(s->mhd);
	}
	return NULL;
}

static void destroy(struct api_server *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd); /* closes the listening socket too */
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s->path);
	free(s);
}

struct api_server *api_server_start(const char *path, const struct api_vm_ops *ops, void *vm)
{
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		log_error("%s: out of memory", path);
		free(s);
		return NULL;
	}
	s->ops = ops;
	s->vm = vm;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		log_error("%s: eventfd: %s", path, strerror(errno));
		destroy(s);
		return NULL;
	}
	int fd = listen_at(path);
	if (fd < 0) {
		destroy(s);
		return NULL;
	}
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_END);
	int start_err = errno;
	const union MHD_DaemonInfo *info =
		s->mhd ? MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info) {
		log_error("%s: libmicrohttpd does not start (%s)", path,
			  s->mhd ? "no epoll fd" : strerror(start_err ? start_err : EINVAL));
		if (!s->mhd)
			close(fd);
		unlink(path);
		destroy(s);
		return NULL;
	}
	s->epoll_fd = info->epoll_fd;
	/* Signals stay with the threads that take them (main, vCPU kicks). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(&s->thread, NULL, serve, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		log_error("%s: starting the API thread: %s", path, strerror(ret));
		unlink(path);
		destroy(s);
		return NULL;
	}
	pthread_setname_np(s->thread, "api");
	return s;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("api: waking the API thread: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	unlink(s->path);
	destroy(s);
}
