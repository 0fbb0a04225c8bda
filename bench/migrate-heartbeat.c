/* The migration benchmark's guest program (bench/migrate):
 * `migrate-heartbeat HOST PORT INTERVAL_US DIRTY_MIB` sends HOST:PORT a UDP
 * datagram every INTERVAL_US, from UDP port PORT: a sequence number and the
 * guest's CLOCK_MONOTONIC in ns, both 64-bit big-endian. The host times
 * their arrivals: the longest gap while a migration runs is the downtime
 * as the guest's peers see it, a missing number a datagram lost.
 *
 * Deadlines are absolute (clock_nanosleep TIMER_ABSTIME), so the beat does
 * not drift. One that is already a whole interval past (the VM was paused,
 * or its clock jumped) starts the beat again from now instead of sending
 * the missed ones in a burst: the sequence numbers count datagrams sent,
 * not time. It runs SCHED_FIFO (where it may) so a busy guest delays it
 * as little as possible.
 *
 * A datagram "DIRTY" from HOST:PORT starts /bin/dirtier DIRTY_MIB (for
 * ever, at normal priority: SCHED_RESET_ON_FORK) and prints
 * IOVIRT-BENCH-DIRTY once. IOVIRT-BENCH-READY is printed after the first
 * datagram went out. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL

static long long ns_of(const struct timespec *t)
{
	return (long long)t->tv_sec * NS + t->tv_nsec;
}

static struct timespec ts_of(long long ns)
{
	struct timespec t = {(time_t)(ns / NS), (long)(ns % NS)};
	return t;
}

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return ns_of(&t);
}

/* The dirtier, forked: its own priority and a long enough run. */
static pid_t start_dirtier(const char *mib)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/dirtier", "dirtier", mib, "1000000000", (char *)NULL);
		perror("migrate-heartbeat: /bin/dirtier");
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: migrate-heartbeat HOST PORT INTERVAL_US DIRTY_MIB\n");
		return 2;
	}
	struct sockaddr_in host = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	long long interval = atoll(argv[3]) * 1000;
	if (inet_pton(AF_INET, argv[1], &host.sin_addr) != 1 || interval <= 0) {
		fprintf(stderr, "migrate-heartbeat: bad HOST or INTERVAL_US\n");
		return 2;
	}
	struct sched_param sp = {.sched_priority = 50};
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0)
		printf("migrate-heartbeat: no SCHED_FIFO (%s), normal priority\n", strerror(errno));

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = host.sin_port};
	/* connect: only HOST:PORT's datagrams are received (the commands). */
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    connect(fd, (struct sockaddr *)&host, sizeof(host)) < 0) {
		perror("migrate-heartbeat: socket");
		return 1;
	}
	uint64_t seq = 0, errors = 0;
	pid_t dirtier = 0;
	long long next = now_ns();
	for (;;) {
		uint64_t msg[2] = {htobe64(seq), htobe64((uint64_t)now_ns())};
		if (send(fd, msg, sizeof(msg), 0) == (ssize_t)sizeof(msg)) {
			if (seq++ == 0) {
				printf("IOVIRT-BENCH-READY\n");
				fflush(stdout);
			}
		} else if (errors++ == 0) {
			/* Before the first ARP answer, say; one line is enough. */
			printf("migrate-heartbeat: send: %s (counting on)\n", strerror(errno));
			fflush(stdout);
		}
		char cmd[16];
		ssize_t n = recv(fd, cmd, sizeof(cmd) - 1, MSG_DONTWAIT);
		if (n == 5 && !memcmp(cmd, "DIRTY", 5) && !dirtier) {
			dirtier = start_dirtier(argv[4]);
			printf("IOVIRT-BENCH-DIRTY %s MiB, pid %d\n", argv[4], (int)dirtier);
			fflush(stdout);
		}
		if (dirtier > 0 && waitpid(dirtier, NULL, WNOHANG) == dirtier) {
			printf("IOVIRT-BENCH-DIRTIER-EXITED\n");  /* MEMBAD=, above it */
			fflush(stdout);
			dirtier = -1;
		}
		next += interval;
		long long now = now_ns();
		if (now - next >= interval)
			next = now;
		struct timespec at = ts_of(next);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
	}
}
