#include "support/tap_ns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static int skipped(const char *name)
{
	fprintf(stderr, "[  SKIP    ] %s: needs /dev/net/tun and CLONE_NEWNET (root)\n", name);
	return 77;
}

int tap_ns_run(void (*child)(void), const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), status = 0;
	if (fd < 0)
		return skipped(name);
	close(fd);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		child();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status) == 77 ? skipped(name) : WEXITSTATUS(status);
}

void tap_ns_test(void (*child)(void), const char *name)
{
	int status = tap_ns_run(child, name);
	if (status == 77)
		skip();
	assert_int_equal(status, 0);
}

bool tap_ns_up(struct tap_ns *t, const char *ifname)
{
	char path[96];
	struct ifreq ifr = {0};
	int s, fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
		bool ok = write(fd, "1", 1) == 1;
		close(fd);
		if (!ok)
			return false;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	bool up = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP) &&
		  ioctl(s, SIOCSIFFLAGS, &ifr) == 0 && ioctl(s, SIOCGIFINDEX, &ifr) == 0;
	close(s);
	if (!up)
		return false;
	t->ll = (struct sockaddr_ll){.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				     .sll_ifindex = ifr.ifr_ifindex, .sll_halen = 6};
	struct timeval tv = {5, 0};
	t->ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	return t->ps >= 0 && bind(t->ps, (struct sockaddr *)&t->ll, sizeof(t->ll)) == 0 &&
	       setsockopt(t->ps, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
}

bool tap_ns_inject(const struct tap_ns *t, const void *frame, size_t len)
{
	return sendto(t->ps, frame, len, 0, (const struct sockaddr *)&t->ll, sizeof(t->ll)) ==
	       (ssize_t)len;
}
