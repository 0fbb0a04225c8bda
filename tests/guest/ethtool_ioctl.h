/* What the guest helpers (set-channels.c, offloads.c) share: one ethtool
 * request (SIOCETHTOOL) on interface ifname, cmd the request's struct
 * (its first field the ETHTOOL_* command). The guest image has no
 * ethtool; these are built static by tests/guest/run. */
#ifndef IOVIRT_TESTS_GUEST_ETHTOOL_IOCTL_H
#define IOVIRT_TESTS_GUEST_ETHTOOL_IOCTL_H

#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static inline int ethtool_ioctl(int s, const char *ifname, void *cmd)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(s, SIOCETHTOOL, &ifr);
}

#endif
