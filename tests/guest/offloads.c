/* Runs inside the guest: `offloads IFACE` prints the transmit offloads the
 * NIC's driver has on, as `ethtool -k IFACE` shows them (the guest image
 * has no ethtool): "sg=1 tx-csum=1 tso=0". Built static by tests/guest/run. */
#include <linux/ethtool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ethtool_ioctl.h"

static int get(int s, const char *ifname, __u32 cmd)
{
	struct ethtool_value v = {.cmd = cmd};
	return ethtool_ioctl(s, ifname, &v) < 0 ? -1 : (int)v.data;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: offloads IFACE\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("offloads: socket");
		return 1;
	}
	printf("sg=%d tx-csum=%d tso=%d\n", get(s, argv[1], ETHTOOL_GSG),
	       get(s, argv[1], ETHTOOL_GTXCSUM), get(s, argv[1], ETHTOOL_GTSO));
	close(s);
	return 0;
}
