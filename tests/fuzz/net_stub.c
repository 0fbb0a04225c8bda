/* The network backend, for fuzz targets whose device runs on a port of
 * their own instead (e1000's net_port): reaching the real backend from one
 * of them is a bug in the target. List it in the target's fuzz-sources. */
#include <stdlib.h>

#include "backends/net.h"

struct net_backend *net_open(const struct net_options *opts, struct loop *loop, net_rx_fn rx,
			     void *opaque)
{
	abort();
}

void net_close(struct net_backend *nb)
{
	abort();
}

int net_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	abort();
}

void net_announce(struct net_backend *nb, const uint8_t mac[6])
{
	abort();
}

void net_rx_resume(struct net_backend *nb)
{
	abort();
}

bool net_has_vnet_hdr(const struct net_backend *nb)
{
	abort();
}
