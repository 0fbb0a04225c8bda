/* Where a live migration goes (issue 22): "tcp:HOST:PORT" (HOST a name,
 * an IPv4 address or [IPv6]) or "unix:PATH", parsed, connected to or
 * listened on. */
#ifndef IOVIRT_MIGRATE_MIGRATE_URL_H
#define IOVIRT_MIGRATE_MIGRATE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* The socket, connected (mig_connect) or listening (mig_listen): a
 * non-negative fd, or -errno with one line in why naming the URL. */
int mig_connect(const char *url, char *why, size_t why_len);
int mig_listen(const char *url, char *why, size_t why_len);
/* Whether url has one of the two forms (nothing is resolved). */
bool mig_url_valid(const char *url);
/* How long a send or a receive may stall before the stream counts as cut. */
void mig_set_timeouts(int fd, unsigned seconds);

#endif
