/* The seccomp side of sandbox.h: each kind's filter compiled once per
 * machine by libseccomp, loaded by the thread itself, and the SIGSYS report.
 *
 * A violation is SECCOMP_RET_TRAP, not KILL_PROCESS: the kernel skips the
 * syscall and sends SIGSYS, whose handler writes one line naming the thread
 * kind and the syscall and ends the process. No filtered thread may call
 * rt_sigaction, so the handler cannot be replaced, and the kernel forces a
 * blocked or ignored SIGSYS to its default action, which kills the process
 * too; KILL_PROCESS alone would leave only "Bad system call" from a shell. */
#include "vmm/sandbox.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/log.h"
#include "vmm/config.h"
#include "vmm/sandbox_rules.h"
#include "vmm/term.h"

static const char *const kind_names[SANDBOX_NKINDS] = {
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_LOOP] = "loop",
	[SANDBOX_BLOCK_WORKER] = "blk-worker",
};

/* Set by sandbox_prepare on the main thread before any filtered thread
 * starts; threads only read them. */
static enum sandbox_seccomp mode = SANDBOX_SECCOMP_OFF;
static struct sock_fprog programs[SANDBOX_NKINDS];
static __thread int thread_kind = -1;

/* Syscall names for the report, resolved ahead: the handler may not
 * allocate (the violation may come from inside malloc). */
#define MAX_SYSCALL 512
static char *syscall_names[MAX_SYSCALL];

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return (unsigned)kind < SANDBOX_NKINDS ? kind_names[kind] : "?";
}

int sandbox_parse_seccomp(const char *s, enum sandbox_seccomp *out)
{
	static const char *const names[] = {
		[SANDBOX_SECCOMP_ON] = "on",
		[SANDBOX_SECCOMP_OFF] = "off",
		[SANDBOX_SECCOMP_LOG] = "log",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum sandbox_seccomp)i;
			return 0;
		}
	}
	log_error("--seccomp=%s: must be on, off or log", s ? s : "");
	return -EINVAL;
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
static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	(void)sig;
	char line[200];
	size_t n = 0, cap = sizeof(line) - 2;
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < MAX_SYSCALL && syscall_names[nr] ? syscall_names[nr] : "?";
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
	term_restore_global();
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	_exit(SANDBOX_EXIT_VIOLATION);
}

static int install_reporter(void)
{
	static bool done;
	if (done)
		return 0;
	for (int nr = 0; nr < MAX_SYSCALL; nr++)
		syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
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

static void free_programs(void)
{
	for (int k = 0; k < SANDBOX_NKINDS; k++) {
		free(programs[k].filter);
		programs[k] = (struct sock_fprog){0};
	}
}

/* libseccomp 2.5 exports BPF only to a file descriptor. */
static int read_program(int fd, struct sock_fprog *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	size_t size = (size_t)st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	struct sock_filter *f = malloc(size);
	if (!f)
		return -ENOMEM;
	if (pread(fd, f, size, 0) != (ssize_t)size) {
		free(f);
		return -EIO;
	}
	*out = (struct sock_fprog){.len = (unsigned short)(size / sizeof(*f)), .filter = f};
	return 0;
}

static int compile(enum sandbox_kind kind, const struct sandbox_needs *needs,
		   struct sock_fprog *out)
{
	uint32_t deny = mode == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx ctx = seccomp_init(deny);
	if (!ctx)
		return -ENOMEM;
	/* x32 and i386 syscalls from a 64-bit process are an attack, not a bug. */
	int ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (ret == 0)
		ret = sandbox_rules_add(ctx, kind, needs);
	int fd = -1;
	if (ret == 0) {
		fd = memfd_create("iovirt-seccomp", MFD_CLOEXEC);
		ret = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	}
	seccomp_release(ctx);
	if (ret == 0)
		ret = read_program(fd, out);
	if (fd >= 0)
		close(fd);
	return ret;
}

static bool uses_slirp(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nnics; i++)
		if (cfg->nics[i].backend.kind == NET_USER)
			return true;
	return false;
}

int sandbox_prepare(const struct vm_config *cfg)
{
	/* No core dump of iovirt (guest RAM is MADV_DONTDUMP as well): its
	 * heap holds guest data in flight. */
	struct rlimit no_core = {0, 0};
	if (setrlimit(RLIMIT_CORE, &no_core) < 0) {
		log_error("setrlimit(RLIMIT_CORE): %s", strerror(errno));
		return -errno;
	}
	free_programs();
	mode = cfg->seccomp;
	if (mode == SANDBOX_SECCOMP_OFF)
		return 0;
	int ret = install_reporter();
	if (ret < 0) {
		log_error("seccomp: installing the SIGSYS handler: %s", strerror(-ret));
		return ret;
	}
	struct sandbox_needs needs = {
		.slirp = uses_slirp(cfg), .pid = getpid(), .user = cfg->user,
	};
	for (int k = 0; k < SANDBOX_NKINDS && ret == 0; k++) {
		ret = compile((enum sandbox_kind)k, &needs, &programs[k]);
		if (ret < 0)
			log_error("seccomp: building the %s thread's filter: %s (--seccomp=off runs "
				  "without)", kind_names[k], strerror(-ret));
	}
	if (ret < 0) {
		free_programs();
		mode = SANDBOX_SECCOMP_OFF;
	}
	return ret;
}

void sandbox_enter(enum sandbox_kind kind)
{
	if (mode == SANDBOX_SECCOMP_OFF)
		return;
	thread_kind = (int)kind;
	/* Block workers take no signals, but the report needs SIGSYS. */
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if ((unsigned)kind >= SANDBOX_NKINDS || !programs[kind].filter ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[kind]) < 0) {
		int err = (unsigned)kind < SANDBOX_NKINDS && programs[kind].filter ? errno : EINVAL;
		term_restore_global();
		log_error("seccomp: cannot confine the %s thread: %s", sandbox_kind_name(kind),
			  strerror(err));
		_exit(1);
	}
}
