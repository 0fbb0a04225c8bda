/* Where a live migration goes; see migrate_url.h. */
#include "migrate/migrate_url.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct mig_addr {
	bool unix_socket;
	char host[256], port[16];
	struct sockaddr_un sun;
};

static int parse_url(const char *url, struct mig_addr *a, char *why, size_t why_len)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(url, "unix:", 5) == 0) {
		const char *path = url + 5;
		if (!*path || strlen(path) >= sizeof(a->sun.sun_path)) {
			snprintf(why, why_len, "%s: a UNIX socket path must be 1 to %zu bytes", url,
				 sizeof(a->sun.sun_path) - 1);
			return -EINVAL;
		}
		a->unix_socket = true;
		a->sun.sun_family = AF_UNIX;
		memcpy(a->sun.sun_path, path, strlen(path) + 1);
		return 0;
	}
	if (strncmp(url, "tcp:", 4) != 0) {
		snprintf(why, why_len, "%s: not tcp:HOST:PORT or unix:PATH", url);
		return -EINVAL;
	}
	const char *host = url + 4, *colon = strrchr(host, ':');
	size_t hlen = colon ? (size_t)(colon - host) : 0;
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') { /* [::1] */
		host++;
		hlen -= 2;
	}
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || hlen == 0 || hlen >= sizeof(a->host) || !colon[1] || *end || port < 1 ||
	    port > 65535) {
		snprintf(why, why_len, "%s: not tcp:HOST:PORT (a port from 1 to 65535)", url);
		return -EINVAL;
	}
	memcpy(a->host, host, hlen);
	snprintf(a->port, sizeof(a->port), "%ld", port);
	return 0;
}

bool mig_url_valid(const char *url)
{
	struct mig_addr a;
	char why[8];
	return parse_url(url, &a, why, sizeof(why)) == 0;
}

/* Binds and listens on path, which appears only once it listens: the
 * socket is bound under a temporary name beside it and renamed, so a
 * source that connects as soon as the path exists is never refused. A
 * path too long for the temporary name is bound directly. -1 with errno. */
static int listen_unix(int fd, const struct sockaddr_un *sun)
{
	struct sockaddr_un tmp = *sun;
	int n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", sun->sun_path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp.sun_path))
		return bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 || listen(fd, 1) < 0
			       ? -1 : 0;
	unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0)
		return -1;
	if (listen(fd, 1) < 0 || rename(tmp.sun_path, sun->sun_path) < 0) {
		int err = errno;
		unlink(tmp.sun_path);
		errno = err;
		return -1;
	}
	return 0;
}

static int open_socket(const char *url, bool listening, char *why, size_t why_len)
{
	struct mig_addr a;
	int ret = parse_url(url, &a, why, why_len);
	if (ret < 0)
		return ret;
	if (a.unix_socket) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		if (listening) {
			unlink(a.sun.sun_path); /* a stale socket of an earlier run */
			if (listen_unix(fd, &a.sun) < 0)
				goto fail_fd;
		} else if (connect(fd, (struct sockaddr *)&a.sun, sizeof(a.sun)) < 0) {
			goto fail_fd;
		}
		return fd;
	fail_fd:
		ret = -errno;
		close(fd);
		snprintf(why, why_len, "%s: %s", url, strerror(-ret));
		return ret;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = listening ? AI_PASSIVE : 0};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(a.host, a.port, &hints, &res);
	if (gai != 0) {
		snprintf(why, why_len, "%s: %s", url, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	ret = -EADDRNOTAVAIL;
	int fd = -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		int one = 1;
		bool ok;
		if (listening) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0;
		} else {
			ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
			/* Small control messages must not wait behind Nagle. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		if (!ok) {
			ret = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(why, why_len, "%s: %s", url, strerror(-ret));
	return fd < 0 ? ret : fd;
fail:
	ret = -errno;
	snprintf(why, why_len, "%s: %s", url, strerror(-ret));
	return ret;
}

int mig_connect(const char *url, char *why, size_t why_len)
{
	return open_socket(url, false, why, why_len);
}

int mig_listen(const char *url, char *why, size_t why_len)
{
	return open_socket(url, true, why, why_len);
}

void mig_set_timeouts(int fd, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}
