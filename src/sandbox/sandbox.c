/* The seccomp side of sandbox.h, in the thread: loading its kind's filter
 * (compiled by sandbox_filters.c) and the SIGSYS report.
 *
 * A violation is SECCOMP_RET_TRAP, not KILL_PROCESS: the kernel skips the
 * syscall and sends SIGSYS, whose handler writes one line naming the thread
 * kind and the syscall and ends the process. No filtered thread may call
 * rt_sigaction, so the handler cannot be replaced, and the kernel forces a
 * blocked or ignored SIGSYS to its default action, which kills the process
 * too; KILL_PROCESS alone would leave only "Bad system call" from a shell. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"
#include "sandbox/sandbox_priv.h"

static const char *const kind_names[SANDBOX_NKINDS] = {
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_LOOP] = "loop",
	[SANDBOX_BLOCK_WORKER] = "blk-worker",
	[SANDBOX_API] = "api",
};

enum sandbox_seccomp sandbox_mode = SANDBOX_SECCOMP_OFF;
struct sock_fprog sandbox_programs[SANDBOX_NKINDS];
char *sandbox_syscall_names[SANDBOX_MAX_SYSCALL];
static __thread int thread_kind = -1;

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return (unsigned)kind < SANDBOX_NKINDS ? kind_names[kind] : "?";
}

static size_t append(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		buf[n++] = *s++;
	return n;
}

static size_t append_num(char *buf, size_t n, size_t cap, unsigned long v, unsigned base)
{
	char digits[24];
	size_t k = 0;
	do {
		digits[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (k && n < cap)
		buf[n++] = digits[--k];
	return n;
}

/* Async-signal-safe: fixed strings, the names resolved ahead, write(2). */
static void (*exit_hook)(void);

void sandbox_set_exit_hook(void (*hook)(void))
{
	exit_hook = hook;
}

static void run_exit_hook(void)
{
	if (exit_hook)
		exit_hook();
}

static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	(void)sig;
	char line[200];
	size_t n = 0, cap = sizeof(line) - 2;
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < SANDBOX_MAX_SYSCALL && sandbox_syscall_names[nr]
				   ? sandbox_syscall_names[nr] : "?";
	n = append(line, n, cap, "iovirt: seccomp: thread ");
	n = append(line, n, cap, thread_kind >= 0 ? kind_names[thread_kind] : "?");
	n = append(line, n, cap, " made a forbidden syscall ");
	n = append_num(line, n, cap, (unsigned long)(unsigned)nr, 10);
	n = append(line, n, cap, " (");
	n = append(line, n, cap, name);
	if (nr == SYS_ioctl) {
		/* Which request: the filters allow ioctl per request. */
		const ucontext_t *uc = ucontext;
		n = append(line, n, cap, " 0x");
		n = append_num(line, n, cap, (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffUL, 16);
	}
	n = append(line, n, cap, ")");
	line[n++] = '\r'; /* the terminal may still be raw */
	line[n++] = '\n';
	run_exit_hook();
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	_exit(SANDBOX_EXIT_VIOLATION);
}

int sandbox_install_reporter(void)
{
	static bool done;
	if (done)
		return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	done = true;
	return 0;
}

void sandbox_enter(enum sandbox_kind kind)
{
	if (sandbox_mode == SANDBOX_SECCOMP_OFF)
		return;
	thread_kind = (int)kind;
	/* Block workers take no signals, but the report needs SIGSYS. */
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if ((unsigned)kind >= SANDBOX_NKINDS || !sandbox_programs[kind].filter ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sandbox_programs[kind]) < 0) {
		int err = (unsigned)kind < SANDBOX_NKINDS && sandbox_programs[kind].filter ? errno : EINVAL;
		run_exit_hook();
		log_error("seccomp: cannot confine the %s thread: %s", sandbox_kind_name(kind),
			  strerror(err));
		_exit(1);
	}
}
