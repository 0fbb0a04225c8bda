/* Runs inside the guest: `set-channels IFACE N` sets the NIC's combined
 * channels (queue pairs) to N, as `ethtool -L IFACE combined N` does (the
 * guest image has no ethtool). virtio_net turns the pairs beyond N off with
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET. Built static by tests/guest/run. */
#include <linux/ethtool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ethtool_ioctl.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: set-channels IFACE N\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	if (ethtool_ioctl(s, argv[1], &ch) < 0) {
		perror("ETHTOOL_GCHANNELS");
		return 1;
	}
	ch.cmd = ETHTOOL_SCHANNELS;
	ch.combined_count = (unsigned)strtoul(argv[2], NULL, 10);
	if (ethtool_ioctl(s, argv[1], &ch) < 0) {
		perror("ETHTOOL_SCHANNELS");
		return 1;
	}
	close(s);
	return 0;
}
