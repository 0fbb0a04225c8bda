/* What each kind of thread may ask the kernel for once the guest runs,
 * found by reading its code paths (hot paths, error paths, vhost-user
 * reconnects, slirp) and by strace -f of the smoke tier. Setup and teardown
 * (opening devices, KVM_CREATE_*, VFIO DMA maps, tap creation) run on the
 * unfiltered main thread and are in no list. The vCPU and loop lists share
 * the device set: a queue kick reaches the same device code from a vCPU's
 * MMIO exit or from the loop's ioeventfd. */
#include "sandbox/sandbox_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <linux/vhost.h>
#include <linux/if_tun.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>

/* A syscall and the argument checks that must all hold (none: any). */
struct rule {
	int nr;
	unsigned ncmp;
	struct scmp_arg_cmp cmp[2];
};

struct rule_set {
	const struct rule *rules;
	size_t nrules;
	const unsigned long *ioctls; /* ioctl requests allowed on any fd */
	size_t nioctls;
};

#define ANY(name) {SCMP_SYS(name), 0, {{0, 0, 0, 0}}}
#define IF1(name, c) {SCMP_SYS(name), 1, {c}}
#define IF2(name, c0, c1) {SCMP_SYS(name), 2, {c0, c1}}
#define EQ(i, v) {(i), SCMP_CMP_EQ, (v), 0}
/* (argument & mask) == value */
#define MASKED(i, mask, v) {(i), SCMP_CMP_MASKED_EQ, (mask), (v)}
#define NO_EXEC(i) MASKED(i, PROT_EXEC, 0)
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SET(rules, ioctls) {rules, LEN(rules), ioctls, LEN(ioctls)}

/* Every thread: memory (never executable: no code is loaded at run time),
 * locks, time, signals (pthread_kill, whose tgkill is checked in code),
 * logging, exiting, and the terminal: the SIGSYS report and exit paths
 * put it back from raw mode. */
static const struct rule base_rules[] = {
	ANY(read), ANY(write), ANY(close), ANY(futex), ANY(brk),
	IF1(mmap, NO_EXEC(2)), IF1(mprotect, NO_EXEC(2)), ANY(munmap), ANY(madvise),
	ANY(rt_sigreturn), ANY(rt_sigprocmask), ANY(restart_syscall),
	ANY(clock_gettime), ANY(gettimeofday), ANY(getpid), ANY(gettid), ANY(sched_yield),
	/* Who we are: vhost-user checks a reconnecting backend's uid against it. */
	ANY(getuid), ANY(geteuid), ANY(getgid), ANY(getegid),
	ANY(getrandom), ANY(fstat), IF1(newfstatat, MASKED(3, AT_EMPTY_PATH, AT_EMPTY_PATH)),
	ANY(exit), ANY(exit_group),
};
static const unsigned long base_ioctls[] = {TCGETS, TCSETS, TCSETSW, TCSETSF};

/* aio=threads: the request steps of block_threads.c, and the eventfd. */
static const struct rule worker_rules[] = {
	ANY(preadv), ANY(pwritev), ANY(pread64), ANY(pwrite64),
	ANY(fdatasync), ANY(fsync), ANY(fallocate),
};

/* The device models and their backends, on either thread that runs them:
 * queue I/O (tap, console, VFIO regions by pread/pwrite), vhost-user
 * messages with fds, io_uring submission, eventfds and timers made as the
 * driver brings queues up, and what the guest's register writes turn into:
 * interrupt routes, ioeventfds, coalesced MMIO zones, BAR memslots, VFIO
 * interrupts and resets, vhost-net rings, tap offloads and queues. */
static const struct rule device_rules[] = {
	ANY(readv), ANY(writev), ANY(pread64), ANY(pwrite64),
	ANY(sendmsg), ANY(recvmsg), ANY(sendto), ANY(recvfrom),
	ANY(epoll_ctl), ANY(eventfd2), ANY(timerfd_create), ANY(timerfd_settime),
	ANY(timerfd_gettime), ANY(io_uring_enter),
	/* vhost-user: a reply waited for against its deadline (DRIVER_OK and
	 * reset come from a vCPU), and a backend past it cut off. */
	ANY(poll), ANY(ppoll), ANY(shutdown),
	IF1(socketpair, EQ(0, AF_UNIX)),
	IF1(fcntl, EQ(1, F_GETFL)), IF1(fcntl, EQ(1, F_SETFL)),
	IF1(fcntl, EQ(1, F_GETFD)), IF1(fcntl, EQ(1, F_SETFD)),
};
static const unsigned long device_ioctls[] = {
	KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD,
	KVM_SET_USER_MEMORY_REGION, KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO,
	VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET, VFIO_DEVICE_GET_REGION_INFO,
	VFIO_DEVICE_GET_IRQ_INFO,
	VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE,
	VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE,
	VHOST_SET_VRING_ADDR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
	VHOST_SET_VRING_ERR, VHOST_NET_SET_BACKEND,
	TUNSETOFFLOAD, TUNSETQUEUE,
};

/* The vCPU adds only KVM_RUN, and the registers for an exit's report. */
static const unsigned long vcpu_ioctls[] = {KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS};

/* The loop: epoll, the console socket's clients, vhost-user reconnects
 * (a new UNIX socket to the backend's path; the memfd is already made),
 * and the guest's clock kept across a pause (machine/machine_control.c),
 * each vCPU told it was stopped (KVM_KVMCLOCK_CTRL) at the resume. */
static const struct rule loop_rules[] = {
	ANY(epoll_wait), ANY(epoll_pwait), ANY(accept4),
	IF1(socket, EQ(0, AF_UNIX)), ANY(connect), ANY(setsockopt), ANY(getsockopt),
};
static const unsigned long loop_ioctls[] = {FIONREAD, KVM_GET_CLOCK, KVM_SET_CLOCK,
					    KVM_KVMCLOCK_CTRL};

/* The control plane's thread (api_server.c): libmicrohttpd accepting on
 * the listening UNIX socket, reading requests and writing responses on
 * its epoll fd, and its own poll on that fd and a stop eventfd. What the
 * VM ops do for a request is posted to the loop (eventfd writes, futex). */
static const struct rule api_rules[] = {
	ANY(poll), ANY(ppoll), ANY(epoll_wait), ANY(epoll_pwait), ANY(epoll_ctl),
	ANY(accept4), ANY(recvfrom), ANY(sendto), ANY(sendmsg), ANY(writev), ANY(shutdown),
	ANY(setsockopt), ANY(getsockopt),
	IF1(fcntl, EQ(1, F_GETFL)), IF1(fcntl, EQ(1, F_SETFL)),
	IF1(fcntl, EQ(1, F_GETFD)), IF1(fcntl, EQ(1, F_SETFD)),
	/* vm.counters reads KVM's binary statistics fds (kvm_stats.c) here,
	 * so that it answers while the VM is paused. */
	ANY(pread64),
};

/* libslirp (only with a --net user): the guest's connections become host
 * TCP/UDP/ping sockets, hostfwd listeners accept, and DNS forwarding
 * re-reads /etc/resolv.conf (read-only opens and stat by path). */
static const struct rule slirp_rules[] = {
	IF1(socket, EQ(0, AF_INET)), IF1(socket, EQ(0, AF_INET6)),
	ANY(bind), ANY(listen), ANY(accept), ANY(getsockname), ANY(getpeername),
	IF1(openat, MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
	ANY(newfstatat),
};

#if defined(__SANITIZE_ADDRESS__)
/* The ASan+UBSan test build: threads take down their alternate signal
 * stacks as they end, and the runtime may sleep on its own locks. Opening
 * files stays forbidden, as in the real build: a report from a filtered
 * thread shows its first line, then the seccomp line (--seccomp=off shows
 * the whole report). */
static const struct rule sanitizer_rules[] = {
	ANY(sigaltstack), ANY(sched_getaffinity), ANY(nanosleep), ANY(clock_nanosleep),
};
#endif

static const struct rule_set base = SET(base_rules, base_ioctls);
static const struct rule_set worker = {worker_rules, LEN(worker_rules), NULL, 0};
static const struct rule_set device = SET(device_rules, device_ioctls);
static const struct rule_set vcpu = {NULL, 0, vcpu_ioctls, LEN(vcpu_ioctls)};
static const struct rule_set loop = SET(loop_rules, loop_ioctls);
static const struct rule_set slirp = {slirp_rules, LEN(slirp_rules), NULL, 0};
static const struct rule_set api = {api_rules, LEN(api_rules), NULL, 0};

/* Each kind's sets; slirp's are added to the loop's when needed. */
static const struct rule_set *const kind_sets[SANDBOX_NKINDS][3] = {
	[SANDBOX_VCPU] = {&base, &device, &vcpu},
	[SANDBOX_LOOP] = {&base, &device, &loop},
	[SANDBOX_BLOCK_WORKER] = {&base, &worker, NULL},
	[SANDBOX_API] = {&base, &api, NULL},
};

static int add_set(scmp_filter_ctx ctx, const struct rule_set *s)
{
	for (size_t i = 0; i < s->nrules; i++) {
		const struct rule *r = &s->rules[i];
		int ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, r->ncmp, r->cmp);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < s->nioctls; i++) {
		/* The kernel takes the request as an unsigned int. */
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, s->ioctls[i]));
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* glibc makes setgroups/setresgid/setresuid process-wide: every thread,
 * filtered already when --user drops, makes the same call from a signal
 * handler. Only to the --user ids: a drop, never a gain. */
static int add_drop(scmp_filter_ctx ctx, const struct sandbox_user *u)
{
	int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setgroups), 1,
				   SCMP_A0(SCMP_CMP_EQ, 1));
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresgid), 3,
				       SCMP_A0(SCMP_CMP_EQ, u->gid), SCMP_A1(SCMP_CMP_EQ, u->gid),
				       SCMP_A2(SCMP_CMP_EQ, u->gid));
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresuid), 3,
				       SCMP_A0(SCMP_CMP_EQ, u->uid), SCMP_A1(SCMP_CMP_EQ, u->uid),
				       SCMP_A2(SCMP_CMP_EQ, u->uid));
	return ret;
}

int sandbox_rules_add(scmp_filter_ctx ctx, enum sandbox_kind kind,
		      const struct sandbox_needs *needs)
{
	if ((unsigned)kind >= SANDBOX_NKINDS)
		return -EINVAL;
	for (size_t i = 0; i < LEN(kind_sets[kind]) && kind_sets[kind][i]; i++) {
		int ret = add_set(ctx, kind_sets[kind][i]);
		if (ret < 0)
			return ret;
	}
	if (kind == SANDBOX_API) {
		/* glibc's malloc opens /proc/sys/vm/overcommit_memory the first
		 * time it trims a thread's own arena (check_may_shrink_heap),
		 * which the API thread does as it frees request bodies and at
		 * exit. That open fails instead of ending the process; glibc
		 * then trims as it would by default. Nothing else is opened. */
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
		if (ret < 0)
			return ret;
	}
	if (kind == SANDBOX_LOOP && needs->slirp) {
		int ret = add_set(ctx, &slirp);
		if (ret < 0)
			return ret;
	}
#if defined(__SANITIZE_ADDRESS__)
	static const struct rule_set san = {sanitizer_rules, LEN(sanitizer_rules), NULL, 0};
	int sret = add_set(ctx, &san);
	if (sret < 0)
		return sret;
#endif
	if (needs->user.set) {
		int ret = add_drop(ctx, &needs->user);
		if (ret < 0)
			return ret;
	}
	/* pthread_kill() signals threads of this process only. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)needs->pid));
}
